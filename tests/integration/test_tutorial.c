/*
 * test_tutorial.c - integration: the paho-mqtt tutorial's steps, written
 * as a newcomer writes them (examples/tutorial/step*.c), each run as its
 * own process against a real mosquitto; what they deliver is counted by
 * clients we did not write (mosquitto_sub/pub) and compared with
 * paho-mqtt 1.6 where the issue did (retained deliveries over a
 * reconnect). Threading: single-threaded Criterion tests, one process
 * (and broker) each.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integ.h"
#include "tls_broker.h"

INTEG_SUITE(tutorial);

#define PAHO_TUTORIAL INTEG_SRC_DIR "/paho_tutorial.py"

/* Wait until the broker log holds @p needle at least @p n times. */
static void
wait_log_count(mqt_broker *b, const char *needle, int n, int ms)
{
    long long deadline = mqt_now_ms() + ms;
    while (mqt_broker_log_count(b, needle) < n) {
        CHECK(mqt_now_ms() < deadline, "broker logged \"%s\" %d times, "
              "expected %d", needle, mqt_broker_log_count(b, needle), n);
        mqt_sleep_ms(20);
    }
}

static int
count_lines(const char *out, const char *needle)
{
    int n = 0;
    size_t nl = strlen(needle);
    for (const char *p = out ? strstr(out, needle) : NULL; p;
         p = strstr(p + nl, needle))
        n++;
    return n;
}

static void
mosquitto_pub(mqt_broker *b, const char *topic, const char *msg, int retain)
{
    char *argv[] = {"mosquitto_pub", "-p", (char *)integ_port_str(b), "-t",
                    (char *)topic, "-q", "1", "-m", (char *)msg,
                    retain ? "-r" : NULL, NULL};
    CHECK(mqt_run(argv, 10000, NULL, NULL) == 0, "mosquitto_pub %s", msg);
}

/* The retained value of @p topic, read by mosquitto_sub (malloc'd). */
static char *
retained_value(mqt_broker *b, const char *topic)
{
    char *argv[] = {"mosquitto_sub", "-p", (char *)integ_port_str(b), "-t",
                    (char *)topic, "-C", "1", "-W", "5", NULL};
    char *out = NULL;
    int st = mqt_run(argv, 10000, &out, NULL);
    CHECK(st == 0, "mosquitto_sub for the retained %s exited %d", topic, st);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

/* ---- step 1: connect, publish, disconnect (x20) ------------------------ */

/* The issue's measurement: the program run 20 times in a row, each
 * message counted by mosquitto_sub. 20 of 20 must arrive. */
static void
step1_loop(int qos)
{
    enum { RUNS = 20 };
    mqt_broker *b = integ_broker(NULL);
    const char *topic = integ_topic("step1");
    const char *sid = integ_id("msub");
    char qs[4], count[8], *out = NULL;
    mqt_proc *sub;

    snprintf(qs, sizeof qs, "%d", qos);
    snprintf(count, sizeof count, "%d", RUNS);
    {
        char *argv[] = {"mosquitto_sub", "-p", (char *)integ_port_str(b),
                        "-i", (char *)sid, "-t", (char *)topic, "-q", "2",
                        "-C", count, "-W", "50", NULL};
        sub = mqt_spawn(argv);
    }
    CHECK(sub != NULL, "spawn mosquitto_sub");
    integ_wait_broker_sub(b, sid);
    for (int i = 0; i < RUNS; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "hello %d", i);
        char *argv[] = {STEP1, (char *)mqt_broker_uri(b), (char *)topic, qs,
                        msg, NULL};
        CHECK(mqt_run(argv, 15000, NULL, NULL) == 0, "step1 run %d", i);
    }
    int st = mqt_proc_finish(sub, 15000, &out, NULL);
    int got = count_lines(out, "hello ");
    CHECK(st == 0 && got == RUNS, "mosquitto_sub got %d of %d (status %d): "
          "%s", got, RUNS, st, out ? out : "");
    for (int i = 0; i < RUNS; i++) {
        char line[32];
        snprintf(line, sizeof line, "hello %d\n", i);
        CHECK(strstr(out, line) != NULL, "missing \"hello %d\"", i);
    }
    free(out);
}

