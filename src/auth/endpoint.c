#include "endpoint.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "../base/mem.h"
#include "../proto/proto.h"

#define MAX_USER_ID 128
#define MAX_USER_NAME 256
#define MAX_USER_IMAGE 2048
/* Milliseconds; beyond this (year ~33658) a value is not a date. */
#define MAX_EXPIRES_MS 1e15

void pd_endpoint_request_body(pd_buf_t *out, pd_slice_t room_id)
{
    pd_buf_append_cstr(out, "{\"roomId\":");
    pd_proto_append_string(out, room_id);
    pd_buf_append_char(out, '}');
}

/* 1: absent or null; 0: a string within max; -1: anything else. */
static int optional_string(const cJSON *o, const char *key, size_t max, const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!item || cJSON_IsNull(item))
        return 1;
    if (!cJSON_IsString(item) || strlen(item->valuestring) > max)
        return -1;
    *out = item->valuestring;
    return 0;
}

static int expires_at(const cJSON *o, int64_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, "expiresAt");
    *out = 0;
    if (!item || cJSON_IsNull(item))
        return 0;
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || item->valuedouble <= 0 ||
        item->valuedouble > MAX_EXPIRES_MS)
        return -1;
    *out = (int64_t)item->valuedouble;
    return 0;
}

static pd_auth_status_t read_identity(const cJSON *o, pd_identity_t *out)
{
    const char *user_id, *name, *image;
    int64_t expires;
    if (!cJSON_IsObject(o) || optional_string(o, "userId", MAX_USER_ID, &user_id) != 0 ||
        !*user_id || optional_string(o, "userName", MAX_USER_NAME, &name) < 0 ||
        optional_string(o, "userImage", MAX_USER_IMAGE, &image) < 0 || expires_at(o, &expires) < 0)
        return PD_AUTH_UNAVAILABLE;
    if (!name || !*name)
        name = "Unknown";
    out->user_id = pd_strndup(user_id, strlen(user_id));
    out->user_name = pd_strndup(name, strlen(name));
    out->user_image = image ? pd_strndup(image, strlen(image)) : NULL;
    out->expires_at_ms = expires;
    return PD_AUTH_OK;
}

pd_auth_status_t pd_endpoint_parse(long http_status, const char *body, size_t len,
                                   pd_identity_t *out)
{
    if (http_status == 401)
        return PD_AUTH_INVALID;
    if (http_status == 403)
        return PD_AUTH_FORBIDDEN;
    if (http_status != 200 || !body)
        return PD_AUTH_UNAVAILABLE;
    cJSON *root = pd_proto_parse_json(body, len, NULL);
    pd_auth_status_t st = root ? read_identity(root, out) : PD_AUTH_UNAVAILABLE;
    cJSON_Delete(root);
    return st;
}
