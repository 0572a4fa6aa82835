/*
 * Admission: from an upgraded WebSocket to a member of its room. Tokens are
 * checked locally (JWT) or by the app's verify endpoint; in the second case
 * the answer comes on a later loop turn, and the messages the client sends
 * meanwhile (PartySocket sends its first presence_update on open) are kept
 * and applied in order once it is admitted, or dropped if it is not.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admit.h"

#include "../auth/identity.h"
#include "../auth/jwt.h"
#include "../base/buf.h"
#include "../base/mem.h"
#include "../cluster/cluster.h"
#include "../proto/proto.h"
#include "../rooms/rooms.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "server_state.h"
#include "verifier.h"

typedef struct pd_admission {
    pd_verify_req_t *req;
    char room[160];
    size_t room_len;
    char key[72];
    size_t key_len;
    pd_buf_t pending; /* messages as [uint32 length][bytes] */
    unsigned n_pending;
    pd_buf_t last_update;    /* the newest presence_update that did not fit */
    pd_identity_t id;        /* admitted, waiting for the cluster's state of the room */
    pd_cluster_wait_t *wait; /* that wait (--redis), or NULL */
} pd_admission_t;

static void admission_free(pd_conn_t *c)
{
    pd_admission_t *a = c->admission;
    if (!a)
        return;
    c->admission = NULL;
    if (a->req)
        pd_verifier_cancel(a->req);
    if (a->wait)
        pd_cluster_await_cancel(a->wait);
    pd_identity_free(&a->id);
    pd_buf_free(&a->pending);
    pd_buf_free(&a->last_update);
    free(a);
}

void pd_admit_cancel(pd_conn_t *c)
{
    admission_free(c);
    if (c->refresh) {
        pd_verifier_cancel(c->refresh);
        c->refresh = NULL;
    }
}

static void reject(pd_conn_t *c, pd_auth_status_t st, pd_slice_t room)
{
    const char *code = pd_auth_code(st);
    c->srv->metrics.auth_failures[st]++;
    pd_log(PD_LOG_INFO, "admission refused", " code=%s room=%.*s", code, (int)room.len, room.base);
    if (st == PD_AUTH_UNAVAILABLE) {
        pd_conn_send_code(c, PD_CODE_ERROR, code, NULL);
        pd_conn_close_ws(c, 1013, code);
        return;
    }
    pd_conn_send_code(c, PD_CODE_AUTH_ERROR, code, NULL);
    pd_conn_close_ws(c, 1008, code);
}

/* An endpoint's expiresAt already past counts as a JWT's exp would. */
static pd_auth_status_t check_expiry(pd_auth_status_t st, const pd_identity_t *id)
{
    if (st != PD_AUTH_OK || !id->expires_at_ms)
        return st;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return id->expires_at_ms <= now_ms ? PD_AUTH_EXPIRED : st;
}

static pd_auth_status_t verify_local(pd_conn_t *c, pd_slice_t token, pd_slice_t room,
                                     pd_identity_t *id)
{
    return pd_jwt_verify(c->srv->jwt, token, room, (int64_t)time(NULL), id);
}

static int join(pd_conn_t *c, pd_slice_t room, pd_identity_t *id, pd_slice_t key)
{
    pd_server_t *srv = c->srv;
    int64_t expires = id->expires_at_ms;
    pd_join_status_t st =
        pd_rooms_join(srv->rooms, room, id, key, c, pd_server_now(srv), &c->member);
    if (st == PD_JOIN_ROOM_FULL) {
        srv->metrics.admission_rejects_room_full++;
        pd_conn_send_code(c, PD_CODE_ERROR, "ROOM_FULL", NULL);
        pd_conn_close_ws(c, 1013, "ROOM_FULL");
        return -1;
    }
    if (st == PD_JOIN_TOO_MANY) {
        srv->metrics.admission_rejects_too_many++;
        pd_conn_send_code(c, PD_CODE_ERROR, "TOO_MANY_CONNECTIONS", NULL);
        pd_conn_close_ws(c, 1008, "TOO_MANY_CONNECTIONS");
        return -1;
    }
    c->expires_at_ms = expires;
    if (pd_log_enabled(PD_LOG_DEBUG)) {
        pd_slice_t user = pd_member_user_id(c->member), k = pd_member_key(c->member);
        char u[160], kk[160];
        pd_log(PD_LOG_DEBUG, "admitted", " room=%.*s user=\"%s\" conn=\"%s\"", (int)room.len,
               room.base, pd_log_escape(u, sizeof(u), user.base, user.len),
               pd_log_escape(kk, sizeof(kk), k.base, k.len));
    }
    return 0;
}

