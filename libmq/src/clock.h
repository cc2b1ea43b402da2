/*
 * clock.h - the one place libmq reads time: the monotonic clock in
 * milliseconds, and the helpers that make condition variables wait on that
 * same clock. The pure modules (session.c, backoff.c) never read it: the
 * worker reads it once per round and passes `now` in, so their tests choose
 * the time.
 *
 * Threading: any thread.
 */
#ifndef MQI_CLOCK_H
#define MQI_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (arbitrary origin, never goes back). */
int64_t mqi_now_ms(void);

/* A condition variable timed on CLOCK_MONOTONIC, and a deadline @p ms
 * from now on that clock for pthread_cond_timedwait. */
void mqi_cond_init_mono(pthread_cond_t *cv);
void mqi_deadline_after(struct timespec *ts, int ms);

#endif
