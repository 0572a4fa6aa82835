/*
 * presenced --threads 4: rooms on every thread and one user in all of them
 * at once; updates sent in the same write as the upgrade survive a
 * handover; _pk takeover and the per-user limit with churn; /metrics summed
 * over the threads (presenced_threads, presenced_thread_connections);
 * /api/rooms listing every thread's rooms; kicks reaching the room's
 * thread; SIGTERM draining every thread with 1001 and exit 0; and --dev
 * tokens minted on one thread accepted on every other.
 */
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pdt_http.h"
#include "pdt_proc.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

#define API_SECRET "api-secret-7c2a"
#define THREADS 4
#define ROOMS 24

static pdt_server_t srv;
static char secret_path[] = "/tmp/pdt-threads-secret-XXXXXX";

#define UPDATE(path) "{\"type\":\"presence_update\",\"currentPath\":\"" path "\"}"

static int write_secret(void)
{
    int fd = mkstemp(secret_path);
    if (fd < 0)
        return -1;
    const char text[] = API_SECRET "\n";
    int ok = write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1);
    close(fd);
    return ok ? 0 : -1;
}

/* GET path on port (metrics, API); the body stays in *r until the next call. */
static int get(int port, const char *path, pd_buf_t *r, int api)
{
    pd_buf_reset(r);
    return pdt_http_get_auth(port, path, api ? API_SECRET : NULL, r);
}

static double metric(int port, const char *name)
{
    pd_buf_t r = PD_BUF_INIT;
    assert_int_equal(get(port, "/metrics", &r, 0), 200);
    double v = pdt_metric(pdt_http_body(r.base), name);
    pd_buf_free(&r);
    return v;
}

static pdt_ws_t *join_pk(int port, const char *ws, const char *user, const char *pk,
                         const char *early)
{
    pdt_ws_opts_t o = {.workspace = ws, .pk = pk, .label = user, .early = early};
    o.token = pdt_token(user, pdt_name(user), ws, 3600);
    pdt_ws_t *c = pdt_ws_open(port, &o);
    pdt_expect(c, "presence_snapshot");
    return c;
}

/* ---- rooms on every thread ---- */

static void test_one_user_in_rooms_on_every_thread(void **state)
{
    pdt_ws_t *alice[ROOMS], *bob[ROOMS];
    for (int i = 0; i < ROOMS; i++) {
        bob[i] = pdt_join(srv.port, pdt_fmt("t-room-%d", i), "bob");
        alice[i] = pdt_join(srv.port, pdt_fmt("t-room-%d", i), "alice");
        assert_field(pdt_expect(bob[i], "user_joined"), "userId", "alice");
    }
    for (int i = 0; i < ROOMS; i++)
        pdt_sendf(alice[i], "{\"type\":\"presence_update\",\"currentPath\":\"/r%d\"}", i);
    for (int i = 0; i < ROOMS; i++) {
        const cJSON *m = pdt_expect(bob[i], "presence_changed");
        assert_field(m, "userId", "alice");
        assert_field(m, "currentPath", pdt_fmt("/r%d", i));
    }
    assert_int_equal((int)metric(srv.port, "presenced_threads"), THREADS);
    assert_true(metric(srv.port, "presenced_connections") >= 2 * ROOMS);
    for (int t = 0; t < THREADS; t++) {
        const char *name = pdt_fmt("presenced_thread_connections{thread=\"%d\"}", t);
        if (metric(srv.port, name) < 1)
            fail_msg("thread %d has no connection: the rooms do not reach every thread", t);
    }
    /* The listing holds every thread's rooms. */
    pd_buf_t r = PD_BUF_INIT;
    assert_int_equal(get(srv.port, "/api/rooms", &r, 1), 200);
    cJSON *json = cJSON_Parse(pdt_http_body(r.base));
    const cJSON *rooms = cJSON_GetObjectItemCaseSensitive(json, "rooms");
    int found = 0;
    for (const cJSON *it = rooms ? rooms->child : NULL; it; it = it->next)
        found += strncmp(pdt_str(it, "roomId"), "presence-t-room-", 16) == 0;
    assert_int_equal(found, ROOMS);
    cJSON_Delete(json);
    /* A room's own call is answered by its thread, wherever it was accepted. */
    for (int i = 0; i < ROOMS; i++) {
        assert_int_equal(get(srv.port, pdt_fmt("/api/rooms/presence-t-room-%d", i), &r, 1), 200);
        json = cJSON_Parse(pdt_http_body(r.base));
        assert_int_equal(pdt_snapshot_count(json), 2);
        cJSON_Delete(json);
    }
    pd_buf_free(&r);
}

