/*
 * Admission through the app's verify endpoint (--verify-url), against a
 * real HTTP endpoint on Node.js (tests/support/verify-endpoint.mjs) whose
 * answer each token scripts: the identity it gives, every way it can fail
 * (401, 403, 500, a body that is not the JSON, too slow, down), the exact
 * request presenced sends, messages sent while a check is in flight, a
 * storm of handshakes that must not stall the loop, the cache, live expiry
 * with token_refresh checked by the endpoint, reconnects within the linger,
 * metrics, and tokens kept out of logs.
 *
 * Every token names its test, so the endpoint's per-token counts belong to
 * one test. Tests that need other settings start a second server of their
 * own and stop it at their end, checking that it drains and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pdt_endpoint.h"
#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

#define VERIFY_HEADER "X-Verify-Secret: s3cret-Hdr"
#define VERIFY_HEADER_2 "X-Second: two"
/* How long a reply may take while the loop is busy: a liveness bound, not a benchmark. */
#define LIVENESS_MS 2000
#define STORM 500
#define STORM_ROOMS 25

static pdt_server_t srv;
static pdt_endpoint_t ep;

/* A server with other settings, started and stopped by one test. */
static pdt_extra_t extra;

#define UPDATE_FMT "{\"type\":\"presence_update\",\"currentPath\":\"%s\"}"

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- tokens: the endpoint reads them (see verify-endpoint.mjs) ---- */

static const char *tok_ok(const char *user, const char *name, const char *tag)
{
    return pdt_fmt("ok:%s:%s:%s", user, name, tag);
}

static const char *tok_slow(int ms, const char *user, const char *name, const char *tag)
{
    return pdt_fmt("slow:%d:ok:%s:%s:%s", ms, user, name, tag);
}

/* ---- connecting ---- */

static pdt_ws_t *open_tok(int port, const char *ws, const char *token, const char *label)
{
    pdt_ws_opts_t o = {.workspace = ws, .token = token, .label = label};
    return pdt_ws_open(port, &o);
}

static pdt_ws_t *join_tok(int port, const char *ws, const char *token, const char *label)
{
    pdt_ws_t *c = open_tok(port, ws, token, label);
    pdt_expect(c, "presence_snapshot");
    return c;
}

static const char *self_id(const pdt_ws_t *c)
{
    return pdt_str(cJSON_GetObjectItemCaseSensitive(pdt_last(c), "self"), "userId");
}

/* The admission failure: one message of type with code, then close close_code with code as reason. */
static void expect_refused(pdt_ws_t *c, const char *type, const char *code, int close_code)
{
    assert_field(pdt_expect_within(c, type, PDT_WAIT_MS), "code", code);
    pdt_expect_close(c, close_code, code);
}

static void expect_unavailable(pdt_ws_t *c)
{
    expect_refused(c, "error", "SERVICE_UNAVAILABLE", 1013);
}

static void expect_pong(pdt_ws_t *c, int id, int ms)
{
    const cJSON *m = pdt_expect_within(c, "pong", ms);
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(m, "id");
    if (!cJSON_IsNumber(got) || got->valueint != id)
        fail_msg("%s: expected pong %d, got %s", c->label, id, cJSON_PrintUnformatted(m));
}

static void expect_changed(pdt_ws_t *c, const char *user, const char *path, int ms)
{
    const cJSON *m = pdt_expect_within(c, "presence_changed", ms);
    assert_field(m, "userId", user);
    assert_field(m, "currentPath", path);
}

static int count_of(const char *token)
{
    return pdt_endpoint_count(&ep, token);
}

/* ---- teardown ---- */

static int teardown(void **state)
{
    pdt_teardown(state);
    pdt_extra_discard(&extra);
    return 0;
}

#define TEST(f) cmocka_unit_test_teardown(f, teardown)

/* ---- metrics ---- */

/* The /metrics text, kept until the test's teardown. */
static const char *metrics_text(int port)
{
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(port, "/metrics", &resp), 200);
    const char *text = pdt_fmt("%s", pdt_http_body(resp.base));
    pd_buf_free(&resp);
    return text;
}

/* ---- identity from the endpoint ---- */

