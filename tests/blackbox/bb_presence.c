/*
 * Presence as members see it: the snapshot, joins, changes, leaves, per-user
 * aggregation over tabs with the fallback when the most recent tab leaves,
 * identity taken from the token only, connection keys, app-level ping, and
 * bad messages that are answered without dropping the connection.
 */
#include <stdio.h>
#include <string.h>

#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

static const char *const server_args[] = {"--linger", "0", NULL};

#define UPDATE(path) "{\"type\":\"presence_update\",\"currentPath\":\"" path "\"}"

static const cJSON *self_of(const cJSON *snapshot)
{
    return cJSON_GetObjectItemCaseSensitive(snapshot, "self");
}

static pdt_ws_t *join_pk(const char *ws, const char *user, const char *pk)
{
    pdt_ws_opts_t o = {.workspace = ws, .pk = pk, .label = user};
    o.token = pdt_token(user, pdt_name(user), ws, 3600);
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    pdt_expect(c, "presence_snapshot");
    return c;
}

/* A member whose token carries a picture. */
static pdt_ws_t *join_pic(const char *ws, const char *user)
{
    pdt_ws_opts_t o = {.workspace = ws, .label = user};
    o.token =
        pdt_token_pic(user, pdt_name(user), pdt_fmt("https://img.example/%s.png", user), ws, 3600);
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    pdt_expect(c, "presence_snapshot");
    return c;
}

static const char *connection_id(const pdt_ws_t *c)
{
    const char *id = pdt_str(self_of(pdt_last(c)), "connectionId");
    assert_non_null(id);
    assert_true(strlen(id) > 0);
    return id;
}

static void test_snapshot_first_with_self(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "p-snap", "alice");
    const cJSON *snap = pdt_last(a);
    assert_field(self_of(snap), "userId", "alice");
    connection_id(a);
    assert_int_equal(pdt_snapshot_count(snap), 0);

    pdt_ws_t *b = pdt_join(srv.port, "p-snap", "bob");
    snap = pdt_last(b);
    assert_field(self_of(snap), "userId", "bob");
    assert_int_equal(pdt_snapshot_count(snap), 1);
    const cJSON *e = pdt_snapshot_user(snap, "alice");
    assert_non_null(e);
    assert_field(e, "userName", "Alice");
    assert_field(e, "userImage", PDT_JSON_NULL);
    assert_field(e, "currentPath", "");
    assert_field(e, "resourceType", NULL);
    assert_field(e, "resourceId", NULL);
}

static void test_user_joined_to_others(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "p-join", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-join", "bob");
    const cJSON *m = pdt_expect(a, "user_joined");
    assert_field(m, "userId", "bob");
    assert_field(m, "userName", "Bob");
    assert_field(m, "userImage", PDT_JSON_NULL);

    pdt_ws_opts_t o = {.workspace = "p-join", .label = "carol"};
    o.token = pdt_token_pic("carol", "Carol", "https://img.example/c.png", "p-join", 3600);
    pdt_ws_t *c = pdt_ws_open(srv.port, &o);
    const cJSON *snap = pdt_expect(c, "presence_snapshot");
    assert_int_equal(pdt_snapshot_count(snap), 2);
    m = pdt_expect(b, "user_joined");
    assert_field(m, "userId", "carol");
    assert_field(m, "userImage", "https://img.example/c.png");
    pdt_expect(a, "user_joined");
    pdt_expect_none(c, NULL);
}

