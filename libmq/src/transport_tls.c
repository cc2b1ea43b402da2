/*
 * transport_tls.c - TLS client transport through OpenSSL 3: SSL_CTX setup
 * from the client's TLS options (CA file/dir or system paths, client
 * certificate and key from files, PEM text, OSSL_STORE URIs of loaded
 * providers or an engine, TLS-PSK, CRLs, minimum version, ciphers, ALPN,
 * insecure mode) or an application's own SSL_CTX taken as given; and a
 * non-blocking mqi_io layer (handshake/read/write/close) over the worker's
 * connected socket, with host name (or IP address) verification, SNI and
 * resumption of the previous session (kept in the context wrapper).
 *
 * Threading: mqi_tls_ctx_new may run on any thread and mqi_tls_ctx_free
 * on the thread that owns the wrapper (the worker; its session cache is
 * not locked). An SSL_CTX is reference counted and not changed once
 * built; the SSL objects made from it keep it alive. mqi_io_tls_start and
 * the io ops run on the worker thread only; an SSL object is never
 * shared. Providers are loaded once per process under a mutex. OpenSSL's
 * error queue is per thread, so every call clears it first and drains it
 * on error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509v3.h>
#ifndef OPENSSL_NO_ENGINE
/* Engines are deprecated in OpenSSL 3, but Debian 12's only way to a
 * PKCS#11 token is libengine-pkcs11-openssl: use them without warnings. */
#define MQI_ENGINE_SUPPRESS_ 1
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <openssl/engine.h>
#endif

#include "mq.h"
#include "transport.h"

/*
 * What mqi_tls_ctx_new returns (as void *): the SSL_CTX and what belongs
 * with it for the client's connections. Reference counted on the worker:
 * the client holds one reference, each live connection another, so a
 * connection closed after the client dropped its context still finds it.
 */
typedef struct tls_ctx {
    SSL_CTX *ctx;
    int refs;
    bool app;              /* the application's SSL_CTX: never changed */
    bool no_resume;        /* MQ_OPT_TLS_SESSION_RESUME 0 */
    bool stale;            /* options replaced by mq_connect() */
    unsigned char fp[32];  /* SHA-256 of the options it was made from */
    SSL_SESSION *sess;     /* last resumable session, or NULL */
    char sess_name[256];   /* the name (or address) it was made with */
    uint16_t sess_port;
    unsigned char psk[256];/* TLS-PSK key (binary) */
    size_t psk_len;
    char psk_identity[256];
#ifdef MQI_ENGINE_SUPPRESS_
    ENGINE *engine;        /* functional reference, or NULL */
#endif
} tls_ctx;

/* Per-connection state, in io->layer. */
typedef struct tls_layer {
    SSL *ssl;
    tls_ctx *owner;    /* a reference, dropped on close */
    int fd;
    int sys_errno;     /* last errno from the socket BIO, 0 if none */
    bool eof;          /* the socket BIO saw recv() == 0 */
    bool ready;        /* handshake finished */
    bool fatal;        /* fatal error seen: no close_notify on close */
    SSL_SESSION *seen; /* the session last looked at (a reference) */
    uint16_t port;
    char name[256];    /* the name or address verified, for messages */
} tls_layer;

/*
 * In-memory PEM and key passwords: used when transport.h's mqi_tls_opts has
 * the fields (it then defines MQI_TLS_OPTS_HAVE_PEM); otherwise these read
 * as "not set" and behaviour is the file-only one.
 */
#ifdef MQI_TLS_OPTS_HAVE_PEM
#define OPT_CA_PEM(o) ((o)->ca_pem)
#define OPT_CERT_PEM(o) ((o)->cert_pem)
#define OPT_KEY_PEM(o) ((o)->key_pem)
#define OPT_KEY_PASSWORD(o) ((o)->key_password)
#define OPT_KEY_PASSWORD_CB(o) ((o)->key_password_cb)
#define OPT_KEY_PASSWORD_UD(o) ((o)->key_password_userdata)
#else
#define OPT_CA_PEM(o) ((const char *)NULL)
#define OPT_CERT_PEM(o) ((const char *)NULL)
#define OPT_KEY_PEM(o) ((const char *)NULL)
#define OPT_KEY_PASSWORD(o) ((const char *)NULL)
#define OPT_KEY_PASSWORD_CB(o) ((int (*)(char *, int, void *))NULL)
#define OPT_KEY_PASSWORD_UD(o) ((void *)NULL)
#endif

static const char *
nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* ---- error text --------------------------------------------------------- */

/* Drain this thread's OpenSSL error queue into @p buf as "<what>: <reason>"
 * using the earliest queued error (the root cause), with its data text
 * (e.g. the file name) when there is one. */
static void
drain_errors(char *buf, size_t len, const char *what)
{
    unsigned long e, first = 0;
    const char *data = NULL;
    int flags = 0;
    char reason[128] = "";
    char extra[96] = "";

    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (first != 0)
            continue;
        first = e;
        if (ERR_SYSTEM_ERROR(e)) {
            /* errno-based; its data is only "calling fopen(...)". */
            snprintf(reason, sizeof reason, "%s", strerror(ERR_GET_REASON(e)));
            continue;
        }
        if (ERR_reason_error_string(e) != NULL)
            snprintf(reason, sizeof reason, "%s", ERR_reason_error_string(e));
        else
            snprintf(reason, sizeof reason, "error %08lx", e);
        if (data != NULL && (flags & ERR_TXT_STRING) && data[0] != '\0')
            snprintf(extra, sizeof extra, " (%s)", data);
    }
    if (first == 0)
        snprintf(buf, len, "%s", what);
    else
        snprintf(buf, len, "%s: %s%s", what, reason, extra);
}

/* ---- a socket BIO that never raises SIGPIPE ----------------------------- */

/*
 * OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE when
 * the peer has gone; a library must not change the process's signal
 * disposition, so this BIO uses send(MSG_NOSIGNAL). Its data is the
 * tls_layer, which outlives the BIO (SSL_free frees the BIO first).
 */
static BIO_METHOD *sock_method;
static pthread_once_t sock_method_once = PTHREAD_ONCE_INIT;

static int
sock_bio_write(BIO *b, const char *buf, int len)
{
    tls_layer *t = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do {
        n = send(t->fd, buf, (size_t)len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        else
            t->sys_errno = errno;
        return -1;
    }
    return (int)n;
}

static int
sock_bio_read(BIO *b, char *buf, int len)
{
    tls_layer *t = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    if (buf == NULL || len <= 0)
        return 0;
    do {
        n = recv(t->fd, buf, (size_t)len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_read(b);
        else
            t->sys_errno = errno;
        return -1;
    }
    if (n == 0)
        t->eof = true;
    return (int)n;
}

static long
sock_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    tls_layer *t = BIO_get_data(b);

    (void)num;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        /* Lets libssl tell "peer closed without close_notify" apart. */
        return t != NULL && t->eof;
    case BIO_C_GET_FD:
        if (t == NULL)
            return -1;
        if (ptr != NULL)
            *(int *)ptr = t->fd;
        return t->fd;
    default:
        return 0;
    }
}

