/*
 * The presence server: a listener, its connections and its rooms, sharded
 * over --threads loops (shard.h). The first shard runs on the caller's
 * loop; the others on threads of their own. main.c is a thin user of this
 * interface and sees only the first shard.
 */
#ifndef PD_SERVER_SERVER_H
#define PD_SERVER_SERVER_H

#include <uv.h>

#include "config.h"

typedef struct pd_server pd_server_t;

/*
 * Creates a server on loop with cfg (which must outlive it), with the
 * loops of its other shards, not yet running. Returns NULL with a message in
 * err when the configuration cannot be used (e.g. a bad key).
 */
pd_server_t *pd_server_new(uv_loop_t *loop, const pd_config_t *cfg, char *err, size_t errlen);

/*
 * Binds and listens on loop, then starts the other shards' threads, which
 * poll the same socket. Returns 0 or a libuv error code, with a message in
 * err.
 */
int pd_server_listen(pd_server_t *srv, char *err, size_t errlen);

/* The bound port (useful with port 0). */
int pd_server_port(const pd_server_t *srv);

/*
 * Starts a graceful drain of every shard: stop accepting, close every
 * WebSocket with 1001, and close all handles so that uv_run() returns (and
 * the other threads end), within a few seconds. Call it on loop's thread.
 */
void pd_server_drain(pd_server_t *srv);

/* Waits for the other shards' threads, then frees everything; after uv_run() has returned. */
void pd_server_free(pd_server_t *srv);

#endif