/* ---- handover keeps every byte ---- */

static void test_update_in_upgrade_write_survives_handover(void **state)
{
    for (int i = 0; i < ROOMS; i++) {
        const char *ws = pdt_fmt("t-early-%d", i);
        pdt_ws_t *bob = pdt_join(srv.port, ws, "bob");
        pdt_ws_t *a = join_pk(srv.port, ws, "alice", NULL, UPDATE("/early"));
        assert_field(pdt_expect(bob, "user_joined"), "userId", "alice");
        assert_field(pdt_expect(bob, "presence_changed"), "currentPath", "/early");
        pdt_send(a, "{\"type\":\"ping\",\"id\":7}");
        pdt_expect(a, "pong");
    }
}

/* ---- churn: _pk takeover and the per-user limit, per room ---- */

static void test_churn_keeps_room_rules(void **state)
{
    pdt_ws_t *bob[8], *tab[8];
    for (int i = 0; i < 8; i++) {
        bob[i] = pdt_join(srv.port, pdt_fmt("t-churn-%d", i), "bob");
        tab[i] = join_pk(srv.port, pdt_fmt("t-churn-%d", i), "alice", "tab-1", NULL);
        pdt_expect(bob[i], "user_joined");
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 8; i++) {
            pdt_ws_t *next = join_pk(srv.port, pdt_fmt("t-churn-%d", i), "alice", "tab-1", NULL);
            pdt_expect_close(tab[i], 1000, "REPLACED");
            tab[i] = next;
            pdt_sendf(next, "{\"type\":\"presence_update\",\"currentPath\":\"/c%d\"}", round);
            assert_field(pdt_expect(bob[i], "presence_changed"), "currentPath",
                         pdt_fmt("/c%d", round));
        }
    }
    /* A takeover is not a leave: bob never saw alice go. */
    for (int i = 0; i < 8; i++)
        pdt_expect_none(bob[i], NULL);
    /* --max-conns-per-user 2 holds in each room: a third tab is refused. */
    for (int i = 0; i < 8; i++) {
        pdt_ws_t *second = join_pk(srv.port, pdt_fmt("t-churn-%d", i), "alice", "tab-2", NULL);
        pdt_ws_opts_t o = {.workspace = pdt_fmt("t-churn-%d", i), .pk = "tab-3", .label = "third"};
        o.token = pdt_token("alice", "Alice", o.workspace, 3600);
        pdt_ws_t *third = pdt_ws_open(srv.port, &o);
        assert_field(pdt_expect(third, "error"), "code", "TOO_MANY_CONNECTIONS");
        pdt_expect_close(third, 1008, "TOO_MANY_CONNECTIONS");
        pdt_ws_close(second);
    }
}

/* ---- kicks ---- */

static int post_kick(int port, const char *room, const char *user, pd_buf_t *r)
{
    pd_buf_t req = PD_BUF_INIT;
    char body[128];
    int n = snprintf(body, sizeof(body), "{\"userId\":\"%s\"}", user);
    pd_buf_appendf(&req,
                   "POST /api/rooms/%s/kick HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Connection: close\r\nAuthorization: Bearer " API_SECRET "\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                   room, n, body);
    pd_buf_reset(r);
    int st = pdt_http_raw(port, req.base, req.len, r);
    pd_buf_free(&req);
    return st;
}

static void test_kick_reaches_the_rooms_thread(void **state)
{
    pdt_ws_t *alice[8], *bob[8];
    for (int i = 0; i < 8; i++) {
        bob[i] = pdt_join(srv.port, pdt_fmt("t-kick-%d", i), "bob");
        alice[i] = pdt_join(srv.port, pdt_fmt("t-kick-%d", i), "alice");
        pdt_expect(bob[i], "user_joined");
    }
    pd_buf_t r = PD_BUF_INIT;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(post_kick(srv.port, pdt_fmt("presence-t-kick-%d", i), "alice", &r), 200);
        assert_non_null(strstr(pdt_http_body(r.base), "\"kicked\":1"));
        pdt_expect(alice[i], "permission_revoked");
        pdt_expect_close(alice[i], 1008, "AUTH_FORBIDDEN");
        pdt_expect_leave(bob[i], "alice");
    }
    pd_buf_free(&r);
}