static int
sock_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void
sock_method_init(void)
{
    BIO_METHOD *m;
    int type = BIO_get_new_index();

    if (type == -1)
        return;
    m = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                     "libmq socket");
    if (m == NULL)
        return;
    if (!BIO_meth_set_write(m, sock_bio_write)
        || !BIO_meth_set_read(m, sock_bio_read)
        || !BIO_meth_set_ctrl(m, sock_bio_ctrl)
        || !BIO_meth_set_create(m, sock_bio_create)) {
        BIO_meth_free(m);
        return;
    }
    /* Kept for the life of the process (one small allocation). */
    sock_method = m;
}

/* ---- SSL_CTX ------------------------------------------------------------ */

/* "mqtt,x-amzn-mqtt-ca" -> ALPN wire format (length-prefixed names). */
static int
set_alpn(SSL_CTX *ctx, const char *list, char *err, size_t errlen)
{
    size_t n = strlen(list), i = 0, start = 0, out = 0;
    unsigned char *wire;
    int rc = MQ_OK;

    wire = malloc(n + 1);
    if (wire == NULL)
        return MQ_ERR_NOMEM;
    for (i = 0; i <= n; i++) {
        size_t len;

        if (list[i] != ',' && list[i] != '\0')
            continue;
        len = i - start;
        if (len == 0 || len > 255) {
            snprintf(err, errlen, "ALPN list \"%s\": empty or too long entry",
                     list);
            rc = MQ_ERR_TLS;
            goto done;
        }
        wire[out++] = (unsigned char)len;
        memcpy(wire + out, list + start, len);
        out += len;
        start = i + 1;
    }
    /* Note: SSL_CTX_set_alpn_protos returns 0 on success. */
    if (SSL_CTX_set_alpn_protos(ctx, wire, (unsigned int)out) != 0) {
        drain_errors(err, errlen, "ALPN");
        rc = MQ_ERR_TLS;
    }
done:
    free(wire);
    return rc;
}

/*
 * One cipher option for both protocol versions: entries (':'-separated)
 * named "TLS_..." are TLS 1.3 suites (SSL_CTX_set_ciphersuites), the rest
 * is an OpenSSL cipher list for TLS 1.2 (SSL_CTX_set_cipher_list). Each
 * half is applied only when it is not empty, so "TLS_AES_128_GCM_SHA256"
 * alone leaves the TLS 1.2 list at its default.
 */
static int
set_ciphers(SSL_CTX *ctx, const char *spec, char *err, size_t errlen)
{
    size_t n = strlen(spec);
    char *v12 = calloc(1, n + 1), *v13 = calloc(1, n + 1);
    const char *p = spec;
    int rc = MQ_OK;

    if (v12 == NULL || v13 == NULL) {
        rc = MQ_ERR_NOMEM;
        goto done;
    }
    while (*p != '\0') {
        size_t len = strcspn(p, ":");
        char *dst = strncmp(p, "TLS_", 4) == 0 ? v13 : v12;

        if (len > 0) {
            if (dst[0] != '\0')
                strcat(dst, ":");
            strncat(dst, p, len);
        }
        p += len;
        if (*p == ':')
            p++;
    }
    if (v12[0] != '\0' && !SSL_CTX_set_cipher_list(ctx, v12)) {
        drain_errors(err, errlen, "TLS 1.2 cipher list");
        rc = MQ_ERR_TLS;
        goto done;
    }
    if (v13[0] != '\0' && !SSL_CTX_set_ciphersuites(ctx, v13)) {
        drain_errors(err, errlen, "TLS 1.3 cipher suites");
        rc = MQ_ERR_TLS;
        goto done;
    }
    if (v12[0] == '\0' && v13[0] == '\0') {
        snprintf(err, errlen, "cipher list is empty");
        rc = MQ_ERR_TLS;
    }
done:
    free(v12);
    free(v13);
    return rc;
}

/* Trust every certificate in the PEM text @p pem. */
static int
add_ca_pem(SSL_CTX *ctx, const char *pem, char *err, size_t errlen)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_INFO) *infos = NULL;
    BIO *b = BIO_new_mem_buf(pem, -1);
    int i, n = 0, rc = MQ_ERR_TLS;

    if (b == NULL) {
        snprintf(err, errlen, "CA PEM: out of memory");
        return MQ_ERR_NOMEM;
    }
    infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
    if (infos == NULL) {
        drain_errors(err, errlen, "CA PEM");
        goto done;
    }
    for (i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *xi = sk_X509_INFO_value(infos, i);

        if (xi->x509 == NULL)
            continue;
        if (!X509_STORE_add_cert(store, xi->x509)) {
            drain_errors(err, errlen, "CA PEM");
            goto done;
        }
        n++;
    }
    if (n == 0) {
        snprintf(err, errlen, "CA PEM: no certificate found");
        goto done;
    }
    rc = MQ_OK;
done:
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    BIO_free(b);
    return rc;
}

static int
load_trust(SSL_CTX *ctx, const mqi_tls_opts *o, char *err, size_t errlen)
{
    const char *file = o->ca_file != NULL && o->ca_file[0] ? o->ca_file : NULL;
    const char *path = o->ca_path != NULL && o->ca_path[0] ? o->ca_path : NULL;
    const char *pem = nonempty(OPT_CA_PEM(o));
    struct stat st;

    if (pem != NULL) {
        int rc = add_ca_pem(ctx, pem, err, errlen);

        if (rc != MQ_OK)
            return rc;
    }
    if (file == NULL && path == NULL) {
        if (pem != NULL)
            return MQ_OK; /* only the given CAs, not the system's */
        if (!SSL_CTX_set_default_verify_paths(ctx)) {
            drain_errors(err, errlen, "system CA paths");
            return MQ_ERR_TLS;
        }
        return MQ_OK;
    }
    if (file != NULL && !SSL_CTX_load_verify_file(ctx, file)) {
        char what[96];

        snprintf(what, sizeof what, "CA file %s", file);
        drain_errors(err, errlen, what);
        return MQ_ERR_TLS;
    }
    if (path != NULL) {
        /* A directory is only read lazily; check it exists now. */
        if (stat(path, &st) != 0) {
            snprintf(err, errlen, "CA directory %s: %s", path,
                     strerror(errno));
            return MQ_ERR_TLS;
        }
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "CA directory %s: not a directory", path);
            return MQ_ERR_TLS;
        }
        if (!SSL_CTX_load_verify_dir(ctx, path)) {
            char what[96];

            snprintf(what, sizeof what, "CA directory %s", path);
            drain_errors(err, errlen, what);
            return MQ_ERR_TLS;
        }
    }
    return MQ_OK;
}

/* Where the key's password comes from: the password option, else the
 * application's callback, else nowhere (never a terminal prompt). */
typedef struct pw_source {
    const mqi_tls_opts *o;
    int asked;          /* OpenSSL asked: the key is encrypted */
    int had_password;   /* and we gave it one */
} pw_source;

