/*
 * A cluster over a real redis-server: two presenced nodes (a third one
 * where a test kills it) started with --redis, their clients on real
 * sockets. Presence reads as on one node: each user sees the others'
 * moves and finds them in snapshots; a user with a tab on each node joins
 * once and leaves once; a node killed with SIGKILL has its members leave on
 * the other node within --node-timeout (2 s here) plus a second, which the
 * tests wait for with a generous bound and never time tightly. A client
 * lost without a close frame that comes back on another node within the
 * linger (3 s here) takes its place there, with no leave and no join.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "pdt_cluster.h"
#include "pdt_http.h"
#include "pdt_proc.h"
#include "pdt_redis.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

#define NODE_TIMEOUT "2"
/* Presence kept after a close without a close frame: short, to be waited out. */
#define LINGER "3"
#define LINGER_MS 3000
/* A dead node's members leave within the timeout and a second; this bound is for a loaded machine. */
#define DEAD_NODE_BOUND_MS 15000

static pdt_redis_t red;
static pdt_server_t node_a, node_b;
static pdt_server_t node_c; /* a test's third node, which it kills or freezes */
static char redis_url[128];

#define UPDATE(path) "{\"type\":\"presence_update\",\"currentPath\":\"" path "\"}"

/* Starts node id on port (0: a free one, or the one it had when s ran before). */
static int start_node_on(pdt_server_t *s, const char *id, int port)
{
    const char *args[] = {"--redis",    redis_url,  "--node-id", id,  "--node-timeout",
                          NODE_TIMEOUT, "--linger", LINGER,      NULL};
    return pdt_server_start_on(s, port, args);
}

static int start_node(pdt_server_t *s, const char *id)
{
    return start_node_on(s, id, 0);
}

typedef struct {
    const char *room; /* the workspace */
    const char *user;
} in_redis_t;

static int member_in_redis(void *arg)
{
    const in_redis_t *w = arg;
    char key[160], out[8192], want[160];
    snprintf(key, sizeof(key), "presenced:room:presence-%s", w->room);
    snprintf(want, sizeof(want), "\"userId\":\"%s\"", w->user);
    const char *argv[] = {"HVALS", key, NULL};
    return pdt_redis_cmd(&red, out, sizeof(out), argv) == 0 && strstr(out, want) != NULL;
}

/*
 * Another node learns of a join when its message arrives: a test that
 * asserts on a snapshot taken on another node first waits until Redis has
 * the member (then the room's state or the channel brings it).
 */
static void wait_in_redis(const char *room, const char *user)
{
    in_redis_t w = {room, user};
    if (!pdt_wait(member_in_redis, &w, PDT_WAIT_MS))
        fail_msg("%s never appeared in Redis for %s", user, room);
}

static void expect_changed(pdt_ws_t *c, const char *user, const char *path)
{
    const cJSON *m = pdt_expect(c, "presence_changed");
    assert_field(m, "userId", user);
    assert_field(m, "currentPath", path);
}

