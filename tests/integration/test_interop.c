/*
 * test_interop.c - integration: libmq against clients we did not write:
 * mosquitto_pub/mosquitto_sub and paho-mqtt (Python), both directions.
 * Threading: single-threaded Criterion tests, one process (and broker) each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integ.h"

INTEG_SUITE(interop);

#define PAHO INTEG_SRC_DIR "/paho_client.py"

static void expect_message(mq_client *c, const char *topic, const void *data,
                           size_t len, int qos)
{
    mq_event *ev = integ_wait(c, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    size_t n = 0;
    const void *p = mq_event_payload(ev, &n);
    CHECK(strcmp(mq_event_topic(ev), topic) == 0, "topic %s",
          mq_event_topic(ev));
    CHECK(n == len && (len == 0 || memcmp(p, data, len) == 0),
          "payload (len %zu, expected %zu): %.*s", n, len, (int)n,
          (const char *)p);
    CHECK(mq_event_qos(ev) == qos, "qos %d", mq_event_qos(ev));
    mq_event_free(ev);
}

static void mosquitto_pub_to_libmq(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "sub", proto);
    const char *topic = integ_topic("from-mospub");
    const char *ver = proto == MQ_PROTO_V5 ? "mqttv5" : "mqttv311";

    integ_connect(c);
    integ_subscribe(c, topic, 1);
    const char *msgs[] = {"alpha", "beta", ""};
    for (int i = 0; i < 3; i++) {
        char *argv[] = {"mosquitto_pub", "-p", (char *)integ_port_str(b),
                        "-V", (char *)ver, "-t", (char *)topic, "-q", "1",
                        "-m", (char *)msgs[i], NULL};
        CHECK(mqt_run(argv, 5000, NULL, NULL) == 0, "mosquitto_pub");
        expect_message(c, topic, msgs[i], strlen(msgs[i]), 1);
    }
    /* binary payload with NUL bytes, from a file */
    char path[256];
    static const unsigned char bin[] = {0, 1, 0, 0xff, 'z', 0};
    snprintf(path, sizeof path, "%s/payload.bin", mqt_broker_dir(b));
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "fopen %s", path);
    fwrite(bin, 1, sizeof bin, f);
    fclose(f);
    char *argv[] = {"mosquitto_pub", "-p", (char *)integ_port_str(b), "-V",
                    (char *)ver, "-t", (char *)topic, "-q", "2", "-f", path,
                    NULL};
    CHECK(mqt_run(argv, 5000, NULL, NULL) == 0, "mosquitto_pub -f");
    expect_message(c, topic, bin, sizeof bin, 1);
    unlink(path);
}

Test(interop, mosquitto_pub_to_libmq_v311)
{
    mosquitto_pub_to_libmq(MQ_PROTO_V311);
}
Test(interop, mosquitto_pub_to_libmq_v5) { mosquitto_pub_to_libmq(MQ_PROTO_V5); }

Test(interop, mosquitto_pub_v5_properties_to_libmq)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "sub", MQ_PROTO_V5);
    const char *topic = integ_topic("mosprops");

    integ_connect(c);
    integ_subscribe(c, topic, 1);
    char *argv[] = {"mosquitto_pub", "-p", (char *)integ_port_str(b), "-V",
                    "mqttv5", "-t", (char *)topic, "-q", "1", "-m", "p",
                    "-D", "publish", "user-property", "ka", "va",
                    "-D", "publish", "user-property", "kb", "vb",
                    "-D", "publish", "content-type", "text/plain",
                    "-D", "publish", "response-topic", "re/ply",
                    "-D", "publish", "correlation-data", "c0rr",
                    NULL};
    CHECK(mqt_run(argv, 5000, NULL, NULL) == 0, "mosquitto_pub");
    mq_event *ev = integ_wait(c, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    const mq_props *p = mq_event_props(ev);
    CHECK(mq_props_user_count(p) == 2, "user props %zu",
          mq_props_user_count(p));
    CHECK(strcmp(mq_props_user_key(p, 0), "ka") == 0 &&
              strcmp(mq_props_user_value(p, 0), "va") == 0 &&
              strcmp(mq_props_user_key(p, 1), "kb") == 0 &&
              strcmp(mq_props_user_value(p, 1), "vb") == 0,
          "user properties");
    const char *s = mq_props_get_string(p, MQ_PROP_CONTENT_TYPE);
    CHECK(s && strcmp(s, "text/plain") == 0, "content type");
    s = mq_props_get_string(p, MQ_PROP_RESPONSE_TOPIC);
    CHECK(s && strcmp(s, "re/ply") == 0, "response topic");
    size_t n = 0;
    const void *d = mq_props_get_binary(p, MQ_PROP_CORRELATION_DATA, &n);
    CHECK(d && n == 4 && memcmp(d, "c0rr", 4) == 0, "correlation data");
    mq_event_free(ev);
}

