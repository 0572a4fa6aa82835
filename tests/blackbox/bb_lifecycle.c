/*
 * The process and its resources: a slow reader does not stall its room or
 * grow the server's buffers without bound (it is resynchronised, then
 * closed with 1013), a reader that is behind reads each user's newest
 * location only, SIGTERM drains every connection with 1001 and exits 0,
 * and bad configuration exits 2.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdt_flood.h"
#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

static const char *const server_args[] = {
    "--linger", "0",     "--max-send-buffer", "16384", "--rate", "10000",
    "--burst",  "10000", "--user-rate",       "0",     NULL,
};

#define ROUNDS 5

/*
 * A member that never keeps up, round after round: each time it is either
 * resynchronised or closed, while the observer and the server carry on.
 * The observer takes each update before the next is sent (a step of 1), so
 * it is never behind by more than a message: only the paused member is slow.
 */
static void test_slow_reader_does_not_stall_room(void **state)
{
    pdt_flood_view_t slow = pdt_flood_slow_member(srv.port, "s-slow");
    pdt_flood_view_t obs = pdt_flood_view(pdt_join(srv.port, "s-slow", "observer"));
    pdt_ws_t *f = pdt_join(srv.port, "s-slow", "flood");
    pdt_expect(obs.c, "user_joined");

    int open = 1;
    for (int r = 0; r < ROUNDS && open; r++) {
        pdt_flood_round(f, &obs, 1, r * PDT_FLOOD_ROUND, 1);
        open = pdt_flood_slow_catches_up(&slow, (r + 1) * PDT_FLOOD_ROUND - 1);
    }
    /*
     * What this test checks is that the room carries on, not how the slow
     * reader is told: a socket dropped without a close frame (1006) will do.
     */
    if (!open && slow.c->close_code != 1013 && slow.c->close_code != 1006)
        fail_msg("slow reader closed with %d (want 1013 or a dropped socket)", slow.c->close_code);
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(srv.port, "/healthz", &resp), 200);
    pd_buf_free(&resp);
    pdt_flood_round(f, &obs, 1, ROUNDS * PDT_FLOOD_ROUND, 1);
}

/* ---- a reader that is behind reads each user's newest location only ---- */

static pdt_extra_t collapse_srv;

static int teardown_collapse(void **state)
{
    pdt_extra_discard(&collapse_srv);
    return pdt_teardown(state);
}

/*
 * Enough bytes to fill what the kernel holds for a reader that does not
 * read: a loopback send buffer grows up to tcp_wmem's maximum, and the
 * receive side adds a little. Twice that, plus a margin.
 */
static size_t kernel_fill_bytes(void)
{
    long lo = 0, def = 0, max = 4 << 20;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld %ld", &lo, &def, &max) != 3)
            max = 4 << 20;
        fclose(f);
    }
    return (size_t)max * 2 + (1 << 20);
}

static int got_pong(void *arg)
{
    pdt_ws_t *c = arg;
    const cJSON *m;
    while ((m = pdt_next(c, 0)) != NULL)
        if (strcmp(pdt_str(m, "type"), "pong") == 0)
            return 1;
    return 0;
}

/* Every update c sent before this has been applied (and relayed) by the server. */
static void sync_with(pdt_ws_t *c)
{
    pdt_send(c, "{\"type\":\"ping\"}");
    if (!pdt_wait(got_pong, c, 30000))
        fail_msg("%s: no pong", c->label);
}

#define N_BURSTERS 5
#define BURST 40
#define PAD 1000 /* bytes of pad in each update that fills the kernel's buffers */

typedef struct {
    pdt_ws_t *c;
    int changed[N_BURSTERS]; /* presence_changed per burster */
    int last[N_BURSTERS];    /* the last update number seen from each, -1 none */
    int snapshots;
} behind_t;

static int burster_of(const char *user)
{
    int j = -1;
    if (user == NULL || sscanf(user, "burst%d", &j) != 1 || j < 0 || j >= N_BURSTERS)
        return -1;
    return j;
}

static int saw_every_last(void *arg)
{
    behind_t *b = arg;
    const cJSON *m;
    while ((m = pdt_next(b->c, 0)) != NULL) {
        const char *type = pdt_str(m, "type") ? pdt_str(m, "type") : "";
        int j = burster_of(pdt_str(m, "userId")), k = -1;
        b->snapshots += strcmp(type, "presence_snapshot") == 0;
        if (strcmp(type, "presence_changed") != 0 || j < 0)
            continue;
        b->changed[j]++;
        if (sscanf(pdt_str(m, "currentPath"), "/b/%*d/%d", &k) == 1)
            b->last[j] = k;
    }
    if (b->c->close_code != 0)
        return 1;
    for (int j = 0; j < N_BURSTERS; j++)
        if (b->last[j] != BURST - 1)
            return 0;
    return 1;
}

static void fill_kernel_buffers(pdt_ws_t *filler)
{
    char pad[PAD + 1];
    memset(pad, 'z', PAD);
    pad[PAD] = '\0';
    size_t need = kernel_fill_bytes() / PAD + 1;
    for (size_t k = 0; k < need; k++)
        pdt_sendf(filler, "{\"type\":\"presence_update\",\"currentPath\":\"/fill/%zu/%s\"}", k,
                  pad);
    sync_with(filler);
}

