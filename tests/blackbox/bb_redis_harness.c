/*
 * The harness for the Redis cluster tests, proved against a real
 * redis-server: commands through pdt_redis_cmd, a kill and a restart on
 * the same port that comes back empty, a stop that removes its directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pdt_proc.h"
#include "pdt_redis.h"

static pdt_redis_t red;

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_binary_and_long_values),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_kill_restart_is_empty),
        cmocka_unit_test(test_stop_removes_dir),
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
