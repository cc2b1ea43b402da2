/*
 * step3_loops.c - tutorial step 3: the three ways to run the callbacks,
 * as in paho-mqtt: loop_forever() (this thread, until disconnect),
 * loop() (call it yourself, e.g. from your own main loop), and
 * loop_start() (a background thread). With loop() and loop_forever() the
 * network is handled by libmq's own thread and the loop only runs your
 * callbacks; the loop_start() thread, as in paho-mqtt, also does this
 * client's network I/O.
 *
 *     def on_connect(client, userdata, flags, rc):
 *         client.subscribe("tutorial/#")
 *     def on_message(client, userdata, msg):
 *         print(msg.topic, msg.payload)
 *         if done: client.disconnect()       # ends loop_forever()
 *
 * Usage: step3_loops [BROKER [forever|loop|start [FILTER [COUNT]]]]
 *   Subscribes in on_connect, prints COUNT (3) messages, disconnects.
 */
#include <mq.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct app {
    const char *filter;
    int count;
    atomic_int received;
    atomic_int done;
};

static void
on_connect(mq_client *client, const mq_event *ev, void *userdata)
{
    struct app *app = userdata;

    printf("connected (reason %d)\n", mq_event_reason(ev));
    mq_subscribe(client, app->filter, 1);
}

static void
on_subscribe(mq_client *client, const mq_event *ev, void *userdata)
{
    (void)client;
    (void)userdata;
    printf("subscribed (granted QoS %d)\n", mq_event_reason_at(ev, 0));
    fflush(stdout);
}

static void
on_message(mq_client *client, const mq_event *msg, void *userdata)
{
    struct app *app = userdata;
    size_t len;
    const char *payload = mq_event_payload(msg, &len);

    printf("%s %.*s\n", mq_event_topic(msg), (int)len, payload);
    fflush(stdout);
    if (atomic_fetch_add(&app->received, 1) + 1 == app->count)
        mq_disconnect(client, 0); /* loop_forever() returns when done */
}

static void
on_disconnect(mq_client *client, const mq_event *ev, void *userdata)
{
    struct app *app = userdata;

    (void)client;
    printf("disconnected (%s)\n", mq_strerror(mq_event_error(ev)));
    fflush(stdout);
    if (!mq_event_will_reconnect(ev))
        atomic_store(&app->done, 1);
}

int
main(int argc, char **argv)
{
    const char *broker = argc > 1 ? argv[1] : getenv("MQTT_BROKER");
    const char *mode = argc > 2 ? argv[2] : "forever";
    struct app app = {argc > 3 ? argv[3] : "tutorial/#",
                      argc > 4 ? atoi(argv[4]) : 3, 0, 0};
    struct timespec tick = {0, 10 * 1000000};
    mq_client *client;
    int rc = MQ_OK;

    if (broker == NULL)
        broker = "mqtt://localhost:1883";
    client = mq_client_new(NULL, MQ_PROTO_V311);
    if (client == NULL)
        return 1;
    mq_on_connect(client, on_connect, &app);
    mq_on_subscribe(client, on_subscribe, &app);
    mq_on_message(client, on_message, &app);
    mq_on_disconnect(client, on_disconnect, &app);
    mq_set_server(client, broker);
    mq_connect(client);

    if (strcmp(mode, "forever") == 0) {
        rc = mq_loop_forever(client); /* until mq_disconnect() is done */
    } else if (strcmp(mode, "loop") == 0) {
        while (!atomic_load(&app.done)) {
            int n = mq_loop(client, 100); /* callbacks run inside */
            if (n < 0) {
                rc = n;
                break;
            }
            /* ... the rest of your own main loop goes here ... */
        }
    } else if (strcmp(mode, "start") == 0) {
        mq_loop_start(client);
        while (!atomic_load(&app.done))
            nanosleep(&tick, NULL);
        mq_loop_stop(client);
    } else {
        fprintf(stderr, "step3: mode must be forever, loop or start\n");
        rc = MQ_ERR_INVAL;
    }
    if (rc != MQ_OK)
        fprintf(stderr, "step3: %s\n", mq_strerror(rc));
    mq_client_destroy(client);
    return rc == MQ_OK ? 0 : 1;
}
