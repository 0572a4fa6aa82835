/*
 * src/cluster/msg: the message every node publishes and keeps in Redis,
 * encoded and decoded back, and every kind of malformed input refused with
 * a reason rather than trusted (another node, or anything that can write
 * to Redis, may send it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "cluster/msg.h"

static const pd_cluster_limits_t lim = {1024, 32, 256};

static pd_member_state_t state(const char *path, const char *type, uint64_t stamp)
{
    return (pd_member_state_t){pd_slice_cstr("u1"),
                               pd_slice_cstr("Al \"A\""),
                               PD_SLICE_NULL,
                               {pd_slice_cstr(path), pd_slice_cstr(type), PD_SLICE_NULL},
                               stamp};
}

static void test_set_round_trip(void **st)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_member_state_t s = state("/w/1", "task", 1733400000123ULL);
    pd_cluster_msg_encode(&b, pd_slice_cstr("n1/0"), 1733400000000ULL, 7, pd_slice_cstr("k_1"), &s);
    pd_buf_append_char(&b, '\0');
    assert_string_equal(b.base, "{\"v\":1,\"n\":\"n1/0\",\"i\":1733400000000,\"s\":7,\"k\":\"k_1\","
                                "\"m\":{\"userId\":\"u1\",\"userName\":\"Al \\\"A\\\"\","
                                "\"userImage\":null,\"currentPath\":\"/w/1\","
                                "\"resourceType\":\"task\",\"at\":1733400000123}}");
    pd_cluster_msg_t m;
    const char *why = NULL;
    assert_int_equal(pd_cluster_msg_decode(&lim, b.base, b.len - 1, &m, &why), 0);
    assert_true(pd_slice_eq_cstr(m.node, "n1/0"));
    assert_int_equal(m.inc, 1733400000000ULL);
    assert_int_equal(m.seq, 7);
    assert_true(pd_slice_eq_cstr(m.key, "k_1"));
    assert_true(m.has_member);
    assert_true(pd_slice_eq_cstr(m.state.user_id, "u1"));
    assert_true(pd_slice_eq_cstr(m.state.user_name, "Al \"A\""));
    assert_null(m.state.user_image.base);
    assert_true(pd_slice_eq_cstr(m.state.loc.current_path, "/w/1"));
    assert_true(pd_slice_eq_cstr(m.state.loc.resource_type, "task"));
    assert_null(m.state.loc.resource_id.base);
    assert_int_equal(m.state.stamp, 1733400000123ULL);
    pd_cluster_msg_free(&m);
    pd_buf_free(&b);
}

static void test_kick_round_trip(void **st)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_cluster_msg_encode_kick(&b, pd_slice_cstr("n1/0"), 5, 9, pd_slice_cstr("u\"2"),
                               pd_slice_cstr("removed\nby Ann"));
    pd_buf_append_char(&b, '\0');
    assert_string_equal(b.base,
                        "{\"v\":1,\"n\":\"n1/0\",\"i\":5,\"s\":9,"
                        "\"kick\":{\"userId\":\"u\\\"2\",\"reason\":\"removed\\nby Ann\"}}");
    pd_cluster_msg_t m;
    const char *why = NULL;
    assert_int_equal(pd_cluster_msg_decode(&lim, b.base, b.len - 1, &m, &why), 0);
    assert_true(m.is_kick);
    assert_false(m.has_member);
    assert_true(pd_slice_eq_cstr(m.kick_user, "u\"2"));
    assert_string_equal(m.kick_reason.base, "removed\nby Ann");
    pd_cluster_msg_free(&m);
    pd_buf_free(&b);
    /* A kick names a user; its reason is a string, empty or not. */
    static const char *const bad[] = {
        "{\"v\":1,\"n\":\"a/0\",\"i\":1,\"s\":1,\"kick\":1}",
        "{\"v\":1,\"n\":\"a/0\",\"i\":1,\"s\":1,\"kick\":{\"reason\":\"x\"}}",
        "{\"v\":1,\"n\":\"a/0\",\"i\":1,\"s\":1,\"kick\":{\"userId\":\"\",\"reason\":\"x\"}}",
        "{\"v\":1,\"n\":\"a/0\",\"i\":1,\"s\":1,\"kick\":{\"userId\":\"u\"}}",
        "{\"v\":1,\"n\":\"a/0\",\"i\":1,\"s\":1,\"kick\":{\"userId\":\"u\",\"reason\":5}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        assert_int_equal(pd_cluster_msg_decode(&lim, bad[i], strlen(bad[i]), &m, &why),
                         PD_ERR_PROTO);
        assert_string_equal(why, "bad kick");
    }
    const char *empty =
        "{\"v\":1,\"n\":\"a/0\",\"i\":1,\"s\":1,\"kick\":{\"userId\":\"u\",\"reason\":\"\"}}";
    assert_int_equal(pd_cluster_msg_decode(&lim, empty, strlen(empty), &m, &why), 0);
    assert_true(m.is_kick);
    pd_cluster_msg_free(&m);
}

