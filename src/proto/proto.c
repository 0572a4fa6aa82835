#include "proto.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/err.h"
#include "../base/utf8.h"

#define APPEND_LIT(b, lit) pd_buf_append((b), (lit), sizeof(lit) - 1)

/* How much of an unknown type name is quoted back to the client. */
#define TYPE_ECHO_MAX 32

/* Doubles hold every integer up to 2^53 exactly. */
#define EXACT_INT_MAX 9007199254740992.0

/* ------------------------------------------------------------------ */
/* Rooms and ids                                                        */
/* ------------------------------------------------------------------ */

static int id_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

/* Ids go into paths, query strings and room ids unescaped, hence the small alphabet. */
static int id_valid(pd_slice_t s, size_t max)
{
    if (!s.base || s.len < 1 || s.len > max)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (!id_char_ok(s.base[i]))
            return 0;
    return 1;
}

int pd_proto_workspace_valid(pd_slice_t s)
{
    return id_valid(s, PD_PROTO_WORKSPACE_MAX);
}

int pd_proto_conn_key_valid(pd_slice_t s)
{
    return id_valid(s, PD_PROTO_CONN_KEY_MAX);
}

int pd_proto_room_id(char *out, size_t cap, pd_slice_t workspace)
{
    int n = snprintf(out, cap, PD_PROTO_ROOM_ID_PREFIX "%.*s", (int)workspace.len,
                     workspace.base ? workspace.base : "");
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return -1;
    }
    return n;
}

void pd_proto_append_room_path(pd_buf_t *b, pd_slice_t workspace)
{
    APPEND_LIT(b, PD_PROTO_ROOM_PATH_PREFIX);
    pd_buf_append_slice(b, workspace);
}

int pd_proto_room_path_workspace(pd_slice_t path, pd_slice_t *workspace)
{
    size_t plen = sizeof PD_PROTO_ROOM_PATH_PREFIX - 1;
    if (path.len < plen || memcmp(path.base, PD_PROTO_ROOM_PATH_PREFIX, plen) != 0)
        return 0;
    *workspace = pd_slice(path.base + plen, path.len - plen);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

/*
 * A decoded string's place in the arena. Offsets rather than pointers,
 * because appending to the arena may move it; slices are made at the end.
 */
typedef struct {
    size_t off;
    size_t len;
    int set;
} span_t;

typedef struct {
    const pd_proto_limits_t *limits;
    pd_buf_t *arena;
    char *err;
    size_t errlen;
} decoder_t;

/* A string field's name and length bounds. */
typedef struct {
    const char *name;
    size_t min;
    size_t max;
    int required;
} field_t;

typedef struct {
    span_t path, rtype, rid, token, ping_id;
} spans_t;

__attribute__((format(printf, 2, 3))) static int fail(const decoder_t *d, const char *fmt, ...)
{
    if (d->err && d->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err, d->errlen, fmt, ap);
        va_end(ap);
    }
    return PD_ERR_INVALID;
}

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int only_space(const char *p, const char *end)
{
    for (; p < end; p++)
        if (!is_json_space(*p))
            return 0;
    return 1;
}

/*
 * What cJSON lets through but JSON (RFC 8259) or this protocol does not:
 * a raw control byte inside a string (it must be escaped), and a "\u0000"
 * escape (cJSON hands strings back NUL-terminated, so it would cut a string
 * short without a trace). Runs on text cJSON has parsed, where a quote
 * outside an escape always opens or closes a string and a backslash inside
 * one always starts a two-byte escape, so "\\u0000" is not taken for one.
 */
static const char *string_flaw(const char *p, size_t len)
{
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"')
            in_string = !in_string;
        else if (!in_string)
            continue;
        else if (ch < 0x20)
            return "control characters in strings must be escaped";
        else if (ch == '\\' && len - i >= 6 && memcmp(p + i, "\\u0000", 6) == 0)
            return "strings must not contain NUL";
        else if (ch == '\\')
            i++;
    }
    return NULL;
}

cJSON *pd_proto_parse_json(const char *json, size_t len, const char **why)
{
    const char *end = NULL, *flaw = NULL;
    cJSON *root = NULL;
    if (len && !memchr(json, '\0', len))
        root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (root && only_space(end, json + len) && !(flaw = string_flaw(json, len)))
        return root;
    cJSON_Delete(root);
    if (why)
        *why = flaw;
    return NULL;
}

