#include "policy.h"

#include <stddef.h>

#include "presence/client.h"

static const struct {
    const char *code;
    int err;
} codes[] = {
    {"AUTH_MISSING", PRESENCE_ERR_AUTH_MISSING},
    {"AUTH_INVALID", PRESENCE_ERR_AUTH_INVALID},
    {"AUTH_EXPIRED", PRESENCE_ERR_AUTH_EXPIRED},
    {"AUTH_FORBIDDEN", PRESENCE_ERR_AUTH_FORBIDDEN},
    {"ROOM_FULL", PRESENCE_ERR_ROOM_FULL},
    {"TOO_MANY_CONNECTIONS", PRESENCE_ERR_TOO_MANY_CONNECTIONS},
    {"SERVICE_UNAVAILABLE", PRESENCE_ERR_UNAVAILABLE},
};

int pd_policy_from_code(pd_slice_t code)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (pd_slice_eq_cstr(code, codes[i].code))
            return codes[i].err;
    return 0;
}

int pd_policy_from_close(uint16_t code, pd_slice_t reason)
{
    int err = pd_policy_from_code(reason);
    if (err)
        return err;
    if (code == 1000 && pd_slice_eq_cstr(reason, "REPLACED"))
        return PRESENCE_ERR_REPLACED;
    /* Going away, service restart, try again later, bad gateway. */
    if (code == 1001 || (code >= 1012 && code <= 1014))
        return PRESENCE_ERR_UNAVAILABLE;
    return PRESENCE_ERR_CLOSED;
}

pd_policy_action_t pd_policy_action(int reason, int previous)
{
    switch (reason) {
    case PRESENCE_ERR_AUTH_EXPIRED:
        return previous == PRESENCE_ERR_AUTH_EXPIRED ? PD_POLICY_BACKOFF : PD_POLICY_NOW;
    case PRESENCE_ERR_AUTH_FORBIDDEN:
    case PRESENCE_ERR_REVOKED:
    case PRESENCE_ERR_REPLACED: return PD_POLICY_STOP;
    default: return PD_POLICY_BACKOFF;
    }
}