static void test_identity_from_endpoint(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-id", tok_ok("bob", "Bob", "id"), "bob");
    assert_string_equal(self_id(bob), "bob");
    pdt_ws_t *ann = join_tok(srv.port, "v-id", pdt_fmt("ok-img:ann:Ann:id"), "ann");
    assert_string_equal(self_id(ann), "ann");
    const cJSON *e = pdt_snapshot_user(pdt_last(ann), "bob");
    assert_non_null(e);
    assert_field(e, "userName", "Bob");
    assert_field(e, "userImage", PDT_JSON_NULL);
    const cJSON *m = pdt_expect(bob, "user_joined");
    assert_field(m, "userId", "ann");
    assert_field(m, "userName", "Ann");
    assert_field(m, "userImage", "https://img.example/ann.png");

    pdt_ws_t *cy = join_tok(srv.port, "v-id", "ok-noname:cy:id", "cy");
    assert_string_equal(self_id(cy), "cy");
    assert_field(pdt_snapshot_user(pdt_last(cy), "ann"), "userImage",
                 "https://img.example/ann.png");
    pdt_ws_t *receivers[] = {bob, ann};
    for (int i = 0; i < 2; i++) {
        m = pdt_expect(receivers[i], "user_joined");
        assert_field(m, "userId", "cy");
        assert_field(m, "userName", "Unknown");
        assert_field(m, "userImage", PDT_JSON_NULL);
    }
    pdt_ws_t *dee = join_tok(srv.port, "v-id", tok_ok("dee", "Dee", "id"), "dee");
    assert_int_equal(pdt_snapshot_count(pdt_last(dee)), 3);
    assert_field(pdt_snapshot_user(pdt_last(dee), "cy"), "userName", "Unknown");
    /* Every presence_changed carries the endpoint's name and image. */
    pdt_sendf(ann, UPDATE_FMT, "/w/v-id/tasks/5");
    pdt_ws_t *others[] = {bob, cy};
    for (int i = 0; i < 2; i++) {
        m = pdt_wait_type(others[i], "presence_changed", PDT_WAIT_MS);
        assert_field(m, "userId", "ann");
        assert_field(m, "userName", "Ann");
        assert_field(m, "userImage", "https://img.example/ann.png");
    }
    m = pdt_expect(dee, "presence_changed");
    assert_field(m, "userImage", "https://img.example/ann.png");
}

static void test_request_contract(void **state)
{
    const char *token = tok_ok("dan", "Dan", "contract");
    join_tok(srv.port, "v-contract", token, "dan");
    assert_int_equal(count_of(token), 1);
    cJSON *last = pdt_endpoint_last(&ep, token);
    assert_non_null(last);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(last, "headers");
    assert_field(last, "method", "POST");
    assert_field(last, "url", "/verify");
    assert_field(last, "body", "{\"roomId\":\"presence-v-contract\"}");
    assert_field(h, "authorization", pdt_fmt("Bearer %s", token));
    assert_field(h, "content-type", "application/json");
    assert_field(h, "x-verify-secret", "s3cret-Hdr");
    assert_field(h, "x-second", "two");
    cJSON_Delete(last);
}

static void test_token_from_authorization_header(void **state)
{
    const char *token = tok_ok("eve", "Eve", "hdr");
    pdt_ws_opts_t o = {.workspace = "v-hdr", .label = "eve"};
    o.headers = pdt_fmt("Authorization: Bearer %s\r\n", token);
    pdt_ws_t *eve = pdt_ws_open(srv.port, &o);
    pdt_expect(eve, "presence_snapshot");
    assert_string_equal(self_id(eve), "eve");
    assert_int_equal(count_of(token), 1);

    /* Both given: the query's token is the one checked. */
    const char *header_token = tok_ok("mallory", "Mal", "hdr");
    o.token = tok_ok("fay", "Fay", "hdr");
    o.headers = pdt_fmt("Authorization: Bearer %s\r\n", header_token);
    pdt_ws_t *fay = pdt_ws_open(srv.port, &o);
    pdt_expect(fay, "presence_snapshot");
    assert_string_equal(self_id(fay), "fay");
    assert_int_equal(count_of(header_token), 0);
}

/* ---- the endpoint refuses or fails ---- */

static void test_401_is_auth_invalid(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-401", tok_ok("bob", "Bob", "401"), "bob");
    expect_refused(open_tok(srv.port, "v-401", "401:v-401", "x"), "auth_error", "AUTH_INVALID",
                   1008);
    assert_int_equal(count_of("401:v-401"), 1);
    pdt_expect_none(bob, NULL);
}

static void test_403_is_auth_forbidden(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-403", tok_ok("bob", "Bob", "403"), "bob");
    expect_refused(open_tok(srv.port, "v-403", "403:v-403", "x"), "auth_error", "AUTH_FORBIDDEN",
                   1008);
    pdt_expect_none(bob, NULL);
}

static void test_500_is_unavailable(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-500", tok_ok("bob", "Bob", "500"), "bob");
    expect_unavailable(open_tok(srv.port, "v-500", "500:v-500", "x"));
    pdt_expect_none(bob, NULL);
}

static void test_bad_answers_are_unavailable(void **state)
{
    const char *tokens[] = {"garbage:v-bad", "nouser:v-bad"};
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
        expect_unavailable(open_tok(srv.port, "v-bad", tokens[i], tokens[i]));
    /* A kind the endpoint does not know answers 418: any status but 200/401/403. */
    expect_unavailable(open_tok(srv.port, "v-bad", "teapot:v-bad", "teapot"));
    assert_int_equal(count_of("teapot:v-bad"), 1);
}

static void test_failures_are_not_cached(void **state)
{
    const char *tokens[] = {"500:v-nocache", "401:v-nocache"};
    for (int round = 0; round < 2; round++) {
        expect_unavailable(open_tok(srv.port, "v-nocache", tokens[0], "five"));
        expect_refused(open_tok(srv.port, "v-nocache", tokens[1], "four"), "auth_error",
                       "AUTH_INVALID", 1008);
    }
    assert_int_equal(count_of(tokens[0]), 2);
    assert_int_equal(count_of(tokens[1]), 2);
}

