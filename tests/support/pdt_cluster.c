#include "pdt_cluster.h"

#include <stdio.h>

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
