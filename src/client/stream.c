#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "presence/client.h"
#include "tls.h"

#define READ_CHUNK 65536

struct pd_stream {
    uv_loop_t *loop;
    pd_stream_callbacks_t cb;
    void *ud;
    char *host;
    uv_getaddrinfo_t gai;
    struct addrinfo *addrs; /* the resolved list, while connecting */
    struct addrinfo *next;  /* the address to try next */
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    uv_timer_t timer; /* reports a failure found inside a call on a later turn */
    int handles;      /* open libuv handles */
    unsigned resolving : 1;
    unsigned tcp_open : 1;
    unsigned connected : 1;
    unsigned open : 1; /* on_open was reported */
    unsigned failed : 1;
    unsigned closing : 1;
    SSL_CTX *tls_ctx;
    pd_tls_t *tls;
    pd_buf_t wire;  /* TLS output waiting to be written */
    pd_buf_t plain; /* TLS input decrypted */
    int deferred_err;
    char detail[256];
    char read_buf[READ_CHUNK];
};

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
    char data[];
} write_req_t;

static void maybe_finish(pd_stream_t *s)
{
    if (!s->closing || s->handles > 0 || s->resolving)
        return;
    void (*on_closed)(void *) = s->cb.on_closed;
    void *ud = s->ud;
    if (s->addrs)
        uv_freeaddrinfo(s->addrs);
    pd_tls_free(s->tls);
    pd_buf_free(&s->wire);
    pd_buf_free(&s->plain);
    free(s->host);
    free(s);
    on_closed(ud);
}

static void on_handle_closed(uv_handle_t *h)
{
    pd_stream_t *s = h->data;
    s->handles--;
    maybe_finish(s);
}

/* Reports a failure once; reading stops, the owner is expected to close. */
static void fail(pd_stream_t *s, int err, const char *detail)
{
    if (s->failed || s->closing)
        return;
    s->failed = 1;
    if (s->tcp_open)
        uv_read_stop((uv_stream_t *)&s->tcp);
    s->cb.on_error(s->ud, err, detail);
}

static void on_deferred(uv_timer_t *t)
{
    pd_stream_t *s = t->data;
    fail(s, s->deferred_err, s->detail);
}

/* For failures found inside a call: the owner hears of them on a later turn. */
static void fail_later(pd_stream_t *s, int err, const char *detail)
{
    if (s->deferred_err)
        return;
    s->deferred_err = err;
    snprintf(s->detail, sizeof s->detail, "%s", detail);
    uv_timer_start(&s->timer, on_deferred, 0, 0);
}

static void on_written(uv_write_t *req, int status)
{
    free(req);
}

static void write_raw(pd_stream_t *s, const char *data, size_t len)
{
    if (len == 0 || !s->connected || s->failed)
        return;
    write_req_t *w = pd_malloc(sizeof *w + len);
    memcpy(w->data, data, len);
    w->buf = uv_buf_init(w->data, (unsigned)len);
    int r = uv_write(&w->req, (uv_stream_t *)&s->tcp, &w->buf, 1, on_written);
    if (r < 0) {
        free(w);
        fail_later(s, PRESENCE_ERR_IO, uv_strerror(r));
    }
}

static void flush_wire(pd_stream_t *s)
{
    write_raw(s, s->wire.base, s->wire.len);
    pd_buf_reset(&s->wire);
}

static void set_open(pd_stream_t *s)
{
    s->open = 1;
    s->cb.on_open(s->ud);
}

/* TLS input: handshake progress, then plaintext for the owner. */
static void read_tls(pd_stream_t *s, const char *data, size_t len)
{
    int was_ready = pd_tls_ready(s->tls);
    int r = pd_tls_feed(s->tls, data, len, &s->plain, &s->wire);
    flush_wire(s);
    if (r == PD_ERR_PROTO) {
        fail(s, PRESENCE_ERR_TLS, pd_tls_error(s->tls));
        return;
    }
    if (!was_ready && pd_tls_ready(s->tls))
        set_open(s);
    if (s->plain.len > 0 && !s->closing && !s->failed)
        s->cb.on_read(s->ud, s->plain.base, s->plain.len);
    pd_buf_reset(&s->plain);
    if (r == PD_ERR_CLOSED)
        fail(s, PRESENCE_ERR_CLOSED, "the server ended the TLS session");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    pd_stream_t *s = h->data;
    *buf = uv_buf_init(s->read_buf, sizeof s->read_buf);
}

static void on_read(uv_stream_t *tcp, ssize_t nread, const uv_buf_t *buf)
{
    pd_stream_t *s = tcp->data;
    if (s->closing || s->failed || nread == 0)
        return;
    if (nread == UV_EOF) {
        fail(s, PRESENCE_ERR_CLOSED, "the server closed the connection");
        return;
    }
    /* A server killed with our bytes unread resets rather than closes: lost, not an I/O fault. */
    if (nread == UV_ECONNRESET || nread == UV_ECONNABORTED) {
        fail(s, PRESENCE_ERR_CLOSED, "the connection was reset");
        return;
    }
    if (nread < 0) {
        fail(s, PRESENCE_ERR_IO, uv_strerror((int)nread));
        return;
    }
    if (s->tls)
        read_tls(s, buf->base, (size_t)nread);
    else
        s->cb.on_read(s->ud, buf->base, (size_t)nread);
}