static void test_slow_beyond_timeout(void **state)
{
    const char *args[] = {"--verify-url", ep.url, "--verify-timeout", "0.5", NULL};
    pdt_extra_start(&extra, args);
    /* The endpoint would answer after 5 s; the 0.5 s timeout must end the wait long before. */
    pdt_ws_t *late =
        open_tok(extra.srv.port, "v-slow", tok_slow(5000, "late", "Late", "slow"), "late");
    assert_field(pdt_expect_within(late, "error", 3000), "code", "SERVICE_UNAVAILABLE");
    pdt_expect_close(late, 1013, "SERVICE_UNAVAILABLE");
    pdt_ws_t *hung = open_tok(extra.srv.port, "v-slow", "hang:v-slow", "hung");
    assert_field(pdt_expect_within(hung, "error", 3000), "code", "SERVICE_UNAVAILABLE");
    pdt_expect_close(hung, 1013, "SERVICE_UNAVAILABLE");
    assert_int_equal(count_of("hang:v-slow"), 1);
    /* A client that leaves while its check hangs: the request is abandoned. */
    pdt_ws_drop(open_tok(extra.srv.port, "v-slow", "hang:v-slow-2", "gone"));
    pdt_ws_drop(open_tok(extra.srv.port, "v-slow", tok_slow(300, "gone", "Gone", "slow"), "gone"));
    /* The server goes on admitting once the endpoint answers in time. */
    join_tok(extra.srv.port, "v-slow", tok_ok("ok", "Ok", "slow"), "ok");
    pdt_pump(400);
    pdt_extra_stop(&extra);
}

static void test_endpoint_down(void **state)
{
    int port = pdt_closed_port();
    assert_true(port > 0);
    const char *args[] = {"--verify-url", pdt_fmt("http://127.0.0.1:%d/verify", port), NULL};
    pdt_extra_start(&extra, args);
    expect_unavailable(open_tok(extra.srv.port, "v-down", tok_ok("ann", "Ann", "down"), "ann"));
    expect_unavailable(open_tok(extra.srv.port, "v-down", tok_ok("bob", "Bob", "down"), "bob"));
    assert_true(pdt_http_metric(extra.srv.port, "presenced_verify_failures_total") >= 2);
    pdt_extra_stop(&extra);
}

/*
 * One request at a time and a 1 s deadline: the second handshake waits in
 * the queue for the first (0.6 s), so its own 0.6 s cannot fit in its
 * deadline, whether it fails in the queue or in flight.
 */
static void test_queue_has_a_deadline(void **state)
{
    const char *args[] = {
        "--verify-url", ep.url, "--verify-timeout", "1", "--verify-max-inflight", "1", NULL};
    pdt_extra_start(&extra, args);
    cJSON_Delete(pdt_endpoint_stats(&ep, 1));
    pdt_ws_t *first = open_tok(extra.srv.port, "v-queue", tok_slow(600, "qa", "Qa", "queue"), "qa");
    pdt_ws_t *second =
        open_tok(extra.srv.port, "v-queue", tok_slow(600, "qb", "Qb", "queue"), "qb");
    pdt_expect(first, "presence_snapshot");
    expect_unavailable(second);
    cJSON *stats = pdt_endpoint_stats(&ep, 0);
    assert_int_equal(pdt_json_int(stats, "maxInflight"), 1);
    cJSON_Delete(stats);
    pdt_extra_stop(&extra);
}

/* ---- messages sent while the check is in flight ---- */

static void test_update_right_after_open_is_applied(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-early", tok_ok("bob", "Bob", "early"), "bob");
    pdt_ws_t *alice =
        open_tok(srv.port, "v-early", tok_slow(1000, "alice", "Alice", "early"), "alice");
    pdt_sendf(alice, UPDATE_FMT, "/w/v-early/documents/42");
    const cJSON *snap = pdt_expect(alice, "presence_snapshot");
    assert_int_equal(pdt_snapshot_count(snap), 1);
    assert_field(pdt_expect(bob, "user_joined"), "userId", "alice");
    const cJSON *m = pdt_expect(bob, "presence_changed");
    assert_field(m, "userId", "alice");
    assert_field(m, "userName", "Alice");
    assert_field(m, "currentPath", "/w/v-early/documents/42");
    pdt_expect_none(alice, NULL);

    pdt_ws_t *carol = join_tok(srv.port, "v-early", tok_ok("carol", "Carol", "early"), "carol");
    assert_field(pdt_snapshot_user(pdt_last(carol), "alice"), "currentPath",
                 "/w/v-early/documents/42");
    /* A second tab of the sender learns its own location from its snapshot. */
    pdt_ws_t *alice2 = join_tok(srv.port, "v-early", tok_ok("alice", "Alice", "early-2"), "alice2");
    assert_field(pdt_snapshot_user(pdt_last(alice2), "alice"), "currentPath",
                 "/w/v-early/documents/42");
}

