#include "pdt_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdt_ws.h"

static int node_threads(void)
{
    const char *t = getenv("PDT_THREADS");
    return t && atoi(t) > 0 ? atoi(t) : 1;
}

typedef struct {
    const pdt_redis_t *red;
    const char *node_id;
} registered_t;

static int registered(void *arg)
{
    const registered_t *w = arg;
    char out[4096], want[80];
    const char *argv[] = {"ZRANGE", "presenced:nodes", "0", "-1", NULL};
    if (pdt_redis_cmd(w->red, out, sizeof(out), argv) != 0)
        return 0;
    snprintf(want, sizeof(want), "%s/", w->node_id);
    int n = 0;
    for (const char *p = out; (p = strstr(p, want)); p++)
        n += p == out || p[-1] == '\n';
    return n >= node_threads();
}

int pdt_cluster_wait_registered(const pdt_redis_t *red, const char *node_id)
{
    registered_t w = {red, node_id};
    return pdt_wait(registered, &w, PDT_WAIT_MS);
}

int pdt_cluster_finish(pdt_server_t *const *nodes, int n, pdt_redis_t *red, int failed)
{
    int bad_exit = 0;
    for (int i = n - 1; i >= 0; i--) {
        int rc = nodes[i]->pid ? pdt_server_stop(nodes[i]) : 0;
        if (rc) {
            fprintf(stderr, "node %d exited %d (want 0)\n", i, rc);
            bad_exit = 1;
        }
    }
    if (failed || bad_exit) {
        for (int i = 0; i < n; i++)
            pdt_server_dump_log(nodes[i]);
        pdt_redis_dump_log(red);
    }
    for (int i = 0; i < n; i++)
        pdt_server_discard(nodes[i], 0);
    pdt_redis_stop(red);
    return failed || bad_exit;
}
