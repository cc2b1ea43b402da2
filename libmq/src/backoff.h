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

#endif