static void test_second_tab_is_no_join(void **state)
{
    pdt_ws_t *a1 = pdt_join(srv.port, "p-tabs", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-tabs", "bob");
    pdt_expect(a1, "user_joined");
    pdt_ws_t *a2 = pdt_join(srv.port, "p-tabs", "alice");
    /* A user with other tabs is in its own snapshot. */
    assert_int_equal(pdt_snapshot_count(pdt_last(a2)), 2);
    assert_non_null(pdt_snapshot_user(pdt_last(a2), "alice"));
    pdt_expect_none(b, NULL);
    pdt_assert_quiet(a1);
}

static void test_changed_to_all_but_sender(void **state)
{
    pdt_ws_t *a1 = pdt_join(srv.port, "p-chg", "alice");
    pdt_ws_t *a2 = pdt_join(srv.port, "p-chg", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-chg", "bob");
    pdt_expect(a1, "user_joined");
    pdt_expect(a2, "user_joined");
    pdt_send(a1, "{\"type\":\"presence_update\",\"currentPath\":\"/w/p-chg/documents/42\","
                 "\"resourceType\":\"document\",\"resourceId\":\"42\"}");
    pdt_ws_t *receivers[] = {a2, b};
    for (int i = 0; i < 2; i++) {
        const cJSON *m = pdt_expect(receivers[i], "presence_changed");
        assert_field(m, "userId", "alice");
        assert_field(m, "userName", "Alice");
        assert_field(m, "currentPath", "/w/p-chg/documents/42");
        assert_field(m, "resourceType", "document");
        assert_field(m, "resourceId", "42");
    }
    pdt_expect_none(a1, NULL);
}

static void test_optional_fields_omitted(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "p-opt", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-opt", "bob");
    pdt_expect(a, "user_joined");
    pdt_send(a, "{\"type\":\"presence_update\",\"currentPath\":\"/p\",\"resourceType\":null,"
                "\"resourceId\":null}");
    const cJSON *m = pdt_expect(b, "presence_changed");
    assert_field(m, "currentPath", "/p");
    assert_field(m, "resourceType", NULL);
    assert_field(m, "resourceId", NULL);
    /* Name and image are always there: the app's shipped client copies both. */
    assert_field(m, "userName", "Alice");
    assert_field(m, "userImage", PDT_JSON_NULL);
}

static void test_unchanged_location_relayed(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "p-same", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-same", "bob");
    pdt_expect(a, "user_joined");
    pdt_send(a, UPDATE("/same"));
    pdt_send(a, UPDATE("/same"));
    assert_field(pdt_expect(b, "presence_changed"), "currentPath", "/same");
    assert_field(pdt_expect(b, "presence_changed"), "currentPath", "/same");
}

static void test_snapshot_reports_locations(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "p-where", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-where", "bob");
    pdt_expect(a, "user_joined");
    pdt_send(a, "{\"type\":\"presence_update\",\"currentPath\":\"/w/t/5\","
                "\"resourceType\":\"task\",\"resourceId\":\"5\"}");
    pdt_expect(b, "presence_changed");
    pdt_ws_t *c = pdt_join(srv.port, "p-where", "carol");
    const cJSON *e = pdt_snapshot_user(pdt_last(c), "alice");
    assert_non_null(e);
    assert_field(e, "currentPath", "/w/t/5");
    assert_field(e, "resourceType", "task");
    assert_field(e, "resourceId", "5");
    e = pdt_snapshot_user(pdt_last(c), "bob");
    assert_non_null(e);
    assert_field(e, "currentPath", "");
}

static void test_user_left_on_last_tab_only(void **state)
{
    pdt_ws_t *a1 = pdt_join(srv.port, "p-left", "alice");
    pdt_ws_t *a2 = pdt_join(srv.port, "p-left", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-left", "bob");
    pdt_send(a2, UPDATE("/two"));
    pdt_expect(b, "presence_changed");
    pdt_ws_close(a1);
    pdt_expect_none(b, NULL);
    pdt_ws_close(a2);
    pdt_expect_leave(b, "alice");
}

static void test_fallback_when_most_recent_leaves(void **state)
{
    pdt_ws_t *a1 = join_pic("p-fall", "alice");
    pdt_ws_t *a2 = join_pic("p-fall", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-fall", "bob");
    pdt_expect(a1, "user_joined");
    pdt_expect(a2, "user_joined");
    pdt_send(a1, "{\"type\":\"presence_update\",\"currentPath\":\"/one\","
                 "\"resourceType\":\"channel\",\"resourceId\":\"c1\"}");
    pdt_expect(b, "presence_changed");
    pdt_expect(a2, "presence_changed");
    pdt_send(a2, UPDATE("/two"));
    assert_field(pdt_expect(b, "presence_changed"), "currentPath", "/two");
    pdt_expect(a1, "presence_changed");
    pdt_ws_close(a2);
    pdt_ws_t *receivers[] = {b, a1};
    for (int i = 0; i < 2; i++) {
        const cJSON *m = pdt_expect(receivers[i], "presence_changed");
        assert_field(m, "userId", "alice");
        assert_field(m, "userName", "Alice");
        assert_field(m, "userImage", "https://img.example/alice.png");
        assert_field(m, "currentPath", "/one");
        assert_field(m, "resourceType", "channel");
        assert_field(m, "resourceId", "c1");
    }
    pdt_expect_none(b, NULL);
}

static void test_fallback_to_unknown_location(void **state)
{
    pdt_ws_t *a1 = pdt_join(srv.port, "p-fall0", "alice");
    pdt_ws_t *a2 = pdt_join(srv.port, "p-fall0", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-fall0", "bob");
    pdt_expect(a1, "user_joined");
    pdt_send(a2, UPDATE("/two"));
    pdt_expect(b, "presence_changed");
    pdt_expect(a1, "presence_changed");
    pdt_ws_close(a2);
    const cJSON *m = pdt_expect(b, "presence_changed");
    assert_field(m, "userId", "alice");
    assert_field(m, "currentPath", "");
    assert_field(pdt_expect(a1, "presence_changed"), "currentPath", "");
}

static void test_identity_from_token_only(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "p-ident", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-ident", "bob");
    pdt_expect(a, "user_joined");
    pdt_send(a, "{\"type\":\"presence_update\",\"currentPath\":\"/x\",\"userId\":\"mallory\","
                "\"userName\":\"Mallory\",\"userImage\":\"https://evil.example/m.png\"}");
    const cJSON *m = pdt_expect(b, "presence_changed");
    assert_field(m, "userId", "alice");
    assert_field(m, "userName", "Alice");
    pdt_ws_t *c = pdt_join(srv.port, "p-ident", "carol");
    assert_null(pdt_snapshot_user(pdt_last(c), "mallory"));
    assert_field(pdt_snapshot_user(pdt_last(c), "alice"), "userImage", PDT_JSON_NULL);
}

static void test_update_sent_with_upgrade(void **state)
{
    pdt_ws_t *b = pdt_join(srv.port, "p-early", "bob");
    pdt_ws_opts_t o = {.workspace = "p-early", .label = "alice", .early = UPDATE("/early")};
    o.token = pdt_token("alice", "Alice", "p-early", 3600);
    pdt_ws_t *a = pdt_ws_open(srv.port, &o);
    pdt_expect(a, "presence_snapshot");
    assert_field(pdt_expect(b, "user_joined"), "userId", "alice");
    const cJSON *m = pdt_expect(b, "presence_changed");
    assert_field(m, "userId", "alice");
    assert_field(m, "currentPath", "/early");
    pdt_ws_t *c = pdt_join(srv.port, "p-early", "carol");
    assert_field(pdt_snapshot_user(pdt_last(c), "alice"), "currentPath", "/early");
}

static void test_pk_used_when_valid(void **state)
{
    pdt_ws_t *a = join_pk("p-pk", "alice", "tab-ABC_123");
    assert_string_equal(connection_id(a), "tab-ABC_123");
    char longest[65];
    memset(longest, 'k', 64);
    longest[64] = '\0';
    pdt_ws_t *b = join_pk("p-pk", "bob", longest);
    assert_string_equal(connection_id(b), longest);
}

static void test_pk_replaced_when_invalid(void **state)
{
    char too_long[66];
    memset(too_long, 'k', 65);
    too_long[65] = '\0';
    const char *bad[] = {"bad.key", "a%20b", "", too_long};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pdt_ws_t *c = join_pk("p-pkbad", "alice", bad[i]);
        const char *id = connection_id(c);
        assert_string_not_equal(id, bad[i]);
        assert_string_not_equal(id, "a b");
        pdt_ws_close(c);
    }
}

static void test_pk_of_other_user_not_taken(void **state)
{
    pdt_ws_t *a = join_pk("p-pkother", "alice", "shared-key");
    assert_string_equal(connection_id(a), "shared-key");
    pdt_ws_t *b = join_pk("p-pkother", "bob", "shared-key");
    assert_string_not_equal(connection_id(b), "shared-key");
    assert_field(pdt_expect(a, "user_joined"), "userId", "bob");
    pdt_expect_none(a, NULL);
}

static void test_close_handshake_echoed(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "p-close", "bob");
    pdt_ws_t *alice = pdt_join(srv.port, "p-close", "alice");
    pdt_expect(bob, "user_joined");
    pd_ws_close(alice->codec, 4000, "bye");
    pdt_send_raw(alice, alice->out.base, alice->out.len);
    pd_buf_reset(&alice->out);
    pdt_expect_close(alice, 4000, NULL);
    if (!pdt_wait_closed(alice, PDT_WAIT_MS))
        fail_msg("the server did not close the TCP connection after the close handshake");
    pdt_expect_leave(bob, "alice");
}

static void test_ping_pong(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "p-ping", "alice");
    pdt_send(a, "{\"type\":\"ping\",\"id\":7}");
    const cJSON *m = pdt_expect(a, "pong");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
    assert_true(cJSON_IsNumber(id));
    assert_int_equal(id->valueint, 7);
    pdt_send(a, "{\"type\":\"ping\",\"id\":\"abc\"}");
    assert_field(pdt_expect(a, "pong"), "id", "abc");
    pdt_send(a, "{\"type\":\"ping\"}");
    assert_field(pdt_expect(a, "pong"), "id", NULL);
}

static void test_ping_id_null_or_wrong_type(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "p-pingid", "alice");
    pdt_send(a, "{\"type\":\"ping\",\"id\":null}");
    assert_field(pdt_expect(a, "pong"), "id", NULL);
    pdt_send(a, "{\"type\":\"ping\",\"id\":{\"a\":1}}");
    assert_field(pdt_expect(a, "error"), "code", "BAD_MESSAGE");
    pdt_send(a, "{\"type\":\"ping\",\"id\":-1.5e3,\"extra\":[1,2,3]}");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(pdt_expect(a, "pong"), "id");
    assert_true(cJSON_IsNumber(id));
    assert_true(id->valuedouble == -1500.0);
}

/* The default limit is 4 KiB per message, whatever the message holds. */
static void test_default_message_limit(void **state)
{
    static const char head[] = "{\"type\":\"ping\",\"id\":1,\"pad\":\"";
    char pad[4200];
    pdt_ws_t *a = pdt_join(srv.port, "p-4k", "alice");
    size_t n = 4096 - (sizeof(head) - 1) - 2;
    memset(pad, 'x', n);
    pad[n] = '\0';
    pdt_sendf(a, "%s%s\"}", head, pad);
    pdt_expect(a, "pong");
    pad[n] = 'x';
    pad[n + 1] = '\0';
    pdt_sendf(a, "%s%s\"}", head, pad);
    pdt_expect_close(a, 1009, NULL);
}

static void expect_bad_message(pdt_ws_t *c, const char *text)
{
    pdt_send(c, text);
    const cJSON *m = pdt_next(c, PDT_WAIT_MS);
    if (m == NULL || pdt_str(m, "type") == NULL || strcmp(pdt_str(m, "type"), "error") != 0 ||
        pdt_str(m, "code") == NULL || strcmp(pdt_str(m, "code"), "BAD_MESSAGE") != 0) {
        char *got = m ? cJSON_PrintUnformatted(m) : NULL;
        fail_msg("sent %s: expected error BAD_MESSAGE, got %s", text, got ? got : "nothing");
    }
}

static void test_bad_messages_keep_connection(void **state)
{
    char long_path[1100];
    pdt_ws_t *a = pdt_join(srv.port, "p-bad", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-bad", "bob");
    pdt_expect(a, "user_joined");
    memset(long_path, 'p', 1025);
    long_path[1025] = '\0';
    const char *bad[] = {
        "not json",
        "[1,2]",
        "\"presence_update\"",
        "{\"type\":\"dance\"}",
        "{\"currentPath\":\"/no-type\"}",
        UPDATE(""),
        pdt_fmt("{\"type\":\"presence_update\",\"currentPath\":\"%s\"}", long_path),
        "{\"type\":\"presence_update\",\"currentPath\":42}",
        "{\"type\":\"presence_update\"}",
        "{\"type\":\"presence_update\",\"currentPath\":\"/x\","
        "\"resourceType\":\"abcdefghijklmnopqrstuvwxyz0123456\"}",
        "{\"type\":\"presence_update\",\"currentPath\":\"/x\",\"resourceId\":7}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_bad_message(a, bad[i]);
    pdt_send(a, "{\"type\":\"ping\",\"id\":1}");
    pdt_expect(a, "pong");
    pdt_expect_none(b, a);
    pdt_send(a, UPDATE("/fine"));
    assert_field(pdt_expect(b, "presence_changed"), "currentPath", "/fine");
}

static void test_longest_path_accepted(void **state)
{
    char path[1025];
    pdt_ws_t *a = pdt_join(srv.port, "p-maxpath", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-maxpath", "bob");
    pdt_expect(a, "user_joined");
    memset(path, 'q', 1024);
    path[1024] = '\0';
    pdt_sendf(a, "{\"type\":\"presence_update\",\"currentPath\":\"%s\"}", path);
    assert_field(pdt_expect(b, "presence_changed"), "currentPath", path);
}

static void test_escaping_round_trips(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "p-esc", "alice");
    pdt_ws_t *b = pdt_join(srv.port, "p-esc", "bob");
    pdt_expect(a, "user_joined");
    pdt_send(
        a, "{\"type\":\"presence_update\",\"currentPath\":\"/d/\\\"q\\\"\\\\\\n\\u00e9\\u2603\"}");
    assert_field(pdt_expect(b, "presence_changed"), "currentPath",
                 "/d/\"q\"\\\n\xc3\xa9\xe2\x98\x83");
}

static pdt_extra_t one_form;

static int teardown_one_form(void **state)
{
    pdt_teardown(state);
    pdt_extra_discard(&one_form);
    return 0;
}

/*
 * On a server started with --leave-messages form, bob sees each leave in
 * that form only: the next message after it is carol's join.
 */
static void expect_leave_form(const char *form)
{
    const char *const args[] = {"--linger", "0", "--leave-messages", form, NULL};
    pdt_extra_start(&one_form, args);
    pdt_ws_t *b = pdt_join(one_form.srv.port, "p-form", "bob");
    pdt_ws_t *a = pdt_join(one_form.srv.port, "p-form", "alice");
    pdt_expect(b, "user_joined");
    pdt_ws_close(a);
    assert_field(pdt_expect(b, form), "userId", "alice");
    pdt_ws_t *c = pdt_join(one_form.srv.port, "p-form", "carol");
    pdt_expect(b, "user_joined");
    pdt_ws_close(c);
    assert_field(pdt_expect(b, form), "userId", "carol");
    pdt_expect_silence(b, 200);
    pdt_extra_stop(&one_form);
}

static void test_leave_messages_user_left_only(void **state)
{
    expect_leave_form("user_left");
}

static void test_leave_messages_user_left_presence_only(void **state)
{
    expect_leave_form("user_left_presence");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_snapshot_first_with_self),
        PDT_TEST(test_user_joined_to_others),
        PDT_TEST(test_second_tab_is_no_join),
        PDT_TEST(test_changed_to_all_but_sender),
        PDT_TEST(test_optional_fields_omitted),
        PDT_TEST(test_unchanged_location_relayed),
        PDT_TEST(test_snapshot_reports_locations),
        PDT_TEST(test_user_left_on_last_tab_only),
        PDT_TEST(test_fallback_when_most_recent_leaves),
        PDT_TEST(test_fallback_to_unknown_location),
        PDT_TEST(test_identity_from_token_only),
        PDT_TEST(test_update_sent_with_upgrade),
        PDT_TEST(test_pk_used_when_valid),
        PDT_TEST(test_pk_replaced_when_invalid),
        PDT_TEST(test_pk_of_other_user_not_taken),
        PDT_TEST(test_close_handshake_echoed),
        PDT_TEST(test_ping_pong),
        PDT_TEST(test_ping_id_null_or_wrong_type),
        PDT_TEST(test_default_message_limit),
        PDT_TEST(test_bad_messages_keep_connection),
        PDT_TEST(test_longest_path_accepted),
        PDT_TEST(test_escaping_round_trips),
        cmocka_unit_test_teardown(test_leave_messages_user_left_only, teardown_one_form),
        cmocka_unit_test_teardown(test_leave_messages_user_left_presence_only, teardown_one_form),
    };
    return PDT_SUITE(tests, &srv, server_args, 100);
}
