/*
 * api_transport.c - the options of libmq's transports for real deployments
 * (keys by URI, providers, engines, TLS-PSK, CRLs, an application's
 * SSL_CTX, session resumption, proxies): their checks and storage
 * (mqi_xopts, called by client.c's option setters), the connect snapshot
 * that picks the proxies (from the options or, when asked, the
 * environment), and the public functions that belong with them:
 * mq_set_tls_ctx() and mq_event_tls().
 *
 * Threading: the setters run under c->lock (client.c); the snapshot runs
 * in mq_connect() on the application's thread, so the environment is
 * read there, never on the worker; mqi_xopts_proxy/mqi_xopts_tls read a
 * snapshot on the worker. mq_event_tls reads an event (any thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *
nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static int
set_field(char **field, const char *v)
{
    char *d = NULL;

    if (nonempty(v) != NULL && (d = strdup(v)) == NULL)
        return MQ_ERR_NOMEM;
    free(*field);
    *field = d;
    return MQ_OK;
}

static void
free_secret(char **field)
{
    if (*field != NULL)
        memset(*field, 0, strlen(*field));
    free(*field);
    *field = NULL;
}

/* ---- setters ------------------------------------------------------------ */

int
mqi_xopts_set_int(mqi_xopts *x, int option, int64_t v)
{
    switch (option) {
    case MQ_OPT_TLS_SESSION_RESUME:
    case MQ_OPT_TLS_CRL_CHECK:
#ifndef MQ_HAVE_TLS
        return MQ_ERR_NOT_SUPPORTED;
#else
        if (option == MQ_OPT_TLS_SESSION_RESUME) {
            if (v < 0 || v > 1)
                return MQ_ERR_INVAL;
            x->tls_no_resume = v == 0;
        } else {
            if (v < 1 || v > 2)
                return MQ_ERR_INVAL;
            x->tls_crl_check = (int)v;
        }
        return MQ_OK;
#endif
    case MQ_OPT_PROXY_FROM_ENV:
        if (v < 0 || v > 1)
            return MQ_ERR_INVAL;
        x->proxy_from_env = v != 0;
        return MQ_OK;
    default:
        return MQ_ERR_INVAL;
    }
}

int
mqi_xopts_get_int(const mqi_xopts *x, int option, int64_t *out)
{
    switch (option) {
    case MQ_OPT_TLS_SESSION_RESUME:
        *out = !x->tls_no_resume;
        return MQ_OK;
    case MQ_OPT_TLS_CRL_CHECK:
        *out = x->tls_crl_check != 0 ? x->tls_crl_check : 2;
        return MQ_OK;
    case MQ_OPT_PROXY_FROM_ENV:
        *out = x->proxy_from_env;
        return MQ_OK;
    default:
        *out = 0;
        return MQ_ERR_INVAL;
    }
}

/* A PSK as mosquitto takes it: hex digits, an optional 0x. */
static bool
psk_hex_ok(const char *v)
{
    size_t n;

    if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
        v += 2;
    n = strlen(v);
    return n >= 1 && n <= 512 && strspn(v, "0123456789abcdefABCDEF") == n;
}

