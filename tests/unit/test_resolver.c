/* The resolver pool (resolver.c): a burst of lookups runs on at most
 * MQI_RESOLVER_MAX threads, every job gets exactly one done(), a job not
 * wanted any more is skipped without a lookup, a bad name gets its
 * getaddrinfo error, and idle threads end. */
#include <criterion/criterion.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "mq.h"
#include "resolver.h"

static atomic_int g_done, g_ok, g_skipped, g_failed, g_wanted_calls;

static void
on_done(mqi_rjob *j, int err, struct addrinfo *res)
{
    if (err == 0) {
        cr_expect_not_null(res);
        atomic_fetch_add(&g_ok, 1);
    } else if (err == MQI_RESOLVE_SKIPPED) {
        cr_expect_null(res);
        atomic_fetch_add(&g_skipped, 1);
    } else {
        cr_expect_null(res);
        atomic_fetch_add(&g_failed, 1);
    }
    if (res != NULL)
        freeaddrinfo(res);
    free(j);
    atomic_fetch_add(&g_done, 1);
}

static bool
want_odd(const mqi_rjob *j)
{
    atomic_fetch_add(&g_wanted_calls, 1);
    return (j->gen & 1) != 0;
}

static void
wait_done(int n)
{
    int i;
    for (i = 0; i < 2000 && atomic_load(&g_done) < n; i++)
        usleep(5000);
    cr_assert_eq(atomic_load(&g_done), n);
}

static void
reset(void)
{
    g_done = g_ok = g_skipped = g_failed = g_wanted_calls = 0;
}

Test(resolver, burst_on_a_bounded_pool)
{
    unsigned alive, idle;
    unsigned long started0, started;
    int i, n = 200;

    reset();
    mqi_resolver_stats(&alive, &idle, &started0);
    for (i = 0; i < n; i++) {
        mqi_rjob *j = mqi_rjob_new("localhost", "1883");
        cr_assert_not_null(j);
        j->gen = (unsigned)i;
        j->done = on_done;
        cr_assert_eq(mqi_resolve(j), MQ_OK);
        mqi_resolver_stats(&alive, &idle, &started);
        cr_assert_leq(alive, MQI_RESOLVER_MAX);
    }
    wait_done(n);
    cr_expect_eq(atomic_load(&g_ok), n);
    mqi_resolver_stats(&alive, &idle, &started);
    cr_expect_leq(started - started0, MQI_RESOLVER_MAX);
}

Test(resolver, unwanted_jobs_are_skipped)
{
    int i, n = 40;

    reset();
    for (i = 0; i < n; i++) {
        mqi_rjob *j = mqi_rjob_new("localhost", "80");
        cr_assert_not_null(j);
        j->gen = (unsigned)i;
        j->wanted = want_odd;
        j->done = on_done;
        cr_assert_eq(mqi_resolve(j), MQ_OK);
    }
    wait_done(n);
    cr_expect_eq(atomic_load(&g_wanted_calls), n);
    cr_expect_eq(atomic_load(&g_skipped), n / 2);
    cr_expect_eq(atomic_load(&g_ok), n / 2);
}

Test(resolver, bad_name_gets_its_error)
{
    mqi_rjob *j;

    reset();
    /* .invalid never resolves (RFC 6761) */
    j = mqi_rjob_new("no-such-host.invalid", "1883");
    cr_assert_not_null(j);
    j->done = on_done;
    cr_assert_eq(mqi_resolve(j), MQ_OK);
    wait_done(1);
    cr_expect_eq(atomic_load(&g_failed), 1);
    cr_expect_null(mqi_rjob_new("localhost", "123456789"));
}

Test(resolver, idle_threads_end, .timeout = 30)
{
    unsigned alive = 1, idle;
    unsigned long started;
    mqi_rjob *j;
    int i;

    reset();
    j = mqi_rjob_new("localhost", "1883");
    cr_assert_not_null(j);
    j->done = on_done;
    cr_assert_eq(mqi_resolve(j), MQ_OK);
    wait_done(1);
    for (i = 0; i < 100 && alive > 0; i++) {
        usleep(100000);
        mqi_resolver_stats(&alive, &idle, &started);
    }
    cr_expect_eq(alive, 0, "threads still alive %u s after the last job",
                 (unsigned)(i / 10));
    cr_expect_geq(i * 100, MQI_RESOLVER_IDLE_MS - 200);
    /* and the pool starts again afterwards */
    reset();
    j = mqi_rjob_new("localhost", "1883");
    cr_assert_not_null(j);
    j->done = on_done;
    cr_assert_eq(mqi_resolve(j), MQ_OK);
    wait_done(1);
    cr_expect_eq(atomic_load(&g_ok), 1);
}
