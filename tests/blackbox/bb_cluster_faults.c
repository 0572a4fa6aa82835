/*
 * Faults of the cluster's Redis: Redis killed and started again empty, and
 * one node's link to Redis cut or silently frozen (through a relay the test
 * controls) past --node-timeout. Each node keeps serving its own rooms
 * meanwhile; afterwards every client's view, on every node, is the set of
 * users actually connected: no ghost, no split view. Every wait is bounded
 * and generous; nothing is timed tightly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdt_cluster.h"
#include "pdt_http.h"
#include "pdt_proc.h"
#include "pdt_redis.h"
#include "pdt_relay.h"
#include "pdt_suite.h"
#include "pdt_ws.h"

#define NODE_TIMEOUT "2"
/* Reconnection backs off up to 5 s, then the rooms are read again: a bound for a loaded machine. */
#define CONVERGE_MS 30000
#define MAX_USERS 8

static pdt_redis_t red;
static pdt_server_t node_a, node_b;
static char redis_url[128];

#define UPDATE(path) "{\"type\":\"presence_update\",\"currentPath\":\"" path "\"}"

static int start_node(pdt_server_t *s, const char *id, const char *url)
{
    const char *args[] = {"--redis",    url,        "--node-id", id,  "--node-timeout",
                          NODE_TIMEOUT, "--linger", "0",         NULL};
    return pdt_server_start_on(s, 0, args);
}

/* A client and the users it believes present (its snapshot, then joins and leaves). */
typedef struct {
    pdt_ws_t *ws;
    int n;
    char users[MAX_USERS][32];
} view_t;

static void view_add(view_t *v, const char *u)
{
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->users[i], u) == 0)
            return;
    if (v->n < MAX_USERS)
        snprintf(v->users[v->n++], sizeof(v->users[0]), "%s", u);
}

static void view_del(view_t *v, const char *u)
{
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->users[i], u) == 0) {
            memmove(v->users[i], v->users[i + 1], (size_t)(v->n - i - 1) * sizeof(v->users[0]));
            v->n--;
            return;
        }
}

static void view_join(view_t *v, int port, const char *room, const char *user)
{
    memset(v, 0, sizeof(*v));
    v->ws = pdt_join(port, room, user);
    const cJSON *users = cJSON_GetObjectItem(pdt_last(v->ws), "users");
    const cJSON *u;
    cJSON_ArrayForEach(u, users) view_add(v, pdt_str(u, "userId"));
}

/* Applies what has come for v's client. */
static void view_pump(view_t *v)
{
    const cJSON *m;
    while ((m = pdt_next(v->ws, 20))) {
        const char *type = pdt_str(m, "type");
        if (type && strcmp(type, "user_joined") == 0)
            view_add(v, pdt_str(m, "userId"));
        else if (type && strcmp(type, "user_left") == 0)
            view_del(v, pdt_str(m, "userId"));
    }
}

/* 1 when v holds exactly want (a NULL-ended list), itself left out as snapshots leave it. */
static int view_is(const view_t *v, const char *const *want)
{
    int n = 0;
    for (; want[n]; n++) {
        int found = 0;
        for (int i = 0; i < v->n; i++)
            found |= strcmp(v->users[i], want[n]) == 0;
        if (!found)
            return 0;
    }
    return v->n == n;
}

typedef struct {
    view_t *v;
    const char *const *want;
} view_wait_t;

static int view_reached(void *arg)
{
    view_wait_t *w = arg;
    view_pump(w->v);
    return view_is(w->v, w->want);
}

#define expect_view(v, ...) expect_view_((v), (const char *const[]){__VA_ARGS__, NULL}, __LINE__)
static void expect_view_(view_t *v, const char *const *want, int line)
{
    view_wait_t w = {v, want};
    if (!pdt_wait(view_reached, &w, CONVERGE_MS)) {
        char have[MAX_USERS * 33] = "";
        for (int i = 0; i < v->n; i++) {
            strcat(have, v->users[i]);
            strcat(have, " ");
        }
        fail_msg("line %d: the view never converged; it holds: %s", line, have);
    }
}

/* What a newcomer on port finds in room: exactly want, once the cluster has converged. */
typedef struct {
    int port;
    const char *room;
    const char *const *want;
    char have[MAX_USERS * 33];
} newcomer_t;