/* Two users on two nodes see each other's moves and each other in snapshots. */
static void test_two_nodes_see_each_other(void **state)
{
    pdt_ws_t *alice = pdt_join(node_a.port, "c-two", "alice");
    assert_int_equal(pdt_snapshot_count(pdt_last(alice)), 0);
    wait_in_redis("c-two", "alice");
    pdt_ws_t *bob = pdt_join(node_b.port, "c-two", "bob");
    const cJSON *snap = pdt_last(bob);
    assert_int_equal(pdt_snapshot_count(snap), 1);
    assert_field(pdt_snapshot_user(snap, "alice"), "userName", "Alice");
    const cJSON *j = pdt_expect(alice, "user_joined");
    assert_field(j, "userId", "bob");
    assert_field(j, "userName", "Bob");

    pdt_send(bob, UPDATE("/w/c-two/documents/1"));
    expect_changed(alice, "bob", "/w/c-two/documents/1");
    pdt_send(alice, UPDATE("/w/c-two/tasks/9"));
    expect_changed(bob, "alice", "/w/c-two/tasks/9");
    /* The sender hears nothing of its own move. */
    pdt_expect_none(bob, bob);

    /* A newcomer on either node finds both, where they are. */
    pdt_ws_t *carol = pdt_join(node_a.port, "c-two", "carol");
    snap = pdt_last(carol);
    assert_int_equal(pdt_snapshot_count(snap), 2);
    assert_field(pdt_snapshot_user(snap, "bob"), "currentPath", "/w/c-two/documents/1");
    assert_field(pdt_snapshot_user(snap, "alice"), "currentPath", "/w/c-two/tasks/9");
    assert_field(pdt_expect(alice, "user_joined"), "userId", "carol");
    /* Node B has heard of carol once bob has. */
    assert_field(pdt_expect(bob, "user_joined"), "userId", "carol");
    pdt_ws_t *dave = pdt_join(node_b.port, "c-two", "dave");
    snap = pdt_last(dave);
    assert_int_equal(pdt_snapshot_count(snap), 3);
    assert_field(pdt_snapshot_user(snap, "alice"), "currentPath", "/w/c-two/tasks/9");
    assert_field(pdt_snapshot_user(snap, "carol"), "currentPath", "");
    assert_field(pdt_expect(alice, "user_joined"), "userId", "dave");
    assert_field(pdt_expect(bob, "user_joined"), "userId", "dave");
    assert_field(pdt_expect(carol, "user_joined"), "userId", "dave");

    pdt_ws_close(bob);
    pdt_expect_leave(alice, "bob");
    pdt_expect_leave(carol, "bob");
}

/* One user with a tab on each node: joins once, leaves once, as with two tabs on one node. */
static void test_tab_on_each_node_joins_once_leaves_once(void **state)
{
    pdt_ws_t *alice = pdt_join(node_a.port, "c-tabs", "alice");
    wait_in_redis("c-tabs", "alice");
    pdt_ws_t *carol = pdt_join(node_b.port, "c-tabs", "carol");
    pdt_expect(alice, "user_joined");
    pdt_ws_t *tab_a = pdt_join(node_a.port, "c-tabs", "bob");
    assert_field(pdt_expect(alice, "user_joined"), "userId", "bob");
    assert_field(pdt_expect(carol, "user_joined"), "userId", "bob");
    pdt_ws_t *tab_b = pdt_join(node_b.port, "c-tabs", "bob");
    /* The second tab's snapshot lists bob, present through the first. */
    assert_non_null(pdt_snapshot_user(pdt_last(tab_b), "bob"));
    /* Had the second tab counted as a join, user_joined would come before this move. */
    pdt_send(tab_b, UPDATE("/w/c-tabs/b"));
    expect_changed(alice, "bob", "/w/c-tabs/b");
    expect_changed(carol, "bob", "/w/c-tabs/b");
    expect_changed(tab_a, "bob", "/w/c-tabs/b");

    /* The tab on node A goes: bob is still there through node B. */
    pdt_ws_close(tab_a);
    pdt_send(tab_b, UPDATE("/w/c-tabs/b2"));
    expect_changed(alice, "bob", "/w/c-tabs/b2");
    expect_changed(carol, "bob", "/w/c-tabs/b2");

    pdt_ws_close(tab_b);
    pdt_expect_leave(alice, "bob");
    pdt_expect_leave(carol, "bob");
}

