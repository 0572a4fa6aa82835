#include "fake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "http/http.h"
#include "ws/ws.h"

#define MAX_CONNS 32
#define MAX_QUEUE 64

struct ct_fake_conn {
    ct_fake_t *fake;
    int fd;
    int n;
    pd_ws_t *ws;
    char *queue[MAX_QUEUE];
    size_t q_len;
    int peer_closed;
};

struct ct_fake {
    int listen_fd;
    int stop_pipe[2];
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    int accepted;
    ct_fake_script script;
    void *arg;
    char targets[MAX_CONNS][2048];
    char auths[MAX_CONNS][2048];
};

/* ---- Socket helpers. ---- */

static void write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

/* Waits for fd or the stop pipe; returns 1 when fd is readable. */
static int wait_readable(ct_fake_t *f, int fd, int timeout_ms)
{
    struct pollfd p[2] = {{fd, POLLIN, 0}, {f->stop_pipe[0], POLLIN, 0}};
    int r = poll(p, 2, timeout_ms);
    return r > 0 && !(p[1].revents & POLLIN) && (p[0].revents & (POLLIN | POLLHUP | POLLERR));
}

/* ---- The codec's callbacks. ---- */

static void on_text(void *ud, const char *data, size_t len)
{
    ct_fake_conn_t *c = ud;
    if (c->q_len < MAX_QUEUE)
        c->queue[c->q_len++] = pd_strndup(data, len);
}

static void on_close(void *ud, uint16_t code, pd_slice_t reason)
{
    ct_fake_conn_t *c = ud;
    c->peer_closed = 1;
}

static void on_output(void *ud, const char *data, size_t len)
{
    ct_fake_conn_t *c = ud;
    write_all(c->fd, data, len);
}

static const pd_ws_callbacks_t ws_callbacks = {on_text, on_close, on_output, NULL};

/* ---- Scripts' functions. ---- */

static void record_request(ct_fake_conn_t *c, const pd_http_request_t *req)
{
    ct_fake_t *f = c->fake;
    if (c->n >= MAX_CONNS)
        return;
    pthread_mutex_lock(&f->lock);
    snprintf(f->targets[c->n], sizeof f->targets[0], "%.*s", (int)req->target.len,
             req->target.base ? req->target.base : "");
    snprintf(f->auths[c->n], sizeof f->auths[0], "%.*s", (int)req->authorization.len,
             req->authorization.base ? req->authorization.base : "");
    pthread_mutex_unlock(&f->lock);
}

/* Reads one request; returns the parser holding it, or -1. */
static int read_request(ct_fake_conn_t *c, pd_http_parser_t *p)
{
    char buf[4096];
    pd_http_parser_init(p, NULL);
    for (;;) {
        if (!wait_readable(c->fake, c->fd, 5000))
            return -1;
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n <= 0)
            return -1;
        ssize_t r = pd_http_feed(p, buf, (size_t)n);
        if (r > 0) {
            record_request(c, pd_http_request(p));
            return 0;
        }
        if (r != PD_ERR_PARTIAL)
            return -1;
    }
}

int ct_fake_upgrade(ct_fake_conn_t *c)
{
    pd_http_parser_t p;
    char accept[29];
    int r = read_request(c, &p);
    if (r == 0 && pd_http_websocket_check(pd_http_request(&p)) == 0 &&
        pd_http_ws_accept(pd_http_request(&p)->sec_websocket_key, accept) == 0) {
        pd_buf_t out = PD_BUF_INIT;
        pd_http_write_upgrade(&out, accept);
        write_all(c->fd, out.base, out.len);
        pd_buf_free(&out);
        pd_ws_config_t cfg = {.client = 0, .max_message = 1 << 20};
        c->ws = pd_ws_new(&cfg, &ws_callbacks, c);
    } else {
        r = -1;
    }
    pd_http_parser_free(&p);
    return r;
}

void ct_fake_refuse(ct_fake_conn_t *c, const char *response)
{
    pd_http_parser_t p;
    if (read_request(c, &p) == 0)
        write_all(c->fd, response, strlen(response));
    pd_http_parser_free(&p);
}

