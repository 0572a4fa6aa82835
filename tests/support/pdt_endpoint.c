#include "pdt_endpoint.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "pdt_http.h"

#if !defined(PDT_NODE_BIN) || !defined(PDT_VERIFY_ENDPOINT_JS)
#error "PDT_NODE_BIN and PDT_VERIFY_ENDPOINT_JS must name Node.js and verify-endpoint.mjs"
#endif

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int make_files(pdt_endpoint_t *ep)
{
    snprintf(ep->dir, sizeof(ep->dir), "/tmp/pdt-ep-XXXXXX");
    if (mkdtemp(ep->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(ep->port_path, sizeof(ep->port_path), "%s/port", ep->dir);
    snprintf(ep->log_path, sizeof(ep->log_path), "%s/endpoint.log", ep->dir);
    return 0;
}

static void remove_files(pdt_endpoint_t *ep)
{
    if (ep->dir[0] == '\0')
        return;
    unlink(ep->port_path);
    unlink(ep->log_path);
    rmdir(ep->dir);
    ep->dir[0] = '\0';
}

/* In the child: the script dies with the test program, whatever ends it. */
static void exec_node(const pdt_endpoint_t *ep)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int log = open(ep->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null = open("/dev/null", O_RDONLY);
    if (log < 0 || null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
        _exit(126);
    execl(PDT_NODE_BIN, PDT_NODE_BIN, PDT_VERIFY_ENDPOINT_JS, ep->port_path, (char *)NULL);
    _exit(127);
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
    int wstatus;
    if (waitpid(ep->pid, &wstatus, WNOHANG) != ep->pid)
        return 0;
    ep->pid = 0;
    return 1;
}

static int wait_port(pdt_endpoint_t *ep)
{
    long deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
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
    fflush(NULL);
    ep->pid = fork();
    if (ep->pid < 0) {
        perror("fork");
        ep->pid = 0;
        remove_files(ep);
        return -1;
    }
    if (ep->pid == 0)
        exec_node(ep);
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
        kill(ep->pid, SIGKILL);
        waitpid(ep->pid, NULL, 0);
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
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}