/* ---- messages that arrive during a check ------------------------------ */

int pd_admit_buffer(pd_conn_t *c, const char *data, size_t len)
{
    pd_admission_t *a = c->admission;
    if (!a)
        return 0;
    const pd_config_t *cfg = c->srv->cfg;
    if (a->n_pending < cfg->max_pending_msgs &&
        a->pending.len + sizeof(uint32_t) + len <= cfg->max_pending_bytes) {
        uint32_t n = (uint32_t)len;
        pd_buf_append(&a->pending, &n, sizeof(n));
        pd_buf_append(&a->pending, data, len);
        a->n_pending++;
        return 1;
    }
    /*
     * Past either bound (a count and bytes, so that thousands of pending
     * admissions cannot hold the message limit 32 times each) only the
     * newest location is kept: it is the one that matters.
     */
    pd_server_t *srv = c->srv;
    char err[8];
    if (pd_proto_decode_client(&srv->proto_limits, data, len, &srv->msg, err, sizeof(err)) == 0 &&
        srv->msg.type == PD_PROTO_CLIENT_PRESENCE_UPDATE) {
        pd_buf_reset(&a->last_update);
        pd_buf_append(&a->last_update, data, len);
    }
    return 1;
}

/* Applies the kept messages in order; any of them may close the connection. */
static void replay(pd_conn_t *c, pd_buf_t *pending, pd_buf_t *last_update)
{
    size_t off = 0;
    while (off + sizeof(uint32_t) <= pending->len && c->member) {
        uint32_t n;
        memcpy(&n, pending->base + off, sizeof(n));
        off += sizeof(n);
        pd_conn_handle_text(c, pending->base + off, n);
        off += n;
    }
    if (last_update->len && c->member)
        pd_conn_handle_text(c, last_update->base, last_update->len);
}

/* The cluster has the room's state: the admitted connection joins, then its messages apply. */
static void on_room_ready(void *ud)
{
    pd_conn_t *c = ud;
    pd_admission_t *a = c->admission;
    a->wait = NULL;
    c->admission = NULL;
    if (join(c, pd_slice(a->room, a->room_len), &a->id,
             a->key_len ? pd_slice(a->key, a->key_len) : PD_SLICE_NULL) == 0)
        replay(c, &a->pending, &a->last_update);
    c->admission = a;
    admission_free(c);
}

static pd_admission_t *admission_new(pd_conn_t *c, pd_slice_t room, pd_slice_t key)
{
    pd_admission_t *a = pd_calloc(1, sizeof(*a));
    memcpy(a->room, room.base, room.len);
    a->room_len = room.len;
    if (key.len)
        memcpy(a->key, key.base, key.len);
    a->key_len = key.len;
    c->admission = a;
    return a;
}

/*
 * With --redis, the first local member of a room waits for the cluster's
 * state of it, so that its snapshot lists every node's members: 1 when c
 * waits (the identity is moved into its admission), 0 to join now.
 */
static int wait_for_room(pd_conn_t *c, pd_slice_t room, pd_identity_t *id, pd_slice_t key)
{
    pd_cluster_t *cl = c->srv->cluster;
    pd_cluster_wait_t *w = cl ? pd_cluster_await(cl, room, on_room_ready, c) : NULL;
    if (!w)
        return 0;
    pd_admission_t *a = c->admission ? c->admission : admission_new(c, room, key);
    a->id = *id;
    *id = (pd_identity_t){0};
    a->wait = w;
    return 1;
}

static void on_admission_checked(void *ud, pd_auth_status_t st, pd_identity_t *id)
{
    pd_conn_t *c = ud;
    pd_admission_t *a = c->admission;
    a->req = NULL;
    st = check_expiry(st, id);
    if (st == PD_AUTH_OK &&
        wait_for_room(c, pd_slice(a->room, a->room_len), id,
                      a->key_len ? pd_slice(a->key, a->key_len) : PD_SLICE_NULL))
        return;
    c->admission = NULL;
    if (st != PD_AUTH_OK) {
        reject(c, st, pd_slice(a->room, a->room_len));
    } else if (join(c, pd_slice(a->room, a->room_len), id,
                    a->key_len ? pd_slice(a->key, a->key_len) : PD_SLICE_NULL) == 0) {
        replay(c, &a->pending, &a->last_update);
    }
    c->admission = a;
    admission_free(c);
}

/* ---- the start --------------------------------------------------------- */

