/*
 * The presence server: a listener, its connections and its rooms on one
 * libuv loop. main.c is a thin user of this interface.
 */
#ifndef PD_SERVER_SERVER_H
#define PD_SERVER_SERVER_H

#include <uv.h>

#include "config.h"

typedef struct pd_server pd_server_t;

/*
 * Creates a server on loop with cfg (which must outlive it). Returns NULL
 * with a message in err when the configuration cannot be used (e.g. a bad
 * key).
 */
pd_server_t *pd_server_new(uv_loop_t *loop, const pd_config_t *cfg, char *err, size_t errlen);

/* Binds and listens. Returns 0 or a libuv error code, with a message in err. */
int pd_server_listen(pd_server_t *srv, char *err, size_t errlen);

/* The bound port (useful with port 0). */
int pd_server_port(const pd_server_t *srv);

/*
 * Starts a graceful drain: stop accepting, close every WebSocket with 1001,
 * and close all handles so that uv_run() returns, within a few seconds.
 */
void pd_server_drain(pd_server_t *srv);

/* Frees the server after uv_run() has returned. */
void pd_server_free(pd_server_t *srv);

#endif
