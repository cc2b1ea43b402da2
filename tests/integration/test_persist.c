/*
 * test_persist.c - crash safety of the persistence store, end to end: a
 * publisher (persist_child) is killed with SIGKILL at random moments, many
 * times, and restarted with the same client id and directory. A subscriber
 * connected to the same mosquitto counts deliveries: every message whose
 * mq_publish() succeeded must arrive, QoS 1 at least once and QoS 2 exactly
 * once. And the exactly-once recipe (mq_publish_tagged, MQ_EVENT_RECOVERED)
 * of an application that is itself killed (recipe_child).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "integ.h"

#ifndef PERSIST_CHILD
#define PERSIST_CHILD "./persist_child"
#endif
#ifndef RECIPE_CHILD
#define RECIPE_CHILD "./recipe_child"
#endif

#define ROUND_COUNT 3000
#define MAX_MSGS 100000

INTEG_SUITE(persist);

static unsigned char accepted[MAX_MSGS];
static unsigned short delivered[MAX_MSGS];

/* Run one child; kill it after kill_ms (or let it finish when < 0). Reads
 * the indexes it accepted. Returns its wait status. */
static int
run_child(const char *uri, const char *dir, const char *id,
          const char *topic, long first, long count, int kill_ms)
{
    int fds[2];
    pid_t pid;
    char a_first[24], a_count[24], buf[4096], part[32] = "";
    size_t plen = 0;
    int status = 0;
    long long deadline;

    CHECK(pipe(fds) == 0, "pipe");
    snprintf(a_first, sizeof a_first, "%ld", first);
    snprintf(a_count, sizeof a_count, "%ld", count);
    pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(PERSIST_CHILD, "persist_child", uri, dir, id, topic, a_first,
              a_count, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    deadline = mqt_now_ms() + (kill_ms >= 0 ? kill_ms : 30000);
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++) {
                if (buf[i] == '\n') {
                    part[plen] = '\0';
                    long v = atol(part);
                    if (v >= 0 && v < MAX_MSGS)
                        accepted[v] = 1;
                    plen = 0;
                } else if (plen < sizeof part - 1) {
                    part[plen++] = buf[i];
                }
            }
            continue;
        }
        if (n == 0)
            break; /* child exited */
        if (mqt_now_ms() >= deadline) {
            if (kill_ms >= 0)
                kill(pid, SIGKILL);
            else
                kill(pid, SIGKILL); /* hung: fail below */
            /* drain what it wrote before dying */
            fcntl(fds[0], F_SETFL, 0);
            while ((n = read(fds[0], buf, sizeof buf)) > 0)
                for (ssize_t i = 0; i < n; i++) {
                    if (buf[i] == '\n') {
                        part[plen] = '\0';
                        long v = atol(part);
                        if (v >= 0 && v < MAX_MSGS)
                            accepted[v] = 1;
                        plen = 0;
                    } else if (plen < sizeof part - 1) {
                        part[plen++] = buf[i];
                    }
                }
            break;
        }
        mqt_sleep_ms(2);
    }
    close(fds[0]);
    waitpid(pid, &status, 0);
    return status;
}

static void
drain(mq_client *sub, int ms)
{
    mq_event *ev;

    while ((ev = mq_next_event(sub, ms)) != NULL) {
        if (mq_event_type(ev) == MQ_EVENT_MESSAGE) {
            size_t len;
            const char *p = mq_event_payload(ev, &len);
            char tmp[32];
            if (len < sizeof tmp) {
                memcpy(tmp, p, len);
                tmp[len] = '\0';
                long v = atol(tmp);
                if (v >= 0 && v < MAX_MSGS && delivered[v] < 60000)
                    delivered[v]++;
            }
        }
        mq_event_free(ev);
        ms = 0;
    }
}

