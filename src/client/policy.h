/*
 * What a client does when a connection ends: the protocol's admission
 * table (docs/protocol.md) turned into reasons and actions. Pure functions.
 */
#ifndef PD_CLIENT_POLICY_H
#define PD_CLIENT_POLICY_H

#include <stdint.h>

#include "base/slice.h"

typedef enum {
    PD_POLICY_BACKOFF = 1, /* retry after the back-off delay */
    PD_POLICY_NOW,         /* retry at once (with a fresh token) */
    PD_POLICY_STOP,        /* do not retry: the server said no for good */
} pd_policy_action_t;

/*
 * The presence_err_t for a server error code ("AUTH_EXPIRED", "ROOM_FULL",
 * ...) that refuses or ends a connection, or 0 for other codes.
 */
int pd_policy_from_code(pd_slice_t code);

/*
 * The presence_err_t for a close frame: the reason when it is one of the
 * codes above or "REPLACED", else by code (1001 and 1012-1014:
 * unavailable), else PRESENCE_ERR_CLOSED.
 */
int pd_policy_from_close(uint16_t code, pd_slice_t reason);

/*
 * The action for reason (a presence_err_t), given the reason the attempt
 * before ended with (0 when it was accepted): AUTH_EXPIRED retries at once
 * unless it also ended the attempt before; AUTH_FORBIDDEN, REVOKED and
 * REPLACED stop; everything else backs off.
 */
pd_policy_action_t pd_policy_action(int reason, int previous);

#endif
