/*
 * src/cluster/cluster: what can be checked without a Redis, the --redis
 * URL's forms. The cluster's behaviour over a real redis-server is in
 * tests/blackbox/bb_cluster.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "cluster/cluster.h"

typedef struct {
    const char *url;
    const char *host;
    int port;
    const char *user;
    const char *password;
    unsigned db;
} url_case_t;

static void test_urls_parsed(void **state)
{
    static const url_case_t ok[] = {
        {"redis://127.0.0.1:6380", "127.0.0.1", 6380, "", "", 0},
        {"redis://redis.internal", "redis.internal", 6379, "", "", 0},
        {"redis://h:1/", "h", 1, "", "", 0},
        {"redis://h/3", "h", 6379, "", "", 3},
        {"redis://:s3cret@h:7000/2", "h", 7000, "", "s3cret", 2},
        {"redis://app:pw:with:colons@h", "h", 6379, "app", "pw:with:colons", 0},
        {"redis://p%40ss@h", "h", 6379, "", "p%40ss", 0},
        {"redis://:a@b@h:9", "h", 9, "", "a@b", 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char host[64], user[64], pw[64];
        int port;
        unsigned db;
        if (pd_cluster_parse_url(ok[i].url, host, sizeof(host), &port, user, sizeof(user), pw,
                                 sizeof(pw), &db) != 0)
            fail_msg("refused %s", ok[i].url);
        assert_string_equal(host, ok[i].host);
        assert_int_equal(port, ok[i].port);
        assert_string_equal(user, ok[i].user);
        assert_string_equal(pw, ok[i].password);
        assert_int_equal(db, ok[i].db);
    }
}

static void test_bad_urls_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "http://h:6379",
        "redis://",
        "redis://:pw@",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:x",
        "redis://h:1/x",
        "redis://h/1/2",
        "redis://h:1x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char host[64], user[64], pw[64];
        int port;
        unsigned db;
        if (pd_cluster_parse_url(bad[i], host, sizeof(host), &port, user, sizeof(user), pw,
                                 sizeof(pw), &db) != PD_ERR_CONFIG)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    /* Parts longer than the caller's buffers are refused, not cut. */
    char host[4], user[64], pw[64];
    int port;
    unsigned db;
    assert_int_equal(pd_cluster_parse_url("redis://longhost", host, sizeof(host), &port, user,
                                          sizeof(user), pw, sizeof(pw), &db),
                     PD_ERR_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls_parsed),
        cmocka_unit_test(test_bad_urls_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
