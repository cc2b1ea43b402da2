/*
 * test_harness.c - proves the broker harness (tests/support/broker.c) with
 * mosquitto_pub, mosquitto_sub and paho-mqtt only; does not use libmq.
 * Threading: single-threaded Criterion tests, one process per test.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"

#ifndef INTEG_SRC_DIR
#define INTEG_SRC_DIR "."
#endif

static void fini(void)
{
    mqt_cleanup_all();
}

TestSuite(harness, .fini = fini, .timeout = 60);

#define H_ASSERT(cond, ...)                                                \
    do {                                                                   \
        if (!(cond)) {                                                     \
            mqt_dump_all_logs();                                           \
            cr_assert_fail(__VA_ARGS__);                                   \
        }                                                                  \
    } while (0)

static char *portstr(mqt_broker *b)
{
    static char buf[16];
    snprintf(buf, sizeof buf, "%d", mqt_broker_port(b));
    return buf;
}

Test(harness, start_stop)
{
    mqt_broker *b = mqt_broker_start(NULL);
    char uri[64];
    pid_t pid;

    cr_assert_not_null(b, "broker did not start");
    cr_assert_gt(mqt_broker_port(b), 0);
    snprintf(uri, sizeof uri, "mqtt://127.0.0.1:%d", mqt_broker_port(b));
    cr_assert_str_eq(mqt_broker_uri(b), uri);
    cr_assert(mqt_broker_running(b));
    pid = mqt_broker_pid(b);
    cr_assert_eq(kill(pid, 0), 0);
    H_ASSERT(mqt_broker_stop(b, 5000) == 0, "SIGTERM stop was not clean");
    cr_assert(!mqt_broker_running(b));
    cr_assert_neq(kill(pid, 0), 0, "pid %d still exists", (int)pid);
    mqt_broker_destroy(b);
}

Test(harness, several_brokers_distinct_ports)
{
    mqt_broker *b[3];
    for (int i = 0; i < 3; i++) {
        b[i] = mqt_broker_start(NULL);
        cr_assert_not_null(b[i]);
    }
    cr_assert_neq(mqt_broker_port(b[0]), mqt_broker_port(b[1]));
    cr_assert_neq(mqt_broker_port(b[1]), mqt_broker_port(b[2]));
    cr_assert_neq(mqt_broker_port(b[0]), mqt_broker_port(b[2]));
    /* the other two are left to the .fini cleanup on purpose */
    mqt_broker_destroy(b[1]);
}

Test(harness, pub_sub_with_mosquitto_clients)
{
    mqt_broker *b = mqt_broker_start(NULL);
    char topic[64], id[64], *out = NULL;
    mqt_proc *sub;

    cr_assert_not_null(b);
    snprintf(topic, sizeof topic, "harness/%d/ps", (int)getpid());
    snprintf(id, sizeof id, "hsub-%d", (int)getpid());
    char *sargv[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", portstr(b),
                     "-i", id, "-t", topic, "-q", "1", "-C", "3", "-W",
                     "10", NULL};
    sub = mqt_spawn(sargv);
    cr_assert_not_null(sub);
    char needle[96];
    snprintf(needle, sizeof needle, "Received SUBSCRIBE from %s", id);
    H_ASSERT(mqt_broker_wait_log(b, needle, 5000), "no SUBSCRIBE in log");
    const char *msgs[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        char *pargv[] = {"mosquitto_pub", "-h", "127.0.0.1", "-p",
                         portstr(b), "-t", topic, "-q", "1", "-m",
                         (char *)msgs[i], NULL};
        H_ASSERT(mqt_run(pargv, 5000, NULL, NULL) == 0, "mosquitto_pub");
    }
    int rc = mqt_proc_finish(sub, 10000, &out, NULL);
    H_ASSERT(rc == 0, "mosquitto_sub status %d", rc);
    cr_assert_str_eq(out, "one\ntwo\nthree\n");
    free(out);
}

