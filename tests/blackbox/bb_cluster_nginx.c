/*
 * The cluster behind a load balancer, as docs/operations.md ("Cluster",
 * "nginx in front of a cluster") sets it up: a real redis-server, three
 * presenced nodes started with --redis, and a real nginx whose upstream
 * lists the three with the default round-robin and proxies WebSocket
 * upgrades. Every client connects through nginx's port only, so a
 * workspace's members land on different nodes; each node's /metrics,
 * scraped directly, shows that they did. Through nginx, every member sees
 * every other one (in its snapshot or as user_joined), every move and
 * every clean leave, and /healthz answers. Waits are on messages (a ping's
 * pong as a barrier) with generous bounds, never on fixed sleeps.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/buf.h"
#include "pdt_cluster.h"
#include "pdt_http.h"
#include "pdt_proc.h"
#include "pdt_redis.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

#ifndef NGINX_BIN
#define NGINX_BIN ""
#endif

#define NODES 3
#define CLIENTS 6
#define ROOM "nginx-rr"

static pdt_redis_t red;
static pdt_server_t node[NODES];
static char redis_url[128];

static char nginx_dir[64];
static char nginx_log[160];
static pid_t nginx_pid;
static int nginx_port;

#define UPDATE_FMT "{\"type\":\"presence_update\",\"currentPath\":\"%s\"}"

/* ---- the nodes ---- */

static int start_node(pdt_server_t *s, const char *id)
{
    const char *args[] = {"--redis", redis_url, "--node-id", id, NULL};
    return pdt_server_start(s, args);
}

static int member_in_redis(void *arg)
{
    char out[8192], want[160];
    snprintf(want, sizeof(want), "\"userId\":\"%s\"", (const char *)arg);
    const char *argv[] = {"HVALS", "presenced:room:presence-" ROOM, NULL};
    return pdt_redis_cmd(&red, out, sizeof(out), argv) == 0 && strstr(out, want) != NULL;
}

static int member_gone_from_redis(void *arg)
{
    char out[8192], want[160];
    snprintf(want, sizeof(want), "\"userId\":\"%s\"", (const char *)arg);
    const char *argv[] = {"HVALS", "presenced:room:presence-" ROOM, NULL};
    return pdt_redis_cmd(&red, out, sizeof(out), argv) == 0 && strstr(out, want) == NULL;
}

/*
 * A node with no member in the room reads the room's state from Redis
 * when its first one comes: before the next join, which may land on such
 * a node, the last joiner must be in Redis.
 */
static void wait_in_redis(const char *user)
{
    if (!pdt_wait(member_in_redis, (void *)user, PDT_WAIT_MS))
        fail_msg("%s never appeared in Redis for " ROOM, user);
}

static double metric(const pdt_server_t *s, const char *name)
{
    return pdt_http_metric(s->port, name);
}

/* ---- nginx ---- */

static int nginx_available(void)
{
    return NGINX_BIN[0] != '\0' && access(NGINX_BIN, X_OK) == 0;
}

/*
 * The configuration docs/operations.md gives for a cluster, on loopback and
 * without TLS: one upstream with every node, default round-robin (no
 * stickiness), the WebSocket upgrade passed on, and a read timeout well
 * above the nodes' ping interval (10 s).
 */
static void nginx_config(pd_buf_t *b)
{
    const char *d = nginx_dir;
    pd_buf_appendf(b,
                   "daemon off;\n"
                   "master_process off;\n"
                   "pid %s/nginx.pid;\n"
                   "error_log %s/error.log info;\n"
                   "events { worker_connections 256; }\n"
                   "http {\n"
                   "  access_log off;\n"
                   "  client_body_temp_path %s/tmp;\n"
                   "  proxy_temp_path %s/tmp;\n"
                   "  fastcgi_temp_path %s/tmp;\n"
                   "  uwsgi_temp_path %s/tmp;\n"
                   "  scgi_temp_path %s/tmp;\n"
                   "  map $http_upgrade $connection_upgrade {\n"
                   "    default upgrade;\n"
                   "    ''      close;\n"
                   "  }\n"
                   "  upstream presenced {\n",
                   d, d, d, d, d, d, d);
    for (int i = 0; i < NODES; i++)
        pd_buf_appendf(b, "    server 127.0.0.1:%d;\n", node[i].port);
    pd_buf_appendf(b,
                   "  }\n"
                   "  server {\n"
                   "    listen 127.0.0.1:%d;\n"
                   "    location /parties/ {\n"
                   "      proxy_pass http://presenced;\n"
                   "      proxy_http_version 1.1;\n"
                   "      proxy_set_header Upgrade $http_upgrade;\n"
                   "      proxy_set_header Connection $connection_upgrade;\n"
                   "      proxy_set_header Host $host;\n"
                   "      proxy_read_timeout 60s;\n"
                   "      proxy_send_timeout 60s;\n"
                   "      proxy_buffering off;\n"
                   "    }\n"
                   "    location = /healthz {\n"
                   "      proxy_pass http://presenced;\n"
                   "    }\n"
                   "  }\n"
                   "}\n",
                   nginx_port);
}

