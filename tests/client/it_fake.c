/*
 * libpresence against a scripted server, for what the real one does not do
 * on demand: permission_revoked and a foreign REPLACED close stop the
 * client; a malformed message, presence before the snapshot and an HTTP
 * refusal are reported and retried; the same _pk and a fresh token go out
 * on every connection; pings are sent and an unanswered one ends the
 * connection; a reset is a lost connection; server errors, unknown messages, resynchronising snapshots
 * and large snapshots are handled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "fake.h"
#include "harness.h"

static uv_loop_t loop;

/* Waits (on the fake's thread) for the client's close, so scripts end tidily. */
static void drain(ct_fake_conn_t *c)
{
    char *m;
    while ((m = ct_fake_recv(c, 3000)))
        free(m);
}

/* ---- Stops. ---- */

static void script_revoke(ct_fake_conn_t *c, int n, void *arg)
{
    if (ct_fake_upgrade(c) != 0)
        return;
    ct_fake_send(c, CT_FAKE_SNAPSHOT("u1"));
    ct_fake_send(c, "{\"type\":\"permission_revoked\",\"reason\":\"removed from the workspace\"}");
    ct_fake_close(c, 1008, "AUTH_FORBIDDEN");
}

static void test_permission_revoked_stops(void **state)
{
    ct_fake_t *f = ct_fake_start(script_revoke, NULL);
    ct_client_t *a = ct_client_new(&loop, ct_fake_url(f), "f", "u1", NULL, NULL);
    ct_follow_try(a, "nobody");
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_STOPPED) == 1, CT_WAIT_MS);
    const ct_event_t *e = ct_last(a, PRESENCE_EV_STOPPED);
    assert_int_equal(e->reason, PRESENCE_ERR_REVOKED);
    assert_string_equal(e->detail, "removed from the workspace");
    ct_wait_idle(&loop, 5000); /* nothing scheduled: no retry */
    assert_int_equal(ct_fake_accepted(f), 1);
    assert_int_equal(a->token_calls, 1);
    assert_int_equal(presence_client_state(a->c), PRESENCE_STOPPED);
    ct_client_close(a);
    ct_fake_stop(f);
}

static void script_replace(ct_fake_conn_t *c, int n, void *arg)
{
    if (ct_fake_upgrade(c) != 0)
        return;
    ct_fake_send(c, CT_FAKE_SNAPSHOT("u1"));
    ct_fake_close(c, 1000, "REPLACED");
}

static void test_replaced_stops(void **state)
{
    ct_fake_t *f = ct_fake_start(script_replace, NULL);
    ct_client_t *a = ct_client_new(&loop, ct_fake_url(f), "f", "u1", NULL, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_STOPPED) == 1, CT_WAIT_MS);
    assert_int_equal(ct_last(a, PRESENCE_EV_STOPPED)->reason, PRESENCE_ERR_REPLACED);
    assert_string_equal(ct_last(a, PRESENCE_EV_STOPPED)->detail, "close 1000 REPLACED");
    ct_wait_idle(&loop, 5000); /* nothing scheduled: no retry */
    assert_int_equal(ct_fake_accepted(f), 1);
    ct_client_close(a);
    ct_fake_stop(f);
}

/* ---- Failures that are retried. ---- */

/* 0: refused with 404; 1: not JSON; 2: presence before the snapshot; 3: fine. */
static void flaky(ct_fake_conn_t *c, int n, void *arg)
{
    if (n == 0) {
        ct_fake_refuse(c, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                          "Content-Length: 21\r\nConnection: close\r\n\r\n"
                          "{\"error\":\"not found\"}");
        return;
    }
    if (ct_fake_upgrade(c) != 0)
        return;
    if (n == 1)
        ct_fake_send(c, "this is not json");
    else if (n == 2)
        ct_fake_send(c, "{\"type\":\"user_left\",\"userId\":\"u2\"}");
    else
        ct_fake_send(c, CT_FAKE_SNAPSHOT("u1"));
    drain(c);
}

static void test_refusals_are_reported_and_retried(void **state)
{
    ct_fake_t *f = ct_fake_start(flaky, NULL);
    ct_client_t *a = ct_client_new(&loop, ct_fake_url(f), "f", "u1", NULL, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, CT_WAIT_MS);
    assert_int_equal(a->events[0].reason, PRESENCE_ERR_HANDSHAKE);
    assert_string_equal(a->events[0].detail, "HTTP 404 Not Found: {\"error\":\"not found\"}");
    assert_int_equal(a->events[1].reason, PRESENCE_ERR_PROTOCOL);
    assert_string_equal(a->events[1].detail, "a message from the server is not a JSON object");
    assert_int_equal(a->events[2].reason, PRESENCE_ERR_PROTOCOL);
    assert_string_equal(a->events[2].detail, "the server sent presence before the snapshot");
    for (int i = 0; i < 3; i++)
        assert_int_equal(a->events[i].type, PRESENCE_EV_DISCONNECTED);
    ct_client_close(a);
    ct_fake_stop(f);
}