/* Spawn mosquitto_sub (extra args) and wait until it has subscribed. */
static mqt_proc *spawn_mosquitto_sub(mqt_broker *b, const char *id,
                                     const char *topic, const char *ver,
                                     const char *count, const char *fmt)
{
    char *argv[24];
    int i = 0;
    argv[i++] = "mosquitto_sub";
    argv[i++] = "-p";
    argv[i++] = (char *)integ_port_str(b);
    argv[i++] = "-V";
    argv[i++] = (char *)ver;
    argv[i++] = "-i";
    argv[i++] = (char *)id;
    argv[i++] = "-t";
    argv[i++] = (char *)topic;
    argv[i++] = "-q";
    argv[i++] = "1";
    argv[i++] = "-C";
    argv[i++] = (char *)count;
    argv[i++] = "-W";
    argv[i++] = "10";
    if (fmt) {
        argv[i++] = "-F";
        argv[i++] = (char *)fmt;
    }
    argv[i] = NULL;
    mqt_proc *p = mqt_spawn(argv);
    CHECK(p != NULL, "spawn mosquitto_sub");
    integ_wait_broker_sub(b, id);
    return p;
}

static void libmq_to_mosquitto_sub(int proto)
{
    enum { N = 20 };
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "pub", proto);
    const char *topic = integ_topic("to-mossub");
    const char *sid = integ_id("mossub");
    char count[8], *out = NULL, want[N * 16] = "";

    snprintf(count, sizeof count, "%d", N);
    mqt_proc *p = spawn_mosquitto_sub(
        b, sid, topic, proto == MQ_PROTO_V5 ? "mqttv5" : "mqttv311", count,
        NULL);
    integ_connect(c);
    for (int i = 0; i < N; i++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "msg-%d", i);
        CHECK_TOKEN(mq_publish(c, topic, buf, (size_t)len, i % 3, 0));
        strcat(want, buf);
        strcat(want, "\n");
    }
    int rc = mqt_proc_finish(p, 15000, &out, NULL);
    CHECK(rc == 0, "mosquitto_sub status %d; got:\n%s", rc, out ? out : "");
    /* mosquitto forwards a QoS 2 message only when PUBREL arrives, so the
     * QoS levels interleave differently: compare the lines as sets. */
    char seen[N] = {0};
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        int i = -1;
        CHECK(sscanf(l, "msg-%d", &i) == 1 && i >= 0 && i < N,
              "bad line \"%s\"", l);
        CHECK(!seen[i], "msg-%d twice", i);
        seen[i] = 1;
    }
    for (int i = 0; i < N; i++)
        CHECK(seen[i], "msg-%d missing; expected:\n%s", i, want);
    free(out);
}

Test(interop, libmq_to_mosquitto_sub_v311)
{
    libmq_to_mosquitto_sub(MQ_PROTO_V311);
}
Test(interop, libmq_to_mosquitto_sub_v5) { libmq_to_mosquitto_sub(MQ_PROTO_V5); }

Test(interop, libmq_v5_properties_to_mosquitto_sub)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "pub", MQ_PROTO_V5);
    const char *topic = integ_topic("props-mossub");
    char *out = NULL, want[256];

    mqt_proc *p = spawn_mosquitto_sub(b, integ_id("mossub"), topic, "mqttv5",
                                      "1", "%t %p %P %C");
    integ_connect(c);
    mq_props *pr = mq_props_new();
    CHECK_RC(mq_props_add_user(pr, "uk", "uv"), MQ_OK);
    CHECK_RC(mq_props_add_string(pr, MQ_PROP_CONTENT_TYPE, "text/x"), MQ_OK);
    CHECK_TOKEN(mq_publish_v5(c, topic, "payload", 7, 1, 0, pr));
    mq_props_free(pr);
    CHECK(mqt_proc_finish(p, 15000, &out, NULL) == 0, "mosquitto_sub");
    snprintf(want, sizeof want, "%s payload uk:uv text/x\n", topic);
    CHECK(strcmp(out, want) == 0, "got \"%s\", expected \"%s\"", out, want);
    free(out);
}

