/*
 * The harness for the Redis cluster tests, proved against a real
 * redis-server: commands through pdt_redis_cmd, a kill and a restart on
 * the same port that comes back empty, a stop that removes its directory;
 * and the relay in front of it: relayed, cut (resets, both sides), frozen
 * (bytes held, then delivered), restored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pdt_proc.h"
#include "pdt_redis.h"
#include "pdt_relay.h"

#define PING "*1\r\n$4\r\nPING\r\n"
/* How long a frozen relay must stay silent to count as holding the bytes. */
#define SILENCE_MS 300

static pdt_redis_t red;
static pdt_relay_t *relay;

/* Runs argv on red and returns the flattened reply (static: valid until the next call). */
static const char *cmd(const char *const *argv)
{
    static char out[4096];
    assert_int_equal(pdt_redis_cmd(&red, out, sizeof(out), argv), 0);
    return out;
}

#define CMD(...) cmd((const char *const[]){__VA_ARGS__, NULL})

static void test_commands(void **state)
{
    assert_string_equal(CMD("PING"), "PONG");
    assert_string_equal(CMD("SET", "h:key", "some value"), "OK");
    assert_string_equal(CMD("GET", "h:key"), "some value");
    assert_string_equal(CMD("GET", "h:missing"), "(nil)");
    assert_string_equal(CMD("INCR", "h:n"), "1");
    assert_string_equal(CMD("RPUSH", "h:list", "a", "b", "c"), "3");
    assert_string_equal(CMD("LRANGE", "h:list", "0", "-1"), "a\nb\nc");
    assert_string_equal(CMD("LRANGE", "h:none", "0", "-1"), "");
    assert_string_equal(CMD("HSET", "h:hash", "f", "v"), "1");
    assert_string_equal(CMD("HGETALL", "h:hash"), "f\nv");
    assert_true(strncmp(CMD("NOSUCHCOMMAND"), "ERR:ERR unknown command", 23) == 0);
    assert_true(strncmp(CMD("INCR", "h:key"), "ERR:", 4) == 0);
    /* Status and error lines longer than the client's line buffer are cut, not refused. */
    const char *status = CMD("EVAL", "return redis.status_reply(string.rep('s', 3000))", "0");
    assert_int_equal(strlen(status), 1023);
    assert_int_equal(strspn(status, "s"), 1023);
    const char *error = CMD("EVAL", "return redis.error_reply(string.rep('e', 3000))", "0");
    assert_int_equal(strlen(error), 4 + 1023);
    assert_int_equal(strncmp(error, "ERR:ERR eee", 11), 0);
    /* Nested arrays flatten the same way. */
    assert_string_equal(CMD("EVAL", "return {1, {'x', 'y'}, 'z'}", "0"), "1\nx\ny\nz");
}

static void test_binary_and_long_values(void **state)
{
    char big[10000], out[64];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_string_equal(CMD("SET", "h:big", big), "OK");
    assert_string_equal(CMD("STRLEN", "h:big"), "9999");
    /* A reply longer than out is cut to fit, and the connection still read to its end. */
    const char *const get[] = {"GET", "h:big", NULL};
    assert_int_equal(pdt_redis_cmd(&red, out, sizeof(out), get), 0);
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_string_equal(CMD("SET", "h:crlf", "a\r\nb"), "OK");
    assert_string_equal(CMD("GET", "h:crlf"), "a\r\nb");
}

static void test_config(void **state)
{
    char url[64], want[96];
    assert_string_equal(CMD("CONFIG", "GET", "bind"), "bind\n127.0.0.1");
    assert_string_equal(CMD("CONFIG", "GET", "save"), "save\n");
    assert_string_equal(CMD("CONFIG", "GET", "appendonly"), "appendonly\nno");
    assert_string_equal(CMD("CONFIG", "GET", "protected-mode"), "protected-mode\nno");
    snprintf(want, sizeof(want), "dir\n%s", red.dir);
    assert_string_equal(CMD("CONFIG", "GET", "dir"), want);
    pdt_redis_url(&red, url, sizeof(url));
    snprintf(want, sizeof(want), "redis://127.0.0.1:%d", red.port);
    assert_string_equal(url, want);
}