int
mqi_xopts_set_str(mqi_xopts *x, int option, const char *v)
{
    switch (option) {
    case MQ_SOPT_TLS_KEY_URI:
    case MQ_SOPT_TLS_CERT_URI:
    case MQ_SOPT_TLS_PROVIDERS:
    case MQ_SOPT_TLS_ENGINE:
    case MQ_SOPT_TLS_PSK:
    case MQ_SOPT_TLS_PSK_IDENTITY:
    case MQ_SOPT_TLS_CRL_FILE:
    case MQ_SOPT_TLS_CRL_PATH:
    case MQ_SOPT_TLS_MAX_VERSION:
#ifndef MQ_HAVE_TLS
        return MQ_ERR_NOT_SUPPORTED;
#else
        break;
#endif
    case MQ_SOPT_PROXY:
    case MQ_SOPT_NO_PROXY:
    case MQ_SOPT_BIND_ADDRESS:
        break;
    default:
        return MQ_ERR_INVAL;
    }
    switch (option) {
    case MQ_SOPT_TLS_KEY_URI: return set_field(&x->tls_key_uri, v);
    case MQ_SOPT_TLS_CERT_URI: return set_field(&x->tls_cert_uri, v);
    case MQ_SOPT_TLS_PROVIDERS: return set_field(&x->tls_providers, v);
    case MQ_SOPT_TLS_ENGINE: return set_field(&x->tls_engine, v);
    case MQ_SOPT_TLS_PSK:
        if (nonempty(v) != NULL && !psk_hex_ok(v))
            return MQ_ERR_INVAL;
        free_secret(&x->tls_psk);
        return set_field(&x->tls_psk, v);
    case MQ_SOPT_TLS_PSK_IDENTITY:
        if (v != NULL && strlen(v) > 255)
            return MQ_ERR_INVAL;
        return set_field(&x->tls_psk_identity, v);
    case MQ_SOPT_TLS_CRL_FILE: return set_field(&x->tls_crl_file, v);
    case MQ_SOPT_TLS_CRL_PATH: return set_field(&x->tls_crl_path, v);
    case MQ_SOPT_TLS_MAX_VERSION:
        if (nonempty(v) == NULL)
            x->tls_max_version = 0;
        else if (strcmp(v, "tlsv1.2") == 0)
            x->tls_max_version = 12;
        else if (strcmp(v, "tlsv1.3") == 0)
            x->tls_max_version = 13;
        else
            return MQ_ERR_INVAL;
        return MQ_OK;
    case MQ_SOPT_PROXY:
        if (nonempty(v) != NULL) {
            mqi_proxy p;
            char err[160];
            int rc = mqi_proxy_parse(v, false, &p, err, sizeof err);

            if (rc != MQ_OK)
                return rc;
            mqi_proxy_free(&p);
        }
        free_secret(&x->proxy);
        return set_field(&x->proxy, v);
    case MQ_SOPT_NO_PROXY: return set_field(&x->no_proxy, v);
    case MQ_SOPT_BIND_ADDRESS: /* checked by mq_set_str; "" came as NULL */
        return set_field(&x->bind_address, v);
    default:
        return MQ_ERR_INVAL;
    }
}

/* ---- snapshot ------------------------------------------------------------- */

static void
proxy_drop(mqi_proxy **p)
{
    if (*p != NULL) {
        mqi_proxy_free(*p);
        free(*p);
    }
    *p = NULL;
}

void
mqi_xopts_clear(mqi_xopts *x)
{
    free(x->tls_key_uri);
    free(x->tls_cert_uri);
    free(x->tls_providers);
    free(x->tls_engine);
    free_secret(&x->tls_psk);
    free(x->tls_psk_identity);
    free(x->tls_crl_file);
    free(x->tls_crl_path);
#ifdef MQ_HAVE_TLS
    if (x->tls_app_ctx != NULL)
        mqi_tls_app_ctx_release(x->tls_app_ctx);
#endif
    free_secret(&x->proxy);
    free(x->no_proxy);
    free(x->bind_address);
    if (x->px_tls == x->px_plain)
        x->px_tls = NULL; /* one proxy for both */
    proxy_drop(&x->px_plain);
    proxy_drop(&x->px_tls);
    free(x->px_no);
    free(x->px_err_plain);
    free(x->px_err_tls);
    memset(x, 0, sizeof *x);
}

static const mqi_xopts g_xnone; /* every transport option at its default */

const mqi_xopts *
mqi_xopts_of(const mqi_opts *o)
{
    return o->x != NULL ? o->x : &g_xnone;
}

mqi_xopts *
mqi_xopts_mut(mqi_opts *o)
{
    if (o->x == NULL)
        o->x = calloc(1, sizeof *o->x);
    return o->x;
}

bool
mqi_xopts_picks_proxy(const mqi_xopts *x)
{
    return nonempty(x->proxy) != NULL || x->proxy_from_env;
}

