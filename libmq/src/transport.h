/*
 * transport.h - the byte stream under MQTT: plain TCP / Unix socket, TLS
 * (OpenSSL), WebSocket; one small ops table, layered on a non-blocking fd.
 *
 * The worker creates the socket and completes the non-blocking connect();
 * then it calls io->ops->handshake until MQ_OK, waiting for io->want
 * (EPOLLIN / EPOLLOUT bits) between calls. After that, read/write move
 * bytes. All calls are non-blocking.
 *
 * Threading: worker thread only (an mqi_io belongs to one connection).
 * The text of a failure is per thread (mqi_io_err), not per connection:
 * a failing call writes it and its caller reads it on the same thread
 * before that thread touches another connection (the worker reports it at
 * once: mqi_connect_fail, connection_lost), so an idle connection carries
 * no error buffer (issue 20 item 3).
 */
#ifndef MQI_TRANSPORT_H
#define MQI_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"

typedef struct mqi_io mqi_io;

typedef struct mqi_io_ops {
    /* MQ_OK when the layer is ready for data; MQ_ERR_AGAIN with io->want
     * set to what to wait for; or an error (MQ_ERR_TLS, MQ_ERR_IO, ...) with
     * mqi_io_err describing it. */
    int (*handshake)(mqi_io *io);
    /* MQ_OK with *out_n > 0; MQ_ERR_AGAIN (io->want says what to wait
     * for); MQ_ERR_CLOSED on orderly EOF; MQ_ERR_IO / MQ_ERR_TLS. */
    int (*read)(mqi_io *io, uint8_t *buf, size_t cap, size_t *out_n);
    /* MQ_OK with *out_n > 0 (may be short); MQ_ERR_AGAIN; MQ_ERR_IO... */
    int (*write)(mqi_io *io, const uint8_t *buf, size_t len, size_t *out_n);
    /* Free the layer's state (best-effort close_notify); does not close fd. */
    void (*close)(mqi_io *io);
    /* Optional (NULL: none): what the TLS layer negotiated, as packed
     * "version\0cipher\0alpn\0resumed\0" (see mqi_tls_describe); a layer
     * over TLS asks its inner layer. Returns the length used, 0 if none. */
    size_t (*describe)(mqi_io *io, char *buf, size_t len);
} mqi_io_ops;

struct mqi_io {
    const mqi_io_ops *ops;
    int fd;
    uint32_t want;   /* EPOLLIN/EPOLLOUT the layer waits for */
    void *layer;     /* layer state, e.g. an SSL * */
};

/* The detail of the last transport error on this thread, for logs and
 * events ("" when none): written by the failing call (any layer, any
 * connection), read by its caller before it runs another connection's
 * I/O, cleared once reported (mqi_io_err_clear). */
#define MQI_IO_ERR_LEN 160
extern _Thread_local char mqi_io_err[MQI_IO_ERR_LEN];
static inline void mqi_io_err_clear(void) { mqi_io_err[0] = '\0'; }

/* Plain stream socket ops (TCP, Unix). */
extern const mqi_io_ops mqi_io_plain_ops;

/* TLS options, copied from the client's options at connect time. */
typedef struct mqi_tls_opts {
    const char *ca_file;
    const char *ca_path;
    const char *cert_file;
    const char *key_file;
    const char *verify_name; /* name to verify instead of the host */
    const char *alpn;        /* comma-separated protocol list */
    const char *ciphers;
    int min_version;         /* 0 default, 12 = TLS 1.2, 13 = TLS 1.3 */
    bool insecure;           /* skip certificate and name verification */
    bool no_hostname_check;  /* verify the chain, not the name */
    const char *ca_pem;      /* in-memory PEM: CAs */
    const char *cert_pem;    /* certificate (+ chain, + key if no key) */
    const char *key_pem;     /* private key */
    const char *key_password;/* for an encrypted key */
    int (*key_password_cb)(char *buf, int size, void *userdata);
    void *key_password_userdata;
    /* Keys in providers, stores and engines, PSK, revocation, an
     * application's SSL_CTX, resumption (all optional; NULL/0: off). */
    const char *key_uri;     /* private key by OSSL_STORE URI / engine id */
    const char *cert_uri;    /* certificate by OSSL_STORE URI */
    const char *providers;   /* comma-separated providers to load */
    const char *engine;      /* engine id: key_uri goes through it */
    const char *psk_hex;     /* pre-shared key, hex */
    const char *psk_identity;
    const char *crl_file;    /* CRLs (PEM) to check the chain against */
    const char *crl_path;    /* a hashed directory of CRLs (openssl rehash) */
    int crl_check;           /* 0 default (= 2), 1 leaf only, 2 whole chain */
    bool no_resume;          /* do not resume TLS sessions */
    void *app_ctx;           /* an application's SSL_CTX, used as given */
    uint16_t port;           /* server port: with the name, keys resumption */
    int max_version;         /* 0 none, 12 = TLS 1.2, 13 = TLS 1.3 */
} mqi_tls_opts;
#define MQI_TLS_OPTS_HAVE_PEM 1