Test(harness, v5_user_property_via_mosquitto_clients)
{
    mqt_broker *b = mqt_broker_start(NULL);
    char topic[64], id[64], needle[96], *out = NULL;

    cr_assert_not_null(b);
    snprintf(topic, sizeof topic, "harness/%d/v5", (int)getpid());
    snprintf(id, sizeof id, "hsub5-%d", (int)getpid());
    char *sargv[] = {"mosquitto_sub", "-p", portstr(b), "-V", "mqttv5", "-i",
                     id, "-t", topic, "-C", "1", "-W", "10", "-F",
                     "%t %p %P", NULL};
    mqt_proc *sub = mqt_spawn(sargv);
    snprintf(needle, sizeof needle, "Received SUBSCRIBE from %s", id);
    H_ASSERT(mqt_broker_wait_log(b, needle, 5000), "no SUBSCRIBE in log");
    char *pargv[] = {"mosquitto_pub", "-p", portstr(b), "-V", "mqttv5", "-t",
                     topic, "-m", "hello", "-D", "publish", "user-property",
                     "k", "v", NULL};
    H_ASSERT(mqt_run(pargv, 5000, NULL, NULL) == 0, "mosquitto_pub");
    cr_assert_eq(mqt_proc_finish(sub, 10000, &out, NULL), 0);
    char want[128];
    snprintf(want, sizeof want, "%s hello k:v\n", topic);
    cr_assert_str_eq(out, want);
    free(out);
}

Test(harness, deny_anonymous_refuses)
{
    mqt_broker_opts o = {.deny_anonymous = 1};
    mqt_broker *b = mqt_broker_start(&o);
    char *out = NULL;

    cr_assert_not_null(b);
    char *pargv[] = {"mosquitto_pub", "-p", portstr(b), "-t", "x", "-m",
                     "y", NULL};
    mqt_proc *p = mqt_spawn(pargv);
    int rc = mqt_proc_finish(p, 5000, &out, NULL);
    cr_assert_neq(rc, 0, "anonymous publish should be refused");
    cr_assert_neq(rc, -1, "mosquitto_pub hung");
    free(out);
}

Test(harness, persistence_survives_restart)
{
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = mqt_broker_start(&o);
    char topic[64], id[64], *out = NULL;
    int port;

    cr_assert_not_null(b);
    port = mqt_broker_port(b);
    snprintf(topic, sizeof topic, "harness/%d/persist", (int)getpid());
    snprintf(id, sizeof id, "hpers-%d", (int)getpid());
    /* create a persistent session with a QoS 1 subscription, then leave */
    char *s1[] = {"mosquitto_sub", "-p", portstr(b), "-i", id, "-c", "-q",
                  "1", "-t", topic, "-E", NULL};
    H_ASSERT(mqt_run(s1, 5000, NULL, NULL) == 0, "mosquitto_sub -E");
    char *pargv[] = {"mosquitto_pub", "-p", portstr(b), "-t", topic, "-q",
                     "1", "-m", "kept", NULL};
    H_ASSERT(mqt_run(pargv, 5000, NULL, NULL) == 0, "mosquitto_pub");
    H_ASSERT(mqt_broker_stop(b, 5000) == 0, "stop");
    struct stat st;
    char db[512];
    snprintf(db, sizeof db, "%s/mosquitto.db", mqt_broker_dir(b));
    H_ASSERT(stat(db, &st) == 0, "no %s after stop", db);
    H_ASSERT(mqt_broker_restart(b) == 0, "restart");
    cr_assert_eq(mqt_broker_port(b), port);
    char *s2[] = {"mosquitto_sub", "-p", portstr(b), "-i", id, "-c", "-q",
                  "1", "-t", topic, "-C", "1", "-W", "5", NULL};
    H_ASSERT(mqt_run(s2, 8000, &out, NULL) == 0, "mosquitto_sub after restart");
    cr_assert_str_eq(out, "kept\n");
    free(out);
}

