/* The option table (libmq/src/options.c) and the setters it drives: every
 * integer row's range and default through the public calls, the order of
 * the checks, read-only and reserved options, string rows, numbers.
 * calloc is interposed (glibc's __libc_calloc underneath) so a test can
 * make the TLS/will block's allocation fail; not under ASan/TSan, which
 * have their own allocator (that test is left out there). */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"

#include "malloc_hook.h"

#ifndef MQT_NO_MALLOC_HOOK
extern void *__libc_calloc(size_t n, size_t size);

/* While set, zeroed allocations of the TLS/will block's size fail; and
 * those of a graceful disconnect's state. */
static atomic_bool g_fail_topts, g_fail_drain;

void *
calloc(size_t n, size_t size)
{
    if (n * size == sizeof(mqi_topts) && atomic_load(&g_fail_topts))
        return NULL;
    if (n * size == sizeof(struct mqi_drain) && atomic_load(&g_fail_drain))
        return NULL;
    return __libc_calloc(n, size);
}
#endif

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

/* Rows stored as uint16_t (issue 20 item 3) must have a range that fits
 * (the setter checks the range before it stores), and the values of
 * neighbouring 16-bit fields must not leak into each other. */
Test(options, u16_rows_fit_and_stay_apart)
{
    const mqi_optdef *d, *e;
    size_t i, j, n = 0;
    int64_t v;

    for (i = 0; (d = mqi_opt_at(i)) != NULL; i++) {
        if (d->store != MQI_OS_OPT_U16)
            continue;
        n++;
        cr_assert_geq(d->lo, 0, "%s", d->name);
        cr_assert_leq(d->hi, 65535, "%s", d->name);
        cr_assert_geq(d->def, d->lo, "%s", d->name);
        cr_assert_leq(d->def, d->hi, "%s", d->name);
        cr_assert_eq(mq_set_int(v5, d->id, d->hi), MQ_OK, "%s", d->name);
        cr_assert_eq(mq_set_int(v5, d->id, 65536), MQ_ERR_INVAL, "%s",
                     d->name);
        cr_assert_eq(mq_set_int(v5, d->id, -1), MQ_ERR_INVAL, "%s", d->name);
        for (j = 0; (e = mqi_opt_at(j)) != NULL; j++) {
            if (e == d || e->type != MQI_OT_INT)
                continue;
            cr_assert_eq(mq_get_int(v5, e->id, &v), MQ_OK);
            cr_assert_eq(v, e->def, "%s set to its maximum changed %s",
                         d->name, e->name);
        }
        cr_assert_eq(mq_get_int(v5, d->id, &v), MQ_OK);
        cr_assert_eq(v, d->hi, "%s", d->name);
        cr_assert_eq(mq_set_int(v5, d->id, d->def), MQ_OK);
    }
    cr_assert_geq(n, 9, "keepalive, inflight, v5 limits... are 16-bit");
}

/* A server list is one block: the array, then its strings (issue 20 item
 * 3); a copy of the option set (the snapshot after a change) is another
 * such block with the same contents. */