/* ---- drain ---- */

static pdt_server_t own;

static int teardown_own(void **state)
{
    pdt_server_discard(&own, 0);
    return pdt_teardown(state);
}

static void test_sigterm_drains_every_thread(void **state)
{
    static const char *const args[] = {"--threads", "4", "--linger", "0", NULL};
    assert_int_equal(pdt_server_start(&own, args), 0);
    pdt_ws_t *c[2 * ROOMS];
    for (int i = 0; i < ROOMS; i++) {
        c[2 * i] = pdt_join(own.port, pdt_fmt("t-drain-%d", i), "alice");
        c[2 * i + 1] = pdt_join(own.port, pdt_fmt("t-drain-%d", i), "bob");
        pdt_expect(c[2 * i], "user_joined");
    }
    for (int t = 0; t < THREADS; t++)
        assert_true(metric(own.port, pdt_fmt("presenced_thread_connections{thread=\"%d\"}", t)) >=
                    1);
    pdt_server_signal(&own, SIGTERM);
    for (int i = 0; i < 2 * ROOMS; i++)
        pdt_expect_going_away(c[i]);
    int rc = pdt_server_wait(&own, 5000);
    pdt_server_discard(&own, rc != 0);
    if (rc != 0)
        fail_msg("presenced exited with %d within 5 s of SIGTERM (want 0)", rc);
}

/*
 * Upgrades still in flight when SIGTERM comes: some are read before the
 * drain, some are handed to a thread whose inbox has closed (the socket is
 * closed there), some are refused by the sender (101 and 1001), some are
 * aborted in their HTTP phase. Whatever each met, it is closed, nothing
 * leaks (the server runs under LeakSanitizer) and the exit is 0.
 */
#define IN_FLIGHT 64

/* A close frame with code 1001 in what a 101 was followed by. */
static int has_going_away(const char *b, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++)
        if ((unsigned char)b[i] == 0x88 && (unsigned char)b[i + 2] == 0x03 &&
            (unsigned char)b[i + 3] == 0xe9)
            return 1;
    return 0;
}

static void test_sigterm_with_upgrades_in_flight(void **state)
{
    static const char *const args[] = {"--threads", "4", "--linger", "0", NULL};
    assert_int_equal(pdt_server_start(&own, args), 0);
    pdt_ws_t *member = pdt_join(own.port, "t-flight-member", "alice");
    int fds[IN_FLIGHT], upgraded = 0, other = 0;
    const char *req[IN_FLIGHT];
    for (int i = 0; i < IN_FLIGHT; i++) {
        const char *ws = pdt_fmt("t-flight-%d", i);
        req[i] = pdt_fmt(
            "GET /parties/presence/%s?token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n",
            ws, pdt_token(pdt_fmt("u%d", i), "U", ws, 600));
        fds[i] = pdt_tcp_connect(own.port);
    }
    /* Half the requests before the signal, half after: those meet the drain at any point. */
    for (int i = 0; i < IN_FLIGHT; i += 2)
        assert_int_equal(pdt_write_all(fds[i], req[i], strlen(req[i])), 0);
    pdt_server_signal(&own, SIGTERM);
    for (int i = 1; i < IN_FLIGHT; i += 2)
        (void)send(fds[i], req[i], strlen(req[i]), MSG_NOSIGNAL); /* may meet a closed socket */
    pdt_expect_going_away(member);
    for (int i = 0; i < IN_FLIGHT; i++) {
        pd_buf_t r = {0};
        char chunk[4096];
        ssize_t n;
        struct pollfd p = {fds[i], POLLIN, 0};
        while (poll(&p, 1, PDT_WAIT_MS) == 1 && (n = read(fds[i], chunk, sizeof(chunk))) > 0)
            pd_buf_append(&r, chunk, (size_t)n);
        assert_true(poll(&p, 1, 0) == 1); /* closed, not timed out */
        if (r.len && strncmp(r.base, "HTTP/1.1 101", 12) == 0) {
            if (!has_going_away(r.base, r.len))
                fail_msg("upgrade %d: a 101 without a 1001 close", i);
            upgraded++;
        } else {
            other++; /* closed in its HTTP phase, or answered 503 */
        }
        pd_buf_free(&r);
        close(fds[i]);
    }
    print_message("in flight at SIGTERM: %d upgraded and closed with 1001, %d closed before\n",
                  upgraded, other);
    int rc = pdt_server_wait(&own, 5000);
    pdt_server_discard(&own, rc != 0);
    if (rc != 0)
        fail_msg("presenced exited with %d within 5 s of SIGTERM (want 0)", rc);
}

