/*
 * fuzz_common.h - small helpers shared by the libFuzzer targets: a CHECK
 * that reports and traps (libFuzzer then saves the crashing input).
 *
 * Threading: none (libFuzzer calls the target from one thread).
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdio.h>

#define FCHECK(cond)                                                      \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,    \
                    __LINE__, #cond);                                     \
            __builtin_trap();                                             \
        }                                                                 \
    } while (0)

#endif