/* Parses the whole of json; the message must be an object. */
static int parse_root(const decoder_t *d, const char *json, size_t len, cJSON **out)
{
    const char *why;
    cJSON *root = pd_proto_parse_json(json, len, &why);
    if (!root)
        return fail(d, "%s", why ? why : "message is not valid JSON");
    *out = root;
    if (!cJSON_IsObject(root))
        return fail(d, "message must be a JSON object");
    return 0;
}

/* Copies s into the arena followed by a NUL that the span does not count. */
static span_t arena_copy(pd_buf_t *arena, const char *s, size_t len)
{
    span_t sp = {arena->len, len, 1};
    pd_buf_append(arena, s, len);
    pd_buf_append_char(arena, '\0');
    return sp;
}

static int absent(const cJSON *item)
{
    return item == NULL || cJSON_IsNull(item);
}

/* Reads a string field within its bounds; an absent optional one stays unset. */
static int read_string(const decoder_t *d, const cJSON *obj, const field_t *f, span_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, f->name);
    if (absent(item))
        return f->required ? fail(d, "%s is required", f->name) : 0;
    if (!cJSON_IsString(item) || !item->valuestring)
        return fail(d, f->required ? "%s must be a string" : "%s must be a string or null",
                    f->name);
    size_t len = strlen(item->valuestring);
    if (len < f->min)
        return fail(d, "%s must not be empty", f->name);
    if (len > f->max)
        return fail(d, "%s is longer than %zu bytes", f->name, f->max);
    *out = arena_copy(d->arena, item->valuestring, len);
    return 0;
}

static int decode_presence_update(const decoder_t *d, const cJSON *obj, spans_t *sp)
{
    const field_t path = {"currentPath", 1, d->limits->max_path, 1};
    const field_t rtype = {"resourceType", 0, d->limits->max_resource_type, 0};
    const field_t rid = {"resourceId", 0, d->limits->max_resource_id, 0};
    int rc = read_string(d, obj, &path, &sp->path);
    if (rc == 0)
        rc = read_string(d, obj, &rtype, &sp->rtype);
    if (rc == 0)
        rc = read_string(d, obj, &rid, &sp->rid);
    return rc;
}

static int decode_token_refresh(const decoder_t *d, const cJSON *obj, spans_t *sp)
{
    const field_t token = {"token", 1, d->limits->max_token, 1};
    return read_string(d, obj, &token, &sp->token);
}

/*
 * Writes a ping id number as JSON text: integers a double holds exactly as
 * integers, anything else as the shortest "%.{15,16,17}g" form that reads
 * back as the same double, so 0.5 echoes as 0.5 rather than 0.50000000000000000.
 */
static void append_number(pd_buf_t *b, double v)
{
    if (v >= -EXACT_INT_MAX && v <= EXACT_INT_MAX && v == (double)(int64_t)v) {
        pd_buf_appendf(b, "%.0f", v);
        return;
    }
    char tmp[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    pd_buf_append_cstr(b, tmp);
}

static int decode_ping(const decoder_t *d, const cJSON *obj, spans_t *sp)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (absent(id))
        return 0;
    size_t start = d->arena->len;
    if (cJSON_IsString(id) && id->valuestring) {
        pd_proto_append_string(d->arena, pd_slice_cstr(id->valuestring));
    } else if (cJSON_IsNumber(id)) {
        /* Out-of-range literals such as 1e999 parse as infinity, which has no JSON form. */
        if (!isfinite(id->valuedouble))
            return fail(d, "id is out of range");
        append_number(d->arena, id->valuedouble);
    } else {
        return fail(d, "id must be a number or a string");
    }
    sp->ping_id = (span_t){start, d->arena->len - start, 1};
    pd_buf_append_char(d->arena, '\0');
    return 0;
}

typedef int (*decode_fn)(const decoder_t *d, const cJSON *obj, spans_t *sp);

static const struct {
    const char *name;
    pd_proto_client_type_t type;
    decode_fn decode;
} msg_types[] = {
    {"presence_update", PD_PROTO_CLIENT_PRESENCE_UPDATE, decode_presence_update},
    {"token_refresh", PD_PROTO_CLIENT_TOKEN_REFRESH, decode_token_refresh},
    {"ping", PD_PROTO_CLIENT_PING, decode_ping},
};

