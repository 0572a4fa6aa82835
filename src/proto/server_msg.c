/*
 * Decoding what the server sends, for the client library: the other half
 * of the proto module, beside proto.c's decoder of what clients send.
 */
#include "proto.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/err.h"
#include "../base/mem.h"

static const struct {
    const char *name;
    pd_proto_server_type_t type;
} types[] = {
    {"presence_snapshot", PD_PROTO_SERVER_SNAPSHOT},
    {"user_joined", PD_PROTO_SERVER_JOINED},
    {"presence_changed", PD_PROTO_SERVER_CHANGED},
    {"user_left", PD_PROTO_SERVER_LEFT},
    /*
     * The form the app's shipped client listens for. presenced sends it
     * right after user_left by default; the map no longer holds the user
     * by then, so the second form is not a second leave.
     */
    {"user_left_presence", PD_PROTO_SERVER_LEFT},
    {"error", PD_PROTO_SERVER_ERROR},
    {"auth_error", PD_PROTO_SERVER_AUTH_ERROR},
    {"auth_ok", PD_PROTO_SERVER_AUTH_OK},
    {"pong", PD_PROTO_SERVER_PONG},
    {"permission_revoked", PD_PROTO_SERVER_PERMISSION_REVOKED},
};

static int fail(char *err, size_t errlen, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", what);
    return PD_ERR_INVALID;
}

static pd_slice_t str_slice(const cJSON *item)
{
    return pd_slice(item->valuestring, strlen(item->valuestring));
}

/* A required string member; returns 0 or -1. */
static int get_str(const cJSON *obj, const char *key, pd_slice_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(item))
        return -1;
    *out = str_slice(item);
    return 0;
}

/* An optional string member (absent or null: unset); returns 0 or -1. */
static int get_opt_str(const cJSON *obj, const char *key, pd_slice_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = PD_SLICE_NULL;
    if (!item || cJSON_IsNull(item))
        return 0;
    return get_str(obj, key, out);
}

static int get_location(const cJSON *obj, pd_proto_location_t *loc)
{
    if (get_str(obj, "currentPath", &loc->current_path) != 0)
        return -1;
    if (get_opt_str(obj, "resourceType", &loc->resource_type) != 0)
        return -1;
    return get_opt_str(obj, "resourceId", &loc->resource_id);
}

/* A user's entry as snapshots carry it. */
static int get_entry(const cJSON *obj, pd_proto_entry_t *e)
{
    if (!cJSON_IsObject(obj))
        return -1;
    if (get_str(obj, "userId", &e->user_id) != 0 || get_str(obj, "userName", &e->user_name) != 0)
        return -1;
    if (get_opt_str(obj, "userImage", &e->user_image) != 0)
        return -1;
    return get_location(obj, &e->loc);
}

static int decode_snapshot(pd_proto_server_msg_t *m, const cJSON *root)
{
    const cJSON *self = cJSON_GetObjectItemCaseSensitive(root, "self");
    const cJSON *users = cJSON_GetObjectItemCaseSensitive(root, "users");
    if (!cJSON_IsObject(self) || !cJSON_IsArray(users))
        return -1;
    if (get_str(self, "userId", &m->self_user_id) != 0 ||
        get_opt_str(self, "connectionId", &m->self_conn_id) != 0)
        return -1;
    const cJSON *idle = cJSON_GetObjectItemCaseSensitive(root, "idleTimeout");
    if (cJSON_IsNumber(idle) && idle->valuedouble >= 1 && idle->valuedouble <= 1e9)
        m->idle_timeout_ms = (uint64_t)idle->valuedouble;
    size_t n = (size_t)cJSON_GetArraySize(users);
    m->users = pd_calloc(n ? n : 1, sizeof *m->users);
    const cJSON *u;
    cJSON_ArrayForEach(u, users)
    {
        if (get_entry(u, &m->users[m->n_users]) != 0)
            return -1;
        m->n_users++;
    }
    return 0;
}

static int decode_joined(pd_proto_server_msg_t *m, const cJSON *root)
{
    pd_proto_entry_t *e = &m->entry;
    if (get_str(root, "userId", &e->user_id) != 0 || get_str(root, "userName", &e->user_name) != 0)
        return -1;
    e->loc.current_path = pd_slice("", 0);
    return get_opt_str(root, "userImage", &e->user_image);
}

/* A server that leaves userImage out of presence_changed keeps the image the map has. */
static int decode_changed(pd_proto_server_msg_t *m, const cJSON *root)
{
    pd_proto_entry_t *e = &m->entry;
    if (get_str(root, "userId", &e->user_id) != 0 || get_str(root, "userName", &e->user_name) != 0)
        return -1;
    if (get_opt_str(root, "userImage", &e->user_image) != 0)
        return -1;
    m->image_given = cJSON_GetObjectItemCaseSensitive(root, "userImage") != NULL;
    return get_location(root, &e->loc);
}

static int decode_pong(pd_proto_server_msg_t *m, const cJSON *root)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    m->pong_id = cJSON_IsNumber(id) ? id->valuedouble : -1;
    return 0;
}

static int decode_body(pd_proto_server_msg_t *m, const cJSON *root)
{
    switch (m->type) {
    case PD_PROTO_SERVER_SNAPSHOT: return decode_snapshot(m, root);
    case PD_PROTO_SERVER_JOINED: return decode_joined(m, root);
    case PD_PROTO_SERVER_CHANGED: return decode_changed(m, root);
    case PD_PROTO_SERVER_LEFT: return get_str(root, "userId", &m->entry.user_id);
    case PD_PROTO_SERVER_ERROR:
    case PD_PROTO_SERVER_AUTH_ERROR:
        if (get_str(root, "code", &m->code) != 0)
            return -1;
        return get_opt_str(root, "message", &m->message);
    case PD_PROTO_SERVER_PERMISSION_REVOKED: return get_opt_str(root, "reason", &m->message);
    case PD_PROTO_SERVER_PONG: return decode_pong(m, root);
    default: return 0;
    }
}

static pd_proto_server_type_t type_of(pd_slice_t name)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (pd_slice_eq_cstr(name, types[i].name))
            return types[i].type;
    return PD_PROTO_SERVER_UNKNOWN;
}

int pd_proto_decode_server(pd_proto_server_msg_t *m, const char *json, size_t len, char *err,
                           size_t errlen)
{
    memset(m, 0, sizeof *m);
    cJSON *root = pd_proto_parse_json(json, len, NULL);
    m->tree = root;
    pd_slice_t type;
    if (!cJSON_IsObject(root))
        return fail(err, errlen, "a message from the server is not a JSON object");
    if (get_str(root, "type", &type) != 0)
        return fail(err, errlen, "a message from the server has no type");
    m->type = type_of(type);
    if (decode_body(m, root) == 0)
        return 0;
    if (err && errlen)
        snprintf(err, errlen,
                 "a %s message from the server lacks a field or has one of the "
                 "wrong type",
                 type.base);
    return PD_ERR_INVALID;
}

void pd_proto_server_msg_free(pd_proto_server_msg_t *m)
{
    cJSON_Delete(m->tree);
    free(m->users);
    memset(m, 0, sizeof *m);
}
