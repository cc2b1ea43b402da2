/*
 * mqbench_stats.c - payload header, latency histogram and sequence tracker
 * of mqbench (see mqbench_stats.h). Pure logic: no I/O, no clocks.
 *
 * Threading: none; callers keep each object on one thread.
 */
#include "mqbench_stats.h"

#include <stdlib.h>
#include <string.h>

/* ---- payload header ---------------------------------------------------- */

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void
put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void
mqb_hdr_put(uint8_t *buf, const struct mqb_hdr *h)
{
    buf[0] = 'M';
    buf[1] = 'Q';
    buf[2] = 'B';
    buf[3] = 1;
    put32(buf + 4, h->run_id);
    put32(buf + 8, h->pub_idx);
    put32(buf + 12, h->planned);
    put64(buf + 16, h->seq);
    put64(buf + 24, h->sent_ns);
}

int
mqb_hdr_get(const uint8_t *buf, size_t len, struct mqb_hdr *out)
{
    if (buf == NULL || len < MQB_HDR_SIZE || buf[0] != 'M' || buf[1] != 'Q' ||
        buf[2] != 'B' || buf[3] != 1)
        return -1;
    out->run_id = get32(buf + 4);
    out->pub_idx = get32(buf + 8);
    out->planned = get32(buf + 12);
    out->seq = get64(buf + 16);
    out->sent_ns = get64(buf + 24);
    return 0;
}

/* ---- latency histogram ------------------------------------------------- */

#define SUB (1u << MQB_HIST_SUB_BITS)   /* buckets per power of two */
#define LINEAR (2u * SUB)               /* exact values below this */

unsigned
mqb_hist_index(uint64_t v)
{
    unsigned e, idx;

    if (v < LINEAR)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS + 1 */
    if (e >= MQB_HIST_MAX_EXP)
        return MQB_HIST_BUCKETS - 1;
    idx = LINEAR + (e - MQB_HIST_SUB_BITS - 1) * SUB +
          (unsigned)(v >> (e - MQB_HIST_SUB_BITS)) - SUB;
    return idx;
}

uint64_t
mqb_hist_lower(unsigned idx)
{
    unsigned k, e;

    if (idx < LINEAR)
        return idx;
    k = idx - LINEAR;
    e = MQB_HIST_SUB_BITS + 1 + k / SUB;
    return (uint64_t)(SUB + k % SUB) << (e - MQB_HIST_SUB_BITS);
}

/* Width of a bucket (1 in the exact range). */
static uint64_t
bucket_width(unsigned idx)
{
    if (idx < LINEAR)
        return 1;
    return (uint64_t)1 << ((idx - LINEAR) / SUB + 1);
}

void
mqb_hist_init(struct mqb_hist *h)
{
    memset(h, 0, sizeof *h);
}

void
mqb_hist_add(struct mqb_hist *h, uint64_t v)
{
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += (double)v;
    h->bucket[mqb_hist_index(v)]++;
}

void
mqb_hist_merge(struct mqb_hist *dst, const struct mqb_hist *src)
{
    unsigned i;

    if (src->count == 0)
        return;
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
    for (i = 0; i < MQB_HIST_BUCKETS; i++)
        dst->bucket[i] += src->bucket[i];
}

uint64_t
mqb_hist_percentile(const struct mqb_hist *h, double p)
{
    uint64_t rank, seen = 0, v;
    unsigned i;

    if (h->count == 0)
        return 0;
    if (p >= 100.0)
        return h->max;
    rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
    if (rank == 0)
        rank = 1;
    for (i = 0; i < MQB_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank)
            break;
    }
    if (i == MQB_HIST_BUCKETS)
        return h->max;
    v = mqb_hist_lower(i) + bucket_width(i) / 2;
    if (v < h->min)
        v = h->min;
    if (v > h->max)
        v = h->max;
    return v;
}

/* ---- sequence tracker -------------------------------------------------- */