static void test_kill_restart_is_empty(void **state)
{
    char out[64];
    const char *const ping[] = {"PING", NULL};
    int port = red.port;
    assert_string_equal(CMD("SET", "h:persist", "1"), "OK");
    pdt_redis_kill(&red);
    assert_int_equal(red.pid, 0);
    assert_int_equal(pdt_redis_cmd(&red, out, sizeof(out), ping), -1);
    assert_int_equal(pdt_redis_restart(&red), 0);
    assert_true(red.pid > 0);
    assert_int_equal(red.port, port);
    assert_string_equal(CMD("GET", "h:persist"), "(nil)");
    assert_string_equal(CMD("DBSIZE"), "0");
    /* A second restart while it runs is refused. */
    assert_int_equal(pdt_redis_restart(&red), -1);
}

/* A listener on 127.0.0.1:port, as another program holding the port would have. */
static int hold_port(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    return fd;
}

/* A restart that cannot listen fails at once (not after 10 s) and leaves nothing running. */
static void test_restart_fails_when_port_taken(void **state)
{
    pdt_redis_kill(&red);
    int fd = hold_port(red.port);
    uint64_t t0 = pdt_now_ms();
    assert_int_equal(pdt_redis_restart(&red), -1);
    assert_true(pdt_now_ms() - t0 < 5000);
    assert_int_equal(red.pid, 0);
    close(fd);
    assert_int_equal(pdt_redis_restart(&red), 0);
    assert_string_equal(CMD("PING"), "PONG");
}

static void test_stop_removes_dir(void **state)
{
    pdt_redis_t other;
    char out[64];
    const char *const dbsize[] = {"DBSIZE", NULL};
    const char *const set[] = {"SET", "h:k", "v", NULL};
    assert_int_equal(pdt_redis_start(&other), 0);
    assert_int_not_equal(other.port, red.port);
    assert_int_equal(pdt_redis_cmd(&other, out, sizeof(out), set), 0);
    pdt_redis_stop(&other);
    assert_int_equal(other.pid, 0);
    assert_int_equal(access(other.dir, F_OK), -1);
    /* Restart after a stop: the directory comes back, the data does not. */
    assert_int_equal(pdt_redis_restart(&other), 0);
    assert_int_equal(pdt_redis_cmd(&other, out, sizeof(out), dbsize), 0);
    assert_string_equal(out, "0");
    pdt_redis_stop(&other);
    pdt_redis_stop(&other);
    assert_int_equal(access(other.dir, F_OK), -1);
}

/* ---- the relay ---- */

static int relay_teardown(void **state)
{
    pdt_relay_stop(relay);
    relay = NULL;
    return 0;
}

