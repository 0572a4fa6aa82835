#include "msg.h"

#include <string.h>

#include <cjson/cJSON.h>

#include "../base/err.h"
#include "../base/utf8.h"
#include "../proto/proto.h"

#define MAX_WHOLE 9007199254740992.0 /* 2^53: every whole number a double holds exactly */
#define USER_ID_MAX 128
#define USER_NAME_MAX 256
#define USER_IMAGE_MAX 2048

static void append_number(pd_buf_t *b, const char *name, uint64_t v)
{
    pd_buf_appendf(b, ",\"%s\":%llu", name, (unsigned long long)v);
}

static void append_member(pd_buf_t *b, const pd_member_state_t *st)
{
    pd_proto_entry_t e = {st->user_id, st->user_name, st->user_image, st->loc};
    size_t at = b->len;
    pd_proto_enc_entry(b, &e);
    /* The entry ends with its closing brace: the stamp goes before it. */
    if (b->len > at && b->base[b->len - 1] == '}')
        b->len--;
    append_number(b, "at", st->stamp);
    pd_buf_append_char(b, '}');
}

static void append_head(pd_buf_t *b, pd_slice_t node, uint64_t inc, uint64_t seq)
{
    pd_buf_append_cstr(b, "{\"v\":1,\"n\":");
    pd_proto_append_string(b, node);
    append_number(b, "i", inc);
    append_number(b, "s", seq);
}

void pd_cluster_msg_encode(pd_buf_t *b, pd_slice_t node, uint64_t inc, uint64_t seq, pd_slice_t key,
                           const pd_member_state_t *st)
{
    append_head(b, node, inc, seq);
    pd_buf_append_cstr(b, ",\"k\":");
    pd_proto_append_string(b, key);
    if (st) {
        pd_buf_append_cstr(b, ",\"m\":");
        append_member(b, st);
    }
    pd_buf_append_char(b, '}');
}

void pd_cluster_msg_encode_kick(pd_buf_t *b, pd_slice_t node, uint64_t inc, uint64_t seq,
                                pd_slice_t user_id, pd_slice_t reason)
{
    append_head(b, node, inc, seq);
    pd_buf_append_cstr(b, ",\"kick\":{\"userId\":");
    pd_proto_append_string(b, user_id);
    pd_buf_append_cstr(b, ",\"reason\":");
    pd_proto_append_string(b, reason);
    pd_buf_append_cstr(b, "}}");
}

int pd_cluster_node_valid(pd_slice_t s)
{
    if (!s.len || s.len > PD_CLUSTER_NODE_MAX)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/",
                    s.base[i]))
            return 0;
    return 1;
}

/* A string field of 1..max bytes (0..max when empty_ok), or absent when optional. */
static int get_string(const cJSON *o, const char *name, size_t max, int optional, int empty_ok,
                      pd_slice_t *out)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = PD_SLICE_NULL;
    if (!f || cJSON_IsNull(f))
        return optional ? 0 : -1;
    if (!cJSON_IsString(f))
        return -1;
    size_t n = strlen(f->valuestring);
    /*
     * Redis holds what anyone with access wrote; nothing reaches a client
     * (a WebSocket text frame) that is not well-formed UTF-8.
     */
    if (n > max || (!n && !empty_ok) || !pd_utf8_valid(f->valuestring, n))
        return -1;
    *out = pd_slice(f->valuestring, n);
    return 0;
}

static int get_whole(const cJSON *o, const char *name, double min, uint64_t *out)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(f))
        return -1;
    double d = f->valuedouble;
    if (d < min || d > MAX_WHOLE || d != (double)(uint64_t)d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

static const char *decode_member(const pd_cluster_limits_t *lim, const cJSON *mj,
                                 pd_member_state_t *st)
{
    if (!cJSON_IsObject(mj))
        return "m is not an object";
    if (get_string(mj, "userId", USER_ID_MAX, 0, 0, &st->user_id) < 0 ||
        get_string(mj, "userName", USER_NAME_MAX, 0, 0, &st->user_name) < 0 ||
        get_string(mj, "userImage", USER_IMAGE_MAX, 1, 1, &st->user_image) < 0)
        return "bad user";
    if (get_string(mj, "currentPath", lim->max_path, 0, 1, &st->loc.current_path) < 0 ||
        get_string(mj, "resourceType", lim->max_resource_type, 1, 1, &st->loc.resource_type) < 0 ||
        get_string(mj, "resourceId", lim->max_resource_id, 1, 1, &st->loc.resource_id) < 0)
        return "bad location";
    if (get_whole(mj, "at", 0, &st->stamp) < 0)
        return "bad at";
    return NULL;
}

static const char *decode_kick(const cJSON *kj, pd_cluster_msg_t *m)
{
    m->is_kick = 1;
    if (!cJSON_IsObject(kj) || get_string(kj, "userId", USER_ID_MAX, 0, 0, &m->kick_user) < 0 ||
        get_string(kj, "reason", PD_CLUSTER_REASON_MAX, 0, 1, &m->kick_reason) < 0)
        return "bad kick";
    return NULL;
}

static const char *decode_tree(const pd_cluster_limits_t *lim, const cJSON *j, pd_cluster_msg_t *m)
{
    uint64_t v;
    if (!cJSON_IsObject(j))
        return "not an object";
    if (get_whole(j, "v", 1, &v) < 0 || v != 1)
        return "unknown version";
    if (get_string(j, "n", PD_CLUSTER_NODE_MAX, 0, 0, &m->node) < 0 ||
        !pd_cluster_node_valid(m->node))
        return "bad node";
    if (get_whole(j, "i", 1, &m->inc) < 0 || get_whole(j, "s", 1, &m->seq) < 0)
        return "bad incarnation or sequence";
    const cJSON *kick = cJSON_GetObjectItemCaseSensitive(j, "kick");
    if (kick)
        return decode_kick(kick, m);
    if (get_string(j, "k", PD_CLUSTER_KEY_MAX, 0, 0, &m->key) < 0 ||
        !pd_proto_conn_key_valid(m->key))
        return "bad key";
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(j, "m");
    m->has_member = mj != NULL;
    return mj ? decode_member(lim, mj, &m->state) : NULL;
}

int pd_cluster_msg_decode(const pd_cluster_limits_t *lim, const char *json, size_t len,
                          pd_cluster_msg_t *m, const char **why)
{
    memset(m, 0, sizeof(*m));
    const char *parse_why = NULL;
    cJSON *j = pd_proto_parse_json(json, len, &parse_why);
    if (!j) {
        *why = parse_why ? parse_why : "not JSON";
        return PD_ERR_PROTO;
    }
    const char *bad = decode_tree(lim, j, m);
    if (bad) {
        cJSON_Delete(j);
        memset(m, 0, sizeof(*m));
        *why = bad;
        return PD_ERR_PROTO;
    }
    m->tree = j;
    return 0;
}

void pd_cluster_msg_free(pd_cluster_msg_t *m)
{
    cJSON_Delete(m->tree);
    memset(m, 0, sizeof(*m));
}
