/*
 * test_limits.c - integration: issue 13 features against a real mosquitto
 * (its default configuration): several filters in one UNSUBSCRIBE
 * (mq_unsubscribe_many), outbound topic aliases (explicit and automatic;
 * mosquitto 2.0 takes up to 10 by default), TLS file options checked when
 * set.
 * Threading: single-threaded Criterion tests, one process (and broker) each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integ.h"

INTEG_SUITE(limits);

/* ---- mq_unsubscribe_many ---------------------------------------------- */

static void
unsubscribe_many(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "unsmany", proto);
    mq_client *pub = integ_client(b, "unsmanypub", proto);
    char f[3][96];
    const char *filters[3] = {f[0], f[1], f[2]};
    const char *two[2] = {f[0], f[2]};
    int opts[3] = {1, 1, 1}, tok, i, got = 0;
    mq_event *ev;

    for (i = 0; i < 3; i++)
        snprintf(f[i], sizeof f[i], "%s", integ_topic(i == 0   ? "um/a"
                                                      : i == 1 ? "um/b"
                                                               : "um/c"));
    integ_connect(c);
    integ_connect(pub);
    tok = CHECK_TOKEN(mq_subscribe_many(c, 3, filters, opts, NULL));
    ev = integ_wait(c, MQ_EVENT_SUBSCRIBED, INTEG_WAIT_MS);
    CHECK(mq_event_token(ev) == tok && mq_event_reason_count(ev) == 3,
          "SUBACK");
    mq_event_free(ev);

    /* argument errors */
    CHECK_RC(mq_unsubscribe_many(NULL, 2, two, NULL), MQ_ERR_INVAL);
    CHECK_RC(mq_unsubscribe_many(c, 0, two, NULL), MQ_ERR_INVAL);
    CHECK_RC(mq_unsubscribe_many(c, 2, NULL, NULL), MQ_ERR_INVAL);
    {
        const char *bad[2] = {f[0], "a/#/b"};
        const char *null[2] = {f[0], NULL};
        CHECK_RC(mq_unsubscribe_many(c, 2, bad, NULL), MQ_ERR_TOPIC);
        CHECK_RC(mq_unsubscribe_many(c, 2, null, NULL), MQ_ERR_INVAL);
    }

    tok = CHECK_TOKEN(mq_unsubscribe_many(c, 2, two, NULL));
    ev = integ_wait(c, MQ_EVENT_UNSUBSCRIBED, INTEG_WAIT_MS);
    CHECK(mq_event_token(ev) == tok, "token %d, expected %d",
          mq_event_token(ev), tok);
    CHECK(mq_event_error(ev) == MQ_OK, "error %s",
          mq_err_name(mq_event_error(ev)));
    CHECK(mq_event_reason_count(ev) == 2, "%zu reason codes",
          mq_event_reason_count(ev));
    for (i = 0; i < 2; i++)
        CHECK(mq_event_reason_at(ev, (size_t)i) == 0, "reason %d: 0x%02x", i,
              mq_event_reason_at(ev, (size_t)i));
    mq_event_free(ev);
    CHECK(mqt_broker_log_count(b, "Received UNSUBSCRIBE") == 1,
          "%d UNSUBSCRIBE packets for two filters",
          mqt_broker_log_count(b, "Received UNSUBSCRIBE"));

    /* only the middle one is still subscribed */
    for (i = 0; i < 3; i++)
        integ_wait_published(pub, CHECK_TOKEN(mq_publish(pub, f[i], "m", 1,
                                                          1, 0)));
    while ((ev = integ_try_wait(c, MQ_EVENT_MESSAGE, 1000)) != NULL) {
        CHECK(strcmp(mq_event_topic(ev), f[1]) == 0,
              "a message on unsubscribed %s", mq_event_topic(ev));
        got++;
        mq_event_free(ev);
    }
    CHECK(got == 1, "%d messages", got);
}

Test(limits, unsubscribe_many_v5) { unsubscribe_many(MQ_PROTO_V5); }
Test(limits, unsubscribe_many_v311) { unsubscribe_many(MQ_PROTO_V311); }

/* ---- outbound topic aliases -------------------------------------------- */

