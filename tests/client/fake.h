/*
 * A scripted presence server for cases the real one cannot be made to
 * produce on demand (permission_revoked, a foreign close, a malformed
 * message, an HTTP refusal, silence). It runs on its own thread with
 * blocking sockets and the project's own HTTP parser and WebSocket codec in
 * server mode; each accepted connection runs the test's script in turn.
 */
#ifndef CT_FAKE_H
#define CT_FAKE_H

#include <stdint.h>

typedef struct ct_fake ct_fake_t;
typedef struct ct_fake_conn ct_fake_conn_t;

/* Runs for the n-th accepted connection (0-based), on the server's thread. */
typedef void (*ct_fake_script)(ct_fake_conn_t *conn, int n, void *arg);

/* Listens on 127.0.0.1 (a free port) and serves connections with script. */
ct_fake_t *ct_fake_start(ct_fake_script script, void *arg);
int ct_fake_port(const ct_fake_t *f);
/* "ws://127.0.0.1:PORT" (static buffer). */
const char *ct_fake_url(const ct_fake_t *f);
/* Connections accepted so far (safe from any thread). */
int ct_fake_accepted(ct_fake_t *f);
/* The request target and Authorization header of connection n ("" if none). */
const char *ct_fake_target(ct_fake_t *f, int n);
const char *ct_fake_authorization(ct_fake_t *f, int n);
/* Stops accepting, ends the running script's connection, joins the thread. */
void ct_fake_stop(ct_fake_t *f);

/* ---- For scripts. ---- */

/* Reads the upgrade request and answers 101; returns 0, or -1 if it was not one. */
int ct_fake_upgrade(ct_fake_conn_t *c);
/* Reads the request and writes response (a complete HTTP response) instead. */
void ct_fake_refuse(ct_fake_conn_t *c, const char *response);
/* Sends a text message. */
void ct_fake_send(ct_fake_conn_t *c, const char *text);
/*
 * The next text message within timeout_ms (malloc'd; the caller frees it),
 * or NULL on timeout or once the client closed.
 */
char *ct_fake_recv(ct_fake_conn_t *c, int timeout_ms);
/* Sends a close frame, then waits up to 2 s for the client to close the socket. */
void ct_fake_close(ct_fake_conn_t *c, uint16_t code, const char *reason);
/* Ends the connection with a reset (SO_LINGER 0), as a killed server with bytes unread does. */
void ct_fake_reset(ct_fake_conn_t *c);
/* The snapshot of an empty room for user. */
#define CT_FAKE_SNAPSHOT(user)                                     \
    "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"" user \
    "\",\"connectionId\":\"k\"},\"users\":[]}"

#endif
