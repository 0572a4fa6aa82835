#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <wslay/wslay.h>

#include "../base/err.h"
#include "../base/mem.h"
#include "../base/utf8.h"

#define WS_DEFAULT_MAX_MESSAGE 4096
#define WS_MAX_CLOSE_REASON 123
#define WS_MAX_CONTROL_PAYLOAD 125

struct pd_ws {
    pd_ws_config_t cfg; /* max_message already defaulted */
    pd_ws_callbacks_t cb;
    void *ud;
    /* NULL while idle; see ws_release() for when it may go. */
    wslay_event_context_ptr ctx;
    /* The part of pd_ws_feed()'s buffer that wslay has not read yet. */
    const char *in;
    size_t in_len;
    /*
     * Bytes handed to wslay that do not yet belong to a completed frame:
     * a partial header or payload, possibly sitting unparsed in wslay's
     * input buffer. Non-zero means wslay holds state we cannot rebuild.
     */
    uint64_t unframed;
    uint64_t frame_size; /* header plus payload of the frame being received */
    unsigned busy;       /* > 0 while wslay is running our callbacks */
    /* Set by a callback that fails the connection; sent once wslay returns. */
    uint16_t fail_code;
    char *close_payload; /* the close frame being received; see ws_close_end() */
    uint8_t close_len;
    unsigned in_close : 1;
    unsigned msg_open : 1;
    unsigned close_sent : 1;
    unsigned close_received : 1;
    unsigned failed : 1;
};

/* wslay allocates with plain malloc; treat its failure as pd_malloc does. */
static int ws_check(int r)
{
    if (r == WSLAY_ERR_NOMEM) {
        fprintf(stderr, "presenced: out of memory in the WebSocket codec\n");
        abort();
    }
    return r;
}

/* Header bytes of a received frame: wslay accepts only minimal lengths. */
static uint64_t ws_header_size(uint64_t payload_len, int masked)
{
    uint64_t n = 2 + (masked ? 4 : 0);
    if (payload_len > 0xffff)
        return n + 8;
    return payload_len >= 126 ? n + 2 : n;
}

static int ws_done(const pd_ws_t *ws)
{
    return ws->failed || ws->fail_code || ws->close_received;
}

static int ws_closing(const pd_ws_t *ws)
{
    return ws_done(ws) || ws->close_sent;
}

/* Our send callback takes everything, so one wslay_event_send() drains the queue. */
static void ws_flush(pd_ws_t *ws)
{
    if (wslay_event_want_write(ws->ctx))
        ws_check(wslay_event_send(ws->ctx));
    if (wslay_event_get_close_sent(ws->ctx))
        ws->close_sent = 1;
}

/*
 * Fails the connection from inside wslay's callbacks. Writing stops too, so
 * nothing wslay queued for this input (such as its echo of a bad close
 * frame) goes out; pd_ws_feed() sends our close once wslay has returned.
 */
static void ws_fail(pd_ws_t *ws, uint16_t code)
{
    ws->fail_code = code;
    wslay_event_shutdown_read(ws->ctx);
    wslay_event_shutdown_write(ws->ctx);
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *ud)
{
    pd_ws_t *ws = ud;
    if (ws->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->in_len ? len : ws->in_len;
    memcpy(buf, ws->in, n);
    ws->in += n;
    ws->in_len -= n;
    ws->unframed += n;
    return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *ud)
{
    pd_ws_t *ws = ud;
    ws->cb.on_output(ws->ud, (const char *)data, len);
    return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void ws_frame_start_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *arg, void *ud)
{
    pd_ws_t *ws = ud;
    /* wslay has already refused frames masked the wrong way for our role. */
    ws->frame_size = ws_header_size(arg->payload_length, !ws->cfg.client) + arg->payload_length;
    if (!wslay_is_ctrl_frame(arg->opcode))
        ws->msg_open = !arg->fin;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        ws->in_close = 1;
        ws->close_len = 0;
        if (!ws->close_payload)
            ws->close_payload = pd_malloc(WS_MAX_CONTROL_PAYLOAD);
    }
    /* Refusing at the first frame spares buffering a message we will drop. */
    if (arg->opcode == WSLAY_BINARY_FRAME && !ws->cfg.client)
        ws_fail(ws, WSLAY_CODE_UNSUPPORTED_DATA);
}

static void ws_frame_chunk_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_chunk_arg *arg, void *ud)
{
    pd_ws_t *ws = ud;
    if (!ws->in_close)
        return;
    size_t room = WS_MAX_CONTROL_PAYLOAD - ws->close_len;
    size_t n = arg->data_length < room ? arg->data_length : room;
    memcpy(ws->close_payload + ws->close_len, arg->data, n);
    ws->close_len += (uint8_t)n;
}

static void ws_peer_close_done(pd_ws_t *ws, uint16_t code, pd_slice_t reason)
{
    ws->close_received = 1;
    ws_flush(ws);
    ws->cb.on_close(ws->ud, code, reason);
}