/* ---- the default (0, which the harness overrides with 1): one thread per CPU ---- */

static void test_default_is_one_thread_per_cpu(void **state)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
    int cpus = CPU_COUNT(&set) > 64 ? 64 : CPU_COUNT(&set);
    static const char *const args[] = {"--threads", "0", NULL};
    assert_int_equal(pdt_server_start(&own, args), 0);
    assert_int_equal((int)metric(own.port, "presenced_threads"), cpus);
    char line[256];
    assert_int_equal(pdt_server_log_find(&own, "msg=\"listening\"", 0, line, sizeof(line)), 1);
    assert_non_null(strstr(line, pdt_fmt("threads=%d", cpus)));
    pdt_server_signal(&own, SIGTERM);
    int rc = pdt_server_wait(&own, 5000);
    pdt_server_discard(&own, rc != 0);
    assert_int_equal(rc, 0);
}

/* ---- --dev: one development secret for every thread ---- */

/* presenced --dev without a JWT secret (the harness always gives one). */
static pid_t dev_pid;

static int teardown_dev(void **state)
{
    if (dev_pid > 0)
        pdt_kill(dev_pid, SIGKILL, 1000);
    dev_pid = 0;
    return pdt_teardown(state);
}

static int start_dev(void)
{
    int port = pdt_free_port();
    assert_true(port > 0);
    const char *listen = pdt_fmt("127.0.0.1:%d", port);
    const char *const argv[] = {PRESENCED_BIN, "--dev", "--threads", "4", "--listen", listen, NULL};
    dev_pid = pdt_spawn(argv, NULL, NULL);
    assert_true(dev_pid > 0);
    pd_buf_t r = PD_BUF_INIT;
    int st = 0;
    for (int i = 0; i < 200 && (st = get(port, "/healthz", &r, 0)) != 200; i++)
        pdt_pump(25);
    pd_buf_free(&r);
    assert_int_equal(st, 200);
    return port;
}

/* A token minted on whichever thread took /dev/token is good on the room's thread. */
static void test_dev_tokens_good_on_every_thread(void **state)
{
    int port = start_dev();
    pd_buf_t r = PD_BUF_INIT;
    for (int i = 0; i < ROOMS; i++) {
        const char *ws = pdt_fmt("t-dev-%d", i);
        assert_int_equal(get(port, pdt_fmt("/dev/token?user=u%d&workspace=%s", i, ws), &r, 0), 200);
        cJSON *json = cJSON_Parse(pdt_http_body(r.base));
        pdt_ws_opts_t o = {.workspace = ws, .token = pdt_str(json, "token"), .label = ws};
        pdt_ws_t *c = pdt_ws_open(port, &o);
        cJSON_Delete(json);
        pdt_expect(c, "presence_snapshot");
    }
    pd_buf_free(&r);
    pdt_teardown(NULL);
    assert_int_equal(pdt_kill(dev_pid, SIGTERM, 5000), 0);
    dev_pid = 0;
}

int main(void)
{
    if (write_secret() != 0) {
        perror("api secret file");
        return 1;
    }
    const char *const args[] = {
        "--threads", "4", "--api-secret-file", secret_path, "--max-conns-per-user", "2", "--linger",
        "0",         NULL};
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_one_user_in_rooms_on_every_thread),
        PDT_TEST(test_update_in_upgrade_write_survives_handover),
        PDT_TEST(test_churn_keeps_room_rules),
        PDT_TEST(test_kick_reaches_the_rooms_thread),
        cmocka_unit_test_teardown(test_sigterm_drains_every_thread, teardown_own),
        cmocka_unit_test_teardown(test_sigterm_with_upgrades_in_flight, teardown_own),
        cmocka_unit_test_teardown(test_default_is_one_thread_per_cpu, teardown_own),
        cmocka_unit_test_teardown(test_dev_tokens_good_on_every_thread, teardown_dev),
    };
    int rc = PDT_SUITE(tests, &srv, args, 100);
    unlink(secret_path);
    return rc;
}