static int
password_cb(char *buf, int size, int rwflag, void *userdata)
{
    pw_source *p = userdata;
    const char *pw;
    int (*cb)(char *, int, void *);
    size_t n;

    (void)rwflag;
    if (p == NULL || size <= 0)
        return -1;
    p->asked = 1;
    pw = OPT_KEY_PASSWORD(p->o);
    cb = OPT_KEY_PASSWORD_CB(p->o);
    if (pw != NULL) {
        n = strlen(pw);
        if (n > (size_t)size)
            return -1;
        memcpy(buf, pw, n);
        p->had_password = 1;
        return (int)n;
    }
    if (cb != NULL) {
        int r = cb(buf, size, OPT_KEY_PASSWORD_UD(p->o));

        if (r < 0 || r > size)
            return -1;
        p->had_password = 1;
        return r;
    }
    return -1;
}

/* Message for a key that failed to load; what names file or PEM. */
static void
key_error(char *err, size_t errlen, const char *what, const pw_source *pw)
{
    char reason[160];

    drain_errors(reason, sizeof reason, what);
    if (pw->asked && !pw->had_password)
        snprintf(err, errlen, "%s: the key is encrypted and no password is "
                 "set", what);
    else if (pw->asked)
        snprintf(err, errlen, "%.100s (wrong password?)", reason);
    else
        snprintf(err, errlen, "%s", reason);
}

/* Client certificate (first PEM block) and its chain (the rest). */
static int
use_cert_pem(SSL_CTX *ctx, const char *pem, char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = NULL;
    int rc = MQ_ERR_TLS;

    if (b == NULL) {
        snprintf(err, errlen, "certificate PEM: out of memory");
        return MQ_ERR_NOMEM;
    }
    x = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL);
    if (x == NULL || !SSL_CTX_use_certificate(ctx, x)) {
        drain_errors(err, errlen, "certificate PEM");
        goto done;
    }
    SSL_CTX_clear_chain_certs(ctx);
    for (;;) {
        X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
        unsigned long e;

        if (ca == NULL) {
            e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM
                && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                ERR_clear_error(); /* end of the text */
                break;
            }
            drain_errors(err, errlen, "certificate PEM chain");
            goto done;
        }
        if (!SSL_CTX_add0_chain_cert(ctx, ca)) {
            X509_free(ca);
            drain_errors(err, errlen, "certificate PEM chain");
            goto done;
        }
    }
    rc = MQ_OK;
done:
    X509_free(x);
    BIO_free(b);
    return rc;
}

static int
use_key_pem(SSL_CTX *ctx, const char *pem, pw_source *pw, char *err,
            size_t errlen)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k;
    int rc = MQ_ERR_TLS;

    if (b == NULL) {
        snprintf(err, errlen, "key PEM: out of memory");
        return MQ_ERR_NOMEM;
    }
    k = PEM_read_bio_PrivateKey(b, NULL, password_cb, pw);
    if (k == NULL)
        key_error(err, errlen, "key PEM", pw);
    else if (!SSL_CTX_use_PrivateKey(ctx, k))
        drain_errors(err, errlen, "key PEM");
    else
        rc = MQ_OK;
    EVP_PKEY_free(k);
    BIO_free(b);
    return rc;
}

/* ---- providers, stores and engines -------------------------------------- */

/* Providers loaded so far: loaded once per process, never unloaded (an
 * SSL_CTX or key made with one may outlive any client). */
static pthread_mutex_t prov_lock = PTHREAD_MUTEX_INITIALIZER;
static char prov_names[16][128];
static OSSL_PROVIDER *prov_handles[16]; /* kept: loaded for good */
static size_t prov_count;

