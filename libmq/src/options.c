/*
 * options.c - the option table and what follows from it (see options.h):
 * lookups, defaults, typed storage, copying and freeing the option set,
 * and parsing server URIs.
 *
 * Threading: the table is constant; callers hold c->lock for the
 * non-atomic storage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "options.h"

char *
mqi_strdup(const char *s)
{
    size_t n;
    char *d;

    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

void *
mqi_memdup(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);

    if (d != NULL && n > 0)
        memcpy(d, p, n);
    return d;
}

void
mqi_servers_free(mqi_server *s)
{
    free(s); /* the strings live in the same block (mqi_servers_pack) */
}

mqi_server *
mqi_servers_pack(const mqi_server *s, size_t n)
{
    size_t i, total, len;
    mqi_server *out;
    char *at;

    if (n == 0 || n > SIZE_MAX / 2 / sizeof *s)
        return NULL;
    total = n * sizeof *s;
    for (i = 0; i < n; i++) {
        len = strlen(s[i].host) + 1 + (s[i].path ? strlen(s[i].path) + 1 : 0);
        if (len > SIZE_MAX / 2 - total)
            return NULL;
        total += len;
    }
    if ((out = malloc(total)) == NULL)
        return NULL;
    at = (char *)(out + n);
    for (i = 0; i < n; i++) {
        out[i] = s[i];
        len = strlen(s[i].host) + 1;
        out[i].host = memcpy(at, s[i].host, len);
        at += len;
        if (s[i].path != NULL) {
            len = strlen(s[i].path) + 1;
            out[i].path = memcpy(at, s[i].path, len);
            at += len;
        }
    }
    return out;
}

#define DEFAULT_MAX_PACKET 268435460u

#define OPT(f) offsetof(mqi_opts, f)
#define CLI(f) offsetof(struct mq_client, f)
#define TOPT(f) offsetof(mqi_topts, f)
#define ROW(id, type, when, flags, store, off, lo, hi, def)                \
    { id, #id, MQI_OT_##type, MQI_OW_##when, flags, MQI_OS_##store, off,   \
      lo, hi, def }
#define SROW(id, when, flags, store, off)                                   \
    { id, #id, MQI_OT_STR, MQI_OW_##when, flags, MQI_OS_##store, off,       \
      0, 0, 0 }
#define V5 MQI_OF_V5
#define TLS MQI_OF_TLS
#define WAKE MQI_OF_WAKE
#define ANYINT INT64_MAX

/* One row per option, by number. A string row's off is its char * in
 * mqi_opts (OPT_STR) or in its mqi_topts block (T_STR); copy and free of
 * the option set follow the rows too. */
