/*
 * Reconnecting against the real presenced: presence comes back by itself
 * after the server is killed (or drained) and restarted on the same port,
 * back-off delays stay in their bounds and grow, the count resets after a
 * connection stayed up, and a server that stops answering is detected by
 * the app-level pings.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static uv_loop_t loop;

static int where_is(const ct_client_t *cc, const char *user, const char *where)
{
    return strcmp(ct_where(cc, user), where) == 0;
}

static int all_connected(ct_client_t **cs, size_t n, int times)
{
    for (size_t i = 0; i < n; i++)
        if (ct_count(cs[i], PRESENCE_EV_CONNECTED) < times)
            return 0;
    return 1;
}

/* Every client sees every other one at the location it set. */
static int all_see_all(ct_client_t **cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            char where[96];
            snprintf(where, sizeof where, "/w/r/%s||", cs[j]->user);
            if (i != j && !where_is(cs[i], cs[j]->user, where))
                return 0;
        }
    }
    return 1;
}

/* The first event of type at or after index from, or NULL. */
static const ct_event_t *first_since(const ct_client_t *cc, size_t from, presence_event_type_t type)
{
    for (size_t i = from; i < cc->n_events; i++)
        if (cc->events[i].type == type)
            return &cc->events[i];
    return NULL;
}

static void restart_cycle(pdt_server_t *srv, ct_client_t **cs, size_t n, int sig, int reason,
                          int round)
{
    int port = srv->port;
    size_t before[8];
    for (size_t i = 0; i < n; i++)
        before[i] = cs[i]->n_events;
    ct_server_kill(srv, &loop, sig);
    for (size_t i = 0; i < n; i++)
        CT_WAIT(&loop, first_since(cs[i], before[i], PRESENCE_EV_DISCONNECTED), CT_WAIT_MS);
    /* The connection's end says why; the attempts while the server is down are refused. */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(first_since(cs[i], before[i], PRESENCE_EV_DISCONNECTED)->reason, reason);
    ct_run_for(&loop, 100);
    ct_server_start(srv, port, NULL);
    assert_int_equal(srv->port, port);
    CT_WAIT(&loop, all_connected(cs, n, round + 1) && all_see_all(cs, n), 15000);
}

static void test_presence_comes_back_after_restart(void **state)
{
    pdt_server_t srv = {0};
    ct_server_start(&srv, 0, NULL);
    ct_client_t *cs[3];
    const char *users[] = {"u1", "u2", "u3"};
    for (size_t i = 0; i < 3; i++) {
        cs[i] = ct_client_new(&loop, ct_server_url(&srv), "r", users[i], NULL, NULL);
        char path[64];
        snprintf(path, sizeof path, "/w/r/%s", users[i]);
        presence_client_update(cs[i]->c, path, NULL, NULL);
    }
    CT_WAIT(&loop, all_see_all(cs, 3), CT_WAIT_MS);
    ct_follow(cs[0], "u2");
    CT_WAIT(&loop, cs[0]->n_follows == 1, CT_WAIT_MS);

    /* A crash: connections die without a close frame. */
    restart_cycle(&srv, cs, 3, SIGKILL, PRESENCE_ERR_CLOSED, 1);
    /* A drain: presenced closes every connection with 1001. */
    restart_cycle(&srv, cs, 3, SIGTERM, PRESENCE_ERR_UNAVAILABLE, 2);

    /* Following survived both restarts, and still works. */
    assert_string_equal(presence_client_following(cs[0]->c), "u2");
    presence_client_update(cs[1]->c, "/w/r/elsewhere", NULL, NULL);
    CT_WAIT(&loop, cs[0]->n_follows == 2, CT_WAIT_MS);
    assert_string_equal(cs[0]->follows[1].path, "/w/r/elsewhere");
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ct_count(cs[i], PRESENCE_EV_STOPPED), 0);
        /* A fresh token for every connection attempt. */
        assert_true(cs[i]->token_calls >= 3);
        ct_client_close(cs[i]);
    }
    pdt_server_discard(&srv, 0);
}

static double always_one(void *data)
{
    return 1.0;
}

static double always_zero(void *data)
{
    return 0.0;
}

typedef struct {
    double (*random)(void *);
    uint32_t reset_ms;
} backoff_args_t;

static void backoff_options(presence_options_t *o, void *arg)
{
    backoff_args_t *a = arg;
    o->backoff_min_ms = 10;
    o->backoff_first_ms = 40;
    o->backoff_growth = 2.0;
    o->backoff_max_ms = 300;
    o->backoff_reset_ms = a->reset_ms;
    o->random = a->random;
}

