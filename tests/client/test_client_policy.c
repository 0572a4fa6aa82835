/* What the client does when a connection ends: reasons and actions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/policy.h"
#include "presence/client.h"

static void test_codes(void **state)
{
    assert_int_equal(pd_policy_from_code(PD_SLICE_LIT("AUTH_MISSING")), PRESENCE_ERR_AUTH_MISSING);
    assert_int_equal(pd_policy_from_code(PD_SLICE_LIT("AUTH_INVALID")), PRESENCE_ERR_AUTH_INVALID);
    assert_int_equal(pd_policy_from_code(PD_SLICE_LIT("AUTH_EXPIRED")), PRESENCE_ERR_AUTH_EXPIRED);
    assert_int_equal(pd_policy_from_code(PD_SLICE_LIT("AUTH_FORBIDDEN")),
                     PRESENCE_ERR_AUTH_FORBIDDEN);
    assert_int_equal(pd_policy_from_code(PD_SLICE_LIT("ROOM_FULL")), PRESENCE_ERR_ROOM_FULL);
    assert_int_equal(pd_policy_from_code(PD_SLICE_LIT("TOO_MANY_CONNECTIONS")),
                     PRESENCE_ERR_TOO_MANY_CONNECTIONS);
    assert_int_equal(pd_policy_from_code(PD_SLICE_LIT("SERVICE_UNAVAILABLE")),
                     PRESENCE_ERR_UNAVAILABLE);
    assert_int_equal(pd_policy_from_code(PD_SLICE_LIT("BAD_MESSAGE")), 0);
    assert_int_equal(pd_policy_from_code(PD_SLICE_LIT("auth_expired")), 0);
    assert_int_equal(pd_policy_from_code(PD_SLICE_NULL), 0);
}

static void test_close_frames(void **state)
{
    assert_int_equal(pd_policy_from_close(1008, PD_SLICE_LIT("AUTH_FORBIDDEN")),
                     PRESENCE_ERR_AUTH_FORBIDDEN);
    assert_int_equal(pd_policy_from_close(1013, PD_SLICE_LIT("ROOM_FULL")), PRESENCE_ERR_ROOM_FULL);
    assert_int_equal(pd_policy_from_close(1000, PD_SLICE_LIT("REPLACED")), PRESENCE_ERR_REPLACED);
    assert_int_equal(pd_policy_from_close(1001, PD_SLICE_LIT("shutting down")),
                     PRESENCE_ERR_UNAVAILABLE);
    assert_int_equal(pd_policy_from_close(1013, PD_SLICE_LIT("SLOW_CONSUMER")),
                     PRESENCE_ERR_UNAVAILABLE);
    assert_int_equal(pd_policy_from_close(1012, PD_SLICE_NULL), PRESENCE_ERR_UNAVAILABLE);
    assert_int_equal(pd_policy_from_close(1014, PD_SLICE_NULL), PRESENCE_ERR_UNAVAILABLE);
    assert_int_equal(pd_policy_from_close(1011, PD_SLICE_NULL), PRESENCE_ERR_CLOSED);
    assert_int_equal(pd_policy_from_close(1000, PD_SLICE_NULL), PRESENCE_ERR_CLOSED);
    assert_int_equal(pd_policy_from_close(1005, PD_SLICE_NULL), PRESENCE_ERR_CLOSED);
    assert_int_equal(pd_policy_from_close(1002, PD_SLICE_LIT("REPLACED")), PRESENCE_ERR_CLOSED);
}

static void test_actions(void **state)
{
    /* The contract's "client should" column. */
    assert_int_equal(pd_policy_action(PRESENCE_ERR_AUTH_EXPIRED, 0), PD_POLICY_NOW);
    assert_int_equal(pd_policy_action(PRESENCE_ERR_AUTH_EXPIRED, PRESENCE_ERR_CLOSED),
                     PD_POLICY_NOW);
    assert_int_equal(pd_policy_action(PRESENCE_ERR_AUTH_EXPIRED, PRESENCE_ERR_AUTH_EXPIRED),
                     PD_POLICY_BACKOFF);
    assert_int_equal(pd_policy_action(PRESENCE_ERR_AUTH_INVALID, 0), PD_POLICY_BACKOFF);
    assert_int_equal(pd_policy_action(PRESENCE_ERR_AUTH_MISSING, 0), PD_POLICY_BACKOFF);
    assert_int_equal(pd_policy_action(PRESENCE_ERR_AUTH_FORBIDDEN, 0), PD_POLICY_STOP);
    assert_int_equal(pd_policy_action(PRESENCE_ERR_REVOKED, 0), PD_POLICY_STOP);
    assert_int_equal(pd_policy_action(PRESENCE_ERR_REPLACED, 0), PD_POLICY_STOP);
    const int backoff[] = {PRESENCE_ERR_ROOM_FULL,   PRESENCE_ERR_TOO_MANY_CONNECTIONS,
                           PRESENCE_ERR_UNAVAILABLE, PRESENCE_ERR_CLOSED,
                           PRESENCE_ERR_TIMEOUT,     PRESENCE_ERR_CONNECT,
                           PRESENCE_ERR_RESOLVE,     PRESENCE_ERR_TLS,
                           PRESENCE_ERR_HANDSHAKE,   PRESENCE_ERR_PROTOCOL,
                           PRESENCE_ERR_IO,          PRESENCE_ERR_NO_TOKEN};
    for (size_t i = 0; i < sizeof backoff / sizeof backoff[0]; i++)
        assert_int_equal(pd_policy_action(backoff[i], 0), PD_POLICY_BACKOFF);
}

static void test_names(void **state)
{
    assert_string_equal(presence_strerror(PRESENCE_OK), "success");
    assert_string_equal(presence_strerror(PRESENCE_ERR_AUTH_EXPIRED), "token expired");
    assert_string_equal(presence_strerror(PRESENCE_ERR_UNAVAILABLE), "server unavailable");
    assert_string_equal(presence_strerror(-999), "unknown error");
    assert_string_equal(presence_strerror(5), "unknown error");
    for (int e = 0; e >= PRESENCE_ERR_UNAVAILABLE; e--)
        assert_string_not_equal(presence_strerror(e), "unknown error");
    assert_string_equal(presence_state_str(PRESENCE_WAITING), "waiting");
    assert_string_equal(presence_event_str(PRESENCE_EV_TOKEN_REFRESHED), "token_refreshed");
    assert_string_equal(presence_event_str((presence_event_type_t)0), "unknown");
    assert_string_equal(presence_follow_status_str(PRESENCE_FOLLOW_WENT_OFFLINE), "went offline");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_close_frames),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