void ct_fake_send(ct_fake_conn_t *c, const char *text)
{
    uint8_t hdr[10];
    size_t n = pd_ws_text_header(hdr, strlen(text));
    write_all(c->fd, (const char *)hdr, n);
    write_all(c->fd, text, strlen(text));
}

static char *queue_pop(ct_fake_conn_t *c)
{
    char *m = c->queue[0];
    memmove(c->queue, c->queue + 1, (c->q_len - 1) * sizeof c->queue[0]);
    c->q_len--;
    return m;
}

/* Reads once; returns 0, or -1 when the connection ended or the wait timed out. */
static int read_some(ct_fake_conn_t *c, int timeout_ms)
{
    char buf[65536];
    if (c->peer_closed || !wait_readable(c->fake, c->fd, timeout_ms))
        return -1;
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n <= 0) {
        c->peer_closed = 1;
        return -1;
    }
    if (c->ws && pd_ws_feed(c->ws, buf, (size_t)n) != 0)
        c->peer_closed = 1;
    return 0;
}

char *ct_fake_recv(ct_fake_conn_t *c, int timeout_ms)
{
    while (c->q_len == 0)
        if (read_some(c, timeout_ms) != 0)
            return NULL;
    return queue_pop(c);
}

void ct_fake_close(ct_fake_conn_t *c, uint16_t code, const char *reason)
{
    if (c->ws)
        pd_ws_close(c->ws, code, reason);
    while (read_some(c, 2000) == 0)
        ;
}

void ct_fake_reset(ct_fake_conn_t *c)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    /* serve() closes the socket when the script returns: with linger 0 that sends RST. */
}

/* ---- The server thread. ---- */

static void serve(ct_fake_t *f, int fd, int n)
{
    ct_fake_conn_t c = {.fake = f, .fd = fd, .n = n};
    f->script(&c, n, f->arg);
    pd_ws_free(c.ws);
    for (size_t i = 0; i < c.q_len; i++)
        free(c.queue[i]);
    close(fd);
}

static void *run(void *arg)
{
    ct_fake_t *f = arg;
    for (int n = 0;; n++) {
        if (!wait_readable(f, f->listen_fd, -1))
            return NULL;
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_mutex_lock(&f->lock);
        f->accepted++;
        pthread_mutex_unlock(&f->lock);
        serve(f, fd, n);
    }
}

ct_fake_t *ct_fake_start(ct_fake_script script, void *arg)
{
    ct_fake_t *f = pd_calloc(1, sizeof *f);
    f->script = script;
    f->arg = arg;
    pthread_mutex_init(&f->lock, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(f->listen_fd, 16) != 0 ||
        getsockname(f->listen_fd, (struct sockaddr *)&a, &len) != 0 || pipe(f->stop_pipe) != 0) {
        fprintf(stderr, "fake server: %s\n", strerror(errno));
        abort();
    }
    f->port = ntohs(a.sin_port);
    pthread_create(&f->thread, NULL, run, f);
    return f;
}

int ct_fake_port(const ct_fake_t *f)
{
    return f->port;
}

const char *ct_fake_url(const ct_fake_t *f)
{
    static char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", f->port);
    return url;
}

int ct_fake_accepted(ct_fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->accepted;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* Each record is written once, before the connection's answer goes out. */
static const char *record(ct_fake_t *f, char (*table)[2048], int n)
{
    pthread_mutex_lock(&f->lock);
    const char *s = n >= 0 && n < MAX_CONNS ? table[n] : "";
    pthread_mutex_unlock(&f->lock);
    return s;
}

const char *ct_fake_target(ct_fake_t *f, int n)
{
    return record(f, f->targets, n);
}

const char *ct_fake_authorization(ct_fake_t *f, int n)
{
    return record(f, f->auths, n);
}

void ct_fake_stop(ct_fake_t *f)
{
    if (write(f->stop_pipe[1], "x", 1) != 1)
        abort();
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    close(f->stop_pipe[0]);
    close(f->stop_pipe[1]);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
