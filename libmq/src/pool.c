/*
 * pool.c - process-wide recycling of heap blocks: a cache of large blocks
 * (below) and lock-free size classes for small ones (further down).
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
 * Threading: any thread; one mutex, taken only for large blocks; the
 * small classes use atomics only.
 */
#include "pool.h"

#include "clock.h"

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

static void small_trim_all(void);

void
mqi_big_trim(int64_t now, bool all)
{
    void *drop[MQI_POOL_SLOTS];
    int k, i;

    if (all)
        small_trim_all();
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

/* ---- small blocks ------------------------------------------------------
 *
 * mqi_block_alloc() is the one entry for both parts: a size class when one
 * fits, else the large-block cache (or plain malloc below MQI_BIG_MIN).
 *
 * Every publish allocates its message on the application's thread and the
 * worker frees it, so glibc's per-thread caches never recycle it: each
 * malloc and free goes to the arena under its lock, and the two threads
 * contend for it (futex waits on the publish path). Messages that fit a
 * size class come from here instead:
 *
 * - freeing pushes the block on the class's global stack (lock-free CAS;
 *   a push cannot suffer ABA);
 * - allocating pops from the thread's own list, and when that is empty
 *   takes the whole global stack at once with one atomic exchange (no
 *   per-block pop, hence no ABA either).
 *
 * Bounded: a push beyond MQI_SMALL_LIMIT blocks frees instead. A thread's
 * list goes back to the stack when the thread exits. Not used under
 * AddressSanitizer, so that it still sees every use after free.
 */
#if defined(__SANITIZE_ADDRESS__)
#define MQI_SMALL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MQI_SMALL_OFF 1
#endif
#endif

#define MQI_SMALL_LIMIT 4096

typedef struct small_blk {
    struct small_blk *next;
} small_blk;

/* 128: the common events (struct mq_event with little or no inline
 * storage; issue 20 item 3: a connect burst leaves its events' blocks as
 * holes in the arena, half the size now); 256: small publishes and
 * events with a topic; 1 KiB: the rest of the small messages. */
static const size_t g_class_size[MQI_SMALL_CLASSES + 1] = {0, 128, 256,
                                                           1024};
static _Atomic(small_blk *) g_small[MQI_SMALL_CLASSES + 1];
static atomic_size_t g_small_n[MQI_SMALL_CLASSES + 1];
static _Thread_local small_blk *tl_small[MQI_SMALL_CLASSES + 1];
static _Thread_local bool tl_registered;
static pthread_key_t g_small_key;
static pthread_once_t g_small_once = PTHREAD_ONCE_INIT;

static void
small_push(int cls, small_blk *b)
{
    small_blk *h;

    if (atomic_fetch_add(&g_small_n[cls], 1) >= MQI_SMALL_LIMIT) {
        atomic_fetch_sub(&g_small_n[cls], 1);
        free(b);
        return;
    }
    h = atomic_load_explicit(&g_small[cls], memory_order_relaxed);
    do
        b->next = h;
    while (!atomic_compare_exchange_weak_explicit(
        &g_small[cls], &h, b, memory_order_release, memory_order_relaxed));
}

/* A thread ends: its unused blocks go back to the global stacks. */
static void
small_thread_exit(void *unused)
{
    int cls;

    (void)unused;
    for (cls = 1; cls <= MQI_SMALL_CLASSES; cls++) {
        while (tl_small[cls] != NULL) {
            small_blk *b = tl_small[cls];
            tl_small[cls] = b->next;
            small_push(cls, b);
        }
    }
}

static bool g_small_key_made;

static void
small_key_init(void)
{
    g_small_key_made = pthread_key_create(&g_small_key,
                                          small_thread_exit) == 0;
}

/* When libmq is unloaded (dlclose by a language runtime), threads that
 * outlive it must not run a destructor that is gone. */
__attribute__((destructor)) static void
small_unload(void)
{
    if (g_small_key_made)
        pthread_key_delete(g_small_key);
}

void *
mqi_block_alloc(size_t n, int *cls_out)
{
    int cls;
    small_blk *b;

    *cls_out = 0;
#ifndef MQI_SMALL_OFF
    for (cls = 1; cls <= MQI_SMALL_CLASSES; cls++) {
        if (n > g_class_size[cls])
            continue;
        b = tl_small[cls];
        if (b == NULL) {
            size_t k = 0;
            small_blk *p;
            b = atomic_exchange_explicit(&g_small[cls], NULL,
                                         memory_order_acquire);
            for (p = b; p != NULL; p = p->next)
                k++;
            if (k > 0)
                atomic_fetch_sub(&g_small_n[cls], k);
            if (b != NULL && !tl_registered) {
                /* blocks kept by this thread return when it exits */
                pthread_once(&g_small_once, small_key_init);
                (void)pthread_setspecific(g_small_key, (void *)1);
                tl_registered = true;
            }
        }
        if (b != NULL) {
            tl_small[cls] = b->next;
            *cls_out = cls;
            return b;
        }
        b = malloc(g_class_size[cls]);
        if (b != NULL)
            *cls_out = cls;
        return b;
    }
#else
    (void)cls;
    (void)b;
#endif
    return mqi_big_alloc(n); /* plain malloc below MQI_BIG_MIN */
}

void
mqi_block_free(void *p, int cls, size_t size)
{
    if (p == NULL)
        return;
    if (cls < 1 || cls > MQI_SMALL_CLASSES) {
        mqi_big_free(p, size); /* plain free below MQI_BIG_MIN */
        return;
    }
    small_push(cls, p);
}

/* Free what the global stacks hold (the last client is gone). */
static void
small_trim_all(void)
{
    int cls;

    for (cls = 1; cls <= MQI_SMALL_CLASSES; cls++) {
        small_blk *b = atomic_exchange(&g_small[cls], NULL);
        while (b != NULL) {
            small_blk *next = b->next;
            atomic_fetch_sub(&g_small_n[cls], 1);
            free(b);
            b = next;
        }
    }
}