static const mqi_optdef g_opts[] = {
    /* id                          type when flags store  where                      lo  hi                 default */
    ROW(MQ_OPT_KEEPALIVE_S,         INT, IDLE, 0, OPT_U16, OPT(keepalive),          0, 65535,            60),
    ROW(MQ_OPT_CLEAN_START,         INT, IDLE, 0, OPT_U16, OPT(clean_start),        0, 1,                1),
    ROW(MQ_OPT_SESSION_EXPIRY_S,    INT, IDLE, V5, OPT_U32, OPT(session_expiry),    0, UINT32_MAX,       0),
    ROW(MQ_OPT_RECONNECT_MIN_MS,    INT, IDLE, 0, OPT_INT, OPT(reconnect_min_ms),   1, 3600000,          1000),
    ROW(MQ_OPT_RECONNECT_MAX_MS,    INT, IDLE, 0, OPT_INT, OPT(reconnect_max_ms),   1, 86400000,         30000),
    ROW(MQ_OPT_RECONNECT,           INT, IDLE, 0, OPT_U16, OPT(reconnect),          0, 1,                1),
    ROW(MQ_OPT_MAX_INFLIGHT,        INT, IDLE, 0, OPT_U16, OPT(max_inflight),       1, 65535,            20),
    ROW(MQ_OPT_QUEUE_MAX_MSGS,      INT, ANY, 0, ATOM_SIZE, CLI(max_msgs),          1, ANYINT,           100000),
    ROW(MQ_OPT_QUEUE_MAX_BYTES,     INT, ANY, 0, ATOM_SIZE, CLI(max_bytes),         1, ANYINT,           64 << 20),
    ROW(MQ_OPT_OFFLINE_QOS0,        INT, ANY, 0, ATOM_INT, CLI(offline_qos0),       0, 1,                1),
    ROW(MQ_OPT_TCP_NODELAY,         INT, IDLE, 0, OPT_U16, OPT(tcp_nodelay),        0, 1,                1),
    ROW(MQ_OPT_CONNECT_TIMEOUT_MS,  INT, IDLE, 0, OPT_INT, OPT(connect_timeout_ms), 1, 3600000,          10000),
    ROW(MQ_OPT_MAX_EVENTS,          INT, ANY, WAKE, ATOM_SIZE, CLI(max_events),     1, ANYINT,           10000),
    ROW(MQ_OPT_PUBLISH_EVENTS,      INT, ANY, 0, ATOM_INT, CLI(publish_events),     0, 2,                1),
    ROW(MQ_OPT_LOG_LEVEL,           INT, ANY, 0, ATOM_INT, CLI(log_level),          MQ_LOG_NONE, MQ_LOG_DEBUG, MQ_LOG_NONE),
    ROW(MQ_OPT_MAX_PACKET_SIZE,     INT, IDLE, 0, OPT_U32, OPT(max_packet_size),    16, DEFAULT_MAX_PACKET, DEFAULT_MAX_PACKET),
    ROW(MQ_OPT_RECEIVE_MAXIMUM,     INT, IDLE, V5, OPT_U16, OPT(receive_maximum),   1, 65535,            65535),
    ROW(MQ_OPT_TOPIC_ALIAS_MAXIMUM, INT, IDLE, V5, OPT_U16, OPT(topic_alias_maximum), 0, 65535,          0),
    ROW(MQ_OPT_PUBLISH_TIMEOUT_MS,  INT, ANY, 0, ATOM_INT, CLI(publish_timeout_ms), 0, INT32_MAX,        0),
    ROW(MQ_OPT_AUTO_ACK,            INT, ANY, 0, CONST, 0,                          1, 1,                1),
    ROW(MQ_OPT_TLS_INSECURE,        INT, IDLE, TLS, T_BOOL, TOPT(tls_insecure),    0, 1,                0),
    ROW(MQ_OPT_PERSIST_SYNC,        INT, IDLE, 0, CLI_INT, CLI(persist_sync),       0, 2,                0),
    ROW(MQ_OPT_TLS_NO_HOSTNAME_CHECK, INT, IDLE, TLS, T_BOOL, TOPT(tls_no_hostname_check), 0, 1,        0),
    ROW(MQ_OPT_DISCONNECT_TIMEOUT_MS, INT, ANY, 0, ATOM_INT, CLI(disconnect_timeout_ms), 0, 3600000,     5000),
    ROW(MQ_OPT_PROTOCOL_FALLBACK,   INT, IDLE, V5, OPT_U16, OPT(protocol_fallback), 0, 1,                0),
    ROW(MQ_OPT_PROTOCOL_IN_USE,     INT, READ, 0, ATOM_INT, CLI(proto_in_use),      0, MQ_PROTO_V5,      0),
    ROW(MQ_OPT_TOPIC_ALIAS_AUTO,    INT, IDLE, V5, OPT_U16, OPT(topic_alias_auto),  0, 65535,            0),
    ROW(MQ_OPT_MAX_EVENT_BYTES,     INT, ANY, WAKE, ATOM_SIZE, CLI(max_event_bytes), 1, ANYINT,          32 << 20),
    ROW(MQ_OPT_TLS_SESSION_RESUME,  INT, IDLE, TLS, XOPTS, 0,                       0, 1,                1),
    ROW(MQ_OPT_TLS_CRL_CHECK,       INT, IDLE, TLS, XOPTS, 0,                       1, 2,                2),
    ROW(MQ_OPT_PROXY_FROM_ENV,      INT, IDLE, 0, XOPTS, 0,                         0, 1,                0),
    ROW(MQ_OPT_LOOP_IO_THREAD,      INT, ANY, 0, ATOM_INT, CLI(loop_io_thread),     0, 1,                1),

    SROW(MQ_SOPT_USERNAME,          IDLE, 0, OPT_STR, OPT(username)),
    SROW(MQ_SOPT_PASSWORD,          IDLE, 0, SPECIAL, 0),
    SROW(MQ_SOPT_TLS_CA_FILE,       IDLE, TLS | MQI_OF_FILE, T_STR, TOPT(tls_ca_file)),
    SROW(MQ_SOPT_TLS_CA_PATH,       IDLE, TLS | MQI_OF_DIR, T_STR, TOPT(tls_ca_path)),
    SROW(MQ_SOPT_TLS_CERT_FILE,     IDLE, TLS | MQI_OF_FILE, T_STR, TOPT(tls_cert_file)),
    SROW(MQ_SOPT_TLS_KEY_FILE,      IDLE, TLS | MQI_OF_FILE, T_STR, TOPT(tls_key_file)),
    SROW(MQ_SOPT_TLS_VERIFY_NAME,   IDLE, TLS, T_STR, TOPT(tls_verify_name)),
    SROW(MQ_SOPT_TLS_ALPN,          IDLE, TLS, T_STR, TOPT(tls_alpn)),
    SROW(MQ_SOPT_TLS_CIPHERS,       IDLE, TLS, T_STR, TOPT(tls_ciphers)),
    SROW(MQ_SOPT_TLS_MIN_VERSION,   IDLE, TLS, SPECIAL, 0),
    SROW(MQ_SOPT_PERSIST_DIR,       IDLE, MQI_OF_BYTES, SPECIAL, 0),
    SROW(MQ_SOPT_TLS_CA_PEM,        IDLE, TLS, T_STR, TOPT(tls_ca_pem)),
    SROW(MQ_SOPT_TLS_CERT_PEM,      IDLE, TLS, T_STR, TOPT(tls_cert_pem)),
    SROW(MQ_SOPT_TLS_KEY_PEM,       IDLE, TLS | MQI_OF_SECRET, T_STR, TOPT(tls_key_pem)),
    SROW(MQ_SOPT_TLS_KEY_PASSWORD,  IDLE, TLS | MQI_OF_SECRET, T_STR, TOPT(tls_key_password)),
    SROW(MQ_SOPT_TLS_KEY_URI,       IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_TLS_CERT_URI,      IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_TLS_PROVIDERS,     IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_TLS_ENGINE,        IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_TLS_PSK,           IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_TLS_PSK_IDENTITY,  IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_TLS_CRL_FILE,      IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_TLS_CRL_PATH,      IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_PROXY,             IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_NO_PROXY,          IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_TLS_MAX_VERSION,   IDLE, 0, XOPTS, 0),
    SROW(MQ_SOPT_BIND_ADDRESS,      IDLE, MQI_OF_ADDR, XOPTS, 0),
};

