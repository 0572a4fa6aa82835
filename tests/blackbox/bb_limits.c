/*
 * Limits and protocol violations: message size, binary and unmasked frames,
 * invalid UTF-8, garbage after the upgrade, connections per user and per
 * room, and rate limiting, per connection and per user across its tabs,
 * that coalesces updates without losing the last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

static const char *const server_args[] = {
    "--linger",
    "0",
    "--max-conns-per-user",
    "2",
    "--max-conns-per-room",
    "3",
    "--max-message",
    "1024",
    "--rate",
    "20",
    "--burst",
    "40",
    NULL,
};

/* alice and bob in ws; bob has seen alice join. *bob_out gets bob. */
static pdt_ws_t *pair(const char *ws, pdt_ws_t **bob_out)
{
    pdt_ws_t *bob = pdt_join(srv.port, ws, "bob");
    pdt_ws_t *alice = pdt_join(srv.port, ws, "alice");
    assert_field(pdt_expect(bob, "user_joined"), "userId", "alice");
    *bob_out = bob;
    return alice;
}

/* bob sees alice leave and is otherwise fine. */
static void expect_alice_left(pdt_ws_t *bob)
{
    pdt_expect_leave(bob, "alice");
    pdt_send(bob, "{\"type\":\"ping\",\"id\":1}");
    pdt_expect(bob, "pong");
}

static void send_frame(pdt_ws_t *c, int fin, int opcode, int masked, const void *p, size_t len)
{
    pd_buf_t b = PD_BUF_INIT;
    pdt_frame(&b, fin, opcode, masked, p, len);
    pdt_send_raw(c, b.base, b.len);
    pd_buf_free(&b);
}

/* A presence_update of exactly len bytes. */
static const char *update_of_size(size_t len)
{
    static const char head[] = "{\"type\":\"presence_update\",\"currentPath\":\"/";
    size_t pad = len - (sizeof(head) - 1) - 2;
    char *path = calloc(1, pad + 1);
    memset(path, 'm', pad);
    const char *text = pdt_fmt("%s%s\"}", head, path);
    free(path);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_message_at_limit_accepted(void **state)
{
    pdt_ws_t *bob, *alice = pair("l-1024", &bob);
    pdt_send(alice, update_of_size(1024));
    pdt_expect(bob, "presence_changed");
}

static void test_message_too_big_1009(void **state)
{
    pdt_ws_t *bob, *alice = pair("l-big", &bob);
    pdt_send(alice, update_of_size(1025));
    pdt_expect_close(alice, 1009, NULL);
    expect_alice_left(bob);
}

static void test_binary_frame_1003(void **state)
{
    pdt_ws_t *bob, *alice = pair("l-bin", &bob);
    send_frame(alice, 1, 0x2, 1, "{\"type\":\"ping\"}", 15);
    pdt_expect_close(alice, 1003, NULL);
    expect_alice_left(bob);
}

static void test_invalid_utf8_1007(void **state)
{
    pdt_ws_t *bob, *alice = pair("l-utf8", &bob);
    static const char bad[] = "{\"type\":\"ping\",\"id\":\"\xff\xfe\"}";
    send_frame(alice, 1, 0x1, 1, bad, sizeof(bad) - 1);
    pdt_expect_close(alice, 1007, NULL);
    expect_alice_left(bob);
}

static void test_fragmented_utf8_accepted(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "l-frag", "alice");
    static const char msg[] = "{\"type\":\"ping\",\"id\":\"\xc3\xa9t\xc3\xa9\"}";
    size_t split = strchr(msg, '\xc3') - msg + 1; /* inside the first é */
    send_frame(a, 0, 0x1, 1, msg, split);
    send_frame(a, 1, 0x9, 1, "", 0); /* a control frame between fragments */
    send_frame(a, 1, 0x0, 1, msg + split, sizeof(msg) - 1 - split);
    assert_field(pdt_expect(a, "pong"), "id", "\xc3\xa9t\xc3\xa9");
}