static void start_session(pd_stream_t *s)
{
    uv_freeaddrinfo(s->addrs);
    s->addrs = s->next = NULL;
    s->connected = 1;
    uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
    if (!s->tls_ctx) {
        set_open(s);
        return;
    }
    s->tls = pd_tls_new(s->tls_ctx, s->host);
    int r = pd_tls_start(s->tls, &s->wire);
    flush_wire(s);
    if (r != 0)
        fail(s, PRESENCE_ERR_TLS, pd_tls_error(s->tls));
}

static void try_next_address(pd_stream_t *s);

static void on_tcp_closed_for_retry(uv_handle_t *h)
{
    pd_stream_t *s = h->data;
    s->handles--;
    s->tcp_open = 0;
    if (s->closing)
        maybe_finish(s);
    else
        try_next_address(s);
}

/* This address failed: close the socket and try the next, or give up. */
static void address_failed(pd_stream_t *s, int status)
{
    if (s->next) {
        uv_close((uv_handle_t *)&s->tcp, on_tcp_closed_for_retry);
        return;
    }
    char detail[200];
    snprintf(detail, sizeof detail, "cannot connect to %s: %s", s->host, uv_strerror(status));
    fail(s, PRESENCE_ERR_CONNECT, detail);
}

static void on_connected(uv_connect_t *req, int status)
{
    pd_stream_t *s = req->data;
    if (s->closing)
        return;
    if (status < 0)
        address_failed(s, status);
    else
        start_session(s);
}

static void try_next_address(pd_stream_t *s)
{
    struct addrinfo *ai = s->next;
    s->next = ai->ai_next;
    uv_tcp_init(s->loop, &s->tcp);
    s->tcp.data = s;
    s->tcp_open = 1;
    s->handles++;
    uv_tcp_nodelay(&s->tcp, 1);
    s->connect_req.data = s;
    int r = uv_tcp_connect(&s->connect_req, &s->tcp, ai->ai_addr, on_connected);
    if (r < 0)
        address_failed(s, r);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    pd_stream_t *s = req->data;
    s->resolving = 0;
    s->addrs = s->next = res;
    if (s->closing) {
        maybe_finish(s);
        return;
    }
    if (status < 0 || !res) {
        char detail[200];
        snprintf(detail, sizeof detail, "cannot resolve %s: %s", s->host,
                 status < 0 ? uv_strerror(status) : "no address");
        fail(s, PRESENCE_ERR_RESOLVE, detail);
        return;
    }
    try_next_address(s);
}

pd_stream_t *pd_stream_open(uv_loop_t *loop, const char *host, const char *port, SSL_CTX *tls_ctx,
                            const pd_stream_callbacks_t *cb, void *ud)
{
    pd_stream_t *s = pd_calloc(1, sizeof *s);
    s->loop = loop;
    s->cb = *cb;
    s->ud = ud;
    s->host = pd_strndup(host, strlen(host));
    s->tls_ctx = tls_ctx;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->handles = 1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    s->gai.data = s;
    int r = uv_getaddrinfo(loop, &s->gai, on_resolved, host, port, &hints);
    if (r < 0)
        fail_later(s, PRESENCE_ERR_RESOLVE, uv_strerror(r));
    else
        s->resolving = 1;
    return s;
}

void pd_stream_write(pd_stream_t *s, const char *data, size_t len)
{
    if (s->closing || s->failed || !s->open)
        return;
    if (!s->tls) {
        write_raw(s, data, len);
        return;
    }
    if (pd_tls_write(s->tls, data, len, &s->wire) != 0) {
        fail_later(s, PRESENCE_ERR_TLS, pd_tls_error(s->tls));
        return;
    }
    flush_wire(s);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    pd_stream_t *s = req->data;
    uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
}

/*
 * A FIN after the last bytes, but only when they have all been taken by
 * the kernel: waiting for a peer that does not read could take forever.
 */
static void close_tcp(pd_stream_t *s, int graceful)
{
    if (graceful && s->open && !s->failed) {
        if (s->tls) {
            pd_tls_close(s->tls, &s->wire);
            flush_wire(s);
        }
        s->shutdown_req.data = s;
        if (uv_stream_get_write_queue_size((uv_stream_t *)&s->tcp) == 0 &&
            uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->tcp, on_shutdown) == 0)
            return;
    }
    uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
}

void pd_stream_close(pd_stream_t *s, int graceful)
{
    if (s->closing)
        return;
    if (s->resolving)
        uv_cancel((uv_req_t *)&s->gai);
    if (s->tcp_open && !uv_is_closing((uv_handle_t *)&s->tcp))
        close_tcp(s, graceful);
    s->closing = 1;
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
}