Test(persist, kill9_many_times_no_loss_no_qos2_duplicates, .timeout = 300)
{
    mqt_broker_opts bo = {0};
    mqt_broker *b;
    mq_client *sub;
    char dir[] = "/tmp/mqt-persist-XXXXXX";
    char uri[64];
    const char *topic = integ_topic("crash");
    const char *pubid = integ_id("crashpub");
    long next = 0;
    int rounds = 12, r, st;
    long missing = 0, dup2 = 0, total = 0;

    bo.extra_conf = "max_queued_messages 0\n";
    b = integ_broker(&bo);
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(uri, sizeof uri, "mqtt://127.0.0.1:%s", integ_port_str(b));
    srand((unsigned)getpid());

    sub = integ_client(b, "crashsub", MQ_PROTO_V5);
    CHECK_RC(mq_set_int(sub, MQ_OPT_MAX_EVENTS, 1000000), MQ_OK);
    integ_connect(sub);
    integ_subscribe(sub, topic, 2);

    for (r = 0; r < rounds; r++) {
        int kill_ms = 30 + rand() % 400;
        run_child(uri, dir, pubid, topic, next, ROUND_COUNT, kill_ms);
        next += ROUND_COUNT;
        drain(sub, 0);
    }
    /* a last run that finishes: it resends everything still stored */
    st = run_child(uri, dir, pubid, topic, next, 10, -1);
    next += 10;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "final publisher did not finish cleanly (status %d)", st);

    /* wait for the deliveries to settle: by the clock (20 s), not by a
     * count of drain calls (each returns as soon as the queue is empty, so
     * 100 of them could end in ~160 ms while messages were still coming) */
    for (long long until = mqt_now_ms() + 20000; mqt_now_ms() < until;) {
        long miss = 0;
        drain(sub, 100);
        for (long k = 0; k < next; k++)
            if (accepted[k] && delivered[k] == 0)
                miss++;
        if (miss == 0)
            break;
    }
    for (long k = 0; k < next; k++) {
        if (!accepted[k])
            continue;
        total++;
        if (delivered[k] == 0)
            missing++;
        else if ((k & 1) && delivered[k] > 1)
            dup2++;
    }
    cr_log_info("accepted %ld messages over %d kills: %ld missing, %ld QoS 2 "
                "duplicates", total, rounds, missing, dup2);
    CHECK(total > 0, "no message was accepted at all");
    CHECK(missing == 0, "%ld of %ld accepted messages never arrived",
          missing, total);
    CHECK(dup2 == 0, "%ld QoS 2 messages arrived more than once", dup2);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) {
            /* best effort */
        }
    }
}

/* The exactly-once recipe of docs/guide/persistence.md across kill -9:
 * recipe_child notes "pending" before mq_publish_tagged() and "done" when
 * the PUBLISHED event arrives (before freeing it); after a restart it
 * republishes a pending message only if no MQ_EVENT_RECOVERED named it.
 * Every message arrives exactly once (all QoS 2), however the kills fall. */
Test(persist, exactly_once_recipe_across_kill9, .timeout = 300)
{
    mqt_broker_opts bo = {0};
    mqt_broker *b;
    mq_client *sub;
    char dir[] = "/tmp/mqt-recipe-XXXXXX", state[64], uri[64], total_s[16];
    const char *topic = integ_topic("recipe");
    const char *pubid = integ_id("recipepub");
    const long total = 2000;
    long missing = 0, dups = 0, skipped = 0;
    int r, rounds = 10, st = -1;

    bo.extra_conf = "max_queued_messages 0\n";
    b = integ_broker(&bo);
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(state, sizeof state, "%s/app-state", dir);
    snprintf(uri, sizeof uri, "mqtt://127.0.0.1:%s", integ_port_str(b));
    snprintf(total_s, sizeof total_s, "%ld", total);
    srand((unsigned)getpid());
    sub = integ_client(b, "recipesub", MQ_PROTO_V5);
    CHECK_RC(mq_set_int(sub, MQ_OPT_MAX_EVENTS, 1000000), MQ_OK);
    integ_connect(sub);
    integ_subscribe(sub, topic, 2);

    for (r = 0; r <= rounds; r++) {
        char *argv[] = {RECIPE_CHILD, uri, dir, (char *)pubid,
                        (char *)topic, state, total_s, NULL};
        char *out = NULL;
        mqt_proc *p = mqt_spawn(argv);
        CHECK(p != NULL, "spawn recipe_child");
        if (r < rounds) {
            mqt_sleep_ms(30 + rand() % 400);
            kill(mqt_proc_pid(p), SIGKILL);
        }
        st = mqt_proc_finish(p, 60000, &out, NULL);
        if (out != NULL && strncmp(out, "skipped ", 8) == 0)
            skipped += atol(out + 8);
        free(out);
        drain(sub, 0);
    }
    CHECK(st == 0, "the last run did not finish cleanly (status %d)", st);
    for (int i = 0; i < 100; i++) {
        long miss = 0;
        drain(sub, 100);
        for (long k = 0; k < total; k++)
            miss += delivered[k] == 0;
        if (miss == 0)
            break;
    }
    drain(sub, 500);
    for (long k = 0; k < total; k++) {
        missing += delivered[k] == 0;
        dups += delivered[k] > 1;
    }
    cr_log_info("%ld messages over %d kills: %ld missing, %ld duplicates; "
                "%ld recovered messages a naive restart would have "
                "published again", total, rounds, missing, dups, skipped);
    CHECK(missing == 0, "%ld of %ld messages never arrived", missing, total);
    CHECK(dups == 0, "%ld messages arrived more than once", dups);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) {
            /* best effort */
        }
    }
}