Test(options, server_list_is_one_block)
{
    mqi_opts *copy;
    const mqi_server *s;
    const char *end;

    cr_assert_eq(mq_set_server(v5, "ws://h1.example:8080/mqtt, "
                                   "mqtt://10.0.0.2 unix:///tmp/b.sock"),
                 MQ_OK);
    s = v5->opt->servers;
    cr_assert_eq(v5->opt->nservers, 3);
    end = (const char *)(s + 3);
    cr_assert_str_eq(s[0].host, "h1.example");
    cr_assert_str_eq(s[0].path, "/mqtt");
    cr_assert_eq(s[0].port, 8080);
    cr_assert_eq(s[0].scheme, MQI_SCHEME_WS);
    cr_assert_str_eq(s[1].host, "10.0.0.2");
    cr_assert_null(s[1].path);
    cr_assert_eq(s[1].port, 1883);
    cr_assert_str_eq(s[2].host, "/tmp/b.sock");
    cr_assert_eq(s[2].scheme, MQI_SCHEME_UNIX);
    cr_assert(s[0].host == end, "the strings follow the array");
    cr_assert(s[2].host > s[1].host && s[1].host > s[0].path);
    copy = mqi_opts_new();
    cr_assert_not_null(copy);
    cr_assert_eq(mqi_opts_copy(copy, v5->opt), MQ_OK);
    cr_assert_eq(copy->nservers, 3);
    cr_assert_neq(copy->servers, s);
    cr_assert_str_eq(copy->servers[0].path, "/mqtt");
    cr_assert_str_eq(copy->servers[2].host, "/tmp/b.sock");
    cr_assert(copy->servers[0].host == (const char *)(copy->servers + 3));
    mqi_opts_unref(copy);
    cr_assert_eq(mq_set_server(v5, "mqtt://127.0.0.1:1"), MQ_OK);
    cr_assert_eq(v5->opt->nservers, 1);
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
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_BIND_ADDRESS, "127.0.0.2"), MQ_OK);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_BIND_ADDRESS, "fe80::1"), MQ_OK);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_BIND_ADDRESS, "host.example"),
                 MQ_ERR_INVAL);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_BIND_ADDRESS, ""), MQ_OK);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_BIND_ADDRESS, NULL), MQ_OK);
}

/* The option set is copied at mq_connect (the snapshot) and freed: every
 * string row survives a copy, and the copy is its own. */
Test(options, copy_and_clear_follow_the_rows)
{
    mqi_opts a, b;
    const mqi_optdef *d;
    size_t i;

    memset(&a, 0, sizeof a);
    /* without the TLS/will block, its string rows have no field */
    for (i = 0; (d = mqi_opt_at(i)) != NULL; i++)
        if (d->store == MQI_OS_T_STR)
            cr_assert_null(mqi_opt_str_field(&a, d), "%s", d->name);
    cr_assert_not_null(mqi_topts_mut(&a));
    for (i = 0; (d = mqi_opt_at(i)) != NULL; i++)
        if (d->store == MQI_OS_OPT_STR || d->store == MQI_OS_T_STR)
            *mqi_opt_str_field(&a, d) = mqi_strdup(d->name);
    a.t->will_topic = mqi_strdup("will");
    cr_assert_eq(mqi_opts_copy(&b, &a), MQ_OK);
    cr_assert_neq(b.t, a.t);
    for (i = 0; (d = mqi_opt_at(i)) != NULL; i++)
        if (d->store == MQI_OS_OPT_STR || d->store == MQI_OS_T_STR) {
            char *s = *mqi_opt_str_field(&b, d);
            cr_assert_str_eq(s, d->name);
            cr_assert_neq(s, *mqi_opt_str_field(&a, d));
        }
    cr_assert_str_eq(b.t->will_topic, "will");
    mqi_opts_clear(&a);
    mqi_opts_clear(&b);
    cr_assert_null(b.username);
    cr_assert_null(b.t);
    cr_assert_null(mqi_topts_of(&b)->tls_key_pem);
}

/* Issue 20 item 3: the TLS options and the will live in a block made by
 * the first one set; a client that sets none has no block, clearing one
 * makes none, and mq_get_int reads the defaults without it. */