#define NOPTS (sizeof g_opts / sizeof g_opts[0])

/* Strings of the TLS/will block that are not options of their own (set
 * by mq_set_will): copied and freed with the rows. */
static const size_t g_more_tstrs[] = { TOPT(will_topic) };

/* What a client that never set a TLS option or a will reads. */
static const mqi_topts g_tnone;

const mqi_optdef *
mqi_opt_find(int id)
{
    size_t i;

    for (i = 0; i < NOPTS; i++)
        if (g_opts[i].id == id)
            return &g_opts[i];
    return NULL;
}

const mqi_optdef *
mqi_opt_at(size_t i)
{
    return i < NOPTS ? &g_opts[i] : NULL;
}

char **
mqi_opt_str_field(mqi_opts *o, const mqi_optdef *d)
{
    if (d->store == MQI_OS_T_STR)
        return o->t != NULL ? (char **)(void *)((char *)o->t + d->off) : NULL;
    return (char **)(void *)((char *)o + d->off);
}

const mqi_topts *
mqi_topts_of(const mqi_opts *o)
{
    return o->t != NULL ? o->t : &g_tnone;
}

mqi_topts *
mqi_topts_mut(mqi_opts *o)
{
    if (o->t == NULL)
        o->t = calloc(1, sizeof *o->t);
    return o->t;
}

