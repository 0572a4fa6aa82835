/*
 * One connection's life: the HTTP request, the upgrade, messages in, frames
 * out, liveness and closing, and what the rooms module calls for a member
 * (its operations and its timer). A connection is never freed inside
 * its own callbacks: closing marks it and calls uv_close(), and the memory
 * goes in the close callback, after libuv has finished with the handle.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

#include "../base/err.h"
#include "../base/mem.h"
#include "../proto/proto.h"
#include "log.h"
#include "metrics.h"
#include "server_state.h"
#include "uring.h"

#define CLOSE_GRACE_MS 2000
#define RESYNC_WINDOW_MS 60000
#define MAX_RESYNCS_PER_WINDOW 3
#define TURN_BURST_FACTOR 8
#define PD_RETRY_AFTER_S "5"

/* Connections of one client address still in the HTTP phase. */
typedef struct pd_addr_count {
    unsigned char key[sizeof(struct in6_addr)];
    size_t key_len;
    unsigned n;
} pd_addr_count_t;

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void finish_close(pd_conn_t *c);

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- output ---------------------------------------------------------- */

/* Puts c on the server's flush list (or the delay list) unless it is on one. */
static void wants_flush(pd_conn_t *c)
{
    pd_server_t *srv = c->srv;
    if (!pd_list_linked(&c->flush_link) && c->state != CONN_CLOSED) {
        c->flush_seq = ++srv->flush_pushes;
        /*
         * --write-delay: a member written less than the delay ago waits until
         * the delay has passed since that write. HTTP answers, closes and
         * a member's first message after a quiet spell go out at once.
         */
        uint32_t delay = (uint32_t)srv->cfg->write_delay_ms, now = (uint32_t)pd_server_now(srv);
        int hold = delay && c->member && c->state == CONN_OPEN && now - c->last_write_ms < delay;
        c->flush_ms = c->last_write_ms + delay;
        pd_list_push_back(hold ? &srv->delay_list : &srv->flush_list, &c->flush_link);
    }
}

/* Frames a JSON text as one WebSocket message; the caller holds the one reference. */
static pd_shared_t *frame_json(void *srv, const char *json, size_t len)
{
    uint8_t hdr[10];
    size_t h = pd_ws_text_header(hdr, len);
    pd_shared_t *s = pd_shared_new(h + len);
    memcpy(s->data, hdr, h);
    memcpy(s->data + h, json, len);
    return s;
}

static void enqueue_raw(pd_conn_t *c, pd_shared_t *frame)
{
    if (c->state == CONN_CLOSED)
        return;
    pd_outq_push(&c->outq, frame);
    wants_flush(c);
}

/*
 * The reader is too slow for its room: drop the backlog it has not started
 * to receive (keeping the first keep entries, which are being written) and
 * send a fresh snapshot once the socket drains, instead of buffering without
 * bound. One that keeps falling behind is closed. This can run inside a
 * broadcast, where leaving the room would change the room under its own
 * loop, so the close itself happens in the flush phase.
 */
static void shed_backlog(pd_conn_t *c, uint32_t keep)
{
    pd_server_t *srv = c->srv;
    uint64_t now = pd_server_now(srv);
    pd_outq_truncate(&c->outq, keep);
    if (now - c->resync_window_ms > RESYNC_WINDOW_MS) {
        c->resync_window_ms = now;
        c->resyncs = 0;
    }
    if (++c->resyncs > MAX_RESYNCS_PER_WINDOW) {
        c->evict_slow = 1;
        c->resync = 0;
    } else {
        srv->metrics.resyncs_total++;
        c->resync = 1;
    }
    wants_flush(c);
}

static int write_queue(pd_conn_t *c);

/*
 * One sweep of the flush list (several loop turns in a large room, or
 * --write-delay) may queue more for a socket than the bound while the
 * kernel still takes everything. Rather than judge the reader by the size
 * of that burst, write to it now and judge what the kernel refuses. This
 * runs inside a broadcast, so a failed write only marks the connection and
 * the flush phase closes it.
 */
static void write_early(pd_conn_t *c)
{
    if (write_queue(c) < 0) {
        c->broken = 1;
        wants_flush(c);
    }
}

static int over_bound(const pd_conn_t *c, size_t len, size_t bound)
{
    size_t queued = c->outq.bytes - (c->writing ? c->inflight : 0);
    return queued && queued + len > bound;
}