static int
load_providers(const char *list, char *err, size_t errlen)
{
    const char *p = list;
    int rc = MQ_OK;

    pthread_mutex_lock(&prov_lock);
    while (*p != '\0') {
        size_t len = strcspn(p, ", "), i;
        char name[128];
        bool have = false;

        if (len == 0) {
            p++;
            continue;
        }
        if (len >= sizeof name) {
            snprintf(err, errlen, "TLS provider name too long");
            rc = MQ_ERR_TLS;
            break;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        p += len;
        for (i = 0; i < prov_count; i++)
            have = have || strcmp(prov_names[i], name) == 0;
        if (have)
            continue;
        if (prov_count == sizeof prov_names / sizeof prov_names[0]) {
            snprintf(err, errlen, "too many TLS providers (at most 16)");
            rc = MQ_ERR_TLS;
            break;
        }
        /* retain_fallbacks = 1: the default provider stays available */
        prov_handles[prov_count] = OSSL_PROVIDER_try_load(NULL, name, 1);
        if (prov_handles[prov_count] == NULL) {
            char what[200];

            snprintf(what, sizeof what, "TLS provider \"%s\" cannot be "
                     "loaded", name);
            drain_errors(err, errlen, what);
            rc = MQ_ERR_TLS;
            break;
        }
        memcpy(prov_names[prov_count++], name, len + 1);
    }
    pthread_mutex_unlock(&prov_lock);
    return rc;
}

/*
 * Load from an OSSL_STORE URI ("file:...", a path, or a provider's
 * scheme such as "pkcs11:..."): with @p out_key the first private key;
 * with @p out_cert the first certificate, the others going to the
 * context's chain. Passwords and PINs come from @p pw, never a prompt.
 */
static int
store_load(SSL_CTX *ctx, const char *uri, pw_source *pw, EVP_PKEY **out_key,
           X509 **out_cert, char *err, size_t errlen)
{
    UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(password_cb, 0);
    OSSL_STORE_CTX *sc = NULL;
    char what[200];
    bool failed = false;
    int rc = MQ_ERR_TLS;

    snprintf(what, sizeof what, "%s URI %.150s", out_key ? "key" : "certificate",
             uri);
    if (ui == NULL) {
        snprintf(err, errlen, "%s: out of memory", what);
        return MQ_ERR_NOMEM;
    }
    {
        /* a file: say why it cannot be read (OSSL_STORE would report an
         * "unregistered scheme" after trying the other loaders) */
        const char *path = strncmp(uri, "file://", 7) == 0 ? uri + 7
                           : strncmp(uri, "file:", 5) == 0 ? uri + 5
                           : strchr(uri, ':') == NULL ? uri : NULL;
        FILE *f = path != NULL ? fopen(path, "r") : NULL;

        if (path != NULL && f == NULL) {
            snprintf(err, errlen, "%s: %s", what, strerror(errno));
            UI_destroy_method(ui);
            return MQ_ERR_TLS;
        }
        if (f != NULL)
            fclose(f);
    }
    sc = OSSL_STORE_open_ex(uri, NULL, NULL, ui, pw, NULL, NULL, NULL);
    if (sc == NULL) {
        key_error(err, errlen, what, pw);
        goto done;
    }
    (void)OSSL_STORE_expect(sc, out_key ? OSSL_STORE_INFO_PKEY
                                        : OSSL_STORE_INFO_CERT);
    while (!OSSL_STORE_eof(sc)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(sc);
        int type;

        if (info == NULL) {
            if (OSSL_STORE_error(sc)) {
                failed = true;
                break;
            }
            continue;
        }
        type = OSSL_STORE_INFO_get_type(info);
        if (out_key != NULL && type == OSSL_STORE_INFO_PKEY)
            *out_key = OSSL_STORE_INFO_get1_PKEY(info);
        if (out_cert != NULL && type == OSSL_STORE_INFO_CERT) {
            X509 *x = OSSL_STORE_INFO_get1_CERT(info);

            if (*out_cert == NULL)
                *out_cert = x;
            else if (x != NULL && !SSL_CTX_add0_chain_cert(ctx, x))
                X509_free(x);
        }
        OSSL_STORE_INFO_free(info);
        if (out_key != NULL && *out_key != NULL)
            break;
    }
    if ((out_key != NULL && *out_key == NULL)
        || (out_cert != NULL && *out_cert == NULL)) {
        if (failed || ERR_peek_error() != 0)
            key_error(err, errlen, what, pw);
        else
            snprintf(err, errlen, "%s: no %s found there", what,
                     out_key ? "private key" : "certificate");
        goto done;
    }
    ERR_clear_error(); /* e.g. other objects of the store we skipped */
    rc = MQ_OK;
done:
    OSSL_STORE_close(sc);
    UI_destroy_method(ui);
    return rc;
}

#ifdef MQI_ENGINE_SUPPRESS_
static int
engine_open(tls_ctx *w, const char *id, char *err, size_t errlen)
{
    ENGINE *e;
    char what[200];

    e = ENGINE_by_id(id);
    if (e == NULL) {
        snprintf(what, sizeof what, "TLS engine \"%.100s\" not found "
                 "(is it installed?)", id);
        drain_errors(err, errlen, what);
        return MQ_ERR_TLS;
    }
    if (!ENGINE_init(e)) {
        snprintf(what, sizeof what, "TLS engine \"%.100s\" cannot start", id);
        drain_errors(err, errlen, what);
        ENGINE_free(e);
        return MQ_ERR_TLS;
    }
    ENGINE_free(e); /* keep the functional reference only */
    w->engine = e;
    return MQ_OK;
}

/* The certificate by its id in the engine (libp11's LOAD_CERT_CTRL). */
static int
engine_cert(tls_ctx *w, const char *id, X509 **out, char *err, size_t errlen)
{
    struct {
        const char *id;
        X509 *cert;
    } params = { id, NULL };
    char what[200];

    snprintf(what, sizeof what, "certificate %.150s from the engine", id);
    if (!ENGINE_ctrl_cmd(w->engine, "LOAD_CERT_CTRL", 0, &params, NULL, 0)
        || params.cert == NULL) {
        drain_errors(err, errlen, what);
        return MQ_ERR_TLS;
    }
    *out = params.cert;
    return MQ_OK;
}

static int
engine_key(tls_ctx *w, const char *id, pw_source *pw, EVP_PKEY **out,
           char *err, size_t errlen)
{
    UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(password_cb, 0);
    char what[200];

    if (ui == NULL) {
        snprintf(err, errlen, "engine key: out of memory");
        return MQ_ERR_NOMEM;
    }
    *out = ENGINE_load_private_key(w->engine, id, ui, pw);
    UI_destroy_method(ui);
    if (*out == NULL) {
        snprintf(what, sizeof what, "key %.150s from the engine", id);
        key_error(err, errlen, what, pw);
        return MQ_ERR_TLS;
    }
    return MQ_OK;
}
#endif

/*
 * The client certificate and key, each from one source: a file, PEM text
 * or a URI (OSSL_STORE, or the engine when one is set). A certificate
 * alone means its file, text or URI holds the key too.
 */
static int
load_client_cert(tls_ctx *w, SSL_CTX *ctx, const mqi_tls_opts *o,
                 char *err, size_t errlen)
{
    const char *cert = nonempty(o->cert_file);
    const char *key = nonempty(o->key_file);
    const char *cert_pem = nonempty(OPT_CERT_PEM(o));
    const char *key_pem = nonempty(OPT_KEY_PEM(o));
    const char *cert_uri = nonempty(o->cert_uri);
    const char *key_uri = nonempty(o->key_uri);
    int ncert = (cert != NULL) + (cert_pem != NULL) + (cert_uri != NULL);
    int nkey = (key != NULL) + (key_pem != NULL) + (key_uri != NULL);
    bool engine = false;
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    pw_source pw;
    char what[96];
    int rc = MQ_ERR_TLS;

    if (ncert == 0 && nkey == 0)
        return MQ_OK;
    if (ncert != 1 || nkey > 1) {
        snprintf(err, errlen, ncert == 0
                 ? "TLS key given without a client certificate"
                 : "give the client certificate and key once each (file, "
                   "PEM or URI)");
        return MQ_ERR_TLS;
    }
    if (nkey == 0) {
        /* one PEM (file or text), or one store, holding both */
        key = cert;
        key_pem = cert_pem;
        key_uri = cert_uri;
    }
#ifdef MQI_ENGINE_SUPPRESS_
    engine = w->engine != NULL;
#else
    (void)w;
#endif
    memset(&pw, 0, sizeof pw);
    pw.o = o;
    SSL_CTX_set_default_passwd_cb(ctx, password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &pw);
    if (cert != NULL) {
        if (!SSL_CTX_use_certificate_chain_file(ctx, cert)) {
            snprintf(what, sizeof what, "certificate file %s", cert);
            drain_errors(err, errlen, what);
            goto done;
        }
    } else if (cert_pem != NULL) {
        if ((rc = use_cert_pem(ctx, cert_pem, err, errlen)) != MQ_OK)
            goto done;
    } else {
        SSL_CTX_clear_chain_certs(ctx);
#ifdef MQI_ENGINE_SUPPRESS_
        if (engine)
            rc = engine_cert(w, cert_uri, &x, err, errlen);
        else
#endif
            rc = store_load(ctx, cert_uri, &pw, NULL, &x, err, errlen);
        if (rc != MQ_OK)
            goto done;
        rc = MQ_ERR_TLS;
        if (!SSL_CTX_use_certificate(ctx, x)) {
            drain_errors(err, errlen, "certificate from URI");
            goto done;
        }
    }
    rc = MQ_ERR_TLS;
    if (key != NULL) {
        if (!SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM)) {
            snprintf(what, sizeof what, "key file %.80s", key);
            key_error(err, errlen, what, &pw);
            goto done;
        }
    } else if (key_pem != NULL) {
        if ((rc = use_key_pem(ctx, key_pem, &pw, err, errlen)) != MQ_OK)
            goto done;
    } else {
#ifdef MQI_ENGINE_SUPPRESS_
        if (engine)
            rc = engine_key(w, key_uri, &pw, &pkey, err, errlen);
        else
#endif
            rc = store_load(ctx, key_uri, &pw, &pkey, NULL, err, errlen);
        if (rc != MQ_OK)
            goto done;
        rc = MQ_ERR_TLS;
        if (!SSL_CTX_use_PrivateKey(ctx, pkey)) {
            drain_errors(err, errlen, "key from URI");
            goto done;
        }
    }
    rc = MQ_ERR_TLS;
    if (!SSL_CTX_check_private_key(ctx)) {
        drain_errors(err, errlen, "client certificate and key do not match");
        goto done;
    }
    rc = MQ_OK;
done:
    EVP_PKEY_free(pkey);
    X509_free(x);
    /* &pw is a local: do not leave it (or the callback) in the context. */
    SSL_CTX_set_default_passwd_cb(ctx, NULL);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    return rc;
}

