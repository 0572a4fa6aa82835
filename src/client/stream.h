/*
 * A byte stream to a server on libuv: name resolution, TCP (trying each
 * address in turn), and TLS through the tls codec when asked for. The
 * owner sees plaintext only.
 *
 * Callbacks run from libuv callbacks, never from inside a pd_stream_*()
 * call. After pd_stream_close() only on_closed runs, once, when the stream
 * has released its handles; the stream's memory is gone after it returns.
 */
#ifndef PD_CLIENT_STREAM_H
#define PD_CLIENT_STREAM_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <uv.h>

typedef struct pd_stream pd_stream_t;

typedef struct {
    /* Connected (and for TLS, the peer verified): writing may begin. */
    void (*on_open)(void *ud);
    /* Plaintext from the peer. */
    void (*on_read)(void *ud, const char *data, size_t len);
    /*
     * The stream failed or the peer ended it: err is a presence_err_t
     * (RESOLVE, CONNECT, TLS, IO, or CLOSED for an orderly end), detail a
     * readable cause. Nothing more is read; the owner closes the stream.
     */
    void (*on_error)(void *ud, int err, const char *detail);
    /* The stream is gone (after pd_stream_close()). */
    void (*on_closed)(void *ud);
} pd_stream_callbacks_t;

/*
 * Starts connecting to host:port, with TLS when tls_ctx is not NULL (the
 * context must outlive the stream). Never fails synchronously: a failure
 * is reported through on_error on a later loop turn.
 */
pd_stream_t *pd_stream_open(uv_loop_t *loop, const char *host, const char *port, SSL_CTX *tls_ctx,
                            const pd_stream_callbacks_t *cb, void *ud);

/* Queues len bytes (copied) for the peer; ignored once closing or failed. */
void pd_stream_write(pd_stream_t *s, const char *data, size_t len);

/*
 * Ends the stream. graceful: what was written goes out, followed by TLS
 * close_notify and a TCP FIN, when that can happen without waiting on the
 * peer; otherwise the socket is just closed.
 */
void pd_stream_close(pd_stream_t *s, int graceful);

#endif
