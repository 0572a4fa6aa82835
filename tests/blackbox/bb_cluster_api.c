/*
 * The HTTP API (docs/api.md) of a cluster over a real redis-server: two
 * presenced nodes with --redis and --api-secret-file. /api/rooms and
 * /api/rooms/{roomId} on either node answer for the whole cluster (a node
 * with no member in a room reads it from Redis), and a kick on either node
 * reaches the user's connections on both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pdt_cluster.h"
#include "pdt_http.h"
#include "pdt_proc.h"
#include "pdt_redis.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

#define API_SECRET "api-secret-c1u5"
#define UPDATE(path) "{\"type\":\"presence_update\",\"currentPath\":\"" path "\"}"

static pdt_redis_t red;
static pdt_server_t node_a, node_b;
static char redis_url[128];
static char secret_path[] = "/tmp/pdt-cluster-api-secret-XXXXXX";

/* ---- nodes ---- */

static int start_node(pdt_server_t *s, const char *id)
{
    const char *args[] = {"--redis", redis_url,           "--node-id", id,         "--node-timeout",
                          "2",       "--api-secret-file", secret_path, "--linger", "0",
                          NULL};
    return pdt_server_start_on(s, 0, args);
}

/* ---- the API ---- */

typedef struct {
    int status;
    cJSON *json;
} api_resp_t;

static api_resp_t last_resp;

/* One call with the secret; the answer stays until the next call. */
static const api_resp_t *call(const pdt_server_t *node, const char *method, const char *path,
                              const char *body)
{
    pd_buf_t req = PD_BUF_INIT, resp = PD_BUF_INIT;
    pd_buf_appendf(&req,
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                   "Authorization: Bearer " API_SECRET "\r\n",
                   method, path);
    if (body)
        pd_buf_appendf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                       strlen(body));
    pd_buf_appendf(&req, "\r\n%s", body ? body : "");
    cJSON_Delete(last_resp.json);
    memset(&last_resp, 0, sizeof(last_resp));
    last_resp.status = pdt_http_raw(node->port, req.base, req.len, &resp);
    last_resp.json = resp.base ? cJSON_Parse(pdt_http_body(resp.base)) : NULL;
    pd_buf_free(&req);
    pd_buf_free(&resp);
    return &last_resp;
}

static long num(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static void expect_error(const api_resp_t *r, int status, const char *error)
{
    const char *got = pdt_str(r->json, "error");
    if (r->status != status || !got || strcmp(got, error) != 0)
        fail_msg("expected %d {\"error\":\"%s\"}, got %d %s", status, error, r->status,
                 got ? got : "(no error)");
}

/* The entry for room_id in a GET /api/rooms answer, or NULL. */
static const cJSON *room_entry(const cJSON *list, const char *room_id)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(list, "rooms"))
    {
        const char *id = pdt_str(e, "roomId");
        if (id && strcmp(id, room_id) == 0)
            return e;
    }
    return NULL;
}

typedef struct {
    const pdt_server_t *node;
    const char *path;
    const char *user; /* present in the room's answer, at where (NULL: any place) */
    const char *where;
    int count; /* the room's users; -1: the room is gone (404) */
} room_is_t;

static int room_is(void *arg)
{
    const room_is_t *w = arg;
    const api_resp_t *r = call(w->node, "GET", w->path, NULL);
    if (w->count < 0)
        return r->status == 404;
    if (r->status != 200 || pdt_snapshot_count(r->json) != w->count)
        return 0;
    const cJSON *u = w->user ? pdt_snapshot_user(r->json, w->user) : NULL;
    if (w->user && !u)
        return 0;
    return !w->where || (u && strcmp(pdt_str(u, "currentPath"), w->where) == 0);
}

/*
 * A node hears of another's change when Redis brings it: the API's answer
 * is awaited (asked again until it says so, within a generous bound).
 */
static void wait_room(const pdt_server_t *node, const char *path, int count, const char *user,
                      const char *where)
{
    room_is_t w = {node, path, user, where, count};
    if (!pdt_wait(room_is, &w, PDT_WAIT_MS))
        fail_msg("GET %s on port %d never had %d users (%s at %s)", path, node->port, count,
                 user ? user : "-", where ? where : "-");
}