static void test_fragments_over_limit_1009(void **state)
{
    char part[500];
    memset(part, ' ', sizeof(part));
    pdt_ws_t *bob, *alice = pair("l-fragbig", &bob);
    send_frame(alice, 0, 0x1, 1, part, sizeof(part));
    send_frame(alice, 0, 0x0, 1, part, sizeof(part));
    send_frame(alice, 1, 0x0, 1, part, sizeof(part));
    pdt_expect_close(alice, 1009, NULL);
    expect_alice_left(bob);
}

/* Sends one frame RFC 6455 forbids; it must end the connection with 1002. */
static void expect_violation(const char *ws, int fin, int opcode, const void *p, size_t len)
{
    pdt_ws_t *bob, *alice = pair(ws, &bob);
    send_frame(alice, fin, opcode, 1, p, len);
    pdt_expect_close(alice, 1002, NULL);
    expect_alice_left(bob);
}

static void test_protocol_violations_1002(void **state)
{
    char big[126];
    memset(big, 'p', sizeof(big));
    expect_violation("l-orphan", 1, 0x0, "orphan", 6);       /* a continuation of nothing */
    expect_violation("l-fragping", 0, 0x9, "", 0);           /* a fragmented control frame */
    expect_violation("l-opcode", 1, 0x3, "x", 1);            /* a reserved opcode */
    expect_violation("l-bigping", 1, 0x9, big, sizeof(big)); /* control payload over 125 */
}

static void test_unmasked_frame_1002(void **state)
{
    pdt_ws_t *bob, *alice = pair("l-unmasked", &bob);
    send_frame(alice, 1, 0x1, 0, "{\"type\":\"ping\"}", 15);
    pdt_expect_close(alice, 1002, NULL);
    expect_alice_left(bob);
}

static void test_garbage_after_upgrade_1002(void **state)
{
    unsigned char junk[300];
    uint32_t x = 0x2545f491u;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        junk[i] = (unsigned char)x;
    }
    junk[0] = 0xf3; /* RSV bits without an extension, reserved opcode */
    junk[1] = 0x85;
    pdt_ws_t *bob, *alice = pair("l-junk", &bob);
    pdt_send_raw(alice, junk, sizeof(junk));
    pdt_expect_close(alice, 1002, NULL);
    expect_alice_left(bob);
    pdt_ws_t *carol = pdt_join(srv.port, "l-junk", "carol");
    assert_non_null(pdt_snapshot_user(pdt_last(carol), "bob"));
}

static void expect_admission_error(pdt_ws_t *c, const char *code, int close_code)
{
    assert_field(pdt_expect(c, "error"), "code", code);
    pdt_expect_close(c, close_code, code);
}

static pdt_ws_t *open_user(const char *ws, const char *user)
{
    pdt_ws_opts_t o = {.workspace = ws, .label = user};
    o.token = pdt_token(user, pdt_name(user), ws, 3600);
    return pdt_ws_open(srv.port, &o);
}

static void test_too_many_connections_per_user(void **state)
{
    /* Two of the room's three places: the third connection hits the user limit. */
    pdt_ws_t *a1 = pdt_join(srv.port, "l-user", "alice");
    pdt_ws_t *a2 = pdt_join(srv.port, "l-user", "alice");
    expect_admission_error(open_user("l-user", "alice"), "TOO_MANY_CONNECTIONS", 1008);
    pdt_expect_none(a1, NULL);
    pdt_join(srv.port, "l-user", "bob");
    assert_field(pdt_expect(a1, "user_joined"), "userId", "bob");
    /* The limit is per room. */
    pdt_join(srv.port, "l-user-2", "alice");
    /* A freed place can be used again. */
    pdt_ws_close(a2);
    pdt_join(srv.port, "l-user", "alice");
}

