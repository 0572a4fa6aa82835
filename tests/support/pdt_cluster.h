/*
 * The end of a cluster suite (bb_cluster, bb_cluster_faults): its nodes
 * stopped, their logs and Redis's printed when anything failed, every file
 * removed.
 */
#ifndef PDT_CLUSTER_H
#define PDT_CLUSTER_H

#include "pdt_redis.h"
#include "pdt_server.h"

/*
 * Stops every node of nodes[n] still running (SIGTERM, its exit code
 * checked) and Redis. Returns the suite's exit code: non-zero when failed
 * or when a node did not exit 0.
 */
int pdt_cluster_finish(pdt_server_t *const *nodes, int n, pdt_redis_t *red, int failed);

#endif