static void test_pending_messages_in_order(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-order", tok_ok("bob", "Bob", "order"), "bob");
    /* The first update comes in the same segment as the upgrade request. */
    pdt_ws_opts_t o = {.workspace = "v-order", .label = "alice"};
    o.token = tok_slow(1000, "alice", "Alice", "order");
    o.early = "{\"type\":\"presence_update\",\"currentPath\":\"/a\"}";
    pdt_ws_t *alice = pdt_ws_open(srv.port, &o);
    pdt_send(alice, "{\"type\":\"ping\",\"id\":1}");
    pdt_sendf(alice, UPDATE_FMT, "/b");
    pdt_expect(alice, "presence_snapshot");
    expect_pong(alice, 1, PDT_WAIT_MS);
    pdt_expect(bob, "user_joined");
    expect_changed(bob, "alice", "/a", PDT_WAIT_MS);
    expect_changed(bob, "alice", "/b", PDT_WAIT_MS);
    pdt_expect_none(bob, alice);
    pdt_assert_quiet(alice);
    pdt_ws_t *carol = join_tok(srv.port, "v-order", tok_ok("carol", "Carol", "order"), "carol");
    assert_field(pdt_snapshot_user(pdt_last(carol), "alice"), "currentPath", "/b");
}

/*
 * Past --max-pending-messages (32) later messages are dropped, but the
 * newest presence_update is kept and applied last.
 */
static void test_pending_overflow_keeps_newest_update(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-overflow", tok_ok("bob", "Bob", "overflow"), "bob");
    pdt_ws_t *alice =
        open_tok(srv.port, "v-overflow", tok_slow(1000, "alice", "Alice", "overflow"), "alice");
    for (int i = 1; i <= 33; i++)
        pdt_sendf(alice, "{\"type\":\"ping\",\"id\":%d}", i);
    pdt_sendf(alice, UPDATE_FMT, "/x");
    pdt_sendf(alice, UPDATE_FMT, "/y");
    pdt_send(alice, "{\"type\":\"ping\",\"id\":34}");
    pdt_expect(alice, "presence_snapshot");
    for (int i = 1; i <= 32; i++)
        expect_pong(alice, i, PDT_WAIT_MS);
    pdt_expect(bob, "user_joined");
    expect_changed(bob, "alice", "/y", PDT_WAIT_MS);
    pdt_expect_none(bob, alice);
    pdt_assert_quiet(alice);
}

/*
 * The bound is in bytes too (--max-pending-bytes, 16 KiB): four pings of
 * 3.5 KiB fit, the next four do not, a small one after them still does, and
 * the newest update is kept.
 */
static void test_pending_bytes_bounded(void **state)
{
    char pad[3500];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    pdt_ws_t *bob = join_tok(srv.port, "v-bytes", tok_ok("bob", "Bob", "bytes"), "bob");
    pdt_ws_t *alice =
        open_tok(srv.port, "v-bytes", tok_slow(1000, "alice", "Alice", "bytes"), "alice");
    for (int i = 1; i <= 8; i++)
        pdt_sendf(alice, "{\"type\":\"ping\",\"id\":\"%d%s\"}", i, pad);
    pdt_sendf(alice, UPDATE_FMT, "/newest");
    pdt_send(alice, "{\"type\":\"ping\",\"id\":99}");
    pdt_expect(alice, "presence_snapshot");
    for (int i = 1; i <= 4; i++) {
        const char *id = pdt_str(pdt_expect(alice, "pong"), "id");
        if (!id || atoi(id) != i)
            fail_msg("pong %d: got id %.8s", i, id ? id : "(none)");
    }
    expect_pong(alice, 99, PDT_WAIT_MS); /* pings 5-8 were dropped */
    pdt_expect(bob, "user_joined");
    expect_changed(bob, "alice", "/newest", PDT_WAIT_MS);
}

static void test_failed_admission_discards_pending(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-discard", tok_ok("bob", "Bob", "discard"), "bob");
    pdt_ws_t *mal = open_tok(srv.port, "v-discard", "slow:800:401:v-discard", "mal");
    pdt_ws_t *eve = open_tok(srv.port, "v-discard", "slow:800:500:v-discard", "eve");
    pdt_ws_t *senders[] = {mal, eve};
    for (int i = 0; i < 2; i++) {
        pdt_sendf(senders[i], UPDATE_FMT, "/secret");
        pdt_send(senders[i], "{\"type\":\"ping\",\"id\":1}");
    }
    expect_refused(mal, "auth_error", "AUTH_INVALID", 1008);
    expect_unavailable(eve);
    pdt_expect_none(bob, NULL);
    pdt_ws_t *carol = join_tok(srv.port, "v-discard", tok_ok("carol", "Carol", "discard"), "carol");
    assert_int_equal(pdt_snapshot_count(pdt_last(carol)), 1);
    assert_non_null(pdt_snapshot_user(pdt_last(carol), "bob"));
}