void
mqi_xopts_drop_proxies(mqi_xopts *x)
{
    if (x->px_tls == x->px_plain)
        x->px_tls = NULL;
    proxy_drop(&x->px_plain);
    proxy_drop(&x->px_tls);
    free(x->px_no);
    free(x->px_err_plain);
    free(x->px_err_tls);
    x->px_no = x->px_err_plain = x->px_err_tls = NULL;
}

/* Parse @p val into a new proxy; on failure *err gets the reason. */
static int
proxy_new(const char *val, bool bare_http, const char *from,
          mqi_proxy **out, char **err)
{
    char why[200], msg[300];
    mqi_proxy *p = calloc(1, sizeof *p);
    int rc;

    *out = NULL;
    if (p == NULL)
        return MQ_ERR_NOMEM;
    rc = mqi_proxy_parse(val, bare_http, p, why, sizeof why);
    if (rc == MQ_OK) {
        *out = p;
        return MQ_OK;
    }
    free(p);
    if (rc == MQ_ERR_NOMEM)
        return rc;
    snprintf(msg, sizeof msg, "%s: %s", from, why);
    *err = strdup(msg);
    return *err != NULL ? MQ_OK : MQ_ERR_NOMEM;
}

/* The first set variable of @p names (NULL-terminated); its name too. */
static const char *
env_first(const char *const *names, const char **which)
{
    for (; *names != NULL; names++) {
        const char *v = getenv(*names);

        if (nonempty(v) != NULL) {
            *which = *names;
            return v;
        }
    }
    return NULL;
}

static int
proxies_from_env(mqi_xopts *dst, const mqi_xopts *src)
{
    /* http_proxy in lower case only: HTTP_PROXY may be set by a CGI
     * server from a request header ("httpoxy"); curl does the same */
    static const char *const tls_vars[] = { "https_proxy", "HTTPS_PROXY",
                                            "all_proxy", "ALL_PROXY", NULL };
    static const char *const plain_vars[] = { "http_proxy", "all_proxy",
                                              "ALL_PROXY", NULL };
    static const char *const no_vars[] = { "no_proxy", "NO_PROXY", NULL };
    const char *which = NULL, *v;
    int rc;

    v = env_first(tls_vars, &which);
    if (v != NULL
        && (rc = proxy_new(v, true, which, &dst->px_tls, &dst->px_err_tls))
               != MQ_OK)
        return rc;
    v = env_first(plain_vars, &which);
    if (v != NULL
        && (rc = proxy_new(v, true, which, &dst->px_plain,
                           &dst->px_err_plain)) != MQ_OK)
        return rc;
    v = nonempty(src->no_proxy) != NULL ? src->no_proxy
                                        : env_first(no_vars, &which);
    if (v != NULL && (dst->px_no = strdup(v)) == NULL)
        return MQ_ERR_NOMEM;
    return MQ_OK;
}

#define DUP(field)                                                        \
    do {                                                                  \
        if (src->field != NULL &&                                         \
            (dst->field = strdup(src->field)) == NULL)                    \
            goto nomem;                                                   \
    } while (0)

int
mqi_xopts_snapshot(mqi_xopts *dst, const mqi_xopts *src)
{
    char *unused = NULL;
    int rc = MQ_ERR_NOMEM;

    memset(dst, 0, sizeof *dst);
    dst->tls_crl_check = src->tls_crl_check;
    dst->tls_max_version = src->tls_max_version;
    dst->tls_no_resume = src->tls_no_resume;
    dst->proxy_from_env = src->proxy_from_env;
    DUP(tls_key_uri);
    DUP(tls_cert_uri);
    DUP(tls_providers);
    DUP(tls_engine);
    DUP(tls_psk);
    DUP(tls_psk_identity);
    DUP(tls_crl_file);
    DUP(tls_crl_path);
    DUP(proxy);
    DUP(no_proxy);
    DUP(bind_address);
#ifdef MQ_HAVE_TLS
    if (src->tls_app_ctx != NULL) {
        if (mqi_tls_app_ctx_ref(src->tls_app_ctx) != MQ_OK)
            goto nomem;
        dst->tls_app_ctx = src->tls_app_ctx;
    }
#endif
    if (nonempty(src->proxy) != NULL) {
        /* checked when set: only memory can fail here */
        rc = proxy_new(src->proxy, false, "proxy", &dst->px_plain, &unused);
        free(unused);
        if (rc != MQ_OK || dst->px_plain == NULL)
            goto nomem;
        dst->px_tls = dst->px_plain;
        if (src->no_proxy != NULL && (dst->px_no = strdup(src->no_proxy))
                                         == NULL)
            goto nomem;
    } else if (src->proxy_from_env) {
        if ((rc = proxies_from_env(dst, src)) != MQ_OK)
            goto nomem;
    }
    return MQ_OK;
nomem:
    mqi_xopts_clear(dst);
    return MQ_ERR_NOMEM;
}