Test(harness, kill9_and_restart)
{
    mqt_broker *b = mqt_broker_start(NULL);
    cr_assert_not_null(b);
    pid_t pid = mqt_broker_pid(b);
    cr_assert_eq(mqt_broker_kill9(b), 0);
    cr_assert(!mqt_broker_running(b));
    cr_assert_neq(kill(pid, 0), 0);
    H_ASSERT(mqt_broker_restart(b) == 0, "restart after kill -9");
    cr_assert(mqt_broker_running(b));
    char *pargv[] = {"mosquitto_pub", "-p", portstr(b), "-t", "k9", "-m",
                     "alive", NULL};
    H_ASSERT(mqt_run(pargv, 5000, NULL, NULL) == 0, "publish after restart");
}

Test(harness, run_timeout_kills)
{
    char *argv[] = {"sleep", "10", NULL};
    long long t0 = mqt_now_ms();
    int rc = mqt_run(argv, 300, NULL, NULL);
    cr_assert_eq(rc, -1);
    cr_assert_lt(mqt_now_ms() - t0, 3000);
}

Test(harness, run_captures_stdout_and_status)
{
    char *out = NULL;
    size_t len = 0;
    char *argv[] = {"sh", "-c", "printf 'a\\0b'; exit 3", NULL};
    cr_assert_eq(mqt_run(argv, 5000, &out, &len), 3);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(out, "a\0b", 3), 0);
    free(out);
}

Test(harness, paho_python_both_ways)
{
    mqt_broker *b = mqt_broker_start(NULL);
    char topic[64], id[64], needle[96], *out = NULL;
    const char *script = INTEG_SRC_DIR "/paho_client.py";

    cr_assert_not_null(b);
    snprintf(topic, sizeof topic, "harness/%d/paho", (int)getpid());
    snprintf(id, sizeof id, "hpaho-%d", (int)getpid());
    /* paho sub <- mosquitto_pub */
    char *sargv[] = {"/usr/bin/python3", (char *)script, "sub", "--port",
                     portstr(b), "--id", id, "--topic", topic, "--qos", "1",
                     "--count", "2", "--timeout", "10", NULL};
    mqt_proc *sub = mqt_spawn(sargv);
    snprintf(needle, sizeof needle, "Received SUBSCRIBE from %s", id);
    H_ASSERT(mqt_broker_wait_log(b, needle, 8000), "paho did not subscribe");
    char *pargv[] = {"mosquitto_pub", "-p", portstr(b), "-t", topic, "-q",
                     "1", "-m", "m1", NULL};
    H_ASSERT(mqt_run(pargv, 5000, NULL, NULL) == 0, "pub 1");
    pargv[8] = "m2";
    H_ASSERT(mqt_run(pargv, 5000, NULL, NULL) == 0, "pub 2");
    int rc = mqt_proc_finish(sub, 10000, &out, NULL);
    H_ASSERT(rc == 0, "paho sub status %d", rc);
    char want[256];
    snprintf(want, sizeof want, "%s\t1\t0\tm1\n%s\t1\t0\tm2\n", topic, topic);
    cr_assert_str_eq(out, want);
    free(out);

    /* paho pub -> mosquitto_sub */
    char sid[64];
    snprintf(sid, sizeof sid, "hmsub-%d", (int)getpid());
    char *s2[] = {"mosquitto_sub", "-p", portstr(b), "-i", sid, "-t", topic,
                  "-q", "1", "-C", "1", "-W", "10", NULL};
    sub = mqt_spawn(s2);
    snprintf(needle, sizeof needle, "Received SUBSCRIBE from %s", sid);
    H_ASSERT(mqt_broker_wait_log(b, needle, 5000), "no SUBSCRIBE");
    char pid_id[64];
    snprintf(pid_id, sizeof pid_id, "hpahopub-%d", (int)getpid());
    char *p2[] = {"/usr/bin/python3", (char *)script, "pub", "--port",
                  portstr(b), "--id", pid_id, "--topic", topic, "--qos", "1",
                  "--msg", "from-paho", NULL};
    H_ASSERT(mqt_run(p2, 10000, NULL, NULL) == 0, "paho pub");
    cr_assert_eq(mqt_proc_finish(sub, 10000, &out, NULL), 0);
    cr_assert_str_eq(out, "from-paho\n");
    free(out);
}
