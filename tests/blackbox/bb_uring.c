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
#include <stdlib.h>
#include <string.h>

#include "pdt_flood.h"
#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

static const char *const server_args[] = {
    "--linger", "0",      "--max-send-buffer", "16384", "--rate", "100000",
    "--burst",  "100000", "--user-rate",       "0",     NULL,
};

#define ROUNDS 2
#define N_FAST 6
#define STEP 50 /* updates sent between waits for the fast members */

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
    print_message("io_uring %.0f: %.0f sends in %.0f batches, %.0f refused\n", on, sends, batches,
                  refused);
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
    pdt_flood_view_t slow = pdt_flood_slow_member(srv.port, "u-busy");
    pdt_flood_view_t fast[N_FAST];
    for (int i = 0; i < N_FAST; i++)
        fast[i] = pdt_flood_view(pdt_join(srv.port, "u-busy", pdt_fmt("fast%d", i)));
    pdt_ws_t *f = pdt_join(srv.port, "u-busy", "flood");
    int open = 1;
    for (int r = 0; r < ROUNDS && open; r++) {
        pdt_flood_round(f, fast, N_FAST, r * PDT_FLOOD_ROUND, STEP);
        open = pdt_flood_slow_catches_up(&slow, (r + 1) * PDT_FLOOD_ROUND - 1);
    }
    /*
     * Only 1013: a refused send goes on by writev, and one taken for a
     * write error would drop the socket without a close frame (1006).
     */
    if (!open && slow.c->close_code != 1013)
        fail_msg("the slow member closed with %d (want 1013)", slow.c->close_code);
    check_metrics();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_refused_sends_fall_back_in_order),
    };
    return PDT_SUITE(tests, &srv, server_args, 110);
}
