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
 */
#ifndef MQI_TRANSPORT_H
#define MQI_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mqi_io mqi_io;

typedef struct mqi_io_ops {
    /* MQ_OK when the layer is ready for data; MQ_ERR_AGAIN with io->want
     * set to what to wait for; or an error (MQ_ERR_TLS, MQ_ERR_IO, ...) with
     * io->err describing it. */
    int (*handshake)(mqi_io *io);
    /* MQ_OK with *out_n > 0; MQ_ERR_AGAIN (io->want says what to wait
     * for); MQ_ERR_CLOSED on orderly EOF; MQ_ERR_IO / MQ_ERR_TLS. */
    int (*read)(mqi_io *io, uint8_t *buf, size_t cap, size_t *out_n);
    /* MQ_OK with *out_n > 0 (may be short); MQ_ERR_AGAIN; MQ_ERR_IO... */
    int (*write)(mqi_io *io, const uint8_t *buf, size_t len, size_t *out_n);
    /* Free the layer's state (best-effort close_notify); does not close fd. */
    void (*close)(mqi_io *io);
} mqi_io_ops;

struct mqi_io {
    const mqi_io_ops *ops;
    int fd;
    uint32_t want;   /* EPOLLIN/EPOLLOUT the layer waits for */
    void *layer;     /* layer state, e.g. an SSL * */
    char err[160];   /* detail of the last error, for logs and events */
};

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
} mqi_tls_opts;
#define MQI_TLS_OPTS_HAVE_PEM 1

/* Wrap @p io (plain, or TLS already started with mqi_io_tls_start) in a
 * WebSocket client layer (RFC 6455, subprotocol "mqtt", binary frames,
 * masked). Its handshake first completes the inner layer's handshake, then
 * sends the HTTP/1.1 Upgrade for @p path with Host @p host:@p port and
 * checks the 101 answer (Sec-WebSocket-Accept, protocol). read/write then
 * carry the MQTT byte stream inside frames; ping frames are answered, a
 * close frame ends the stream with MQ_ERR_CLOSED. MQ_OK or MQ_ERR_NOMEM. */
int mqi_io_ws_start(mqi_io *io, const char *host, uint16_t port,
                    const char *path);

#ifdef MQ_HAVE_TLS
/* Create an SSL_CTX (returned as void *) from @p o. MQ_OK or MQ_ERR_TLS
 * with the reason in err. */
int mqi_tls_ctx_new(const mqi_tls_opts *o, void **out_ctx, char *err,
                    size_t errlen);
void mqi_tls_ctx_free(void *ctx);
/* Turn a connected plain io into a TLS client io: SNI and hostname
 * verification use @p host (or o->verify_name). The handshake then runs
 * through io->ops->handshake. MQ_OK or MQ_ERR_TLS / MQ_ERR_NOMEM. */
int mqi_io_tls_start(mqi_io *io, void *ctx, const char *host,
                     const mqi_tls_opts *o);
#endif

#endif