/*
 * The bound applies to what the kernel has refused: while a write is in
 * flight, the bytes queued behind it. A single message always fits an empty
 * queue: a large room's snapshot may be bigger than the bound, which is
 * about backlog.
 */
void pd_conn_enqueue(pd_conn_t *c, pd_shared_t *frame)
{
    /* A drain closes everyone: the leaves it causes are news to no one. */
    if (c->state != CONN_OPEN || c->resync || c->evict_slow || c->broken || c->srv->draining)
        return;
    size_t max = c->srv->cfg->max_send_buffer;
    if (!c->writing && over_bound(c, frame->len, max * TURN_BURST_FACTOR))
        write_early(c);
    if (c->resync || c->evict_slow || c->broken)
        return;
    if (c->writing && over_bound(c, frame->len, max)) {
        shed_backlog(c, c->inflight_items);
        return;
    }
    c->srv->metrics.messages_out_total++;
    enqueue_raw(c, frame);
}

void pd_conn_send_json(pd_conn_t *c, pd_slice_t json)
{
    pd_shared_t *frame = frame_json(c->srv, json.base, json.len);
    pd_conn_enqueue(c, frame);
    pd_shared_unref(frame);
}

void pd_conn_send_code(pd_conn_t *c, pd_code_type_t type, const char *code, const char *message)
{
    pd_buf_t *b = &c->srv->scratch;
    pd_buf_reset(b);
    if (type == PD_CODE_AUTH_ERROR)
        pd_proto_enc_auth_error(b, code);
    else
        pd_proto_enc_error(b, code, message);
    pd_conn_send_json(c, pd_buf_slice(b));
}

static void after_drain(pd_conn_t *c)
{
    if (c->resync && c->member) {
        c->resync = 0;
        pd_member_resync(c->member);
    } else if (c->state == CONN_CLOSING) {
        if (!c->ws || pd_ws_close_received(c->ws))
            finish_close(c);
    }
}

static void on_write(uv_write_t *req, int status)
{
    pd_conn_t *c = req->data;
    free(req);
    c->writing = 0;
    pd_outq_consume(&c->outq, c->inflight);
    if (status == 0)
        c->srv->metrics.bytes_out_total += c->inflight;
    c->inflight = 0;
    c->inflight_items = 0;
    if (c->state == CONN_CLOSED)
        return;
    if (status < 0) {
        finish_close(c);
        return;
    }
    c->behind = !pd_outq_empty(&c->outq);
    wants_flush(c);
}

/*
 * A connection the kernel is refusing bytes to reads its backlog late, when
 * only the newest location of each user matters: it skips presence_changed
 * messages that a newer one for the same user has superseded (the newer
 * one reached every open connection but one, see pd_shared_supersede). One
 * that keeps up gets every message, and a closing one gets no newer ones.
 */
static void skip_superseded(pd_conn_t *c)
{
    if (c->behind && c->state == CONN_OPEN)
        c->srv->metrics.superseded_total += pd_outq_drop_stale(&c->outq, c, PD_MAX_IOV);
}

/* uv_buf_t and struct iovec share their layout on Unix (libuv documents it). */
static int write_rest(pd_conn_t *c)
{
    struct iovec iov[PD_MAX_IOV];
    size_t total;
    unsigned n = pd_outq_iov(&c->outq, iov, PD_MAX_IOV, &total);
    /*
     * Most flushes finish in uv_try_write(); a write request exists only
     * while the kernel is refusing bytes, so idle connections do not carry one.
     */
    uv_write_t *req = pd_malloc(sizeof(*req));
    req->data = c;
    c->inflight = total;
    c->inflight_items = n;
    c->writing = 1;
    int rc = uv_write(req, (uv_stream_t *)&c->tcp, (uv_buf_t *)iov, n, on_write);
    c->srv->metrics.writes_total++;
    if (rc < 0) {
        free(req);
        c->writing = 0;
        c->inflight = 0;
        c->inflight_items = 0;
    }
    return rc;
}

/* Takes one write's result (bytes, or a libuv error) of total offered: 0, 1 or the error. */
static int wrote(pd_conn_t *c, int r, size_t total)
{
    c->srv->metrics.writes_total++;
    if (r < 0)
        return r == UV_EAGAIN ? 1 : r;
    pd_outq_consume(&c->outq, (size_t)r);
    c->srv->metrics.bytes_out_total += (size_t)r;
    return (size_t)r < total;
}