/* A client gone before its check ends never joins, with or without a close frame. */
static void test_gone_during_check_never_joins(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-gone", tok_ok("bob", "Bob", "gone"), "bob");
    pdt_ws_t *clean =
        open_tok(srv.port, "v-gone", tok_slow(500, "alice", "Alice", "gone-1"), "clean");
    pdt_sendf(clean, UPDATE_FMT, "/never");
    pdt_ws_close(clean);
    pdt_ws_t *dropped =
        open_tok(srv.port, "v-gone", tok_slow(500, "carol", "Carol", "gone-2"), "dropped");
    pdt_sendf(dropped, UPDATE_FMT, "/never");
    pdt_ws_drop(dropped);
    pdt_expect_silence(bob, 1000);
    pdt_ws_t *dave = join_tok(srv.port, "v-gone", tok_ok("dave", "Dave", "gone"), "dave");
    assert_int_equal(pdt_snapshot_count(pdt_last(dave)), 1);
}

/* ---- a storm of handshakes does not stall the loop ---- */

/* Whether the server has verify requests in flight or queued right now. */
static int verify_busy(void)
{
    const char *text = metrics_text(srv.port);
    return pdt_metric(text, "presenced_verify_inflight") +
               pdt_metric(text, "presenced_verify_queued") >
           0;
}

/* One update and one ping each way, every answer within the liveness bound. */
static void exchange(pdt_ws_t *a, pdt_ws_t *b, int round)
{
    const char *pa = pdt_fmt("/storm/a/%d", round), *pb = pdt_fmt("/storm/b/%d", round);
    pdt_sendf(a, UPDATE_FMT, pa);
    expect_changed(b, "alice", pa, LIVENESS_MS);
    pdt_sendf(b, "{\"type\":\"ping\",\"id\":%d}", round);
    expect_pong(b, round, LIVENESS_MS);
    pdt_sendf(b, UPDATE_FMT, pb);
    expect_changed(a, "bob", pb, LIVENESS_MS);
    pdt_sendf(a, "{\"type\":\"ping\",\"id\":%d}", round);
    expect_pong(a, round, LIVENESS_MS);
}

/* Takes the snapshots that have arrived; returns how many members are admitted. */
static int collect_snapshots(pdt_ws_t **crowd, int *admitted)
{
    int n = 0;
    for (int i = 0; i < STORM; i++) {
        if (!admitted[i] && pdt_pending(crowd[i]) > 0) {
            pdt_expect_within(crowd[i], "presence_snapshot", 0);
            assert_string_equal(self_id(crowd[i]), pdt_fmt("s%d", i));
            admitted[i] = 1;
        }
        n += admitted[i];
    }
    return n;
}

static void test_storm_does_not_block_the_loop(void **state)
{
    static pdt_ws_t *crowd[STORM];
    static int admitted[STORM];
    pdt_ws_t *alice = join_tok(srv.port, "v-storm", tok_ok("alice", "Alice", "storm"), "alice");
    pdt_ws_t *bob = join_tok(srv.port, "v-storm", tok_ok("bob", "Bob", "storm"), "bob");
    pdt_expect(alice, "user_joined");
    cJSON_Delete(pdt_endpoint_stats(&ep, 1));
    int round = 0, busy_rounds = 0, n = 0;
    memset(admitted, 0, sizeof(admitted));
    for (int i = 0; i < STORM; i++) {
        const char *ws = pdt_fmt("v-storm-%d", i % STORM_ROOMS);
        crowd[i] = open_tok(srv.port, ws, tok_slow(300, pdt_fmt("s%d", i), "S", "storm"), "s");
        if (i % 50 == 49) {
            busy_rounds += verify_busy();
            exchange(alice, bob, ++round);
        }
    }
    long deadline = now_ms() + 30000;
    while ((n = collect_snapshots(crowd, admitted)) < STORM && now_ms() < deadline) {
        busy_rounds += verify_busy();
        exchange(alice, bob, ++round);
        pdt_pump(100);
    }
    if (n < STORM)
        fail_msg("%d of %d handshakes admitted within 30 s", n, STORM);
    /* The exchanges above ran while handshakes were waiting for the endpoint. */
    assert_true(busy_rounds > 0);
    cJSON *stats = pdt_endpoint_stats(&ep, 0);
    long max_inflight = pdt_json_int(stats, "maxInflight");
    long conns = pdt_json_int(stats, "connections");
    cJSON_Delete(stats);
    if (max_inflight < 2 || max_inflight > 64)
        fail_msg("requests in flight at once: %ld (expected 2..64)", max_inflight);
    /* Kept-alive connections are reused: far fewer than one per request. */
    if (conns > 128)
        fail_msg("%ld connections to the endpoint for %d requests", conns, STORM);
    print_message("storm: %d exchanges, at most %ld requests in flight, %ld connections\n", round,
                  max_inflight, conns);
}

/* ---- the cache ---- */

/*
 * On a server of its own, so that what the cache does wrong cannot spill
 * into other tests: hits must not disturb the accounting of requests, so
 * a token the cache has never seen is still checked and admitted after
 * several hits.
 */
