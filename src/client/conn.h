/*
 * One WebSocket connection of the client: a stream (TCP, maybe TLS), the
 * HTTP upgrade (pd_http's response side), then the WebSocket codec in
 * client mode. It turns all of that into text messages in, text messages
 * out, and one "ended" report that says why in presence_err_t terms.
 *
 * Callbacks run from libuv callbacks only. After pc_conn_close() nothing
 * but on_closed runs; the connection frees itself, and on_closed tells the
 * owner it is gone.
 *
 * The prefix is pc_ (presence client): the server has a pd_conn_t of its
 * own, and the two must not share a name.
 */
#ifndef PC_CONN_H
#define PC_CONN_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <uv.h>

typedef struct pc_conn pc_conn_t;

typedef struct {
    /* A text message from the server (the first comes after the upgrade). */
    void (*on_text)(void *ud, const char *data, size_t len);
    /*
     * The connection ended or failed (once; no on_text follows): reason is
     * a presence_err_t, detail says what happened ("HTTP 404 ...",
     * "close 1008 AUTH_FORBIDDEN", ...). The owner then closes it.
     */
    void (*on_end)(void *ud, int reason, const char *detail);
    /* The connection released its resources after pc_conn_close(). */
    void (*on_closed)(void *ud);
} pc_conn_callbacks_t;

typedef struct {
    const char *host; /* to connect to and verify */
    const char *port;
    const char *host_header; /* the Host header */
    const char *target;      /* the request target, "/parties/presence/ws1?_pk=..." */
    const char *token;       /* sent as Authorization: Bearer */
    SSL_CTX *tls_ctx;        /* NULL: plain TCP */
    size_t max_message;
} pc_conn_config_t;

/* Starts connecting; the config's strings are copied. Never NULL. */
pc_conn_t *pc_conn_open(uv_loop_t *loop, const pc_conn_config_t *cfg, const pc_conn_callbacks_t *cb,
                        void *ud);

/* Sends a text message once open; returns 0, or PD_ERR_CLOSED when it cannot. */
int pc_conn_send(pc_conn_t *c, const char *text, size_t len);

/*
 * Ends the connection: clean sends a close frame (1000) first when the
 * WebSocket is open, so the server counts this member as gone at once.
 */
void pc_conn_close(pc_conn_t *c, int clean);

#endif