static void test_room_full(void **state)
{
    pdt_ws_t *a = pdt_join(srv.port, "l-room", "alice");
    pdt_join(srv.port, "l-room", "bob");
    pdt_join(srv.port, "l-room", "carol");
    pdt_expect(a, "user_joined");
    pdt_expect(a, "user_joined");
    expect_admission_error(open_user("l-room", "dave"), "ROOM_FULL", 1013);
    pdt_expect_none(a, NULL);
    pdt_join(srv.port, "l-room-2", "dave");
    pdt_ws_close(a);
    pdt_join(srv.port, "l-room", "dave");
}

#define N_BURST 200

static void test_rate_limit_coalesces(void **state)
{
    pdt_ws_t *bob, *alice = pair("l-rate", &bob);
    for (int k = 1; k <= N_BURST; k++)
        pdt_sendf(alice, "{\"type\":\"presence_update\",\"currentPath\":\"/r/%d\"}", k);
    int count = 0, last = 0;
    while (last != N_BURST) {
        const cJSON *m = pdt_expect_within(bob, "presence_changed", 15000);
        int k = atoi(pdt_str(m, "currentPath") + 3);
        if (k <= last)
            fail_msg("update %d arrived after update %d", k, last);
        last = k;
        count++;
    }
    print_message("%d updates sent, %d relayed\n", N_BURST, count);
    assert_true(count <= N_BURST);
    /* The last update closes the sequence: nothing is amplified or repeated. */
    pdt_expect_silence(bob, 500);
    pdt_send(alice, "{\"type\":\"ping\",\"id\":2}");
    pdt_expect(alice, "pong");
    pdt_ws_t *carol = pdt_join(srv.port, "l-rate", "carol");
    assert_field(pdt_snapshot_user(pdt_last(carol), "alice"), "currentPath",
                 pdt_fmt("/r/%d", N_BURST));
}

static pdt_extra_t delayed;

static int teardown_delayed(void **state)
{
    pdt_teardown(state);
    pdt_extra_discard(&delayed);
    return 0;
}

/* Socket writes and messages queued so far, from one /metrics answer. */
static void writes_and_messages(int port, double *writes, double *messages)
{
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(port, "/metrics", &resp), 200);
    *writes = pdt_metric(pdt_http_body(resp.base), "presenced_writes_total");
    *messages = pdt_metric(pdt_http_body(resp.base), "presenced_messages_out_total");
    pd_buf_free(&resp);
}

/*
 * --write-delay holds a member's messages until the first is that old: ten
 * updates sent 50 ms apart reach bob in one socket write, in order. (The
 * other write counted is the first /metrics answer: HTTP does not wait.)
 */
static void test_write_delay_batches_writes(void **state)
{
    const char *const args[] = {"--write-delay", "1", "--rate", "100", "--burst", "100", NULL};
    pdt_extra_start(&delayed, args);
    int port = delayed.srv.port;
    pdt_ws_t *bob = pdt_join(port, "l-delay", "bob");
    pdt_ws_t *alice = pdt_join(port, "l-delay", "alice");
    assert_field(pdt_expect_within(bob, "user_joined", 5000), "userId", "alice");
    double writes0, messages0, writes1, messages1;
    writes_and_messages(port, &writes0, &messages0);
    for (int k = 0; k < 10; k++) {
        pdt_sendf(alice, "{\"type\":\"presence_update\",\"currentPath\":\"/d/%d\"}", k);
        pdt_pump(50);
    }
    for (int k = 0; k < 10; k++)
        assert_field(pdt_expect_within(bob, "presence_changed", 5000), "currentPath",
                     pdt_fmt("/d/%d", k));
    writes_and_messages(port, &writes1, &messages1);
    assert_int_equal(messages1 - messages0, 10);
    assert_int_equal(writes1 - writes0, 2);
    pdt_extra_stop(&delayed);
}

/* ---- one budget per user, whatever its number of tabs ---- */

#define N_TABS 16
#define PER_TAB 10
#define USER_BURST 5
#define USER_RATE 1 /* per second */

static pdt_extra_t tabs_srv;

