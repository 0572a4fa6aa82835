/*
 * Liveness: a member whose socket dies without a close frame, or who stops
 * answering, leaves the room by itself; server pings arrive and answering
 * them is enough to stay, unless the client uses app-level pings, which
 * then have to keep coming. The bounds are liveness bounds, far above the
 * configured timeouts, not performance assertions.
 */
#include <string.h>
#include <sys/socket.h>

#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

static pdt_server_t srv;

static const char *const server_args[] = {
    "--linger", "0", "--ping-interval", "0.5", "--idle-timeout", "1.5", NULL,
};

static void test_abrupt_close_leaves(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "v-drop", "bob");
    pdt_ws_t *alice = pdt_join(srv.port, "v-drop", "alice");
    pdt_expect(bob, "user_joined");
    pdt_ws_drop(alice);
    pdt_expect_leave(bob, "alice");
}

static void test_reset_leaves(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "v-rst", "bob");
    pdt_ws_t *alice = pdt_join(srv.port, "v-rst", "alice");
    pdt_expect(bob, "user_joined");
    pdt_ws_reset(alice);
    pdt_expect_leave(bob, "alice");
}

static void test_half_close_leaves(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "v-fin", "bob");
    pdt_ws_t *alice = pdt_join(srv.port, "v-fin", "alice");
    pdt_expect(bob, "user_joined");
    shutdown(alice->fd, SHUT_WR);
    pdt_expect_leave(bob, "alice");
    if (!pdt_wait_closed(alice, PDT_WAIT_MS))
        fail_msg("the server kept a half-closed connection open");
}

static void test_unresponsive_client_evicted(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "v-mute", "bob");
    pdt_ws_t *alice = pdt_join(srv.port, "v-mute", "alice");
    pdt_expect(bob, "user_joined");
    /* alice keeps her socket open but never reads, so never answers a ping. */
    pdt_ws_pause(alice, 1);
    pdt_expect_leave_within(bob, "alice", 10000);
    pdt_ws_pause(alice, 0);
    if (!pdt_wait_closed(alice, 5000))
        fail_msg("the server did not close the silent connection");
    if (alice->close_code != 1001 && alice->close_code != 1006)
        fail_msg("silent connection closed with %d \"%s\" (want 1001, or no close frame)",
                 alice->close_code, alice->close_reason);
}

static void test_pings_keep_connection(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "v-ping", "bob");
    pdt_ws_t *alice = pdt_join(srv.port, "v-ping", "alice");
    pdt_expect(bob, "user_joined");
    /* Three idle timeouts in which alice only answers pings (the codec does). */
    pdt_expect_silence(bob, 4500);
    pdt_assert_quiet(alice);
    if (alice->pings < 3)
        fail_msg("only %u server pings in 4.5 s with --ping-interval 0.5", alice->pings);
    pdt_send(alice, "{\"type\":\"ping\",\"id\":3}");
    pdt_expect(alice, "pong");
}

/*
 * A frozen browser tab: its network process still answers WebSocket pings,
 * but the page sends nothing. Once a client has used app-level pings, only
 * its messages keep it alive; the snapshot tells it how often to send.
 */
static void test_app_pinger_must_keep_sending(void **state)
{
    pdt_ws_t *bob = pdt_join(srv.port, "v-frozen", "bob");
    const cJSON *snap = pdt_last(bob);
    const cJSON *idle = cJSON_GetObjectItemCaseSensitive(snap, "idleTimeout");
    assert_true(cJSON_IsNumber(idle));
    assert_int_equal((int)idle->valuedouble, 1500);
    pdt_ws_t *alice = pdt_join(srv.port, "v-frozen", "alice");
    pdt_expect(bob, "user_joined");
    /* alice pings like a page would, then freezes: pongs still go out. */
    for (int i = 0; i < 4; i++) {
        pdt_sendf(alice, "{\"type\":\"ping\",\"id\":%d}", i);
        pdt_expect(alice, "pong");
        pdt_expect_silence(bob, 400);
    }
    pdt_expect_leave_within(bob, "alice", 10000);
    if (!pdt_wait_closed(alice, 5000))
        fail_msg("the server kept a silent app-level pinger open");
    assert_int_equal(alice->close_code, 1001);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_abrupt_close_leaves),   PDT_TEST(test_reset_leaves),
        PDT_TEST(test_half_close_leaves),     PDT_TEST(test_unresponsive_client_evicted),
        PDT_TEST(test_pings_keep_connection), PDT_TEST(test_app_pinger_must_keep_sending),
    };
    return PDT_SUITE(tests, &srv, server_args, 100);
}