static void test_cache_hit(void **state)
{
    const char *args[] = {"--verify-url", ep.url, NULL};
    pdt_extra_start(&extra, args);
    const char *token = tok_ok("gus", "Gus", "cache");
    for (int i = 0; i < 3; i++) {
        pdt_ws_t *gus = join_tok(extra.srv.port, "v-cache", token, "gus");
        assert_string_equal(self_id(gus), "gus");
        pdt_ws_close(gus);
    }
    assert_int_equal(count_of(token), 1);
    const char *fresh = tok_ok("hank", "Hank", "cache");
    assert_string_equal(self_id(join_tok(extra.srv.port, "v-cache", fresh, "hank")), "hank");
    assert_int_equal(count_of(fresh), 1);
    const char *text = metrics_text(extra.srv.port);
    assert_true(pdt_metric(text, "presenced_verify_requests_total") == 2);
    assert_true(pdt_metric(text, "presenced_verify_cache_hits_total") == 2);
    if (pdt_metric(text, "presenced_verify_queued") != 0)
        fail_msg("presenced_verify_queued is %.0f with nothing queued",
                 pdt_metric(text, "presenced_verify_queued"));
    /* The room is part of the key: the same token for another workspace is checked. */
    join_tok(extra.srv.port, "v-cache-2", token, "gus2");
    assert_int_equal(count_of(token), 2);
    cJSON *last = pdt_endpoint_last(&ep, token);
    assert_field(last, "body", "{\"roomId\":\"presence-v-cache-2\"}");
    cJSON_Delete(last);
    pdt_extra_stop(&extra);
}

static void test_cache_off(void **state)
{
    const char *args[] = {"--verify-url", ep.url, "--verify-cache-ttl", "0", NULL};
    pdt_extra_start(&extra, args);
    const char *token = tok_ok("hal", "Hal", "nocache");
    pdt_ws_close(join_tok(extra.srv.port, "v-nocache", token, "hal"));
    join_tok(extra.srv.port, "v-nocache", token, "hal");
    assert_int_equal(count_of(token), 2);
    assert_true(pdt_http_metric(extra.srv.port, "presenced_verify_cache_hits_total") == 0);
    pdt_extra_stop(&extra);
}

static void test_cache_bounds(void **state)
{
    const char *args[] = {
        "--verify-url", ep.url, "--verify-cache-ttl", "2", "--verify-cache-max", "2", NULL};
    pdt_extra_start(&extra, args);
    const char *a = tok_ok("ua", "Ua", "bound"), *b = tok_ok("ub", "Ub", "bound"),
               *c = tok_ok("uc", "Uc", "bound"), *d = tok_ok("ud", "Ud", "bound");
    const char *order[] = {a, b, c, a};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        pdt_ws_close(join_tok(extra.srv.port, "v-bound", order[i], "u"));
    /* Three tokens in a cache of two: the oldest (a) went, so a was checked again. */
    assert_int_equal(count_of(a), 2);
    assert_int_equal(count_of(b), 1);
    assert_int_equal(count_of(c), 1);

    /*
     * A verification is reused for the TTL after it was made; using it does
     * not extend it: d is checked at 0 s, reused at 1.2 s, checked at 2.4 s.
     */
    pdt_ws_close(join_tok(extra.srv.port, "v-bound", d, "u"));
    pdt_pump(1200);
    pdt_ws_close(join_tok(extra.srv.port, "v-bound", d, "u"));
    assert_int_equal(count_of(d), 1);
    pdt_pump(1200);
    pdt_ws_close(join_tok(extra.srv.port, "v-bound", d, "u"));
    assert_int_equal(count_of(d), 2);
    pdt_extra_stop(&extra);
}

/* ---- live expiry and token_refresh through the endpoint ---- */

static void test_expiry_refresh_through_endpoint(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-exp", tok_ok("bob", "Bob", "exp"), "bob");
    pdt_ws_t *carl = join_tok(srv.port, "v-exp", "ok-exp:carl:Carl:1500:exp-1", "carl");
    pdt_expect(bob, "user_joined");
    assert_field(pdt_expect_within(carl, "error", 5000), "code", "TOKEN_REFRESH_REQUIRED");
    const char *fresh = "ok-exp:carl:Carl2:3600000:exp-2";
    pdt_sendf(carl, "{\"type\":\"token_refresh\",\"token\":\"%s\"}", fresh);
    const cJSON *m = pdt_expect(carl, "auth_ok");
    assert_field(m, "userId", "carl");
    assert_field(m, "userName", "Carl2");
    assert_int_equal(count_of(fresh), 1);
    cJSON *last = pdt_endpoint_last(&ep, fresh);
    assert_field(last, "body", "{\"roomId\":\"presence-v-exp\"}");
    cJSON_Delete(last);
    /* Past the 2 s grace of the old token: the refresh holds, nobody saw a flap. */
    pdt_expect_silence(carl, 2500);
    pdt_assert_quiet(bob);
    pdt_sendf(carl, UPDATE_FMT, "/after");
    m = pdt_expect(bob, "presence_changed");
    assert_field(m, "userName", "Carl2");
    assert_field(m, "userImage", PDT_JSON_NULL);
}