/* ---- tests ---- */

/*
 * Either node lists every room of the cluster with its users and
 * connections, and shows a room it has no member in, read from Redis.
 */
static void test_rooms_listed_on_every_node(void **state)
{
    pdt_ws_t *alice = pdt_join(node_a.port, "ca-list", "alice");
    pdt_ws_t *bob = pdt_join(node_b.port, "ca-list", "bob");
    assert_field(pdt_expect(alice, "user_joined"), "userId", "bob");
    pdt_ws_t *bob2 = pdt_join(node_b.port, "ca-list", "bob");
    pdt_ws_t *carol = pdt_join(node_b.port, "ca-only-b", "carol");
    pdt_send(carol, UPDATE("/w/ca-only-b/tasks/3"));

    /* Node A has no member in ca-only-b: it answers from Redis. */
    wait_room(&node_a, "/api/rooms/presence-ca-only-b", 1, "carol", "/w/ca-only-b/tasks/3");
    assert_field(pdt_snapshot_user(last_resp.json, "carol"), "userName", "Carol");
    wait_room(&node_a, "/api/rooms/presence-ca-list", 2, "bob", NULL);
    wait_room(&node_b, "/api/rooms/presence-ca-list", 2, "alice", NULL);

    const pdt_server_t *nodes[] = {&node_a, &node_b};
    for (int i = 0; i < 2; i++) {
        const api_resp_t *r = call(nodes[i], "GET", "/api/rooms", NULL);
        assert_int_equal(r->status, 200);
        const cJSON *list = room_entry(r->json, "presence-ca-list");
        const cJSON *only = room_entry(r->json, "presence-ca-only-b");
        if (!list || !only) {
            char *text = cJSON_PrintUnformatted(r->json);
            char out[8192];
            const char *keys[] = {"KEYS", "presenced:*", NULL};
            const char *set[] = {"ZRANGE", "presenced:nodes", "0", "-1", NULL};
            if (pdt_redis_cmd(&red, out, sizeof(out), keys) == 0)
                fprintf(stderr, "keys:\n%s\n", out);
            if (pdt_redis_cmd(&red, out, sizeof(out), set) == 0)
                fprintf(stderr, "nodes:\n%s\n", out);
            fail_msg("node %d listed %s", i, text ? text : "(nothing)");
        }
        assert_int_equal(num(list, "users"), 2);
        assert_int_equal(num(list, "connections"), 3);
        assert_int_equal(num(only, "users"), 1);
        assert_int_equal(num(only, "connections"), 1);
    }

    /* Gone from Redis, gone from every node's answer. */
    pdt_ws_close(carol);
    wait_room(&node_a, "/api/rooms/presence-ca-only-b", -1, NULL, NULL);
    assert_null(room_entry(call(&node_a, "GET", "/api/rooms", NULL)->json, "presence-ca-only-b"));
    expect_error(call(&node_a, "GET", "/api/rooms/presence-ca-never", NULL), 404, "no such room");
    pdt_ws_close(bob2);
    pdt_ws_close(bob);
    pdt_expect_leave(alice, "bob");
}

/*
 * A kick on one node reaches the user's connections on both: each gets
 * permission_revoked and 1008, the others see one leave, and "kicked"
 * counts the connections on every node.
 */
