/*
 * test_verdict.c - the chaos verdict (verdict.c) on hand-made logs: one
 * message for each attribution rule, in a broker log written the way
 * mosquitto 2.0.11 writes it with log_type all, plus the harness markers;
 * and the receive log line a child writes for a corrupt payload
 * (chaos_child.c). Plain main(); exit 1 after any wrong count.
 *
 * Threading: main thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>

#include "chaos_child.h"
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
    "R 2 1 0 chaos/p/26 1\n"
    /* corrupt, with lengths (the broker's lines: corrupt_lines()) */
    "R 2 1 0 chaos/p/40 0 7 garbage\n"
    "R 2 1 0 chaos/p/42 0 5 p|41|\n"
    "R 2 1 0 chaos/p/44 0 3 p|4\n"
    "R 2 1 0 chaos/p/46 0 %ld p|45|2|1|xxxx\n"
    "R 2 1 1 chaos/p/48 0 %ld \\xb1\\x07|1|1|xxxx\n"
    "R 2 2 0 chaos/p/52 0 %ld p|51|2|1|xxxx\n"
    "R 2 1 0 chaos/m/4 0 5 m|3|2\n";

#define MAX_SIZE 64

/* A PUBLISH through the broker: received from @p pid (DUP @p d, QoS @p q)
 * with @p in_len payload bytes, sent to sid with @p out_len (the acks are
 * left out: they do not matter here). */
static void
pub_len(FILE *f, const char *pid, const char *name, int d, int q, int mid,
        int smid, long seq, long in_len, long out_len)
{
    fprintf(f,
            T "Received PUBLISH from %s (d%d, q%d, r0, m%d, 'chaos/%s/%ld', "
              "... (%ld bytes))\n"
            T "Sending PUBLISH to sid (d0, q%d, r0, m%d, 'chaos/%s/%ld', ... "
              "(%ld bytes))\n",
            pid, d, q, mid, name, seq, in_len, q, smid, name, seq, out_len);
}

static void
q1_len(FILE *f, const char *pid, const char *name, int mid, int smid,
       long seq, long in_len, long out_len)
{
    pub_len(f, pid, name, 0, 1, mid, smid, seq, in_len, out_len);
}

/* The broker's side of the corrupt receptions in sub_log (max_size
 * MAX_SIZE, incarnation 1): */
