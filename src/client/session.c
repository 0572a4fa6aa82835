#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/err.h"
#include "base/mem.h"
#include "internal.h"
#include "policy.h"
#include "proto/proto.h"

static void session_end(presence_client_t *c, int reason, const char *detail);

uint64_t pd_session_now(presence_client_t *c)
{
    return c->opts.now_ms ? c->opts.now_ms(c->opts.data) : uv_now(c->loop);
}

static double session_random(presence_client_t *c)
{
    if (c->opts.random)
        return c->opts.random(c->opts.data);
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint32_t)rand();
    return r / 4294967296.0;
}

static void send_text(presence_client_t *c, const pd_buf_t *b)
{
    pc_conn_send(c->conn, b->base, b->len);
}

/* ---- Events. ---- */

static void emit(presence_client_t *c, presence_event_type_t type, const presence_user_t *u)
{
    presence_event_t ev = {.type = type, .user = u};
    pd_notify_event(c, &ev);
}

/* Whether the session that was current when gen was taken is still the current one. */
static int still(presence_client_t *c, unsigned gen)
{
    return c->session == gen && c->conn && !c->closing;
}

/* ---- Messages from the server. ---- */

void pd_session_send_location(presence_client_t *c)
{
    if (!c->admitted || !c->loc_path)
        return;
    pd_proto_location_t loc = {pd_slice_cstr(c->loc_path), pd_slice_cstr(c->loc_type),
                               pd_slice_cstr(c->loc_id)};
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_presence_update(&b, &loc);
    send_text(c, &b);
    pd_buf_free(&b);
}

static void on_heartbeat(uv_timer_t *t);

static void admitted(presence_client_t *c, const pd_proto_server_msg_t *m)
{
    c->admitted = 1;
    c->last_reason = 0;
    c->state = PRESENCE_CONNECTED;
    uv_timer_stop(&c->watchdog);
    /*
     * Once a client pings, the server counts only its messages as signs of
     * life: the first ping goes out on the next loop turn, and the rest well
     * inside the idle timeout the snapshot announces.
     */
    uint64_t every = c->opts.ping_interval_ms;
    if (every && m->idle_timeout_ms && m->idle_timeout_ms / 3 < every)
        every = m->idle_timeout_ms / 3 ? m->idle_timeout_ms / 3 : 1;
    if (every)
        uv_timer_start(&c->heartbeat, on_heartbeat, 0, every);
    pd_backoff_up(&c->backoff, pd_session_now(c));
    free(c->self_id);
    c->self_id = pd_strndup(m->self_user_id.base, m->self_user_id.len);
}

static void on_snapshot(presence_client_t *c, const pd_proto_server_msg_t *m, unsigned gen)
{
    int first = !c->admitted;
    if (first)
        admitted(c, m);
    pd_pmap_replace(&c->map, m->users, m->n_users);
    if (first) {
        pd_session_send_location(c);
        emit(c, PRESENCE_EV_CONNECTED, NULL);
    }
    if (still(c, gen))
        emit(c, PRESENCE_EV_SNAPSHOT, NULL);
    if (still(c, gen))
        pd_follow_check(c);
}

static void on_changed(presence_client_t *c, const pd_proto_server_msg_t *m, unsigned gen)
{
    emit(c, PRESENCE_EV_CHANGED, pd_pmap_change(&c->map, &m->entry, m->image_given));
    if (still(c, gen))
        pd_follow_check(c);
}

static void on_left(presence_client_t *c, const pd_proto_server_msg_t *m, unsigned gen)
{
    presence_user_t *u = pd_pmap_take(&c->map, m->entry.user_id);
    if (!u)
        return;
    emit(c, PRESENCE_EV_LEFT, u);
    if (still(c, gen))
        pd_follow_left(c, u);
    pd_pmap_entry_free(u);
}

static void ask_token(presence_client_t *c, presence_token_reason_t why)
{
    c->token_wanted = why;
    c->opts.token_cb(c, why, c->opts.data);
}