/* ---- What the client sends. ---- */

static char *numbered_token(ct_client_t *cc, presence_token_reason_t why)
{
    char *t = malloc(32);
    snprintf(t, 32, "token-%d", cc->token_calls);
    return t;
}

/* Admits, checks the client's first messages, then drops it (1001) to make it reconnect. */
static void admit_then_drain(ct_fake_conn_t *c, int n, void *arg)
{
    char **first = arg;
    if (ct_fake_upgrade(c) != 0)
        return;
    ct_fake_send(c, CT_FAKE_SNAPSHOT("u1"));
    char *m = ct_fake_recv(c, 3000);
    if (n < 3 && m) {
        free(first[n]);
        first[n] = m;
        m = NULL;
    }
    free(m);
    ct_fake_close(c, 1001, "going away");
}

static void set_location_and_key(presence_options_t *o, void *arg)
{
    o->connection_key = "my-key";
    o->ping_interval_ms = 0;
}

static void test_same_key_and_fresh_token_each_time(void **state)
{
    char *first[3] = {NULL, NULL, NULL};
    ct_fake_t *f = ct_fake_start(admit_then_drain, first);
    ct_client_t *a = ct_client_new(&loop, ct_fake_url(f), "ws-f", "u1", set_location_and_key, NULL);
    a->token_fn = numbered_token;
    presence_client_update(a->c, "/w/ws-f/documents/1", "document", "1");
    /* The fake serves one connection at a time: a 4th means the 3rd script is done. */
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) >= 4, 10000);
    for (int i = 0; i < 3; i++) {
        char want[32];
        assert_string_equal(ct_fake_target(f, i), "/parties/presence/ws-f?_pk=my-key");
        snprintf(want, sizeof want, "Bearer token-%d", i + 1);
        assert_string_equal(ct_fake_authorization(f, i), want);
    }
    ct_client_close(a);
    ct_fake_stop(f);
    /* The location went out again on every connection, first thing after the snapshot. */
    for (int i = 0; i < 3; i++) {
        assert_non_null(first[i]);
        assert_string_equal(first[i], "{\"type\":\"presence_update\",\"currentPath\":"
                                      "\"/w/ws-f/documents/1\",\"resourceType\":\"document\","
                                      "\"resourceId\":\"1\"}");
        free(first[i]);
    }
}

/* Answers the first two pings, then goes silent. */
static void pong_twice(ct_fake_conn_t *c, int n, void *arg)
{
    int *pings = arg;
    if (n > 0 || ct_fake_upgrade(c) != 0)
        return;
    ct_fake_send(c, CT_FAKE_SNAPSHOT("u1"));
    char *m;
    while ((m = ct_fake_recv(c, 3000))) {
        char want[64];
        snprintf(want, sizeof want, "{\"type\":\"ping\",\"id\":%d}", *pings + 1);
        if (strcmp(m, want) == 0 && ++*pings <= 2) {
            char pong[64];
            snprintf(pong, sizeof pong, "{\"type\":\"pong\",\"id\":%d}", *pings);
            ct_fake_send(c, pong);
        }
        free(m);
        if (*pings > 2)
            break;
    }
    drain(c);
}

static void fast_pings(presence_options_t *o, void *arg)
{
    o->ping_interval_ms = 100;
    o->pong_timeout_ms = 1000;
}

static void test_unanswered_ping_ends_connection(void **state)
{
    int pings = 0;
    ct_fake_t *f = ct_fake_start(pong_twice, &pings);
    ct_client_t *a = ct_client_new(&loop, ct_fake_url(f), "f", "u1", fast_pings, &pings);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_DISCONNECTED) == 1, CT_WAIT_MS);
    const ct_event_t *e = ct_last(a, PRESENCE_EV_DISCONNECTED);
    assert_int_equal(e->reason, PRESENCE_ERR_TIMEOUT);
    assert_string_equal(e->detail, "no pong within 1000 ms");
    assert_int_equal(pings, 3);
    ct_client_close(a);
    ct_fake_stop(f);
}

