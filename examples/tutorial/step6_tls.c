/*
 * step6_tls.c - tutorial step 6: TLS. The broker's certificate is checked
 * against a CA and against the host name in the URI (on by default, as
 * in paho-mqtt). The paho-mqtt original:
 *
 *     client.tls_set(ca_certs="ca.crt")
 *     client.connect("localhost", 8883, 60)
 *
 * A certificate made for another name is refused: mq_wait_connected()
 * returns MQ_ERR_TLS and the reason is in the MQ_EVENT_DISCONNECTED
 * event's message.
 *
 * Usage: step6_tls BROKER CA_FILE [TOPIC]
 *   BROKER: e.g. mqtts://localhost:8883. Publishes "hello over TLS" at
 *   QoS 1; exits 0 when the broker acknowledged it, else 1.
 */
#include <mq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
    const char *topic = argc > 3 ? argv[3] : "tutorial/tls";
    const char *text = "hello over TLS";
    mq_client *client;
    mq_event *ev;
    int rc, token;

    if (argc < 3) {
        fprintf(stderr, "usage: step6_tls BROKER CA_FILE [TOPIC]\n");
        return 2;
    }
    client = mq_client_new(NULL, MQ_PROTO_V311);
    if (client == NULL)
        return 1;
    mq_set_int(client, MQ_OPT_RECONNECT, 0); /* one attempt, for the demo */
    rc = mq_set_str(client, MQ_SOPT_TLS_CA_FILE, argv[2]);
    if (rc == MQ_OK)
        rc = mq_set_server(client, argv[1]);
    if (rc == MQ_OK)
        rc = mq_connect(client);
    if (rc == MQ_OK)
        rc = mq_wait_connected(client, 10000);
    if (rc != MQ_OK) {
        fprintf(stderr, "connect failed: %s\n", mq_strerror(rc));
        /* the details: the DISCONNECTED event (not taken by the wait) */
        while ((ev = mq_next_event(client, 0)) != NULL) {
            if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED &&
                mq_event_message(ev) != NULL)
                fprintf(stderr, "  %s\n", mq_event_message(ev));
            mq_event_free(ev);
        }
        mq_client_destroy(client);
        return 1;
    }
    printf("connected over TLS\n");
    token = mq_publish(client, topic, text, strlen(text), 1, 0);
    rc = token > 0 ? mq_wait(client, token, 10000) : token;
    printf("publish: %s\n", mq_strerror(rc));
    mq_disconnect(client, 0);
    mq_client_destroy(client);
    return rc == MQ_OK ? 0 : 1;
}