Test(options, tls_and_will_block_made_on_first_use)
{
    int64_t v = -1;

    cr_assert_null(v5->opt->t);
    cr_assert_eq(mq_set_will(v5, NULL, NULL, 0, 0, 0, NULL), MQ_OK);
    cr_assert_eq(mq_set_int(v5, MQ_OPT_TLS_INSECURE, 0), MQ_OK);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_ALPN, NULL), MQ_OK);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_MIN_VERSION, NULL), MQ_OK);
    cr_assert_null(v5->opt->t);
    cr_assert_eq(mq_get_int(v5, MQ_OPT_TLS_INSECURE, &v), MQ_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(mq_set_will(v5, "w/t", "x", 1, 1, 1, NULL), MQ_OK);
    cr_assert_not_null(v5->opt->t);
    cr_assert(v5->opt->t->will);
    cr_assert_str_eq(v5->opt->t->will_topic, "w/t");
    cr_assert_eq(mq_set_int(v5, MQ_OPT_TLS_INSECURE, 1), MQ_OK);
    cr_assert_eq(mq_get_int(v5, MQ_OPT_TLS_INSECURE, &v), MQ_OK);
    cr_assert_eq(v, 1);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_MIN_VERSION, "tlsv1.3"), MQ_OK);
    cr_assert_eq(v5->opt->t->tls_min_version, 13);
    cr_assert_eq(mq_set_will(v5, NULL, NULL, 0, 0, 0, NULL), MQ_OK);
    cr_assert(!v5->opt->t->will);
    cr_assert_null(v5->opt->t->will_topic);
}

/* Issue 20 (memory per idle connection): the connect snapshot is the
 * option set itself with one more reference unless it chooses proxies; a
 * change made while the snapshot is held goes to a private copy, and the
 * snapshot keeps the values it was taken with. */
Test(options, snapshot_shares_until_a_change)
{
    mqi_opts *snap, *before;

    cr_assert_eq(mq_set_server(v3, "mqtt://127.0.0.1:1"), MQ_OK);
    cr_assert_eq(mq_set_int(v3, MQ_OPT_KEEPALIVE_S, 30), MQ_OK);
    pthread_mutex_lock(&v3->lock);
    cr_assert_null(v3->opt->x, "no transport extra set: none allocated");
    snap = mqi_opts_snapshot(v3->opt);
    cr_assert_eq(snap, v3->opt, "no proxy: shared, not copied");
    cr_assert_eq(atomic_load(&snap->refs), 2);
    pthread_mutex_unlock(&v3->lock);

    before = v3->opt;
    cr_assert_eq(mq_set_int(v3, MQ_OPT_KEEPALIVE_S, 45), MQ_OK);
    cr_assert_neq(v3->opt, before, "changed while shared: copied first");
    cr_assert_eq(atomic_load(&snap->refs), 1);
    cr_assert_eq(snap->keepalive, 30, "the snapshot keeps its value");
    cr_assert_eq(v3->opt->keepalive, 45);
    cr_assert_str_eq(v3->opt->servers[0].host, "127.0.0.1");
    cr_assert_neq(v3->opt->servers, snap->servers);
    before = v3->opt;
    cr_assert_eq(mq_set_int(v3, MQ_OPT_KEEPALIVE_S, 50), MQ_OK);
    cr_assert_eq(v3->opt, before, "not shared any more: changed in place");
    mqi_opts_unref(snap);

    /* a proxy makes the snapshot a copy with the proxy chosen; the
     * options themselves never hold a chosen proxy */
    cr_assert_eq(mq_set_str(v3, MQ_SOPT_PROXY, "http://127.0.0.1:3128"), MQ_OK);
    cr_assert_not_null(v3->opt->x);
    pthread_mutex_lock(&v3->lock);
    snap = mqi_opts_snapshot(v3->opt);
    pthread_mutex_unlock(&v3->lock);
    cr_assert_not_null(snap);
    cr_assert_neq(snap, v3->opt);
    cr_assert_not_null(snap->x->px_plain);
    cr_assert_null(v3->opt->x->px_plain);
    mqi_opts_unref(snap);
}

Test(options, callbacks_table_made_on_first_use)
{
    cr_assert_null(v5->cbs);
    cr_assert_eq(mq_set_callback(v5, MQ_EVENT_MESSAGE, NULL, NULL), MQ_OK);
    cr_assert_null(v5->cbs, "clearing needs no table");
}