static int newcomer_sees(void *arg)
{
    newcomer_t *w = arg;
    view_t v;
    view_join(&v, w->port, w->room, "probe");
    int ok = view_is(&v, w->want);
    pdt_ws_close(v.ws);
    w->have[0] = '\0';
    for (int i = 0; i < v.n; i++) {
        strcat(w->have, v.users[i]);
        strcat(w->have, " ");
    }
    return ok;
}

#define expect_newcomer_sees(port, room, ...) \
    expect_newcomer_sees_((port), (room), (const char *const[]){__VA_ARGS__, NULL}, __LINE__)
static void expect_newcomer_sees_(int port, const char *room, const char *const *want, int line)
{
    newcomer_t w = {port, room, want, ""};
    if (!pdt_wait(newcomer_sees, &w, CONVERGE_MS))
        fail_msg("line %d: a newcomer on port %d finds %s", line, port, w.have);
}

static int healthz(int port)
{
    pd_buf_t out = PD_BUF_INIT;
    int st = pdt_http_get(port, "/healthz", &out);
    pd_buf_free(&out);
    return st;
}

/* How many lines of s's log contain needle. */
static int log_count(const pdt_server_t *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "r");
    if (!f)
        return -1;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static int disconnected(void *arg)
{
    return pdt_http_metric(*(int *)arg, "presenced_cluster_connected") == 0;
}

static int connected(void *arg)
{
    return pdt_http_metric(*(int *)arg, "presenced_cluster_connected") == 1;
}

/*
 * Redis killed and started again empty: both nodes serve their rooms
 * meanwhile (ping, moves within a node, joins and leaves); once Redis is
 * back every view on both nodes is the users connected, those who came or
 * went during the outage included.
 */
static void test_redis_restart_converges(void **state)
{
    view_t alice, bob, erin, carol;
    view_join(&alice, node_a.port, "f-redis", "alice");
    view_join(&bob, node_b.port, "f-redis", "bob");
    view_join(&erin, node_b.port, "f-redis", "erin");
    expect_view(&alice, "bob", "erin");
    expect_view(&bob, "alice", "erin");

    pdt_redis_kill(&red);
    if (!pdt_wait(disconnected, &node_a.port, CONVERGE_MS) ||
        !pdt_wait(disconnected, &node_b.port, CONVERGE_MS))
        fail_msg("a node never noticed that Redis went");
    assert_int_equal(healthz(node_a.port), 200);
    assert_int_equal(healthz(node_b.port), 200);
    /* Alone, each node serves its own members; the others' are dropped until Redis is back. */
    expect_view_(&alice, (const char *const[]){NULL}, __LINE__);
    expect_view(&bob, "erin");
    pdt_sync(alice.ws);
    view_join(&carol, node_a.port, "f-redis", "carol");
    expect_view(&alice, "carol");
    pdt_send(carol.ws, UPDATE("/w/f-redis/c"));
    assert_field(pdt_wait_type(alice.ws, "presence_changed", PDT_WAIT_MS), "userId", "carol");
    pdt_ws_close(erin.ws);
    expect_view_(&bob, (const char *const[]){NULL}, __LINE__);

    if (pdt_redis_restart(&red) != 0)
        fail_msg("redis-server did not start again");
    if (!pdt_wait(connected, &node_a.port, CONVERGE_MS) ||
        !pdt_wait(connected, &node_b.port, CONVERGE_MS))
        fail_msg("a node never connected again");
    expect_view(&alice, "bob", "carol");
    expect_view(&bob, "alice", "carol");
    /* One warning per node for the outage, whatever its number of threads. */
    assert_int_equal(log_count(&node_a, "Redis unreachable"), 1);
    assert_int_equal(log_count(&node_b, "Redis unreachable"), 1);
    expect_view(&carol, "alice", "bob");
    assert_true(pdt_http_metric(node_a.port, "presenced_cluster_resyncs_total") >= 1);
    expect_newcomer_sees(node_a.port, "f-redis", "alice", "bob", "carol");
    expect_newcomer_sees(node_b.port, "f-redis", "alice", "bob", "carol");
    pdt_send(bob.ws, UPDATE("/w/f-redis/b"));
    assert_field(pdt_wait_type(alice.ws, "presence_changed", PDT_WAIT_MS), "userId", "bob");
    pdt_ws_close(alice.ws);
    pdt_ws_close(bob.ws);
    pdt_ws_close(carol.ws);
}

