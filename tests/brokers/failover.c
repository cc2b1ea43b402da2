/*
 * failover.c - libmq failing over between the nodes of a broker cluster,
 * driven by cluster.sh: a subscriber with a persistent session at QoS 1
 * and both nodes in its server list, a publisher on the other node that
 * publishes numbered QoS 1 messages all along; after a while the node the
 * subscriber is connected to is killed (kill -9 of its PID). Reports the
 * failover time (kill -> next CONNACK), which numbers arrived, which are
 * missing although the broker acknowledged them (PUBACK: the broker had
 * taken them, so the broker lost them), and duplicates (allowed at QoS 1).
 *
 * Usage: failover SUB_URIS PUB_URIS KILL_PID [COUNT [INTERVAL_MS]]
 * Exit 0 when the subscriber failed over and every acknowledged message
 * arrived, 1 otherwise (the report says which), 2 on setup errors.
 *
 * Threading: the main thread polls both clients; libmq's workers run the
 * connections.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mq.h"

static double
now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static mq_client *
mk(const char *id, const char *uris, int clean)
{
    mq_client *c = mq_client_new(id, MQ_PROTO_V311);

    if (c == NULL || mq_set_server(c, uris) != MQ_OK ||
        mq_set_int(c, MQ_OPT_CLEAN_START, clean) != MQ_OK ||
        mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100) != MQ_OK ||
        mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 1000) != MQ_OK ||
        mq_set_int(c, MQ_OPT_KEEPALIVE_S, 5) != MQ_OK ||
        mq_set_int(c, MQ_OPT_CONNECT_TIMEOUT_MS, 3000) != MQ_OK) {
        fprintf(stderr, "failover: cannot set up client %s\n", id);
        exit(2);
    }
    return c;
}

/* Wait for a CONNECT event (reason 0) or give up after @p secs. */
static int
wait_connect(mq_client *c, double secs)
{
    double end = now_s() + secs;

    while (now_s() < end) {
        mq_event *ev = mq_next_event(c, 200);
        int ok;

        if (ev == NULL)
            continue;
        ok = mq_event_type(ev) == MQ_EVENT_CONNECT && mq_event_reason(ev) == 0;
        if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED)
            printf("#   %s: disconnected (%s)\n", mq_client_id(c),
                   mq_err_name(mq_event_error(ev)));
        mq_event_free(ev);
        if (ok)
            return 0;
    }
    return -1;
}

