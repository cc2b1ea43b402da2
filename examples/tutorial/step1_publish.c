/*
 * step1_publish.c - tutorial step 1: connect, publish one message,
 * disconnect. The paho-mqtt original:
 *
 *     client = mqtt.Client()
 *     client.connect("localhost", 1883, 60)
 *     client.publish("tutorial/hello", "hello", qos=0)
 *     client.disconnect()
 *
 * mq_connect() and mq_publish() return at once (the connection is made by
 * libmq's own thread); mq_disconnect() then delivers what was published -
 * QoS 1 and 2 up to the broker's acknowledgement - before it sends
 * DISCONNECT, and mq_client_destroy() waits for that (at most
 * MQ_OPT_DISCONNECT_TIMEOUT_MS, 5 s by default).
 *
 * Usage: step1_publish [BROKER [TOPIC [QOS [MESSAGE]]]]
 *   BROKER: a URI such as mqtt://localhost:1883 (the default), or set
 *   $MQTT_BROKER.
 */
#include <mq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
    const char *broker = argc > 1 ? argv[1] : getenv("MQTT_BROKER");
    const char *topic = argc > 2 ? argv[2] : "tutorial/hello";
    int qos = argc > 3 ? atoi(argv[3]) : 0;
    const char *text = argc > 4 ? argv[4] : "hello";
    mq_client *client;
    int rc;

    if (broker == NULL)
        broker = "mqtt://localhost:1883";
    /* NULL id: the broker assigns one, like mqtt.Client() */
    client = mq_client_new(NULL, MQ_PROTO_V311);
    if (client == NULL)
        return 1;
    rc = mq_set_server(client, broker);
    if (rc == MQ_OK)
        rc = mq_connect(client);
    if (rc == MQ_OK)
        rc = mq_publish(client, topic, text, strlen(text), qos, 0);
    if (rc < 0)
        fprintf(stderr, "step1: %s\n", mq_strerror(rc));
    mq_disconnect(client, 0);
    mq_client_destroy(client);
    return rc < 0 ? 1 : 0;
}
