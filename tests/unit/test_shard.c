/*
 * shard.c's placement of rooms: the hash is stable (the same room always
 * lands on the same thread, whatever the run), stays in range, spreads
 * rooms over every thread, and with one thread is always 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/shard.h"

static unsigned owner(unsigned n, const char *room)
{
    pd_proc_t proc = {.n = n};
    return pd_shard_of(&proc, pd_slice_cstr(room));
}

static void test_one_thread_owns_everything(void **state)
{
    assert_int_equal(owner(1, "presence-a"), 0);
    assert_int_equal(owner(1, ""), 0);
}

/* Fixed values: a change of hash would move rooms between threads across versions. */
static void test_stable(void **state)
{
    assert_int_equal(owner(4, "presence-team-1"), 2);
    assert_int_equal(owner(7, "presence-team-1"), 0);
    assert_int_equal(owner(64, "presence-a") % 4, owner(4, "presence-a"));
}

static void test_spread_over_every_thread(void **state)
{
    for (unsigned n = 2; n <= PD_MAX_THREADS; n *= 2) {
        unsigned count[PD_MAX_THREADS] = {0};
        char room[32];
        for (unsigned i = 0; i < 64 * n; i++) {
            snprintf(room, sizeof(room), "presence-w%u", i);
            unsigned t = owner(n, room);
            assert_true(t < n);
            count[t]++;
        }
        for (unsigned t = 0; t < n; t++)
            assert_true(count[t] > 16); /* 64 expected each */
    }
}

static void test_default_count_in_range(void **state)
{
    unsigned n = pd_shard_default_count();
    assert_true(n >= 1 && n <= PD_MAX_THREADS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread_owns_everything),
        cmocka_unit_test(test_stable),
        cmocka_unit_test(test_spread_over_every_thread),
        cmocka_unit_test(test_default_count_in_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