static void test_leave_round_trip(void **st)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_cluster_msg_encode(&b, pd_slice_cstr("a.b-c/12"), 5, 9007199254740992ULL, pd_slice_cstr("K"),
                          NULL);
    pd_cluster_msg_t m;
    const char *why = NULL;
    assert_int_equal(pd_cluster_msg_decode(&lim, b.base, b.len, &m, &why), 0);
    assert_false(m.has_member);
    assert_int_equal(m.seq, 9007199254740992ULL);
    pd_cluster_msg_free(&m);
    pd_buf_free(&b);
}

/* A never-updated member has currentPath "" and stamp 0; an image may be given. */
static void test_never_updated_member(void **st)
{
    const char *j = "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":{\"userId\":\"u\","
                    "\"userName\":\"U\",\"userImage\":\"https://i/u.png\",\"currentPath\":\"\","
                    "\"at\":0},\"future\":[1,2]}";
    pd_cluster_msg_t m;
    const char *why = NULL;
    assert_int_equal(pd_cluster_msg_decode(&lim, j, strlen(j), &m, &why), 0);
    assert_true(pd_slice_eq_cstr(m.state.loc.current_path, ""));
    assert_true(pd_slice_eq_cstr(m.state.user_image, "https://i/u.png"));
    assert_int_equal(m.state.stamp, 0);
    pd_cluster_msg_free(&m);
}

static void test_malformed_refused(void **st)
{
    static const char *const bad[] = {
        "",
        "nope",
        /* Not UTF-8: raw bytes, and a lone surrogate escaped. */
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":{\"userId\":\"u\","
        "\"userName\":\"U\",\"userImage\":\"htt\x90\x8c.png\",\"currentPath\":\"/\",\"at\":0}}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":{\"userId\":\"u\","
        "\"userName\":\"\\ud800\",\"currentPath\":\"/\",\"at\":0}}",
        "[1]",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\"",
        "{\"v\":2,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\"}",
        "{\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\"}",
        "{\"v\":1,\"n\":\"\",\"i\":1,\"s\":1,\"k\":\"k\"}",
        "{\"v\":1,\"n\":\"a|b\",\"i\":1,\"s\":1,\"k\":\"k\"}",
        "{\"v\":1,\"n\":7,\"i\":1,\"s\":1,\"k\":\"k\"}",
        "{\"v\":1,\"n\":\"n\",\"i\":0,\"s\":1,\"k\":\"k\"}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1.5,\"k\":\"k\"}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":-1,\"k\":\"k\"}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1e300,\"k\":\"k\"}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":\"1\",\"k\":\"k\"}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"a b\"}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":null}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":{}}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":{\"userId\":\"u\",\"userName\":\"U\","
        "\"currentPath\":\"/\"}}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":{\"userId\":\"\",\"userName\":\"U\","
        "\"currentPath\":\"/\",\"at\":1}}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":{\"userId\":\"u\",\"userName\":\"U\","
        "\"currentPath\":\"/\",\"resourceType\":\"0123456789012345678901234567890123\",\"at\":1}}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":{\"userId\":\"u\",\"userName\":\"U\","
        "\"currentPath\":\"/\\u0000\",\"at\":1}}",
        "{\"v\":1,\"n\":\"n\",\"i\":1,\"s\":1,\"k\":\"k\",\"m\":{\"userId\":\"u\",\"userName\":\"U\","
        "\"currentPath\":5,\"at\":1}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pd_cluster_msg_t m;
        const char *why = NULL;
        int rc = pd_cluster_msg_decode(&lim, bad[i], strlen(bad[i]), &m, &why);
        if (rc != PD_ERR_PROTO || !why)
            fail_msg("accepted #%zu: %s", i, bad[i]);
        assert_null(m.tree);
    }
}

/* Fed every prefix of a valid message: refused each time, never read past the end. */
static void test_every_prefix_refused(void **st)
{
    pd_buf_t b = PD_BUF_INIT;
    pd_member_state_t s = state("/w/1", "task", 3);
    pd_cluster_msg_encode(&b, pd_slice_cstr("n1/0"), 1, 2, pd_slice_cstr("k"), &s);
    for (size_t n = 0; n < b.len; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, b.base, n);
        pd_cluster_msg_t m;
        const char *why = NULL;
        assert_int_equal(pd_cluster_msg_decode(&lim, copy, n, &m, &why), PD_ERR_PROTO);
        free(copy);
    }
    pd_buf_free(&b);
}

static void test_node_names(void **st)
{
    assert_true(pd_cluster_node_valid(pd_slice_cstr("node-1.eu/3")));
    assert_false(pd_cluster_node_valid(pd_slice_cstr("")));
    assert_false(pd_cluster_node_valid(pd_slice_cstr("a|b")));
    assert_false(pd_cluster_node_valid(pd_slice_cstr("a b")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_round_trip),    cmocka_unit_test(test_leave_round_trip),
        cmocka_unit_test(test_kick_round_trip),   cmocka_unit_test(test_never_updated_member),
        cmocka_unit_test(test_malformed_refused), cmocka_unit_test(test_every_prefix_refused),
        cmocka_unit_test(test_node_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
