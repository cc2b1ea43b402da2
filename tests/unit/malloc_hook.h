/*
 * malloc_hook.h - whether a unit test may replace malloc/calloc to make
 * one allocation fail (its no-memory paths): not under ASan or TSan,
 * which bring their own allocator, so those tests run in the plain build
 * only (scripts/test.sh stage 1). Defines MQT_NO_MALLOC_HOOK when it may
 * not.
 *
 * Threading: none (preprocessor only).
 */
#ifndef MQT_MALLOC_HOOK_H
#define MQT_MALLOC_HOOK_H

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MQT_NO_MALLOC_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MQT_NO_MALLOC_HOOK 1
#endif
#endif

#endif
