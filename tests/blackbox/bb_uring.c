/*
 * The flush phase's io_uring path where it has to fall back: a member that
 * stops reading while its room is busy makes the kernel refuse part of a
 * submitted batch (a short send or -EAGAIN), and those bytes continue by
 * writev and uv_write. Every member still sees the flooder's updates in
 * order, never one twice or older than one already seen; the slow member is
 * resynchronised or closed with 1013 and the fast ones catch up; /metrics
 * shows that the fallback ran. The suite's server stops cleanly at the end,
 * which under the sanitizer build also means it leaked nothing.
 *
 * ctest runs it with PRESENCED_IO_URING=on and, as bb_uring_writev, with
 * off, where the same checks hold for writev and the ring's metrics are 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

static const char *const server_args[] = {
    "--linger", "0", "--max-send-buffer", "16384", "--rate", "100000", "--burst", "100000",
    "--user-rate", "0", NULL,
};

/* More bytes per round than the kernel holds for a member that does not read (4 MiB). */
#define ROUND 5000
#define ROUNDS 2
#define PAD 1000
#define N_FAST 6
#define STEP 50 /* updates sent between waits for the fast members */

/* What one member believes the flooder's location is; fails on any step back. */
typedef struct {
    pdt_ws_t *c;
    int seen;      /* the last update number from the flooder, -1 none */
    int snapshots; /* presence_snapshot messages, the first included */
    int want;      /* the update number waited for */
} view_t;

static int flood_number(const char *path)
{
    int k = -1;
    if (path == NULL || sscanf(path, "/f/%d/", &k) != 1)
        return -1;
    return k;
}

/* A snapshot may repeat the newest update seen; a presence_changed must be newer. */
static void apply(view_t *v, const cJSON *m)
{
    const char *type = pdt_str(m, "type") ? pdt_str(m, "type") : "";
    const char *user = pdt_str(m, "userId");
    int k;
    if (strcmp(type, "presence_snapshot") == 0) {
        v->snapshots++;
        k = flood_number(pdt_str(pdt_snapshot_user(m, "flood"), "currentPath"));
        if (k < v->seen)
            fail_msg("%s: a snapshot at update %d after update %d", v->c->label, k, v->seen);
    } else if (strcmp(type, "presence_changed") == 0 && user && strcmp(user, "flood") == 0) {
        k = flood_number(pdt_str(m, "currentPath"));
        if (k <= v->seen)
            fail_msg("%s: update %d after update %d", v->c->label, k, v->seen);
    } else {
        return;
    }
    v->seen = k;
}

static int caught_up(void *arg)
{
    view_t *v = arg;
    const cJSON *m;
    while ((m = pdt_next(v->c, 0)) != NULL)
        apply(v, m);
    return v->seen >= v->want || v->c->close_code != 0;
}

static void wait_fast(view_t *fast, int k)
{
    for (int i = 0; i < N_FAST; i++) {
        fast[i].want = k;
        if (!pdt_wait(caught_up, &fast[i], PDT_WAIT_MS) || fast[i].c->close_code != 0)
            fail_msg("%s stalled at update %d of %d (close %d)", fast[i].c->label, fast[i].seen,
                     k, fast[i].c->close_code);
    }
}

/* Updates first..first+ROUND-1, the fast members reading as they come. */
static void flood_round(pdt_ws_t *f, view_t *fast, int first)
{
    char pad[PAD + 1];
    memset(pad, 'z', PAD);
    pad[PAD] = '\0';
    for (int k = first; k < first + ROUND; k++) {
        pdt_sendf(f, "{\"type\":\"presence_update\",\"currentPath\":\"/f/%d/%s\"}", k, pad);
        if ((k + 1) % STEP == 0)
            wait_fast(fast, k);
    }
    wait_fast(fast, first + ROUND - 1);
}

/* The slow member reads until it is consistent again; returns 0 once it is closed. */
static int slow_catches_up(view_t *slow, int last)
{
    int before = slow->snapshots;
    pdt_ws_pause(slow->c, 0);
    slow->want = last;
    pdt_wait(caught_up, slow, 30000);
    if (slow->c->close_code != 0) {
        if (slow->c->close_code != 1013)
            fail_msg("the slow member closed with %d (want 1013)", slow->c->close_code);
        return 0;
    }
    if (slow->seen != last)
        fail_msg("the slow member is open but stuck at update %d of %d", slow->seen, last);
    if (slow->snapshots == before)
        fail_msg("the slow member was not resynchronised: more than --max-send-buffer queued");
    pdt_ws_pause(slow->c, 1);
    return 1;
}

/* With io_uring on, the refused sends are counted: the fallback ran. */
static void check_metrics(void)
{
    const char *mode = getenv("PRESENCED_IO_URING");
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(srv.port, "/metrics", &resp), 200);
    const char *text = pdt_http_body(resp.base);
    double on = pdt_metric(text, "presenced_io_uring");
    double sends = pdt_metric(text, "presenced_io_uring_submissions_total");
    double batches = pdt_metric(text, "presenced_io_uring_batches_total");
    double refused = pdt_metric(text, "presenced_io_uring_refused_total");
    print_message("io_uring %.0f: %.0f sends in %.0f batches, %.0f refused\n", on, sends,
                  batches, refused);
    if (mode && strcmp(mode, "on") == 0) {
        assert_true(on == 1);
        assert_true(batches >= 1 && sends >= batches);
        assert_true(refused >= 1);
    } else if (mode && strcmp(mode, "off") == 0) {
        assert_true(on == 0 && sends == 0);
    }
    pd_buf_free(&resp);
}

static void test_refused_sends_fall_back_in_order(void **state)
{
    pdt_ws_opts_t o = {.workspace = "u-busy", .label = "slow", .rcvbuf = 4096};
    o.token = pdt_token("slow", "Slow", "u-busy", 3600);
    view_t slow = {pdt_ws_open(srv.port, &o), -1, 0, 0};
    apply(&slow, pdt_expect(slow.c, "presence_snapshot"));
    pdt_ws_pause(slow.c, 1);
    view_t fast[N_FAST];
    for (int i = 0; i < N_FAST; i++)
        fast[i] = (view_t){pdt_join(srv.port, "u-busy", pdt_fmt("fast%d", i)), -1, 1, 0};
    pdt_ws_t *f = pdt_join(srv.port, "u-busy", "flood");
    int open = 1;
    for (int r = 0; r < ROUNDS && open; r++) {
        flood_round(f, fast, r * ROUND);
        open = slow_catches_up(&slow, (r + 1) * ROUND - 1);
    }
    check_metrics();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_refused_sends_fall_back_in_order),
    };
    return PDT_SUITE(tests, &srv, server_args, 110);
}