/* A blocking connection to 127.0.0.1:port. */
static int raw_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static int readable_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static void send_text(int fd, const char *text)
{
    assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Reads exactly n bytes into buf, each wait bounded by timeout_ms. */
static void recv_exactly(int fd, char *buf, size_t n, int timeout_ms)
{
    size_t got = 0;
    while (got < n) {
        if (!readable_within(fd, timeout_ms))
            fail_msg("%zu of %zu bytes within %d ms", got, n, timeout_ms);
        ssize_t k = recv(fd, buf + got, n - got, 0);
        if (k <= 0)
            fail_msg("connection closed after %zu of %zu bytes (%s)", got, n,
                     k == 0 ? "EOF" : strerror(errno));
        got += (size_t)k;
    }
}

static void expect_pong(int fd, int timeout_ms)
{
    char buf[8] = {0};
    recv_exactly(fd, buf, 7, timeout_ms);
    assert_string_equal(buf, "+PONG\r\n");
}

static void ping_pong(int fd)
{
    send_text(fd, PING);
    expect_pong(fd, 5000);
}

/* Expects fd to be closed within 2 s: returns the recv() errno (0 for a FIN). */
static int expect_closed(int fd)
{
    char c;
    if (!readable_within(fd, 2000))
        fail_msg("the connection was not closed within 2 s");
    ssize_t k = recv(fd, &c, 1, 0);
    if (k > 0)
        fail_msg("a byte instead of the close: %c", c);
    int e = k < 0 ? errno : 0;
    close(fd);
    return e;
}

static void test_relay_forwards(void **state)
{
    relay = pdt_relay_start(red.port);
    assert_non_null(relay);
    assert_int_not_equal(pdt_relay_port(relay), red.port);
    int fd = raw_connect(pdt_relay_port(relay));
    ping_pong(fd);
    ping_pong(fd);
    assert_int_equal(pdt_relay_accepted(relay), 1);
    assert_int_equal(pdt_relay_open(relay), 1);
    /* More than the relay buffers each way: it must wait for room, and lose nothing. */
    static char value[200001], reply[200016];
    size_t n = sizeof(value) - 1;
    memset(value, 'x', n);
    value[n] = '\0';
    assert_string_equal(CMD("SET", "h:huge", value), "OK");
    send_text(fd, "*2\r\n$3\r\nGET\r\n$6\r\nh:huge\r\n");
    recv_exactly(fd, reply, 9 + n + 2, 5000);
    assert_memory_equal(reply, "$200000\r\n", 9);
    assert_memory_equal(reply + 9, value, n);
    assert_memory_equal(reply + 9 + n, "\r\n", 2);
    /* The same value sent through the relay: the client's way is bounded too. */
    char head[64];
    snprintf(head, sizeof(head), "*3\r\n$3\r\nSET\r\n$7\r\nh:huge2\r\n$%zu\r\n", n);
    send_text(fd, head);
    send_text(fd, value);
    send_text(fd, "\r\n");
    recv_exactly(fd, reply, 5, 5000);
    assert_memory_equal(reply, "+OK\r\n", 5);
    assert_string_equal(CMD("STRLEN", "h:huge2"), "200000");
    close(fd);
}

static void test_relay_cut(void **state)
{
    char id[32];
    relay = pdt_relay_start(red.port);
    assert_non_null(relay);
    int fd = raw_connect(pdt_relay_port(relay));
    send_text(fd, "*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n");
    recv_exactly(fd, id, 1, 5000);
    assert_int_equal(id[0], ':');
    size_t n = 1;
    while (n + 1 < sizeof(id) && id[n - 1] != '\n')
        recv_exactly(fd, id + n++, 1, 5000);
    id[n - 2] = '\0';
    assert_non_null(strstr(CMD("CLIENT", "LIST", "ID", id + 1), "cmd=client|id"));
    pdt_relay_cut(relay);
    /* Reset, not closed: the node sees an error, as when a link dies. */
    assert_int_equal(expect_closed(fd), ECONNRESET);
    assert_int_equal(pdt_relay_open(relay), 0);
    /* Redis lost its side too: its client is gone. */
    assert_string_equal(CMD("CLIENT", "LIST", "ID", id + 1), "");
    /* New connections are taken and closed at once while cut. */
    for (int i = 0; i < 3; i++) {
        fd = raw_connect(pdt_relay_port(relay));
        expect_closed(fd);
    }
    assert_int_equal(pdt_relay_accepted(relay), 4);
    assert_int_equal(pdt_relay_open(relay), 0);
    pdt_relay_restore(relay);
    fd = raw_connect(pdt_relay_port(relay));
    ping_pong(fd);
    assert_int_equal(pdt_relay_open(relay), 1);
    close(fd);
}

static void test_relay_freeze(void **state)
{
    relay = pdt_relay_start(red.port);
    assert_non_null(relay);
    int before = raw_connect(pdt_relay_port(relay));
    ping_pong(before);
    pdt_relay_freeze(relay);
    send_text(before, PING);
    /* A connection made while frozen is accepted and held. */
    int during = raw_connect(pdt_relay_port(relay));
    send_text(during, PING);
    assert_false(readable_within(before, SILENCE_MS));
    assert_false(readable_within(during, 0));
    assert_int_equal(pdt_relay_open(relay), 2);
    pdt_relay_restore(relay);
    expect_pong(before, 5000);
    expect_pong(during, 5000);
    ping_pong(before);
    ping_pong(during);
    close(before);
    close(during);
}

static void test_relay_cut_while_frozen(void **state)
{
    relay = pdt_relay_start(red.port);
    assert_non_null(relay);
    int fd = raw_connect(pdt_relay_port(relay));
    ping_pong(fd);
    pdt_relay_freeze(relay);
    int held = raw_connect(pdt_relay_port(relay));
    send_text(held, PING);
    assert_int_equal(pdt_relay_open(relay), 2);
    pdt_relay_cut(relay);
    assert_int_equal(expect_closed(fd), ECONNRESET);
    assert_int_equal(expect_closed(held), ECONNRESET);
    assert_int_equal(pdt_relay_open(relay), 0);
    pdt_relay_restore(relay);
    fd = raw_connect(pdt_relay_port(relay));
    ping_pong(fd);
    close(fd);
}

/* Up to 64 connections at a time are relayed; one more is reset, the others go on. */
static void test_relay_connection_limit(void **state)
{
    int fds[65];
    relay = pdt_relay_start(red.port);
    assert_non_null(relay);
    for (int i = 0; i < 65; i++)
        fds[i] = raw_connect(pdt_relay_port(relay));
    assert_int_equal(pdt_relay_accepted(relay), 65);
    assert_int_equal(pdt_relay_open(relay), 64);
    assert_int_equal(expect_closed(fds[64]), ECONNRESET);
    for (int i = 0; i < 64; i++)
        send_text(fds[i], PING);
    for (int i = 0; i < 64; i++) {
        expect_pong(fds[i], 5000);
        close(fds[i]);
    }
}

/* The relay passes the target's death on, and relays again once it is back. */
static void test_relay_target_down(void **state)
{
    relay = pdt_relay_start(red.port);
    assert_non_null(relay);
    int fd = raw_connect(pdt_relay_port(relay));
    ping_pong(fd);
    pdt_redis_kill(&red);
    expect_closed(fd);
    fd = raw_connect(pdt_relay_port(relay));
    assert_int_equal(expect_closed(fd), ECONNRESET);
    assert_int_equal(pdt_redis_restart(&red), 0);
    fd = raw_connect(pdt_relay_port(relay));
    ping_pong(fd);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_binary_and_long_values),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_kill_restart_is_empty),
        cmocka_unit_test(test_restart_fails_when_port_taken),
        cmocka_unit_test(test_stop_removes_dir),
        cmocka_unit_test_teardown(test_relay_forwards, relay_teardown),
        cmocka_unit_test_teardown(test_relay_cut, relay_teardown),
        cmocka_unit_test_teardown(test_relay_freeze, relay_teardown),
        cmocka_unit_test_teardown(test_relay_cut_while_frozen, relay_teardown),
        cmocka_unit_test_teardown(test_relay_connection_limit, relay_teardown),
        cmocka_unit_test_teardown(test_relay_target_down, relay_teardown),
    };
    pdt_watchdog(50);
    if (!pdt_redis_available()) {
        fprintf(stderr, "SKIP: no redis-server (scripts/deps.sh test installs it)\n");
        return 77;
    }
    if (pdt_redis_start(&red) != 0)
        return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed > 0)
        pdt_redis_dump_log(&red);
    pdt_redis_stop(&red);
    return failed > 0;
}