static void test_backoff_delays_grow_within_bounds(void **state)
{
    int port = pdt_free_port();
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    const uint64_t ceilings[] = {40, 80, 160, 300, 300, 300};
    /* At the top of each window: exactly the ceilings, which grow to the cap. */
    backoff_args_t top = {always_one, 5000};
    ct_client_t *a = ct_client_new(&loop, url, "b", "u1", backoff_options, &top);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_DISCONNECTED) >= 6, 10000);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(a->events[i].type, PRESENCE_EV_DISCONNECTED);
        assert_int_equal(a->events[i].reason, PRESENCE_ERR_CONNECT);
        assert_int_equal(a->events[i].retry_ms, ceilings[i]);
    }
    /* The token provider was asked before every attempt. */
    assert_true(a->token_calls >= 6);
    ct_client_close(a);
    /* At the bottom: the floor, every time. */
    backoff_args_t bottom = {always_zero, 5000};
    a = ct_client_new(&loop, url, "b", "u1", backoff_options, &bottom);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_DISCONNECTED) >= 6, 10000);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(a->events[i].retry_ms, 10);
    ct_client_close(a);
    /* The system's randomness: anywhere in [floor, ceiling]. */
    backoff_args_t real = {NULL, 5000};
    a = ct_client_new(&loop, url, "b", "u1", backoff_options, &real);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_DISCONNECTED) >= 6, 10000);
    for (size_t i = 0; i < 6; i++)
        assert_true(a->events[i].retry_ms >= 10 && a->events[i].retry_ms <= ceilings[i]);
    ct_client_close(a);
}

static void test_backoff_resets_after_uptime(void **state)
{
    pdt_server_t srv = {0};
    int port = pdt_free_port();
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    backoff_args_t top = {always_one, 300};
    ct_client_t *a = ct_client_new(&loop, url, "b", "u1", backoff_options, &top);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_DISCONNECTED) >= 3, 10000);
    ct_server_start(&srv, port, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, 10000);
    size_t before = (size_t)ct_count(a, PRESENCE_EV_DISCONNECTED);
    assert_true(ct_last(a, PRESENCE_EV_DISCONNECTED)->retry_ms >= 160);
    ct_run_for(&loop, 500); /* longer than backoff_reset_ms */
    ct_server_kill(&srv, &loop, SIGKILL);
    CT_WAIT(&loop, (size_t)ct_count(a, PRESENCE_EV_DISCONNECTED) == before + 1, CT_WAIT_MS);
    assert_int_equal(ct_last(a, PRESENCE_EV_DISCONNECTED)->retry_ms, 40);
    ct_client_close(a);
    pdt_server_discard(&srv, 0);
}

static void pings_options(presence_options_t *o, void *arg)
{
    o->ping_interval_ms = 200;
    o->pong_timeout_ms = 1000;
    o->connect_timeout_ms = 1000;
}

static void test_silent_server_detected_by_pings(void **state)
{
    pdt_server_t srv = {0};
    ct_server_start(&srv, 0, NULL);
    ct_client_t *a = ct_client_new(&loop, ct_server_url(&srv), "p", "u1", pings_options, NULL);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 1, CT_WAIT_MS);
    ct_run_for(&loop, 600); /* pongs keep it alive meanwhile */
    assert_int_equal(ct_count(a, PRESENCE_EV_DISCONNECTED), 0);
    /* The process is there, its sockets are open, but nothing answers. */
    kill(srv.pid, SIGSTOP);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_DISCONNECTED) >= 1, CT_WAIT_MS);
    const ct_event_t *e = ct_last(a, PRESENCE_EV_DISCONNECTED);
    assert_int_equal(e->reason, PRESENCE_ERR_TIMEOUT);
    assert_string_equal(e->detail, "no pong within 1000 ms");
    /* Attempts meanwhile time out too (the kernel accepts, nobody answers). */
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_DISCONNECTED) >= 2, CT_WAIT_MS);
    assert_string_equal(ct_last(a, PRESENCE_EV_DISCONNECTED)->detail,
                        "not connected within 1000 ms");
    kill(srv.pid, SIGCONT);
    CT_WAIT(&loop, ct_count(a, PRESENCE_EV_CONNECTED) == 2, 10000);
    ct_client_close(a);
    pdt_server_discard(&srv, 0);
}

int main(void)
{
    pdt_watchdog(150);
    const struct CMUnitTest tests[] = {
        CT_TEST(test_presence_comes_back_after_restart, &loop),
        CT_TEST(test_backoff_delays_grow_within_bounds, &loop),
        CT_TEST(test_backoff_resets_after_uptime, &loop),
        CT_TEST(test_silent_server_detected_by_pings, &loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
