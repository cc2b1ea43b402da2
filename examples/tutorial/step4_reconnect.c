/*
 * step4_reconnect.c - tutorial step 4: on_connect and on_disconnect, and
 * surviving a broker restart. The paho-mqtt original:
 *
 *     def on_connect(client, userdata, flags, rc):
 *         print("Connected with result code " + str(rc))
 *         # Subscribing in on_connect() means that if we lose the
 *         # connection and reconnect then subscriptions will be renewed.
 *         client.subscribe("tutorial/#")
 *
 *     def on_disconnect(client, userdata, rc):
 *         print("Disconnected", rc)
 *
 *     client.loop_forever()                     # reconnects by itself
 *
 * libmq reconnects by itself too (with backoff), and also renews the
 * subscriptions it had by itself when the broker lost the session. The
 * SUBSCRIBE made again in on_connect is then answered locally instead of
 * being sent twice, so a retained message arrives once per connection -
 * the same as with paho-mqtt.
 *
 * Usage: step4_reconnect [BROKER [FILTER]]
 *   Prints what happens; a message with the payload "quit" ends it.
 */
#include <mq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
on_connect(mq_client *client, const mq_event *ev, void *userdata)
{
    const char *filter = userdata;

    printf("connected (reason %d, session present %d)\n",
           mq_event_reason(ev), mq_event_session_present(ev));
    fflush(stdout);
    mq_subscribe(client, filter, 1);
}

static void
on_disconnect(mq_client *client, const mq_event *ev, void *userdata)
{
    const char *why = mq_event_message(ev);

    (void)client;
    (void)userdata;
    /* called for every lost connection and every failed attempt */
    printf("disconnected (%s: %s)%s\n", mq_strerror(mq_event_error(ev)),
           why != NULL ? why : "", mq_event_will_reconnect(ev)
                                       ? ", reconnecting" : "");
    fflush(stdout);
}

static void
on_message(mq_client *client, const mq_event *msg, void *userdata)
{
    size_t len;
    const char *payload = mq_event_payload(msg, &len);

    (void)userdata;
    printf("message %s %.*s%s\n", mq_event_topic(msg), (int)len, payload,
           mq_event_retain(msg) ? " (retained)" : "");
    fflush(stdout);
    if (len == 4 && memcmp(payload, "quit", 4) == 0)
        mq_disconnect(client, 0);
}

int
main(int argc, char **argv)
{
    const char *broker = argc > 1 ? argv[1] : getenv("MQTT_BROKER");
    char *filter = argc > 2 ? argv[2] : "tutorial/#";
    mq_client *client;
    int rc;

    if (broker == NULL)
        broker = "mqtt://localhost:1883";
    client = mq_client_new("tutorial-step4", MQ_PROTO_V311);
    if (client == NULL)
        return 1;
    mq_on_connect(client, on_connect, filter);
    mq_on_disconnect(client, on_disconnect, NULL);
    mq_on_message(client, on_message, NULL);
    mq_set_server(client, broker);
    /* retry every 0.5 to 2 s (default 1 to 30 s) */
    mq_set_int(client, MQ_OPT_RECONNECT_MIN_MS, 500);
    mq_set_int(client, MQ_OPT_RECONNECT_MAX_MS, 2000);
    mq_connect(client);
    rc = mq_loop_forever(client);
    mq_client_destroy(client);
    return rc == MQ_OK ? 0 : 1;
}
