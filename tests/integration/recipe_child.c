/*
 * recipe_child.c - a publisher that follows the exactly-once recipe of
 * docs/guide/persistence.md, for test_persist.c to kill with SIGKILL.
 *
 * Usage: recipe_child URI DIR CLIENT_ID TOPIC STATEFILE TOTAL
 * Publishes messages 0..TOTAL-1 at QoS 2 (payload: the decimal index, tag:
 * index + 1) with persistence in DIR. Its own durable state is STATEFILE,
 * one line per fact, appended with write() (page cache: survives kill -9):
 *   "P i" before message i is handed to mq_publish_tagged(),
 *   "D i" when its MQ_EVENT_PUBLISHED (error MQ_OK) arrived, before the
 *         event is freed.
 * On start it reads STATEFILE, opens the store and collects the tags of the
 * MQ_EVENT_RECOVERED events; a message marked P but not D is published
 * again only if it was not recovered. Writes "skipped N" to stdout: the
 * recovered messages a naive restart would have published twice. Exits 0
 * once every message is done; 2 on an unexpected error.
 *
 * Threading: the main thread only.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mq.h"

static int state_fd = -1;

static int
note(char what, long i)
{
    char line[32];
    int n = snprintf(line, sizeof line, "%c %ld\n", what, i);

    return write(state_fd, line, (size_t)n) == n ? 0 : -1;
}

/* Handle the events that are there (waiting up to @p ms for the first). */
static int
pump_events(mq_client *c, unsigned char *done, long total, long *ndone,
            int ms)
{
    mq_event *ev;

    while ((ev = mq_next_event(c, ms)) != NULL) {
        ms = 0;
        if (mq_event_type(ev) == MQ_EVENT_PUBLISHED) {
            long i = (long)mq_event_tag(ev) - 1;
            if (mq_event_error(ev) != MQ_OK || i < 0 || i >= total) {
                fprintf(stderr, "publish %ld: %s\n", i,
                        mq_strerror(mq_event_error(ev)));
                return -1;
            }
            if (!done[i]) {
                if (note('D', i) != 0)
                    return -1;
                done[i] = 1;
                (*ndone)++;
            }
        }
        mq_event_free(ev); /* after the note: the record may go now */
    }
    return 0;
}

static int
publish(mq_client *c, const char *topic, long i)
{
    char p[32];
    int n = snprintf(p, sizeof p, "%ld", i);

    return mq_publish_tagged(c, topic, p, (size_t)n, 2, 0, NULL,
                             (uint64_t)i + 1) > 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
    mq_client *c;
    unsigned char *pending, *done, *recovered;
    long total, i, ndone = 0, skipped = 0;
    FILE *f;
    mq_event *ev;
    char w;

    if (argc != 7)
        return 2;
    total = atol(argv[6]);
    pending = calloc((size_t)total, 1);
    done = calloc((size_t)total, 1);
    recovered = calloc((size_t)total, 1);
    if (total <= 0 || !pending || !done || !recovered)
        return 2;
    /* the application's own state */
    f = fopen(argv[5], "r");
    if (f != NULL) {
        while (fscanf(f, " %c %ld", &w, &i) == 2)
            if (i >= 0 && i < total) {
                if (w == 'P')
                    pending[i] = 1;
                else if (w == 'D')
                    done[i] = 1;
            }
        fclose(f);
    }
    for (i = 0; i < total; i++)
        ndone += done[i];
    state_fd = open(argv[5], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (state_fd < 0)
        return 2;

    c = mq_client_new(argv[3], MQ_PROTO_V5);
    if (c == NULL)
        return 2;
    mq_set_int(c, MQ_OPT_CLEAN_START, 0);
    mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 600);
    mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 50);
    mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 200);
    mq_set_int(c, MQ_OPT_QUEUE_MAX_MSGS, 300);
    mq_set_int(c, MQ_OPT_PUBLISH_TIMEOUT_MS, 10000);
    mq_set_int(c, MQ_OPT_PERSIST_SYNC, 2); /* kill -9, not power loss */
    if (mq_set_str(c, MQ_SOPT_PERSIST_DIR, argv[2]) != MQ_OK)
        return 2;
    /* what libmq still holds: it will deliver those by itself */
    while ((ev = mq_next_event(c, 0)) != NULL) {
        if (mq_event_type(ev) == MQ_EVENT_RECOVERED) {
            long k = (long)mq_event_tag(ev) - 1;
            if (k >= 0 && k < total)
                recovered[k] = 1;
        }
        mq_event_free(ev);
    }
    if (mq_set_server(c, argv[1]) != MQ_OK || mq_connect(c) != MQ_OK)
        return 2;
    for (i = 0; i < total; i++) {
        if (done[i])
            continue;
        if (pending[i] && recovered[i]) {
            skipped++;
            continue;
        }
        if (!pending[i] && note('P', i) != 0)
            return 2;
        if (publish(c, argv[4], i) != 0)
            return 2;
        if (pump_events(c, done, total, &ndone, 0) != 0)
            return 2;
    }
    printf("skipped %ld\n", skipped);
    fflush(stdout);
    while (ndone < total)
        if (pump_events(c, done, total, &ndone, 100) != 0)
            return 2;
    mq_disconnect(c, 0);
    while ((ev = mq_next_event(c, 2000)) != NULL) {
        int t = mq_event_type(ev);
        mq_event_free(ev);
        if (t == MQ_EVENT_DISCONNECTED)
            break;
    }
    mq_client_destroy(c);
    close(state_fd);
    free(pending);
    free(done);
    free(recovered);
    return 0;
}
