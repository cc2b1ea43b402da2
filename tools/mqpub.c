/*
 * mqpub.c - publish one message (or one per line of stdin) on a topic and
 * exit; a drop-in replacement for mosquitto_pub built on the public libmq
 * API.
 *
 * Threading: one thread; events are pulled with mq_next_event(), and for
 * -l stdin and the event descriptor are watched together with poll().
 */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pub_state {
    struct tool_cfg cfg;
    mq_client *c;
    long outstanding;      /* QoS 1/2 publishes not yet completed */
    int lost;              /* connection gone for good */
    int exit_code;
    /* --stats */
    unsigned long long n_msgs, n_bytes, n_failed;
    double t_start, t_connected;
};

/* Handle one event; returns 0, or -1 when the connection is gone. */
static int
handle_event(struct pub_state *s, mq_event *ev)
{
    int rc = 0;

    switch (mq_event_type(ev)) {
    case MQ_EVENT_PUBLISHED:
        if (s->outstanding > 0)
            s->outstanding--;
        if (mq_event_error(ev) != MQ_OK) {
            s->n_failed++;
            if (mq_event_error(ev) == MQ_ERR_REFUSED)
                err_printf(&s->cfg, "Warning: Publish %d failed: %s.\n",
                           mq_event_token(ev),
                           mq_reason_string(mq_event_reason(ev)));
            else
                err_printf(&s->cfg, "Warning: Publish %d failed: %s.\n",
                           mq_event_token(ev),
                           mq_strerror(mq_event_error(ev)));
        }
        break;
    case MQ_EVENT_LOG:
        tool_log_event(&s->cfg, ev);
        break;
    case MQ_EVENT_DISCONNECTED:
        if (mq_event_will_reconnect(ev)) {
            tool_log_event(&s->cfg, ev);
            break;
        }
        {
            const char *m = mq_event_message(ev);

            if (mq_event_reason(ev) != 0)
                err_printf(&s->cfg, "Error: disconnected by the broker: "
                                    "%s\n",
                           mq_reason_string(mq_event_reason(ev)));
            else
                err_printf(&s->cfg, "Error: %s\n",
                           m != NULL ? m : mq_strerror(mq_event_error(ev)));
        }
        s->lost = 1;
        s->exit_code = 1;
        rc = -1;
        break;
    default:
        break;
    }
    mq_event_free(ev);
    return rc;
}

/* Process events for up to timeout_ms (at least one wait). */
static int
pump(struct pub_state *s, int timeout_ms)
{
    mq_event *ev = mq_next_event(s->c, timeout_ms);

    while (ev != NULL) {
        if (handle_event(s, ev) != 0)
            return -1;
        ev = mq_next_event(s->c, 0);
    }
    return s->lost ? -1 : 0;
}

static int
publish_one(struct pub_state *s, const void *payload, size_t len)
{
    const struct tool_cfg *cfg = &s->cfg;
    const mq_props *pp =
        cfg->protocol == MQ_PROTO_V5 ? cfg->props[PCMD_PUBLISH] : NULL;
    int tok;

    for (;;) {
        if (pp != NULL)
            tok = mq_publish_v5(s->c, cfg->topics[0], payload, len, cfg->qos,
                                cfg->retain, pp);
        else
            tok = mq_publish(s->c, cfg->topics[0], payload, len, cfg->qos,
                             cfg->retain);
        if (tok != MQ_ERR_QUEUE_FULL)
            break;
        if (pump(s, 20) != 0 || tool_signal != 0)
            return -1;
    }
    if (tok < 0) {
        err_printf(cfg, "Error: Publish failed: %s\n", mq_strerror(tok));
        s->exit_code = 1;
        return -1;
    }
    if (cfg->qos > 0)
        s->outstanding++;
    s->n_msgs++;
    s->n_bytes += len;
    return 0;
}

/* Wait while pumping events, for --repeat-delay. */
static int
delay(struct pub_state *s, double seconds)
{
    double end = now_mono() + seconds;

    for (;;) {
        double left = end - now_mono();

        if (left <= 0)
            return 0;
        if (tool_signal != 0)
            return -1;
        if (pump(s, left > 0.2 ? 200 : (int)(left * 1000.0) + 1) != 0)
            return -1;
    }
}