static void *
opt_at(struct mq_client *c, const mqi_optdef *d)
{
    return (char *)c->opt + d->off;
}

/* A T_BOOL row's value (the block is there: mqi_opt_store_int's rule) */
static bool *
topt_bool(struct mq_client *c, const mqi_optdef *d)
{
    return (bool *)(void *)((char *)c->opt->t + d->off);
}

static void *
cli_at(struct mq_client *c, const mqi_optdef *d)
{
    return (char *)c + d->off;
}

void
mqi_opt_store_int(struct mq_client *c, const mqi_optdef *d, int64_t v)
{
    switch (d->store) {
    case MQI_OS_OPT_INT:
        *(int *)opt_at(c, d) = (int)v;
        break;
    case MQI_OS_OPT_U32:
        *(uint32_t *)opt_at(c, d) = (uint32_t)v;
        break;
    case MQI_OS_OPT_U16:
        *(uint16_t *)opt_at(c, d) = (uint16_t)v;
        break;
    case MQI_OS_OPT_BOOL:
        *(bool *)opt_at(c, d) = v != 0;
        break;
    case MQI_OS_T_BOOL:
        if (c->opt->t != NULL)
            *topt_bool(c, d) = v != 0;
        break;
    case MQI_OS_CLI_INT:
        *(int *)cli_at(c, d) = (int)v;
        break;
    case MQI_OS_ATOM_INT:
        atomic_store((atomic_int *)cli_at(c, d), (int)v);
        break;
    case MQI_OS_ATOM_SIZE:
        atomic_store((atomic_size_t *)cli_at(c, d), (size_t)v);
        break;
    default:
        break;
    }
}

int64_t
mqi_opt_load_int(struct mq_client *c, const mqi_optdef *d)
{
    switch (d->store) {
    case MQI_OS_OPT_INT:
        return *(int *)opt_at(c, d);
    case MQI_OS_OPT_U32:
        return *(uint32_t *)opt_at(c, d);
    case MQI_OS_OPT_U16:
        return *(uint16_t *)opt_at(c, d);
    case MQI_OS_OPT_BOOL:
        return *(bool *)opt_at(c, d);
    case MQI_OS_T_BOOL:
        return c->opt->t != NULL ? *topt_bool(c, d) : d->def;
    case MQI_OS_CLI_INT:
        return *(int *)cli_at(c, d);
    case MQI_OS_ATOM_INT:
        return atomic_load((atomic_int *)cli_at(c, d));
    case MQI_OS_ATOM_SIZE:
        return (int64_t)atomic_load((atomic_size_t *)cli_at(c, d));
    default:
        return d->def;
    }
}

void
mqi_opt_defaults(struct mq_client *c)
{
    size_t i;

    /* T_BOOL rows: default 0, what a missing block reads */
    for (i = 0; i < NOPTS; i++)
        if (g_opts[i].type == MQI_OT_INT && g_opts[i].when != MQI_OW_READ &&
            g_opts[i].store != MQI_OS_T_BOOL)
            mqi_opt_store_int(c, &g_opts[i], g_opts[i].def);
}