/* An error message: before admission it refuses the connection. */
static void on_error_msg(presence_client_t *c, const pd_proto_server_msg_t *m)
{
    if (!c->admitted) {
        int reason = pd_policy_from_code(m->code);
        session_end(c, reason ? reason : PRESENCE_ERR_PROTOCOL, m->code.base);
        return;
    }
    if (pd_slice_eq_cstr(m->code, "TOKEN_REFRESH_REQUIRED")) {
        ask_token(c, PRESENCE_TOKEN_REFRESH);
        return;
    }
    presence_event_t ev = {
        .type = PRESENCE_EV_SERVER_ERROR, .code = m->code.base, .detail = m->message.base};
    pd_notify_event(c, &ev);
}

static void on_auth_error(presence_client_t *c, const pd_proto_server_msg_t *m)
{
    int reason = pd_policy_from_code(m->code);
    session_end(c, reason ? reason : PRESENCE_ERR_AUTH_INVALID, m->code.base);
}

static void dispatch(presence_client_t *c, const pd_proto_server_msg_t *m, unsigned gen)
{
    switch (m->type) {
    case PD_PROTO_SERVER_SNAPSHOT: on_snapshot(c, m, gen); break;
    case PD_PROTO_SERVER_JOINED:
        emit(c, PRESENCE_EV_JOINED, pd_pmap_set(&c->map, &m->entry));
        if (still(c, gen))
            pd_follow_check(c);
        break;
    case PD_PROTO_SERVER_CHANGED: on_changed(c, m, gen); break;
    case PD_PROTO_SERVER_LEFT: on_left(c, m, gen); break;
    case PD_PROTO_SERVER_ERROR: on_error_msg(c, m); break;
    case PD_PROTO_SERVER_AUTH_ERROR: on_auth_error(c, m); break;
    case PD_PROTO_SERVER_AUTH_OK: emit(c, PRESENCE_EV_TOKEN_REFRESHED, NULL); break;
    case PD_PROTO_SERVER_PONG: uv_timer_stop(&c->watchdog); break;
    case PD_PROTO_SERVER_PERMISSION_REVOKED:
        session_end(c, PRESENCE_ERR_REVOKED, m->message.base);
        break;
    case PD_PROTO_SERVER_UNKNOWN: break;
    }
}

/* Presence data only counts once admitted: the snapshot is always first. */
static int allowed_before_admission(pd_proto_server_type_t type)
{
    return type == PD_PROTO_SERVER_SNAPSHOT || type == PD_PROTO_SERVER_ERROR ||
           type == PD_PROTO_SERVER_AUTH_ERROR || type == PD_PROTO_SERVER_PERMISSION_REVOKED ||
           type == PD_PROTO_SERVER_UNKNOWN;
}

static void conn_on_text(void *ud, const char *data, size_t len)
{
    presence_client_t *c = ud;
    pd_proto_server_msg_t m;
    char err[160];
    if (pd_proto_decode_server(&m, data, len, err, sizeof err) != 0) {
        session_end(c, PRESENCE_ERR_PROTOCOL, err);
    } else if (!c->admitted && !allowed_before_admission(m.type)) {
        session_end(c, PRESENCE_ERR_PROTOCOL, "the server sent presence before the snapshot");
    } else {
        dispatch(c, &m, c->session);
    }
    pd_proto_server_msg_free(&m);
}

/* ---- The connection. ---- */

static void conn_on_end(void *ud, int reason, const char *detail)
{
    session_end(ud, reason, detail);
}

static void conn_on_closed(void *ud)
{
    presence_client_t *c = ud;
    c->conns--;
    pd_client_maybe_finish(c);
}

/* Admission is known from the first message (the snapshot), not from the 101. */
static const pc_conn_callbacks_t conn_callbacks = {
    .on_text = conn_on_text,
    .on_end = conn_on_end,
    .on_closed = conn_on_closed,
};

static void on_watchdog(uv_timer_t *t)
{
    presence_client_t *c = t->data;
    char detail[96];
    if (c->admitted)
        snprintf(detail, sizeof detail, "no pong within %u ms", c->opts.pong_timeout_ms);
    else
        snprintf(detail, sizeof detail, "not connected within %u ms", c->opts.connect_timeout_ms);
    session_end(c, PRESENCE_ERR_TIMEOUT, detail);
}