/* A subscriber receives every message under its full topic, in order,
 * whatever aliases the publisher used (mosquitto resolves them). */
static void
expect_topics(mq_client *sub, const char *const *want, int n)
{
    for (int i = 0; i < n; i++) {
        mq_event *ev = integ_wait(sub, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
        CHECK(strcmp(mq_event_topic(ev), want[i]) == 0,
              "message %d on %s, expected %s", i, mq_event_topic(ev),
              want[i]);
        mq_event_free(ev);
    }
}

Test(limits, topic_alias_explicit)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *pub = integ_client(b, "aliaspub", MQ_PROTO_V5);
    mq_client *sub = integ_client(b, "aliassub", MQ_PROTO_V5);
    char t1[96], t2[96], filt[96];
    const char *want[5];
    int i, tok = 0;

    snprintf(t1, sizeof t1, "%s", integ_topic("alias/one"));
    snprintf(t2, sizeof t2, "%s", integ_topic("alias/two"));
    snprintf(filt, sizeof filt, "%s", integ_topic("alias/#"));
    integ_connect(sub);
    integ_subscribe(sub, filt, 1);
    integ_connect(pub);
    for (i = 0; i < 5; i++) {
        mq_props *p = mq_props_new();
        want[i] = i < 3 ? t1 : t2;
        CHECK_RC(mq_props_add_int(p, MQ_PROP_TOPIC_ALIAS, 1), MQ_OK);
        tok = CHECK_TOKEN(mq_publish_v5(pub, want[i], "x", 1, 1, 0, p));
        mq_props_free(p);
        integ_wait_published(pub, tok);
    }
    expect_topics(sub, want, 5);
    /* mosquitto's default max_topic_alias is 10 */
    {
        mq_props *p = mq_props_new();
        CHECK_RC(mq_props_add_int(p, MQ_PROP_TOPIC_ALIAS, 11), MQ_OK);
        CHECK_RC(mq_publish_v5(pub, t1, "x", 1, 1, 0, p), MQ_ERR_PROPERTY);
        mq_props_free(p);
    }
    CHECK(mq_is_connected(pub), "the broker dropped the publisher");
}

Test(limits, topic_alias_auto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *pub = integ_client(b, "autopub", MQ_PROTO_V5);
    mq_client *sub = integ_client(b, "autosub", MQ_PROTO_V5);
    char topics[6][96], filt[96];
    const char *want[60];
    int i, n = 0, tok = 0;

    for (i = 0; i < 6; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "auto/%d/some/longer/level", i);
        snprintf(topics[i], sizeof topics[i], "%s", integ_topic(tag));
    }
    snprintf(filt, sizeof filt, "%s", integ_topic("auto/#"));
    CHECK_RC(mq_set_int(pub, MQ_OPT_TOPIC_ALIAS_AUTO, 4), MQ_OK);
    integ_connect(sub);
    integ_subscribe(sub, filt, 1);
    integ_connect(pub);
    /* 6 topics over 4 aliases: re-mapping happens */
    for (int r = 0; r < 10; r++)
        for (i = 0; i < 6; i++) {
            int t = (i * 7 + r * 3) % 6;
            want[n++] = topics[t];
            tok = CHECK_TOKEN(mq_publish(pub, topics[t], "a", 1, 1, 0));
        }
    integ_wait_published(pub, tok);
    expect_topics(sub, want, n);
    CHECK(mq_is_connected(pub), "the broker dropped the publisher");
}

/* ---- TLS file options checked when set ------------------------------- */

Test(limits, tls_files_checked_when_set)
{
    mq_client *c = integ_client(NULL, "tlsfiles", MQ_PROTO_V5);
    char path[] = "/tmp/mqt-file-XXXXXX";
    int fd = mkstemp(path);
    int rc;

    CHECK(fd >= 0, "mkstemp");
    close(fd);
    rc = mq_set_str(c, MQ_SOPT_TLS_CA_FILE, path);
    if (rc == MQ_ERR_NOT_SUPPORTED) {
        unlink(path);
        cr_skip_test("built without TLS");
    }
    CHECK_RC(rc, MQ_OK); /* readable: its content is TLS's business */
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_CA_FILE, "/nonexistent/ca.crt"),
             MQ_ERR_FILE);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_CA_FILE, "/tmp"), MQ_ERR_FILE);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_CERT_FILE, "/nonexistent/c.crt"),
             MQ_ERR_FILE);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_KEY_FILE, "/nonexistent/c.key"),
             MQ_ERR_FILE);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_CERT_FILE, path), MQ_OK);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_KEY_FILE, path), MQ_OK);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_CA_PATH, "/nonexistent-dir"),
             MQ_ERR_FILE);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_CA_PATH, path), MQ_ERR_FILE);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_CA_PATH, "/tmp"), MQ_OK);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_CA_FILE, NULL), MQ_OK); /* clears */
    CHECK(strcmp(mq_err_name(MQ_ERR_FILE), "MQ_ERR_FILE") == 0, "name");
    unlink(path);
}

