/* The option table (libmq/src/options.c) and the setters it drives: every
 * integer row's range and default through the public calls, the order of
 * the checks, read-only and reserved options, string rows, numbers. */
#include <criterion/criterion.h>
#include <string.h>

#include "internal.h"

static mq_client *v5, *v3;

static void
setup(void)
{
    v5 = mq_client_new("opt-v5", MQ_PROTO_V5);
    v3 = mq_client_new("opt-v3", MQ_PROTO_V311);
    cr_assert(v5 != NULL && v3 != NULL);
}

static void
teardown(void)
{
    mq_client_destroy(v5);
    mq_client_destroy(v3);
}

TestSuite(options, .init = setup, .fini = teardown);

Test(options, numbers_are_unique_and_found)
{
    const mqi_optdef *d, *e;
    size_t i, j;

    for (i = 0; (d = mqi_opt_at(i)) != NULL; i++) {
        cr_assert_eq(mqi_opt_find(d->id), d, "%s", d->name);
        cr_assert(strncmp(d->name, d->type == MQI_OT_INT ? "MQ_OPT_"
                                                        : "MQ_SOPT_", 7) == 0,
                  "%s", d->name);
        for (j = i + 1; (e = mqi_opt_at(j)) != NULL; j++)
            cr_assert_neq(d->id, e->id, "%s and %s", d->name, e->name);
    }
    cr_assert_gt(i, 50);
    cr_assert_null(mqi_opt_find(0));
    cr_assert_null(mqi_opt_find(25)); /* 25..29: issue 12's unused range */
    cr_assert_null(mqi_opt_find(100));
}

Test(options, every_int_row_default_and_range)
{
    const mqi_optdef *d;
    size_t i;
    int64_t v;

    for (i = 0; (d = mqi_opt_at(i)) != NULL; i++) {
        if (d->type != MQI_OT_INT)
            continue;
        cr_assert_eq(mq_get_int(v5, d->id, &v), MQ_OK, "%s", d->name);
        cr_assert_eq(v, d->def, "%s default %lld", d->name, (long long)v);
        if (d->when == MQI_OW_READ) {
            cr_assert_eq(mq_set_int(v5, d->id, d->def), MQ_ERR_INVAL);
            continue;
        }
        if (d->store == MQI_OS_CONST) {
            cr_assert_eq(mq_set_int(v5, d->id, d->def), MQ_OK);
            cr_assert_eq(mq_set_int(v5, d->id, d->def + 1),
                         MQ_ERR_NOT_SUPPORTED);
            continue;
        }
#ifndef MQ_HAVE_TLS
        if (d->flags & MQI_OF_TLS)
            continue;
#endif
        cr_assert_eq(mq_set_int(v5, d->id, d->lo), MQ_OK, "%s lo", d->name);
        cr_assert_eq(mq_get_int(v5, d->id, &v), MQ_OK);
        cr_assert_eq(v, d->lo, "%s reads back %lld", d->name, (long long)v);
        cr_assert_eq(mq_set_int(v5, d->id, d->hi), MQ_OK, "%s hi", d->name);
        cr_assert_eq(mq_get_int(v5, d->id, &v), MQ_OK);
        cr_assert_eq(v, d->hi, "%s reads back %lld", d->name, (long long)v);
        if (d->lo > INT64_MIN)
            cr_assert_eq(mq_set_int(v5, d->id, d->lo - 1), MQ_ERR_INVAL,
                         "%s below", d->name);
        if (d->hi < INT64_MAX)
            cr_assert_eq(mq_set_int(v5, d->id, d->hi + 1), MQ_ERR_INVAL,
                         "%s above", d->name);
        /* MQTT 5 options on a 3.1.1 client: the default only */
        if (d->flags & MQI_OF_V5) {
            cr_assert_eq(mq_set_int(v3, d->id, d->def), MQ_OK, "%s", d->name);
            cr_assert_eq(mq_set_int(v3, d->id, d->def == d->lo ? d->hi
                                                                : d->lo),
                         MQ_ERR_NOT_SUPPORTED, "%s on 3.1.1", d->name);
        }
        cr_assert_eq(mq_set_int(v5, d->id, d->def), MQ_OK);
    }
}

Test(options, unknown_and_mistyped)
{
    int64_t v = 7;

    cr_assert_eq(mq_set_int(v5, 999, 1), MQ_ERR_INVAL);
    cr_assert_eq(mq_get_int(v5, 999, &v), MQ_ERR_INVAL);
    cr_assert_eq(mq_set_int(v5, MQ_SOPT_USERNAME, 1), MQ_ERR_INVAL);
    cr_assert_eq(mq_get_int(v5, MQ_SOPT_USERNAME, &v), MQ_ERR_INVAL);
    cr_assert_eq(mq_set_str(v5, MQ_OPT_KEEPALIVE_S, "1"), MQ_ERR_INVAL);
    cr_assert_eq(mq_set_str(v5, 999, "x"), MQ_ERR_INVAL);
    cr_assert_eq(mq_set_int(NULL, MQ_OPT_KEEPALIVE_S, 1), MQ_ERR_INVAL);
}

Test(options, string_rows)
{
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_USERNAME, "u"), MQ_OK);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_USERNAME, NULL), MQ_OK);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_USERNAME, "\xff"), MQ_ERR_UTF8);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_PASSWORD, "p"), MQ_OK);
#ifdef MQ_HAVE_TLS
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_MIN_VERSION, "tlsv1.3"), MQ_OK);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_MIN_VERSION, "tls9"),
                 MQ_ERR_INVAL);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_CA_FILE, "/nonexistent/ca.pem"),
                 MQ_ERR_FILE);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_CA_PATH, "/etc/hostname"),
                 MQ_ERR_FILE);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_ALPN, "mqtt"), MQ_OK);
#endif
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_NO_PROXY, "localhost"), MQ_OK);
}

/* The option set is copied at mq_connect (the snapshot) and freed: every
 * string row survives a copy, and the copy is its own. */
Test(options, copy_and_clear_follow_the_rows)
{
    mqi_opts a, b;
    const mqi_optdef *d;
    size_t i;

    memset(&a, 0, sizeof a);
    for (i = 0; (d = mqi_opt_at(i)) != NULL; i++)
        if (d->store == MQI_OS_OPT_STR)
            *mqi_opt_str_field(&a, d) = mqi_strdup(d->name);
    a.will_topic = mqi_strdup("will");
    cr_assert_eq(mqi_opts_copy(&b, &a), MQ_OK);
    for (i = 0; (d = mqi_opt_at(i)) != NULL; i++)
        if (d->store == MQI_OS_OPT_STR) {
            char *s = *mqi_opt_str_field(&b, d);
            cr_assert_str_eq(s, d->name);
            cr_assert_neq(s, *mqi_opt_str_field(&a, d));
        }
    cr_assert_str_eq(b.will_topic, "will");
    mqi_opts_clear(&a);
    mqi_opts_clear(&b);
    cr_assert_null(b.username);
    cr_assert_null(b.tls_key_pem);
}