static pd_slice_t find_token(const pd_http_request_t *req, char *buf, size_t cap)
{
    ssize_t n = pd_http_query_param(req->query, "token", buf, cap);
    if (n > 0)
        return pd_slice(buf, (size_t)n);
    pd_slice_t a = req->authorization;
    if (a.base && a.len > 7 && strncasecmp(a.base, "Bearer ", 7) == 0) {
        size_t i = 7;
        while (i < a.len && a.base[i] == ' ')
            i++;
        return pd_slice(a.base + i, a.len - i);
    }
    return PD_SLICE_NULL;
}

static size_t find_conn_key(const pd_http_request_t *req, char *buf, size_t cap)
{
    ssize_t n = pd_http_query_param(req->query, "_pk", buf, cap);
    return n > 0 && pd_proto_conn_key_valid(pd_slice(buf, (size_t)n)) ? (size_t)n : 0;
}

static void start_remote(pd_conn_t *c, pd_slice_t token, pd_slice_t room, pd_slice_t key)
{
    pd_admission_t *a = admission_new(c, room, key);
    a->req = pd_verifier_start(c->srv->verifier, token, room, on_admission_checked, c);
}

void pd_admit_start(pd_conn_t *c, const pd_http_request_t *req, pd_slice_t workspace)
{
    char room_buf[160];
    int n = pd_proto_room_id(room_buf, sizeof(room_buf), workspace);
    pd_slice_t room = pd_slice(room_buf, (size_t)n);
    size_t cap = c->srv->proto_limits.max_token + 1;
    char *token_buf = pd_malloc(cap);
    char key_buf[72];
    pd_slice_t token = find_token(req, token_buf, cap);
    pd_slice_t key = pd_slice(key_buf, find_conn_key(req, key_buf, sizeof(key_buf)));
    if (!key.len)
        key = PD_SLICE_NULL;
    if (!token.base || !token.len) {
        reject(c, PD_AUTH_MISSING, room);
    } else if (!pd_auth_token_valid(token)) {
        reject(c, PD_AUTH_INVALID, room);
    } else if (c->srv->verifier) {
        start_remote(c, token, room, key);
    } else {
        pd_identity_t id = {0};
        pd_auth_status_t st = verify_local(c, token, room, &id);
        if (st != PD_AUTH_OK)
            reject(c, st, room);
        else if (!wait_for_room(c, room, &id, key))
            join(c, room, &id, key);
        pd_identity_free(&id);
    }
    free(token_buf);
}

/* ---- token_refresh ----------------------------------------------------- */

static void refreshed(pd_conn_t *c, pd_auth_status_t st, pd_identity_t *id)
{
    if (st == PD_AUTH_OK && !pd_slice_eq(pd_slice_cstr(id->user_id), pd_member_user_id(c->member)))
        st = PD_AUTH_FORBIDDEN;
    if (st == PD_AUTH_UNAVAILABLE) {
        /* The connection stays; a running grace period still ends it. */
        pd_conn_send_code(c, PD_CODE_ERROR, pd_auth_code(st), NULL);
        return;
    }
    if (st != PD_AUTH_OK) {
        reject(c, st, pd_room_id(pd_member_room(c->member)));
        return;
    }
    pd_buf_t *b = &c->srv->scratch;
    pd_buf_reset(b);
    pd_proto_enc_auth_ok(b, pd_slice_cstr(id->user_id), pd_slice_cstr(id->user_name));
    c->expires_at_ms = id->expires_at_ms;
    c->refresh_asked = 0;
    pd_member_set_identity(c->member, id);
    pd_conn_send_json(c, pd_buf_slice(b));
}

static void on_refresh_checked(void *ud, pd_auth_status_t st, pd_identity_t *id)
{
    pd_conn_t *c = ud;
    c->refresh = NULL;
    if (c->member)
        refreshed(c, check_expiry(st, id), id);
}

void pd_admit_refresh(pd_conn_t *c, pd_slice_t token)
{
    pd_slice_t room = pd_room_id(pd_member_room(c->member));
    if (!pd_auth_token_valid(token)) {
        pd_identity_t none = {0};
        refreshed(c, PD_AUTH_INVALID, &none);
        return;
    }
    if (c->srv->verifier) {
        if (c->refresh)
            pd_verifier_cancel(c->refresh);
        c->refresh = pd_verifier_start(c->srv->verifier, token, room, on_refresh_checked, c);
        return;
    }
    pd_identity_t id = {0};
    refreshed(c, verify_local(c, token, room, &id), &id);
    pd_identity_free(&id);
}
