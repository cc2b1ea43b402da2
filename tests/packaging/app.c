/* app.c - a program as a user of the installed libmq-dev writes it, built
 * by the packaging test with nothing but
 *     cc app.c $(pkg-config --cflags --libs libmq)
 * It connects to the broker at argv[1] (mqtt://host:port), subscribes to a
 * topic, publishes a binary payload to it at QoS 1, and exits 0 when the
 * message came back intact and its PUBACK arrived, 1 otherwise (10 s at
 * most). It prints the run-time version, which must be the packaged one.
 * Single-threaded: events are pulled with mq_next_event(). */
#include <mq.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char payload[] = {'p', 'k', 'g', 0, (char)0xff, 'x'};

int
main(int argc, char **argv)
{
    const char *topic = "libmq/packaging/app";
    int got_msg = 0, got_ack = 0, rc;
    time_t end = time(NULL) + 10;
    mq_client *c;

    if (argc != 2) {
        fprintf(stderr, "usage: app mqtt://host:port\n");
        return 2;
    }
    printf("libmq %s (header %s)\n", mq_version_string(), MQ_VERSION_STRING);
    if (mq_version() != MQ_VERSION_NUM) {
        fprintf(stderr, "run-time version differs from the header's\n");
        return 1;
    }
    c = mq_client_new("libmq-packaging-app", MQ_PROTO_V5);
    if (!c)
        return 1;
    if ((rc = mq_set_server(c, argv[1])) < 0 || (rc = mq_connect(c)) < 0 ||
        (rc = mq_subscribe(c, topic, 1)) < 0 ||
        (rc = mq_publish(c, topic, payload, sizeof payload, 1, 0)) < 0) {
        fprintf(stderr, "libmq: %s\n", mq_strerror(rc));
        mq_client_destroy(c);
        return 1;
    }
    while ((!got_msg || !got_ack) && time(NULL) < end) {
        mq_event *ev = mq_next_event(c, 200);
        size_t len = 0;
        const void *p;

        if (!ev)
            continue;
        switch (mq_event_type(ev)) {
        case MQ_EVENT_MESSAGE:
            p = mq_event_payload(ev, &len);
            got_msg = len == sizeof payload && memcmp(p, payload, len) == 0;
            printf("message on %s, %zu bytes%s\n", mq_event_topic(ev), len,
                   got_msg ? "" : " (wrong payload)");
            break;
        case MQ_EVENT_PUBLISHED:
            got_ack = mq_event_error(ev) == MQ_OK;
            printf("published: %s\n", mq_strerror(mq_event_error(ev)));
            break;
        case MQ_EVENT_DISCONNECTED:
            printf("disconnected: %s\n", mq_strerror(mq_event_error(ev)));
            break;
        default:
            break;
        }
        mq_event_free(ev);
    }
    mq_disconnect(c, 0);
    mq_client_destroy(c);
    if (!got_msg || !got_ack) {
        fprintf(stderr, "no round trip within 10 s\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