/* An expiresAt already past is refused as an expired JWT would be. */
static void test_expired_at_admission_refused(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-past", tok_ok("bob", "Bob", "past"), "bob");
    pdt_ws_t *dora = open_tok(srv.port, "v-past", "ok-exp:dora:Dora:-60000:past", "dora");
    expect_refused(dora, "auth_error", "AUTH_EXPIRED", 1008);
    pdt_expect_none(bob, NULL);
}

static void test_refresh_for_another_user_forbidden(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-other", tok_ok("bob", "Bob", "other"), "bob");
    pdt_ws_t *erin = join_tok(srv.port, "v-other", tok_ok("erin", "Erin", "other"), "erin");
    pdt_expect(bob, "user_joined");
    const char *other = tok_ok("mallory", "Mal", "other");
    pdt_sendf(erin, "{\"type\":\"token_refresh\",\"token\":\"%s\"}", other);
    expect_refused(erin, "auth_error", "AUTH_FORBIDDEN", 1008);
    assert_int_equal(count_of(other), 1);
    pdt_expect_leave(bob, "erin");
}

static void test_refresh_refused_or_unavailable(void **state)
{
    pdt_ws_t *frank = join_tok(srv.port, "v-refresh", tok_ok("frank", "Frank", "ref"), "frank");
    pdt_send(frank, "{\"type\":\"token_refresh\",\"token\":\"401:v-refresh\"}");
    expect_refused(frank, "auth_error", "AUTH_INVALID", 1008);

    pdt_ws_t *gina = join_tok(srv.port, "v-refresh", tok_ok("gina", "Gina", "ref"), "gina");
    pdt_send(gina, "{\"type\":\"token_refresh\",\"token\":\"500:v-refresh\"}");
    assert_field(pdt_expect(gina, "error"), "code", "SERVICE_UNAVAILABLE");
    pdt_send(gina, "{\"type\":\"ping\",\"id\":5}");
    expect_pong(gina, 5, PDT_WAIT_MS);
    pdt_send(gina, "{\"type\":\"token_refresh\",\"token\":\"403:v-refresh\"}");
    expect_refused(gina, "auth_error", "AUTH_FORBIDDEN", 1008);
}

/* ---- reconnects within the linger (2 s), checked by the endpoint ---- */

/* bob and alice (at /here) in ws; alice's socket then ends without a close frame. */
static pdt_ws_t *lingering_alice(const char *ws, const char *tag)
{
    pdt_ws_t *bob = join_tok(srv.port, ws, tok_ok("bob", "Bob", tag), "bob");
    pdt_ws_t *alice = join_tok(srv.port, ws, tok_ok("alice", "Alice", tag), "alice");
    pdt_expect(bob, "user_joined");
    pdt_sendf(alice, UPDATE_FMT, "/here");
    expect_changed(bob, "alice", "/here", PDT_WAIT_MS);
    pdt_ws_drop(alice);
    pdt_pump(200);
    return bob;
}

static void test_linger_reconnect_moved(void **state)
{
    pdt_ws_t *bob = lingering_alice("v-linger-moved", "moved");
    /* PartySocket sends its location on open, while the check is in flight. */
    pdt_ws_t *alice =
        open_tok(srv.port, "v-linger-moved", tok_slow(300, "alice", "Alice", "moved-2"), "alice");
    pdt_sendf(alice, UPDATE_FMT, "/there");
    pdt_expect(alice, "presence_snapshot");
    expect_changed(bob, "alice", "/there", PDT_WAIT_MS);
    pdt_expect_silence(bob, 2300);
    pdt_ws_t *carol =
        join_tok(srv.port, "v-linger-moved", tok_ok("carol", "Carol", "moved"), "carol");
    assert_field(pdt_snapshot_user(pdt_last(carol), "alice"), "currentPath", "/there");
}

static void test_linger_reconnect_same_place(void **state)
{
    pdt_ws_t *bob = lingering_alice("v-linger-same", "same");
    pdt_ws_t *alice =
        open_tok(srv.port, "v-linger-same", tok_slow(300, "alice", "Alice", "same-2"), "alice");
    pdt_sendf(alice, UPDATE_FMT, "/here");
    pdt_expect(alice, "presence_snapshot");
    pdt_expect_silence(bob, 2300);
    pdt_ws_t *carol =
        join_tok(srv.port, "v-linger-same", tok_ok("carol", "Carol", "same"), "carol");
    assert_field(pdt_snapshot_user(pdt_last(carol), "alice"), "currentPath", "/here");
}

static void test_pk_takeover_after_check(void **state)
{
    pdt_ws_t *bob = join_tok(srv.port, "v-pk", tok_ok("bob", "Bob", "pk"), "bob");
    pdt_ws_opts_t o = {.workspace = "v-pk", .pk = "tab-1", .label = "old"};
    o.token = tok_ok("alice", "Alice", "pk");
    pdt_ws_t *old = pdt_ws_open(srv.port, &o);
    pdt_expect(old, "presence_snapshot");
    pdt_expect(bob, "user_joined");
    pdt_sendf(old, UPDATE_FMT, "/kept");
    expect_changed(bob, "alice", "/kept", PDT_WAIT_MS);
    o.token = tok_slow(300, "alice", "Alice", "pk-2");
    o.label = "fresh";
    pdt_ws_t *fresh = pdt_ws_open(srv.port, &o);
    pdt_expect(fresh, "presence_snapshot");
    assert_field(cJSON_GetObjectItemCaseSensitive(pdt_last(fresh), "self"), "connectionId",
                 "tab-1");
    pdt_expect_close(old, 1000, "REPLACED");
    pdt_expect_none(bob, NULL);
    pdt_ws_t *carol = join_tok(srv.port, "v-pk", tok_ok("carol", "Carol", "pk"), "carol");
    assert_field(pdt_snapshot_user(pdt_last(carol), "alice"), "currentPath", "/kept");
}