/* ---- what was recovered after a crash --------------------------------- */

static void
rm_rf(const char *dir)
{
    char cmd[160];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        /* best effort */
    }
}

/* Messages stored but never sent come back as one MQ_EVENT_RECOVERED
 * each, inside mq_set_str(), with what identifies them; their
 * MQ_EVENT_PUBLISHED carries the same token and tag. */
Test(limits, recovered_events_and_tags)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *sub = integ_client(b, "recsub", MQ_PROTO_V5);
    char dir[] = "/tmp/mqt-recov-XXXXXX";
    const char *id = integ_id("recov");
    char topic[96];
    int tokens[6], i, n = 0;
    mq_client *c;
    mq_event *ev;

    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(topic, sizeof topic, "%s", integ_topic("recov"));
    integ_connect(sub);
    integ_subscribe(sub, topic, 2);

    /* a process that stores six messages and ends before connecting */
    c = mq_client_new(id, MQ_PROTO_V5);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PERSIST_DIR, dir), MQ_OK);
    CHECK(mq_next_event(c, 0) == NULL, "events from an empty store");
    for (i = 0; i < 6; i++) {
        char pl[16];
        mq_props *p = NULL;
        snprintf(pl, sizeof pl, "msg-%d", i);
        if (i == 2) {
            p = mq_props_new();
            mq_props_add_user(p, "k", "v");
        }
        if (i == 5)
            CHECK_TOKEN(mq_publish(c, topic, pl, strlen(pl), 1, 0));
        else
            CHECK_TOKEN(mq_publish_tagged(c, topic, pl, strlen(pl),
                                          1 + i % 2, i == 3, p,
                                          1000 + (uint64_t)i));
        mq_props_free(p);
    }
    mq_client_destroy(c);

    /* the restart */
    c = integ_client_id(b, id, MQ_PROTO_V5);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PERSIST_DIR, dir), MQ_OK);
    while ((ev = mq_next_event(c, 0)) != NULL) {
        char pl[16];
        size_t len;
        const char *p = mq_event_payload(ev, &len);
        CHECK(mq_event_type(ev) == MQ_EVENT_RECOVERED, "event %s",
              integ_event_name(mq_event_type(ev)));
        CHECK(n < 6, "more than six RECOVERED");
        snprintf(pl, sizeof pl, "msg-%d", n);
        CHECK(len == strlen(pl) && memcmp(p, pl, len) == 0, "payload %d", n);
        CHECK(strcmp(mq_event_topic(ev), topic) == 0, "topic");
        CHECK(mq_event_qos(ev) == (n == 5 ? 1 : 1 + n % 2), "qos %d",
              mq_event_qos(ev));
        CHECK(mq_event_retain(ev) == (n == 3), "retain");
        CHECK(mq_event_tag(ev) == (n == 5 ? 0 : 1000 + (uint64_t)n),
              "tag %llu", (unsigned long long)mq_event_tag(ev));
        CHECK(mq_event_token(ev) > 0, "token");
        CHECK((n == 2) == (mq_props_user_count(mq_event_props(ev)) == 1),
              "properties of %d", n);
        tokens[n++] = mq_event_token(ev);
        mq_event_free(ev);
    }
    CHECK(n == 6, "%d RECOVERED events, expected 6", n);
    CHECK(mq_queued_messages(c) == 6, "%zu queued", mq_queued_messages(c));
    integ_connect(c);
    for (i = 0; i < 6; i++) {
        int k;
        ev = integ_wait(c, MQ_EVENT_PUBLISHED, INTEG_WAIT_MS);
        CHECK(mq_event_error(ev) == MQ_OK, "error %s",
              mq_err_name(mq_event_error(ev)));
        for (k = 0; k < 6 && tokens[k] != mq_event_token(ev); k++)
            ;
        CHECK(k < 6, "PUBLISHED token %d was not recovered",
              mq_event_token(ev));
        if (k < 6)
            tokens[k] = 0; /* once */
        CHECK(mq_event_tag(ev) == (k == 5 ? 0 : 1000 + (uint64_t)k),
              "tag %llu for message %d",
              (unsigned long long)mq_event_tag(ev), k);
        mq_event_free(ev);
    }
    for (i = 0; i < 6; i++)
        mq_event_free(integ_wait(sub, MQ_EVENT_MESSAGE, INTEG_WAIT_MS));
    integ_client_destroy(c);

    /* all acknowledged: nothing comes back */
    c = mq_client_new(id, MQ_PROTO_V5);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PERSIST_DIR, dir), MQ_OK);
    CHECK(mq_next_event(c, 0) == NULL, "RECOVERED after completion");
    mq_client_destroy(c);
    rm_rf(dir);
}