/* Node c on a relay; its link is cut (fault 0) or frozen (1) past the timeout, then restored. */
static void link_fault(int frozen)
{
    pdt_relay_t *relay = pdt_relay_start(red.port);
    assert_non_null(relay);
    char url[128];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", pdt_relay_port(relay));
    pdt_server_t node_c;
    memset(&node_c, 0, sizeof(node_c));
    if (start_node(&node_c, frozen ? "fz" : "ct", url) != 0)
        fail_msg("node c did not start");
    const char *room = frozen ? "f-freeze" : "f-cut";
    if (!pdt_wait(connected, &node_c.port, CONVERGE_MS))
        fail_msg("node c never connected");
    view_t alice, dave;
    view_join(&alice, node_a.port, room, "alice");
    view_join(&dave, node_c.port, room, "dave");
    expect_view(&alice, "dave");
    expect_view(&dave, "alice");

    if (frozen)
        pdt_relay_freeze(relay);
    else
        pdt_relay_cut(relay);
    /* A room's first member comes while the link is silent: it is admitted within
     * the node timeout, with the state node c has (its own members). */
    view_t fay;
    view_join(&fay, node_c.port, frozen ? "f-freeze-new" : "f-cut-new", "fay");
    /* The others declare c dead; c finds its link gone (cut) or silent (frozen). */
    expect_view_(&alice, (const char *const[]){NULL}, __LINE__);
    expect_view_(&dave, (const char *const[]){NULL}, __LINE__);
    if (!pdt_wait(disconnected, &node_c.port, CONVERGE_MS))
        fail_msg("node c never noticed its link went");
    assert_int_equal(healthz(node_c.port), 200);
    pdt_sync(dave.ws);

    pdt_relay_restore(relay);
    if (!pdt_wait(connected, &node_c.port, CONVERGE_MS))
        fail_msg("node c never connected again");
    /* c announces its members again: no client of it is closed, no view split. */
    expect_view(&alice, "dave");
    expect_view(&dave, "alice");
    expect_newcomer_sees(node_b.port, room, "alice", "dave");
    expect_newcomer_sees(node_c.port, room, "alice", "dave");
    pdt_ws_close(fay.ws);
    pdt_send(dave.ws, UPDATE("/w/f/d"));
    assert_field(pdt_wait_type(alice.ws, "presence_changed", PDT_WAIT_MS), "userId", "dave");
    pdt_ws_close(dave.ws);
    expect_view_(&alice, (const char *const[]){NULL}, __LINE__);
    pdt_ws_close(alice.ws);
    int rc = pdt_server_stop(&node_c);
    if (rc)
        pdt_server_dump_log(&node_c);
    pdt_server_discard(&node_c, 0);
    pdt_relay_stop(relay);
    assert_int_equal(rc, 0);
}

static void test_link_cut_and_restored(void **state)
{
    link_fault(0);
}

static void test_link_frozen_and_restored(void **state)
{
    link_fault(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_link_cut_and_restored),
        PDT_TEST(test_link_frozen_and_restored),
        PDT_TEST(test_redis_restart_converges),
    };
    pdt_watchdog(290);
    if (!pdt_redis_available()) {
        fprintf(stderr, "SKIP: no redis-server (scripts/deps.sh test installs it)\n");
        return 77;
    }
    if (pdt_redis_start(&red) != 0)
        return 1;
    pdt_redis_url(&red, redis_url, sizeof(redis_url));
    int failed = 1;
    if (start_node(&node_a, "a", redis_url) == 0 && start_node(&node_b, "b", redis_url) == 0) {
        if (pdt_wait(connected, &node_a.port, CONVERGE_MS) &&
            pdt_wait(connected, &node_b.port, CONVERGE_MS))
            failed = cmocka_run_group_tests(tests, NULL, NULL);
        else
            fprintf(stderr, "the nodes did not connect to Redis\n");
    }
    pdt_server_t *const nodes[] = {&node_a, &node_b};
    return pdt_cluster_finish(nodes, 2, &red, failed);
}
