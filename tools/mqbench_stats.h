/*
 * mqbench_stats.h - the measuring parts of mqbench, without I/O: the
 * header mqbench puts at the start of every payload (magic, run id,
 * publisher index, planned count, sequence number, send time), a
 * log-linear latency histogram that costs O(1) per sample, and a per-stream
 * sequence tracker that counts losses, duplicates and reordering.
 *
 * Threading: none inside; each object belongs to one thread at a time.
 */
#ifndef MQBENCH_STATS_H
#define MQBENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/* ---- payload header ---------------------------------------------------- */

/* Little-endian, at offset 0 of every payload mqbench publishes:
 *   0  "MQB" + version byte (1)
 *   4  u32 run id (random per publishing process)
 *   8  u32 publisher index
 *  12  u32 messages this publisher plans to send (0: no limit / unknown)
 *  16  u64 sequence number, from 0, per publisher
 *  24  u64 send time, CLOCK_REALTIME nanoseconds
 * The rest of the payload (up to -s bytes) is filler. */
#define MQB_HDR_SIZE 32

struct mqb_hdr {
    uint32_t run_id;
    uint32_t pub_idx;
    uint32_t planned;
    uint64_t seq;
    uint64_t sent_ns;
};

/** Write the header into @p buf (at least MQB_HDR_SIZE bytes). */
void mqb_hdr_put(uint8_t *buf, const struct mqb_hdr *h);
/** Read a header; 0 if @p buf holds one, -1 if not an mqbench payload. */
int mqb_hdr_get(const uint8_t *buf, size_t len, struct mqb_hdr *out);

/* ---- latency histogram ------------------------------------------------- */

/* Values in nanoseconds. Exact below 256 ns; above, 128 buckets per power
 * of two (relative error under 0.4 %), up to 2^40 ns (about 18 minutes);
 * larger values land in the last bucket (the exact maximum is kept). */
#define MQB_HIST_SUB_BITS 7
#define MQB_HIST_MAX_EXP 40
#define MQB_HIST_BUCKETS                                                   \
    ((1u << (MQB_HIST_SUB_BITS + 1)) +                                     \
     (MQB_HIST_MAX_EXP - MQB_HIST_SUB_BITS - 1) * (1u << MQB_HIST_SUB_BITS))

struct mqb_hist {
    uint64_t count;
    uint64_t min, max;
    double sum;
    uint64_t bucket[MQB_HIST_BUCKETS];
};

void mqb_hist_init(struct mqb_hist *h);
/** Add one sample. O(1). */
void mqb_hist_add(struct mqb_hist *h, uint64_t v);
/** Add every sample of @p src to @p dst. */
void mqb_hist_merge(struct mqb_hist *dst, const struct mqb_hist *src);
/** The value at percentile @p p (0 < p <= 100): the middle of the bucket
 *  holding that rank, clamped to [min, max]; 0 when empty. */
uint64_t mqb_hist_percentile(const struct mqb_hist *h, double p);
/** Bucket index of a value (exposed for tests). */
unsigned mqb_hist_index(uint64_t v);
/** Smallest value of a bucket (exposed for tests). */
uint64_t mqb_hist_lower(unsigned idx);

/* ---- sequence tracker -------------------------------------------------- */

/* One stream = the messages of one publisher as seen by one receiver.
 * Everything below 'base' has been seen (or was given up as lost, see
 * MQB_TRACK_MAX_WINDOW); seen numbers in [base, next) are bits in a ring
 * that grows on demand. In-order delivery touches no bits. */
#define MQB_TRACK_MAX_WINDOW (1u << 16) /* sequence numbers, a power of 2 */

struct mqb_stream {
    uint32_t run_id, pub_idx;
    uint32_t planned;          /* from the header; 0 = unknown */
    uint64_t base, next;       /* lowest not seen; 1 + highest seen */
    uint64_t received;         /* all arrivals */
    uint64_t unique;           /* distinct sequence numbers */
    uint64_t duplicates;
    uint64_t reordered;        /* arrived after a higher number */
    uint64_t given_up;         /* gaps older than the window */
    uint64_t *ring;            /* bits of [wbase*64, wbase*64 + 64*nwords) */
    uint64_t wbase;
    uint32_t head, nwords;     /* nwords: 0 or a power of two */
};

/** What one arrival was. */
enum mqb_arrival { MQB_NEW = 0, MQB_REORDERED = 1, MQB_DUPLICATE = 2 };

void mqb_stream_init(struct mqb_stream *s, uint32_t run_id,
                     uint32_t pub_idx);
void mqb_stream_free(struct mqb_stream *s);
/** Record sequence number @p seq; returns what it was, or -1 when out of
 *  memory (the arrival is then counted as new, without its bit). */
int mqb_stream_add(struct mqb_stream *s, uint64_t seq);
/** Messages lost: @p expected - unique when the sender's count is known
 *  (expected > 0), else the gaps below the highest number seen. */
uint64_t mqb_stream_lost(const struct mqb_stream *s, uint64_t expected);

/* A receiver's streams, found by (run id, publisher index): an
 * open-addressing hash table. */
struct mqb_streams {
    struct mqb_stream **slot;
    size_t cap, count;
};

void mqb_streams_init(struct mqb_streams *t);
void mqb_streams_free(struct mqb_streams *t);
/** The stream for (run, pub), created when new; NULL when out of memory. */
struct mqb_stream *mqb_streams_get(struct mqb_streams *t, uint32_t run_id,
                                   uint32_t pub_idx);
/** The stream for (run, pub) or NULL (never creates). */
struct mqb_stream *mqb_streams_find(const struct mqb_streams *t,
                                    uint32_t run_id, uint32_t pub_idx);

#endif /* MQBENCH_STATS_H */
