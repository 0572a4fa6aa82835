/* Reconnect delays, driven by an injected clock and injected random numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/backoff.h"

/* PartySocket-like defaults: first delay 1-5 s, growth 1.3, cap 10 s, reset after 5 s up. */
static const pd_backoff_config_t defaults = {1000, 5000, 1.3, 10000, 5000};

static void test_ceiling_grows_to_the_cap(void **state)
{
    pd_backoff_t b;
    pd_backoff_init(&b, &defaults);
    const uint64_t want[] = {5000, 6500, 8450, 10000, 10000, 10000};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(pd_backoff_ceiling(&b), want[i]);
        assert_int_equal(pd_backoff_next(&b, 1.0), want[i]);
    }
}

static void test_full_jitter_bounds(void **state)
{
    pd_backoff_t b;
    pd_backoff_init(&b, &defaults);
    /* random 0: always the floor; 0.5: the middle of [min, ceiling]. */
    assert_int_equal(pd_backoff_next(&b, 0.0), 1000);
    assert_int_equal(pd_backoff_next(&b, 0.5), 1000 + (6500 - 1000) / 2);
    assert_int_equal(pd_backoff_next(&b, 0.0), 1000);
    assert_int_equal(pd_backoff_next(&b, 0.25), 1000 + 9000 / 4);
    /* Out-of-range numbers are clamped, not trusted. */
    assert_int_equal(pd_backoff_next(&b, 7.0), 10000);
    assert_int_equal(pd_backoff_next(&b, -1.0), 1000);
}

/* A deterministic stand-in for a random source: a linear congruential generator. */
static double lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (*s >> 8) / 16777216.0;
}

static void test_every_delay_within_its_window(void **state)
{
    pd_backoff_t b;
    pd_backoff_init(&b, &defaults);
    uint32_t seed = 42;
    uint64_t prev_ceiling = 0;
    for (int i = 0; i < 200; i++) {
        uint64_t ceiling = pd_backoff_ceiling(&b);
        assert_true(ceiling >= prev_ceiling);
        uint64_t d = pd_backoff_next(&b, lcg(&seed));
        assert_true(d >= 1000 && d <= ceiling);
        prev_ceiling = ceiling;
    }
    assert_int_equal(prev_ceiling, 10000);
}

static void test_reset_after_uptime(void **state)
{
    pd_backoff_t b;
    pd_backoff_init(&b, &defaults);
    pd_backoff_next(&b, 1.0);
    pd_backoff_next(&b, 1.0);
    assert_int_equal(pd_backoff_ceiling(&b), 8450);
    /* Up for 4.999 s: not long enough, the count stays. */
    pd_backoff_up(&b, 100000);
    pd_backoff_down(&b, 104999);
    assert_int_equal(pd_backoff_ceiling(&b), 8450);
    /* Up for 5 s: back to the first window. */
    pd_backoff_up(&b, 200000);
    pd_backoff_down(&b, 205000);
    assert_int_equal(pd_backoff_ceiling(&b), 5000);
    /* Down without having been up changes nothing. */
    pd_backoff_next(&b, 1.0);
    pd_backoff_down(&b, 900000);
    assert_int_equal(pd_backoff_ceiling(&b), 6500);
}

static void test_config_is_made_consistent(void **state)
{
    pd_backoff_t b;
    pd_backoff_config_t odd = {500, 100, 0.5, 50, 0};
    pd_backoff_init(&b, &odd);
    /* first raised to min, max to first, growth to 1: a constant 500. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(pd_backoff_next(&b, 1.0), 500);
    pd_backoff_config_t zero_min = {0, 100, 2.0, 1000, 0};
    pd_backoff_init(&b, &zero_min);
    assert_int_equal(pd_backoff_next(&b, 0.0), 0);
    assert_int_equal(pd_backoff_next(&b, 1.0), 200);
}

static void test_long_outage_does_not_overflow(void **state)
{
    pd_backoff_t b;
    pd_backoff_init(&b, &defaults);
    b.attempt = 4000000000u;
    assert_int_equal(pd_backoff_ceiling(&b), 10000);
    assert_int_equal(pd_backoff_next(&b, 1.0), 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceiling_grows_to_the_cap),
        cmocka_unit_test(test_full_jitter_bounds),
        cmocka_unit_test(test_every_delay_within_its_window),
        cmocka_unit_test(test_reset_after_uptime),
        cmocka_unit_test(test_config_is_made_consistent),
        cmocka_unit_test(test_long_outage_does_not_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
