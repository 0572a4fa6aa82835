/*
 * Live token expiry: TOKEN_REFRESH_REQUIRED when a connection's token runs
 * out, an in-band token_refresh that keeps presence without a leave/join
 * flap, AUTH_EXPIRED after the grace period, and refreshes that are refused.
 */
#include <string.h>

#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

static const char *const server_args[] = {
    "--linger", "0", "--token-grace", "1", "--jwt-leeway", "0", NULL,
};

/* alice with a token that expires in ttl_s seconds, bob with a long one. */
static pdt_ws_t *short_lived(const char *ws, int ttl_s, pdt_ws_t **bob_out)
{
    pdt_ws_t *bob = pdt_join(srv.port, ws, "bob");
    pdt_ws_opts_t o = {.workspace = ws, .label = "alice"};
    o.token = pdt_token("alice", "Alice", ws, ttl_s);
    pdt_ws_t *alice = pdt_ws_open(srv.port, &o);
    pdt_expect(alice, "presence_snapshot");
    pdt_expect(bob, "user_joined");
    *bob_out = bob;
    return alice;
}

static void refresh(pdt_ws_t *c, const char *token)
{
    pdt_sendf(c, "{\"type\":\"token_refresh\",\"token\":\"%s\"}", token);
}

static void expect_refused(pdt_ws_t *c, const char *code)
{
    assert_field(pdt_expect(c, "auth_error"), "code", code);
    pdt_expect_close(c, 1008, code);
}

static void test_refresh_keeps_presence(void **state)
{
    pdt_ws_t *bob, *alice = short_lived("e-refresh", 2, &bob);
    pdt_send(alice, "{\"type\":\"presence_update\",\"currentPath\":\"/before\"}");
    pdt_expect(bob, "presence_changed");
    assert_field(pdt_expect_within(alice, "error", 6000), "code", "TOKEN_REFRESH_REQUIRED");
    refresh(alice, pdt_token_pic("alice", "Alice Cooper", "https://img.example/ac.png", "e-refresh",
                                 3600));
    const cJSON *ok = pdt_expect(alice, "auth_ok");
    assert_field(ok, "userId", "alice");
    assert_field(ok, "userName", "Alice Cooper");
    /* Well past the grace period: no leave, no join, no close. */
    pdt_expect_silence(bob, 2500);
    pdt_assert_quiet(alice);
    pdt_ws_t *carol = pdt_join(srv.port, "e-refresh", "carol");
    assert_field(pdt_snapshot_user(pdt_last(carol), "alice"), "currentPath", "/before");
    pdt_expect(bob, "user_joined");
    /* The refreshed name and picture apply to later events. */
    pdt_send(alice, "{\"type\":\"presence_update\",\"currentPath\":\"/after\"}");
    const cJSON *m = pdt_expect(bob, "presence_changed");
    assert_field(m, "userName", "Alice Cooper");
    assert_field(m, "userImage", "https://img.example/ac.png");
}

static void test_no_refresh_expires(void **state)
{
    pdt_ws_t *bob, *alice = short_lived("e-expire", 2, &bob);
    assert_field(pdt_expect_within(alice, "error", 6000), "code", "TOKEN_REFRESH_REQUIRED");
    assert_field(pdt_expect_within(alice, "auth_error", 5000), "code", "AUTH_EXPIRED");
    pdt_expect_close(alice, 1008, "AUTH_EXPIRED");
    pdt_expect_leave(bob, "alice");
}

static void test_refresh_other_user_forbidden(void **state)
{
    pdt_ws_t *bob, *alice = short_lived("e-other", 2, &bob);
    assert_field(pdt_expect_within(alice, "error", 6000), "code", "TOKEN_REFRESH_REQUIRED");
    refresh(alice, pdt_token("mallory", "Mallory", "e-other", 3600));
    expect_refused(alice, "AUTH_FORBIDDEN");
    pdt_expect_leave(bob, "alice");
}

static void test_refresh_other_room_forbidden(void **state)
{
    pdt_ws_t *bob, *alice = short_lived("e-room", 3600, &bob);
    refresh(alice, pdt_token("alice", "Alice", "e-room-2", 3600));
    expect_refused(alice, "AUTH_FORBIDDEN");
}

static void test_refresh_invalid(void **state)
{
    pdt_ws_t *bob, *alice = short_lived("e-invalid", 3600, &bob);
    refresh(alice, "not.a.token");
    expect_refused(alice, "AUTH_INVALID");
    pdt_expect_leave(bob, "alice");
}

static void test_refresh_expired(void **state)
{
    pdt_ws_t *bob, *alice = short_lived("e-stale", 3600, &bob);
    refresh(alice, pdt_token("alice", "Alice", "e-stale", -60));
    expect_refused(alice, "AUTH_EXPIRED");
}

static void test_early_refresh_extends(void **state)
{
    pdt_ws_t *bob, *alice = short_lived("e-early", 2, &bob);
    refresh(alice, pdt_token("alice", "Alice", "e-early", 3600));
    pdt_expect(alice, "auth_ok");
    /* Past the first token's expiry and grace: the new one is in force. */
    pdt_expect_silence(alice, 4000);
    pdt_assert_quiet(bob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_refresh_keeps_presence),
        PDT_TEST(test_no_refresh_expires),
        PDT_TEST(test_refresh_other_user_forbidden),
        PDT_TEST(test_refresh_other_room_forbidden),
        PDT_TEST(test_refresh_invalid),
        PDT_TEST(test_refresh_expired),
        PDT_TEST(test_early_refresh_extends),
    };
    return PDT_SUITE(tests, &srv, server_args, 100);
}