/* ---- TLS-PSK -------------------------------------------------------------- */

static int
hex_nibble(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/*
 * The key as mosquitto reads it (mosquitto__hex2bin): hex digits, leading
 * "00" pairs kept as zero bytes, and an odd count read as if a 0 came
 * first, so that a key written for mosquitto's psk_file means the same
 * bytes here.
 */
static int
set_psk(tls_ctx *w, const mqi_tls_opts *o, char *err, size_t errlen)
{
    const char *hex = o->psk_hex, *id = nonempty(o->psk_identity);
    size_t n = strlen(hex), i, out = 0;
    unsigned char buf[sizeof w->psk];

    memset(buf, 0, sizeof buf);
    if (id == NULL) {
        snprintf(err, errlen, "TLS-PSK key given without an identity");
        return MQ_ERR_TLS;
    }
    if (strlen(id) >= sizeof w->psk_identity) {
        snprintf(err, errlen, "TLS-PSK identity too long (max 255 bytes)");
        return MQ_ERR_TLS;
    }
    if (n > 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
        hex += 2;
        n -= 2;
    }
    if (n == 0 || n > 2 * sizeof buf) {
        snprintf(err, errlen, "TLS-PSK key: 1 to %zu hex digits",
                 2 * sizeof buf);
        return MQ_ERR_TLS;
    }
    for (i = 0; i < n; i++) {
        int v = hex_nibble((unsigned char)hex[i]);

        if (v < 0) {
            snprintf(err, errlen, "TLS-PSK key: not a hex digit at %zu", i);
            return MQ_ERR_TLS;
        }
        /* from the right in pairs: an odd count's first digit stands
         * alone as the low half of the first byte */
        if ((n - i) % 2 == 0)
            buf[out] = (unsigned char)(v << 4);
        else
            buf[out++] |= (unsigned char)v;
    }
    w->psk_len = out;
    memcpy(w->psk, buf, out);
    OPENSSL_cleanse(buf, sizeof buf);
    snprintf(w->psk_identity, sizeof w->psk_identity, "%s", id);
    return MQ_OK;
}

static tls_ctx *
ctx_of(SSL *ssl)
{
    return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
}

/* TLS 1.2 and earlier (and TLS 1.3 when the session callback declines). */
static unsigned int
psk_client_cb(SSL *ssl, const char *hint, char *identity,
              unsigned int max_identity_len, unsigned char *psk,
              unsigned int max_psk_len)
{
    tls_ctx *w = ctx_of(ssl);
    size_t idlen;

    (void)hint;
    if (w == NULL || w->psk_len == 0)
        return 0;
    idlen = strlen(w->psk_identity);
    if (idlen + 1 > max_identity_len || w->psk_len > max_psk_len)
        return 0;
    memcpy(identity, w->psk_identity, idlen + 1);
    memcpy(psk, w->psk, w->psk_len);
    return (unsigned int)w->psk_len;
}

/* TLS 1.3 external PSK: a session for TLS_AES_128_GCM_SHA256 (SHA-256,
 * what servers using the TLS 1.2-style callback, like mosquitto, assume). */
static int
psk_session_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
               size_t *idlen, SSL_SESSION **sess)
{
    static const unsigned char aes128gcm_sha256[] = { 0x13, 0x01 };
    tls_ctx *w = ctx_of(ssl);
    const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm_sha256);
    SSL_SESSION *s;

    *sess = NULL;
    *id = NULL;
    *idlen = 0;
    if (w == NULL || w->psk_len == 0 || cipher == NULL)
        return 1; /* no PSK to offer */
    if (md != NULL && SSL_CIPHER_get_handshake_digest(cipher) != md)
        return 1; /* after a HelloRetryRequest for another hash */
    s = SSL_SESSION_new();
    if (s == NULL || !SSL_SESSION_set1_master_key(s, w->psk, w->psk_len)
        || !SSL_SESSION_set_cipher(s, cipher)
        || !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
        SSL_SESSION_free(s);
        return 0;
    }
    *sess = s;
    *id = (const unsigned char *)w->psk_identity;
    *idlen = strlen(w->psk_identity);
    return 1;
}

/* ---- revocation ----------------------------------------------------------- */

static int
load_crls(SSL_CTX *ctx, const mqi_tls_opts *o, char *err, size_t errlen)
{
    const char *file = nonempty(o->crl_file), *dir = nonempty(o->crl_path);
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    unsigned long flags = X509_V_FLAG_CRL_CHECK;
    char what[200];
    struct stat sb;

    if (file == NULL && dir == NULL)
        return MQ_OK;
    if (file != NULL) {
        X509_LOOKUP *lu = X509_STORE_add_lookup(st, X509_LOOKUP_file());
        FILE *f = fopen(file, "r");
        int n = 0;

        snprintf(what, sizeof what, "CRL file %.150s", file);
        if (f == NULL) {
            snprintf(err, errlen, "%s: %s", what, strerror(errno));
            return MQ_ERR_TLS;
        }
        fclose(f);
        if (lu != NULL)
            n = X509_load_crl_file(lu, file, X509_FILETYPE_PEM);
        if (n <= 0 && lu != NULL) {
            ERR_clear_error();
            n = X509_load_crl_file(lu, file, X509_FILETYPE_ASN1);
        }
        if (n <= 0) {
            ERR_clear_error();
            snprintf(err, errlen, "%s: no CRL in it (PEM or DER)", what);
            return MQ_ERR_TLS;
        }
    }
    if (dir != NULL) {
        X509_LOOKUP *lu;

        snprintf(what, sizeof what, "CRL directory %.150s", dir);
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            snprintf(err, errlen, "%s: %s", what,
                     errno != 0 && !S_ISDIR(sb.st_mode) ? strerror(errno)
                                                        : "not a directory");
            return MQ_ERR_TLS;
        }
        lu = X509_STORE_add_lookup(st, X509_LOOKUP_hash_dir());
        if (lu == NULL || !X509_LOOKUP_add_dir(lu, dir, X509_FILETYPE_PEM)) {
            drain_errors(err, errlen, what);
            return MQ_ERR_TLS;
        }
    }
    if (o->crl_check != 1)
        flags |= X509_V_FLAG_CRL_CHECK_ALL;
    if (!X509_STORE_set_flags(st, flags)) {
        drain_errors(err, errlen, "CRL checking");
        return MQ_ERR_TLS;
    }
    return MQ_OK;
}

/* ---- the context ---------------------------------------------------------- */

/* A digest of every option the context depends on: a session is carried
 * to a new context only when it is made from the same options (a hash,
 * so that no key or password is kept in another place). */