/* A user's presence is its most recently updated tab, whichever node it is on. */
static void test_presence_is_newest_tab_anywhere(void **state)
{
    pdt_ws_t *alice = pdt_join(node_a.port, "c-newest", "alice");
    pdt_ws_t *tab_a = pdt_join(node_a.port, "c-newest", "bob");
    pdt_expect(alice, "user_joined");
    wait_in_redis("c-newest", "bob");
    pdt_ws_t *tab_b = pdt_join(node_b.port, "c-newest", "bob");
    pdt_send(tab_a, UPDATE("/w/c-newest/a"));
    expect_changed(alice, "bob", "/w/c-newest/a");
    expect_changed(tab_b, "bob", "/w/c-newest/a");
    pdt_send(tab_b, UPDATE("/w/c-newest/b"));
    expect_changed(alice, "bob", "/w/c-newest/b");
    expect_changed(tab_a, "bob", "/w/c-newest/b");
    /* The newest tab goes: the other one's location is bob's again, on both nodes. */
    pdt_ws_close(tab_b);
    expect_changed(alice, "bob", "/w/c-newest/a");
    expect_changed(tab_a, "bob", "/w/c-newest/a");
}

static int no_entries_of(void *arg)
{
    char out[4096];
    const char *argv[] = {"HKEYS", "presenced:room:presence-c-kill", NULL};
    if (pdt_redis_cmd(&red, out, sizeof(out), argv) != 0)
        return 0;
    return strstr(out, (const char *)arg) == NULL;
}

/* A node killed with SIGKILL: its members leave on the other node, and Redis forgets them. */
static void test_killed_node_members_leave(void **state)
{
    if (start_node(&node_c, "c") != 0)
        fail_msg("node c did not start");
    if (!pdt_cluster_wait_registered(&red, "c"))
        fail_msg("node c did not register in Redis");
    pdt_ws_t *alice = pdt_join(node_a.port, "c-kill", "alice");
    wait_in_redis("c-kill", "alice");
    pdt_ws_t *dave = pdt_join(node_c.port, "c-kill", "dave");
    assert_non_null(pdt_snapshot_user(pdt_last(dave), "alice"));
    assert_field(pdt_expect(alice, "user_joined"), "userId", "dave");
    pdt_send(dave, UPDATE("/w/c-kill/x"));
    expect_changed(alice, "dave", "/w/c-kill/x");

    pdt_server_signal(&node_c, SIGKILL);
    assert_int_equal(pdt_server_wait(&node_c, 10000), 128 + SIGKILL);
    pdt_expect_leave_within(alice, "dave", DEAD_NODE_BOUND_MS);
    if (!pdt_wait(no_entries_of, "c/", PDT_WAIT_MS))
        fail_msg("the dead node's entries are still in Redis");
    /* A newcomer does not see the dead node's member. */
    pdt_ws_t *erin = pdt_join(node_b.port, "c-kill", "erin");
    assert_int_equal(pdt_snapshot_count(pdt_last(erin)), 1);
    pdt_ws_drop(dave);
}

static double metric(const pdt_server_t *s, const char *name)
{
    return pdt_http_metric(s->port, name);
}

/*
 * Anything that can write to Redis can publish on a room's channel: what
 * is not a valid message is dropped and counted, and the node goes on.
 */
static void test_malformed_messages_dropped(void **state)
{
    pdt_ws_t *alice = pdt_join(node_a.port, "c-bad", "alice");
    wait_in_redis("c-bad", "alice");
    pdt_ws_t *bob = pdt_join(node_b.port, "c-bad", "bob");
    assert_field(pdt_expect(alice, "user_joined"), "userId", "bob");
    double before = metric(&node_a, "presenced_cluster_messages_malformed_total");
    static const char *const junk[] = {
        "",
        "not json",
        "[]",
        "{\"v\":1}",
        "{\"v\":1,\"n\":\"x/0\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":7}",
        "{\"v\":1,\"n\":\"b/0\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":{\"userId\":\"\"}}",
        "{\"v\":1,\"n\":\"x/0\",\"i\":1,\"s\":0,\"k\":\"k\"}",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        char out[256];
        const char *argv[] = {"PUBLISH", "presenced:0:room:presence-c-bad", junk[i], NULL};
        assert_int_equal(pdt_redis_cmd(&red, out, sizeof(out), argv), 0);
    }
    /* A move published after the junk arrives after it: the node has read it all. */
    pdt_send(bob, UPDATE("/w/c-bad/after"));
    expect_changed(alice, "bob", "/w/c-bad/after");
    assert_true(metric(&node_a, "presenced_cluster_messages_malformed_total") >=
                before + (double)(sizeof(junk) / sizeof(junk[0])));
    assert_true(metric(&node_a, "presenced_cluster_connected") == 1);
    assert_true(metric(&node_a, "presenced_cluster_nodes") >= 2);
    assert_true(metric(&node_a, "presenced_cluster_messages_published_total") >= 1);
    assert_true(metric(&node_a, "presenced_cluster_messages_received_total") >= 1);
    pdt_expect_none(alice, alice);
}

