/*
 * backoff.c - reconnect delays with jitter from a private generator (see
 * backoff.h). Pure: no clock, no global state.
 *
 * Threading: none.
 */
#include "backoff.h"

void
mqi_rng_seed(mqi_rng *r, uint64_t seed)
{
    r->s = seed;
}

uint32_t
mqi_rng_next(mqi_rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

unsigned
mqi_backoff_after_up(unsigned attempt, int64_t up_ms, int keepalive_s)
{
    int64_t stable = MQI_BACKOFF_STABLE_MS;

    if (keepalive_s > 0 && (int64_t)keepalive_s * 1000 < stable)
        stable = (int64_t)keepalive_s * 1000;
    return up_ms >= stable ? 0 : attempt;
}

int
mqi_backoff_delay_ms(int min_ms, int max_ms, unsigned attempt, mqi_rng *r)
{
    int64_t d = min_ms;
    unsigned i;

    for (i = 1; i < attempt && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    /* full range jitter in [d/2, d] */
    if (d > 1)
        d = d / 2 + (int64_t)(mqi_rng_next(r) % (uint32_t)(d / 2 + 1));
    return (int)d;
}