Test(tutorial, step1_publish_qos0_20_of_20) { step1_loop(0); }
Test(tutorial, step1_publish_qos1_20_of_20) { step1_loop(1); }
Test(tutorial, step1_publish_qos2_20_of_20) { step1_loop(2); }

/* The broker is not there: the program still ends (within the disconnect
 * timeout) and says nothing was delivered. */
Test(tutorial, step1_without_broker_ends)
{
    char *argv[] = {STEP1, "mqtt://127.0.0.1:1", "t", "1", "x", NULL};
    long long t0 = mqt_now_ms();
    mqt_proc *p = mqt_spawn(argv);
    int st;

    CHECK(p != NULL, "spawn");
    st = mqt_proc_finish(p, 20000, NULL, NULL);
    CHECK(st == 0, "step1 exit status %d", st);
    CHECK(mqt_now_ms() - t0 < 12000, "took %lld ms", mqt_now_ms() - t0);
}

/* ---- step 2: subscribe, on_message, loop_start/loop_stop -------------- */

Test(tutorial, step2_subscribe_loop_start)
{
    mqt_broker *b = integ_broker(NULL);
    const char *topic = integ_topic("step2");
    char filter[160], *out = NULL;
    mqt_proc *p;

    snprintf(filter, sizeof filter, "%s/#", topic);
    {
        char *argv[] = {STEP2, (char *)mqt_broker_uri(b), filter, "3", NULL};
        p = mqt_spawn(argv);
    }
    CHECK(p != NULL, "spawn step2");
    wait_log_count(b, "Received SUBSCRIBE from", 1, 10000);
    for (int i = 0; i < 3; i++) {
        char t[200], m[16];
        snprintf(t, sizeof t, "%s/n%d", topic, i);
        snprintf(m, sizeof m, "m%d", i);
        mosquitto_pub(b, t, m, 0);
    }
    int st = mqt_proc_finish(p, 15000, &out, NULL);
    CHECK(st == 0, "step2 exit status %d: %s", st, out ? out : "");
    for (int i = 0; i < 3; i++) {
        char line[200];
        snprintf(line, sizeof line, "%s/n%d m%d\n", topic, i, i);
        CHECK(strstr(out, line) != NULL, "missing \"%s\" in: %s", line, out);
    }
    free(out);
}

/* ---- step 3: loop_forever, loop, loop_start ---------------------------- */

static void
step3(const char *mode)
{
    mqt_broker *b = integ_broker(NULL);
    const char *topic = integ_topic("step3");
    char *out = NULL;
    mqt_proc *p;

    {
        char *argv[] = {STEP3, (char *)mqt_broker_uri(b), (char *)mode,
                        (char *)topic, "3", NULL};
        p = mqt_spawn(argv);
    }
    CHECK(p != NULL, "spawn step3");
    wait_log_count(b, "Received SUBSCRIBE from", 1, 10000);
    mosquitto_pub(b, topic, "one", 0);
    mosquitto_pub(b, topic, "two", 0);
    mosquitto_pub(b, topic, "three", 0);
    int st = mqt_proc_finish(p, 15000, &out, NULL);
    CHECK(st == 0, "step3 %s exit status %d: %s", mode, st, out ? out : "");
    CHECK(count_lines(out, "connected (reason 0)") == 1, "%s", out);
    CHECK(count_lines(out, "subscribed (granted QoS 1)") == 1, "%s", out);
    CHECK(count_lines(out, " one\n") == 1 && count_lines(out, " two\n") == 1
          && count_lines(out, " three\n") == 1, "%s", out);
    CHECK(count_lines(out, "disconnected (success)") == 1, "%s", out);
    free(out);
}

Test(tutorial, step3_loop_forever) { step3("forever"); }
Test(tutorial, step3_loop) { step3("loop"); }
Test(tutorial, step3_loop_start) { step3("start"); }

