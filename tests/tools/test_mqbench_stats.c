/*
 * test_mqbench_stats.c - unit tests of mqbench's measuring parts
 * (tools/mqbench_stats.c): payload header round trip and rejection,
 * histogram buckets and percentiles against exact sorting, and the sequence
 * tracker's loss / duplicate / reorder counts, including gaps wider than its
 * window. A plain main() program (TAP output), so sanitizer verdicts count.
 *
 * Threading: single-threaded.
 */
#include "mqbench_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;

#define CHECK(cond)                                                         \
    do {                                                                    \
        checks++;                                                           \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__,       \
                   #cond);                                                  \
        }                                                                   \
    } while (0)

#define CHECK_EQ(a, b)                                                      \
    do {                                                                    \
        unsigned long long a_ = (unsigned long long)(a);                    \
        unsigned long long b_ = (unsigned long long)(b);                    \
        checks++;                                                           \
        if (a_ != b_) {                                                     \
            failures++;                                                     \
            printf("# %s:%d: %s = %llu, expected %llu\n", __FILE__,         \
                   __LINE__, #a, a_, b_);                                   \
        }                                                                   \
    } while (0)

static void
test_header(void)
{
    uint8_t buf[64];
    struct mqb_hdr h = { 0xdeadbeef, 7, 1000, 0x0102030405060708ull,
                         1700000000123456789ull }, g;

    memset(buf, 'x', sizeof buf);
    mqb_hdr_put(buf, &h);
    CHECK(mqb_hdr_get(buf, sizeof buf, &g) == 0);
    CHECK_EQ(g.run_id, h.run_id);
    CHECK_EQ(g.pub_idx, h.pub_idx);
    CHECK_EQ(g.planned, h.planned);
    CHECK_EQ(g.seq, h.seq);
    CHECK_EQ(g.sent_ns, h.sent_ns);
    CHECK_EQ(buf[16], 0x08); /* little-endian on the wire */
    CHECK(mqb_hdr_get(buf, MQB_HDR_SIZE - 1, &g) == -1);
    CHECK(mqb_hdr_get(NULL, 64, &g) == -1);
    buf[0] = 'X';
    CHECK(mqb_hdr_get(buf, sizeof buf, &g) == -1);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void
test_hist(void)
{
    static struct mqb_hist h;
    static uint64_t v[100000];
    const double ps[] = { 50, 90, 99, 99.9, 100 };
    unsigned i, last = 0;
    uint64_t x = 88172645463325252ull;

    /* buckets are monotonic and each value lies in its bucket */
    for (i = 0; i < 200000; i++) {
        uint64_t val = i < 1000 ? i : (uint64_t)i * i * 37;
        unsigned idx = mqb_hist_index(val);

        CHECK(idx < MQB_HIST_BUCKETS);
        CHECK(idx >= last);
        last = idx;
        if (idx + 1 < MQB_HIST_BUCKETS) {
            CHECK(mqb_hist_lower(idx) <= val);
            CHECK(mqb_hist_lower(idx + 1) > val);
        }
        if (failures > 10)
            return;
    }
    CHECK_EQ(mqb_hist_index(255), 255);
    CHECK_EQ(mqb_hist_index(256), 256);
    CHECK_EQ(mqb_hist_index(~0ull), MQB_HIST_BUCKETS - 1);

    /* percentiles within 0.5 % of the exact ones (log-normal-ish data) */
    mqb_hist_init(&h);
    CHECK_EQ(mqb_hist_percentile(&h, 50), 0);
    for (i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[i] = 20000 + (x % 1000) * (x % 1000) * (1 + (x >> 60));
        mqb_hist_add(&h, v[i]);
    }
    qsort(v, 100000, sizeof v[0], cmp_u64);
    for (i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        size_t rank = (size_t)(ps[i] / 100.0 * 100000 + 0.999999);
        uint64_t exact = v[rank - 1];
        uint64_t got = mqb_hist_percentile(&h, ps[i]);
        double err = got > exact ? (double)(got - exact) : (double)(exact - got);

        CHECK(err <= exact * 0.005 + 1);
        if (err > exact * 0.005 + 1)
            printf("# p%g: exact %llu got %llu\n", ps[i],
                   (unsigned long long)exact, (unsigned long long)got);
    }
    CHECK_EQ(mqb_hist_percentile(&h, 100), v[99999]);
    CHECK_EQ(h.min, v[0]);
    CHECK_EQ(h.count, 100000);
    {
        static struct mqb_hist a, b;

        mqb_hist_init(&a);
        mqb_hist_init(&b);
        mqb_hist_add(&a, 5);
        mqb_hist_add(&b, 1000000);
        mqb_hist_merge(&a, &b);
        CHECK_EQ(a.count, 2);
        CHECK_EQ(a.min, 5);
        CHECK_EQ(a.max, 1000000);
        CHECK_EQ(mqb_hist_percentile(&a, 50), 5);
    }
}

static void
test_stream_basic(void)
{
    struct mqb_stream s;
    uint64_t i;

    /* in order: no loss, no bits */
    mqb_stream_init(&s, 1, 2);
    for (i = 0; i < 1000; i++)
        CHECK(mqb_stream_add(&s, i) == MQB_NEW);
    CHECK_EQ(mqb_stream_lost(&s, 0), 0);
    CHECK_EQ(mqb_stream_lost(&s, 1000), 0);
    CHECK_EQ(mqb_stream_lost(&s, 1003), 3); /* tail loss */
    CHECK(s.ring == NULL);
    mqb_stream_free(&s);

    /* drops at 5 and 17, duplicate of 9, 30 and 31 swapped */
    mqb_stream_init(&s, 1, 2);
    for (i = 0; i < 40; i++) {
        if (i == 5 || i == 17)
            continue;
        if (i == 30) {
            CHECK(mqb_stream_add(&s, 31) == MQB_NEW);
            CHECK(mqb_stream_add(&s, 30) == MQB_REORDERED);
            i = 31;
            continue;
        }
        CHECK(mqb_stream_add(&s, i) == MQB_NEW);
        if (i == 9)
            CHECK(mqb_stream_add(&s, 9) == MQB_DUPLICATE);
    }
    CHECK_EQ(s.received, 39);
    CHECK_EQ(s.unique, 38);
    CHECK_EQ(s.duplicates, 1);
    CHECK_EQ(s.reordered, 1);
    CHECK_EQ(mqb_stream_lost(&s, 0), 2);
    CHECK_EQ(mqb_stream_lost(&s, 40), 2);
    /* a late arrival fills a gap: it is reordered, not lost */
    CHECK(mqb_stream_add(&s, 17) == MQB_REORDERED);
    CHECK_EQ(mqb_stream_lost(&s, 40), 1);
    CHECK(mqb_stream_add(&s, 17) == MQB_DUPLICATE);
    CHECK(mqb_stream_add(&s, 5) == MQB_REORDERED);
    CHECK_EQ(mqb_stream_lost(&s, 40), 0);
    CHECK_EQ(s.base, 40); /* everything contiguous again */
    CHECK(mqb_stream_add(&s, 0) == MQB_DUPLICATE);
    mqb_stream_free(&s);
}

static void
test_stream_window(void)
{
    struct mqb_stream s;
    uint64_t i, n = 5 * (uint64_t)MQB_TRACK_MAX_WINDOW + 123;

    /* one hole at 10, then far more than the window: it is given up as
     * lost and the ring stays bounded */
    mqb_stream_init(&s, 1, 1);
    for (i = 0; i < n; i++)
        if (i != 10)
            mqb_stream_add(&s, i);
    CHECK_EQ(mqb_stream_lost(&s, 0), 1);
    CHECK_EQ(s.given_up, 1);
    CHECK_EQ(s.duplicates, 0);
    CHECK(s.nwords <= MQB_TRACK_MAX_WINDOW / 64);
    CHECK_EQ(s.base, n);
    mqb_stream_free(&s);

    /* a huge jump: everything skipped is lost */
    mqb_stream_init(&s, 1, 1);
    mqb_stream_add(&s, 0);
    mqb_stream_add(&s, 2);
    mqb_stream_add(&s, 1000000000ull);
    CHECK_EQ(mqb_stream_lost(&s, 0), 1000000001ull - 3);
    CHECK_EQ(s.unique, 3);
    mqb_stream_add(&s, 1000000001ull);
    CHECK_EQ(s.unique, 4);
    mqb_stream_free(&s);

    /* every other message lost, in order otherwise */
    mqb_stream_init(&s, 1, 1);
    for (i = 0; i < 3 * (uint64_t)MQB_TRACK_MAX_WINDOW; i += 2)
        CHECK(mqb_stream_add(&s, i) == MQB_NEW);
    CHECK_EQ(mqb_stream_lost(&s, 3 * (uint64_t)MQB_TRACK_MAX_WINDOW),
             3 * (uint64_t)MQB_TRACK_MAX_WINDOW / 2);
    CHECK_EQ(s.reordered, 0);
    mqb_stream_free(&s);

    /* reverse order inside the window: all reordered but one, no loss */
    mqb_stream_init(&s, 1, 1);
    for (i = 1000; i-- > 0;)
        mqb_stream_add(&s, i);
    CHECK_EQ(s.reordered, 999);
    CHECK_EQ(mqb_stream_lost(&s, 1000), 0);
    CHECK_EQ(s.base, 1000);
    /* continue in order after a gap was closed: fast path again */
    for (i = 1000; i < 5000; i++)
        CHECK(mqb_stream_add(&s, i) == MQB_NEW);
    CHECK(mqb_stream_add(&s, 5001) == MQB_NEW);
    CHECK(mqb_stream_add(&s, 5000) == MQB_REORDERED);
    CHECK_EQ(mqb_stream_lost(&s, 0), 0);
    mqb_stream_free(&s);
}

static void
test_streams_table(void)
{
    struct mqb_streams t;
    uint32_t i;

    mqb_streams_init(&t);
    CHECK(mqb_streams_find(&t, 1, 1) == NULL);
    for (i = 0; i < 5000; i++) {
        struct mqb_stream *s = mqb_streams_get(&t, i % 7, i);

        CHECK(s != NULL && s->pub_idx == i);
        mqb_stream_add(s, 0);
    }
    CHECK_EQ(t.count, 5000);
    for (i = 0; i < 5000; i++) {
        struct mqb_stream *s = mqb_streams_find(&t, i % 7, i);

        CHECK(s != NULL && s->received == 1);
    }
    CHECK(mqb_streams_find(&t, 8, 1) == NULL);
    CHECK(mqb_streams_get(&t, 1, 1) == mqb_streams_find(&t, 1, 1));
    mqb_streams_free(&t);
}

int
main(void)
{
    printf("1..5\n");
#define RUN(n, fn)                                                          \
    do {                                                                    \
        int before = failures;                                              \
        fn();                                                               \
        printf("%s %d - %s\n", failures == before ? "ok" : "not ok", n,     \
               #fn);                                                        \
    } while (0)
    RUN(1, test_header);
    RUN(2, test_hist);
    RUN(3, test_stream_basic);
    RUN(4, test_stream_window);
    RUN(5, test_streams_table);
    printf("# %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