const mqi_proxy *
mqi_xopts_proxy(const mqi_xopts *x, int scheme, const char *host,
                uint16_t port, const char **err)
{
    bool tls = scheme == MQI_SCHEME_TLS || scheme == MQI_SCHEME_WSS;
    const mqi_proxy *p = tls ? x->px_tls : x->px_plain;
    const char *e = tls ? x->px_err_tls : x->px_err_plain;

    *err = NULL;
    if (scheme == MQI_SCHEME_UNIX || (p == NULL && e == NULL))
        return NULL;
    if (x->px_no != NULL && mqi_no_proxy_match(x->px_no, host, port))
        return NULL;
    *err = e;
    return p;
}

void
mqi_xopts_tls(const mqi_xopts *x, mqi_tls_opts *o)
{
    o->key_uri = x->tls_key_uri;
    o->cert_uri = x->tls_cert_uri;
    o->providers = x->tls_providers;
    o->engine = x->tls_engine;
    o->psk_hex = x->tls_psk;
    o->psk_identity = x->tls_psk_identity;
    o->crl_file = x->tls_crl_file;
    o->crl_path = x->tls_crl_path;
    o->crl_check = x->tls_crl_check;
    o->max_version = x->tls_max_version;
    o->no_resume = x->tls_no_resume;
    o->app_ctx = x->tls_app_ctx;
}

/* ---- public ------------------------------------------------------------- */

MQ_API int
mq_set_tls_ctx(mq_client *c, void *ssl_ctx)
{
    if (c == NULL)
        return MQ_ERR_INVAL;
#ifndef MQ_HAVE_TLS
    (void)ssl_ctx;
    return MQ_ERR_NOT_SUPPORTED;
#else
    {
        void *old;
        int rc;

        if (ssl_ctx != NULL && mqi_tls_app_ctx_ref(ssl_ctx) != MQ_OK)
            return MQ_ERR_INVAL;
        pthread_mutex_lock(&c->lock);
        if ((rc = mqi_opts_writable(c)) != MQ_OK) {
            pthread_mutex_unlock(&c->lock);
            if (ssl_ctx != NULL)
                mqi_tls_app_ctx_release(ssl_ctx);
            return rc;
        }
        if (mqi_xopts_mut(c->opt) == NULL) {
            pthread_mutex_unlock(&c->lock);
            if (ssl_ctx != NULL)
                mqi_tls_app_ctx_release(ssl_ctx);
            return MQ_ERR_NOMEM;
        }
        old = c->opt->x->tls_app_ctx;
        c->opt->x->tls_app_ctx = ssl_ctx;
        pthread_mutex_unlock(&c->lock);
        if (old != NULL)
            mqi_tls_app_ctx_release(old);
        return MQ_OK;
    }
#endif
}

MQ_API const char *
mq_event_tls(const mq_event *ev, int item)
{
    const char *p;
    int i;

    if (ev == NULL || ev->tls == NULL || item < MQ_TLS_VERSION
        || item > MQ_TLS_RESUMED)
        return NULL;
    p = ev->tls;
    for (i = MQ_TLS_VERSION; i < item; i++)
        p += strlen(p) + 1;
    return p;
}