void
mqb_stream_init(struct mqb_stream *s, uint32_t run_id, uint32_t pub_idx)
{
    memset(s, 0, sizeof *s);
    s->run_id = run_id;
    s->pub_idx = pub_idx;
}

void
mqb_stream_free(struct mqb_stream *s)
{
    free(s->ring);
    s->ring = NULL;
    s->nwords = 0;
}

static uint64_t *
word_of(struct mqb_stream *s, uint64_t seq)
{
    uint64_t w = seq / 64 - s->wbase;

    return &s->ring[(s->head + w) & (s->nwords - 1)];
}

/* Move the window start to word @p nw (> wbase), clearing the words that
 * leave. */
static void
ring_move(struct mqb_stream *s, uint64_t nw)
{
    if (nw - s->wbase >= s->nwords) {
        memset(s->ring, 0, sizeof(uint64_t) * s->nwords);
        s->head = 0;
    } else {
        while (s->wbase < nw) {
            s->ring[s->head] = 0;
            s->head = (s->head + 1) & (s->nwords - 1);
            s->wbase++;
        }
    }
    s->wbase = nw;
}

/* Grow the ring to at least @p words words (a power of two). */
static int
ring_grow(struct mqb_stream *s, uint32_t words)
{
    uint32_t n = s->nwords ? s->nwords : 4, i;
    uint64_t *r;

    while (n < words)
        n *= 2;
    r = calloc(n, sizeof *r);
    if (r == NULL)
        return -1;
    for (i = 0; i < s->nwords; i++)
        r[i] = s->ring[(s->head + i) & (s->nwords - 1)];
    free(s->ring);
    s->ring = r;
    s->head = 0;
    s->nwords = n;
    return 0;
}

/* Set bits counted in [lo, hi) (both inside the window). */
static uint64_t
count_set(struct mqb_stream *s, uint64_t lo, uint64_t hi)
{
    uint64_t n = 0;

    while (lo < hi) {
        uint64_t wend = (lo / 64 + 1) * 64;
        uint64_t end = wend < hi ? wend : hi;
        uint64_t w = *word_of(s, lo);
        unsigned a = (unsigned)(lo % 64), b = (unsigned)(end - lo);
        uint64_t mask = b == 64 ? ~0ull : ((1ull << b) - 1) << a;

        n += (uint64_t)__builtin_popcountll(w & mask);
        lo = end;
    }
    return n;
}

/* Make the window cover @p seq (>= next), giving up the oldest numbers when
 * it would pass MQB_TRACK_MAX_WINDOW. */
static int
ring_cover(struct mqb_stream *s, uint64_t seq)
{
    const uint32_t maxw = MQB_TRACK_MAX_WINDOW / 64;
    uint64_t need;

    if (s->nwords == 0) {
        if (ring_grow(s, 4) != 0)
            return -1;
        s->wbase = s->base / 64;
    } else if (s->base / 64 > s->wbase) {
        ring_move(s, s->base / 64); /* the fast path moved on */
    }
    need = seq / 64 - s->wbase + 1;
    if (need <= s->nwords)
        return 0;
    if (need <= maxw)
        return ring_grow(s, (uint32_t)need);
    if (s->nwords < maxw && ring_grow(s, maxw) != 0)
        return -1;
    {
        /* give up [base, newbase): what was not seen there is lost */
        uint64_t nw = seq / 64 - maxw + 1;
        uint64_t newbase = nw * 64;
        uint64_t top = s->wbase * 64 + (uint64_t)s->nwords * 64;
        uint64_t hi = newbase < top ? newbase : top;
        uint64_t set = s->base < hi ? count_set(s, s->base, hi) : 0;

        s->given_up += newbase - s->base - set;
        ring_move(s, nw);
        s->base = newbase;
        /* numbers at and above the new base that were seen stay counted */
        while (s->base < s->next && (*word_of(s, s->base) >>
                                     (s->base % 64) & 1))
            s->base++;
    }
    return 0;
}

