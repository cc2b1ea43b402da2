/*
 * mqrr.c - MQTT 5 request/response: subscribe to a response topic, publish
 * a request carrying the Response Topic property, print the first response
 * and exit; a drop-in replacement for mosquitto_rr on the public libmq API.
 *
 * Threading: one thread; events are pulled with mq_next_event().
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

int
main(int argc, char *argv[])
{
    struct tool_cfg cfg;
    mq_client *c;
    mq_props *pp;
    double deadline = 0, t_req = 0;
    int rc, exit_code = 0, done = 0, lost = 0, sub_tok, sent = 0;

    memset(&cfg, 0, sizeof cfg);
    rc = cfg_load(&cfg, TOOL_RR, argc, argv);
    if (rc >= 0)
        return rc;
    tool_signals_install();

    c = tool_connect(&cfg, &rc);
    if (c == NULL) {
        cfg_free(&cfg);
        tool_signals_reraise();
        return rc;
    }
    if (cfg.timeout_s > 0)
        deadline = now_mono() + (double)cfg.timeout_s;

    if (cfg.protocol == MQ_PROTO_V5 && cfg.props[PCMD_SUBSCRIBE] != NULL)
        sub_tok = mq_subscribe_v5(c, cfg.response_topic, cfg.qos,
                                  cfg.props[PCMD_SUBSCRIBE]);
    else
        sub_tok = mq_subscribe(c, cfg.response_topic, cfg.qos);
    if (sub_tok < 0) {
        err_printf(&cfg, "Error: Unable to subscribe: %s\n",
                   mq_strerror(sub_tok));
        exit_code = 1;
        done = 1;
    }

    while (!done) {
        mq_event *ev;
        int wait_ms = 200;

        if (tool_signal != 0)
            break;
        if (deadline > 0) {
            double left = deadline - now_mono();

            if (left <= 0) {
                err_printf(&cfg, "Timed out\n");
                exit_code = EXIT_TIMEOUT;
                break;
            }
            if (left * 1000.0 < wait_ms)
                wait_ms = (int)(left * 1000.0) + 1;
        }
        ev = mq_next_event(c, wait_ms);
        if (ev == NULL)
            continue;
        switch (mq_event_type(ev)) {
        case MQ_EVENT_SUBSCRIBED:
            if (mq_event_token(ev) != sub_tok || sent)
                break;
            if (mq_event_reason_count(ev) > 0 &&
                mq_event_reason_at(ev, 0) >= 0x80) {
                err_printf(&cfg, "Error: Subscription to the response "
                                 "topic was denied: %s\n",
                           mq_reason_string(mq_event_reason_at(ev, 0)));
                exit_code = 1;
                done = 1;
                break;
            }
            /* Only now publish, so the response cannot be missed. */
            if (cfg.protocol == MQ_PROTO_V5) {
                /* the -D publish properties plus the Response Topic */
                if (cfg.props[PCMD_PUBLISH] == NULL)
                    cfg.props[PCMD_PUBLISH] = mq_props_new();
                pp = cfg.props[PCMD_PUBLISH];
                if (pp == NULL) {
                    exit_code = 1;
                    done = 1;
                    break;
                }
                rc = mq_props_add_string(pp, MQ_PROP_RESPONSE_TOPIC,
                                         cfg.response_topic);
                if (rc == 0)
                    rc = mq_publish_v5(c, cfg.topics[0],
                                       cfg.pub_mode == MODE_NULL ? NULL
                                                                 : cfg.message,
                                       cfg.pub_mode == MODE_NULL ? 0
                                                                 : cfg.msglen,
                                       cfg.qos, 0, pp);
            } else {
                rc = mq_publish(c, cfg.topics[0],
                                cfg.pub_mode == MODE_NULL ? NULL : cfg.message,
                                cfg.pub_mode == MODE_NULL ? 0 : cfg.msglen,
                                cfg.qos, 0);
            }
            if (rc < 0) {
                err_printf(&cfg, "Error: Publish failed: %s\n",
                           mq_strerror(rc));
                exit_code = 1;
                done = 1;
                break;
            }
            sent = 1;
            t_req = now_mono();
            break;
        case MQ_EVENT_MESSAGE:
            if (!sent)
                break;
            if (cfg.no_retain && mq_event_retain(ev))
                break;
            print_message(&cfg, ev);
            if (cfg.stats)
                fprintf(stderr, "mqrr: response after %.3f ms\n",
                        (now_mono() - t_req) * 1000.0);
            done = 1;
            break;
        case MQ_EVENT_PUBLISHED:
            if (mq_event_error(ev) != MQ_OK)
                err_printf(&cfg, "Warning: Publish %d failed: %s.\n",
                           mq_event_token(ev),
                           mq_event_error(ev) == MQ_ERR_REFUSED
                               ? mq_reason_string(mq_event_reason(ev))
                               : mq_strerror(mq_event_error(ev)));
            break;
        case MQ_EVENT_LOG:
            tool_log_event(&cfg, ev);
            break;
        case MQ_EVENT_DISCONNECTED:
            if (mq_event_will_reconnect(ev))
                break;
            {
                const char *m = mq_event_message(ev);

                err_printf(&cfg, "Error: %s\n",
                           m != NULL ? m : mq_strerror(mq_event_error(ev)));
            }
            lost = 1;
            exit_code = 1;
            done = 1;
            break;
        default:
            break;
        }
        mq_event_free(ev);
    }

    if (!lost)
        tool_disconnect(&cfg, c);
    mq_client_destroy(c);
    cfg_free(&cfg);
    tool_signals_reraise();
    return exit_code;
}