static void on_heartbeat(uv_timer_t *t)
{
    presence_client_t *c = t->data;
    pd_buf_t b = PD_BUF_INIT;
    pd_proto_enc_ping(&b, ++c->ping_id);
    send_text(c, &b);
    pd_buf_free(&b);
    if (!uv_is_active((uv_handle_t *)&c->watchdog))
        uv_timer_start(&c->watchdog, on_watchdog, c->opts.pong_timeout_ms, 0);
}

static void connect_with(presence_client_t *c, const char *token)
{
    pd_buf_t target = PD_BUF_INIT;
    pd_url_room_target(&c->url, c->workspace, c->key, &target);
    pc_conn_config_t cfg = {
        .host = c->url.host,
        .port = c->url.port,
        .host_header = c->url.host_header,
        .target = target.base,
        .token = token,
        .tls_ctx = c->tls_ctx,
        .max_message = c->opts.max_message,
    };
    c->conn = pc_conn_open(c->loop, &cfg, &conn_callbacks, c);
    c->conns++;
    pd_buf_free(&target);
    uv_timer_start(&c->watchdog, on_watchdog, c->opts.connect_timeout_ms, 0);
}

/* A token is usable when it is non-empty and fits in a header line. */
static int token_usable(const char *token)
{
    return token && token[0] && !strpbrk(token, "\r\n");
}

int pd_session_token(presence_client_t *c, const char *token)
{
    int wanted = c->token_wanted;
    if (!wanted || c->closing)
        return PRESENCE_ERR_STATE;
    c->token_wanted = 0;
    if (wanted == PRESENCE_TOKEN_REFRESH) {
        if (token_usable(token) && c->admitted) {
            pd_buf_t b = PD_BUF_INIT;
            pd_proto_enc_token_refresh(&b, pd_slice_cstr(token));
            send_text(c, &b);
            pd_buf_free(&b);
        }
        return 0;
    }
    if (token_usable(token))
        connect_with(c, token);
    else
        session_end(c, PRESENCE_ERR_NO_TOKEN, "the token provider gave no token");
    return 0;
}

/* ---- Attempts and their end. ---- */

static void on_retry(uv_timer_t *t)
{
    presence_client_t *c = t->data;
    c->state = PRESENCE_CONNECTING;
    ask_token(c, PRESENCE_TOKEN_CONNECT);
}

void pd_session_schedule(presence_client_t *c, uint64_t delay_ms)
{
    uv_timer_start(&c->retry, on_retry, delay_ms, 0);
}

void pd_session_drop(presence_client_t *c)
{
    c->session++;
    if (c->conn)
        pc_conn_close(c->conn, 1);
    c->conn = NULL;
    c->token_wanted = 0;
    if (c->admitted)
        pd_backoff_down(&c->backoff, pd_session_now(c));
    c->admitted = 0;
    uv_timer_stop(&c->watchdog);
    uv_timer_stop(&c->heartbeat);
    uv_timer_stop(&c->retry);
}

void pd_session_stop(presence_client_t *c, int reason, const char *detail)
{
    pd_session_drop(c);
    c->state = PRESENCE_STOPPED;
    pd_pmap_clear(&c->map);
    presence_event_t ev = {.type = PRESENCE_EV_STOPPED, .reason = reason, .detail = detail};
    pd_notify_event(c, &ev);
    pd_follow_end(c, PRESENCE_FOLLOW_STOPPED, NULL);
}

static void session_end(presence_client_t *c, int reason, const char *detail)
{
    pd_policy_action_t action = pd_policy_action(reason, c->last_reason);
    if (action == PD_POLICY_STOP) {
        pd_session_stop(c, reason, detail);
        return;
    }
    pd_session_drop(c);
    c->last_reason = reason;
    uint64_t delay = action == PD_POLICY_NOW ? 0 : pd_backoff_next(&c->backoff, session_random(c));
    c->state = PRESENCE_WAITING;
    pd_session_schedule(c, delay);
    presence_event_t ev = {
        .type = PRESENCE_EV_DISCONNECTED, .reason = reason, .detail = detail, .retry_ms = delay};
    pd_notify_event(c, &ev);
}
