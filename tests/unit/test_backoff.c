/* Reconnect delays (backoff.c): doubling, the cap, the jitter range, a
 * private generator that leaves the application's rand() alone. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "backoff.h"

Test(backoff, doubles_up_to_the_cap_with_jitter_in_half_to_whole)
{
    mqi_rng r;
    unsigned a;
    int i;

    mqi_rng_seed(&r, 42);
    for (a = 1; a <= 12; a++) {
        int64_t d = 1000;
        unsigned k;
        for (k = 1; k < a && d < 30000; k++)
            d *= 2;
        if (d > 30000)
            d = 30000;
        for (i = 0; i < 200; i++) {
            int v = mqi_backoff_delay_ms(1000, 30000, a, &r);
            cr_assert(v >= d / 2 && v <= d, "attempt %u: %d not in [%d, %d]",
                      a, v, (int)(d / 2), (int)d);
        }
    }
}

Test(backoff, spreads_over_the_range)
{
    mqi_rng r;
    int lo = 0, hi = 0, i;

    mqi_rng_seed(&r, 7);
    for (i = 0; i < 1000; i++) {
        int v = mqi_backoff_delay_ms(1000, 1000, 1, &r);
        lo += v < 625;
        hi += v > 875;
    }
    /* a quarter of the range at each end: about 250 draws each */
    cr_assert(lo > 150 && hi > 150, "lo %d hi %d", lo, hi);
}

Test(backoff, tiny_and_zero_delays)
{
    mqi_rng r;

    mqi_rng_seed(&r, 1);
    cr_assert_eq(mqi_backoff_delay_ms(0, 0, 1, &r), 0);
    cr_assert_eq(mqi_backoff_delay_ms(1, 1, 5, &r), 1);
    cr_assert_eq(mqi_backoff_delay_ms(1, 100, 40, &r) <= 100, 1);
}

Test(backoff, same_seed_same_sequence_and_rand_untouched)
{
    mqi_rng a, b;
    int i, before, after;

    srand(1234);
    before = rand();
    srand(1234);
    mqi_rng_seed(&a, 99);
    mqi_rng_seed(&b, 99);
    for (i = 0; i < 100; i++)
        cr_assert_eq(mqi_rng_next(&a), mqi_rng_next(&b));
    (void)mqi_backoff_delay_ms(10, 1000, 3, &a);
    after = rand();
    cr_assert_eq(before, after, "the library moved the application's rand()");
}

/* The backoff starts afresh only after a connection that stayed up for a
 * while (10 s, or one keepalive when shorter): a broker that accepts and
 * closes at once gets growing delays, not the minimum forever. */
Test(backoff, reset_only_after_a_stable_connection)
{
    cr_assert_eq(mqi_backoff_after_up(5, 200, 60), 5);
    cr_assert_eq(mqi_backoff_after_up(5, 9999, 60), 5);
    cr_assert_eq(mqi_backoff_after_up(5, 10000, 60), 0);
    cr_assert_eq(mqi_backoff_after_up(5, 10000, 0), 0);
    cr_assert_eq(mqi_backoff_after_up(5, 9999, 0), 5);
    /* a short keepalive: one interval is enough */
    cr_assert_eq(mqi_backoff_after_up(3, 2000, 2), 0);
    cr_assert_eq(mqi_backoff_after_up(3, 1999, 2), 3);
    cr_assert_eq(mqi_backoff_after_up(0, 0, 60), 0);
}
