/*
 * pool.c - a small process-wide cache of large heap blocks.
 *
 * Large payloads (>= MQI_BIG_MIN) cost more in page faults than in copies:
 * glibc returns a freed 1 MiB block to the kernel (munmap, or MADV_DONTNEED
 * when a thread arena shrinks), and the next message of that size faults
 * in and zeroes 256 fresh pages. The publisher's message copy, the receive
 * buffer that becomes a MESSAGE event, and their frees run on different
 * threads, so the blocks are kept here instead: a freed large block waits a
 * few seconds for the next large allocation of a similar size.
 *
 * Bounded: at most MQI_POOL_SLOTS blocks and MQI_POOL_BYTES bytes, and a
 * block unused for MQI_POOL_IDLE_MS is given back (mqi_big_trim, called
 * from the worker's timers, and on every put). Every block is an ordinary
 * malloc() block, so anything may be released with free() or with
 * mqi_big_free() alike.
 *
 * Threading: any thread; one mutex, taken only for large blocks.
 */
#include "internal.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define MQI_POOL_SLOTS 32
#define MQI_POOL_BYTES ((size_t)32 << 20)
#define MQI_POOL_IDLE_MS 2000

typedef struct pool_slot {
    void *p;
    size_t cap;
    int64_t at; /* when it was put back */
} pool_slot;

static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pool_slot g_slot[MQI_POOL_SLOTS];
static int g_pool_n;
static size_t g_pool_bytes;
static atomic_int g_pool_any; /* g_pool_n, readable without the lock */

/* Remove slot i (lock held) and return its block. */
static void *
take_slot(int i)
{
    void *p = g_slot[i].p;

    g_pool_bytes -= g_slot[i].cap;
    g_slot[i] = g_slot[--g_pool_n];
    atomic_store_explicit(&g_pool_any, g_pool_n, memory_order_relaxed);
    return p;
}

void *
mqi_big_alloc(size_t n)
{
    void *p = NULL;
    int i, best = -1;

    if (n < MQI_BIG_MIN ||
        atomic_load_explicit(&g_pool_any, memory_order_relaxed) == 0)
        return malloc(n);
    pthread_mutex_lock(&g_pool_lock);
    /* the smallest block that fits and wastes at most half of itself */
    for (i = 0; i < g_pool_n; i++) {
        size_t cap = g_slot[i].cap;
        if (cap >= n && cap / 2 <= n &&
            (best < 0 || cap < g_slot[best].cap))
            best = i;
    }
    if (best >= 0)
        p = take_slot(best);
    pthread_mutex_unlock(&g_pool_lock);
    return p != NULL ? p : malloc(n);
}

/* Free idle blocks (lock held); returns them through *out (at most n). */
static int
collect_idle(int64_t now, void **out, int n)
{
    int i = 0, k = 0;

    while (i < g_pool_n && k < n) {
        if (now - g_slot[i].at >= MQI_POOL_IDLE_MS)
            out[k++] = take_slot(i);
        else
            i++;
    }
    return k;
}

void
mqi_big_free(void *p, size_t hint)
{
    void *drop[MQI_POOL_SLOTS + 1];
    int64_t now;
    size_t cap;
    int k, i;

    if (p == NULL)
        return;
    if (hint < MQI_BIG_MIN) {
        free(p);
        return;
    }
    cap = malloc_usable_size(p);
    if (cap < MQI_BIG_MIN || cap > MQI_POOL_BYTES / 2) {
        free(p);
        return;
    }
    now = mqi_now_ms();
    pthread_mutex_lock(&g_pool_lock);
    k = collect_idle(now, drop, MQI_POOL_SLOTS);
    /* make room by dropping the oldest blocks: recent ones are warm */
    while (g_pool_n > 0 && (g_pool_n == MQI_POOL_SLOTS ||
                            g_pool_bytes + cap > MQI_POOL_BYTES)) {
        int old = 0;
        for (i = 1; i < g_pool_n; i++)
            if (g_slot[i].at < g_slot[old].at)
                old = i;
        drop[k++] = take_slot(old);
    }
    g_slot[g_pool_n].p = p;
    g_slot[g_pool_n].cap = cap;
    g_slot[g_pool_n].at = now;
    g_pool_n++;
    g_pool_bytes += cap;
    atomic_store_explicit(&g_pool_any, g_pool_n, memory_order_relaxed);
    pthread_mutex_unlock(&g_pool_lock);
    for (i = 0; i < k; i++)
        free(drop[i]);
}

void
mqi_big_trim(int64_t now, bool all)
{
    void *drop[MQI_POOL_SLOTS];
    int k, i;

    if (atomic_load_explicit(&g_pool_any, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&g_pool_lock);
    if (all) {
        k = 0;
        while (g_pool_n > 0)
            drop[k++] = take_slot(0);
    } else {
        k = collect_idle(now, drop, MQI_POOL_SLOTS);
    }
    pthread_mutex_unlock(&g_pool_lock);
    for (i = 0; i < k; i++)
        free(drop[i]);
}