int
main(int argc, char **argv)
{
    int count, interval, sent = 0, acked = 0, refused = 0, uniq = 0, dups = 0;
    int i, subtok, failed_over = 0, reconnects = 0, tok_first;
    int *seen, *ack_ok;
    pid_t victim;
    double t_kill = 0, t_back = 0, t_next_pub, t_end, t_first = 0;
    int kill_at = 0;
    char id[32];
    mq_client *s, *p;
    mq_event *ev;

    if (argc < 4) {
        fprintf(stderr, "usage: %s SUB_URIS PUB_URIS KILL_PID [COUNT "
                "[INTERVAL_MS]]\n", argv[0]);
        return 2;
    }
    victim = (pid_t)atoi(argv[3]);
    count = argc > 4 ? atoi(argv[4]) : 400;
    interval = argc > 5 ? atoi(argv[5]) : 25;
    seen = calloc((size_t)count + 1, sizeof *seen);
    ack_ok = calloc((size_t)count + 1, sizeof *ack_ok);
    if (seen == NULL || ack_ok == NULL || victim <= 0)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);

    snprintf(id, sizeof id, "lmqfo%dS", (int)getpid() % 100000);
    s = mk(id, argv[1], 0);
    snprintf(id, sizeof id, "lmqfo%dP", (int)getpid() % 100000);
    p = mk(id, argv[2], 1);
    if (mq_connect(s) != MQ_OK || wait_connect(s, 20) != 0 ||
        mq_connect(p) != MQ_OK || wait_connect(p, 20) != 0) {
        printf("# setup: a client did not connect\n");
        return 2;
    }
    subtok = mq_subscribe(s, "libmq-failover/#", 1);
    for (ev = NULL; subtok > 0;) {
        ev = mq_next_event(s, 10000);
        if (ev == NULL || mq_event_type(ev) == MQ_EVENT_SUBSCRIBED)
            break;
        mq_event_free(ev);
    }
    if (ev == NULL || mq_event_reason_at(ev, 0) != 1) {
        printf("# setup: subscription not granted at QoS 1\n");
        return 2;
    }
    mq_event_free(ev);

    printf("# publishing %d QoS 1 messages, one every %d ms; node %d "
           "killed after %d\n", count, interval, (int)victim, count / 4);
    tok_first = 0;
    t_next_pub = now_s();
    t_end = 0;
    for (;;) {
        double t = now_s();

        if (sent < count && t >= t_next_pub) {
            char msg[16];
            int tok;

            snprintf(msg, sizeof msg, "%d", sent + 1);
            tok = mq_publish(p, "libmq-failover/seq", msg, strlen(msg), 1, 0);
            if (tok <= 0) {
                printf("# publish %d refused by libmq: %s\n", sent + 1,
                       mq_err_name(tok));
                return 2;
            }
            if (tok_first == 0)
                tok_first = tok;
            sent++;
            t_next_pub += interval / 1000.0;
            if (sent == count / 4 && t_kill == 0) {
                t_kill = now_s();
                kill_at = sent;
                printf("# kill -9 %d at message %d\n", (int)victim, sent);
                kill(victim, SIGKILL);
            }
        }
        /* publisher events: acks */
        while ((ev = mq_next_event(p, 0)) != NULL) {
            if (mq_event_type(ev) == MQ_EVENT_PUBLISHED) {
                int n = mq_event_token(ev) - tok_first + 1;

                if (mq_event_error(ev) == MQ_OK && n >= 1 && n <= count) {
                    ack_ok[n] = 1;
                    acked++;
                } else {
                    refused++;
                }
            } else if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED) {
                printf("#   publisher disconnected (%s) at %.2f s after "
                       "the kill\n", mq_err_name(mq_event_error(ev)),
                       t_kill ? now_s() - t_kill : 0.0);
            } else if (mq_event_type(ev) == MQ_EVENT_CONNECT) {
                printf("#   publisher reconnected\n");
            }
            mq_event_free(ev);
        }
        /* subscriber events */
        while ((ev = mq_next_event(s, 5)) != NULL) {
            int type = mq_event_type(ev);

            if (type == MQ_EVENT_MESSAGE) {
                size_t n = 0;
                const char *d = mq_event_payload(ev, &n);
                char buf[16];
                int k;

                if (n > 0 && n < sizeof buf) {
                    memcpy(buf, d, n);
                    buf[n] = '\0';
                    k = atoi(buf);
                    if (k > kill_at && kill_at > 0 && t_first == 0)
                        t_first = now_s();
                    if (k >= 1 && k <= count) {
                        if (seen[k]++)
                            dups++;
                        else
                            uniq++;
                    }
                }
            } else if (type == MQ_EVENT_DISCONNECTED) {
                printf("#   subscriber disconnected (%s) %.2f s after the "
                       "kill\n", mq_err_name(mq_event_error(ev)),
                       t_kill ? now_s() - t_kill : -1.0);
            } else if (type == MQ_EVENT_CONNECT) {
                reconnects++;
                if (mq_event_reason(ev) == 0 && t_kill > 0 && !failed_over) {
                    failed_over = 1;
                    t_back = now_s();
                    printf("#   subscriber reconnected after %.2f s, "
                           "session present %d\n", t_back - t_kill,
                           mq_event_session_present(ev));
                } else if (mq_event_reason(ev) != 0) {
                    printf("#   subscriber refused: reason %d\n",
                           mq_event_reason(ev));
                }
            }
            mq_event_free(ev);
        }
        if (sent == count && t_end == 0)
            t_end = now_s() + 15; /* drain: acks and late deliveries */
        if (t_end > 0 && (now_s() > t_end || (uniq == count &&
                                              acked + refused == count)))
            break;
    }

    printf("# sent %d, acknowledged by the broker %d, refused %d\n", sent,
           acked, refused);
    printf("# received %d distinct, %d duplicates\n", uniq, dups);
    if (failed_over)
        printf("# failover time (kill -> CONNACK from the other node): "
               "%.2f s\n", t_back - t_kill);
    else
        printf("# the subscriber did not fail over\n");
    if (t_first > 0)
        printf("# first message published after the kill delivered %.2f s "
               "after the kill\n", t_first - t_kill);
    else
        printf("# no message published after the kill was delivered\n");
    {
        int lost = 0, unacked_missing = 0;

        for (i = 1; i <= count; i++) {
            if (seen[i])
                continue;
            if (ack_ok[i]) {
                if (lost < 20)
                    printf("#   %d: acknowledged by the broker (PUBACK), "
                           "never delivered\n", i);
                lost++;
            } else {
                unacked_missing++;
            }
        }
        printf("# missing although acknowledged (lost by the broker): %d\n",
               lost);
        printf("# missing and not acknowledged (still with libmq): %d\n",
               unacked_missing);
        mq_client_destroy(s);
        mq_client_destroy(p);
        return failed_over && lost == 0 && unacked_missing == 0 ? 0 : 1;
    }
}