/* A reset is the connection lost (PRESENCE_ERR_CLOSED), not an I/O fault, and is retried. */
static void script_reset(ct_fake_conn_t *c, int n, void *arg)
{
    if (ct_fake_upgrade(c) != 0)
        return;
    ct_fake_send(c, CT_FAKE_SNAPSHOT("u1"));
    if (n > 0) {
        drain(c);
        return;
    }
    /* Its update says the snapshot was read: nothing of ours is left unread when the reset lands. */
    free(ct_fake_recv(c, 5000));
    ct_fake_reset(c);
}

static void test_reset_is_a_lost_connection(void **state)
{
    ct_fake_t *f = ct_fake_start(script_reset, NULL);
    ct_client_t *a = ct_client_new(&loop, ct_fake_url(f), "f", "u1", NULL, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, CT_WAIT_MS);
    presence_client_update(a->c, "/w/f/here", NULL, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_DISCONNECTED) == 1, CT_WAIT_MS);
    const ct_event_t *e = ct_last(a, PRESENCE_EV_DISCONNECTED);
    assert_int_equal(e->reason, PRESENCE_ERR_CLOSED);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 2, CT_WAIT_MS);
    ct_client_close(a);
    ct_fake_stop(f);
}

/* ---- What the server may send. ---- */

static void chatty(ct_fake_conn_t *c, int n, void *arg)
{
    if (ct_fake_upgrade(c) != 0)
        return;
    ct_fake_send(c, CT_FAKE_SNAPSHOT("u1"));
    ct_fake_send(c, "{\"type\":\"user_joined\",\"userId\":\"u2\",\"userName\":\"Bo\","
                    "\"userImage\":\"https://i/b.png\"}");
    ct_fake_send(c, "{\"type\":\"a_future_message\",\"userId\":\"u2\"}");
    ct_fake_send(c, "{\"type\":\"error\",\"code\":\"BAD_MESSAGE\",\"message\":\"currentPath "
                    "must be a string\"}");
    /* A resynchronisation with 300 users: far more than one 4 KiB message. */
    pd_buf_t b = PD_BUF_INIT;
    pd_buf_append_cstr(&b, "{\"type\":\"presence_snapshot\",\"self\":{\"userId\":\"u1\"},"
                           "\"users\":[");
    for (int i = 0; i < 300; i++)
        pd_buf_appendf(&b,
                       "%s{\"userId\":\"m%d\",\"userName\":\"Member %d\",\"userImage\":null,"
                       "\"currentPath\":\"/w/f/tasks/%d\",\"resourceType\":\"task\"}",
                       i ? "," : "", i, i, i);
    pd_buf_append_cstr(&b, "]}");
    ct_fake_send(c, b.base);
    pd_buf_free(&b);
    drain(c);
}

static void test_server_messages(void **state)
{
    ct_fake_t *f = ct_fake_start(chatty, NULL);
    ct_client_t *a = ct_client_new(&loop, ct_fake_url(f), "f", "u1", NULL, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_SNAPSHOT) == 2, CT_WAIT_MS);
    assert_int_equal(ct_count(a, PRESENCE_EV_JOINED), 1);
    const ct_event_t *e = ct_last(a, PRESENCE_EV_SERVER_ERROR);
    assert_non_null(e);
    assert_string_equal(e->code, "BAD_MESSAGE");
    assert_string_equal(e->detail, "currentPath must be a string");
    assert_int_equal(ct_count(a, PRESENCE_EV_DISCONNECTED), 0);
    /* The second snapshot replaced the map: u2 is gone, 300 members are in. */
    assert_int_equal(presence_client_count(a->c), 300);
    assert_null(presence_client_user(a->c, "u2"));
    assert_string_equal(ct_where(a, "m299"), "/w/f/tasks/299|task|");
    size_t iter = 0, n = 0;
    while (presence_client_next(a->c, &iter))
        n++;
    assert_int_equal(n, 300);
    ct_client_close(a);
    ct_fake_stop(f);
}

int main(void)
{
    pdt_watchdog(120);
    const struct CMUnitTest tests[] = {
        CT_TEST(test_permission_revoked_stops, &loop),
        CT_TEST(test_replaced_stops, &loop),
        CT_TEST(test_refusals_are_reported_and_retried, &loop),
        CT_TEST(test_same_key_and_fresh_token_each_time, &loop),
        CT_TEST(test_unanswered_ping_ends_connection, &loop),
        CT_TEST(test_reset_is_a_lost_connection, &loop),
        CT_TEST(test_server_messages, &loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
