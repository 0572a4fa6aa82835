/*
 * The HTTP API for the app's backend (docs/api.md): list rooms, list a
 * room's users, and kick a user. Off unless --api-secret-file is given;
 * every call carries "Authorization: Bearer <secret>", compared in constant
 * time.
 */
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "api.h"

#include "../base/buf.h"
#include "../base/err.h"
#include "../base/list.h"
#include "../base/mem.h"
#include "../cluster/cluster.h"
#include "../proto/proto.h"
#include "../rooms/rooms.h"
#include "conn.h"
#include "handover.h"
#include "server_state.h"
#include "shard.h"
#include "verifier.h"

#define API_PREFIX "/api/rooms"

static void digest(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* Hashing first makes the comparison constant-time in the length too. */
static int authorized(const pd_server_t *srv, pd_slice_t header)
{
    if (!header.base || header.len < 7 || strncasecmp(header.base, "Bearer ", 7) != 0)
        return 0;
    unsigned char want[32], got[32];
    digest(srv->cfg->api_secret, srv->cfg->api_secret_len, want);
    digest(header.base + 7, header.len - 7, got);
    return CRYPTO_memcmp(want, got, sizeof(want)) == 0;
}

/* 401 carries WWW-Authenticate, and no Cache-Control, unlike the other errors. */
static void respond_unauthorized(pd_conn_t *c)
{
    pd_buf_t body = PD_BUF_INIT;
    pd_proto_enc_http_error(&body, "unauthorized");
    pd_conn_respond(c, 401, "application/json", pd_buf_slice(&body),
                    "WWW-Authenticate: Bearer\r\n");
    pd_buf_free(&body);
}

/* A room's connections on every node: live ones here, and the other nodes' members. */
static size_t room_connections(const pd_room_t *r)
{
    return pd_room_conn_count(r) + pd_room_remote_count(r);
}

static void append_rooms(const pd_rooms_t *rooms, pd_buf_t *text)
{
    size_t iter = 0;
    for (pd_room_t *r; (r = pd_rooms_next(rooms, &iter));)
        pd_proto_enc_api_rooms_entry(text, pd_room_id(r), pd_room_user_count(r),
                                     room_connections(r), 0);
}

/* On each thread: its rooms as ",{...}" entries, read by the asker once all are in. */
static void fill_rooms(pd_server_t *srv, pd_shard_report_t *rep)
{
    append_rooms(srv->rooms, &rep->text);
}

static void respond_rooms(pd_conn_t *c, const pd_buf_t *texts, size_t stride, unsigned n)
{
    pd_buf_t body = PD_BUF_INIT;
    pd_proto_enc_api_rooms_begin(&body);
    size_t skip = 1; /* the first entry's ',' */
    for (unsigned i = 0; i < n; i++) {
        const pd_buf_t *t = (const pd_buf_t *)((const char *)texts + i * stride);
        if (!t->len)
            continue;
        pd_buf_append(&body, t->base + skip, t->len - skip);
        skip = 0;
    }
    pd_proto_enc_api_rooms_end(&body);
    pd_conn_respond_json(c, 200, pd_buf_slice(&body));
    pd_buf_free(&body);
}

static void rooms_done(pd_conn_t *c, const pd_shard_report_t *reps, unsigned n)
{
    respond_rooms(c, &reps[0].text, sizeof(reps[0]), n);
}

static void show_room(pd_conn_t *c, const pd_room_t *r)
{
    pd_buf_t body = PD_BUF_INIT;
    pd_proto_enc_api_room_begin(&body, pd_room_id(r));
    pd_room_encode_users(r, &body);
    pd_proto_enc_api_room_end(&body);
    pd_conn_respond_json(c, 200, pd_buf_slice(&body));
    pd_buf_free(&body);
}

static void respond_kicked(pd_conn_t *c, int n)
{
    pd_buf_t out = PD_BUF_INIT;
    pd_proto_enc_api_kicked(&out, n);
    pd_conn_respond_json(c, 200, pd_buf_slice(&out));
    pd_buf_free(&out);
}

/* ---- the cluster's state (--redis) ---- */

typedef enum {
    READ_ROOMS,
    READ_ROOM,
    READ_KICK
} read_kind_t;

/*
 * A call answered from Redis: what this node holds is not the cluster's
 * (the list of rooms, or a room with no member here).
 */
typedef struct api_read {
    pd_list_t node; /* in srv->api_reads */
    pd_conn_t *conn;
    pd_cluster_read_t *rd;
    read_kind_t kind;
    char *user_id, *reason; /* a kick's */
    size_t room_len;
    char room[];
} api_read_t;

static void kick_everywhere(pd_conn_t *c, pd_slice_t room_id, pd_slice_t user_id,
                            const char *reason);

static void read_free(api_read_t *a)
{
    if (pd_list_linked(&a->node))
        pd_list_remove(&a->node);
    free(a->user_id);
    free(a->reason);
    free(a);
}

static void read_done(void *ud, const pd_rooms_t *view)
{
    api_read_t *a = ud;
    pd_conn_t *c = a->conn;
    /* Answering closes c, whose leaving must not find this read. */
    pd_list_remove(&a->node);
    pd_slice_t room_id = pd_slice(a->room, a->room_len);
    const pd_room_t *room = view ? pd_rooms_find(view, room_id) : NULL;
    if (!view && a->kind != READ_ROOMS) {
        pd_conn_respond_error(c, 503, "the cluster's state could not be read (Redis went)");
    } else if (a->kind == READ_ROOMS && !view) {
        pd_shard_ask(c, fill_rooms, rooms_done); /* Redis went: what the threads know */
    } else if (a->kind == READ_ROOMS) {
        pd_buf_t text = PD_BUF_INIT;
        append_rooms(view, &text);
        respond_rooms(c, &text, sizeof(text), 1);
        pd_buf_free(&text);
    } else if (a->kind == READ_ROOM && room) {
        show_room(c, room);
    } else if (a->kind == READ_KICK && room &&
               pd_room_user_connections(room, pd_slice_cstr(a->user_id)) >= 0) {
        int n = pd_room_user_connections(room, pd_slice_cstr(a->user_id));
        kick_everywhere(c, room_id, pd_slice_cstr(a->user_id), a->reason);
        respond_kicked(c, n);
    } else {
        pd_conn_respond_error(c, 404, room ? "no such user in this room" : "no such room");
    }
    read_free(a);
}

/* Reads the cluster's state for c; 0 when Redis is away (nothing started). */
static int read_cluster(pd_conn_t *c, read_kind_t kind, pd_slice_t room_id, const char *user_id,
                        const char *reason)
{
    pd_server_t *srv = c->srv;
    if (!srv->cluster)
        return 0;
    api_read_t *a = pd_calloc(1, sizeof(*a) + room_id.len);
    a->conn = c;
    a->kind = kind;
    a->room_len = room_id.len;
    if (room_id.len)
        memcpy(a->room, room_id.base, room_id.len);
    a->user_id = user_id ? pd_strndup(user_id, strlen(user_id)) : NULL;
    a->reason = reason ? pd_strndup(reason, strlen(reason)) : NULL;
    pd_list_push_back(&srv->api_reads, &a->node);
    a->rd =
        pd_cluster_read(srv->cluster, kind == READ_ROOMS ? PD_SLICE_NULL : room_id, read_done, a);
    if (!a->rd) {
        read_free(a);
        return 0;
    }
    return 1;
}

void pd_api_cancel(pd_conn_t *c)
{
    pd_list_foreach_safe(it, tmp, &c->srv->api_reads)
    {
        api_read_t *a = pd_container_of(it, api_read_t, node);
        if (a->conn != c)
            continue;
        pd_cluster_read_cancel(a->rd);
        read_free(a);
    }
}

/* Every thread's rooms (each is asked through its inbox, shard.h), or the cluster's. */
static void list_rooms(pd_conn_t *c)
{
    if (!read_cluster(c, READ_ROOMS, PD_SLICE_NULL, NULL, NULL))
        pd_shard_ask(c, fill_rooms, rooms_done);
}

/* ---- kicks ---- */

/*
 * The user's connections here go, and every other node with members in
 * the room is told to do the same (the user leaves once its last one
 * anywhere has gone).
 */
static void kick_everywhere(pd_conn_t *c, pd_slice_t room_id, pd_slice_t user_id,
                            const char *reason)
{
    pd_server_t *srv = c->srv;
    if (srv->cluster)
        pd_cluster_kick(srv->cluster, room_id, user_id, pd_slice_cstr(reason));
    pd_rooms_kick(srv->rooms, room_id, user_id, reason);
    if (srv->verifier)
        pd_verifier_forget_user(srv->verifier, user_id);
}

static void kick(pd_conn_t *c, pd_slice_t room_id, pd_slice_t body)
{
    const char *flaw = NULL;
    cJSON *json = body.base ? pd_proto_parse_json(body.base, body.len, &flaw) : NULL;
    if (flaw) {
        pd_conn_respond_error(c, 400, flaw); /* a "\u0000" would have cut the userId short */
        return;
    }
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(json, "userId");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(json, "reason");
    if (!cJSON_IsString(user) || !*user->valuestring) {
        cJSON_Delete(json);
        pd_conn_respond_error(c, 400, "body must be {\"userId\":\"…\"}");
        return;
    }
    const char *why = cJSON_IsString(reason) ? reason->valuestring : "removed from the workspace";
    pd_slice_t user_id = pd_slice_cstr(user->valuestring);
    pd_room_t *room = pd_rooms_find(c->srv->rooms, room_id);
    int n = room ? pd_room_user_connections(room, user_id) : PD_ERR_NOT_FOUND;
    if (n >= 0) {
        kick_everywhere(c, room_id, user_id, why);
        respond_kicked(c, n);
    } else if (room) {
        pd_conn_respond_error(c, 404, "no such user in this room");
    } else if (!read_cluster(c, READ_KICK, room_id, user->valuestring, why)) {
        pd_conn_respond_error(c, 404, "no such room");
    }
    cJSON_Delete(json);
}

/* The part of path after "/api/rooms/", split at the next '/'. */
static void split_room(pd_slice_t rest, pd_slice_t *room, pd_slice_t *action)
{
    const char *slash = memchr(rest.base, '/', rest.len);
    *room = pd_slice(rest.base, slash ? (size_t)(slash - rest.base) : rest.len);
    *action = slash ? pd_slice(slash + 1, rest.len - room->len - 1) : PD_SLICE_NULL;
}

static void route_room(pd_conn_t *c, const pd_http_request_t *req, pd_slice_t rest)
{
    pd_slice_t room_id, action;
    split_room(rest, &room_id, &action);
    if (pd_handover_room(c, room_id))
        return; /* the room's thread answers */
    pd_room_t *room = pd_rooms_find(c->srv->rooms, room_id);
    if (!action.base && req->method == PD_HTTP_GET) {
        /* A room with members here holds the other nodes' too: only another is read. */
        if (room)
            show_room(c, room);
        else if (!read_cluster(c, READ_ROOM, room_id, NULL, NULL))
            pd_conn_respond_error(c, 404, "no such room");
    } else if (pd_slice_eq_cstr(action, "kick") && req->method == PD_HTTP_POST) {
        kick(c, room_id, req->body);
    } else if (!action.base || pd_slice_eq_cstr(action, "kick")) {
        pd_conn_respond_error(c, 405, "method not allowed");
    } else {
        pd_conn_respond_error(c, 404, "not found");
    }
}

static int is_kick_path(pd_slice_t path)
{
    size_t plen = strlen(API_PREFIX "/"), klen = strlen("/kick");
    return path.len > plen + klen && memcmp(path.base, API_PREFIX "/", plen) == 0 &&
           memcmp(path.base + path.len - klen, "/kick", klen) == 0;
}

int pd_api_takes_body(const pd_server_t *srv, const pd_http_request_t *head)
{
    return srv->cfg->api_secret && head->method == PD_HTTP_POST && is_kick_path(head->path) &&
           authorized(srv, head->authorization);
}

int pd_api_handle(pd_conn_t *c, const pd_http_request_t *req)
{
    pd_slice_t path = req->path;
    size_t plen = strlen(API_PREFIX);
    if (path.len < plen || memcmp(path.base, API_PREFIX, plen) != 0 ||
        (path.len > plen && path.base[plen] != '/'))
        return 0;
    if (!c->srv->cfg->api_secret) {
        pd_conn_respond_error(c, 404, "the API is off (start presenced with --api-secret-file)");
    } else if (!authorized(c->srv, req->authorization)) {
        respond_unauthorized(c);
    } else if (path.len <= plen + 1) {
        if (req->method == PD_HTTP_GET)
            list_rooms(c);
        else
            pd_conn_respond_error(c, 405, "method not allowed");
    } else {
        route_room(c, req, pd_slice(path.base + plen + 1, path.len - plen - 1));
    }
    return 1;
}