/* -l: one message per line of stdin ('\n' removed, everything else kept). */
static int
publish_lines(struct pub_state *s)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int eof = 0;
    int rc = 0;

    while (!eof && rc == 0) {
        struct pollfd pf[2];
        char *nl;

        /* publish every complete line in the buffer */
        if (buf != NULL) {
            size_t start = 0;

            while ((nl = memchr(buf + start, '\n', len - start)) != NULL) {
                size_t ll = (size_t)(nl - (buf + start));

                if (publish_one(s, buf + start, ll) != 0) {
                    rc = -1;
                    break;
                }
                start += ll + 1;
            }
            memmove(buf, buf + start, len - start);
            len -= start;
        }
        if (rc != 0)
            break;
        if (tool_signal != 0) {
            rc = -1;
            break;
        }
        pf[0].fd = STDIN_FILENO;
        pf[0].events = POLLIN;
        pf[1].fd = mq_event_fd(s->c);
        pf[1].events = POLLIN;
        if (poll(pf, 2, 200) < 0) {
            if (errno == EINTR)
                continue;
            rc = -1;
            break;
        }
        if (pf[1].revents & POLLIN) {
            if (pump(s, 0) != 0) {
                rc = -1;
                break;
            }
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n;

            if (cap - len < 4096) {
                char *nb = realloc(buf, cap + 65536);

                if (nb == NULL) {
                    rc = -1;
                    break;
                }
                buf = nb;
                cap += 65536;
            }
            n = read(STDIN_FILENO, buf + len, cap - len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                eof = 1;
                if (len > 0 && publish_one(s, buf, len) != 0)
                    rc = -1;
                len = 0;
            } else {
                len += (size_t)n;
            }
        }
    }
    free(buf);
    return rc;
}

static void
print_stats(const struct pub_state *s)
{
    double span = now_mono() - s->t_connected;

    fprintf(stderr,
            "mqpub: %llu messages, %llu payload bytes, %llu failed in %.3f s "
            "(%.1f msg/s, %.1f KiB/s after connect)\n",
            s->n_msgs, s->n_bytes, s->n_failed, now_mono() - s->t_start,
            span > 0 ? (double)s->n_msgs / span : 0.0,
            span > 0 ? (double)s->n_bytes / 1024.0 / span : 0.0);
}

int
main(int argc, char *argv[])
{
    struct pub_state s;
    int rc;
    long i;

    memset(&s, 0, sizeof s);
    rc = cfg_load(&s.cfg, TOOL_PUB, argc, argv);
    if (rc >= 0)
        return rc;
    tool_signals_install();
    s.t_start = now_mono();

    s.c = tool_connect(&s.cfg, &rc);
    if (s.c == NULL) {
        cfg_free(&s.cfg);
        tool_signals_reraise();
        return rc;
    }
    s.t_connected = now_mono();

    if (s.cfg.pub_mode == MODE_LINES) {
        publish_lines(&s);
    } else {
        const char *payload = s.cfg.pub_mode == MODE_NULL ? NULL
                                                          : s.cfg.message;
        size_t len = s.cfg.pub_mode == MODE_NULL ? 0 : s.cfg.msglen;

        for (i = 0; i < s.cfg.repeat_count; i++) {
            if (i > 0 && s.cfg.repeat_delay > 0 &&
                delay(&s, s.cfg.repeat_delay) != 0)
                break;
            if (publish_one(&s, payload, len) != 0)
                break;
            if (pump(&s, 0) != 0)
                break;
        }
    }
    /* wait for QoS 1/2 completions */
    while (!s.lost && s.outstanding > 0 && tool_signal == 0)
        pump(&s, 200);

    if (!s.lost)
        tool_disconnect(&s.cfg, s.c);
    if (s.cfg.stats)
        print_stats(&s);
    mq_client_destroy(s.c);
    cfg_free(&s.cfg);
    tool_signals_reraise();
    return s.exit_code;
}
