/*
 * step5_will.c - tutorial step 5: a persistent session (clean_session
 * False), QoS 1, and a Last Will. The paho-mqtt original:
 *
 *     client = mqtt.Client("home-sensor", clean_session=False)
 *     client.will_set("home/status", "offline", qos=1, retain=True)
 *     def on_connect(client, userdata, flags, rc):
 *         client.publish("home/status", "online", qos=1, retain=True)
 *         client.subscribe("home/cmd", qos=1)
 *     client.connect("localhost", 1883, 60)
 *     client.loop_forever()
 *
 * If the process dies without disconnecting (kill -9, a crash, a lost
 * network), the broker publishes the Will: "home/status" becomes
 * "offline" (retained, so whoever subscribes later sees it too). While
 * the client is away, the broker keeps its session: QoS 1 commands sent
 * to "home/cmd" meanwhile are delivered when it comes back.
 *
 * Usage: step5_will [BROKER]
 *   Prints each command; the command "quit" ends it cleanly ("offline" is
 *   then published by the program itself, and the Will is not sent).
 */
#include <mq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
on_connect(mq_client *client, const mq_event *ev, void *userdata)
{
    (void)userdata;
    printf("connected (session present %d)\n", mq_event_session_present(ev));
    fflush(stdout);
    mq_publish(client, "home/status", "online", 6, 1, 1);
    mq_subscribe(client, "home/cmd", 1);
}

static void
on_message(mq_client *client, const mq_event *msg, void *userdata)
{
    size_t len;
    const char *payload = mq_event_payload(msg, &len);

    (void)userdata;
    printf("command %.*s\n", (int)len, payload);
    fflush(stdout);
    if (len == 4 && memcmp(payload, "quit", 4) == 0) {
        mq_publish(client, "home/status", "offline", 7, 1, 1);
        mq_disconnect(client, 0); /* delivers "offline" first */
    }
}

int
main(int argc, char **argv)
{
    const char *broker = argc > 1 ? argv[1] : getenv("MQTT_BROKER");
    mq_client *client;
    int rc;

    if (broker == NULL)
        broker = "mqtt://localhost:1883";
    client = mq_client_new("home-sensor", MQ_PROTO_V311);
    if (client == NULL)
        return 1;
    mq_set_int(client, MQ_OPT_CLEAN_START, 0); /* clean_session=False */
    mq_set_will(client, "home/status", "offline", 7, 1, 1, NULL);
    mq_on_connect(client, on_connect, NULL);
    mq_on_message(client, on_message, NULL);
    mq_set_server(client, broker);
    mq_connect(client);
    rc = mq_loop_forever(client);
    mq_client_destroy(client);
    return rc == MQ_OK ? 0 : 1;
}