/*
 * A node killed and started again at once on the same address, under the
 * same id: its old members leave, its new connections see and are seen
 * by everyone.
 */
static void test_restarted_node_seen_by_everyone(void **state)
{
    if (start_node(&node_c, "r") != 0)
        fail_msg("node r did not start");
    if (!pdt_cluster_wait_registered(&red, "r"))
        fail_msg("node r did not register in Redis");
    pdt_ws_t *alice = pdt_join(node_a.port, "c-restart", "alice");
    wait_in_redis("c-restart", "alice");
    pdt_ws_t *dave = pdt_join(node_c.port, "c-restart", "dave");
    assert_field(pdt_expect(alice, "user_joined"), "userId", "dave");
    int port = node_c.port;
    pdt_server_signal(&node_c, SIGKILL);
    assert_int_equal(pdt_server_wait(&node_c, 10000), 128 + SIGKILL);
    pdt_ws_drop(dave);
    if (start_node_on(&node_c, "r", 0) != 0)
        fail_msg("node r did not start again");
    assert_int_equal(node_c.port, port);
    pdt_expect_leave_within(alice, "dave", DEAD_NODE_BOUND_MS);

    pdt_ws_t *erin = pdt_join(node_c.port, "c-restart", "erin");
    assert_non_null(pdt_snapshot_user(pdt_last(erin), "alice"));
    assert_null(pdt_snapshot_user(pdt_last(erin), "dave"));
    assert_field(pdt_expect(alice, "user_joined"), "userId", "erin");
    pdt_send(alice, UPDATE("/w/c-restart/a"));
    expect_changed(erin, "alice", "/w/c-restart/a");
    pdt_send(erin, UPDATE("/w/c-restart/e"));
    expect_changed(alice, "erin", "/w/c-restart/e");
    assert_int_equal(pdt_server_stop(&node_c), 0);
}

/*
 * A node frozen (SIGSTOP) past the timeout: its members leave on the others;
 * when it wakes it finds itself declared dead, closes its clients with 1012
 * so that they reconnect, and joins again under a new incarnation: no
 * ghost, no split view.
 */
static void test_frozen_node_closes_its_clients_on_waking(void **state)
{
    if (start_node(&node_c, "f") != 0)
        fail_msg("node f did not start");
    if (!pdt_cluster_wait_registered(&red, "f"))
        fail_msg("node f did not register in Redis");
    pdt_ws_t *alice = pdt_join(node_a.port, "c-freeze", "alice");
    wait_in_redis("c-freeze", "alice");
    pdt_ws_t *dave = pdt_join(node_c.port, "c-freeze", "dave");
    assert_field(pdt_expect(alice, "user_joined"), "userId", "dave");

    pdt_server_signal(&node_c, SIGSTOP);
    pdt_expect_leave_within(alice, "dave", DEAD_NODE_BOUND_MS);
    pdt_server_signal(&node_c, SIGCONT);
    pdt_expect_close(dave, 1012, "NODE_RESTART");
    pdt_ws_drop(dave);

    dave = pdt_join(node_c.port, "c-freeze", "dave");
    assert_non_null(pdt_snapshot_user(pdt_last(dave), "alice"));
    assert_field(pdt_expect(alice, "user_joined"), "userId", "dave");
    pdt_send(dave, UPDATE("/w/c-freeze/back"));
    expect_changed(alice, "dave", "/w/c-freeze/back");
    pdt_ws_close(dave);
    pdt_expect_leave(alice, "dave");
    assert_int_equal(pdt_server_stop(&node_c), 0);
}