static void
options_digest(const mqi_tls_opts *o, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    const char *strs[] = {
        o->ca_file, o->ca_path, o->cert_file, o->key_file, o->verify_name,
        o->alpn, o->ciphers, OPT_CA_PEM(o), OPT_CERT_PEM(o), OPT_KEY_PEM(o),
        OPT_KEY_PASSWORD(o), o->key_uri, o->cert_uri, o->providers,
        o->engine, o->psk_hex, o->psk_identity, o->crl_file, o->crl_path,
    };
    char nums[160];
    size_t i;

    memset(out, 0, 32);
    if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        return; /* all zero: matches nothing (see mqi_tls_ctx_inherit) */
    }
    for (i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        /* length-prefixed, NULL apart from "" */
        size_t n = strs[i] != NULL ? strlen(strs[i]) + 1 : 0;

        EVP_DigestUpdate(md, &n, sizeof n);
        if (n > 0)
            EVP_DigestUpdate(md, strs[i], n);
    }
    snprintf(nums, sizeof nums, "%d %d %d %d %d %d %p %p %p",
             o->min_version, o->max_version, o->insecure,
             o->no_hostname_check, o->crl_check, o->no_resume, o->app_ctx,
             (void *)(uintptr_t)OPT_KEY_PASSWORD_CB(o),
             OPT_KEY_PASSWORD_UD(o));
    EVP_DigestUpdate(md, nums, strlen(nums));
    if (!EVP_DigestFinal_ex(md, out, NULL))
        memset(out, 0, 32);
    EVP_MD_CTX_free(md);
}

void
mqi_tls_ctx_mark_stale(void *ctx)
{
    if (ctx != NULL)
        ((tls_ctx *)ctx)->stale = true;
}

bool
mqi_tls_ctx_stale(const void *ctx)
{
    return ctx != NULL && ((const tls_ctx *)ctx)->stale;
}

void
mqi_tls_ctx_inherit(void *fresh, const void *old)
{
    static const unsigned char zero[32];
    tls_ctx *n = fresh;
    const tls_ctx *o = old;

    if (n == NULL || o == NULL || o->sess == NULL || n->sess != NULL
        || n->no_resume || memcmp(n->fp, o->fp, sizeof n->fp) != 0
        || memcmp(n->fp, zero, sizeof zero) == 0
        || !SSL_SESSION_up_ref(o->sess))
        return;
    n->sess = o->sess;
    memcpy(n->sess_name, o->sess_name, sizeof n->sess_name);
    n->sess_port = o->sess_port;
}

static void
ctx_release(tls_ctx *w)
{
    if (w == NULL || --w->refs > 0)
        return;
    SSL_SESSION_free(w->sess);
    SSL_CTX_free(w->ctx);
#ifdef MQI_ENGINE_SUPPRESS_
    if (w->engine != NULL)
        ENGINE_finish(w->engine);
#endif
    OPENSSL_cleanse(w, sizeof *w); /* the PSK */
    free(w);
}

int
mqi_tls_ctx_new(const mqi_tls_opts *o, void **out_ctx, char *err,
                size_t errlen)
{
    static const mqi_tls_opts none;
    SSL_CTX *ctx = NULL;
    tls_ctx *w = NULL;
    char scratch[8];
    int rc = MQ_ERR_TLS;
    int minv;

    if (err == NULL || errlen == 0) {
        err = scratch; /* the caller does not want the text */
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (out_ctx == NULL)
        return MQ_ERR_INVAL;
    *out_ctx = NULL;
    if (o == NULL)
        o = &none;

    switch (o->min_version) {
    case 0:
    case 12:
        minv = TLS1_2_VERSION;
        break;
    case 13:
        minv = TLS1_3_VERSION;
        break;
    default:
        snprintf(err, errlen, "unsupported minimum TLS version %d "
                 "(use 12 or 13)", o->min_version);
        return MQ_ERR_TLS;
    }

    w = calloc(1, sizeof *w);
    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return MQ_ERR_NOMEM;
    }
    w->refs = 1;
    w->no_resume = o->no_resume;
    options_digest(o, w->fp);
    ERR_clear_error();
    if (o->app_ctx != NULL) {
        /* the application's context, as it is */
        if (!SSL_CTX_up_ref(o->app_ctx)) {
            drain_errors(err, errlen, "application SSL_CTX");
            free(w);
            return MQ_ERR_TLS;
        }
        w->ctx = o->app_ctx;
        w->app = true;
        *out_ctx = w;
        return MQ_OK;
    }
    if (nonempty(o->providers) != NULL
        && (rc = load_providers(o->providers, err, errlen)) != MQ_OK)
        goto fail;
#ifdef MQI_ENGINE_SUPPRESS_
    if (nonempty(o->engine) != NULL
        && (rc = engine_open(w, o->engine, err, errlen)) != MQ_OK)
        goto fail;
#else
    if (nonempty(o->engine) != NULL) {
        snprintf(err, errlen, "TLS engines: OpenSSL built without them");
        rc = MQ_ERR_NOT_SUPPORTED;
        goto fail;
    }
#endif
    if (nonempty(o->psk_hex) != NULL
        && (rc = set_psk(w, o, err, errlen)) != MQ_OK)
        goto fail;
    rc = MQ_ERR_TLS;
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        drain_errors(err, errlen, "SSL_CTX_new");
        rc = MQ_ERR_NOMEM;
        goto fail;
    }
    SSL_CTX_set_app_data(ctx, w);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                              | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (!SSL_CTX_set_min_proto_version(ctx, minv)) {
        drain_errors(err, errlen, "minimum TLS version");
        goto fail;
    }
    if (o->max_version != 0) {
        int maxv = o->max_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;

        if (maxv < minv) {
            snprintf(err, errlen, "maximum TLS version below the minimum");
            goto fail;
        }
        if (!SSL_CTX_set_max_proto_version(ctx, maxv)) {
            drain_errors(err, errlen, "maximum TLS version");
            goto fail;
        }
    }
    if (w->psk_len > 0) {
        SSL_CTX_set_psk_client_callback(ctx, psk_client_cb);
        SSL_CTX_set_psk_use_session_callback(ctx, psk_session_cb);
    }

    if (o->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        rc = load_trust(ctx, o, err, errlen);
        if (rc != MQ_OK)
            goto fail;
        rc = load_crls(ctx, o, err, errlen);
        if (rc != MQ_OK)
            goto fail;
    }
    rc = load_client_cert(w, ctx, o, err, errlen);
    if (rc != MQ_OK)
        goto fail;
    if (o->ciphers != NULL && o->ciphers[0] != '\0') {
        rc = set_ciphers(ctx, o->ciphers, err, errlen);
        if (rc != MQ_OK)
            goto fail;
    }
    if (o->alpn != NULL && o->alpn[0] != '\0') {
        rc = set_alpn(ctx, o->alpn, err, errlen);
        if (rc != MQ_OK)
            goto fail;
    }
    w->ctx = ctx;
    *out_ctx = w;
    return MQ_OK;

fail:
    SSL_CTX_free(ctx);
    ctx_release(w);
    ERR_clear_error();
    return rc == MQ_OK ? MQ_ERR_TLS : rc;
}

void
mqi_tls_ctx_free(void *ctx)
{
    ctx_release(ctx); /* NULL is a no-op; live connections hold a ref */
}

int
mqi_tls_app_ctx_ref(void *ssl_ctx)
{
    return ssl_ctx != NULL && SSL_CTX_up_ref(ssl_ctx) ? MQ_OK : MQ_ERR_TLS;
}