/*
 * wslay refuses close codes 1012-1014 (service restart, try again later,
 * bad gateway), which RFC 6455's registry allows and this server sends
 * (1013 for ROOM_FULL), and accepts a close payload of one byte, which the
 * RFC forbids. Both are settled here, when the close frame ends and before
 * wslay judges it: our echo is queued first, so wslay's 1002 finds the
 * close already queued and goes nowhere.
 */
static void ws_close_end(pd_ws_t *ws)
{
    ws->in_close = 0;
    uint16_t code =
        ws->close_len >= 2
            ? (uint16_t)(((uint8_t)ws->close_payload[0] << 8) | (uint8_t)ws->close_payload[1])
            : 0;
    pd_slice_t reason =
        pd_slice(ws->close_payload + 2, ws->close_len >= 2 ? ws->close_len - 2u : 0);
    if (ws->close_len == 1) {
        ws_fail(ws, WSLAY_CODE_PROTOCOL_ERROR);
    } else if (code >= 1012 && code <= 1014) {
        if (!pd_utf8_valid(reason.base, reason.len)) {
            ws_fail(ws, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA);
        } else {
            ws_check(
                wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason.base, reason.len));
            ws_peer_close_done(ws, code, reason);
        }
    }
    free(ws->close_payload);
    ws->close_payload = NULL;
}

static void ws_frame_end_cb(wslay_event_context_ptr ctx, void *ud)
{
    pd_ws_t *ws = ud;
    ws->unframed -= ws->frame_size;
    if (ws->in_close)
        ws_close_end(ws);
}

/*
 * wslay has queued its reply close before calling us; flushing it first
 * lets on_close promise that the reply is already on its way. wslay checks
 * the reason's UTF-8 per received chunk and skips the first two bytes of
 * every chunk, not only the code's, so a reason that arrived in pieces is
 * checked again here. (The same quirk can refuse a valid non-ASCII reason
 * that arrived in pieces with 1007; the connection ends either way.)
 */
static void ws_peer_close(pd_ws_t *ws, const struct wslay_event_on_msg_recv_arg *arg)
{
    if (ws_done(ws))
        return; /* settled by ws_close_end() */
    uint16_t code = arg->status_code ? arg->status_code : WSLAY_CODE_NO_STATUS_RCVD;
    pd_slice_t reason = PD_SLICE_NULL;
    if (arg->status_code)
        reason = pd_slice((const char *)arg->msg + 2, arg->msg_length - 2);
    if (!pd_utf8_valid(reason.base, reason.len)) {
        ws_fail(ws, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA);
        return;
    }
    ws_peer_close_done(ws, code, reason);
}

/* After our close the peer's data is of no use to anyone: only its close counts. */
static void ws_text(pd_ws_t *ws, const struct wslay_event_on_msg_recv_arg *arg)
{
    if (ws_closing(ws))
        return;
    const char *msg = arg->msg ? (const char *)arg->msg : "";
    ws->cb.on_text(ws->ud, msg, arg->msg_length);
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *ud)
{
    pd_ws_t *ws = ud;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME: ws_text(ws, arg); break;
    case WSLAY_PING:
        /* The pong goes out where the ping was, not after the whole input. */
        ws_flush(ws);
        break;
    case WSLAY_PONG:
        if (ws->cb.on_pong)
            ws->cb.on_pong(ws->ud);
        break;
    case WSLAY_CONNECTION_CLOSE: ws_peer_close(ws, arg); break;
    }
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_frame_recv_start_callback = ws_frame_start_cb,
    .on_frame_recv_chunk_callback = ws_frame_chunk_cb,
    .on_frame_recv_end_callback = ws_frame_end_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

/*
 * Returns the wslay context, creating it on demand. A fresh context knows
 * nothing of an earlier close we sent, so writing is shut off to keep it
 * from answering the peer's close with a second one.
 */
static wslay_event_context_ptr ws_ctx(pd_ws_t *ws)
{
    if (ws->ctx)
        return ws->ctx;
    if (ws->cfg.client)
        ws_check(wslay_event_context_client_init(&ws->ctx, &ws_callbacks, ws));
    else
        ws_check(wslay_event_context_server_init(&ws->ctx, &ws_callbacks, ws));
    wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->cfg.max_message);
    if (ws->close_sent)
        wslay_event_shutdown_write(ws->ctx);
    ws->unframed = 0;
    ws->msg_open = 0;
    return ws->ctx;
}

static void ws_drop_ctx(pd_ws_t *ws)
{
    wslay_event_context_free(ws->ctx);
    ws->ctx = NULL;
}

/*
 * Frees the context when nothing in it is worth keeping: no partial frame,
 * no unfinished fragmented message, nothing queued. Close state lives in
 * pd_ws_t, so a closing connection need not keep one either.
 */
