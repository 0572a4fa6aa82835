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

/* On each thread: its rooms as ",{...}" entries, read by the asker once all are in. */
static void fill_rooms(pd_server_t *srv, pd_shard_report_t *rep)
{
    size_t iter = 0;
    for (pd_room_t *r; (r = pd_rooms_next(srv->rooms, &iter));)
        pd_proto_enc_api_rooms_entry(&rep->text, pd_room_id(r), pd_room_user_count(r),
                                     pd_room_conn_count(r), 0);
}

static void rooms_done(pd_conn_t *c, const pd_shard_report_t *reps, unsigned n)
{
    pd_buf_t body = PD_BUF_INIT;
    pd_proto_enc_api_rooms_begin(&body);
    size_t skip = 1; /* the first entry's ',' */
    for (unsigned i = 0; i < n; i++) {
        if (!reps[i].text.len)
            continue;
        pd_buf_append(&body, reps[i].text.base + skip, reps[i].text.len - skip);
        skip = 0;
    }
    pd_proto_enc_api_rooms_end(&body);
    pd_conn_respond_json(c, 200, pd_buf_slice(&body));
    pd_buf_free(&body);
}

/* Every thread's rooms: each is asked through its inbox (shard.h). */
static void list_rooms(pd_conn_t *c)
{
    pd_shard_ask(c, fill_rooms, rooms_done);
}

static void show_room(pd_conn_t *c, pd_room_t *r)
{
    pd_buf_t body = PD_BUF_INIT;
    pd_proto_enc_api_room_begin(&body, pd_room_id(r));
    pd_room_encode_users(r, &body);
    pd_proto_enc_api_room_end(&body);
    pd_conn_respond_json(c, 200, pd_buf_slice(&body));
    pd_buf_free(&body);
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
    int n = pd_rooms_kick(c->srv->rooms, room_id, user_id, why);
    if (c->srv->verifier)
        pd_verifier_forget_user(c->srv->verifier, user_id);
    cJSON_Delete(json);
    if (n < 0) {
        pd_conn_respond_error(c, 404, "no such user in this room");
        return;
    }
    pd_buf_t out = PD_BUF_INIT;
    pd_proto_enc_api_kicked(&out, n);
    pd_conn_respond_json(c, 200, pd_buf_slice(&out));
    pd_buf_free(&out);
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
        if (room)
            show_room(c, room);
        else
            pd_conn_respond_error(c, 404, "no such room");
    } else if (pd_slice_eq_cstr(action, "kick") && req->method == PD_HTTP_POST) {
        if (room)
            kick(c, room_id, req->body);
        else
            pd_conn_respond_error(c, 404, "no such room");
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