void
mqi_tls_app_ctx_release(void *ssl_ctx)
{
    SSL_CTX_free(ssl_ctx);
}

/* ---- io ops ------------------------------------------------------------- */

/* Fill mqi_io_err for a failed SSL call whose SSL_get_error() was @p e. */
static void
describe_failure(mqi_io *io, tls_layer *t, int e, const char *what)
{
    unsigned long top = ERR_peek_error();
    long vr;

    (void)io; /* the text goes to mqi_io_err */
    if (e == SSL_ERROR_SSL && ERR_GET_LIB(top) == ERR_LIB_SSL
        && ERR_GET_REASON(top) == SSL_R_CERTIFICATE_VERIFY_FAILED
        && (vr = SSL_get_verify_result(t->ssl)) != X509_V_OK) {
        ERR_clear_error();
        if (vr == X509_V_ERR_HOSTNAME_MISMATCH
            || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
            snprintf(mqi_io_err, sizeof mqi_io_err,
                     "certificate verify failed: %s (expected %.64s)",
                     X509_verify_cert_error_string(vr), t->name);
        else
            snprintf(mqi_io_err, sizeof mqi_io_err, "certificate verify failed: %s",
                     X509_verify_cert_error_string(vr));
        return;
    }
    if (e == SSL_ERROR_SYSCALL || (e == SSL_ERROR_SSL && top == 0)) {
        ERR_clear_error();
        if (t->sys_errno != 0)
            snprintf(mqi_io_err, sizeof mqi_io_err, "%s: %s%s", what,
                     strerror(t->sys_errno),
                     t->ready ? "" : " (is this a TLS port?)");
        else
            snprintf(mqi_io_err, sizeof mqi_io_err,
                     "%s: connection closed by the peer%s", what,
                     t->ready ? "" : " (is this a TLS port?)");
        return;
    }
    drain_errors(mqi_io_err, sizeof mqi_io_err, what);
}

/* True when the queued error is "peer closed without close_notify". */
static bool
is_unexpected_eof(tls_layer *t, int e)
{
    unsigned long top = ERR_peek_error();

    if (e == SSL_ERROR_SSL)
        return ERR_GET_LIB(top) == ERR_LIB_SSL
               && ERR_GET_REASON(top) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
    return e == SSL_ERROR_SYSCALL && top == 0 && t->sys_errno == 0;
}

/* Keep the connection's session for the next connect when it is new and
 * resumable: a TLS 1.2 session after the handshake, or a TLS 1.3 ticket,
 * which arrives after it and is processed by a later SSL_read. */
static void
remember_session(tls_layer *t)
{
    tls_ctx *w = t->owner;
    SSL_SESSION *s = SSL_get0_session(t->ssl);

    /* t->seen holds a reference: a freed session's address could come
     * back for the next one and look "seen" */
    if (s == t->seen || s == NULL || !SSL_SESSION_up_ref(s))
        return;
    SSL_SESSION_free(t->seen);
    t->seen = s;
    if (w->no_resume || !SSL_SESSION_is_resumable(s)
        || !SSL_SESSION_up_ref(s))
        return;
    SSL_SESSION_free(w->sess);
    w->sess = s;
    memcpy(w->sess_name, t->name, sizeof w->sess_name);
    w->sess_port = t->port;
}

static void
forget_session(tls_layer *t)
{
    SSL_SESSION_free(t->owner->sess);
    t->owner->sess = NULL;
}

static int
tls_handshake(mqi_io *io)
{
    tls_layer *t = io->layer;
    int r, e;

    if (t == NULL) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "TLS layer is closed");
        return MQ_ERR_TLS;
    }
    if (t->ready)
        return MQ_OK;
    if (t->fatal)
        return MQ_ERR_TLS;
    ERR_clear_error();
    t->sys_errno = 0;
    r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->ready = true;
        io->want = 0;
        remember_session(t);
        return MQ_OK;
    }
    e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        io->want = EPOLLIN;
        return MQ_ERR_AGAIN;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        io->want = EPOLLOUT;
        return MQ_ERR_AGAIN;
    }
    t->fatal = true;
    forget_session(t); /* never offer it again after a failure */
    if (is_unexpected_eof(t, e))
        snprintf(mqi_io_err, sizeof mqi_io_err,
                 "TLS handshake: connection closed by the peer%s",
                 t->owner->psk_len > 0 ? " (wrong PSK identity or key?)"
                                       : " (is this a TLS port?)");
    else
        describe_failure(io, t, e, "TLS handshake");
    if (t->owner->psk_len > 0 && strstr(mqi_io_err, "alert") != NULL) {
        size_t n = strlen(mqi_io_err);

        snprintf(mqi_io_err + n, sizeof mqi_io_err - n,
                 " (wrong PSK identity or key?)");
    }
    ERR_clear_error();
    return MQ_ERR_TLS;
}

static int
tls_read(mqi_io *io, uint8_t *buf, size_t cap, size_t *out_n)
{
    tls_layer *t = io->layer;
    size_t n = 0;
    int e, rc;

    *out_n = 0;
    if (t == NULL || !t->ready || t->fatal) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "TLS read: session not usable");
        return MQ_ERR_TLS;
    }
    if (cap == 0)
        return MQ_ERR_INVAL;
    ERR_clear_error();
    t->sys_errno = 0;
    if (SSL_read_ex(t->ssl, buf, cap, &n) == 1) {
        *out_n = n;
        remember_session(t);
        return MQ_OK;
    }
    remember_session(t);
    e = SSL_get_error(t->ssl, 0);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        io->want = EPOLLIN;
        return MQ_ERR_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        io->want = EPOLLOUT;
        return MQ_ERR_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        /* close_notify received: orderly close. We may still answer it. */
        snprintf(mqi_io_err, sizeof mqi_io_err, "TLS close_notify from the peer");
        return MQ_ERR_CLOSED;
    default:
        break;
    }
    t->fatal = true;
    if (is_unexpected_eof(t, e)) {
        snprintf(mqi_io_err, sizeof mqi_io_err,
                 "connection closed without TLS close_notify");
        rc = MQ_ERR_CLOSED;
    } else if (e == SSL_ERROR_SYSCALL && t->sys_errno != 0) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "recv: %s", strerror(t->sys_errno));
        rc = MQ_ERR_IO;
    } else {
        describe_failure(io, t, e, "TLS read");
        rc = MQ_ERR_TLS;
    }
    ERR_clear_error();
    return rc;
}

