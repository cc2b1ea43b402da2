/*
 * step2_subscribe.c - tutorial step 2: subscribe, receive messages in a
 * callback on a background thread (loop_start / loop_stop). The paho-mqtt
 * original:
 *
 *     def on_message(client, userdata, msg):
 *         print(msg.topic + " " + str(msg.payload))
 *
 *     client = mqtt.Client()
 *     client.on_message = on_message
 *     client.connect("localhost", 1883, 60)      # blocks until connected
 *     client.subscribe("tutorial/#", qos=1)
 *     client.loop_start()
 *     time.sleep(...)
 *     client.loop_stop()
 *
 * paho's connect() waits for the connection: mq_wait_connected() does the
 * same here (mq_connect() alone returns at once). mq_wait() waits for the
 * broker's answer to the subscribe, like paho's wait_for_publish() does
 * for a publish.
 *
 * Usage: step2_subscribe [BROKER [FILTER [COUNT]]]
 *   Prints "topic payload" for each message and exits after COUNT (5).
 */
#include <mq.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static atomic_int received;

static void
on_message(mq_client *client, const mq_event *msg, void *userdata)
{
    size_t len;
    const char *payload = mq_event_payload(msg, &len);

    (void)client;
    (void)userdata;
    printf("%s %.*s\n", mq_event_topic(msg), (int)len, payload);
    fflush(stdout);
    atomic_fetch_add(&received, 1);
}

int
main(int argc, char **argv)
{
    const char *broker = argc > 1 ? argv[1] : getenv("MQTT_BROKER");
    const char *filter = argc > 2 ? argv[2] : "tutorial/#";
    int count = argc > 3 ? atoi(argv[3]) : 5;
    struct timespec tick = {0, 10 * 1000000};
    mq_client *client;
    int rc, token;

    if (broker == NULL)
        broker = "mqtt://localhost:1883";
    client = mq_client_new(NULL, MQ_PROTO_V311);
    if (client == NULL)
        return 1;
    mq_on_message(client, on_message, NULL);
    mq_set_server(client, broker);
    mq_connect(client);
    rc = mq_wait_connected(client, 10000);
    if (rc != MQ_OK) {
        fprintf(stderr, "step2: connect: %s\n", mq_strerror(rc));
        mq_client_destroy(client);
        return 1;
    }
    token = mq_subscribe(client, filter, 1);
    rc = token > 0 ? mq_wait(client, token, 10000) : token;
    if (rc != MQ_OK) {
        fprintf(stderr, "step2: subscribe: %s\n", mq_strerror(rc));
        mq_client_destroy(client);
        return 1;
    }
    mq_loop_start(client);
    while (atomic_load(&received) < count)
        nanosleep(&tick, NULL); /* the callbacks run on libmq's thread */
    mq_loop_stop(client);
    mq_disconnect(client, 0);
    mq_client_destroy(client);
    return 0;
}
