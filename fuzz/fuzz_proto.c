/*
 * Decodes arbitrary bytes as a client message. Whatever decodes is encoded
 * again (the location as presence_changed, a ping id as pong) and the output
 * must be JSON that cJSON accepts with the same strings in it. The message
 * struct is reused across inputs, as a connection reuses it.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "proto/proto.h"

/*
 * An independent well-formedness check (RFC 3629): the encoder passes only
 * well-formed UTF-8 through, so only then must the value survive unchanged.
 */
static int valid_utf8(pd_slice_t s)
{
    const unsigned char *p = (const unsigned char *)s.base, *end = p + s.len;
    while (p < end) {
        uint32_t cp = *p, n = cp < 0x80 ? 0 : cp < 0xE0 ? 1 : cp < 0xF0 ? 2 : 3;
        if ((cp >= 0x80 && cp < 0xC2) || cp > 0xF4 || (size_t)(end - p) <= n)
            return 0;
        cp &= 0x7F >> n;
        for (uint32_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

static void check_string(const cJSON *obj, const char *key, pd_slice_t want)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!want.base) {
        if (item)
            abort();
        return;
    }
    if (!cJSON_IsString(item))
        abort();
    /* Decoded strings hold no NUL, so cJSON's C string is the whole value. */
    if (valid_utf8(want) && (strlen(item->valuestring) != want.len ||
                             memcmp(item->valuestring, want.base, want.len) != 0))
        abort();
}

static cJSON *parse_or_die(const pd_buf_t *b)
{
    cJSON *root = cJSON_ParseWithLength(b->base, b->len);
    if (!root)
        abort();
    return root;
}

static void check_location(const pd_proto_location_t *loc, pd_buf_t *out)
{
    const pd_proto_entry_t e = {PD_SLICE_LIT("u"), PD_SLICE_LIT("n"), PD_SLICE_NULL, *loc};
    pd_buf_reset(out);
    pd_proto_enc_presence_changed(out, &e);
    cJSON *root = parse_or_die(out);
    check_string(root, "currentPath", loc->current_path);
    check_string(root, "resourceType", loc->resource_type);
    check_string(root, "resourceId", loc->resource_id);
    cJSON_Delete(root);
}

static void check_pong(pd_slice_t id, pd_buf_t *out)
{
    pd_buf_reset(out);
    pd_proto_enc_pong(out, id);
    cJSON *root = parse_or_die(out);
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (id.base && !cJSON_IsString(got) && !cJSON_IsNumber(got))
        abort();
    cJSON_Delete(root);
}

static void check_error(const char *reason, pd_buf_t *out)
{
    pd_buf_reset(out);
    pd_proto_enc_error(out, "BAD_MESSAGE", reason);
    cJSON_Delete(parse_or_die(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pd_proto_client_msg_t msg;
    static pd_buf_t out;
    static int ready;
    const pd_proto_limits_t limits = PD_PROTO_LIMITS_DEFAULT;
    char err[96];
    if (!ready) {
        pd_proto_client_msg_init(&msg);
        ready = 1;
    }
    int rc = pd_proto_decode_client(&limits, (const char *)data, size, &msg, err, sizeof err);
    if (rc != 0) {
        if (rc != PD_ERR_INVALID || msg.type != 0)
            abort();
        check_error(err, &out);
        return 0;
    }
    if (msg.type == PD_PROTO_CLIENT_PRESENCE_UPDATE)
        check_location(&msg.loc, &out);
    else if (msg.type == PD_PROTO_CLIENT_PING)
        check_pong(msg.ping_id, &out);
    else if (msg.type != PD_PROTO_CLIENT_TOKEN_REFRESH || msg.token.len == 0)
        abort();
    return 0;
}