/* ---- step 4: on_connect/on_disconnect, reconnect across a restart ----- */

/* A retained message, a subscriber that subscribes in on_connect (the
 * tutorial's advice), and a broker restart (persistence on, so the
 * retained message stays): run the program @p argv (client id @p id) over
 * it, end it with "quit", return its output. */
static char *
restart_scenario(mqt_broker *b, const char *topic, char *const argv[],
                 const char *id)
{
    char sub[128], pub[128], *out = NULL;
    mqt_proc *p;

    snprintf(sub, sizeof sub, "Received SUBSCRIBE from %s", id);
    snprintf(pub, sizeof pub, "Sending PUBLISH to %s", id);
    mosquitto_pub(b, topic, "r1", 1);
    p = mqt_spawn(argv);
    CHECK(p != NULL, "spawn %s", argv[0]);
    wait_log_count(b, sub, 1, 10000);
    wait_log_count(b, pub, 1, 10000);
    CHECK(mqt_broker_stop(b, 5000) == 0, "broker stop");
    CHECK(mqt_broker_restart(b) == 0, "broker restart");
    wait_log_count(b, sub, 2, 20000);
    wait_log_count(b, pub, 2, 10000);
    mqt_sleep_ms(500); /* room for a duplicate SUBSCRIBE to show */
    mosquitto_pub(b, topic, "quit", 0);
    int st = mqt_proc_finish(p, 15000, &out, NULL);
    CHECK(st == 0, "%s exit status %d: %s", argv[0], st, out ? out : "");
    CHECK(count_lines(out, "connected (reason 0") == 2, "%s", out);
    CHECK(count_lines(out, "reconnecting") >= 1, "%s", out);
    return out;
}

/* Before the fix libmq resubscribed by itself *and* sent the
 * application's SUBSCRIBE: 3 deliveries for paho's 2. */
Test(tutorial, step4_reconnect_one_retained_delivery_per_connection,
     .timeout = 90)
{
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    const char *topic = integ_topic("step4");
    char *argv[] = {STEP4, (char *)mqt_broker_uri(b), (char *)topic, NULL};
    char *out = restart_scenario(b, topic, argv, "tutorial-step4");
    int n = count_lines(out, " r1 (retained)");

    CHECK(n == 2, "retained delivered %d times over one reconnect (paho: "
          "2): %s", n, out);
    CHECK(mqt_broker_log_count(b, "Received SUBSCRIBE from tutorial-step4")
          == 2, "%d SUBSCRIBEs for 2 connections",
          mqt_broker_log_count(b, "Received SUBSCRIBE from tutorial-step4"));
    free(out);
}

/* paho-mqtt 1.6 in the same scenario (the reference the issue measured). */
Test(tutorial, step4_paho_reference, .timeout = 90)
{
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    const char *topic = integ_topic("step4p");
    char *argv[] = {"/usr/bin/python3", PAHO_TUTORIAL, "step4", "--port",
                    (char *)integ_port_str(b), "--topic", (char *)topic,
                    NULL};
    char *out = restart_scenario(b, topic, argv, "paho-step4");

    CHECK(count_lines(out, " r1 (retained)") == 2,
          "paho: retained delivered %d times: %s",
          count_lines(out, " r1 (retained)"), out);
    free(out);
}

/* ---- step 5: persistent session, QoS 1, Last Will on SIGKILL ---------- */