static void
corrupt_lines(const char *path)
{
    FILE *f = fopen(path, "a");
    long e40 = (long)cc_payload_len("p", 40, 1, MAX_SIZE);
    long e44 = (long)cc_payload_len("p", 44, 1, MAX_SIZE);
    long e46 = (long)cc_payload_len("p", 46, 1, MAX_SIZE);
    long e48 = (long)cc_payload_len("p", 48, 1, MAX_SIZE);
    long e50 = (long)cc_payload_len("p", 50, 1, MAX_SIZE);
    long e52 = (long)cc_payload_len("p", 52, 1, MAX_SIZE);

    if (f == NULL) {
        perror(path);
        exit(2);
    }
    /* 40: the broker got and sent the right length; the subscriber's
     * application got 7 bytes: the subscriber's */
    q1_len(f, "pid", "p", 70, 140, 40, e40, e40);
    /* 42: the publisher sent 5 bytes, a length no incarnation of p makes
     * for 42 ("p|42|1|1|" alone is 9), and the broker forwarded them */
    q1_len(f, "pid", "p", 71, 141, 42, 5, 5);
    /* 44: the broker got the right length and sent 3 bytes */
    q1_len(f, "pid", "p", 72, 142, 44, e44, 3);
    /* 46: the right length all the way, the wrong content: unexplained */
    q1_len(f, "pid", "p", 73, 143, 46, e46, e46);
    /* 48: the right length, but resent (DUP) with packet id 74, which the
     * same process had sent with 50 (a resend built from another message's
     * memory: Paho C 1.3.12 in tests/chaos/README.md) */
    fprintf(f, T "Received PUBLISH from pid (d0, q1, r0, m74, 'chaos/p/50', "
                 "... (%ld bytes))\n", e50);
    pub_len(f, "pid", "p", 1, 1, 74, 144, 48, e48, e48);
    /* 52: the right length, but QoS 2 where an even SEQ is QoS 1 */
    pub_len(f, "pid", "p", 0, 2, 75, 145, 52, e52, e52);
    /* PUBLISH packets from pid that are not p's messages, then a packet
     * the broker could not parse */
    fputs(T "Received PUBLISH from pid (d1, q1, r0, m76, 'xc', ... "
            "(420 bytes))\n"
          T "Received PUBLISH from pid (d0, q1, r0, m77, 'chaos/m/9', ... "
            "(10 bytes))\n"
          T "Client pid disconnected due to malformed packet.\n"
          T "Client pid closed its connection.\n", f);
    /* m 4: libmosquitto's publisher sent 5 bytes: not libmq's */
    q1_len(f, "mid", "m", 80, 150, 4, 5, 5);
    if (fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* The line a child writes for a payload that does not match its topic:
 * length and the first bytes, sanitized (no spaces, \xHH). */
static void
check_receive_line(void)
{
    char path[300], line[512] = "";
    static const char payload[] = "p|49|a b\\\x01";
    char big[200];
    int fd;
    FILE *f;

    snprintf(path, sizeof path, "%s/line.received", g_dir);
    fd = cc_open_log(path);
    cc_log_receive(fd, 3, 1, 0, "chaos/p/50", payload, sizeof payload - 1);
    cc_log_receive(fd, 3, 1, 0, "chaos/p/50", "p|50|1|3|xx", 11);
    cc_log_receive(fd, 3, 1, 0, "chaos/p/50", "", 0);
    memset(big, 0, sizeof big);
    cc_log_receive(fd, 3, 1, 0, "chaos/p/50", big, sizeof big);
    close(fd);
    f = fopen(path, "r");
    if (f == NULL || fgets(line, sizeof line, f) == NULL ||
        strcmp(line, "R 3 1 0 chaos/p/50 0 10 p|49|a\\x20b\\x5c\\x01\n") != 0) {
        fprintf(stderr, "receive line: %s", line);
        g_bad = 1;
    }
    if (f == NULL || fgets(line, sizeof line, f) == NULL ||
        strcmp(line, "R 3 1 0 chaos/p/50 1 11\n") != 0) {
        fprintf(stderr, "receive line (ok): %s", line);
        g_bad = 1;
    }
    if (f == NULL || fgets(line, sizeof line, f) == NULL ||
        strcmp(line, "R 3 1 0 chaos/p/50 0 0 -\n") != 0) {
        fprintf(stderr, "receive line (empty): %s", line);
        g_bad = 1;
    }
    /* at most CC_LOG_PREFIX bytes, each at most 4 characters */
    if (f == NULL || fgets(line, sizeof line, f) == NULL ||
        strlen(line) != strlen("R 3 1 0 chaos/p/50 0 200 \n") +
                           4 * CC_LOG_PREFIX) {
        fprintf(stderr, "receive line (long): %s", line);
        g_bad = 1;
    }
    if (f != NULL)
        fclose(f);
    unlink(path);
}

int
main(void)
{
    char blog[300], slog[300], alog_p[300], alog_m[300], acc[1024] = "";
    char sub_text[sizeof sub_log + 64];
    cv_config cfg;
    cv_result r;
    const cv_pub_result *p, *m;
    static const int accepted[] = {0,  1,  2,  3,  4,  5,  6,  7,  8, 9,
                                   10, 11, 12, 13, 15, 16, 18, 20,
                                   22, 24, 26, 28, 30, 32, 34, 35, 37,
                                   39, 40, 42, 44, 46, 48, 52};

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
    corrupt_lines(blog);
    snprintf(sub_text, sizeof sub_text, sub_log,
             (long)cc_payload_len("p", 46, 1, MAX_SIZE),
             (long)cc_payload_len("p", 48, 1, MAX_SIZE),
             (long)cc_payload_len("p", 52, 1, MAX_SIZE));
    put("sub.received", (const char *const[]){sub_text, NULL}, slog,
        sizeof slog);
    put("p.accepted", (const char *const[]){acc, NULL}, alog_p,
        sizeof alog_p);
    put("m.accepted",
        (const char *const[]){"A 1 0 1\nA 2 2 1\nA 2 4 1\n", NULL}, alog_m,
        sizeof alog_m);

    memset(&cfg, 0, sizeof cfg);
    cfg.broker_log = blog;
    cfg.max_size = MAX_SIZE;
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
    EXPECT("p accepted", p->accepted, 34);
    EXPECT("p received", p->received, 21);
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
    /* 16 (a log line without length), 40, 42, 44, 46, 48, 52 */
    EXPECT("p corrupt", p->corrupt, 7);
    EXPECT("p corrupt by subscriber", p->corr[CV_CORR_SUB], 1);
    EXPECT("p corrupt by publisher", p->corr[CV_CORR_PUB], 3);
    EXPECT("p corrupt by broker", p->corr[CV_CORR_BROKER], 1);
    EXPECT("p corrupt unexplained", p->corr[CV_CORR_UNEXPL], 2);
    EXPECT("p corrupt listed", p->nfirst_corrupt, CV_FIRST);
    EXPECT("p first corrupt seq", p->first_corrupt[0].seq, 16);
    EXPECT("p first corrupt len", p->first_corrupt[0].len, -1);
    EXPECT("p 2nd corrupt seq", p->first_corrupt[1].seq, 40);
    EXPECT("p 2nd corrupt kind", p->first_corrupt[1].kind, CV_CORR_SUB);
    EXPECT("p 2nd corrupt len", p->first_corrupt[1].len, 7);
    EXPECT("p 2nd corrupt prefix",
           strcmp(p->first_corrupt[1].prefix, "garbage"), 0);
    EXPECT("p unaccepted received", p->unaccepted_received, 1);
    EXPECT("p left", p->left, 0);
    EXPECT("m left (never said)", m->left, -1);
    EXPECT("p foreign PUBLISH", p->foreign, 2);
    EXPECT("p malformed", p->malformed, 1);
    EXPECT("m foreign PUBLISH", m->foreign, 0);
    EXPECT("m accepted", m->accepted, 3);
    EXPECT("m corrupt by publisher", m->corr[CV_CORR_PUB], 1);
    EXPECT("m no_persist", m->miss[CV_MISS_NO_PERSIST], 1);
    EXPECT("m unexpl_pub", m->miss[CV_MISS_UNEXPL_PUB], 1);
    EXPECT("m kills", m->kills, 1);
    EXPECT("broker kills", r.broker_kills, 1);
    EXPECT("broker saves", r.broker_saves, 2);
    EXPECT("sub kills", r.sub_kills[0], 1);
    EXPECT("sub took", r.sub_received[0], 29);
    /* libmosquitto's unexplained loss and corrupt payload are not libmq's;
     * corrupt: by subscriber 1, unexplained 2, by (libmq) publisher 3 */
    EXPECT("libmq failures", cv_libmq_failures(&cfg, &r), 12);
    check_receive_line();

    unlink(blog);
    unlink(slog);
    unlink(alog_p);
    unlink(alog_m);
    rmdir(g_dir);
    printf("%s\n", g_bad ? "FAIL" : "ok");
    return g_bad;
}
