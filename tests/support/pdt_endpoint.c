#include "pdt_endpoint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "pdt_http.h"
#include "pdt_proc.h"

#if !defined(PDT_NODE_BIN) || !defined(PDT_VERIFY_ENDPOINT_JS)
#error "PDT_NODE_BIN and PDT_VERIFY_ENDPOINT_JS must name Node.js and verify-endpoint.mjs"
#endif

static int make_files(pdt_endpoint_t *ep)
{
    if (pdt_tmpdir(ep->dir, sizeof(ep->dir)) != 0)
        return -1;
    snprintf(ep->port_path, sizeof(ep->port_path), "%s/port", ep->dir);
    snprintf(ep->log_path, sizeof(ep->log_path), "%s/endpoint.log", ep->dir);
    return 0;
}

static void remove_files(pdt_endpoint_t *ep)
{
    pdt_tmpdir_remove(ep->dir);
    ep->dir[0] = '\0';
}

static int read_port(const pdt_endpoint_t *ep)
{
    char text[32] = {0};
    FILE *f = fopen(ep->port_path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    return n > 0 && text[n - 1] == '\n' ? atoi(text) : 0;
}

static int exited(pdt_endpoint_t *ep)
{
    if (pdt_wait_exit(ep->pid, 0) < 0)
        return 0;
    ep->pid = 0;
    return 1;
}

static int wait_port(pdt_endpoint_t *ep)
{
    uint64_t deadline = pdt_now_ms() + 10000;
    while (pdt_now_ms() < deadline) {
        ep->port = read_port(ep);
        if (ep->port > 0)
            return 0;
        if (exited(ep)) {
            fprintf(stderr, "the verify endpoint exited before listening\n");
            return -1;
        }
        usleep(10000);
    }
    fprintf(stderr, "the verify endpoint wrote no port file within 10 s\n");
    return -1;
}

int pdt_endpoint_start(pdt_endpoint_t *ep)
{
    memset(ep, 0, sizeof(*ep));
    if (make_files(ep) != 0)
        return -1;
    const char *argv[] = {PDT_NODE_BIN, PDT_VERIFY_ENDPOINT_JS, ep->port_path, NULL};
    ep->pid = pdt_spawn(argv, NULL, ep->log_path);
    if (ep->pid < 0) {
        ep->pid = 0;
        remove_files(ep);
        return -1;
    }
    if (wait_port(ep) != 0) {
        pdt_endpoint_dump_log(ep);
        pdt_endpoint_stop(ep);
        return -1;
    }
    snprintf(ep->url, sizeof(ep->url), "http://127.0.0.1:%d/verify", ep->port);
    return 0;
}

void pdt_endpoint_stop(pdt_endpoint_t *ep)
{
    if (ep->pid > 0) {
        pdt_kill(ep->pid, SIGKILL, 10000);
        ep->pid = 0;
    }
    remove_files(ep);
}

void pdt_endpoint_dump_log(const pdt_endpoint_t *ep)
{
    char line[4096];
    FILE *f = fopen(ep->log_path, "r");
    if (f == NULL)
        return;
    fprintf(stderr, "----- verify endpoint log -----\n");
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
    fprintf(stderr, "----- end of verify endpoint log -----\n");
}

/* GET path on the endpoint; its JSON body, or NULL unless the status is 200. */
static cJSON *get_json(const pdt_endpoint_t *ep, const char *path)
{
    pd_buf_t resp = PD_BUF_INIT;
    int status = pdt_http_get(ep->port, path, &resp);
    cJSON *j = status == 200 ? cJSON_Parse(pdt_http_body(resp.base)) : NULL;
    pd_buf_free(&resp);
    return j;
}

long pdt_json_int(const cJSON *j, const char *key)
{
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, key) : NULL;
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

/* Tokens of the tests are [A-Za-z0-9:_-], which need no escaping in a query. */
static void token_path(char *out, size_t cap, const char *what, const char *token)
{
    snprintf(out, cap, "/%s?token=%s", what, token);
}

int pdt_endpoint_count(const pdt_endpoint_t *ep, const char *token)
{
    char path[1024];
    token_path(path, sizeof(path), "count", token);
    cJSON *j = get_json(ep, path);
    long n = pdt_json_int(j, "count");
    cJSON_Delete(j);
    return (int)n;
}

cJSON *pdt_endpoint_last(const pdt_endpoint_t *ep, const char *token)
{
    char path[1024];
    token_path(path, sizeof(path), "last", token);
    return get_json(ep, path);
}

cJSON *pdt_endpoint_stats(const pdt_endpoint_t *ep, int reset)
{
    return get_json(ep, reset ? "/stats?reset=1" : "/stats");
}

int pdt_closed_port(void)
{
    return pdt_free_port();
}
