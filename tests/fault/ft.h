/*
 * ft.h - a minimal test harness for plain-main() fault tests: a table of
 * named cases, CHECK macros that print and exit(1). Plain main() (not
 * Criterion) so that LeakSanitizer, TSan and valgrind exit codes count:
 * meson runs one process per case ("prog CASE"), "prog" alone runs all.
 *
 * Threading: cases run on the main thread; FT_CHECK may be used from any
 * thread (it exits the process).
 */
#ifndef FT_H
#define FT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mq.h"

typedef struct {
    const char *name;
    void (*fn)(void);
} ft_case;

#define FT_CHECK(cond, ...)                                               \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__,    \
                    #cond);                                               \
            fprintf(stderr, __VA_ARGS__);                                 \
            fprintf(stderr, "\n");                                        \
            ft_on_fail();                                                 \
            exit(1);                                                      \
        }                                                                 \
    } while (0)

/* Set by the test program (e.g. to dump broker logs); may be NULL. */
extern void (*ft_fail_hook)(void);

static inline void
ft_on_fail(void)
{
    if (ft_fail_hook != NULL)
        ft_fail_hook();
}

/* Run the case named argv[1], or every case. Defined once per program by
 * FT_MAIN(cases). */
#define FT_MAIN(cases)                                                    \
    void (*ft_fail_hook)(void);                                           \
    int main(int argc, char **argv)                                       \
    {                                                                     \
        size_t i_, n_ = sizeof(cases) / sizeof(cases[0]);                 \
        int ran_ = 0;                                                     \
        setvbuf(stdout, NULL, _IONBF, 0);                                 \
        if (argc > 1 && strcmp(argv[1], "--list") == 0) {                 \
            for (i_ = 0; i_ < n_; i_++)                                   \
                printf("%s\n", cases[i_].name);                           \
            return 0;                                                     \
        }                                                                 \
        for (i_ = 0; i_ < n_; i_++) {                                     \
            if (argc > 1 && strcmp(argv[1], cases[i_].name) != 0)         \
                continue;                                                 \
            printf("== %s\n", cases[i_].name);                            \
            cases[i_].fn();                                               \
            printf("ok %s\n", cases[i_].name);                            \
            ran_++;                                                       \
        }                                                                 \
        if (ran_ == 0) {                                                  \
            fprintf(stderr, "no case named %s\n", argc > 1 ? argv[1] : "");\
            return 2;                                                     \
        }                                                                 \
        return 0;                                                         \
    }

/* ---- libmq helpers (ft_util.c) ---------------------------------------- */

long long ft_now_ms(void);
void ft_sleep_ms(int ms);
/* Wait for an event of @p kind, freeing others (they are counted in
 * *skipped_msgs if it is not NULL and they are MESSAGE events). NULL on
 * timeout. */
mq_event *ft_wait(mq_client *c, int kind, int timeout_ms);
const char *ft_event_name(int kind);
/* VmRSS / VmData of this process in KiB (from /proc/self/status). */
long ft_vm_kb(const char *field);

#endif