static void burst_from_each(pdt_ws_t **bursters)
{
    for (int k = 0; k < BURST; k++)
        for (int j = 0; j < N_BURSTERS; j++)
            pdt_sendf(bursters[j], "{\"type\":\"presence_update\",\"currentPath\":\"/b/%d/%d\"}", j,
                      k);
    for (int j = 0; j < N_BURSTERS; j++)
        sync_with(bursters[j]);
}

/*
 * A reader stops reading until the kernel refuses its bytes; then five
 * users send 40 updates each, well under --max-send-buffer. When it reads
 * again it gets one presence_changed per user, the newest, and no resync:
 * a burst costs a reader that is behind one message per user, not forty.
 */
static void test_reader_behind_gets_newest_per_user(void **state)
{
    static const char *const args[] = {"--linger",    "0",      "--max-send-buffer", "67108864",
                                       "--rate",      "100000", "--burst",           "100000",
                                       "--user-rate", "0",      "--idle-timeout",    "300",
                                       NULL};
    pdt_extra_start(&collapse_srv, args);
    int port = collapse_srv.srv.port;
    pdt_ws_opts_t o = {.workspace = "behind", .label = "behind", .rcvbuf = 4096};
    o.token = pdt_token("reader", "Reader", "behind", 3600);
    behind_t b = {.c = pdt_ws_open(port, &o), .last = {-1, -1, -1, -1, -1}};
    pdt_expect(b.c, "presence_snapshot");
    pdt_ws_pause(b.c, 1);
    fill_kernel_buffers(pdt_join(port, "behind", "filler"));
    pdt_ws_t *bursters[N_BURSTERS];
    for (int j = 0; j < N_BURSTERS; j++)
        bursters[j] = pdt_join(port, "behind", pdt_fmt("burst%d", j));
    burst_from_each(bursters);
    pdt_ws_pause(b.c, 0);
    if (!pdt_wait(saw_every_last, &b, 60000) || b.c->close_code != 0)
        fail_msg("the reader did not catch up (close %d)", b.c->close_code);
    assert_int_equal(b.snapshots, 0);
    for (int j = 0; j < N_BURSTERS; j++)
        if (b.changed[j] != 1)
            fail_msg("the reader got %d presence_changed from burst%d (want the newest only)",
                     b.changed[j], j);
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(port, "/metrics", &resp), 200);
    assert_true(pdt_metric(pdt_http_body(resp.base), "presenced_superseded_total") >=
                N_BURSTERS * (BURST - 1));
    pd_buf_free(&resp);
    pdt_extra_stop(&collapse_srv);
}

/* A server of the test's own, discarded by the teardown even when the test fails. */
static pdt_server_t own;

static int teardown_own(void **state)
{
    pdt_server_discard(&own, 0);
    return pdt_teardown(state);
}

static void test_sigterm_drains(void **state)
{
    static const char *const args[] = {"--linger", "0", NULL};
    assert_int_equal(pdt_server_start(&own, args), 0);
    pdt_ws_t *a = pdt_join(own.port, "t-term", "alice");
    pdt_ws_t *b = pdt_join(own.port, "t-term", "bob");
    pdt_expect(a, "user_joined");
    pdt_server_signal(&own, SIGTERM);
    pdt_expect_going_away(a);
    pdt_expect_going_away(b);
    int rc = pdt_server_wait(&own, 5000);
    pdt_server_discard(&own, rc != 0);
    if (rc != 0)
        fail_msg("presenced exited with %d within 5 s of SIGTERM (want 0)", rc);
}

static void expect_config_error(const char *const *args)
{
    pdt_server_t s;
    int rc = pdt_server_run(&s, args, 10000);
    pdt_server_discard(&s, rc != 2);
    if (rc != 2)
        fail_msg("presenced %s ... exited with %d (want 2)", args[0], rc);
}

static void test_bad_configuration_exits_2(void **state)
{
    static const char *const no_secret[] = {"--listen", "127.0.0.1:0", NULL};
    static const char *const unknown[] = {"--no-such-flag", "--dev", NULL};
    static const char *const bad_number[] = {"--dev",  "--listen", "127.0.0.1:0",
                                             "--rate", "fast",     NULL};
    static const char *const timeouts[] = {
        "--dev", "--listen", "127.0.0.1:0", "--ping-interval", "5", "--idle-timeout", "2", NULL};
    static const char *const leave_form[] = {
        "--dev", "--listen", "127.0.0.1:0", "--leave-messages", "user_joined", NULL};
    expect_config_error(no_secret);
    expect_config_error(unknown);
    expect_config_error(bad_number);
    expect_config_error(timeouts);
    expect_config_error(leave_form);
}

static void test_help_exits_0(void **state)
{
    static const char *const help[] = {"--help", NULL};
    pdt_server_t s;
    int rc = pdt_server_run(&s, help, 10000);
    pdt_server_discard(&s, rc != 0);
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_slow_reader_does_not_stall_room),
        cmocka_unit_test_teardown(test_reader_behind_gets_newest_per_user, teardown_collapse),
        cmocka_unit_test_teardown(test_sigterm_drains, teardown_own),
        PDT_TEST(test_bad_configuration_exits_2),
        PDT_TEST(test_help_exits_0),
    };
    return PDT_SUITE(tests, &srv, server_args, 110);
}