static int
tls_write(mqi_io *io, const uint8_t *buf, size_t len, size_t *out_n)
{
    tls_layer *t = io->layer;
    size_t n = 0;
    int e, rc;

    *out_n = 0;
    if (t == NULL || !t->ready || t->fatal) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "TLS write: session not usable");
        return MQ_ERR_TLS;
    }
    if (len == 0)
        return MQ_ERR_INVAL;
    ERR_clear_error();
    t->sys_errno = 0;
    if (SSL_write_ex(t->ssl, buf, len, &n) == 1) {
        *out_n = n;
        return MQ_OK;
    }
    e = SSL_get_error(t->ssl, 0);
    switch (e) {
    case SSL_ERROR_WANT_WRITE:
        io->want = EPOLLOUT;
        return MQ_ERR_AGAIN;
    case SSL_ERROR_WANT_READ:
        io->want = EPOLLIN;
        return MQ_ERR_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        snprintf(mqi_io_err, sizeof mqi_io_err, "TLS session closed by the peer");
        return MQ_ERR_CLOSED;
    default:
        break;
    }
    if (e == SSL_ERROR_SYSCALL && t->sys_errno != 0) {
        /* The peer may have closed after a fatal alert (e.g. TLS 1.3
         * "certificate required", sent only after our handshake ended):
         * the alert is still queued on the socket and says much more than
         * "connection reset". One non-blocking look. */
        int err = t->sys_errno;
        uint8_t scratch[256];
        size_t got = 0;

        ERR_clear_error();
        t->sys_errno = 0;
        if (SSL_read_ex(t->ssl, scratch, sizeof scratch, &got) != 1
            && SSL_get_error(t->ssl, 0) == SSL_ERROR_SSL
            && ERR_peek_error() != 0) {
            t->fatal = true;
            describe_failure(io, t, SSL_ERROR_SSL, "TLS");
            ERR_clear_error();
            return MQ_ERR_TLS;
        }
        t->fatal = true;
        ERR_clear_error();
        snprintf(mqi_io_err, sizeof mqi_io_err, "send: %s", strerror(err));
        return MQ_ERR_IO;
    }
    t->fatal = true;
    {
        describe_failure(io, t, e, "TLS write");
        rc = MQ_ERR_TLS;
    }
    ERR_clear_error();
    return rc;
}

static void
tls_close(mqi_io *io)
{
    tls_layer *t = io->layer;

    if (t == NULL)
        return;
    ERR_clear_error();
    /* Best effort, one non-blocking attempt: send our close_notify. */
    if (t->ready && !t->fatal)
        (void)SSL_shutdown(t->ssl);
    SSL_free(t->ssl); /* frees the BIO too */
    SSL_SESSION_free(t->seen);
    ctx_release(t->owner);
    free(t);
    io->layer = NULL;
    io->want = 0;
    ERR_clear_error();
}

/* "version\0cipher\0alpn\0resumed\0" of a finished handshake. */
static size_t
tls_describe(mqi_io *io, char *buf, size_t len)
{
    tls_layer *t = io->layer;
    const unsigned char *alpn = NULL;
    unsigned int alen = 0;
    int n;

    if (t == NULL || !t->ready || buf == NULL)
        return 0;
    SSL_get0_alpn_selected(t->ssl, &alpn, &alen);
    n = snprintf(buf, len, "%s%c%s%c%.*s%c%s", SSL_get_version(t->ssl), 0,
                 SSL_get_cipher_name(t->ssl), 0, (int)alen,
                 alpn != NULL ? (const char *)alpn : "", 0,
                 SSL_session_reused(t->ssl) ? "1" : "0");
    if (n < 0 || (size_t)n + 1 > len)
        return 0;
    return (size_t)n + 1;
}

static const mqi_io_ops tls_ops = {
    tls_handshake, tls_read, tls_write, tls_close, tls_describe,
};

/* ---- start -------------------------------------------------------------- */

/* Copy @p host to @p out without IPv6 brackets; true if it is an IP literal. */
static bool
parse_host(const char *host, char *out, size_t outlen)
{
    size_t n = strlen(host);
    unsigned char addr[16];

    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, host, n);
    out[n] = '\0';
    return inet_pton(AF_INET, out, addr) == 1
           || inet_pton(AF_INET6, out, addr) == 1;
}

int
mqi_io_tls_start(mqi_io *io, void *ctx, const char *host,
                 const mqi_tls_opts *o)
{
    tls_ctx *w = ctx;
    tls_layer *t = NULL;
    BIO *bio = NULL;
    const char *name;
    bool is_ip;
    int rc = MQ_ERR_TLS;

    if (io == NULL)
        return MQ_ERR_INVAL;
    mqi_io_err[0] = '\0';
    if (ctx == NULL || io->fd < 0) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "TLS start: no context or socket");
        return MQ_ERR_INVAL;
    }
    name = o != NULL && o->verify_name != NULL && o->verify_name[0] != '\0'
               ? o->verify_name
               : host;
    if ((name == NULL || name[0] == '\0') &&
        !(o != NULL && (o->insecure || o->no_hostname_check))) {
        snprintf(mqi_io_err, sizeof mqi_io_err,
                 "TLS: no host name to verify the certificate against");
        return MQ_ERR_TLS;
    }
    pthread_once(&sock_method_once, sock_method_init);
    if (sock_method == NULL) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "TLS: cannot create socket BIO");
        return MQ_ERR_NOMEM;
    }

    ERR_clear_error();
    t = calloc(1, sizeof *t);
    if (t == NULL) {
        rc = MQ_ERR_NOMEM;
        goto fail;
    }
    t->fd = io->fd;
    t->port = o != NULL ? o->port : 0;
    t->ssl = SSL_new(w->ctx);
    t->owner = w;
    w->refs++;
    bio = BIO_new(sock_method);
    if (t->ssl == NULL || bio == NULL) {
        drain_errors(mqi_io_err, sizeof mqi_io_err, "TLS: SSL_new");
        rc = MQ_ERR_NOMEM;
        goto fail;
    }
    BIO_set_data(bio, t);
    SSL_set_bio(t->ssl, bio, bio); /* the SSL owns the BIO from here */
    bio = NULL;

    is_ip = false;
    if (name != NULL && name[0] != '\0') {
        is_ip = parse_host(name, t->name, sizeof t->name);
        /* SNI carries the name we verify; never an IP literal (RFC 6066). */
        if (!is_ip && !SSL_set_tlsext_host_name(t->ssl, t->name)) {
            drain_errors(mqi_io_err, sizeof mqi_io_err, "TLS: server name");
            goto fail;
        }
    }
    if (!(o != NULL && (o->insecure || o->no_hostname_check))) {
        if (is_ip) {
            if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
                                               t->name)) {
                drain_errors(mqi_io_err, sizeof mqi_io_err, "TLS: IP address");
                goto fail;
            }
        } else {
            SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (!SSL_set1_host(t->ssl, t->name)) {
                drain_errors(mqi_io_err, sizeof mqi_io_err, "TLS: host name");
                goto fail;
            }
        }
    }
    /* Offer the last session made with this server, if any. */
    if (!w->no_resume && w->sess != NULL && w->sess_port == t->port
        && strcmp(w->sess_name, t->name) == 0
        && !SSL_set_session(t->ssl, w->sess))
        ERR_clear_error(); /* a full handshake then */
    SSL_set_connect_state(t->ssl);

    io->layer = t;
    io->ops = &tls_ops;
    io->want = EPOLLOUT; /* the first handshake step sends ClientHello */
    return MQ_OK;

fail:
    BIO_free(bio);
    if (t != NULL) {
        SSL_free(t->ssl);
        if (t->owner != NULL)
            ctx_release(t->owner);
        free(t);
    }
    ERR_clear_error();
    return rc;
}
#ifdef MQI_ENGINE_SUPPRESS_
#pragma GCC diagnostic pop
#endif
