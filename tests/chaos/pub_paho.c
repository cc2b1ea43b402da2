/*
 * pub_paho.c - the Paho C publisher of the chaos test (MQTTAsync with its
 * default file persistence), for comparison with libmq (protocol:
 * chaos_child.h). MQTT 3.1.1, cleansession 0, automatic reconnect (1-2 s),
 * at most 20 messages in flight (mosquitto's limit, below),
 * sendWhileDisconnected with buffered commands restored after a restart.
 * A message counts as accepted once MQTTAsync_sendMessage succeeded (Paho
 * has then written it to its persistence directory).
 *
 * Exit: 0 after SIGUSR1 and a complete drain (no pending tokens), 3 if the
 * drain timed out, 2 on an unexpected error.
 *
 * Threading: the main thread publishes; Paho's threads run the network
 * and the callbacks (which only set flags).
 */
#include <MQTTAsync.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos_child.h"

#define DRAIN_MS 120000
/* Paho's default window is 65535 messages in flight; mosquitto (2.0.11,
 * default max_inflight_messages) takes at most 20 unfinished QoS 1/2
 * messages from a client, also from an MQTT 3.1.1 client, which cannot
 * learn that limit (libmosquitto's own default is 20; MQTT 5 clients such
 * as libmq get it as Receive Maximum in the CONNACK). Above it the broker
 * refuses the message (quota exceeded), and with the chaos broker's
 * max_queued_messages 0 it also drops the connection; Paho then resends
 * everything, first what the full quota refuses again (README.md). */
#define PAHO_MAX_INFLIGHT 20

static atomic_int g_connect_failed;

static void
on_connect(void *ctx, MQTTAsync_successData *d)
{
    (void)ctx;
    (void)d;
    fprintf(stderr, "[%lld] connected\n", cc_now_us() / 1000);
}

static void
on_connect_failure(void *ctx, MQTTAsync_failureData *d)
{
    (void)ctx;
    fprintf(stderr, "[%lld] connect failed: %d\n", cc_now_us() / 1000,
            d ? d->code : 0);
    atomic_store(&g_connect_failed, 1);
}

static void
on_lost(void *ctx, char *cause)
{
    (void)ctx;
    fprintf(stderr, "[%lld] connection lost: %s\n", cc_now_us() / 1000,
            cause ? cause : "");
}

static int
on_message(void *ctx, char *topic, int tlen, MQTTAsync_message *msg)
{
    (void)ctx;
    (void)tlen;
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

/* Messages accepted and not yet completed (also restored ones). */
static int
pending(MQTTAsync c)
{
    MQTTAsync_token *t = NULL;
    int n = 0;

    if (MQTTAsync_getPendingTokens(c, &t) != MQTTASYNC_SUCCESS)
        return -1;
    if (t != NULL) {
        while (t[n] != -1)
            n++;
        MQTTAsync_free(t);
    }
    return n;
}

static int
start_connect(MQTTAsync c, const cc_opts *o)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;

    co.keepAliveInterval = o->keepalive;
    co.maxInflight = PAHO_MAX_INFLIGHT;
    co.MQTTVersion = MQTTVERSION_3_1_1; /* no fallback to 3.1 */
    co.cleansession = 0;
    co.automaticReconnect = 1;
    co.minRetryInterval = 1;
    co.maxRetryInterval = 2;
    co.connectTimeout = 3;
    co.onSuccess = on_connect;
    co.onFailure = on_connect_failure;
    return MQTTAsync_connect(c, &co);
}

/* automaticReconnect covers lost connections, not a first attempt that
 * failed (broker down): retry that, at most every 500 ms. */
static void
retry_connect(MQTTAsync c, const cc_opts *o, long long *retry_at)
{
    if (atomic_load(&g_connect_failed) && cc_now_us() >= *retry_at) {
        atomic_store(&g_connect_failed, 0);
        *retry_at = cc_now_us() + 500000;
        start_connect(c, o);
    }
}

int
main(int argc, char **argv)
{
    cc_opts o;
    MQTTAsync c;
    MQTTAsync_createOptions cr = MQTTAsync_createOptions_initializer;
    char uri[96], topic[160], payload[CC_MAX_PAYLOAD];
    int afd, rc, n;
    long seq;
    long long next = 0, deadline, retry_at = 0;

    cc_parse(argc, argv, &o);
    cc_signals();
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (o.name == NULL || o.dir == NULL ||
        strncmp(o.uri, "mqtt://", 7) != 0)
        return 2;
    snprintf(uri, sizeof uri, "tcp://%s", o.uri + 7);
    cr.sendWhileDisconnected = 1;
    cr.allowDisconnectedSendAtAnyTime = 1;
    cr.maxBufferedMessages = 100000;
    cr.restoreMessages = 1;
    cr.persistQoS0 = 0;
    cr.MQTTVersion = MQTTVERSION_3_1_1;
    rc = MQTTAsync_createWithOptions(&c, uri, o.id,
                                     MQTTCLIENT_PERSISTENCE_DEFAULT,
                                     (void *)o.dir, &cr);
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "create: %d\n", rc);
        return 2;
    }
    if (MQTTAsync_setCallbacks(c, NULL, on_lost, on_message, NULL) !=
        MQTTASYNC_SUCCESS)
        return 2;
    afd = cc_open_log(o.alog);
    seq = cc_first_seq(o.alog);
    if (start_connect(c, &o) != MQTTASYNC_SUCCESS)
        return 2;
    fprintf(stderr, "[%lld] start inc %d pid %d seq %ld, %d restored\n",
            cc_now_us() / 1000, o.inc, (int)getpid(), seq, pending(c));

    while (!cc_stop) {
        MQTTAsync_message msg = MQTTAsync_message_initializer;
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

        cc_pace(&o, &next);
        if (cc_stop)
            break;
        if (!cc_go(&o))
            continue;
        retry_connect(c, &o, &retry_at);
        if ((n = pending(c)) < 0 || n >= o.max_inflight)
            continue; /* window full: skip this slot */
        msg.payloadlen = (int)cc_message(&o, seq, topic, payload);
        msg.payload = payload;
        msg.qos = cc_qos(seq);
        rc = MQTTAsync_sendMessage(c, topic, &msg, &ro);
        if (rc == MQTTASYNC_SUCCESS) {
            cc_log_accept(afd, o.inc, seq);
            seq++;
        } else if (rc != MQTTASYNC_MAX_BUFFERED_MESSAGES &&
                   rc != MQTTASYNC_MAX_MESSAGES_INFLIGHT &&
                   rc != MQTTASYNC_DISCONNECTED &&
                   rc != MQTTASYNC_NO_MORE_MSGIDS) {
            fprintf(stderr, "sendMessage %ld: %d\n", seq, rc);
            return 2;
        }
    }

    deadline = cc_now_us() / 1000 + DRAIN_MS;
    while ((n = pending(c)) != 0 && !cc_quit &&
           cc_now_us() / 1000 < deadline) {
        retry_connect(c, &o, &retry_at);
        cc_sleep_ms(50);
    }
    cc_log_drained(afd, o.inc, n);
    fprintf(stderr, "[%lld] stop: %d not completed\n", cc_now_us() / 1000, n);
    rc = n != 0 ? 3 : 0;
    {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 2000;
        MQTTAsync_disconnect(c, &d);
        cc_sleep_ms(300);
    }
    MQTTAsync_destroy(&c);
    return rc;
}