/*
 * Offers the queue to the kernel, PD_MAX_IOV entries per writev, for as
 * long as it takes every byte offered: a full batch of iovecs says nothing
 * about the reader. Returns 0 once the queue is empty, 1 when the kernel
 * refused bytes (a short write or EAGAIN), or a libuv error.
 */
static int try_write_all(pd_conn_t *c)
{
    for (skip_superseded(c); !pd_outq_empty(&c->outq); skip_superseded(c)) {
        struct iovec iov[PD_MAX_IOV];
        size_t total;
        unsigned n = pd_outq_iov(&c->outq, iov, PD_MAX_IOV, &total);
        int r = wrote(c, uv_try_write((uv_stream_t *)&c->tcp, (uv_buf_t *)iov, n), total);
        if (r != 0)
            return r;
    }
    return 0;
}

/*
 * After the kernel was offered the queue (r as try_write_all returns it):
 * what it refused is backlog: past the bound it is shed (a resync
 * follows), and the rest goes to uv_write. Returns 0 or a libuv error.
 */
static int queue_written(pd_conn_t *c, int r)
{
    c->last_write_ms = (uint32_t)pd_server_now(c->srv);
    c->behind = r == 1;
    if (r <= 0)
        return r;
    skip_superseded(c);
    if (c->outq.bytes > c->srv->cfg->max_send_buffer && c->state == CONN_OPEN)
        shed_backlog(c, c->outq.offset ? 1 : 0);
    return pd_outq_empty(&c->outq) ? 0 : write_rest(c);
}

/* Writes what the kernel takes now; the rest as queue_written says. */
static int write_queue(pd_conn_t *c)
{
    return queue_written(c, try_write_all(c));
}

/* The flush's checks before writing: 1 when c may write now. */
static int flush_ready(pd_conn_t *c)
{
    if (c->broken && c->state != CONN_CLOSED) {
        finish_close(c);
        return 0;
    }
    if (c->evict_slow && c->state == CONN_OPEN) {
        c->srv->metrics.evictions[PD_EVICT_SLOW]++;
        pd_log(PD_LOG_INFO, "closing slow reader", " conn=%p", (void *)c);
        pd_conn_close_ws(c, 1013, "SLOW_CONSUMER");
    }
    return !c->writing && c->state != CONN_CLOSED;
}

/* rc: write_queue's result. */
static void flush_done(pd_conn_t *c, int rc)
{
    if (rc < 0) {
        finish_close(c);
        return;
    }
    if (!c->writing)
        after_drain(c);
}

void pd_conn_flush(pd_conn_t *c)
{
    if (flush_ready(c))
        flush_done(c, pd_outq_empty(&c->outq) ? 0 : write_queue(c));
}

/*
 * Until pd_conn_flush_end the iovecs' bytes count as in flight, as under a
 * uv_write: the connection is not written meanwhile, and a backlog shed
 * inside a broadcast keeps the entries they point into.
 */
unsigned pd_conn_flush_begin(pd_conn_t *c, int *fd, struct iovec *iov, size_t *total)
{
    if (!flush_ready(c))
        return 0;
    if (pd_outq_empty(&c->outq)) {
        flush_done(c, 0);
        return 0;
    }
    skip_superseded(c);
    uv_os_fd_t f;
    if (pd_outq_empty(&c->outq) || uv_fileno((uv_handle_t *)&c->tcp, &f) != 0) {
        flush_done(c, write_queue(c));
        return 0;
    }
    unsigned n = pd_outq_iov(&c->outq, iov, PD_MAX_IOV, total);
    *fd = f;
    c->writing = 1;
    c->inflight = *total;
    c->inflight_items = n;
    return n;
}

/*
 * What the kernel refused (a short count or -EAGAIN) takes today's path:
 * the rest is judged against the bound and handed to uv_write. What it
 * took all of is followed by writev for the rest of the queue.
 */
void pd_conn_flush_end(pd_conn_t *c, int res)
{
    size_t total = c->inflight;
    c->writing = 0;
    c->inflight = 0;
    c->inflight_items = 0;
    if (c->state == CONN_CLOSED)
        return;
    int r = res == PD_URING_NOT_SENT ? try_write_all(c) : wrote(c, res, total);
    if (r == 0)
        r = try_write_all(c);
    flush_done(c, queue_written(c, r));
}

