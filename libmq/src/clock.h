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

/* A condition variable made by its first waiter, so the many clients
 * nothing ever waits on carry a pointer instead of one (issue 20 item 3).
 * With @p mu held: wait on *cv (made now, on the monotonic clock, when
 * NULL) until a wake or @p until (NULL: no limit); 0, or ETIMEDOUT once
 * @p until has passed. Without memory for it, nap 5 ms with @p mu
 * released instead and return 0: slower to wake, never stuck. Wakes may
 * be spurious: callers re-check what they wait for. Wakers hold @p mu
 * and skip a NULL *cv (nobody sleeps on it); mqi_cond_lazy_free at the
 * end. */
int mqi_cond_lazy_wait(pthread_cond_t **cv, pthread_mutex_t *mu,
                       const struct timespec *until);
void mqi_cond_lazy_free(pthread_cond_t **cv);

#endif
