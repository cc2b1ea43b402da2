/*
 * persist_child.c - the publisher that test_persist.c kills with SIGKILL.
 *
 * Usage: persist_child URI DIR CLIENT_ID TOPIC FIRST COUNT
 * Publishes messages FIRST..FIRST+COUNT-1 (payload: the decimal index; QoS 1
 * for even, QoS 2 for odd indexes) with persistence in DIR, writing "<i>\n"
 * to stdout after mq_publish() succeeded (that is the promise under test),
 * then waits until everything (also what an earlier, killed process left in
 * the store) is acknowledged, and exits 0. Exit 2 on any unexpected error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mq.h"

int
main(int argc, char **argv)
{
    mq_client *c;
    long first, count, i;
    int rc;

    if (argc != 7)
        return 2;
    first = atol(argv[5]);
    count = atol(argv[6]);
    c = mq_client_new(argv[3], MQ_PROTO_V5);
    if (c == NULL)
        return 2;
    mq_set_int(c, MQ_OPT_CLEAN_START, 0);
    mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 600);
    mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 50);
    mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 200);
    mq_set_int(c, MQ_OPT_PUBLISH_EVENTS, 0);
    mq_set_int(c, MQ_OPT_QUEUE_MAX_MSGS, 500);
    mq_set_int(c, MQ_OPT_PUBLISH_TIMEOUT_MS, 10000);
    mq_set_int(c, MQ_OPT_PERSIST_SYNC, 2); /* kill -9, not power loss */
    if ((rc = mq_set_str(c, MQ_SOPT_PERSIST_DIR, argv[2])) != MQ_OK) {
        fprintf(stderr, "persist dir: %s\n", mq_strerror(rc));
        return 2;
    }
    if (mq_set_server(c, argv[1]) != MQ_OK || mq_connect(c) != MQ_OK)
        return 2;
    for (i = first; i < first + count; i++) {
        char p[32], line[32];
        int n = snprintf(p, sizeof p, "%ld", i);
        rc = mq_publish(c, argv[4], p, (size_t)n, (i & 1) ? 2 : 1, 0);
        if (rc < 0) {
            fprintf(stderr, "publish %ld: %s\n", i, mq_strerror(rc));
            return 2;
        }
        n = snprintf(line, sizeof line, "%ld\n", i);
        if (write(1, line, (size_t)n) != n)
            return 2;
    }
    while (mq_queued_messages(c) > 0) {
        mq_event *ev = mq_next_event(c, 100);
        mq_event_free(ev);
    }
    mq_disconnect(c, 0);
    for (;;) {
        mq_event *ev = mq_next_event(c, 2000);
        int t = ev ? mq_event_type(ev) : MQ_EVENT_DISCONNECTED;
        mq_event_free(ev);
        if (t == MQ_EVENT_DISCONNECTED)
            break;
    }
    mq_client_destroy(c);
    return 0;
}