/* Length of at most max bytes of s that does not end inside a UTF-8 sequence. */
static size_t utf8_prefix(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

static int unknown_type(const decoder_t *d, const char *name)
{
    size_t n = utf8_prefix(name, TYPE_ECHO_MAX);
    return fail(d, "unknown type \"%.*s%s\"", (int)n, name, name[n] ? "..." : "");
}

static int decode_fields(const decoder_t *d, const cJSON *obj, pd_proto_client_msg_t *msg,
                         spans_t *sp)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (absent(type))
        return fail(d, "type is required");
    if (!cJSON_IsString(type) || !type->valuestring)
        return fail(d, "type must be a string");
    for (size_t i = 0; i < sizeof msg_types / sizeof msg_types[0]; i++) {
        if (strcmp(type->valuestring, msg_types[i].name) == 0) {
            msg->type = msg_types[i].type;
            return msg_types[i].decode(d, obj, sp);
        }
    }
    return unknown_type(d, type->valuestring);
}

static pd_slice_t span_slice(const pd_buf_t *arena, span_t sp)
{
    return sp.set ? pd_slice(arena->base + sp.off, sp.len) : PD_SLICE_NULL;
}

static void finish(pd_proto_client_msg_t *msg, const spans_t *sp)
{
    msg->loc.current_path = span_slice(&msg->arena, sp->path);
    msg->loc.resource_type = span_slice(&msg->arena, sp->rtype);
    msg->loc.resource_id = span_slice(&msg->arena, sp->rid);
    msg->token = span_slice(&msg->arena, sp->token);
    msg->ping_id = span_slice(&msg->arena, sp->ping_id);
}

static void clear_fields(pd_proto_client_msg_t *msg)
{
    msg->type = 0;
    msg->loc = (pd_proto_location_t){PD_SLICE_NULL, PD_SLICE_NULL, PD_SLICE_NULL};
    msg->token = PD_SLICE_NULL;
    msg->ping_id = PD_SLICE_NULL;
    pd_buf_reset(&msg->arena);
}

void pd_proto_client_msg_init(pd_proto_client_msg_t *msg)
{
    pd_buf_init(&msg->arena);
    clear_fields(msg);
}

void pd_proto_client_msg_free(pd_proto_client_msg_t *msg)
{
    pd_buf_free(&msg->arena);
    clear_fields(msg);
}

int pd_proto_decode_client(const pd_proto_limits_t *limits, const char *json, size_t len,
                           pd_proto_client_msg_t *msg, char *err, size_t errlen)
{
    decoder_t d = {limits, &msg->arena, err, errlen};
    spans_t sp = {0};
    cJSON *root = NULL;
    clear_fields(msg);
    int rc = parse_root(&d, json, len, &root);
    if (rc == 0)
        rc = decode_fields(&d, root, msg, &sp);
    cJSON_Delete(root);
    if (rc != 0) {
        clear_fields(msg);
        return rc;
    }
    finish(msg, &sp);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */
/* ------------------------------------------------------------------ */

/* U+2028 and U+2029 end a line in JavaScript source, so they are escaped too. */
static int is_js_line_break(const unsigned char *p, size_t n)
{
    return n == 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9);
}

/* How many leading bytes of p can be copied into a string literal as they are. */
static size_t verbatim_len(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t n = c >= 0x80 ? pd_utf8_seq_len(p + i, len - i) : 0;
        if (n == 0 || is_js_line_break(p + i, n))
            break;
        i += n;
    }
    return i;
}

static void append_control(pd_buf_t *b, unsigned char c)
{
    static const char short_form[] = "btn\0fr"; /* 0x08..0x0D; 0x0B has none */
    if (c >= 0x08 && c <= 0x0D && short_form[c - 0x08]) {
        char esc[2] = {'\\', short_form[c - 0x08]};
        pd_buf_append(b, esc, 2);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0x0F]};
    pd_buf_append(b, esc, sizeof esc);
}