/* ---- the option set: free and copy ------------------------------------- */

static void
free_str(char **p, bool secret)
{
    if (secret && *p != NULL)
        memset(*p, 0, strlen(*p));
    free(*p);
    *p = NULL;
}

static void
topts_free(mqi_topts *t)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < NOPTS; i++)
        if (g_opts[i].store == MQI_OS_T_STR)
            free_str((char **)(void *)((char *)t + g_opts[i].off),
                     (g_opts[i].flags & MQI_OF_SECRET) != 0);
    for (i = 0; i < sizeof g_more_tstrs / sizeof g_more_tstrs[0]; i++)
        free_str((char **)(void *)((char *)t + g_more_tstrs[i]), false);
    free(t->will_payload);
    mq_props_free(t->will_props);
    free(t);
}

void
mqi_opts_clear(mqi_opts *o)
{
    size_t i;

    for (i = 0; i < NOPTS; i++)
        if (g_opts[i].store == MQI_OS_OPT_STR)
            free_str(mqi_opt_str_field(o, &g_opts[i]),
                     (g_opts[i].flags & MQI_OF_SECRET) != 0);
    free(o->password);
    o->password = NULL;
    mqi_servers_free(o->servers);
    o->servers = NULL;
    o->nservers = 0;
    mq_props_free(o->connect_props);
    o->connect_props = NULL;
    topts_free(o->t);
    o->t = NULL;
    if (o->x != NULL) {
        mqi_xopts_clear(o->x);
        free(o->x);
        o->x = NULL;
    }
}

mqi_opts *
mqi_opts_new(void)
{
    mqi_opts *o = calloc(1, sizeof *o);

    if (o != NULL)
        atomic_init(&o->refs, 1);
    return o;
}

void
mqi_opts_unref(mqi_opts *o)
{
    if (o == NULL || atomic_fetch_sub(&o->refs, 1) != 1)
        return;
    mqi_opts_clear(o);
    free(o);
}

int
mqi_opts_own(mqi_opts **o)
{
    mqi_opts *n;

    /* only mq_connect adds references, under the caller's lock: 1 stays 1 */
    if (atomic_load(&(*o)->refs) == 1)
        return MQ_OK;
    n = malloc(sizeof *n);
    if (n == NULL || mqi_opts_copy(n, *o) != MQ_OK) {
        free(n);
        return MQ_ERR_NOMEM;
    }
    if (n->x != NULL)
        mqi_xopts_drop_proxies(n->x); /* snapshot-only */
    mqi_opts_unref(*o);
    *o = n;
    return MQ_OK;
}

int
mqi_opts_writable(struct mq_client *c)
{
    return c->active ? MQ_ERR_STATE : mqi_opts_own(&c->opt);
}

mqi_opts *
mqi_opts_snapshot(mqi_opts *o)
{
    mqi_opts *n;

    if (!mqi_xopts_picks_proxy(mqi_xopts_of(o))) {
        atomic_fetch_add(&o->refs, 1);
        return o;
    }
    n = malloc(sizeof *n);
    if (n == NULL || mqi_opts_copy(n, o) != MQ_OK) {
        free(n);
        return NULL;
    }
    return n;
}

static int
dup_str(void *dst, const void *src, size_t off)
{
    const char *s = *(char *const *)(const void *)((const char *)src + off);
    char **d = (char **)(void *)((char *)dst + off);

    *d = NULL;
    if (s != NULL && (*d = mqi_strdup(s)) == NULL)
        return MQ_ERR_NOMEM;
    return MQ_OK;
}

/* A deep copy of @p src in *dst (NULL stays NULL); MQ_ERR_NOMEM with
 * *dst NULL. */
