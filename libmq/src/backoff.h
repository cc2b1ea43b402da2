/*
 * backoff.h - how long to wait before the next connect attempt: exponential
 * backoff with jitter, drawn from a private generator (the library never
 * calls srand()/rand(), which belong to the application).
 *
 * Threading: none; an mqi_rng belongs to one client (worker thread).
 */
#ifndef MQI_BACKOFF_H
#define MQI_BACKOFF_H

#include <stdint.h>

/* A small pseudo-random generator (SplitMix64): not for secrets, only to
 * spread reconnects of many clients over time. */
typedef struct mqi_rng {
    uint64_t s;
} mqi_rng;

/* Seed from anything that differs between clients and processes; two
 * generators with the same seed give the same sequence (tests). */
void mqi_rng_seed(mqi_rng *r, uint64_t seed);
uint32_t mqi_rng_next(mqi_rng *r);

/* The delay before attempt number @p attempt (1 = first retry after a
 * failure): min_ms doubled per attempt up to max_ms, then a uniform draw
 * in [d/2, d] (never below 1 ms of jitter range; d <= 1 is returned as
 * is). */
int mqi_backoff_delay_ms(int min_ms, int max_ms, unsigned attempt,
                         mqi_rng *r);

/* A connection must stay up this long (or one keepalive interval, when
 * that is shorter) before its loss starts the backoff afresh. */
#define MQI_BACKOFF_STABLE_MS 10000

/* The failed-attempt count to continue from when a connection that was
 * up for @p up_ms (from its CONNACK) is lost, with @p keepalive_s the
 * connection's keepalive (0 none): 0 (start again at the minimum delay)
 * when it stayed up long enough, else @p attempt (the count before that
 * CONNACK), so a broker that accepts and then closes at once (refusing
 * the session later, crashing on each connect) is not hammered at the
 * minimum delay forever. */
unsigned mqi_backoff_after_up(unsigned attempt, int64_t up_ms,
                              int keepalive_s);

#endif