int
mqb_stream_add(struct mqb_stream *s, uint64_t seq)
{
    uint64_t *w;
    int r;

    s->received++;
    if (seq < s->base) {
        s->duplicates++;
        return MQB_DUPLICATE;
    }
    if (seq == s->base && s->base == s->next) { /* in order: no bits */
        s->base++;
        s->next++;
        s->unique++;
        return MQB_NEW;
    }
    if (seq >= s->next) {
        if (ring_cover(s, seq) != 0) {
            s->unique++;
            s->next = seq + 1;
            return -1;
        }
        r = MQB_NEW;
        s->next = seq + 1;
    } else {
        if (s->nwords == 0) /* cannot happen: a gap has bits */
            return -1;
        if (*word_of(s, seq) >> (seq % 64) & 1) {
            s->duplicates++;
            return MQB_DUPLICATE;
        }
        r = MQB_REORDERED;
        s->reordered++;
    }
    w = word_of(s, seq);
    *w |= 1ull << (seq % 64);
    s->unique++;
    /* move base over what is now contiguous */
    while (s->base < s->next && (*word_of(s, s->base) >> (s->base % 64) & 1)) {
        s->base++;
        if (s->base % 64 == 0 && s->base / 64 - s->wbase < s->nwords &&
            s->base < s->next)
            ring_move(s, s->base / 64);
    }
    return r;
}

uint64_t
mqb_stream_lost(const struct mqb_stream *s, uint64_t expected)
{
    if (expected > 0)
        return expected > s->unique ? expected - s->unique : 0;
    return s->next > s->unique ? s->next - s->unique : 0;
}

/* ---- streams of a receiver -------------------------------------------- */

static size_t
key_hash(uint32_t run_id, uint32_t pub_idx)
{
    uint64_t k = (uint64_t)run_id << 32 | pub_idx;

    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k;
}

void
mqb_streams_init(struct mqb_streams *t)
{
    memset(t, 0, sizeof *t);
}

void
mqb_streams_free(struct mqb_streams *t)
{
    size_t i;

    for (i = 0; i < t->cap; i++) {
        if (t->slot[i] != NULL) {
            mqb_stream_free(t->slot[i]);
            free(t->slot[i]);
        }
    }
    free(t->slot);
    memset(t, 0, sizeof *t);
}

struct mqb_stream *
mqb_streams_find(const struct mqb_streams *t, uint32_t run_id,
                 uint32_t pub_idx)
{
    size_t i;

    if (t->cap == 0)
        return NULL;
    for (i = key_hash(run_id, pub_idx) & (t->cap - 1); t->slot[i] != NULL;
         i = (i + 1) & (t->cap - 1)) {
        if (t->slot[i]->run_id == run_id && t->slot[i]->pub_idx == pub_idx)
            return t->slot[i];
    }
    return NULL;
}

static int
streams_grow(struct mqb_streams *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 8, i, j;
    struct mqb_stream **ns = calloc(ncap, sizeof *ns);

    if (ns == NULL)
        return -1;
    for (i = 0; i < t->cap; i++) {
        struct mqb_stream *s = t->slot[i];

        if (s == NULL)
            continue;
        for (j = key_hash(s->run_id, s->pub_idx) & (ncap - 1); ns[j] != NULL;
             j = (j + 1) & (ncap - 1))
            ;
        ns[j] = s;
    }
    free(t->slot);
    t->slot = ns;
    t->cap = ncap;
    return 0;
}

struct mqb_stream *
mqb_streams_get(struct mqb_streams *t, uint32_t run_id, uint32_t pub_idx)
{
    struct mqb_stream *s = mqb_streams_find(t, run_id, pub_idx);
    size_t i;

    if (s != NULL)
        return s;
    if ((t->count + 1) * 2 > t->cap && streams_grow(t) != 0)
        return NULL;
    s = malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    mqb_stream_init(s, run_id, pub_idx);
    for (i = key_hash(run_id, pub_idx) & (t->cap - 1); t->slot[i] != NULL;
         i = (i + 1) & (t->cap - 1))
        ;
    t->slot[i] = s;
    t->count++;
    return s;
}