static void ws_release(pd_ws_t *ws)
{
    if (!ws->ctx || ws->busy)
        return;
    if (!ws_done(ws) && (ws->unframed || ws->msg_open || wslay_event_want_write(ws->ctx)))
        return;
    ws_drop_ctx(ws);
}

/*
 * Sends the close a callback asked for from a fresh context, dropping
 * whatever the old one still held. wslay answers errors found by its frame
 * parser (a fragmented or oversized control frame, a non-minimal length)
 * with a close that carries no code, so those come here as 1002.
 */
static void ws_fail_fresh(pd_ws_t *ws)
{
    ws->failed = 1;
    ws_drop_ctx(ws);
    ws_check(wslay_event_queue_close(ws_ctx(ws), ws->fail_code, NULL, 0));
    ws_flush(ws);
}

pd_ws_t *pd_ws_new(const pd_ws_config_t *cfg, const pd_ws_callbacks_t *cb, void *ud)
{
    pd_ws_t *ws = pd_calloc(1, sizeof(*ws));
    ws->cfg = *cfg;
    if (ws->cfg.max_message == 0)
        ws->cfg.max_message = WS_DEFAULT_MAX_MESSAGE;
    ws->cb = *cb;
    ws->ud = ud;
    return ws;
}

void pd_ws_free(pd_ws_t *ws)
{
    if (!ws)
        return;
    wslay_event_context_free(ws->ctx);
    free(ws->close_payload);
    free(ws);
}

/* Runs wslay over the input; returns non-zero when its frame parser failed. */
static int ws_recv(pd_ws_t *ws, const char *data, size_t len)
{
    ws->in = data;
    ws->in_len = len;
    ws->busy++;
    int r = ws_check(wslay_event_recv(ws_ctx(ws)));
    if (r == 0)
        ws_flush(ws);
    ws->busy--;
    ws->in = NULL;
    ws->in_len = 0;
    return r != 0;
}

int pd_ws_feed(pd_ws_t *ws, const char *data, size_t len)
{
    if (ws_done(ws))
        return PD_ERR_CLOSED;
    if (len == 0)
        return 0;
    if (ws_recv(ws, data, len))
        ws->fail_code = WSLAY_CODE_PROTOCOL_ERROR;
    if (ws->fail_code)
        ws_fail_fresh(ws);
    else if (!ws->close_received && !wslay_event_get_read_enabled(ws->ctx))
        ws->failed = 1; /* wslay queued a close, already sent */
    ws_release(ws);
    return ws->failed ? PD_ERR_PROTO : 0;
}

static int ws_send(pd_ws_t *ws, uint8_t opcode, const char *data, size_t len)
{
    if (ws_closing(ws))
        return PD_ERR_CLOSED;
    struct wslay_event_msg msg = {opcode, (const uint8_t *)data, len};
    int r = ws_check(wslay_event_queue_msg(ws_ctx(ws), &msg));
    ws_flush(ws);
    ws_release(ws);
    return r == 0 ? 0 : PD_ERR_CLOSED;
}

int pd_ws_send_text(pd_ws_t *ws, const char *data, size_t len)
{
    return ws_send(ws, WSLAY_TEXT_FRAME, data, len);
}

int pd_ws_ping(pd_ws_t *ws)
{
    return ws_send(ws, WSLAY_PING, NULL, 0);
}

int pd_ws_close(pd_ws_t *ws, uint16_t code, const char *reason)
{
    size_t n = reason ? strlen(reason) : 0;
    if (n > WS_MAX_CLOSE_REASON)
        return PD_ERR_INVALID;
    if (ws_closing(ws))
        return PD_ERR_CLOSED;
    int r = ws_check(wslay_event_queue_close(ws_ctx(ws), code, (const uint8_t *)reason, n));
    ws_flush(ws);
    ws_release(ws);
    return r == 0 ? 0 : PD_ERR_CLOSED;
}

int pd_ws_close_sent(const pd_ws_t *ws)
{
    return ws->close_sent;
}

int pd_ws_close_received(const pd_ws_t *ws)
{
    return ws->close_received;
}

int pd_ws_has_context(const pd_ws_t *ws)
{
    return ws->ctx != NULL;
}

size_t pd_ws_text_header(uint8_t out[10], size_t len)
{
    out[0] = 0x81; /* FIN + text */
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

size_t pd_ws_client_text_frame(char *out, size_t cap, const char *data, size_t len,
                               const uint8_t mask[4])
{
    uint8_t hdr[10];
    size_t h = pd_ws_text_header(hdr, len);
    if (len > cap || cap - len < h + 4)
        return 0;
    hdr[1] |= 0x80; /* the mask bit */
    memcpy(out, hdr, h);
    memcpy(out + h, mask, 4);
    uint8_t *p = (uint8_t *)out + h + 4;
    const uint8_t *d = (const uint8_t *)data;
    for (size_t i = 0; i < len; i++)
        p[i] = d[i] ^ mask[i & 3];
    return h + 4 + len;
}