static int nginx_listening(void *arg)
{
    (void)arg;
    int fd = pdt_tcp_connect(nginx_port);
    if (fd < 0)
        return pdt_wait_exit(nginx_pid, 0) >= 0 ? -1 : 0; /* -1: it exited */
    close(fd);
    return 1;
}

/* Starts nginx in front of the nodes; returns 0, or -1 after printing why. */
static int start_nginx(void)
{
    char conf[160], tmp[160];
    if (pdt_tmpdir(nginx_dir, sizeof(nginx_dir)) != 0)
        return -1;
    snprintf(conf, sizeof(conf), "%s/nginx.conf", nginx_dir);
    snprintf(tmp, sizeof(tmp), "%s/tmp", nginx_dir);
    snprintf(nginx_log, sizeof(nginx_log), "%s/error.log", nginx_dir);
    mkdir(tmp, 0700);
    nginx_port = pdt_free_port();
    if (nginx_port < 0)
        return -1;
    pd_buf_t text = PD_BUF_INIT;
    nginx_config(&text);
    pd_buf_append_char(&text, '\0');
    int rc = pdt_write_file(conf, text.base);
    pd_buf_free(&text);
    if (rc != 0)
        return -1;
    const char *argv[] = {NGINX_BIN, "-p", nginx_dir, "-c", conf, "-e", nginx_log, NULL};
    nginx_pid = pdt_spawn(argv, NULL, nginx_log);
    if (nginx_pid < 0)
        return -1;
    int up = pdt_wait(nginx_listening, NULL, 10000);
    if (up != 1) {
        if (up < 0)
            nginx_pid = 0; /* exited, and reaped */
        fprintf(stderr, "nginx did not start listening on 127.0.0.1:%d\n", nginx_port);
        pdt_dump_log(nginx_log, "nginx");
        return -1;
    }
    return 0;
}

/* Stops nginx (SIGTERM); returns non-zero when it did not exit 0. */
static int stop_nginx(int failed)
{
    int bad = 0;
    if (nginx_pid > 0) {
        int rc = pdt_kill(nginx_pid, SIGTERM, 10000);
        if (rc != 0) {
            fprintf(stderr, "nginx exited %d (want 0)\n", rc);
            bad = 1;
        }
        nginx_pid = 0;
    }
    if ((failed || bad) && nginx_dir[0])
        pdt_dump_log(nginx_log, "nginx");
    pdt_tmpdir_remove(nginx_dir);
    return bad;
}

/* ---- the tests ---- */

/* /healthz answers through nginx, whichever node each request reaches. */
static void test_healthz_through_nginx(void **state)
{
    for (int i = 0; i < 2 * NODES; i++) {
        pd_buf_t out = PD_BUF_INIT;
        assert_int_equal(pdt_http_get(nginx_port, "/healthz", &out), 200);
        pd_buf_append_char(&out, '\0');
        if (strncmp(pdt_http_body(out.base), "ok", 2) != 0)
            fail_msg("/healthz through nginx answered:\n%s", out.base);
        pd_buf_free(&out);
    }
}

static const char *const users[CLIENTS] = {"alice", "bob", "carol", "dave", "erin", "frank"};

/* The next message of c is user_joined for user. */
static void expect_joined(pdt_ws_t *c, const char *user)
{
    const cJSON *j = pdt_expect(c, "user_joined");
    assert_field(j, "userId", user);
    assert_field(j, "userName", pdt_name(user));
}

/* A path of the workspace, one per user and step. */
static const char *path_of(const char *user, int step)
{
    return pdt_fmt("/w/" ROOM "/documents/%s-%d", user, step);
}

/* c[from] moves; every other open client hears it, the mover nothing. */
static void move_and_expect(pdt_ws_t *const *c, int from, int step)
{
    const char *path = path_of(users[from], step);
    pdt_sendf(c[from], UPDATE_FMT, path);
    for (int j = 0; j < CLIENTS; j++) {
        if (j == from || c[j] == NULL)
            continue;
        const cJSON *m = pdt_expect(c[j], "presence_changed");
        assert_field(m, "userId", users[from]);
        assert_field(m, "currentPath", path);
        assert_field(m, "userName", pdt_name(users[from]));
    }
    pdt_expect_none(c[from], c[from]);
}

/*
 * One workspace's members, all through nginx: spread over the nodes, each
 * sees every other one, every move and a clean leave.
 */