#ifndef MQT_NO_MALLOC_HOOK
static int
pw_cb(char *buf, int size, void *ud)
{
    (void)buf;
    (void)size;
    (void)ud;
    return 0;
}

/* Without memory for the TLS/will block, each setter that needs it says
 * MQ_ERR_NOMEM and changes nothing; with memory again they all work. */
Test(options, tls_and_will_setters_without_memory_change_nothing)
{
    int64_t v = -1;

    atomic_store(&g_fail_topts, true);
    cr_assert_eq(mq_set_will(v5, "w/t", "x", 1, 1, 0, NULL), MQ_ERR_NOMEM);
    cr_assert_eq(mq_set_int(v5, MQ_OPT_TLS_INSECURE, 1), MQ_ERR_NOMEM);
    cr_assert_eq(mq_set_int(v5, MQ_OPT_TLS_NO_HOSTNAME_CHECK, 1),
                 MQ_ERR_NOMEM);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_ALPN, "mqtt"), MQ_ERR_NOMEM);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_MIN_VERSION, "tlsv1.3"),
                 MQ_ERR_NOMEM);
    cr_assert_eq(mq_set_tls_password_cb(v5, pw_cb, NULL), MQ_ERR_NOMEM);
    /* clearing needs no block */
    cr_assert_eq(mq_set_will(v5, NULL, NULL, 0, 0, 0, NULL), MQ_OK);
    cr_assert_eq(mq_set_tls_password_cb(v5, NULL, NULL), MQ_OK);
    atomic_store(&g_fail_topts, false);
    cr_assert_null(v5->opt->t);
    cr_assert_eq(mq_get_int(v5, MQ_OPT_TLS_INSECURE, &v), MQ_OK);
    cr_assert_eq(v, 0);

    cr_assert_eq(mq_set_will(v5, "w/t", "x", 1, 1, 0, NULL), MQ_OK);
    cr_assert_eq(mq_set_int(v5, MQ_OPT_TLS_INSECURE, 1), MQ_OK);
    cr_assert_eq(mq_set_str(v5, MQ_SOPT_TLS_ALPN, "mqtt"), MQ_OK);
    cr_assert_eq(mq_set_tls_password_cb(v5, pw_cb, NULL), MQ_OK);
    cr_assert_not_null(v5->opt->t);
    cr_assert(v5->opt->t->will && v5->opt->t->tls_insecure);
    cr_assert_str_eq(v5->opt->t->tls_alpn, "mqtt");
    cr_assert_eq(v5->opt->t->tls_password_cb, pw_cb);
}

/* The state of a graceful disconnect is made by mq_disconnect*() (issue
 * 20 item 3: idle clients hold none): without memory for it the call
 * fails with MQ_ERR_NOMEM and changes nothing; repeated, it works. */
Test(options, disconnect_without_memory_changes_nothing)
{
    cr_assert_eq(mq_set_server(v5, "mqtt://127.0.0.1:1"), MQ_OK);
    cr_assert_eq(mq_connect(v5), MQ_OK); /* refused, retried: active */
    atomic_store(&g_fail_drain, true);
    cr_assert_eq(mq_disconnect(v5, 0), MQ_ERR_NOMEM);
    cr_assert_eq(mq_disconnect_now(v5, 0), MQ_ERR_NOMEM);
    atomic_store(&g_fail_drain, false);
    cr_assert_eq(mq_connect(v5), MQ_ERR_STATE, "still active");
    cr_assert_eq(mq_disconnect(v5, 0), MQ_OK);
    cr_assert_eq(mq_disconnect(v5, 0), MQ_ERR_STATE, "one is under way");
    cr_assert_eq(mq_wait_disconnected(v5, 10000), MQ_OK);
    cr_assert_null(v5->drain, "freed at the end");
    cr_assert_eq(mq_disconnect(v5, 0), MQ_ERR_NO_CONN);
}
#endif