Test(interop, libmq_binary_to_mosquitto_sub)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "pub", MQ_PROTO_V311);
    const char *topic = integ_topic("bin-mossub");
    const char *sid = integ_id("mossub");
    static const unsigned char bin[] = {0, 'a', 0, 0xfe, 0};
    char *out = NULL;
    size_t n = 0;

    char *argv[] = {"mosquitto_sub", "-p", (char *)integ_port_str(b), "-i",
                    (char *)sid, "-t", (char *)topic, "-q", "1", "-C", "1",
                    "-W", "10", "-N", NULL};
    mqt_proc *p = mqt_spawn(argv);
    integ_wait_broker_sub(b, sid);
    integ_connect(c);
    CHECK_TOKEN(mq_publish(c, topic, bin, sizeof bin, 1, 0));
    CHECK(mqt_proc_finish(p, 15000, &out, &n) == 0, "mosquitto_sub");
    CHECK(n == sizeof bin && memcmp(out, bin, n) == 0,
          "binary payload: %zu bytes", n);
    free(out);
}

static void paho_to_libmq(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "sub", proto);
    const char *topic = integ_topic("from-paho");

    integ_connect(c);
    integ_subscribe(c, topic, 1);
    char *argv[] = {"/usr/bin/python3", PAHO, "pub", "--port",
                    (char *)integ_port_str(b), "--id",
                    (char *)integ_id("paho-pub"), "--topic", (char *)topic,
                    "--qos", "1", "--msg", "p1", "--msg", "p2",
                    proto == MQ_PROTO_V5 ? "--v5" : NULL, NULL};
    CHECK(mqt_run(argv, 15000, NULL, NULL) == 0, "paho pub");
    expect_message(c, topic, "p1", 2, 1);
    expect_message(c, topic, "p2", 2, 1);
}

Test(interop, paho_to_libmq_v311) { paho_to_libmq(MQ_PROTO_V311); }
Test(interop, paho_to_libmq_v5) { paho_to_libmq(MQ_PROTO_V5); }

static void libmq_to_paho(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "pub", proto);
    const char *topic = integ_topic("to-paho");
    const char *pid = integ_id("paho-sub");
    char *out = NULL, want[256];

    char *argv[] = {"/usr/bin/python3", PAHO, "sub", "--port",
                    (char *)integ_port_str(b), "--id", (char *)pid,
                    "--topic", (char *)topic, "--qos", "1", "--count", "3",
                    "--timeout", "10", proto == MQ_PROTO_V5 ? "--v5" : NULL,
                    NULL};
    mqt_proc *p = mqt_spawn(argv);
    CHECK(p != NULL, "spawn paho");
    integ_wait_broker_sub(b, pid);
    integ_connect(c);
    for (int i = 0; i < 3; i++) {
        char buf[8];
        int len = snprintf(buf, sizeof buf, "l%d", i);
        int tok = CHECK_TOKEN(mq_publish(c, topic, buf, (size_t)len, 1, 0));
        integ_wait_published(c, tok);
    }
    int rc = mqt_proc_finish(p, 15000, &out, NULL);
    CHECK(rc == 0, "paho sub status %d, output:\n%s", rc, out ? out : "");
    snprintf(want, sizeof want, "%s\t1\t0\tl0\n%s\t1\t0\tl1\n%s\t1\t0\tl2\n",
             topic, topic, topic);
    CHECK(strcmp(out, want) == 0, "paho printed:\n%s", out);
    free(out);
}

Test(interop, libmq_to_paho_v311) { libmq_to_paho(MQ_PROTO_V311); }
Test(interop, libmq_to_paho_v5) { libmq_to_paho(MQ_PROTO_V5); }