/* ---- the HTTP phase's bookkeeping ------------------------------------ */

static pd_slice_t addr_key(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return pd_slice((const char *)&((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    return pd_slice((const char *)&((const struct sockaddr_in *)ss)->sin_addr, 4);
}

/*
 * Counts c against its address (--max-handshakes-per-ip); returns 0, or -1
 * when the address already has the limit's worth of connections in the
 * HTTP phase.
 */
static int addr_take(pd_conn_t *c)
{
    pd_server_t *srv = c->srv;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (!srv->cfg->max_handshakes_per_ip ||
        uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    pd_slice_t key = addr_key(&ss);
    pd_proc_t *proc = srv->proc;
    int rc = 0;
    /* The count is the process's: one lock, on the accept path only. */
    uv_mutex_lock(&proc->addr_lock);
    pd_addr_count_t *a = pd_map_get(&proc->http_by_addr, key);
    if (a && a->n >= srv->cfg->max_handshakes_per_ip) {
        rc = -1;
    } else {
        if (!a) {
            a = pd_calloc(1, sizeof(*a));
            memcpy(a->key, key.base, key.len);
            a->key_len = key.len;
            pd_map_put(&proc->http_by_addr, pd_slice((const char *)a->key, a->key_len), a);
        }
        a->n++;
        c->addr = a;
    }
    uv_mutex_unlock(&proc->addr_lock);
    return rc;
}

static void addr_drop(pd_conn_t *c)
{
    pd_addr_count_t *a = c->addr;
    pd_proc_t *proc = c->srv->proc;
    if (!a)
        return;
    c->addr = NULL;
    uv_mutex_lock(&proc->addr_lock);
    if (--a->n == 0) {
        pd_map_del(&proc->http_by_addr, pd_slice((const char *)a->key, a->key_len));
        free(a);
    }
    uv_mutex_unlock(&proc->addr_lock);
}

/* The connection has left the HTTP phase (upgraded, answered or gone). */
static void drop_http(pd_conn_t *c)
{
    pd_buf_free(&c->raw);
    if (c->http) {
        pd_http_parser_free(c->http);
        free(c->http);
        c->http = NULL;
    }
    addr_drop(c);
}

/* ---- the rooms module's side ----------------------------------------- */

static void schedule_tick(pd_server_t *srv);

static void on_tick(uv_timer_t *t)
{
    schedule_tick(t->data);
}

/* Runs what the rooms module has due and arms the timer for its next deadline. */
static void schedule_tick(pd_server_t *srv)
{
    uint64_t now = pd_server_now(srv);
    uint64_t next = pd_rooms_tick(srv->rooms, now);
    if (next == UINT64_MAX) {
        uv_timer_stop(&srv->tick);
        return;
    }
    uv_timer_start(&srv->tick, on_tick, next > now ? next - now : 1, 0);
}

static void rooms_deliver(void *srv, void *conn, pd_shared_t *msg)
{
    pd_conn_enqueue(conn, msg);
}

static void rooms_detached(void *srv, void *conn, pd_detach_reason_t why)
{
    pd_conn_t *c = conn;
    c->member = NULL;
    if (why == PD_DETACH_REPLACED) {
        c->srv->metrics.evictions[PD_EVICT_REPLACED]++;
        pd_conn_close_ws(c, 1000, "REPLACED");
    } else {
        c->srv->metrics.evictions[PD_EVICT_KICKED]++;
        pd_conn_close_ws(c, 1008, "AUTH_FORBIDDEN");
    }
}

const pd_rooms_ops_t pd_conn_rooms_ops = {
    .frame = frame_json, .deliver = rooms_deliver, .detached = rooms_detached};

/* ---- closing --------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    pd_conn_t *c = h->data;
    pd_server_t *srv = c->srv;
    pd_list_remove(&c->link);
    srv->n_conns--;
    if (!c->handed)
        atomic_fetch_sub(&srv->proc->n_conns, 1);
    if (c->ws)
        srv->metrics.connections--;
    else
        srv->metrics.http_connections--;
    pd_outq_free(&c->outq);
    if (c->ws)
        pd_ws_free(c->ws);
    drop_http(c);
    free(c);
}

/* Every way out of a room passes here, so pending token checks end here too. */
static void leave_room(pd_conn_t *c, int linger)
{
    c->srv->hooks->leaving(c);
    if (!c->member)
        return;
    pd_member_t *m = c->member;
    c->member = NULL;
    pd_member_leave(m, linger, pd_server_now(c->srv));
    schedule_tick(c->srv);
}

/*
 * Only the last bytes (a close frame or an HTTP response) go out from now
 * on: leave the room, and close once they are written (and, for a
 * WebSocket, the peer's close has come) or after CLOSE_GRACE_MS.
 */
static void start_closing(pd_conn_t *c)
{
    leave_room(c, 0);
    c->state = CONN_CLOSING;
    c->deadline_ms = pd_server_now(c->srv) + CLOSE_GRACE_MS;
    wants_flush(c);
}

static void finish_close(pd_conn_t *c)
{
    if (c->state == CONN_CLOSED)
        return;
    leave_room(c, c->state == CONN_OPEN && !c->clean_close);
    c->state = CONN_CLOSED;
    if (pd_list_linked(&c->flush_link))
        pd_list_remove(&c->flush_link);
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void pd_conn_abort(pd_conn_t *c)
{
    finish_close(c);
}

void pd_conn_close_ws(pd_conn_t *c, uint16_t code, const char *reason)
{
    if (c->state != CONN_OPEN)
        return;
    start_closing(c);
    if (c->ws && !pd_ws_close_sent(c->ws))
        pd_ws_close(c->ws, code, reason);
}

void pd_conn_respond(pd_conn_t *c, int status, const char *type, pd_slice_t body,
                     const char *extra_headers)
{
    pd_buf_t *b = &c->srv->scratch;
    pd_buf_reset(b);
    pd_http_write_response(b, status, type, body, extra_headers);
    pd_shared_t *resp = pd_shared_copy(b->base, b->len);
    enqueue_raw(c, resp);
    pd_shared_unref(resp);
    start_closing(c);
}

void pd_conn_respond_json(pd_conn_t *c, int status, pd_slice_t json)
{
    pd_conn_respond(c, status, "application/json", json, "Cache-Control: no-store\r\n");
}

void pd_conn_respond_error(pd_conn_t *c, int status, const char *message)
{
    pd_buf_t body = PD_BUF_INIT;
    pd_proto_enc_http_error(&body, message);
    pd_conn_respond_json(c, status, pd_buf_slice(&body));
    pd_buf_free(&body);
}

/* ---- messages -------------------------------------------------------- */

static void handle_update(pd_conn_t *c, const pd_proto_location_t *loc)
{
    pd_server_t *srv = c->srv;
    if (pd_member_update(c->member, loc, pd_server_now(srv)) == 1) {
        schedule_tick(srv);
        return;
    }
    if (srv->n_latency < PD_LATENCY_SAMPLES) {
        unsigned i = (srv->latency_head + srv->n_latency++) % PD_LATENCY_SAMPLES;
        srv->latency[i].t0 = uv_hrtime();
        srv->n_latency_new++;
    }
}

static void handle_ping(pd_conn_t *c, pd_slice_t id)
{
    c->app_pings = 1;
    pd_buf_t *b = &c->srv->scratch;
    pd_buf_reset(b);
    pd_proto_enc_pong(b, id);
    pd_conn_send_json(c, pd_buf_slice(b));
}

void pd_conn_handle_text(pd_conn_t *c, const char *data, size_t len)
{
    pd_server_t *srv = c->srv;
    if (c->state != CONN_OPEN || !c->member)
        return;
    char err[160];
    if (pd_proto_decode_client(&srv->proto_limits, data, len, &srv->msg, err, sizeof(err)) != 0) {
        srv->metrics.bad_messages_total++;
        pd_conn_send_code(c, PD_CODE_ERROR, "BAD_MESSAGE", err);
        return;
    }
    switch (srv->msg.type) {
    case PD_PROTO_CLIENT_PRESENCE_UPDATE: handle_update(c, &srv->msg.loc); break;
    case PD_PROTO_CLIENT_TOKEN_REFRESH: srv->hooks->refresh(c, srv->msg.token); break;
    case PD_PROTO_CLIENT_PING: handle_ping(c, srv->msg.ping_id); break;
    }
}

/*
 * Every message costs one from a token bucket, whatever its type: updates
 * past their own rate are coalesced, but pings, token refreshes (a check of
 * a signature, or a request to the verify endpoint) and bad messages would
 * otherwise cost the server work without bound. A client past its burst is
 * misbehaving, not merely busy: it is closed. The budget is never below the
 * updates' own (--rate, --burst), so raising those raises it too.
 */
static double budget_rate(const pd_config_t *cfg)
{
    return cfg->msg_rate > cfg->rate ? cfg->msg_rate : cfg->rate;
}

static double budget_burst(const pd_config_t *cfg)
{
    return cfg->msg_burst > cfg->burst ? cfg->msg_burst : cfg->burst;
}

static int within_budget(pd_conn_t *c)
{
    const pd_config_t *cfg = c->srv->cfg;
    uint32_t now = (uint32_t)pd_server_now(c->srv);
    double tokens = c->msg_tokens + (double)(uint32_t)(now - c->msg_ms) * budget_rate(cfg) / 1000.0;
    c->msg_ms = now;
    c->msg_tokens = (float)(tokens > budget_burst(cfg) ? budget_burst(cfg) : tokens);
    if (c->msg_tokens < 1)
        return 0;
    c->msg_tokens -= 1;
    return 1;
}

static void ws_on_text(void *ud, const char *data, size_t len)
{
    pd_conn_t *c = ud;
    c->srv->metrics.messages_in_total++;
    c->last_text_ms = pd_server_now(c->srv);
    if (c->state != CONN_OPEN)
        return;
    if (!within_budget(c)) {
        c->srv->metrics.evictions[PD_EVICT_RATE]++;
        pd_log(PD_LOG_INFO, "closing a connection over its message budget", " conn=%p", (void *)c);
        pd_conn_send_code(c, PD_CODE_ERROR, "RATE_LIMITED", NULL);
        pd_conn_close_ws(c, 1008, "RATE_LIMITED");
        return;
    }
    if (!c->srv->hooks->early_text(c, data, len))
        pd_conn_handle_text(c, data, len);
}

static void ws_on_close(void *ud, uint16_t code, pd_slice_t reason)
{
    pd_conn_t *c = ud;
    c->clean_close = 1;
    if (c->state == CONN_OPEN)
        start_closing(c);
    else
        wants_flush(c);
}

static void ws_on_output(void *ud, const char *data, size_t len)
{
    pd_shared_t *frame = pd_shared_copy(data, len);
    enqueue_raw(ud, frame);
    pd_shared_unref(frame);
}

static const pd_ws_callbacks_t ws_callbacks = {
    .on_text = ws_on_text,
    .on_close = ws_on_close,
    .on_output = ws_on_output,
    .on_pong = NULL,
};

static void feed_ws(pd_conn_t *c, const char *data, size_t len)
{
    if (!len || !c->ws)
        return;
    int rc = pd_ws_feed(c->ws, data, len);
    if (rc == PD_ERR_PROTO && c->state == CONN_OPEN) {
        /* The codec already queued the close frame with the right code. */
        start_closing(c);
    }
}

/* ---- the upgrade ----------------------------------------------------- */

static int origin_allowed(const pd_config_t *cfg, pd_slice_t origin)
{
    if (!cfg->allowed_origins || !origin.base)
        return 1;
    for (size_t i = 0; i < cfg->n_allowed_origins; i++)
        if (pd_slice_eq_cstr(origin, cfg->allowed_origins[i]))
            return 1;
    return 0;
}

/* Returns 0 when the request may be upgraded, else the status to answer. */
static int upgrade_status(pd_conn_t *c, const pd_http_request_t *req, pd_slice_t workspace,
                          const char **extra)
{
    *extra = NULL;
    if (!pd_proto_workspace_valid(workspace))
        return 404;
    int st = pd_http_websocket_check(req);
    if (st == 405)
        *extra = "Allow: GET\r\n";
    else if (st == 426)
        *extra = PD_HTTP_WS_426_HEADERS;
    if (st)
        return st;
    if (req->body_unread)
        return 400; /* the bytes after the head would be taken for frames */
    return origin_allowed(c->srv->cfg, req->origin) ? 0 : 403;
}

/* refuse: the room's shard is draining; the WebSocket opens only to close with 1001. */
static void upgrade(pd_conn_t *c, const pd_http_request_t *req, pd_slice_t workspace, int refuse)
{
    pd_server_t *srv = c->srv;
    char accept[29];
    pd_http_ws_accept(req->sec_websocket_key, accept);
    pd_buf_t *b = &srv->scratch;
    pd_buf_reset(b);
    pd_http_write_upgrade(b, accept);
    pd_shared_t *resp = pd_shared_copy(b->base, b->len);
    enqueue_raw(c, resp);
    pd_shared_unref(resp);

    pd_ws_config_t wcfg = {.client = 0, .max_message = srv->cfg->max_message};
    c->ws = pd_ws_new(&wcfg, &ws_callbacks, c);
    c->state = CONN_OPEN;
    c->msg_tokens = (float)budget_burst(srv->cfg);
    c->msg_ms = (uint32_t)pd_server_now(srv);
    c->last_ping_ms = pd_server_now(srv);
    srv->metrics.http_connections--;
    srv->metrics.connections++;
    if (refuse || srv->draining)
        pd_conn_close_ws(c, 1001, "server shutting down");
    else
        srv->hooks->upgraded(c, req, workspace);
}

void pd_conn_refuse_upgrade(pd_conn_t *c, const pd_http_request_t *req)
{
    upgrade(c, req, PD_SLICE_NULL, 1);
}

static void handle_request(pd_conn_t *c, const pd_http_request_t *req)
{
    pd_slice_t path = req->path;
    if (c->over_limit && !c->srv->hooks->is_status(path)) {
        c->srv->metrics.busy_total++;
        pd_conn_respond(c, 503, "text/plain", pd_slice_cstr(pd_http_reason(503)),
                        "Retry-After: " PD_RETRY_AFTER_S "\r\n");
        return;
    }
    pd_slice_t workspace;
    if (!pd_proto_room_path_workspace(path, &workspace)) {
        c->srv->hooks->request(c, req);
        return;
    }
    const char *extra;
    int st = upgrade_status(c, req, workspace, &extra);
    if (st) {
        pd_conn_respond(c, st, "text/plain", pd_slice_cstr(pd_http_reason(st)), extra);
        return;
    }
    if (c->srv->hooks->elsewhere(c, req, workspace))
        return;
    upgrade(c, req, workspace, 0);
}

/*
 * A body is read only where one is used: an authorized kick, up to
 * --max-api-body. Any other request is answered from its head alone (an
 * unauthorized kick gets its 401 without its body being read; an upgrade
 * that announces a body gets 400).
 */
static int body_policy(void *ud, const pd_http_request_t *head, size_t *max_body)
{
    pd_conn_t *c = ud;
    *max_body = 0;
    if (!c->srv->hooks->takes_body(c->srv, head))
        return 1;
    *max_body = c->srv->cfg->max_api_body;
    return 0;
}

static void on_http_bytes(pd_conn_t *c, const char *data, size_t len)
{
    /* Another shard may have to go on from the first byte (handover.c). */
    if (c->srv->proc->n > 1)
        pd_buf_append(&c->raw, data, len);
    ssize_t r = pd_http_feed(c->http, data, len);
    if (r == PD_ERR_PARTIAL)
        return;
    if (r < 0) {
        int st = pd_http_error_status(c->http);
        pd_conn_respond(c, st ? st : 400, "text/plain",
                        pd_slice_cstr(pd_http_reason(st ? st : 400)), NULL);
        return;
    }
    handle_request(c, pd_http_request(c->http));
    drop_http(c);
    if (c->state == CONN_OPEN)
        feed_ws(c, data + r, len - (size_t)r);
}

/* ---- reading --------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    pd_conn_t *c = h->data;
    buf->base = c->srv->read_buf;
    buf->len = sizeof(c->srv->read_buf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    pd_conn_t *c = stream->data;
    if (nread < 0) {
        finish_close(c);
        return;
    }
    if (nread == 0 || c->state == CONN_CLOSED)
        return;
    c->srv->metrics.bytes_in_total += (size_t)nread;
    c->last_recv_ms = pd_server_now(c->srv);
    if (c->state == CONN_HTTP && c->http)
        on_http_bytes(c, buf->base, (size_t)nread);
    else if (c->state == CONN_HTTP)
        return; /* the answer waits on the other shards; what follows is not read */
    else
        feed_ws(c, buf->base, (size_t)nread);
}

static pd_conn_t *conn_new(pd_server_t *srv)
{
    pd_conn_t *c = pd_calloc(1, sizeof(*c));
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    pd_list_init(&c->flush_link);
    c->last_write_ms = (uint32_t)pd_server_now(srv) - 2000; /* longer ago than any delay */
    pd_list_push_back(&srv->conns, &c->link);
    srv->n_conns++;
    srv->metrics.http_connections++;
    c->created_ms = c->last_recv_ms = c->last_text_ms = pd_server_now(srv);
    return c;
}

static void start_http(pd_conn_t *c)
{
    c->http = pd_malloc(sizeof(*c->http));
    pd_http_parser_init(c->http, &c->srv->http_limits);
    pd_http_parser_on_head(c->http, body_policy, c);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

void pd_conn_accept(pd_server_t *srv, int fd)
{
    pd_conn_t *c = conn_new(srv);
    unsigned n = atomic_fetch_add(&srv->proc->n_conns, 1) + 1;
    if (uv_tcp_open(&c->tcp, fd) < 0) {
        close(fd);
        finish_close(c);
        return;
    }
    srv->metrics.accepted_total++;
    /*
     * Past --max-conns a few more (--status-reserve) are still read, so that
     * /healthz and /metrics answer and others learn to come back (503 with
     * Retry-After) instead of meeting a reset. The count is the process's.
     */
    if (srv->draining || n > srv->max_conns + srv->cfg->status_reserve) {
        srv->metrics.rejected_total++;
        finish_close(c);
        return;
    }
    if (addr_take(c) != 0) {
        srv->metrics.addr_rejected_total++;
        finish_close(c);
        return;
    }
    c->over_limit = n > srv->max_conns;
    uv_tcp_nodelay(&c->tcp, 1);
    start_http(c);
}

/*
 * The sender counted the connection against --max-conns and its address's
 * handshakes; it is counted here as the process's from now on (the
 * sender's copy is marked handed).
 */
void pd_conn_adopt(pd_server_t *srv, int fd, pd_slice_t raw)
{
    pd_conn_t *c = conn_new(srv);
    if (uv_tcp_open(&c->tcp, fd) < 0) {
        close(fd);
        finish_close(c); /* its close gives back the sender's count */
        return;
    }
    start_http(c);
    on_http_bytes(c, raw.base, raw.len);
}

void pd_conn_release(pd_conn_t *c)
{
    c->handed = 1;
    finish_close(c);
}

/* ---- the sweep ------------------------------------------------------- */

static void sweep_tokens(pd_conn_t *c, uint64_t now)
{
    pd_server_t *srv = c->srv;
    if (!c->expires_at_ms || !c->member)
        return;
    if (!c->refresh_asked && wall_ms() >= c->expires_at_ms) {
        c->refresh_asked = 1;
        c->deadline_ms = now + srv->cfg->token_grace_ms;
        pd_conn_send_code(c, PD_CODE_ERROR, "TOKEN_REFRESH_REQUIRED", NULL);
    } else if (c->refresh_asked && now >= c->deadline_ms) {
        srv->metrics.evictions[PD_EVICT_EXPIRED]++;
        pd_conn_send_code(c, PD_CODE_AUTH_ERROR, "AUTH_EXPIRED", NULL);
        pd_conn_close_ws(c, 1008, "AUTH_EXPIRED");
    }
}

static void sweep_open(pd_conn_t *c, uint64_t now)
{
    const pd_config_t *cfg = c->srv->cfg;
    /*
     * A browser answers WebSocket pings from its network process even while
     * the tab's renderer is frozen or gone; a client that sends app-level
     * pings proves that the page itself is alive, so for it only messages
     * count (it learns the timeout from the snapshot's idleTimeout).
     */
    uint64_t last = c->app_pings ? c->last_text_ms : c->last_recv_ms;
    if (now - last >= cfg->idle_timeout_ms) {
        c->srv->metrics.evictions[PD_EVICT_IDLE]++;
        pd_conn_close_ws(c, 1001, "idle timeout");
        return;
    }
    if (now - c->last_ping_ms >= cfg->ping_interval_ms) {
        c->last_ping_ms = now;
        enqueue_raw(c, c->srv->ping_frame);
    }
    sweep_tokens(c, now);
}

void pd_conn_sweep(pd_conn_t *c, uint64_t now)
{
    switch (c->state) {
    case CONN_HTTP:
        if (now - c->created_ms >= c->srv->cfg->handshake_timeout_ms)
            finish_close(c);
        break;
    case CONN_OPEN: sweep_open(c, now); break;
    case CONN_CLOSING:
        if (now >= c->deadline_ms)
            finish_close(c);
        break;
    case CONN_CLOSED: break;
    }
}
