/*
 * alias.c - outbound MQTT 5 topic aliases for one connection (see
 * alias.h): slots 1..max holding the topic each alias stands for; in
 * automatic mode a chained hash finds a topic's slot and a doubly linked
 * list keeps the slots in recency order (head: most recent).
 *
 * When all aliases are taken, a new topic takes the least recently used
 * one only if it was published more often lately than that one's topic
 * (frequency admission, as in TinyLFU): small saturating counters indexed
 * by two hashes of the topic, halved every 16 x max publishes. Plain LRU
 * re-maps on every publish when the topics cycle over more than max (each
 * PUBLISH then carries its topic and 3 more bytes); with admission the
 * aliases stay with the topics that keep coming back, and a topic without
 * one is sent as if aliases were off.
 *
 * Pure: no I/O, no locks. Threading: owned by the worker thread.
 */
#include <stdlib.h>
#include <string.h>

#include "alias.h"

typedef struct slot {
    char *topic;     /* NULL: unused */
    uint32_t len;    /* topics are at most 65535 bytes */
    uint32_t hash;
    uint16_t prev, next; /* recency list (0: none) */
    uint16_t hnext;      /* hash chain (0: end) */
} slot;

struct mqi_alias_out {
    uint16_t max;
    uint16_t used;       /* automatic: slots 1..used are assigned */
    uint16_t head, tail; /* automatic: recency list */
    uint32_t nb;         /* hash buckets, a power of two */
    uint16_t *bucket;    /* automatic only: made by its first call */
    uint8_t *freq;       /* automatic: admission counters */
    uint32_t nf;         /* how many, a power of two */
    uint32_t ops;        /* publishes since the counters were halved */
    slot s[];            /* s[1..max]; s[0] unused */
};

static uint32_t
hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    while (n--)
        h = (h ^ (uint8_t)*p++) * 16777619u;
    return h;
}

mqi_alias_out *
mqi_alias_out_new(uint16_t max)
{
    mqi_alias_out *t;
    uint32_t nb = 4;

    if (max == 0)
        return NULL;
    while (nb < 2u * max)
        nb <<= 1;
    t = calloc(1, sizeof *t + ((size_t)max + 1) * sizeof(slot));
    if (t == NULL)
        return NULL;
    t->max = max;
    t->nb = nb;
    t->nf = 4 * nb < 256 ? 256 : 4 * nb;
    return t;
}

void
mqi_alias_out_free(mqi_alias_out *t)
{
    uint32_t i;

    if (t == NULL)
        return;
    for (i = 1; i <= t->max; i++)
        free(t->s[i].topic);
    free(t->bucket);
    free(t->freq);
    free(t);
}

uint16_t
mqi_alias_out_max(const mqi_alias_out *t)
{
    return t ? t->max : 0;
}

static bool
same(const slot *s, const char *topic, size_t len)
{
    return s->topic != NULL && s->len == len &&
           memcmp(s->topic, topic, len) == 0;
}

/* ---- recency list ----------------------------------------------------- */

static void
unlink_slot(mqi_alias_out *t, uint16_t n)
{
    slot *s = &t->s[n];

    if (s->prev)
        t->s[s->prev].next = s->next;
    else if (t->head == n)
        t->head = s->next;
    if (s->next)
        t->s[s->next].prev = s->prev;
    else if (t->tail == n)
        t->tail = s->prev;
    s->prev = s->next = 0;
}

static void
push_front(mqi_alias_out *t, uint16_t n)
{
    slot *s = &t->s[n];

    s->prev = 0;
    s->next = t->head;
    if (t->head)
        t->s[t->head].prev = n;
    t->head = n;
    if (t->tail == 0)
        t->tail = n;
}

/* ---- hash ------------------------------------------------------------- */

