/*
 * test_verdict.c - the chaos verdict (verdict.c) on hand-made logs: one
 * message for each attribution rule, in a broker log written the way
 * mosquitto 2.0.11 writes it with log_type all, plus the harness markers.
 * Plain main(); exit 1 on the first wrong count.
 *
 * Threading: main thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "verdict.h"

static char g_dir[] = "/tmp/mq-verdict-XXXXXX";
static int g_bad;

/* Write the NULL-terminated pieces to g_dir/name; path gets its name. */
static void
put(const char *name, const char *const *text, char *path, size_t cap)
{
    FILE *f;

    snprintf(path, cap, "%s/%s", g_dir, name);
    f = fopen(path, "w");
    for (; f != NULL && *text != NULL; text++)
        if (fputs(*text, f) < 0)
            break;
    if (f == NULL || *text != NULL || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

#define EXPECT(what, got, want)                                           \
    do {                                                                  \
        if ((long)(got) != (long)(want)) {                                \
            fprintf(stderr, "%s: got %ld, want %ld\n", what, (long)(got), \
                    (long)(want));                                        \
            g_bad = 1;                                                    \
        }                                                                 \
    } while (0)

#define T "12:00:00: "
#define PUB(d, q, m, seq)                                                 \
    T "Received PUBLISH from pid (d" #d ", q" #q ", r0, m" #m             \
      ", 'chaos/p/" #seq "', ... (10 bytes))\n"
#define FWD(d, q, m, seq)                                                 \
    T "Sending PUBLISH to sid (d" #d ", q" #q ", r0, m" #m                \
      ", 'chaos/p/" #seq "', ... (10 bytes))\n"
/* a QoS 2 message from the publisher through to the subscriber */
#define Q2(m, sm, seq)                                                    \
    PUB(0, 2, m, seq) T "Sending PUBREC to pid (m" #m ", rc0)\n"          \
    T "Received PUBREL from pid (Mid: " #m ")\n" FWD(0, 2, sm, seq)        \
    T "Sending PUBCOMP to pid (m" #m ")\n"
#define Q1(m, sm, seq)                                                    \
    PUB(0, 1, m, seq) FWD(0, 1, sm, seq) T "Sending PUBACK to pid (m" #m  \
    ", rc0)\n"

static const char *const broker_log[] = {
    "=== [mqt-harness] starting broker on port 1 ===\n",
    T "mosquitto version 2.0.11 running\n",
    "=== [chaos] start sid 1 ===\n",
    T "New client connected from 127.0.0.1:1 as sid (p5, c0, k2).\n",
    "=== [chaos] start pid 1 ===\n",
    T "New client connected from 127.0.0.1:2 as pid (p5, c0, k2).\n",
    /* 0: delivered */
    Q1(1, 100, 0) T "Received PUBACK from sid (Mid: 100, RC:0)\n",
    /* 2: acknowledged by the subscriber, which is then killed */
    Q1(3, 102, 2) T "Received PUBACK from sid (Mid: 102, RC:0)\n",
    /* 7: the broker sends it again after the subscriber's PUBREC */
    Q2(8, 107, 7) T "Received PUBREC from sid (Mid: 107)\n",
    FWD(1, 2, 107, 7),
    /* 9: taken by incarnation 1, which dies before its PUBREC */
    Q2(10, 109, 9),
    "=== [chaos] kill sid 1 ===\n",
    "=== [chaos] start sid 2 ===\n",
    T "New client connected from 127.0.0.1:3 as sid (p5, c0, k2).\n",
    FWD(1, 2, 109, 9) T "Received PUBREC from sid (Mid: 109)\n",
    /* 5: forwarded, never taken */
    Q2(6, 105, 5),
    /* 6: acknowledged, never forwarded, no kill */
    PUB(0, 1, 7, 6) T "Sending PUBACK to pid (m7, rc0)\n",
    /* 8 (twice), 10, 12 */
    Q1(9, 108, 8) Q1(11, 110, 10) Q1(13, 112, 12),
    /* 13: two fresh copies, no broker kill between */
    Q2(14, 113, 13) Q2(51, 114, 13),
    /* 15: one send, taken twice */
    Q2(16, 115, 15),
    /* 16: corrupt payload */
    Q1(17, 116, 16),
    /* 22, 24: the broker sends 24 before 22 */
    PUB(0, 1, 23, 22) PUB(0, 1, 25, 24) FWD(0, 1, 124, 24)
    FWD(0, 1, 122, 22),
    /* 26, 28: the publisher sends 28 before 26 */
    Q1(29, 128, 28) Q1(27, 126, 26),
    /* 30: acknowledged with "quota exceeded" and dropped */
    PUB(0, 1, 31, 30) T "Sending PUBACK to pid (m31, rc151)\n",
    /* 32: acknowledged with "no matching subscribers" */
    PUB(0, 1, 33, 32) T "Sending PUBACK to pid (m33, rc16)\n",
    /* 18: acknowledged before a save that completed */
    PUB(0, 1, 19, 18) T "Sending PUBACK to pid (m19, rc0)\n",
    T "Saving in-memory database to /x/mosquitto.db.\n",
    T "Received PINGREQ from pid\n",
    /* 11: first copy, acknowledged after that save */
    Q2(12, 111, 11),
    /* 1: PUBREC, never released before the kill */
    PUB(0, 2, 2, 1) T "Sending PUBREC to pid (m2, rc0)\n",
    /* 37: sent with packet id 200, no PUBREC before the kill */
    Q2(60, 200, 37),
    /* 20: acknowledged, then a save that the kill interrupts */
    PUB(0, 1, 21, 20) T "Sending PUBACK to pid (m21, rc0)\n",
    T "Saving in-memory database to /x/mosquitto.db.\n",
    "=== [mqt-harness] killed (SIGKILL) broker on port 1 ===\n",
    "=== [mqt-harness] restarting broker on port 1 ===\n",
    T "mosquitto version 2.0.11 running\n",
    /* 11: second fresh copy after the broker lost its state */
    Q2(50, 120, 11),
    /* 39: the restarted broker reuses packet id 200 for a new message */
    Q2(61, 200, 39) T "Received PUBREC from sid (Mid: 200)\n",
    /* 34, 35: the restarted broker lost the subscription: QoS 1 gets 0x10,
     * QoS 2 is routed at PUBREL to nobody; then the subscriber is back */
    PUB(0, 1, 35, 34) T "Sending PUBACK to pid (m35, rc16)\n",
    PUB(0, 2, 36, 35) T "Sending PUBREC to pid (m36, rc0)\n"
    T "Received PUBREL from pid (Mid: 36)\n"
    T "Sending PUBCOMP to pid (m36)\n"
    T "Received SUBSCRIBE from sid\n",
    "=== [chaos] kill mid 1 ===\n",
    "=== [chaos] start mid 2 ===\n",
    NULL};

static const char sub_log[] =
    "# subscribed 1 2\n"
    "R 1 1 0 chaos/p/0 1\n"
    "R 1 1 0 chaos/p/8 1\n"
    "R 1 1 1 chaos/p/8 1\n"
    "R 1 1 0 chaos/p/12 1\n"
    "R 1 1 0 chaos/p/10 1\n"
    "R 1 2 0 chaos/p/7 1\n"
    "R 1 2 1 chaos/p/7 1\n"
    "R 1 2 0 chaos/p/9 1\n"
    "# subscribed 2 2\n"
    "R 2 2 1 chaos/p/9 1\n"
    "R 2 2 0 chaos/p/11 1\n"
    "R 2 2 0 chaos/p/11 1\n"
    "R 2 2 0 chaos/p/13 1\n"
    "R 2 2 0 chaos/p/13 1\n"
    "R 2 2 0 chaos/p/15 1\n"
    "R 2 2 1 chaos/p/15 1\n"
    "R 2 2 0 chaos/p/37 1\n"
    "R 2 1 0 chaos/p/14 1\n"
    "R 2 1 0 chaos/p/16 0\n"
    "R 2 1 0 chaos/p/24 1\n"
    "R 2 1 0 chaos/p/22 1\n"
    "R 2 1 0 chaos/p/28 1\n"
    "R 2 1 0 chaos/p/26 1\n";

int
main(void)
{
    char blog[300], slog[300], alog_p[300], alog_m[300], acc[1024] = "";
    cv_config cfg;
    cv_result r;
    const cv_pub_result *p, *m;
    static const int accepted[] = {0,  1,  2,  3,  4,  5,  6,  7,  8, 9,
                                   10, 11, 12, 13, 15, 16, 18, 20,
                                   22, 24, 26, 28, 30, 32, 34, 35, 37,
                                   39};

    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "A 1 %d %d\n", accepted[i],
                 (accepted[i] & 1) ? 2 : 1);
        strcat(acc, line);
    }
    strcat(acc, "E 1 3 7 -5 128\n# drained 1 0\n");
    put("broker.log", broker_log, blog, sizeof blog);
    put("sub.received", (const char *const[]){sub_log, NULL}, slog,
        sizeof slog);
    put("p.accepted", (const char *const[]){acc, NULL}, alog_p,
        sizeof alog_p);
    put("m.accepted", (const char *const[]){"A 1 0 1\nA 2 2 1\n", NULL},
        alog_m, sizeof alog_m);

    memset(&cfg, 0, sizeof cfg);
    cfg.broker_log = blog;
    cfg.pubs[0] = (cv_pub){"p", "pid", alog_p, "libmq", 1};
    cfg.pubs[1] = (cv_pub){"m", "mid", alog_m, "libmosquitto", 0};
    cfg.npubs = 2;
    cfg.subs[0] = (cv_sub){"sid", slog};
    cfg.nsubs = 1;
    if (cv_analyze(&cfg, &r) != 0) {
        fprintf(stderr, "cv_analyze failed\n");
        return 1;
    }
    cv_print(&cfg, &r, stdout, 0);
    p = &r.pub[0];
    m = &r.pub[1];
    EXPECT("p accepted", p->accepted, 28);
    EXPECT("p received", p->received, 15);
    EXPECT("p missing", p->missing, 13);
    EXPECT("p broker_reused", p->miss[CV_MISS_BROKER_REUSED], 1);
    EXPECT("p broker_nosub", p->miss[CV_MISS_BROKER_NOSUB], 3);
    EXPECT("p reported", p->miss[CV_MISS_REPORTED], 1);
    EXPECT("p broker_refused", p->miss[CV_MISS_BROKER_REFUSED], 1);
    EXPECT("p broker_kill", p->miss[CV_MISS_BROKER_KILL], 2);
    EXPECT("p sub_window", p->miss[CV_MISS_SUB_WINDOW], 1);
    EXPECT("p unexpl_pub", p->miss[CV_MISS_UNEXPL_PUB], 1);
    EXPECT("p unexpl_broker", p->miss[CV_MISS_UNEXPL_BROKER], 2);
    EXPECT("p unexpl_sub", p->miss[CV_MISS_UNEXPL_SUB], 1);
    EXPECT("p qos2 dups", p->qos2_dups, 5);
    EXPECT("p dup broker_resend", p->dup[CV_DUP_BROKER_RESEND], 1);
    EXPECT("p dup sub_restart", p->dup[CV_DUP_SUB_RESTART], 1);
    EXPECT("p dup broker_session", p->dup[CV_DUP_BROKER_SESSION], 1);
    EXPECT("p dup unexpl_pub", p->dup[CV_DUP_UNEXPL_PUB], 1);
    EXPECT("p dup unexpl_sub", p->dup[CV_DUP_UNEXPL_SUB], 1);
    EXPECT("p qos1 dups", p->qos1_dups, 1);
    EXPECT("p reordered", p->reordered, 3);
    EXPECT("p reordered by publisher", p->reord[CV_ORD_PUB], 1);
    EXPECT("p reordered by broker", p->reord[CV_ORD_BROKER], 1);
    EXPECT("p reordered by subscriber", p->reord[CV_ORD_SUB], 1);
    EXPECT("p corrupt", p->corrupt, 1);
    EXPECT("p unaccepted received", p->unaccepted_received, 1);
    EXPECT("p left", p->left, 0);
    EXPECT("m left (never said)", m->left, -1);
    EXPECT("m accepted", m->accepted, 2);
    EXPECT("m no_persist", m->miss[CV_MISS_NO_PERSIST], 1);
    EXPECT("m unexpl_pub", m->miss[CV_MISS_UNEXPL_PUB], 1);
    EXPECT("m kills", m->kills, 1);
    EXPECT("broker kills", r.broker_kills, 1);
    EXPECT("broker saves", r.broker_saves, 2);
    EXPECT("sub kills", r.sub_kills[0], 1);
    EXPECT("sub took", r.sub_received[0], 22);
    /* libmosquitto's unexplained loss is not libmq's */
    EXPECT("libmq failures", cv_libmq_failures(&cfg, &r), 7);

    unlink(blog);
    unlink(slog);
    unlink(alog_p);
    unlink(alog_m);
    rmdir(g_dir);
    printf("%s\n", g_bad ? "FAIL" : "ok");
    return g_bad;
}
