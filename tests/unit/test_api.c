/*
 * test_api.c - unit tests for the small public utilities (api_misc.c):
 * versions, mq_strerror, mq_err_name, mq_reason_string.
 *
 * Threading: Criterion runs each test in its own process.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "mq.h"

Test(api, version)
{
    char buf[32];
    cr_expect_eq(mq_version(), MQ_VERSION_NUM);
    cr_expect_eq(mq_version(), (MQ_VERSION_MAJOR << 16) |
                                   (MQ_VERSION_MINOR << 8) | MQ_VERSION_PATCH);
    cr_assert_not_null(mq_version_string());
    cr_expect_str_eq(mq_version_string(), MQ_VERSION_STRING);
    snprintf(buf, sizeof buf, "%d.%d.%d", MQ_VERSION_MAJOR, MQ_VERSION_MINOR,
             MQ_VERSION_PATCH);
    cr_expect_str_eq(mq_version_string(), buf);
}

struct err_entry {
    int code;
    const char *name;
    const char *msg;
};

static const struct err_entry errs[] = {
#define X_(name, num, msg) {-(num), "MQ_ERR_" #name, msg},
    MQ_ERR_MAP(X_)
#undef X_
};

Test(api, strerror_and_name_cover_the_map)
{
    size_t n = sizeof errs / sizeof errs[0];
    cr_expect_eq(n, 29, "MQ_ERR_MAP has %zu entries", n);
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(mq_strerror(errs[i].code), errs[i].msg);
        cr_expect_str_eq(mq_err_name(errs[i].code), errs[i].name);
        cr_expect_lt(errs[i].code, 0);
        /* numbers are unique */
        for (size_t j = i + 1; j < n; j++)
            cr_expect_neq(errs[i].code, errs[j].code);
    }
}

Test(api, strerror_examples)
{
    cr_expect_str_eq(mq_err_name(MQ_ERR_QUEUE_FULL), "MQ_ERR_QUEUE_FULL");
    cr_expect_str_eq(mq_strerror(MQ_ERR_QUEUE_FULL), "outbound queue is full");
    cr_expect_str_eq(mq_err_name(MQ_ERR_NOMEM), "MQ_ERR_NOMEM");
    cr_expect_eq(MQ_ERR_NOMEM, -1);
    cr_expect_eq(MQ_ERR_ABORTED, -28);
    cr_expect_eq(MQ_ERR_FILE, -30); /* issue 13 */
    cr_expect_str_eq(mq_err_name(MQ_ERR_FILE), "MQ_ERR_FILE");
    cr_expect_str_eq(mq_err_name(MQ_OK), "MQ_OK");
    cr_assert_not_null(mq_strerror(MQ_OK));
    cr_expect_str_neq(mq_strerror(MQ_OK), "unknown error");
}

Test(api, strerror_unknown)
{
    static const int unknown[] = {1, 2, 28, -29, -100, -999, -1000, -1001,
                                  INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        cr_assert_not_null(mq_strerror(unknown[i]));
        cr_assert_not_null(mq_err_name(unknown[i]));
        cr_expect_str_eq(mq_strerror(unknown[i]), "unknown error", "code %d",
                         unknown[i]);
        cr_expect_str_eq(mq_err_name(unknown[i]), "MQ_ERR_UNKNOWN",
                         "code %d", unknown[i]);
    }
}

struct rc_entry {
    int code;
    const char *text;
};

/* MQTT 5.0 §2.4, table 2-6 */
static const struct rc_entry reasons[] = {
    {0x00, "Success"},
    {0x01, "Granted QoS 1"},
    {0x02, "Granted QoS 2"},
    {0x04, "Disconnect with Will Message"},
    {0x10, "No matching subscribers"},
    {0x11, "No subscription existed"},
    {0x18, "Continue authentication"},
    {0x19, "Re-authenticate"},
    {0x80, "Unspecified error"},
    {0x81, "Malformed Packet"},
    {0x82, "Protocol Error"},
    {0x83, "Implementation specific error"},
    {0x84, "Unsupported Protocol Version"},
    {0x85, "Client Identifier not valid"},
    {0x86, "Bad User Name or Password"},
    {0x87, "Not authorized"},
    {0x88, "Server unavailable"},
    {0x89, "Server busy"},
    {0x8A, "Banned"},
    {0x8B, "Server shutting down"},
    {0x8C, "Bad authentication method"},
    {0x8D, "Keep Alive timeout"},
    {0x8E, "Session taken over"},
    {0x8F, "Topic Filter invalid"},
    {0x90, "Topic Name invalid"},
    {0x91, "Packet Identifier in use"},
    {0x92, "Packet Identifier not found"},
    {0x93, "Receive Maximum exceeded"},
    {0x94, "Topic Alias invalid"},
    {0x95, "Packet too large"},
    {0x96, "Message rate too high"},
    {0x97, "Quota exceeded"},
    {0x98, "Administrative action"},
    {0x99, "Payload format invalid"},
    {0x9A, "Retain not supported"},
    {0x9B, "QoS not supported"},
    {0x9C, "Use another server"},
    {0x9D, "Server moved"},
    {0x9E, "Shared Subscriptions not supported"},
    {0x9F, "Connection rate exceeded"},
    {0xA0, "Maximum connect time"},
    {0xA1, "Subscription Identifiers not supported"},
    {0xA2, "Wildcard Subscriptions not supported"},
};

Test(api, reason_strings)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        cr_expect_str_eq(mq_reason_string(reasons[i].code), reasons[i].text,
                         "reason 0x%02X", (unsigned)reasons[i].code);
    cr_expect_str_eq(mq_reason_string(MQ_RC_NOT_AUTHORIZED), "Not authorized");
    cr_expect_str_eq(mq_reason_string(MQ_RC_NORMAL_DISCONNECTION), "Success");
    cr_expect_str_eq(mq_reason_string(MQ_RC_GRANTED_QOS_0), "Success");
}

Test(api, reason_unknown_never_null)
{
    /* Every int in a wide range gets a string; codes outside the table get
     * "Unknown reason code". */
    for (int rc = -300; rc <= 600; rc++) {
        const char *s = mq_reason_string(rc);
        cr_assert_not_null(s, "reason %d", rc);
        int known = 0;
        for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
            if (reasons[i].code == rc)
                known = 1;
        if (!known)
            cr_expect_str_eq(s, "Unknown reason code", "reason %d", rc);
    }
    cr_expect_str_eq(mq_reason_string(INT_MIN), "Unknown reason code");
    cr_expect_str_eq(mq_reason_string(INT_MAX), "Unknown reason code");
}
