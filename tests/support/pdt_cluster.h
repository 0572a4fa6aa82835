/*
 * What the cluster suites (bb_cluster*) share: waiting for a node to
 * register in Redis, and the end of a suite: its nodes stopped, their logs
 * and Redis's printed when anything failed, every file removed.
 */
#ifndef PDT_CLUSTER_H
#define PDT_CLUSTER_H

#include "pdt_redis.h"
#include "pdt_server.h"

/*
 * Waits (PDT_WAIT_MS at most, reading every open client meanwhile) until
 * every thread of node node_id is registered in Redis as "node_id/thread"
 * (the harness's PDT_THREADS, default 1). Returns 1 when it is, 0 if not.
 */
int pdt_cluster_wait_registered(const pdt_redis_t *red, const char *node_id);

/*
 * Stops every node of nodes[n] still running (SIGTERM, its exit code
 * checked) and Redis. Returns the suite's exit code: non-zero when failed
 * or when a node did not exit 0.
 */
int pdt_cluster_finish(pdt_server_t *const *nodes, int n, pdt_redis_t *red, int failed);

#endif
