#include "identity.h"

#include <stdlib.h>
#include <string.h>

#include "../base/mem.h"

static char *dup_or_null(const char *s)
{
    return s ? pd_strndup(s, strlen(s)) : NULL;
}

void pd_identity_free(pd_identity_t *id)
{
    if (!id)
        return;
    free(id->user_id);
    free(id->user_name);
    free(id->user_image);
    memset(id, 0, sizeof(*id));
}

void pd_identity_copy(pd_identity_t *dst, const pd_identity_t *src)
{
    dst->user_id = dup_or_null(src->user_id);
    dst->user_name = dup_or_null(src->user_name);
    dst->user_image = dup_or_null(src->user_image);
    dst->expires_at_ms = src->expires_at_ms;
}

int pd_auth_token_valid(pd_slice_t token)
{
    if (!token.base || !token.len)
        return 0;
    for (size_t i = 0; i < token.len; i++) {
        unsigned char ch = (unsigned char)token.base[i];
        if (ch < 0x21 || ch > 0x7e)
            return 0;
    }
    return 1;
}

const char *pd_auth_code(pd_auth_status_t s)
{
    switch (s) {
    case PD_AUTH_OK: return NULL;
    case PD_AUTH_MISSING: return "AUTH_MISSING";
    case PD_AUTH_INVALID: return "AUTH_INVALID";
    case PD_AUTH_EXPIRED: return "AUTH_EXPIRED";
    case PD_AUTH_FORBIDDEN: return "AUTH_FORBIDDEN";
    case PD_AUTH_UNAVAILABLE: return "SERVICE_UNAVAILABLE";
    }
    return "AUTH_INVALID";
}