/*
 * Appends the escape for the byte sequence at p, which verbatim_len()
 * stopped at, and returns how many bytes it stands for. Bytes that are not
 * well-formed UTF-8 become U+FFFD so the output is always valid UTF-8, as
 * a WebSocket text frame must be.
 */
static size_t append_escape(pd_buf_t *b, const unsigned char *p, size_t len)
{
    unsigned char c = p[0];
    if (c == '"' || c == '\\') {
        char esc[2] = {'\\', (char)c};
        pd_buf_append(b, esc, 2);
        return 1;
    }
    if (c < 0x20) {
        append_control(b, c);
        return 1;
    }
    if (is_js_line_break(p, pd_utf8_seq_len(p, len))) {
        pd_buf_append(b, p[2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
        return 3;
    }
    APPEND_LIT(b, "\\ufffd");
    return 1;
}

void pd_proto_append_string(pd_buf_t *b, pd_slice_t s)
{
    const unsigned char *p = (const unsigned char *)s.base;
    size_t len = s.base ? s.len : 0;
    pd_buf_reserve(b, len + 2);
    pd_buf_append_char(b, '"');
    while (len > 0) {
        size_t n = verbatim_len(p, len);
        pd_buf_append(b, p, n);
        p += n;
        len -= n;
        if (len == 0)
            break;
        n = append_escape(b, p, len);
        p += n;
        len -= n;
    }
    pd_buf_append_char(b, '"');
}

static void append_cstring(pd_buf_t *b, const char *s)
{
    pd_proto_append_string(b, pd_slice_cstr(s));
}

/* A string, or null when s.base is NULL. */
static void append_nullable(pd_buf_t *b, pd_slice_t s)
{
    if (s.base)
        pd_proto_append_string(b, s);
    else
        APPEND_LIT(b, "null");
}

/* ,"currentPath":…[,"resourceType":…][,"resourceId":…] */
static void append_location(pd_buf_t *b, const pd_proto_location_t *loc)
{
    APPEND_LIT(b, ",\"currentPath\":");
    pd_proto_append_string(b, loc->current_path);
    if (loc->resource_type.base) {
        APPEND_LIT(b, ",\"resourceType\":");
        pd_proto_append_string(b, loc->resource_type);
    }
    if (loc->resource_id.base) {
        APPEND_LIT(b, ",\"resourceId\":");
        pd_proto_append_string(b, loc->resource_id);
    }
}

/* "userId":…,"userName":… (no surrounding punctuation) */
static void append_user(pd_buf_t *b, pd_slice_t user_id, pd_slice_t user_name)
{
    APPEND_LIT(b, "\"userId\":");
    pd_proto_append_string(b, user_id);
    APPEND_LIT(b, ",\"userName\":");
    pd_proto_append_string(b, user_name);
}

void pd_proto_enc_snapshot_begin(pd_buf_t *b, pd_slice_t self_user_id, pd_slice_t self_conn_id,
                                 uint64_t idle_timeout_ms)
{
    APPEND_LIT(b, "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":");
    pd_proto_append_string(b, self_user_id);
    APPEND_LIT(b, ",\"connectionId\":");
    pd_proto_append_string(b, self_conn_id);
    APPEND_LIT(b, "},");
    if (idle_timeout_ms)
        pd_buf_appendf(b, "\"idleTimeout\":%llu,", (unsigned long long)idle_timeout_ms);
    APPEND_LIT(b, "\"users\":[");
}

void pd_proto_enc_snapshot_entry(pd_buf_t *b, const pd_proto_entry_t *e, int first)
{
    if (!first)
        pd_buf_append_char(b, ',');
    pd_proto_enc_entry(b, e);
}

void pd_proto_enc_snapshot_end(pd_buf_t *b)
{
    APPEND_LIT(b, "]}");
}

void pd_proto_enc_entry(pd_buf_t *b, const pd_proto_entry_t *e)
{
    pd_buf_append_char(b, '{');
    append_user(b, e->user_id, e->user_name);
    APPEND_LIT(b, ",\"userImage\":");
    append_nullable(b, e->user_image);
    append_location(b, &e->loc);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_user_joined(pd_buf_t *b, pd_slice_t user_id, pd_slice_t user_name,
                              pd_slice_t user_image)
{
    APPEND_LIT(b, "{\"type\":\"user_joined\",");
    append_user(b, user_id, user_name);
    APPEND_LIT(b, ",\"userImage\":");
    append_nullable(b, user_image);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_presence_changed(pd_buf_t *b, const pd_proto_entry_t *e)
{
    APPEND_LIT(b, "{\"type\":\"presence_changed\",");
    append_user(b, e->user_id, e->user_name);
    APPEND_LIT(b, ",\"userImage\":");
    append_nullable(b, e->user_image);
    append_location(b, &e->loc);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_user_left(pd_buf_t *b, pd_slice_t user_id)
{
    APPEND_LIT(b, "{\"type\":\"user_left\",\"userId\":");
    pd_proto_append_string(b, user_id);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_user_left_presence(pd_buf_t *b, pd_slice_t user_id)
{
    APPEND_LIT(b, "{\"type\":\"user_left_presence\",\"userId\":");
    pd_proto_append_string(b, user_id);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_error(pd_buf_t *b, const char *code, const char *message)
{
    APPEND_LIT(b, "{\"type\":\"error\",\"code\":");
    append_cstring(b, code);
    if (message) {
        APPEND_LIT(b, ",\"message\":");
        append_cstring(b, message);
    }
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_auth_error(pd_buf_t *b, const char *code)
{
    APPEND_LIT(b, "{\"type\":\"auth_error\",\"code\":");
    append_cstring(b, code);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_auth_ok(pd_buf_t *b, pd_slice_t user_id, pd_slice_t user_name)
{
    APPEND_LIT(b, "{\"type\":\"auth_ok\",");
    append_user(b, user_id, user_name);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_pong(pd_buf_t *b, pd_slice_t id_json)
{
    APPEND_LIT(b, "{\"type\":\"pong\"");
    if (id_json.base) {
        APPEND_LIT(b, ",\"id\":");
        pd_buf_append_slice(b, id_json);
    }
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_permission_revoked(pd_buf_t *b, const char *reason)
{
    APPEND_LIT(b, "{\"type\":\"permission_revoked\",\"reason\":");
    append_cstring(b, reason);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_presence_update(pd_buf_t *b, const pd_proto_location_t *loc)
{
    APPEND_LIT(b, "{\"type\":\"presence_update\"");
    append_location(b, loc);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_token_refresh(pd_buf_t *b, pd_slice_t token)
{
    APPEND_LIT(b, "{\"type\":\"token_refresh\",\"token\":");
    pd_proto_append_string(b, token);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_ping(pd_buf_t *b, unsigned long long id)
{
    pd_buf_appendf(b, "{\"type\":\"ping\",\"id\":%llu}", id);
}

void pd_proto_enc_http_error(pd_buf_t *b, const char *message)
{
    APPEND_LIT(b, "{\"error\":");
    append_cstring(b, message);
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_api_rooms_begin(pd_buf_t *b)
{
    APPEND_LIT(b, "{\"rooms\":[");
}

void pd_proto_enc_api_rooms_entry(pd_buf_t *b, pd_slice_t room_id, size_t users, size_t connections,
                                  int first)
{
    if (!first)
        pd_buf_append_char(b, ',');
    APPEND_LIT(b, "{\"roomId\":");
    pd_proto_append_string(b, room_id);
    pd_buf_appendf(b, ",\"users\":%zu,\"connections\":%zu}", users, connections);
}

void pd_proto_enc_api_rooms_end(pd_buf_t *b)
{
    APPEND_LIT(b, "]}");
}

void pd_proto_enc_api_room_begin(pd_buf_t *b, pd_slice_t room_id)
{
    APPEND_LIT(b, "{\"roomId\":");
    pd_proto_append_string(b, room_id);
    APPEND_LIT(b, ",\"users\":");
}

void pd_proto_enc_api_room_end(pd_buf_t *b)
{
    pd_buf_append_char(b, '}');
}

void pd_proto_enc_api_kicked(pd_buf_t *b, int n)
{
    pd_buf_appendf(b, "{\"kicked\":%d}", n);
}

void pd_proto_enc_dev_token(pd_buf_t *b, const char *token, long long expires_at_ms)
{
    APPEND_LIT(b, "{\"token\":");
    append_cstring(b, token);
    pd_buf_appendf(b, ",\"expiresAt\":%lld}", expires_at_ms);
}
