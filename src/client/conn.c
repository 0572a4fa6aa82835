#include "conn.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "http/http.h"
#include "policy.h"
#include "presence/client.h"
#include "stream.h"
#include "ws/ws.h"

struct pc_conn {
    pc_conn_callbacks_t cb;
    void *ud;
    pd_stream_t *stream;
    pd_http_parser_t http; /* until the 101 */
    pd_ws_t *ws;           /* after it */
    pd_buf_t out;          /* codec output, written once per operation */
    pd_buf_t request;
    char key[25]; /* Sec-WebSocket-Key */
    size_t max_message;
    unsigned ended : 1;
    unsigned closing : 1;
};

static void end(pc_conn_t *c, int reason, const char *detail)
{
    if (c->ended || c->closing)
        return;
    c->ended = 1;
    c->cb.on_end(c->ud, reason, detail);
}

static void flush(pc_conn_t *c)
{
    if (c->out.len == 0)
        return;
    pd_stream_write(c->stream, c->out.base, c->out.len);
    pd_buf_reset(&c->out);
}

/* ---- The WebSocket codec's callbacks. ---- */

static void ws_on_text(void *ud, const char *data, size_t len)
{
    pc_conn_t *c = ud;
    if (!c->ended && !c->closing)
        c->cb.on_text(c->ud, data, len);
}

static void ws_on_close(void *ud, uint16_t code, pd_slice_t reason)
{
    pc_conn_t *c = ud;
    char detail[160];
    snprintf(detail, sizeof detail, "close %u%s%.*s", code, reason.len ? " " : "", (int)reason.len,
             reason.base ? reason.base : "");
    flush(c); /* the codec's reply close, before the owner closes the stream */
    end(c, pd_policy_from_close(code, reason), detail);
}

static void ws_on_output(void *ud, const char *data, size_t len)
{
    pc_conn_t *c = ud;
    pd_buf_append(&c->out, data, len);
}

static const pd_ws_callbacks_t ws_callbacks = {
    .on_text = ws_on_text,
    .on_close = ws_on_close,
    .on_output = ws_on_output,
};

static void feed_ws(pc_conn_t *c, const char *data, size_t len)
{
    if (len == 0)
        return;
    int r = pd_ws_feed(c->ws, data, len);
    flush(c);
    if (r == PD_ERR_PROTO)
        end(c, PRESENCE_ERR_PROTOCOL, "the server broke the WebSocket protocol");
}

/* ---- The upgrade. ---- */

static void refused(pc_conn_t *c, const pd_http_response_t *resp)
{
    char detail[256];
    pd_slice_t body = resp->body.base ? resp->body : PD_SLICE_LIT("");
    snprintf(detail, sizeof detail, "HTTP %d %s%s%.*s", resp->status, pd_http_reason(resp->status),
             body.len ? ": " : "", (int)(body.len > 160 ? 160 : body.len), body.base);
    end(c, PRESENCE_ERR_HANDSHAKE, detail);
}

static void upgraded(pc_conn_t *c)
{
    pd_ws_config_t cfg = {.client = 1, .max_message = c->max_message};
    c->ws = pd_ws_new(&cfg, &ws_callbacks, c);
    pd_http_parser_free(&c->http);
}

static void feed_http(pc_conn_t *c, const char *data, size_t len)
{
    ssize_t n = pd_http_feed(&c->http, data, len);
    if (n == PD_ERR_PARTIAL)
        return;
    if (n < 0) {
        end(c, PRESENCE_ERR_HANDSHAKE, "the server's answer to the upgrade is not valid HTTP");
        return;
    }
    const pd_http_response_t *resp = pd_http_response(&c->http);
    int r = pd_http_ws_check_response(resp, pd_slice(c->key, 24));
    if (r == PD_ERR_NOT_FOUND) {
        refused(c, resp);
        return;
    }
    if (r != 0) {
        end(c, PRESENCE_ERR_HANDSHAKE, "the server's 101 answer is not a valid WebSocket upgrade");
        return;
    }
    upgraded(c);
    feed_ws(c, data + n, len - (size_t)n); /* frames that came with the 101 */
}

/* ---- The stream's callbacks. ---- */

static void stream_on_open(void *ud)
{
    pc_conn_t *c = ud;
    pd_stream_write(c->stream, c->request.base, c->request.len);
    pd_buf_free(&c->request);
}

static void stream_on_read(void *ud, const char *data, size_t len)
{
    pc_conn_t *c = ud;
    if (c->ended || c->closing)
        return;
    if (c->ws)
        feed_ws(c, data, len);
    else
        feed_http(c, data, len);
}

static void stream_on_error(void *ud, int err, const char *detail)
{
    pc_conn_t *c = ud;
    if (err == PRESENCE_ERR_CLOSED && !c->ws)
        detail = "the server closed the connection during the upgrade";
    else if (err == PRESENCE_ERR_CLOSED)
        detail = "the connection was lost (no close frame)";
    end(c, err, detail);
}

static void stream_on_closed(void *ud)
{
    pc_conn_t *c = ud;
    void (*on_closed)(void *) = c->cb.on_closed;
    void *owner = c->ud;
    if (c->ws)
        pd_ws_free(c->ws);
    else
        pd_http_parser_free(&c->http);
    pd_buf_free(&c->out);
    pd_buf_free(&c->request);
    free(c);
    on_closed(owner);
}

static const pd_stream_callbacks_t stream_callbacks = {
    .on_open = stream_on_open,
    .on_read = stream_on_read,
    .on_error = stream_on_error,
    .on_closed = stream_on_closed,
};

/* ---- The connection. ---- */

static void make_key(char out[25])
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        /* The key only proves the server speaks WebSocket; it need not be secret. */
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)rand();
    }
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw);
}

static void build_request(pc_conn_t *c, const pc_conn_config_t *cfg)
{
    pd_buf_t extra = PD_BUF_INIT;
    pd_buf_appendf(&extra, "Authorization: Bearer %s\r\nUser-Agent: libpresence/%s\r\n", cfg->token,
                   PRESENCE_VERSION);
    pd_http_write_ws_request(&c->request, pd_slice_cstr(cfg->host_header),
                             pd_slice_cstr(cfg->target), pd_slice(c->key, 24), extra.base);
    pd_buf_free(&extra);
}

pc_conn_t *pc_conn_open(uv_loop_t *loop, const pc_conn_config_t *cfg, const pc_conn_callbacks_t *cb,
                        void *ud)
{
    pc_conn_t *c = pd_calloc(1, sizeof *c);
    c->cb = *cb;
    c->ud = ud;
    c->max_message = cfg->max_message;
    make_key(c->key);
    build_request(c, cfg);
    pd_http_response_parser_init(&c->http, NULL);
    c->stream = pd_stream_open(loop, cfg->host, cfg->port, cfg->tls_ctx, &stream_callbacks, c);
    return c;
}

int pc_conn_send(pc_conn_t *c, const char *text, size_t len)
{
    if (!c->ws || c->ended || c->closing)
        return PD_ERR_CLOSED;
    int r = pd_ws_send_text(c->ws, text, len);
    flush(c);
    return r;
}

void pc_conn_close(pc_conn_t *c, int clean)
{
    if (c->closing)
        return;
    if (clean && c->ws && !c->ended && pd_ws_close(c->ws, 1000, NULL) == 0)
        flush(c);
    c->closing = 1;
    pd_stream_close(c->stream, clean);
}