static void test_round_robin_one_workspace(void **state)
{
    pdt_ws_t *c[CLIENTS] = {0};
    for (int k = 0; k < CLIENTS; k++) {
        c[k] = pdt_join(nginx_port, ROOM, users[k]);
        /* Its snapshot lists everyone who came before it, and only them. */
        const cJSON *snap = pdt_last(c[k]);
        assert_int_equal(pdt_snapshot_count(snap), k);
        for (int j = 0; j < k; j++) {
            const cJSON *u = pdt_snapshot_user(snap, users[j]);
            if (u == NULL)
                fail_msg("%s's snapshot lacks %s", users[k], users[j]);
            assert_field(u, "userName", pdt_name(users[j]));
        }
        /*
         * Everyone before it hears it join, on whichever node: once they
         * all have, every node with a member knows of it, and a node with
         * none finds it in Redis.
         */
        for (int j = 0; j < k; j++)
            expect_joined(c[j], users[k]);
        wait_in_redis(users[k]);
    }

    /* Scraped from each node directly: the connections are spread over more than one node. */
    int total = 0, used = 0;
    char spread[128] = "";
    for (int i = 0; i < NODES; i++) {
        double v = metric(&node[i], "presenced_connections");
        assert_true(v >= 0);
        total += (int)v;
        used += v > 0;
        size_t len = strlen(spread);
        snprintf(spread + len, sizeof(spread) - len, "%s%d", i ? " " : "", (int)v);
    }
    print_message("connections per node through nginx: %s\n", spread);
    assert_int_equal(total, CLIENTS);
    if (used < 2)
        fail_msg("nginx sent every connection to one node (%s)", spread);

    /* Every member's move reaches every other member, through nginx, on every node. */
    for (int i = 0; i < CLIENTS; i++)
        move_and_expect(c, i, 1);

    /* A clean close: every other member hears the leave (user_left, then user_left_presence). */
    pdt_ws_close(c[0]);
    c[0] = NULL;
    for (int j = 1; j < CLIENTS; j++)
        pdt_expect_leave(c[j], users[0]);
    if (!pdt_wait(member_gone_from_redis, (void *)users[0], PDT_WAIT_MS))
        fail_msg("%s is still in Redis after its clean close", users[0]);

    /* A newcomer, on whichever node nginx picks next, sees who is left, where they are. */
    c[0] = pdt_join(nginx_port, ROOM, "grace");
    const cJSON *snap = pdt_last(c[0]);
    assert_int_equal(pdt_snapshot_count(snap), CLIENTS - 1);
    assert_null(pdt_snapshot_user(snap, users[0]));
    for (int j = 1; j < CLIENTS; j++) {
        const cJSON *u = pdt_snapshot_user(snap, users[j]);
        if (u == NULL)
            fail_msg("the newcomer's snapshot lacks %s", users[j]);
        assert_field(u, "currentPath", path_of(users[j], 1));
    }
    for (int j = 1; j < CLIENTS; j++)
        expect_joined(c[j], "grace");
    /* And the others hear its move. */
    pdt_send(c[0], "{\"type\":\"presence_update\",\"currentPath\":\"/w/" ROOM "/tasks/7\"}");
    for (int j = 1; j < CLIENTS; j++) {
        const cJSON *m = pdt_expect(c[j], "presence_changed");
        assert_field(m, "userId", "grace");
        assert_field(m, "currentPath", "/w/" ROOM "/tasks/7");
    }
    pdt_expect_none(c[0], c[0]);
    for (int j = 0; j < CLIENTS; j++)
        pdt_ws_close(c[j]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_healthz_through_nginx),
        PDT_TEST(test_round_robin_one_workspace),
    };
    pdt_watchdog(170);
    if (!nginx_available()) {
        fprintf(stderr, "SKIP: no nginx (scripts/deps.sh test installs it)\n");
        return 77;
    }
    if (!pdt_redis_available()) {
        fprintf(stderr, "SKIP: no redis-server (scripts/deps.sh test installs it)\n");
        return 77;
    }
    if (pdt_redis_start(&red) != 0)
        return 1;
    pdt_redis_url(&red, redis_url, sizeof(redis_url));
    static const char *const ids[NODES] = {"a", "b", "c"};
    int failed = 1, started = 0;
    while (started < NODES && start_node(&node[started], ids[started]) == 0)
        started++;
    if (started == NODES) {
        int ok = 1;
        for (int i = 0; i < NODES && ok; i++)
            ok = pdt_cluster_wait_registered(&red, ids[i]);
        if (!ok)
            fprintf(stderr, "the nodes did not register in Redis\n");
        else if (start_nginx() == 0)
            failed = cmocka_run_group_tests(tests, NULL, NULL);
    }
    failed |= stop_nginx(failed);
    pdt_server_t *const nodes[] = {&node[0], &node[1], &node[2]};
    return pdt_cluster_finish(nodes, NODES, &red, failed);
}
