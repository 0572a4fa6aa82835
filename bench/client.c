#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mem.h"

typedef struct {
    uv_write_t req;
    char data[];
} lg_wbuf_t;

static uint64_t next_rand(lg_net_t *net)
{
    uint64_t x = net->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    net->rng = x;
    return x;
}

void lg_net_init(lg_net_t *net, uv_loop_t *loop, const int *ports, unsigned n_ports, unsigned n_src,
                 uint64_t seed, const lg_conn_ops_t *ops, void *ud)
{
    memset(net, 0, offsetof(lg_net_t, rbuf));
    net->loop = loop;
    if (n_ports > LG_NET_MAX_SERVERS)
        n_ports = LG_NET_MAX_SERVERS;
    for (unsigned i = 0; i < n_ports; i++) {
        uv_ip4_addr("127.0.0.1", ports[i], &net->server[i]);
        snprintf(net->host[i], sizeof(net->host[i]), "127.0.0.1:%d", ports[i]);
    }
    net->n_servers = n_ports ? n_ports : 1;
    net->n_src = n_src;
    net->max_message = 64u << 20;
    net->ops = ops;
    net->ud = ud;
    net->rng = seed | 1;
}

/* ---- writing --------------------------------------------------------- */

static void on_written(uv_write_t *req, int status)
{
    free(req);
}

/* Tries the socket at once; what it does not take is copied and queued. */
static int conn_write(lg_conn_t *c, const char *data, size_t len)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    size_t off = 0;
    if (s->write_queue_size == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int r = uv_try_write(s, &b, 1);
        if (r == (int)len)
            return 0;
        if (r < 0 && r != UV_EAGAIN)
            return r;
        off = r > 0 ? (size_t)r : 0;
    }
    lg_wbuf_t *w = pd_malloc(sizeof(*w) + len - off);
    memcpy(w->data, data + off, len - off);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)(len - off));
    int r = uv_write(&w->req, s, &b, 1, on_written);
    if (r < 0)
        free(w);
    return r;
}

/* ---- ending ---------------------------------------------------------- */

const char *lg_end_reason(int err)
{
    switch (err) {
    case LG_END_CLEAN: return "closed";
    case LG_END_REFUSED: return "handshake refused";
    case LG_END_PROTOCOL: return "WebSocket protocol error";
    case LG_END_SERVER: return "closed by the server";
    }
    return err < 0 ? uv_strerror(err) : "unknown";
}

static void on_closed(uv_handle_t *h)
{
    lg_conn_t *c = h->data;
    if (c->http) {
        pd_http_parser_free(c->http);
        free(c->http);
        c->http = NULL;
    }
    pd_ws_free(c->ws);
    c->ws = NULL;
    pd_buf_free(&c->request);
    c->net->ops->on_end(c->net->ud, c, c->err);
}