static int teardown_tabs(void **state)
{
    pdt_teardown(state);
    pdt_extra_discard(&tabs_srv);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* bob's presence_changed messages until alice's "/end"; returns how many. */
static int count_until_end(pdt_ws_t *bob)
{
    int count = 0;
    for (;;) {
        const cJSON *m = pdt_expect_within(bob, "presence_changed", 15000);
        count++;
        if (strcmp(pdt_str(m, "currentPath"), "/end") == 0)
            return count;
    }
}

/*
 * 16 tabs of alice send 10 updates each, every one within its connection's
 * budget. The room hears at most the user's burst plus its rate over the
 * time it took (counted generously, so a slow machine only loosens the
 * bound), never 16 times one tab; and the last update is not lost: bob,
 * alice's other tabs and a newcomer's snapshot all end at it.
 */
static void test_user_rate_limit_spans_tabs(void **state)
{
    const char *const args[] = {"--rate",
                                "1000",
                                "--burst",
                                "1000",
                                "--user-rate",
                                pdt_fmt("%d", USER_RATE),
                                "--user-burst",
                                pdt_fmt("%d", USER_BURST),
                                NULL};
    pdt_extra_start(&tabs_srv, args);
    int port = tabs_srv.srv.port;
    pdt_ws_t *bob = pdt_join(port, "l-tabs", "bob"), *tabs[N_TABS];
    for (int t = 0; t < N_TABS; t++)
        tabs[t] = pdt_join(port, "l-tabs", "alice");
    assert_field(pdt_expect(bob, "user_joined"), "userId", "alice");
    double t0 = now_s();
    for (int k = 0; k < PER_TAB; k++)
        for (int t = 0; t < N_TABS; t++)
            pdt_sendf(tabs[t], "{\"type\":\"presence_update\",\"currentPath\":\"/t/%d/%d\"}", t, k);
    for (int t = 0; t < N_TABS; t++) {
        pdt_sendf(tabs[t], "{\"type\":\"ping\",\"id\":%d}", t);
        pdt_wait_type(tabs[t], "pong", 15000);
    }
    pdt_send(tabs[0], "{\"type\":\"presence_update\",\"currentPath\":\"/end\"}");
    int count = count_until_end(bob);
    double bound = USER_BURST + USER_RATE * (now_s() - t0 + 1.0) + 1;
    print_message("%d updates sent from %d tabs, bob got %d (bound %.1f)\n", N_TABS * PER_TAB + 1,
                  N_TABS, count, bound);
    assert_true(count <= bound);
    assert_true(count < N_TABS * PER_TAB);
    const cJSON *m;
    while ((m = pdt_wait_type(tabs[N_TABS - 1], "presence_changed", 15000)) != NULL &&
           strcmp(pdt_str(m, "currentPath"), "/end") != 0)
        ;
    pdt_ws_t *carol = pdt_join(port, "l-tabs", "carol");
    assert_field(pdt_snapshot_user(pdt_last(carol), "alice"), "currentPath", "/end");
    pdt_extra_stop(&tabs_srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_message_at_limit_accepted),
        PDT_TEST(test_message_too_big_1009),
        PDT_TEST(test_binary_frame_1003),
        PDT_TEST(test_invalid_utf8_1007),
        PDT_TEST(test_fragmented_utf8_accepted),
        PDT_TEST(test_fragments_over_limit_1009),
        PDT_TEST(test_protocol_violations_1002),
        PDT_TEST(test_unmasked_frame_1002),
        PDT_TEST(test_garbage_after_upgrade_1002),
        PDT_TEST(test_too_many_connections_per_user),
        PDT_TEST(test_room_full),
        PDT_TEST(test_rate_limit_coalesces),
        cmocka_unit_test_teardown(test_write_delay_batches_writes, teardown_delayed),
        cmocka_unit_test_teardown(test_user_rate_limit_spans_tabs, teardown_tabs),
    };
    return PDT_SUITE(tests, &srv, server_args, 100);
}