static void
hash_remove(mqi_alias_out *t, uint16_t n)
{
    uint16_t *pp = &t->bucket[t->s[n].hash & (t->nb - 1)];

    while (*pp != 0 && *pp != n)
        pp = &t->s[*pp].hnext;
    if (*pp == n)
        *pp = t->s[n].hnext;
    t->s[n].hnext = 0;
}

static void
hash_insert(mqi_alias_out *t, uint16_t n)
{
    uint16_t *b = &t->bucket[t->s[n].hash & (t->nb - 1)];

    t->s[n].hnext = *b;
    *b = n;
}

/* ---- admission --------------------------------------------------------- */

static uint32_t
fpos(const mqi_alias_out *t, uint32_t h, int k)
{
    /* a second index from the high bits, odd-multiplied */
    return (k ? (h >> 16 | h << 16) * 0x9E3779B1u : h) & (t->nf - 1);
}

/* How often @p h was published lately (the smaller of its counters). */
static uint8_t
freq_of(const mqi_alias_out *t, uint32_t h)
{
    uint8_t a = t->freq[fpos(t, h, 0)], b = t->freq[fpos(t, h, 1)];

    return a < b ? a : b;
}

static void
freq_count(mqi_alias_out *t, uint32_t h)
{
    for (int k = 0; k < 2; k++)
        if (t->freq[fpos(t, h, k)] < 255)
            t->freq[fpos(t, h, k)]++;
    if (++t->ops >= 16u * t->max + 64u) {
        for (uint32_t i = 0; i < t->nf; i++)
            t->freq[i] >>= 1; /* old publishes count for less */
        t->ops = 0;
    }
}

/* ---- the two modes ---------------------------------------------------- */

static bool
set_topic(slot *s, const char *topic, size_t len)
{
    char *d = malloc(len + 1);

    if (d == NULL)
        return false;
    memcpy(d, topic, len);
    d[len] = '\0';
    free(s->topic);
    s->topic = d;
    s->len = (uint32_t)len;
    return true;
}

uint16_t
mqi_alias_auto(mqi_alias_out *t, const char *topic, size_t len, bool may_add,
               bool *omit)
{
    uint32_t h = hash(topic, len);
    uint16_t n;

    *omit = false;
    if (t->bucket == NULL) {
        t->bucket = calloc(t->nb, sizeof *t->bucket);
        t->freq = calloc(t->nf, 1);
        if (t->bucket == NULL || t->freq == NULL) {
            free(t->bucket);
            free(t->freq);
            t->bucket = NULL;
            t->freq = NULL;
            return 0;
        }
    }
    freq_count(t, h);
    for (n = t->bucket[h & (t->nb - 1)]; n != 0; n = t->s[n].hnext)
        if (t->s[n].hash == h && same(&t->s[n], topic, len)) {
            unlink_slot(t, n);
            push_front(t, n);
            *omit = true;
            return n;
        }
    if (!may_add)
        return 0;
    if (t->used < t->max) {
        n = (uint16_t)(t->used + 1);
        if (!set_topic(&t->s[n], topic, len))
            return 0;
        t->used = n;
    } else {
        n = t->tail; /* least recently used: re-mapped if this topic is
                        the more frequent one */
        if (freq_of(t, h) <= freq_of(t, t->s[n].hash))
            return 0;
        if (!set_topic(&t->s[n], topic, len))
            return 0;
        hash_remove(t, n);
        unlink_slot(t, n);
    }
    t->s[n].hash = h;
    hash_insert(t, n);
    push_front(t, n);
    return n;
}

bool
mqi_alias_stands_for(const mqi_alias_out *t, uint16_t n, const char *topic,
                     size_t len)
{
    return n != 0 && n <= t->max && same(&t->s[n], topic, len);
}

void
mqi_alias_map(mqi_alias_out *t, uint16_t n, const char *topic, size_t len)
{
    if (n == 0 || n > t->max)
        return;
    if (!set_topic(&t->s[n], topic, len)) {
        free(t->s[n].topic); /* the broker's mapping changed anyway */
        t->s[n].topic = NULL;
    }
}