/* ---- metrics and logs ---- */

static void test_metrics_count_verify_work(void **state)
{
    const char *before = metrics_text(srv.port);
    const char *token = tok_ok("ivy", "Ivy", "metrics");
    pdt_ws_close(join_tok(srv.port, "v-metrics", token, "ivy"));
    pdt_ws_close(join_tok(srv.port, "v-metrics", token, "ivy"));
    expect_unavailable(open_tok(srv.port, "v-metrics", "500:v-metrics", "x"));
    const char *after = metrics_text(srv.port);
    struct {
        const char *name;
        double delta;
    } want[] = {
        {"presenced_verify_requests_total", 2},
        {"presenced_verify_cache_hits_total", 1},
        {"presenced_verify_failures_total", 1},
        {"presenced_auth_failures_total{reason=\"SERVICE_UNAVAILABLE\"}", 1},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        double was = pdt_metric(before, want[i].name), is = pdt_metric(after, want[i].name);
        if (was < 0 || is - was != want[i].delta)
            fail_msg("%s: %g -> %g, expected +%g in:\n%s", want[i].name, was, is, want[i].delta,
                     after);
    }
    assert_true(pdt_metric(after, "presenced_verify_inflight") == 0);
    assert_true(pdt_metric(after, "presenced_verify_queued") == 0);
    assert_null(strstr(after, token));
}

/*
 * The server runs with --log-level debug. Every token of this program
 * has the shape "kind:..." with a test's tag; none may reach the log, nor
 * the Bearer header or the query string carrying them.
 */
static void test_tokens_never_logged(void **state)
{
    const char *canary = "ok:zed:Zed:canary-Q7";
    pdt_ws_t *zed = join_tok(srv.port, "v-log", canary, "zed");
    pdt_send(zed, "{\"type\":\"token_refresh\",\"token\":\"401:canary-R8\"}");
    expect_refused(zed, "auth_error", "AUTH_INVALID", 1008);
    expect_unavailable(open_tok(srv.port, "v-log", "500:canary-S9", "x"));
    const char *needles[] = {"canary-", "Bearer", "token=", "ok:alice:Alice", "slow:300:ok"};
    for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
        if (pdt_server_log_find(&srv, needles[i], 0, NULL, 0) != 0)
            fail_msg("the server's log contains \"%s\"", needles[i]);
}

int main(void)
{
    if (pdt_endpoint_start(&ep) != 0)
        return 1;
    const char *const args[] = {"--verify-url",
                                ep.url,
                                "--verify-header",
                                VERIFY_HEADER,
                                "--verify-header",
                                VERIFY_HEADER_2,
                                "--verify-timeout",
                                "10",
                                "--verify-max-inflight",
                                "64",
                                "--linger",
                                "2",
                                "--token-grace",
                                "2",
                                "--log-level",
                                "debug",
                                NULL};
    const struct CMUnitTest tests[] = {
        TEST(test_identity_from_endpoint),
        TEST(test_request_contract),
        TEST(test_token_from_authorization_header),
        TEST(test_401_is_auth_invalid),
        TEST(test_403_is_auth_forbidden),
        TEST(test_500_is_unavailable),
        TEST(test_bad_answers_are_unavailable),
        TEST(test_failures_are_not_cached),
        TEST(test_slow_beyond_timeout),
        TEST(test_endpoint_down),
        TEST(test_queue_has_a_deadline),
        TEST(test_update_right_after_open_is_applied),
        TEST(test_pending_messages_in_order),
        TEST(test_pending_overflow_keeps_newest_update),
        TEST(test_pending_bytes_bounded),
        TEST(test_failed_admission_discards_pending),
        TEST(test_gone_during_check_never_joins),
        TEST(test_storm_does_not_block_the_loop),
        TEST(test_cache_hit),
        TEST(test_cache_off),
        TEST(test_cache_bounds),
        TEST(test_expiry_refresh_through_endpoint),
        TEST(test_expired_at_admission_refused),
        TEST(test_refresh_for_another_user_forbidden),
        TEST(test_refresh_refused_or_unavailable),
        TEST(test_linger_reconnect_moved),
        TEST(test_linger_reconnect_same_place),
        TEST(test_pk_takeover_after_check),
        TEST(test_tokens_never_logged),
        TEST(test_metrics_count_verify_work),
    };
    int rc = PDT_SUITE(tests, &srv, args, 110);
    if (rc != 0)
        pdt_endpoint_dump_log(&ep);
    pdt_endpoint_stop(&ep);
    return rc;
}
