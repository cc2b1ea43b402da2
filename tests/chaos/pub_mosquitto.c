/*
 * pub_mosquitto.c - the libmosquitto publisher of the chaos test, for
 * comparison with libmq (protocol: chaos_child.h). clean_session false,
 * automatic reconnect (1-2 s), keepalive max(5, -k) (libmosquitto's
 * minimum). libmosquitto has no persistence: what it accepted and had not
 * completed when the process is killed is gone, and the verdict reports
 * those losses as expected. Offline it queues QoS 1/2 messages but
 * returns MOSQ_ERR_NO_CONN; this program counts them as accepted.
 *
 * Exit: 0 after SIGUSR1 and a complete drain, 3 if the drain timed out, 2
 * on an unexpected error.
 *
 * Threading: the main thread publishes; libmosquitto's loop thread runs
 * the network and the callbacks (which only count, atomically).
 */
#include <mosquitto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos_child.h"

#define DRAIN_MS 120000

static atomic_long g_done;

static void
on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    (void)obj;
    (void)mid;
    atomic_fetch_add(&g_done, 1);
}

static void
on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    (void)obj;
    fprintf(stderr, "[%lld] disconnected: %s\n", cc_now_us() / 1000,
            mosquitto_strerror(rc));
}

int
main(int argc, char **argv)
{
    cc_opts o;
    struct mosquitto *m;
    char host[64] = "127.0.0.1", topic[160], payload[CC_MAX_PAYLOAD];
    int port = 0, afd, rc, proto;
    long seq, accepted = 0;
    long long next = 0, deadline;

    cc_parse(argc, argv, &o);
    cc_signals();
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (o.name == NULL || sscanf(o.uri, "mqtt://%63[^:]:%d", host, &port) != 2)
        return 2;
    mosquitto_lib_init();
    m = mosquitto_new(o.id, false, NULL);
    if (m == NULL)
        return 2;
    proto = o.version == 4 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5;
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, proto);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_disconnect_callback_set(m, on_disconnect);
    mosquitto_reconnect_delay_set(m, 1, 2, false);
    afd = cc_open_log(o.alog);
    seq = cc_first_seq(o.alog);
    /* The loop thread retries a failed first attempt too. */
    rc = mosquitto_connect_async(m, host, port, o.keepalive < 5 ? 5 : o.keepalive);
    if (rc != MOSQ_ERR_SUCCESS)
        fprintf(stderr, "connect_async: %s (retrying)\n", mosquitto_strerror(rc));
    if (mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS)
        return 2;
    fprintf(stderr, "[%lld] start inc %d pid %d seq %ld\n", cc_now_us() / 1000,
            o.inc, (int)getpid(), seq);

    while (!cc_stop) {
        size_t len;
        cc_pace(&o, &next);
        if (cc_stop)
            break;
        if (!cc_go(&o))
            continue;
        if (accepted - atomic_load(&g_done) >= o.max_inflight)
            continue; /* window full: skip this slot */
        len = cc_message(&o, seq, topic, payload);
        rc = mosquitto_publish(m, NULL, topic, (int)len, payload, cc_qos(seq),
                               false);
        /* Offline, libmosquitto 2.0 queues a QoS 1/2 message and sends it
         * after the reconnect, but returns MOSQ_ERR_NO_CONN: it was
         * accepted (a caller that retries sends it twice). */
        if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN) {
            cc_log_accept(afd, o.inc, seq);
            accepted++;
            seq++;
        } else {
            fprintf(stderr, "publish %ld: %s\n", seq, mosquitto_strerror(rc));
            return 2;
        }
    }

    deadline = cc_now_us() / 1000 + DRAIN_MS;
    while (atomic_load(&g_done) < accepted && !cc_quit &&
           cc_now_us() / 1000 < deadline)
        cc_sleep_ms(50);
    cc_log_drained(afd, o.inc, accepted - atomic_load(&g_done));
    rc = atomic_load(&g_done) < accepted ? 3 : 0;
    fprintf(stderr, "[%lld] stop: %ld not completed\n", cc_now_us() / 1000,
            accepted - atomic_load(&g_done));
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return rc;
}
