/*
 * src/server/outq: a connection's queue of shared frames. Pushing, the
 * iovecs of one writev, partial writes, truncation, and dropping superseded
 * entries with the byte count kept exact (checked against the entries left
 * after every step).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/outq.h"

static int me, other;

static pd_shared_t *frame(const char *text)
{
    return pd_shared_copy(text, strlen(text));
}

/* Pushes text and drops the caller's reference: the queue holds the only one. */
static pd_shared_t *push(pd_outq_t *q, const char *text)
{
    pd_shared_t *f = frame(text);
    pd_outq_push(q, f);
    pd_shared_unref(f);
    return f;
}

/* The unsent bytes, gathered the way a flush gathers them. */
static void expect_unsent(const pd_outq_t *q, const char *want)
{
    struct iovec iov[64];
    size_t total;
    unsigned n = pd_outq_iov(q, iov, 64, &total);
    char got[256];
    size_t at = 0;
    for (unsigned i = 0; i < n; i++) {
        memcpy(got + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    got[at] = '\0';
    assert_string_equal(got, want);
    assert_int_equal(total, strlen(want));
    assert_int_equal(q->bytes, strlen(want));
}

static void test_push_iov_consume(void **state)
{
    pd_outq_t q;
    pd_outq_init(&q);
    assert_true(pd_outq_empty(&q));
    for (int i = 0; i < 10; i++) /* past the first growth of the ring */
        push(&q, i % 2 ? "b" : "aa");
    expect_unsent(&q, "aabaabaabaabaab");
    pd_outq_consume(&q, 3); /* "aab" */
    pd_outq_consume(&q, 1); /* half of "aa" */
    assert_int_equal(q.offset, 1);
    expect_unsent(&q, "abaabaabaab");
    pd_outq_truncate(&q, 2); /* keeps the started "aa" and one "b" */
    expect_unsent(&q, "ab");
    pd_outq_consume(&q, 2);
    assert_true(pd_outq_empty(&q));
    assert_int_equal(q.offset, 0);
    pd_outq_free(&q);
}

static void test_iov_respects_max(void **state)
{
    pd_outq_t q;
    pd_outq_init(&q);
    for (int i = 0; i < 5; i++)
        push(&q, "xy");
    struct iovec iov[3];
    size_t total;
    assert_int_equal(pd_outq_iov(&q, iov, 3, &total), 3);
    assert_int_equal(total, 6);
    assert_int_equal(q.bytes, 10);
    pd_outq_free(&q);
}

/* Superseded entries go, others stay in order, and the byte count follows. */
static void test_drop_stale(void **state)
{
    pd_outq_t q;
    pd_outq_init(&q);
    pd_shared_t *a1 = push(&q, "A1;");
    push(&q, "pong;");
    pd_shared_t *b1 = push(&q, "B1;");
    pd_shared_t *a2 = push(&q, "A2;");
    push(&q, "A3;");
    pd_shared_supersede(a1, NULL);
    pd_shared_supersede(a2, NULL);
    pd_shared_supersede(b1, &other); /* the newer B did not reach other */
    assert_int_equal(pd_outq_drop_stale(&q, &other, 64), 2);
    expect_unsent(&q, "pong;B1;A3;");
    assert_int_equal(pd_outq_drop_stale(&q, &me, 64), 1);
    expect_unsent(&q, "pong;A3;");
    assert_int_equal(pd_outq_drop_stale(&q, &me, 64), 0);
    pd_outq_free(&q);
}

/* A partly written entry is on the wire: it stays even when superseded. */
static void test_drop_stale_keeps_started(void **state)
{
    pd_outq_t q;
    pd_outq_init(&q);
    pd_shared_t *a1 = push(&q, "A1;");
    pd_shared_t *a2 = push(&q, "A2;");
    push(&q, "A3;");
    pd_shared_supersede(a1, NULL);
    pd_shared_supersede(a2, NULL);
    pd_outq_consume(&q, 1);
    assert_int_equal(pd_outq_drop_stale(&q, &me, 64), 1);
    assert_int_equal(q.offset, 1);
    expect_unsent(&q, "1;A3;");
    pd_outq_consume(&q, 5);
    assert_true(pd_outq_empty(&q));
    pd_outq_free(&q);
}

/* Only the front run up to max live entries is looked at; the ring wraps. */
static void test_drop_stale_front_run(void **state)
{
    pd_outq_t q;
    pd_outq_init(&q);
    for (int i = 0; i < 6; i++)
        push(&q, "z");
    pd_outq_consume(&q, 6); /* head now mid-ring, so the run below wraps */
    pd_shared_t *s[8];
    for (int i = 0; i < 8; i++)
        s[i] = push(&q, i % 2 ? "k" : "s");
    for (int i = 0; i < 8; i += 2)
        pd_shared_supersede(s[i], NULL);
    assert_int_equal(pd_outq_drop_stale(&q, &me, 2), 2); /* s k s k | s k s k */
    expect_unsent(&q, "kksksk");
    assert_int_equal(pd_outq_drop_stale(&q, &me, 64), 2);
    expect_unsent(&q, "kkkk");
    pd_outq_free(&q);
}

/* An empty frame is finished as soon as it is reached. */
static void test_empty_entries_are_consumed(void **state)
{
    pd_outq_t q;
    pd_outq_init(&q);
    push(&q, "");
    push(&q, "a");
    push(&q, "");
    pd_outq_consume(&q, 0);
    assert_int_equal(q.count, 2);
    pd_outq_consume(&q, 1);
    assert_true(pd_outq_empty(&q));
    pd_outq_free(&q);
}

/* Freeing a queue with dropped and kept entries leaks nothing (ASan checks). */
static void test_free_after_drops(void **state)
{
    pd_outq_t q;
    pd_outq_init(&q);
    pd_shared_t *shared = frame("S;");
    pd_outq_push(&q, shared);
    push(&q, "x;");
    pd_shared_supersede(shared, NULL);
    assert_int_equal(pd_outq_drop_stale(&q, &me, 64), 1);
    assert_int_equal(shared->refs, 1); /* the queue let go of its reference */
    pd_shared_unref(shared);
    pd_outq_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_iov_consume),
        cmocka_unit_test(test_iov_respects_max),
        cmocka_unit_test(test_drop_stale),
        cmocka_unit_test(test_drop_stale_keeps_started),
        cmocka_unit_test(test_drop_stale_front_run),
        cmocka_unit_test(test_empty_entries_are_consumed),
        cmocka_unit_test(test_free_after_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