/* Base64 with padding (RFC 4648); @p out must hold 4 * ceil(n / 3) + 1. */
void mqi_base64(const uint8_t *in, size_t n, char *out);

/* ---- proxies (transport_proxy.c) ----------------------------------------- */

enum { MQI_PROXY_HTTP = 1, MQI_PROXY_SOCKS5 };

/* A proxy parsed from a URI: http://, socks5:// or socks5h://, then
 * [user[:pass]@]host[:port] (default port 1080 for SOCKS, 3128 for HTTP).
 * user and pass are percent-decoded; NULL when absent. */
typedef struct mqi_proxy {
    int kind;                /* MQI_PROXY_* */
    char *host;              /* name or IP literal, without brackets */
    uint16_t port;
    char *user, *pass;
} mqi_proxy;

/* Parse @p uri into *p (MQ_OK, MQ_ERR_URI with the reason in err,
 * MQ_ERR_NOT_SUPPORTED for a scheme we lack (https://), MQ_ERR_NOMEM).
 * @p bare_http: a value without a scheme is an HTTP proxy (environment
 * variables); else the scheme is required. */
MQI_MUST_CHECK int mqi_proxy_parse(const char *uri, bool bare_http, mqi_proxy *p,
                    char *err, size_t errlen);
void mqi_proxy_free(mqi_proxy *p);
/* True when @p host (name or IP literal) matches a no_proxy list: entries
 * separated by commas or spaces, "*" for all, a name matching itself and
 * its subdomains (a leading '.' is ignored), an IP literal or an IPv4 or
 * IPv6 CIDR block; ":port" after an entry limits it to that port. */
bool mqi_no_proxy_match(const char *list, const char *host, uint16_t port);
/* Wrap a connected plain @p io in a proxy client layer: its handshake asks
 * the proxy @p px for a tunnel to @p host:@p port (HTTP CONNECT with Basic
 * auth, or SOCKS5 with no auth or user/password and the name resolved by
 * the proxy). Once the handshake returns MQ_OK the socket is a clean
 * tunnel: call mqi_io_proxy_done() and start the broker's transport on it.
 * Handshake errors: MQ_ERR_PROXY (refused, closed, bad answer) or
 * MQ_ERR_PROXY_AUTH (credentials missing or rejected), with mqi_io_err. */
MQI_MUST_CHECK int mqi_io_proxy_start(mqi_io *io, const mqi_proxy *px, const char *host,
                       uint16_t port);
/* True if @p io is in the proxy layer. */
bool mqi_io_is_proxy(const mqi_io *io);
/* Drop the finished proxy layer: @p io becomes a plain io on the tunnel. */
void mqi_io_proxy_done(mqi_io *io);

/* Wrap @p io (plain, or TLS already started with mqi_io_tls_start) in a
 * WebSocket client layer (RFC 6455, subprotocol "mqtt", binary frames,
 * masked). Its handshake first completes the inner layer's handshake, then
 * sends the HTTP/1.1 Upgrade for @p path with Host @p host:@p port and
 * checks the 101 answer (Sec-WebSocket-Accept, protocol). read/write then
 * carry the MQTT byte stream inside frames; ping frames are answered, a
 * close frame ends the stream with MQ_ERR_CLOSED. MQ_OK or MQ_ERR_NOMEM. */
MQI_MUST_CHECK int mqi_io_ws_start(mqi_io *io, const char *host, uint16_t port,
                    const char *path);

#ifdef MQ_HAVE_TLS
/* Create an SSL_CTX (returned as void *) from @p o. MQ_OK or MQ_ERR_TLS
 * with the reason in err. */
MQI_MUST_CHECK int mqi_tls_ctx_new(const mqi_tls_opts *o, void **out_ctx, char *err,
                    size_t errlen);
void mqi_tls_ctx_free(void *ctx);
/* mq_connect() took new options: the context is rebuilt at the next TLS
 * connect (mqi_tls_ctx_stale), and the new one inherits the session when
 * it was made from the same options (mqi_tls_ctx_inherit; NULLs ok). */
void mqi_tls_ctx_mark_stale(void *ctx);
bool mqi_tls_ctx_stale(const void *ctx);
void mqi_tls_ctx_inherit(void *fresh, const void *old);
/* Turn a connected plain io into a TLS client io: SNI and hostname
 * verification use @p host (or o->verify_name). The handshake then runs
 * through io->ops->handshake. MQ_OK or MQ_ERR_TLS / MQ_ERR_NOMEM. */
MQI_MUST_CHECK int mqi_io_tls_start(mqi_io *io, void *ctx, const char *host,
                     const mqi_tls_opts *o);
/* Take a reference to an application's SSL_CTX (SSL_CTX_up_ref); the
 * release goes through mqi_tls_app_ctx_release. MQ_OK or MQ_ERR_TLS. */
int mqi_tls_app_ctx_ref(void *ssl_ctx);
void mqi_tls_app_ctx_release(void *ssl_ctx);
#endif

#endif
