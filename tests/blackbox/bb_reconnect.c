/*
 * Reconnects without flapping: a connection lost without a close frame
 * lingers, a reconnect within the linger takes its place silently, a clean
 * close leaves at once, and a new connection with a live connection's _pk
 * replaces it (close 1000 REPLACED).
 */
#include <string.h>

#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

/* A 2 s linger: long enough to reconnect inside it, short enough to wait out. */
static const char *const server_args[] = {"--linger", "2", NULL};

static pdt_ws_t *join_pk(const char *ws, const char *user, const char *pk)
{
    pdt_ws_opts_t o = {.workspace = ws, .pk = pk, .label = user};
    o.token = pdt_token(user, pdt_name(user), ws, 3600);
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    pdt_expect(c, "presence_snapshot");
    return c;
}

/* Fails if c gets a leave or user_joined within ms; other messages are skipped. */
static void expect_no_flap(pdt_ws_t *c, int ms)
{
    pdt_pump(ms);
    const cJSON *m;
    while ((m = pdt_next(c, 0)) != NULL) {
        const char *type = pdt_str(m, "type");
        if (type == NULL || strcmp(type, "user_left") == 0 ||
            strcmp(type, "user_left_presence") == 0 || strcmp(type, "user_joined") == 0)
            fail_msg("%s: unexpected %s", c->label, cJSON_PrintUnformatted(m));
    }
}

static void test_reconnect_within_linger(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "r-linger", "bob");
    pdt_ws_t *alice = join_pk("r-linger", "alice", "tab-1");
    pdt_expect(bob, "user_joined");
    pdt_send(alice, "{\"type\":\"presence_update\",\"currentPath\":\"/here\"}");
    pdt_expect(bob, "presence_changed");
    pdt_ws_drop(alice);
    pdt_pump(300);
    alice = join_pk("r-linger", "alice", "tab-2");
    expect_no_flap(bob, 2500);
    pdt_send(alice, "{\"type\":\"presence_update\",\"currentPath\":\"/there\"}");
    assert_field(pdt_expect(bob, "presence_changed"), "currentPath", "/there");
    pdt_ws_close(alice);
    pdt_expect_leave(bob, "alice");
}

static void test_reconnect_same_pk_within_linger(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "r-samepk", "bob");
    pdt_ws_t *alice = join_pk("r-samepk", "alice", "tab-9");
    pdt_expect(bob, "user_joined");
    pdt_send(alice, "{\"type\":\"presence_update\",\"currentPath\":\"/here\"}");
    pdt_expect(bob, "presence_changed");
    pdt_ws_reset(alice);
    pdt_pump(300);
    alice = join_pk("r-samepk", "alice", "tab-9");
    assert_field(cJSON_GetObjectItemCaseSensitive(pdt_last(alice), "self"), "connectionId",
                 "tab-9");
    expect_no_flap(bob, 2500);
    pdt_ws_t *carol = pdt_join(srv.port, "r-samepk", "carol");
    assert_field(pdt_snapshot_user(pdt_last(carol), "alice"), "currentPath", "/here");
}

static void test_pk_of_lingering_other_user_not_taken(void **state)
{
    pdt_ws_t *alice = join_pk("r-pkother", "alice", "tab-7");
    pdt_ws_drop(alice);
    pdt_pump(200);
    pdt_ws_t *bob = join_pk("r-pkother", "bob", "tab-7");
    const char *id =
        pdt_str(cJSON_GetObjectItemCaseSensitive(pdt_last(bob), "self"), "connectionId");
    assert_non_null(id);
    assert_string_not_equal(id, "tab-7");
    /* alice still lingers, so bob sees her in the snapshot, then sees her go. */
    assert_non_null(pdt_snapshot_user(pdt_last(bob), "alice"));
    pdt_expect_leave_within(bob, "alice", 6000);
}

static void test_linger_runs_out(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "r-gone", "bob");
    pdt_ws_t *alice = pdt_join(srv.port, "r-gone", "alice");
    pdt_expect(bob, "user_joined");
    pdt_ws_drop(alice);
    pdt_expect_silence(bob, 500);
    pdt_expect_leave_within(bob, "alice", 6000);
}

static void test_clean_close_leaves_at_once(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "r-clean", "bob");
    pdt_ws_t *alice = pdt_join(srv.port, "r-clean", "alice");
    pdt_expect(bob, "user_joined");
    pdt_ws_close(alice);
    /* Well inside the 2 s linger, which a clean close must not wait for. */
    pdt_expect_leave_within(bob, "alice", 1500);
}

static void test_same_pk_replaces(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "r-replace", "bob");
    pdt_ws_t *old = join_pk("r-replace", "alice", "tab-x");
    pdt_expect(bob, "user_joined");
    pdt_send(old, "{\"type\":\"presence_update\",\"currentPath\":\"/kept\"}");
    pdt_expect(bob, "presence_changed");
    pdt_ws_t *fresh = join_pk("r-replace", "alice", "tab-x");
    const cJSON *self = cJSON_GetObjectItemCaseSensitive(pdt_last(fresh), "self");
    assert_field(self, "connectionId", "tab-x");
    pdt_expect_close(old, 1000, "REPLACED");
    expect_no_flap(bob, 500);
    pdt_ws_t *carol = pdt_join(srv.port, "r-replace", "carol");
    assert_field(pdt_snapshot_user(pdt_last(carol), "alice"), "currentPath", "/kept");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_reconnect_within_linger),
        PDT_TEST(test_reconnect_same_pk_within_linger),
        PDT_TEST(test_pk_of_lingering_other_user_not_taken),
        PDT_TEST(test_linger_runs_out),
        PDT_TEST(test_clean_close_leaves_at_once),
        PDT_TEST(test_same_pk_replaces),
    };
    return PDT_SUITE(tests, &srv, server_args, 100);
}
