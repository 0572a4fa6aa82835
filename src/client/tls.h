/*
 * TLS for the client on OpenSSL memory BIOs: a codec with no I/O. Bytes
 * from the socket go in through pd_tls_feed(); decrypted bytes come out in
 * a caller's buffer, and every byte TLS wants on the wire (handshake
 * records, encrypted data, close_notify) is appended to another one for the
 * caller to write. The peer's certificate chain and host name (or IP
 * address) are always verified.
 */
#ifndef PD_CLIENT_TLS_H
#define PD_CLIENT_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "base/buf.h"

/*
 * Creates a context for TLS 1.2 and later that trusts ca_file (PEM) or,
 * when it is NULL, the system's CAs. Returns 0, or PD_ERR_CONFIG with a
 * message in err (err may be NULL).
 */
int pd_tls_ctx_new(SSL_CTX **out, const char *ca_file, char *err, size_t errlen);
/* NULL is ignored. */
void pd_tls_ctx_free(SSL_CTX *ctx);

typedef struct pd_tls pd_tls_t;

/*
 * A client session for host (a name, sent as SNI and checked against the
 * certificate, or an IP address, checked against its IP SANs). ctx must
 * outlive it. Never NULL (allocation failure aborts).
 */
pd_tls_t *pd_tls_new(SSL_CTX *ctx, const char *host);
/* NULL is ignored. */
void pd_tls_free(pd_tls_t *t);

/* Starts the handshake: the ClientHello is appended to wire. Returns 0 or PD_ERR_PROTO. */
int pd_tls_start(pd_tls_t *t, pd_buf_t *wire);

/*
 * Feeds bytes read from the socket. Handshake replies are appended to
 * wire, decrypted data to plain. Returns 0; PD_ERR_CLOSED when the peer
 * sent close_notify (plain holds what came before it); or PD_ERR_PROTO when
 * TLS failed (pd_tls_error() says why). Once the handshake completes,
 * pd_tls_ready() turns non-zero.
 */
int pd_tls_feed(pd_tls_t *t, const char *data, size_t len, pd_buf_t *plain, pd_buf_t *wire);

/* Non-zero once the handshake has completed and the peer is verified. */
int pd_tls_ready(const pd_tls_t *t);

/*
 * Encrypts len bytes (only once ready) and appends the records to wire.
 * Returns 0 or PD_ERR_PROTO.
 */
int pd_tls_write(pd_tls_t *t, const char *data, size_t len, pd_buf_t *wire);

/* Appends a close_notify alert to wire (once; later calls do nothing). */
void pd_tls_close(pd_tls_t *t, pd_buf_t *wire);

/*
 * Why the last call failed, e.g. "certificate verify failed: self-signed
 * certificate" or "host name mismatch"; "" when nothing failed. Valid until
 * the next call.
 */
const char *pd_tls_error(const pd_tls_t *t);

#endif