/* The record of a tagged message stays until its MQ_EVENT_PUBLISHED is
 * freed: a process that ends between the completion and the moment the
 * application noted it finds the message again (QoS 2: only its PUBREL is
 * resent, the subscriber gets it once). */
Test(limits, tagged_record_kept_until_event_freed)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *sub = integ_client(b, "keepsub", MQ_PROTO_V5);
    char dir[] = "/tmp/mqt-keep-XXXXXX";
    const char *id = integ_id("keep");
    char topic[96];
    mq_client *c;
    mq_event *held, *ev;
    int tok, got = 0;

    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(topic, sizeof topic, "%s", integ_topic("keep"));
    integ_connect(sub);
    integ_subscribe(sub, topic, 2);

    c = mq_client_new(id, MQ_PROTO_V5);
    mq_set_server(c, mqt_broker_uri(b));
    CHECK_RC(mq_set_int(c, MQ_OPT_CLEAN_START, 0), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 300), MQ_OK);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PERSIST_DIR, dir), MQ_OK);
    integ_connect(c);
    tok = CHECK_TOKEN(mq_publish_tagged(c, topic, "once", 4, 2, 0, NULL,
                                        42));
    held = integ_wait(c, MQ_EVENT_PUBLISHED, INTEG_WAIT_MS);
    CHECK(mq_event_token(held) == tok && mq_event_tag(held) == 42 &&
              mq_event_error(held) == MQ_OK, "PUBLISHED");
    mq_client_destroy(c); /* "crash" with the event not yet freed */

    c = integ_client_id(b, id, MQ_PROTO_V5);
    CHECK_RC(mq_set_int(c, MQ_OPT_CLEAN_START, 0), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 300), MQ_OK);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PERSIST_DIR, dir), MQ_OK);
    ev = mq_next_event(c, 0);
    CHECK(ev != NULL && mq_event_type(ev) == MQ_EVENT_RECOVERED &&
              mq_event_tag(ev) == 42, "the tagged record is gone");
    mq_event_free(ev);
    mq_event_free(held); /* after its client: harmless */
    integ_connect(c);
    ev = integ_wait(c, MQ_EVENT_PUBLISHED, INTEG_WAIT_MS);
    CHECK(mq_event_tag(ev) == 42 && mq_event_error(ev) == MQ_OK,
          "second completion: %s", mq_err_name(mq_event_error(ev)));
    mq_event_free(ev); /* now the record goes */
    integ_client_destroy(c);

    while ((ev = integ_try_wait(sub, MQ_EVENT_MESSAGE, 1500)) != NULL) {
        got++;
        mq_event_free(ev);
    }
    CHECK(got == 1, "QoS 2 message delivered %d times", got);
    c = mq_client_new(id, MQ_PROTO_V5);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PERSIST_DIR, dir), MQ_OK);
    CHECK(mq_next_event(c, 0) == NULL, "record kept after the event was "
          "freed");
    mq_client_destroy(c);
    rm_rf(dir);
}
