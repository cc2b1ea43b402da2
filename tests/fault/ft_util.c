/*
 * ft_util.c - helpers of the plain-main fault tests (see ft.h).
 *
 * Threading: any thread; no shared state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ft.h"

long long
ft_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
ft_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

const char *
ft_event_name(int kind)
{
    static const char *names[] = {"NONE", "CONNECT", "DISCONNECTED",
                                  "MESSAGE", "PUBLISHED", "SUBSCRIBED",
                                  "UNSUBSCRIBED", "LOG", "AUTH"};
    return kind >= 0 && kind <= 8 ? names[kind] : "?";
}

mq_event *
ft_wait(mq_client *c, int kind, int timeout_ms)
{
    long long until = ft_now_ms() + timeout_ms;

    for (;;) {
        long long left = until - ft_now_ms();
        mq_event *ev;
        if (left < 0)
            return NULL;
        ev = mq_next_event(c, (int)left);
        if (ev == NULL)
            return NULL;
        if (mq_event_type(ev) == kind)
            return ev;
        if (mq_event_type(ev) == MQ_EVENT_LOG)
            fprintf(stderr, "  log: %s\n", mq_event_message(ev));
        else
            fprintf(stderr, "  (skipped %s err=%s reason=0x%02x %s)\n",
                    ft_event_name(mq_event_type(ev)),
                    mq_err_name(mq_event_error(ev)), mq_event_reason(ev),
                    mq_event_message(ev) ? mq_event_message(ev) : "");
        mq_event_free(ev);
    }
}

long
ft_vm_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t fl = strlen(field);
    long v = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}