static pdt_ws_t *join_pk(int port, const char *ws, const char *user, const char *pk)
{
    pdt_ws_opts_t o = {.workspace = ws, .pk = pk, .label = user};
    o.token = pdt_token(user, pdt_name(user), ws, 3600);
    pdt_ws_t *c = pdt_ws_open(port, &o);
    pdt_expect(c, "presence_snapshot");
    return c;
}

typedef struct {
    const char *room; /* the workspace */
    const char *key;  /* a connection key */
    const char *node; /* the one node that must hold it, "b/" */
} only_on_t;

/* The room's entries in Redis hold key once, on node (the takeover settled). */
static int key_only_on(void *arg)
{
    const only_on_t *w = arg;
    char hash[160], out[8192], want[80];
    snprintf(hash, sizeof(hash), "presenced:room:presence-%s", w->room);
    snprintf(want, sizeof(want), "|%s", w->key);
    const char *argv[] = {"HKEYS", hash, NULL};
    if (pdt_redis_cmd(&red, out, sizeof(out), argv) != 0)
        return 0;
    int n = 0, on_node = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        size_t len = strlen(line), klen = strlen(want);
        if (len < klen || strcmp(line + len - klen, want) != 0)
            continue;
        n++;
        on_node += strncmp(line, w->node, strlen(w->node)) == 0;
    }
    return n == 1 && on_node == 1;
}

/* Fails on anything c has queued (what came while the clients were pumped). */
static void expect_nothing_queued(pdt_ws_t *c)
{
    const cJSON *m = pdt_next(c, 0);
    if (m)
        fail_msg("%s: unexpected %s", c->label, cJSON_PrintUnformatted(m));
}

/*
 * A client lost without a close frame on node A comes back with the same
 * _pk on node B within the linger: it takes its place there. Observers on
 * A and on a third node see no leave and no join, and no presence_changed
 * for a move that did not happen; the new connection's snapshot shows the
 * user where it was; node A drops its lingering member at once (its
 * entry leaves Redis, well before the linger ends), and no leave comes
 * once the linger would have run out.
 */