static void test_kick_reaches_every_node(void **state)
{
    pdt_ws_t *alice = pdt_join(node_a.port, "ca-kick", "alice");
    pdt_ws_t *dave = pdt_join(node_b.port, "ca-kick", "dave");
    assert_field(pdt_expect(alice, "user_joined"), "userId", "dave");
    pdt_ws_t *tab_a = pdt_join(node_a.port, "ca-kick", "bob");
    assert_field(pdt_expect(alice, "user_joined"), "userId", "bob");
    assert_field(pdt_expect(dave, "user_joined"), "userId", "bob");
    pdt_ws_t *tab_b = pdt_join(node_b.port, "ca-kick", "bob");
    /* Node A knows of bob's second tab once its move comes through. */
    pdt_send(tab_b, UPDATE("/w/ca-kick/b"));
    assert_field(pdt_expect(alice, "presence_changed"), "currentPath", "/w/ca-kick/b");
    assert_field(pdt_expect(dave, "presence_changed"), "currentPath", "/w/ca-kick/b");
    assert_field(pdt_expect(tab_a, "presence_changed"), "currentPath", "/w/ca-kick/b");

    const api_resp_t *r = call(&node_a, "POST", "/api/rooms/presence-ca-kick/kick",
                               "{\"userId\":\"bob\",\"reason\":\"removed by Ann\"}");
    assert_int_equal(r->status, 200);
    assert_int_equal(num(r->json, "kicked"), 2);
    pdt_expect_revoked(tab_a, "removed by Ann");
    pdt_expect_revoked(tab_b, "removed by Ann");
    pdt_expect_leave(alice, "bob");
    pdt_expect_leave(dave, "bob");
    /* One leave each, and nothing after it. */
    pdt_expect_none(alice, alice);
    pdt_expect_none(dave, dave);
    wait_room(&node_b, "/api/rooms/presence-ca-kick", 2, "dave", NULL);
    assert_null(pdt_snapshot_user(last_resp.json, "bob"));
}

/* A node with no member in the room kicks through Redis; unknown users and rooms are 404. */
static void test_kick_from_a_node_without_the_room(void **state)
{
    pdt_ws_t *alice = pdt_join(node_a.port, "ca-kick-far", "alice");
    pdt_ws_t *bob = pdt_join(node_a.port, "ca-kick-far", "bob");
    assert_field(pdt_expect(alice, "user_joined"), "userId", "bob");
    wait_room(&node_b, "/api/rooms/presence-ca-kick-far", 2, "bob", NULL);

    expect_error(
        call(&node_b, "POST", "/api/rooms/presence-ca-kick-far/kick", "{\"userId\":\"nobody\"}"),
        404, "no such user in this room");
    expect_error(
        call(&node_b, "POST", "/api/rooms/presence-ca-no-room/kick", "{\"userId\":\"bob\"}"), 404,
        "no such room");
    const api_resp_t *r =
        call(&node_b, "POST", "/api/rooms/presence-ca-kick-far/kick", "{\"userId\":\"bob\"}");
    assert_int_equal(r->status, 200);
    assert_int_equal(num(r->json, "kicked"), 1);
    pdt_expect_revoked(bob, "removed from the workspace");
    pdt_expect_leave(alice, "bob");
    wait_room(&node_b, "/api/rooms/presence-ca-kick-far", 1, "alice", NULL);
}

static int teardown(void **state)
{
    pdt_teardown(state);
    cJSON_Delete(last_resp.json);
    memset(&last_resp, 0, sizeof(last_resp));
    return 0;
}

static int write_secret(void)
{
    int fd = mkstemp(secret_path);
    if (fd < 0)
        return -1;
    static const char text[] = API_SECRET "\n";
    ssize_t n = write(fd, text, sizeof(text) - 1);
    close(fd);
    return n == (ssize_t)sizeof(text) - 1 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rooms_listed_on_every_node, teardown),
        cmocka_unit_test_teardown(test_kick_reaches_every_node, teardown),
        cmocka_unit_test_teardown(test_kick_from_a_node_without_the_room, teardown),
    };
    pdt_watchdog(170);
    if (!pdt_redis_available()) {
        fprintf(stderr, "SKIP: no redis-server (scripts/deps.sh test installs it)\n");
        return 77;
    }
    if (write_secret() != 0 || pdt_redis_start(&red) != 0)
        return 1;
    pdt_redis_url(&red, redis_url, sizeof(redis_url));
    int failed = 1;
    if (start_node(&node_a, "a") == 0 && start_node(&node_b, "b") == 0) {
        if (pdt_cluster_wait_registered(&red, "a") && pdt_cluster_wait_registered(&red, "b"))
            failed = cmocka_run_group_tests(tests, NULL, NULL);
        else
            fprintf(stderr, "the nodes did not register in Redis\n");
    }
    unlink(secret_path);
    pdt_server_t *const nodes[] = {&node_a, &node_b};
    return pdt_cluster_finish(nodes, 2, &red, failed);
}