static void conn_end(lg_conn_t *c, int err)
{
    if (c->state == LG_DEAD)
        return;
    c->state = LG_DEAD;
    c->err = err;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void lg_conn_close(lg_conn_t *c, int clean)
{
    if (c->state == LG_DEAD || c->state == LG_CLOSING)
        return;
    if (clean && c->state == LG_OPEN && pd_ws_close(c->ws, 1000, NULL) == 0) {
        c->state = LG_CLOSING;
        return;
    }
    conn_end(c, LG_END_CLEAN);
}

/* ---- the WebSocket side ---------------------------------------------- */

static void ws_on_text(void *ud, const char *data, size_t len)
{
    lg_conn_t *c = ud;
    if (c->state == LG_OPEN)
        c->net->ops->on_text(c->net->ud, c, data, len);
}

static void ws_on_close(void *ud, uint16_t code, pd_slice_t reason)
{
    lg_conn_t *c = ud;
    c->close_code = code;
    conn_end(c, c->state == LG_CLOSING ? LG_END_CLEAN : LG_END_SERVER);
}

static void ws_on_output(void *ud, const char *data, size_t len)
{
    lg_conn_t *c = ud;
    int r = c->state != LG_DEAD ? conn_write(c, data, len) : 0;
    if (r < 0)
        conn_end(c, r);
}

static const pd_ws_callbacks_t ws_callbacks = {ws_on_text, ws_on_close, ws_on_output, NULL};

static void feed_ws(lg_conn_t *c, const char *data, size_t len)
{
    if (len && pd_ws_feed(c->ws, data, len) == PD_ERR_PROTO)
        conn_end(c, LG_END_PROTOCOL);
}

int lg_conn_send_text(lg_conn_t *c, const char *data, size_t len)
{
    if (c->state != LG_OPEN)
        return PD_ERR_CLOSED;
    char stackbuf[2048];
    size_t cap = len + PD_WS_CLIENT_FRAME_OVERHEAD;
    char *frame = cap <= sizeof(stackbuf) ? stackbuf : pd_malloc(cap);
    uint32_t mask32 = (uint32_t)next_rand(c->net);
    uint8_t mask[4];
    memcpy(mask, &mask32, 4);
    size_t n = pd_ws_client_text_frame(frame, cap, data, len, mask);
    int r = conn_write(c, frame, n);
    if (frame != stackbuf)
        free(frame);
    if (r < 0)
        conn_end(c, r);
    return r < 0 ? PD_ERR_CLOSED : 0;
}

/* ---- the handshake --------------------------------------------------- */

static void upgrade(lg_conn_t *c, const char *rest, size_t len)
{
    const pd_http_response_t *resp = pd_http_response(c->http);
    int r = pd_http_ws_check_response(resp, pd_slice(c->key, 24));
    c->close_code = (uint16_t)resp->status;
    pd_http_parser_free(c->http);
    free(c->http);
    c->http = NULL;
    if (r != 0) {
        conn_end(c, LG_END_REFUSED);
        return;
    }
    c->close_code = 0;
    pd_ws_config_t cfg = {.client = 1, .max_message = c->net->max_message};
    c->ws = pd_ws_new(&cfg, &ws_callbacks, c);
    c->state = LG_OPEN;
    feed_ws(c, rest, len);
}

static void feed_http(lg_conn_t *c, const char *data, size_t len)
{
    ssize_t r = pd_http_feed(c->http, data, len);
    if (r == PD_ERR_PARTIAL)
        return;
    if (r < 0) {
        conn_end(c, LG_END_REFUSED);
        return;
    }
    upgrade(c, data + r, len - (size_t)r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    lg_conn_t *c = h->data;
    *buf = uv_buf_init(c->net->rbuf, sizeof(c->net->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    lg_conn_t *c = s->data;
    if (nread < 0) {
        conn_end(c, c->state == LG_CLOSING ? LG_END_CLEAN : (int)nread);
        return;
    }
    if (nread == 0 || c->state == LG_DEAD)
        return;
    c->net->read_ns = uv_hrtime();
    if (c->state == LG_HANDSHAKE)
        feed_http(c, buf->base, (size_t)nread);
    else
        feed_ws(c, buf->base, (size_t)nread);
}

static void make_key(lg_net_t *net, char out[25])
{
    uint64_t raw[2] = {next_rand(net), next_rand(net)};
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)raw, 16);
}

static void on_connect(uv_connect_t *req, int status)
{
    lg_conn_t *c = req->data;
    if (c->state == LG_DEAD)
        return;
    if (status < 0) {
        conn_end(c, status);
        return;
    }
    c->state = LG_HANDSHAKE;
    c->http = pd_malloc(sizeof(*c->http));
    pd_http_response_parser_init(c->http, NULL);
    int r = conn_write(c, c->request.base, c->request.len);
    pd_buf_free(&c->request);
    if (r == 0)
        r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0)
        conn_end(c, r);
}

/* A socket bound to a loopback source address, with the port left to connect(). */
static int make_socket(const lg_net_t *net, unsigned src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || net->n_src == 0)
        return fd < 0 ? -errno : fd;
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(0x7f000002u + src % net->n_src);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int lg_conn_start(lg_net_t *net, lg_conn_t *c, unsigned server, unsigned src, const char *target)
{
    server %= net->n_servers;
    void *data = c->data;
    memset(c, 0, sizeof(*c));
    c->data = data;
    c->net = net;
    int fd = make_socket(net, src);
    if (fd < 0)
        return fd;
    uv_tcp_init(net->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    make_key(net, c->key);
    pd_http_write_ws_request(&c->request, pd_slice_cstr(net->host[server]), pd_slice_cstr(target),
                             pd_slice(c->key, 24), NULL);
    int r = uv_tcp_open(&c->tcp, fd);
    if (r < 0) {
        close(fd);
        conn_end(c, r);
        return 0;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&net->server[server],
                       on_connect);
    if (r < 0)
        conn_end(c, r);
    return 0;
}