static void test_reconnect_on_another_node_takes_over(void **state)
{
    if (start_node(&node_c, "o") != 0)
        fail_msg("node o did not start");
    if (!pdt_cluster_wait_registered(&red, "o"))
        fail_msg("node o did not register in Redis");
    pdt_ws_t *obs_a = pdt_join(node_a.port, "c-move", "alice");
    wait_in_redis("c-move", "alice");
    pdt_ws_t *obs_c = pdt_join(node_c.port, "c-move", "carol");
    assert_field(pdt_expect(obs_a, "user_joined"), "userId", "carol");
    pdt_ws_t *bob = join_pk(node_a.port, "c-move", "bob", "mv-tab");
    assert_field(pdt_expect(obs_a, "user_joined"), "userId", "bob");
    assert_field(pdt_expect(obs_c, "user_joined"), "userId", "bob");
    pdt_send(bob, UPDATE("/w/c-move/here"));
    expect_changed(obs_a, "bob", "/w/c-move/here");
    /* Node o has heard it: so has Redis, which node B reads the room from. */
    expect_changed(obs_c, "bob", "/w/c-move/here");

    pdt_ws_drop(bob);
    bob = join_pk(node_b.port, "c-move", "bob", "mv-tab");
    const cJSON *snap = pdt_last(bob);
    assert_field(cJSON_GetObjectItemCaseSensitive(snap, "self"), "connectionId", "mv-tab");
    assert_field(pdt_snapshot_user(snap, "bob"), "currentPath", "/w/c-move/here");
    assert_non_null(pdt_snapshot_user(snap, "alice"));
    assert_non_null(pdt_snapshot_user(snap, "carol"));

    /* Node A let go of its lingering member as soon as it heard of B's: one
     * entry for the key, B's, long before the 3 s linger ends. */
    only_on_t w = {"c-move", "mv-tab", "b/"};
    if (!pdt_wait(key_only_on, &w, LINGER_MS - 1000))
        fail_msg("node a kept its lingering member once the client was back on node b");

    /* The same place again is no move: the observers' next message is the real one. */
    pdt_send(bob, UPDATE("/w/c-move/here"));
    pdt_send(bob, UPDATE("/w/c-move/there"));
    expect_changed(obs_a, "bob", "/w/c-move/there");
    expect_changed(obs_c, "bob", "/w/c-move/there");

    /* Past the linger node A would have had: no leave, nothing at all. */
    pdt_pump(LINGER_MS + 1000);
    expect_nothing_queued(obs_a);
    expect_nothing_queued(obs_c);
    pdt_send(bob, UPDATE("/w/c-move/last"));
    expect_changed(obs_a, "bob", "/w/c-move/last");
    expect_changed(obs_c, "bob", "/w/c-move/last");
    assert_true(key_only_on(&w));

    /* A newcomer on any node finds bob once, where he is; his clean leave is one leave. */
    pdt_ws_t *dave = pdt_join(node_a.port, "c-move", "dave");
    assert_int_equal(pdt_snapshot_count(pdt_last(dave)), 3);
    assert_field(pdt_snapshot_user(pdt_last(dave), "bob"), "currentPath", "/w/c-move/last");
    assert_field(pdt_expect(obs_a, "user_joined"), "userId", "dave");
    assert_field(pdt_expect(obs_c, "user_joined"), "userId", "dave");
    pdt_ws_close(bob);
    pdt_expect_leave(obs_a, "bob");
    pdt_expect_leave(obs_c, "bob");
    assert_field(pdt_expect(dave, "user_left"), "userId", "bob");
    assert_int_equal(pdt_server_stop(&node_c), 0);
}

/* The third node goes with the test, its log printed when the test failed. */
static int teardown_third(void **state)
{
    pdt_teardown(state);
    /* Still running: the test stopped half-way. */
    if (node_c.dir[0])
        pdt_server_discard(&node_c, node_c.pid != 0);
    memset(&node_c, 0, sizeof(node_c));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_two_nodes_see_each_other),
        PDT_TEST(test_tab_on_each_node_joins_once_leaves_once),
        PDT_TEST(test_presence_is_newest_tab_anywhere),
        PDT_TEST(test_malformed_messages_dropped),
        cmocka_unit_test_teardown(test_killed_node_members_leave, teardown_third),
        cmocka_unit_test_teardown(test_frozen_node_closes_its_clients_on_waking, teardown_third),
        cmocka_unit_test_teardown(test_restarted_node_seen_by_everyone, teardown_third),
        cmocka_unit_test_teardown(test_reconnect_on_another_node_takes_over, teardown_third),
    };
    pdt_watchdog(170);
    if (!pdt_redis_available()) {
        fprintf(stderr, "SKIP: no redis-server (scripts/deps.sh test installs it)\n");
        return 77;
    }
    if (pdt_redis_start(&red) != 0)
        return 1;
    pdt_redis_url(&red, redis_url, sizeof(redis_url));
    int failed = 1;
    if (start_node(&node_a, "a") == 0 && start_node(&node_b, "b") == 0) {
        if (pdt_cluster_wait_registered(&red, "a") && pdt_cluster_wait_registered(&red, "b"))
            failed = cmocka_run_group_tests(tests, NULL, NULL);
        else
            fprintf(stderr, "the nodes did not register in Redis\n");
    }
    pdt_server_t *const nodes[] = {&node_a, &node_b};
    return pdt_cluster_finish(nodes, 2, &red, failed);
}
