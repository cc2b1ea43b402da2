/*
 * pool.h - process-wide recycling of heap blocks (pool.c).
 *
 * Threading: any thread.
 */
#ifndef MQI_POOL_H
#define MQI_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Large blocks (>= MQI_BIG_MIN) are recycled process-wide instead
 * of going back to the kernel; all are plain malloc() blocks. @p hint is
 * the size the caller asked for (smaller ones are simply freed). */
#define MQI_BIG_MIN ((size_t)64 * 1024)
void *mqi_big_alloc(size_t n);
void mqi_big_free(void *p, size_t hint);
void mqi_big_trim(int64_t now_ms, bool all); /* idle blocks, or all */
/* Any block that may be freed on another thread: small ones come from
 * size classes (128 B, 256 B, 1 KiB) recycled across threads without locks,
 * large ones from the cache above. *cls gets the class (0: none); give
 * the block back with its class and the size asked for. */
#define MQI_SMALL_CLASSES 3
void *mqi_block_alloc(size_t n, int *cls);
void mqi_block_free(void *p, int cls, size_t size);

#endif