static int
topts_copy(mqi_topts **dst, const mqi_topts *src)
{
    mqi_topts *t;
    size_t i;
    int rc = MQ_OK;

    *dst = NULL;
    if (src == NULL)
        return MQ_OK;
    if ((t = malloc(sizeof *t)) == NULL)
        return MQ_ERR_NOMEM;
    /* the plain values, then every pointer made the copy's own (all NULL
     * first, so a failure part-way can be freed) */
    *t = *src;
    for (i = 0; i < NOPTS; i++)
        if (g_opts[i].store == MQI_OS_T_STR)
            *(char **)(void *)((char *)t + g_opts[i].off) = NULL;
    for (i = 0; i < sizeof g_more_tstrs / sizeof g_more_tstrs[0]; i++)
        *(char **)(void *)((char *)t + g_more_tstrs[i]) = NULL;
    t->will_payload = NULL;
    t->will_props = NULL;
    for (i = 0; i < NOPTS && rc == MQ_OK; i++)
        if (g_opts[i].store == MQI_OS_T_STR)
            rc = dup_str(t, src, g_opts[i].off);
    for (i = 0; i < sizeof g_more_tstrs / sizeof g_more_tstrs[0] && rc == MQ_OK;
         i++)
        rc = dup_str(t, src, g_more_tstrs[i]);
    if (rc == MQ_OK && src->will &&
        (t->will_payload = mqi_memdup(src->will_payload, src->will_len)) ==
            NULL)
        rc = MQ_ERR_NOMEM;
    if (rc == MQ_OK && mqi_props_dup(src->will_props, &t->will_props) != MQ_OK)
        rc = MQ_ERR_NOMEM;
    if (rc != MQ_OK) {
        topts_free(t);
        return rc;
    }
    *dst = t;
    return MQ_OK;
}

int
mqi_opts_copy(mqi_opts *dst, const mqi_opts *src)
{
    size_t i;
    int rc = MQ_OK;

    /* the plain values, then every pointer made the copy's own (all
     * NULL first, so a failure part-way can be cleared) */
    *dst = *src;
    atomic_init(&dst->refs, 1);
    for (i = 0; i < NOPTS; i++)
        if (g_opts[i].store == MQI_OS_OPT_STR)
            *mqi_opt_str_field(dst, &g_opts[i]) = NULL;
    dst->password = NULL;
    dst->servers = NULL;
    dst->nservers = 0;
    dst->connect_props = NULL;
    dst->t = NULL;
    dst->x = NULL;

    if (src->x != NULL &&
        ((dst->x = calloc(1, sizeof *dst->x)) == NULL ||
         mqi_xopts_snapshot(dst->x, src->x) != MQ_OK))
        goto fail;
    if (topts_copy(&dst->t, src->t) != MQ_OK)
        goto fail;
    for (i = 0; i < NOPTS && rc == MQ_OK; i++)
        if (g_opts[i].store == MQI_OS_OPT_STR)
            rc = dup_str(dst, src, g_opts[i].off);
    if (rc != MQ_OK)
        goto fail;
    if (src->has_password &&
        (dst->password = mqi_memdup(src->password, src->password_len)) == NULL)
        goto fail;
    if (mqi_props_dup(src->connect_props, &dst->connect_props) != MQ_OK)
        goto fail;
    if (src->nservers > 0) {
        dst->servers = mqi_servers_pack(src->servers, src->nservers);
        if (dst->servers == NULL)
            goto fail;
        dst->nservers = src->nservers;
    }
    return MQ_OK;
fail:
    mqi_opts_clear(dst);
    return MQ_ERR_NOMEM;
}

/* ---- server URIs ---------------------------------------------------------- */