Test(tutorial, step5_will_on_sigkill_and_session_kept, .timeout = 90)
{
    mqt_broker *b = integ_broker(NULL);
    char *out = NULL, *v;
    mqt_proc *p;
    long long deadline;
    char *argv[] = {STEP5, (char *)mqt_broker_uri(b), NULL};

    p = mqt_spawn(argv);
    CHECK(p != NULL, "spawn step5");
    wait_log_count(b, "Received SUBSCRIBE from home-sensor", 1, 10000);
    deadline = mqt_now_ms() + 10000;
    for (;;) {
        v = retained_value(b, "home/status");
        if (strcmp(v, "online") == 0)
            break;
        CHECK(mqt_now_ms() < deadline, "home/status is \"%s\"", v);
        free(v);
        mqt_sleep_ms(50);
    }
    free(v);
    /* the process dies without a word: the broker publishes the Will */
    CHECK(kill(mqt_proc_pid(p), SIGKILL) == 0, "kill");
    CHECK(mqt_proc_finish(p, 5000, NULL, NULL) == 128 + SIGKILL, "status");
    deadline = mqt_now_ms() + 10000;
    for (;;) {
        v = retained_value(b, "home/status");
        if (strcmp(v, "offline") == 0)
            break;
        CHECK(mqt_now_ms() < deadline, "home/status is \"%s\" after kill",
              v);
        free(v);
        mqt_sleep_ms(50);
    }
    free(v);
    /* a command while it is away waits in its session (QoS 1) */
    mosquitto_pub(b, "home/cmd", "light on", 0);
    p = mqt_spawn(argv);
    CHECK(p != NULL, "spawn step5 again");
    wait_log_count(b, "Received SUBSCRIBE from home-sensor", 2, 10000);
    mosquitto_pub(b, "home/cmd", "quit", 0);
    int st = mqt_proc_finish(p, 15000, &out, NULL);
    CHECK(st == 0, "step5 exit status %d: %s", st, out ? out : "");
    CHECK(strstr(out, "connected (session present 1)") != NULL, "%s", out);
    CHECK(count_lines(out, "command light on\n") == 1, "%s", out);
    CHECK(strstr(out, "command light on\ncommand quit\n") != NULL, "%s", out);
    v = retained_value(b, "home/status");
    CHECK(strcmp(v, "offline") == 0, "home/status is \"%s\" after quit", v);
    free(v);
    free(out);
}

/* ---- step 6: TLS with host name verification --------------------------- */
#ifdef TUTORIAL_TLS

Test(tutorial, step6_tls_hostname_verified_and_wrong_name_refused)
{
    char certs[256], ca[300], uri[64], *out = NULL;
    mqt_tls_broker good = {0}, wrong = {0};
    int st;

    CHECK(mqt_tls_make_certs(certs, sizeof certs) == 0, "certificates");
    snprintf(ca, sizeof ca, "%s/ca.crt", certs);
    CHECK(mqt_tls_broker_start(&good, certs, "server", MQT_TLS_LISTENER_TLS)
          == 0, "TLS broker");
    CHECK(mqt_tls_broker_start(&wrong, certs, "wronghost",
                               MQT_TLS_LISTENER_TLS) == 0, "TLS broker 2");
    snprintf(uri, sizeof uri, "mqtts://localhost:%d", good.port);
    {
        char *argv[] = {STEP6, uri, ca, NULL};
        st = mqt_run(argv, 20000, &out, NULL);
    }
    CHECK(st == 0, "step6 against localhost: status %d: %s", st,
          out ? out : "");
    CHECK(strstr(out, "connected over TLS\npublish: success\n") != NULL,
          "%s", out);
    free(out);
    out = NULL;
    snprintf(uri, sizeof uri, "mqtts://localhost:%d", wrong.port);
    {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "exec '%s' '%s' '%s' 2>&1", STEP6, uri, ca);
        char *argv[] = {"/bin/sh", "-c", cmd, NULL};
        mqt_proc *p = mqt_spawn(argv);
        CHECK(p != NULL, "spawn");
        st = mqt_proc_finish(p, 20000, &out, NULL);
    }
    CHECK(st == 1, "a certificate for another name was accepted: %d: %s",
          st, out ? out : "");
    CHECK(strstr(out, "connect failed: TLS error") != NULL &&
          strstr(out, "connected over TLS") == NULL, "%s", out);
    free(out);
    mqt_tls_broker_stop(&good);
    mqt_tls_broker_stop(&wrong);
    mqt_tls_rmdir(certs);
}
#endif /* TUTORIAL_TLS */
