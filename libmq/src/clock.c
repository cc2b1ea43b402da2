/*
 * clock.c - the monotonic clock (see clock.h).
 *
 * Threading: any thread, no state.
 */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"

int64_t
mqi_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
mqi_cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

void
mqi_deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int
mqi_cond_lazy_wait(pthread_cond_t **cv, pthread_mutex_t *mu,
                   const struct timespec *until)
{
    struct timespec now, nap = {0, 5 * 1000000L};

    if (*cv == NULL && (*cv = malloc(sizeof **cv)) != NULL)
        mqi_cond_init_mono(*cv);
    if (*cv != NULL) {
        if (until == NULL)
            return pthread_cond_wait(*cv, mu) == ETIMEDOUT ? ETIMEDOUT : 0;
        return pthread_cond_timedwait(*cv, mu, until) == ETIMEDOUT
                   ? ETIMEDOUT : 0;
    }
    if (until != NULL) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > until->tv_sec ||
            (now.tv_sec == until->tv_sec && now.tv_nsec >= until->tv_nsec))
            return ETIMEDOUT;
    }
    pthread_mutex_unlock(mu);
    nanosleep(&nap, NULL);
    pthread_mutex_lock(mu);
    return 0;
}

void
mqi_cond_lazy_free(pthread_cond_t **cv)
{
    if (*cv != NULL) {
        pthread_cond_destroy(*cv);
        free(*cv);
        *cv = NULL;
    }
}