int
mqi_uri_parse(const char *u, size_t len, mqi_server *s)
{
    char buf[1024];
    char *p, *host, *port = NULL, *path = NULL, *end;
    unsigned long pn;

    memset(s, 0, sizeof *s);
    if (len == 0 || len >= sizeof buf)
        return MQ_ERR_URI;
    memcpy(buf, u, len);
    buf[len] = '\0';
    p = strstr(buf, "://");
    if (p == NULL) {
        s->scheme = MQI_SCHEME_TCP;
        host = buf;
    } else {
        *p = '\0';
        if (strcmp(buf, "mqtt") == 0 || strcmp(buf, "tcp") == 0)
            s->scheme = MQI_SCHEME_TCP;
        else if (strcmp(buf, "mqtts") == 0 || strcmp(buf, "ssl") == 0 ||
                 strcmp(buf, "tls") == 0)
            s->scheme = MQI_SCHEME_TLS;
        else if (strcmp(buf, "ws") == 0)
            s->scheme = MQI_SCHEME_WS;
        else if (strcmp(buf, "wss") == 0)
            s->scheme = MQI_SCHEME_WSS;
        else if (strcmp(buf, "unix") == 0)
            s->scheme = MQI_SCHEME_UNIX;
        else
            return MQ_ERR_URI;
        host = p + 3;
    }
    if (s->scheme == MQI_SCHEME_UNIX) {
        if (host[0] != '/' || strlen(host) >= 108)
            return MQ_ERR_URI;
        s->host = mqi_strdup(host);
        return s->host ? MQ_OK : MQ_ERR_NOMEM;
    }
#ifndef MQ_HAVE_TLS
    if (s->scheme == MQI_SCHEME_TLS || s->scheme == MQI_SCHEME_WSS)
        return MQ_ERR_NOT_SUPPORTED;
#endif
    /* a path: only for websockets (default "/mqtt") */
    path = strchr(host, '/');
    if (s->scheme == MQI_SCHEME_WS || s->scheme == MQI_SCHEME_WSS) {
        s->path = mqi_strdup(path != NULL ? path : "/mqtt");
        if (s->path == NULL)
            return MQ_ERR_NOMEM;
        for (p = s->path; *p; p++)
            if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
                free(s->path);
                s->path = NULL;
                return MQ_ERR_URI;
            }
    }
    if (path != NULL) {
        if (path[1] != '\0' && s->path == NULL)
            return MQ_ERR_URI;
        *path = '\0';
    }
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (end == NULL)
            goto bad;
        *end = '\0';
        host++;
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0')
            goto bad;
    } else {
        port = strchr(host, ':');
        if (port != NULL)
            *port++ = '\0';
    }
    if (host[0] == '\0')
        goto bad;
    /* no brackets left inside a host: "[[]" is not the host "[" */
    for (p = host; *p; p++)
        if (*p == '@' || *p == '/' || *p == ' ' || *p == '[' || *p == ']' ||
            (unsigned char)*p < 0x20)
            goto bad;
    switch (s->scheme) {
    case MQI_SCHEME_TLS: s->port = 8883; break;
    case MQI_SCHEME_WS: s->port = 80; break;
    case MQI_SCHEME_WSS: s->port = 443; break;
    default: s->port = 1883;
    }
    if (port != NULL) {
        if (*port == '\0')
            goto bad;
        errno = 0;
        pn = strtoul(port, &end, 10);
        if (errno != 0 || *end != '\0' || pn == 0 || pn > 65535 ||
            port[0] == '-' || port[0] == '+')
            goto bad;
        s->port = (uint16_t)pn;
    }
    s->host = mqi_strdup(host);
    if (s->host == NULL) {
        free(s->path);
        s->path = NULL;
        return MQ_ERR_NOMEM;
    }
    return MQ_OK;
bad:
    free(s->path);
    s->path = NULL;
    return MQ_ERR_URI;
}

int
mqi_numeric_addr(const char *s, struct sockaddr_storage *out)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    int fam = 0;

    memset(&ss, 0, sizeof ss);
    if (s == NULL)
        return 0;
    if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        fam = AF_INET;
    } else if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        fam = AF_INET6;
    }
    if (fam != 0 && out != NULL)
        *out = ss;
    return fam;
}
