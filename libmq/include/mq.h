/*
 * mq.h - libmq, an MQTT 3.1.1 / 5.0 client library with a stable C ABI.
 *
 * This is the one public header. If a function, type or constant is not in
 * this file, it is not part of libmq's API.
 *
 * Threading, in one paragraph: every function may be called from any thread,
 * except that a client must not be destroyed while another thread still uses
 * it. All network and protocol work happens on an internal worker thread;
 * mq_publish() and friends only queue work for it and never block on the
 * network. Results come back as events that the application pulls with
 * mq_next_event() (or through the callback helpers mq_loop*()), on the thread
 * of its choice. A client whose callbacks run from mq_loop_start() gets its
 * own I/O thread, which is that loop thread (see mq_loop_start()).
 *
 * Errors: functions return 0 (MQ_OK) or a negative MQ_ERR_* code;
 * mq_strerror() explains a code. MQTT reason codes sent by the broker are kept
 * apart (mq_reason values, 0x00..0xA2) and reach the application unchanged.
 */
#ifndef MQ_H
#define MQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 1. Export macro ------------------------------------------------- */

#if defined(MQ_BUILDING) && defined(__GNUC__)
#define MQ_API __attribute__((visibility("default")))
#else
#define MQ_API
#endif

/* ---- 2. Versions ----------------------------------------------------- */

/* The compile-time version: the one place libmq's version is written (the
 * build, libmq.pc and the packages read it through scripts/version.sh). */
#define MQ_VERSION_MAJOR 0
#define MQ_VERSION_MINOR 2
#define MQ_VERSION_PATCH 0
#define MQ_VERSION_NUM                                                    \
    ((MQ_VERSION_MAJOR << 16) | (MQ_VERSION_MINOR << 8) | MQ_VERSION_PATCH)
#define MQ_VERSION_STRING "0.2.0"

/** Run-time version as MQ_VERSION_NUM (0xMMmmpp). Any thread. */
MQ_API int mq_version(void);
/** Run-time version as "major.minor.patch". Never NULL. Any thread. */
MQ_API const char *mq_version_string(void);

/* ---- 3. Opaque types ------------------------------------------------- */

typedef struct mq_client mq_client; /* one MQTT connection and its session */
typedef struct mq_event mq_event;   /* one event taken by mq_next_event() */
typedef struct mq_props mq_props;   /* a list of MQTT 5 properties */

/* ---- 4. Errors ------------------------------------------------------- */

/* name, number (never reused), message */
#define MQ_ERR_MAP(X)                                                     \
    X(NOMEM, 1, "out of memory")                                          \
    X(INVAL, 2, "invalid argument")                                       \
    X(STATE, 3, "not allowed in the client's current state")              \
    X(QUEUE_FULL, 4, "outbound queue is full")                            \
    X(TOO_LARGE, 5, "packet exceeds the maximum packet size")             \
    X(TOPIC, 6, "invalid topic name or topic filter")                     \
    X(QOS, 7, "QoS must be 0, 1 or 2")                                    \
    X(UTF8, 8, "string is not valid MQTT UTF-8")                          \
    X(PROPERTY, 9, "invalid MQTT 5 property")                             \
    X(URI, 10, "invalid server URI")                                      \
    X(AGAIN, 11, "operation would block, try again")                      \
    X(TIMEOUT, 12, "timed out")                                           \
    X(NO_CONN, 13, "not connected")                                       \
    X(DNS, 14, "host name could not be resolved")                         \
    X(CONNREFUSED, 15, "connection refused by the server host")           \
    X(IO, 16, "network I/O error")                                        \
    X(CLOSED, 17, "connection closed by the broker")                      \
    X(MALFORMED, 18, "malformed packet")                                  \
    X(PROTOCOL, 19, "MQTT protocol violation")                            \
    X(REFUSED, 20, "refused by the broker (see the reason code)")         \
    X(KEEPALIVE, 21, "keepalive timeout: the broker stopped answering")   \
    X(TLS, 22, "TLS error")                                               \
    X(NOT_SUPPORTED, 23, "not supported by this build or protocol")       \
    X(NOT_FOUND, 24, "not found")                                         \
    X(SYSTEM, 25, "system error")                                         \
    X(DESTROYED, 26, "client is being destroyed")                         \
    X(PERSIST, 27, "persistence store error")                             \
    X(ABORTED, 28, "operation abandoned (e.g. QoS 0 message dropped on "  \
                   "disconnect, or cleared by a clean session)")            \
    X(FILE, 30, "file or directory cannot be read (missing, wrong kind "  \
                "or no permission)")                                      \
    X(PROXY, 32, "the proxy refused or failed to open the tunnel")        \
    X(PROXY_AUTH, 33, "proxy authentication failed")

typedef enum {
    MQ_OK = 0,
#define MQ_ERR_X_(name, num, msg) MQ_ERR_##name = -(num),
    MQ_ERR_MAP(MQ_ERR_X_)
#undef MQ_ERR_X_
    MQ_ERR_LAST_ = -1000 /* not an error; keeps the enum signed */
} mq_err;

/** Text for an MQ_ERR_* code (or MQ_OK). Never NULL. Any thread. */
MQ_API const char *mq_strerror(int err);
/** Symbolic name ("MQ_ERR_QUEUE_FULL") of a code. Never NULL. Any thread. */
MQ_API const char *mq_err_name(int err);

/* ---- 5. MQTT reason codes (wire values, MQTT 5 numbering) ------------ */
/* MQTT 3.1.1 CONNACK return codes 1..5 are reported with their MQTT 5
 * equivalents (0x84, 0x85, 0x88, 0x86, 0x87), so one set serves both. */
typedef enum {
    MQ_RC_SUCCESS = 0x00,
    MQ_RC_NORMAL_DISCONNECTION = 0x00,
    MQ_RC_GRANTED_QOS_0 = 0x00,
    MQ_RC_GRANTED_QOS_1 = 0x01,
    MQ_RC_GRANTED_QOS_2 = 0x02,
    MQ_RC_DISCONNECT_WITH_WILL = 0x04,
    MQ_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    MQ_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    MQ_RC_CONTINUE_AUTHENTICATION = 0x18,
    MQ_RC_REAUTHENTICATE = 0x19,
    MQ_RC_UNSPECIFIED_ERROR = 0x80,
    MQ_RC_MALFORMED_PACKET = 0x81,
    MQ_RC_PROTOCOL_ERROR = 0x82,
    MQ_RC_IMPLEMENTATION_SPECIFIC_ERROR = 0x83,
    MQ_RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84,
    MQ_RC_CLIENT_IDENTIFIER_NOT_VALID = 0x85,
    MQ_RC_BAD_USER_NAME_OR_PASSWORD = 0x86,
    MQ_RC_NOT_AUTHORIZED = 0x87,
    MQ_RC_SERVER_UNAVAILABLE = 0x88,
    MQ_RC_SERVER_BUSY = 0x89,
    MQ_RC_BANNED = 0x8A,
    MQ_RC_SERVER_SHUTTING_DOWN = 0x8B,
    MQ_RC_BAD_AUTHENTICATION_METHOD = 0x8C,
    MQ_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    MQ_RC_SESSION_TAKEN_OVER = 0x8E,
    MQ_RC_TOPIC_FILTER_INVALID = 0x8F,
    MQ_RC_TOPIC_NAME_INVALID = 0x90,
    MQ_RC_PACKET_IDENTIFIER_IN_USE = 0x91,
    MQ_RC_PACKET_IDENTIFIER_NOT_FOUND = 0x92,
    MQ_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
    MQ_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQ_RC_PACKET_TOO_LARGE = 0x95,
    MQ_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    MQ_RC_QUOTA_EXCEEDED = 0x97,
    MQ_RC_ADMINISTRATIVE_ACTION = 0x98,
    MQ_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    MQ_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    MQ_RC_QOS_NOT_SUPPORTED = 0x9B,
    MQ_RC_USE_ANOTHER_SERVER = 0x9C,
    MQ_RC_SERVER_MOVED = 0x9D,
    MQ_RC_SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E,
    MQ_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    MQ_RC_MAXIMUM_CONNECT_TIME = 0xA0,
    MQ_RC_SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1,
    MQ_RC_WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2
} mq_reason;

/** Text for a reason code ("Not authorized"). Never NULL. Any thread. */
MQ_API const char *mq_reason_string(int reason);

/* ---- 6. Enums -------------------------------------------------------- */

typedef enum {
    MQ_PROTO_V311 = 4, /* MQTT 3.1.1 (protocol level 4) */
    MQ_PROTO_V5 = 5    /* MQTT 5.0 */
} mq_protocol;

typedef enum {
    MQ_EVENT_NONE = 0,
    /* A CONNACK arrived. reason 0: connected (session_present tells if the
     * broker kept the session); otherwise refused, and an
     * MQ_EVENT_DISCONNECTED follows. props: the CONNACK properties. */
    MQ_EVENT_CONNECT = 1,
    /* The connection is gone (or could not be made). error: MQ_OK after
     * mq_disconnect(), else why; reason: the DISCONNECT reason code when
     * one was received or sent; will_reconnect: 1 if libmq will retry. */
    MQ_EVENT_DISCONNECTED = 2,
    /* A PUBLISH arrived: topic, payload, qos, retain, dup, props. QoS 1/2:
     * libmq acknowledges it (PUBACK/PUBREC) when the application frees
     * the event (mq_event_free; the loops and the bindings free it after
     * the callback returns), in arrival order, so a process killed before
     * it took the message gets it again; holding events unfreed holds
     * back their acknowledgements and, at the broker's in-flight limit,
     * further QoS 1/2 messages. See docs/decisions.md (issue 21). */
    MQ_EVENT_MESSAGE = 3,
    /* A publish finished: token, tag, error (MQ_OK, MQ_ERR_REFUSED with
     * the reason code of PUBACK/PUBREC/PUBCOMP, MQ_ERR_ABORTED,
     * MQ_ERR_TOO_LARGE or MQ_ERR_PROPERTY when found unsendable at send
     * time, MQ_ERR_PROTOCOL when the broker acknowledged it with the
     * wrong packet, e.g. a PUBACK for QoS 2: the connection then ends
     * with a protocol error and the message is not resent). */
    MQ_EVENT_PUBLISHED = 4,
    /* A SUBACK arrived: token, count and reason codes (granted QoS).
     * error MQ_OK; MQ_ERR_REFUSED if any code is a failure (>= 0x80);
     * MQ_ERR_TOO_LARGE (not sent, see mq_subscribe()) or MQ_ERR_PROTOCOL
     * (a SUBACK with the wrong number of codes), with the reason code in
     * every slot; or MQ_ERR_ABORTED with no reason codes when the
     * subscribe was abandoned by mq_disconnect(). */
    MQ_EVENT_SUBSCRIBED = 5,
    /* An UNSUBACK arrived: token, count and reason codes (v5); error as
     * for MQ_EVENT_SUBSCRIBED. */
    MQ_EVENT_UNSUBSCRIBED = 6,
    /* A log line: log_level, message. Only when enabled (MQ_OPT_LOG_LEVEL). */
    MQ_EVENT_LOG = 7,
    /* MQTT 5 AUTH packet from the broker: reason, props. Only within the
     * enhanced authentication the CONNECT asked for (an Authentication
     * Method in mq_set_connect_props()) and with the same method; any
     * other AUTH is a protocol error that ends the connection (0x82). */
    MQ_EVENT_AUTH = 8,
    /* libmq renewed a subscription by itself after a reconnect where the
     * broker did not keep the session (one event per filter): topic (the
     * filter), qos (the QoS asked), reason (the SUBACK code: granted QoS,
     * or a failure >= 0x80 with error MQ_ERR_REFUSED), props. Until the
     * connection ends, a mq_subscribe*() of that filter with the same
     * options and properties (e.g. from on_connect, as the paho tutorial
     * does) is not sent again: it is answered with this SUBACK's codes in
     * its own MQ_EVENT_SUBSCRIBED, so retained messages arrive once. */
    MQ_EVENT_RESUBSCRIBED = 9,
    /* A message found in the persistence store (MQ_SOPT_PERSIST_DIR) when
     * it was opened: one event per message, posted inside mq_set_str()
     * before it returns, so all of them come before anything is sent.
     * libmq resends the message by itself; token (the one its
     * MQ_EVENT_PUBLISHED will carry), topic, payload, qos, retain, props
     * and the tag given to mq_publish_tagged() (mq_event_tag) say which
     * message it is. See docs/guide/persistence.md. */
    MQ_EVENT_RECOVERED = 10
} mq_event_kind;

typedef enum {
    MQ_LOG_NONE = 0,
    MQ_LOG_ERROR = 1,
    MQ_LOG_WARNING = 2,
    MQ_LOG_INFO = 3,
    MQ_LOG_DEBUG = 4
} mq_log_level;

/* Subscription option bits for mq_subscribe_v5() (MQTT 5 §3.8.3.1). */
#define MQ_SUB_QOS_MASK 0x03
#define MQ_SUB_NO_LOCAL 0x04
#define MQ_SUB_RETAIN_AS_PUBLISHED 0x08
#define MQ_SUB_RETAIN_HANDLING_SHIFT 4 /* 0 send, 1 send if new, 2 never */

/* ---- 7. Client lifecycle -------------------------------------------- */

/**
 * Create a client. @p client_id may be NULL or "" for a broker-assigned id
 * (MQTT 3.1.1 then requires a clean session). @p protocol is MQ_PROTO_V311
 * or MQ_PROTO_V5. Nothing touches the network until mq_connect().
 * Returns NULL if an argument is invalid (bad UTF-8 id, unknown protocol)
 * or memory is short. Any thread.
 */
MQ_API mq_client *mq_client_new(const char *client_id, int protocol);

/**
 * Destroy a client. If mq_disconnect() was called and has not finished,
 * destroy first waits for it (bounded by MQ_OPT_DISCONNECT_TIMEOUT_MS plus
 * a few seconds to write the DISCONNECT), so connect, publish, disconnect,
 * destroy delivers the message; events are discarded meanwhile unless a
 * mq_loop_start() thread dispatches them. Otherwise it closes the
 * connection at once (no DISCONNECT packet: the broker publishes the
 * Will), stops a loop thread started by mq_loop_start(), and frees every
 * queued message and event. Messages accepted by mq_publish() and not
 * completed are then freed without an event (none can be taken any
 * more): destroy reports their count in one log line, given to the
 * MQ_EVENT_LOG callback if one is set (called on this thread; it must not
 * use @p c), else written to stderr. With MQ_SOPT_PERSIST_DIR, QoS 1/2
 * messages stay in the store and the next client opening it resends them.
 * NULL is a no-op. Must not race with other calls on the same client.
 * May be called from a callback running on the mq_loop_start() thread (the
 * thread finishes the destroy - waiting for a graceful disconnect as above
 * - and ends after the callback returns; no further callback runs); never
 * use @p c afterwards.
 * Not from callbacks dispatched by mq_loop() or mq_loop_forever(): return
 * from the loop first.
 */
MQ_API void mq_client_destroy(mq_client *c);

/**
 * How many worker threads serve the clients of this process (default 1,
 * at most 64). Each new client joins the least loaded worker; a worker
 * thread starts with its first client and stops with its last. Clients
 * created before the call keep their worker. More workers let independent
 * connections use more cores (e.g. a publisher and a subscriber moving
 * large payloads). MQ_ERR_INVAL out of range. Any thread.
 */
MQ_API int mq_set_worker_threads(int n);

/** The client id (the broker-assigned one once known). Never NULL for a
 *  valid client; the pointer stays valid until the next mq_connect() or
 *  mq_client_destroy(). Any thread. */
MQ_API const char *mq_client_id(const mq_client *c);

/* ---- 8. Options ------------------------------------------------------ */

/* Integer options, set with mq_set_int(). Unless marked "any time", an
 * option may be set only while the client is not connected or connecting
 * (else MQ_ERR_STATE) and takes effect at the next connect. */
typedef enum {
    MQ_OPT_KEEPALIVE_S = 1,        /* 0..65535, default 60; 0 disables */
    MQ_OPT_CLEAN_START = 2,        /* 0/1, default 1 (clean session) */
    MQ_OPT_SESSION_EXPIRY_S = 3,   /* v5, default 0; 0xFFFFFFFF = never */
    MQ_OPT_RECONNECT_MIN_MS = 4,   /* default 1000 */
    MQ_OPT_RECONNECT_MAX_MS = 5,   /* default 30000; the delay doubles per
                                      failed attempt from the minimum, with
                                      jitter, and starts again at the
                                      minimum only after a connection that
                                      stayed up 10 s (or one keepalive, if
                                      shorter) */
    MQ_OPT_RECONNECT = 6,          /* 0/1, default 1: reconnect on loss */
    MQ_OPT_MAX_INFLIGHT = 7,       /* 1..65535, default 20 (v5: also capped
                                      by the broker's Receive Maximum) */
    MQ_OPT_QUEUE_MAX_MSGS = 8,     /* default 100000; any time */
    MQ_OPT_QUEUE_MAX_BYTES = 9,    /* default 64 MiB; any time */
    MQ_OPT_OFFLINE_QOS0 = 10,      /* 1 queue QoS 0 while offline (default),
                                      0 refuse with MQ_ERR_NO_CONN */
    MQ_OPT_TCP_NODELAY = 11,       /* 0/1, default 1 */
    MQ_OPT_CONNECT_TIMEOUT_MS = 12,/* default 10000 (TCP+TLS+CONNACK).
                                      Thousands of clients connecting at
                                      once can overflow the broker's listen
                                      backlog (mosquitto: 100); the kernel's
                                      retransmissions may then land after
                                      this: keep MQ_OPT_RECONNECT on or
                                      spread the connects */
    MQ_OPT_MAX_EVENTS = 13,        /* default 10000 undrained events before
                                      the worker stops reading (see also
                                      MQ_OPT_MAX_EVENT_BYTES); any time */
    MQ_OPT_PUBLISH_EVENTS = 14,    /* 0 none, 1 QoS>0 (default), 2 all */
    MQ_OPT_LOG_LEVEL = 15,         /* mq_log_level, default NONE; any time */
    MQ_OPT_MAX_PACKET_SIZE = 16,   /* largest packet we accept/send; default
                                      268435460 (MQTT maximum). Sending is
                                      also bounded by the broker's Maximum
                                      Packet Size (v5 CONNACK) for every
                                      packet ([MQTT-3.2.2-15]) */
    MQ_OPT_RECEIVE_MAXIMUM = 17,   /* v5: our Receive Maximum, default 65535 */
    MQ_OPT_TOPIC_ALIAS_MAXIMUM = 18,/* v5: aliases we accept, default 0 */
    MQ_OPT_PUBLISH_TIMEOUT_MS = 19,/* >0: mq_publish waits up to this long for
                                      queue space instead of failing; any time */
    MQ_OPT_AUTO_ACK = 20,          /* reserved, always 1: QoS 1/2 messages
                                      are acknowledged automatically when
                                      their MESSAGE event is freed */
    MQ_OPT_TLS_INSECURE = 21,      /* 1: skip certificate and host name
                                      verification (logs a warning);
                                      testing only. Default 0 */
    MQ_OPT_TLS_NO_HOSTNAME_CHECK = 23, /* 1: verify the certificate chain
                                      but not the host name (like
                                      mosquitto_pub --insecure). Default 0 */
    MQ_OPT_PERSIST_SYNC = 22,      /* fsync policy of the persistence store:
                                      0 every message (default), 1 batched
                                      (at most every 50 ms), 2 none (left to
                                      the OS: survives a crash of the
                                      process, not of the machine). Set
                                      before MQ_SOPT_PERSIST_DIR */
    MQ_OPT_DISCONNECT_TIMEOUT_MS = 24,/* how long mq_disconnect() may take
                                      to deliver what was accepted before
                                      it (0..3600000, default 5000; 0 is
                                      mq_disconnect_now()). Read when
                                      mq_disconnect() is called; any time */
    MQ_OPT_PROTOCOL_FALLBACK = 30, /* v5 client, 0/1, default 0: when the
                                      broker answers the v5 CONNECT the
                                      3.1.1 way (CONNACK return code 1) or
                                      closes before any CONNACK, connect
                                      again at once in 3.1.1 (no events for
                                      the failed attempt; an INFO log). The
                                      client then stays at 3.1.1 for that
                                      server until the next mq_connect()
                                      (after a close only if the 3.1.1
                                      attempt succeeds). On such a
                                      connection v5 properties, subscription
                                      option bits, topic aliases and AUTH
                                      are left out with a WARNING log;
                                      calls still succeed */
    MQ_OPT_PROTOCOL_IN_USE = 31,   /* read-only (mq_get_int): the protocol
                                      of the last accepted connection,
                                      MQ_PROTO_V311 or MQ_PROTO_V5; 0
                                      before the first. mq_set_int:
                                      MQ_ERR_INVAL */
    MQ_OPT_TOPIC_ALIAS_AUTO = 32,  /* v5, 0..65535, default 0 (off): libmq
                                      gives repeated topics outbound topic
                                      aliases (MQTT 5 §3.3.2.3.4), at most
                                      this many and at most the broker's
                                      Topic Alias Maximum; the least
                                      recently used alias is re-mapped when
                                      all are taken. The topic goes out once
                                      per connection and alias; the table is
                                      empty on every new connection, and
                                      resends carry the full topic. With it
                                      on, a Topic Alias property in
                                      mq_publish_v5() is MQ_ERR_PROPERTY */
    MQ_OPT_MAX_EVENT_BYTES = 33,   /* default 32 MiB of undrained events
                                      (topics, payloads, properties) before
                                      the worker stops reading, like
                                      MQ_OPT_MAX_EVENTS: either bound
                                      pauses reading, which resumes when
                                      both are below half. One message
                                      larger than the bound still gets
                                      through. Any time */
    MQ_OPT_TLS_SESSION_RESUME = 40,/* 1 (default): a reconnect offers the
                                      TLS session of the last connection to
                                      the same server (TLS 1.2 session id
                                      or ticket, TLS 1.3 ticket), which
                                      saves a round trip and the
                                      certificate work; 0: full handshake
                                      every time. Kept per client, in
                                      memory only, across automatic
                                      reconnects and mq_disconnect() +
                                      mq_connect() while the TLS options
                                      stay the same; offered only to the
                                      host and port it came from */
    MQ_OPT_TLS_CRL_CHECK = 41,     /* with MQ_SOPT_TLS_CRL_FILE/PATH: 2
                                      (default) every certificate of the
                                      chain needs a valid CRL from its
                                      issuer; 1 only the server's own */
    MQ_OPT_PROXY_FROM_ENV = 42,    /* 1: with no MQ_SOPT_PROXY, take the
                                      proxy from the environment at
                                      mq_connect(): https_proxy (or
                                      HTTPS_PROXY) for mqtts:// and wss://,
                                      http_proxy for mqtt:// and ws://,
                                      else all_proxy (ALL_PROXY); hosts in
                                      no_proxy (NO_PROXY) go direct, unless
                                      MQ_SOPT_NO_PROXY is set. Default 0:
                                      the environment is never read */
    MQ_OPT_LOOP_IO_THREAD = 80     /* 1 (default): the mq_loop_start()
                                      thread is also the client's I/O
                                      thread (as libmosquitto's and
                                      paho-mqtt's loop threads): it reads
                                      and writes the socket and calls the
                                      callbacks, one thread hop less per
                                      message; see mq_loop_start(). 0: the
                                      shared worker does the I/O and the
                                      loop thread only dispatches (libmq
                                      0.1). Read by mq_loop_start(); any
                                      time */
} mq_option;

/* String options, set with mq_set_str(). */
typedef enum {
    MQ_SOPT_USERNAME = 101,
    MQ_SOPT_PASSWORD = 102,  /* as text; binary: mq_set_password() */
    MQ_SOPT_TLS_CA_FILE = 103,
    MQ_SOPT_TLS_CA_PATH = 104,
    MQ_SOPT_TLS_CERT_FILE = 105,
    MQ_SOPT_TLS_KEY_FILE = 106,
    MQ_SOPT_TLS_VERIFY_NAME = 107,
    MQ_SOPT_TLS_ALPN = 108,
    MQ_SOPT_TLS_CIPHERS = 109,
    MQ_SOPT_TLS_MIN_VERSION = 110, /* "tlsv1.2" or "tlsv1.3" */
    MQ_SOPT_TLS_CA_PEM = 112,     /* CA certificates as PEM text */
    MQ_SOPT_TLS_CERT_PEM = 113,   /* client certificate (+ chain) as PEM */
    MQ_SOPT_TLS_KEY_PEM = 114,    /* client private key as PEM */
    MQ_SOPT_TLS_KEY_PASSWORD = 115, /* password of an encrypted key (also
                                     the token PIN for MQ_SOPT_TLS_ENGINE) */
    /* Keys that never leave a token: the private key (and optionally the
     * certificate) by URI. Without MQ_SOPT_TLS_ENGINE the URI goes to
     * OpenSSL's OSSL_STORE: "file:/path/key.pem", a plain path, or any
     * scheme of a loaded provider (e.g. "pkcs11:..." with a PKCS#11
     * provider, see MQ_SOPT_TLS_PROVIDERS). With an engine the key URI is
     * the engine's key id (e.g. "pkcs11:token=t;object=k" for the pkcs11
     * engine of libengine-pkcs11-openssl, the way to PKCS#11 tokens on
     * Debian 12). Use instead of MQ_SOPT_TLS_KEY_FILE/PEM. */
    MQ_SOPT_TLS_KEY_URI = 120,
    MQ_SOPT_TLS_CERT_URI = 121,   /* certificate by OSSL_STORE URI (or the
                                     engine's id), instead of CERT_FILE */
    MQ_SOPT_TLS_PROVIDERS = 122,  /* comma-separated OpenSSL 3 providers to
                                     load ("pkcs11", "tpm2", or a module
                                     path); loaded once into the process's
                                     default library context, never
                                     unloaded; the default provider stays */
    MQ_SOPT_TLS_ENGINE = 123,     /* OpenSSL engine id (e.g. "pkcs11");
                                     MQ_SOPT_TLS_KEY_URI is loaded through
                                     it (like mosquitto --keyform engine
                                     --tls-engine). Engines are deprecated
                                     in OpenSSL 3 but are how Debian 12
                                     reaches PKCS#11 */
    MQ_SOPT_TLS_PSK = 124,        /* TLS-PSK key as hex (like mosquitto_pub
                                     --psk): TLS 1.3 external PSK and TLS
                                     1.2 PSK cipher suites, no certificates;
                                     needs MQ_SOPT_TLS_PSK_IDENTITY */
    MQ_SOPT_TLS_PSK_IDENTITY = 125,
    MQ_SOPT_TLS_CRL_FILE = 126,   /* PEM file of CRLs: a revoked server
                                     certificate fails the handshake (see
                                     MQ_OPT_TLS_CRL_CHECK) */
    MQ_SOPT_TLS_CRL_PATH = 127,   /* directory of CRLs named by hash
                                     (<hash>.r0, as `openssl rehash` makes) */
    MQ_SOPT_PROXY = 128,          /* proxy for TCP, TLS and WebSocket
                                     servers (not unix://), as a URI:
                                     http://[user:pass@]host[:port] (HTTP
                                     CONNECT, Basic auth), socks5://... or
                                     socks5h://... (SOCKS5, no auth or
                                     user/password; both let the proxy
                                     resolve host names); default port
                                     1080, as curl. User and password
                                     are percent-decoded. NULL or "": no
                                     proxy. MQ_ERR_URI if malformed,
                                     MQ_ERR_NOT_SUPPORTED for https:// */
    MQ_SOPT_NO_PROXY = 129,       /* hosts reached without the proxy:
                                     "a.example,.corp,10.0.0.0/8,[::1],*"
                                     (names match their subdomains; CIDR
                                     blocks; ":port" limits an entry) */
    MQ_SOPT_TLS_MAX_VERSION = 130,/* "tlsv1.2" or "tlsv1.3" (default: the
                                     newest OpenSSL offers); e.g. to use
                                     TLS 1.2 PSK with a server that also
                                     speaks TLS 1.3 */
    MQ_SOPT_BIND_ADDRESS = 140,   /* local (source) address of the TCP
                                     connection, a numeric IPv4 or IPv6
                                     address ("127.0.0.2", "::1"), like
                                     mosquitto_sub --bind-address. Only
                                     the server's addresses of the same
                                     family are tried; the local port is
                                     chosen at connect time (Linux
                                     IP_BIND_ADDRESS_NO_PORT), so many
                                     connections can share one source
                                     address. With a proxy it is the
                                     source of the connection to the
                                     proxy; unix:// ignores it. NULL or "":
                                     the kernel chooses. MQ_ERR_INVAL if
                                     not a numeric address; a bind that
                                     fails (address not local) fails the
                                     attempt like a refused connect */
    MQ_SOPT_PERSIST_DIR = 111  /* directory for crash-safe persistence of
                                  outbound QoS 1/2 messages: mq_publish
                                  returns success only once the message is
                                  stored; a client with the same id and
                                  directory resends what was not
                                  acknowledged, after a crash too. The
                                  packet ids of received QoS 2 messages
                                  awaiting PUBREL are stored too (session
                                  state), so a restarted subscriber does
                                  not deliver the broker's resend of one
                                  again. Needs a
                                  non-empty client id; set once, before
                                  publishing. MQ_ERR_PERSIST if the store
                                  cannot be opened (or is in use by another
                                  process). */
} mq_str_option;

/** Set an integer option. MQ_ERR_INVAL for an unknown option or a value out
 *  of range, MQ_ERR_STATE when connected and the option is not "any time",
 *  MQ_ERR_NOT_SUPPORTED for a v5-only option on a v3.1.1 client (accepted
 *  silently when the value is the default), MQ_ERR_NOMEM (nothing
 *  changed). Any thread. */
MQ_API int mq_set_int(mq_client *c, int option, int64_t value);
/** Read back an integer option. MQ_ERR_INVAL for unknown options. */
MQ_API int mq_get_int(mq_client *c, int option, int64_t *out_value);
/** Set a string option; NULL clears it. MQ_ERR_INVAL, MQ_ERR_STATE,
 *  MQ_ERR_UTF8, MQ_ERR_NOT_SUPPORTED (e.g. TLS options without TLS),
 *  MQ_ERR_FILE when MQ_SOPT_TLS_CA_FILE, _CERT_FILE or _KEY_FILE is not a
 *  readable regular file, or MQ_SOPT_TLS_CA_PATH not a readable directory
 *  (checked when set, and again by TLS at connect), MQ_ERR_NOMEM (nothing
 *  changed). Any thread. */
MQ_API int mq_set_str(mq_client *c, int option, const char *value);

/** Called (on the worker thread, at connect) for the password of an
 *  encrypted TLS key: write at most @p size bytes to @p buf and return the
 *  length, or -1 to refuse. */
typedef int (*mq_tls_password_cb)(char *buf, int size, void *userdata);

/** Set (or with cb NULL clear) the key password callback; it takes
 *  precedence over MQ_SOPT_TLS_KEY_PASSWORD. MQ_ERR_STATE,
 *  MQ_ERR_NOT_SUPPORTED without TLS, MQ_ERR_NOMEM (nothing changed).
 *  C only. */
MQ_API int mq_set_tls_password_cb(mq_client *c, mq_tls_password_cb cb,
                                  void *userdata);

/**
 * Use an application's SSL_CTX (an OpenSSL `SSL_CTX *`, passed as void *)
 * for this client's TLS connections instead of building one from the
 * MQ_SOPT_TLS_* / MQ_OPT_TLS_* options, which are then ignored (like
 * libmosquitto's MOSQ_OPT_SSL_CTX). libmq uses it as given: it never
 * changes the context's verification mode, trust store, certificates,
 * versions or ciphers; per connection it sets only SNI and, unless
 * MQ_OPT_TLS_INSECURE or MQ_OPT_TLS_NO_HOSTNAME_CHECK, the host name to
 * verify (which takes effect only if the context verifies the peer), and
 * offers the previous session (MQ_OPT_TLS_SESSION_RESUME).
 * Ownership: libmq takes its own reference (SSL_CTX_up_ref) and drops it
 * when the context is replaced or cleared (NULL) or the client is
 * destroyed; the application may free its reference at once. Threading:
 * the worker thread creates SSL objects from it at each connect, so the
 * application must not change the context while any client may use it
 * (OpenSSL contexts are safe to share once set up). Any thread; the
 * context applies from the next mq_connect(). MQ_ERR_STATE while
 * connecting or connected, MQ_ERR_NOT_SUPPORTED without TLS.
 */
MQ_API int mq_set_tls_ctx(mq_client *c, void *ssl_ctx);

/** Set a binary password (MQTT allows any bytes). MQ_ERR_STATE. */
MQ_API int mq_set_password(mq_client *c, const void *password, size_t len);

/**
 * Set the server(s) to connect to, replacing any list: one URI or several
 * separated by spaces or commas, tried in order on each (re)connect.
 * Forms: mqtt://host[:port] (1883), tcp://..., mqtts://host[:port] (8883),
 * ssl://..., ws://host[:port][/path], wss://..., unix:///path, or a bare
 * "host[:port]". IPv6 literals in brackets. MQ_ERR_URI, MQ_ERR_STATE,
 * MQ_ERR_NOT_SUPPORTED for a transport this build lacks.
 */
MQ_API int mq_set_server(mq_client *c, const char *uris);

/**
 * Set (or, with topic NULL, clear) the Last Will. Copies everything.
 * props: v5 Will properties (may be NULL). MQ_ERR_TOPIC, MQ_ERR_QOS,
 * MQ_ERR_PROPERTY, MQ_ERR_STATE, MQ_ERR_NOMEM (nothing changed).
 */
MQ_API int mq_set_will(mq_client *c, const char *topic, const void *payload,
                       size_t len, int qos, int retain,
                       const mq_props *props);

/** v5 CONNECT properties (copied; NULL clears). MQ_ERR_PROPERTY. */
MQ_API int mq_set_connect_props(mq_client *c, const mq_props *props);

/* ---- 9. Connect, publish, subscribe --------------------------------- */

/**
 * Start connecting. Returns at once: the result arrives as MQ_EVENT_CONNECT
 * or MQ_EVENT_DISCONNECTED. With MQ_OPT_RECONNECT (default on), libmq keeps
 * reconnecting with exponential backoff and jitter until mq_disconnect().
 * MQ_ERR_STATE if already connected or connecting, MQ_ERR_URI if no
 * server is set. Any thread.
 */
MQ_API int mq_connect(mq_client *c);

/**
 * Graceful disconnect. Returns at once; the worker then delivers what
 * was accepted before the call - publishes, subscribes, unsubscribes,
 * also while the connection is still being made or re-made (automatic
 * reconnect keeps trying meanwhile) - waits for the QoS 1/2
 * acknowledgements, sends DISCONNECT (v5: with @p reason, use 0; 0x04
 * asks the broker to send the Will) and closes. All of it is bounded by
 * MQ_OPT_DISCONNECT_TIMEOUT_MS (default 5 s). What is not delivered by
 * then (or when the connection is lost with reconnect off) either stays
 * queued for the next mq_connect() - QoS 1/2 messages with
 * MQ_SOPT_PERSIST_DIR set, and messages in flight in a session the broker
 * keeps (clean start 0; v5 also a session expiry > 0), which MQTT says
 * are resent - or completes with MQ_EVENT_PUBLISHED (or SUBSCRIBED /
 * UNSUBSCRIBED) and error MQ_ERR_ABORTED; nothing is dropped without an
 * event. The end is one MQ_EVENT_DISCONNECTED with error MQ_OK and
 * will_reconnect 0 (its message counts what was aborted or kept);
 * mq_wait_disconnected() and mq_loop_forever() return then, and
 * mq_client_destroy() waits for it. Until then ("disconnecting"):
 * mq_publish/mq_subscribe/mq_unsubscribe fail with MQ_ERR_NO_CONN (as
 * paho-mqtt after disconnect()), mq_connect and connect-time options with
 * MQ_ERR_STATE, and a second mq_disconnect() with MQ_ERR_STATE
 * (mq_disconnect_now() may cut it short). MQ_ERR_NO_CONN when idle (never
 * connected, or already disconnected). MQ_ERR_NOMEM: no memory for the
 * command and its state; nothing changed, the call may be repeated. Any
 * thread, callbacks included.
 */
MQ_API int mq_disconnect(mq_client *c, int reason);

/** mq_disconnect() with MQTT 5 DISCONNECT properties (e.g. Session Expiry
 *  Interval, Reason String; copied, may be NULL). MQ_ERR_PROPERTY,
 *  MQ_ERR_NOT_SUPPORTED for properties on a v3.1.1 client. A Reason String
 *  or User Property that would make the packet larger than the broker's
 *  Maximum Packet Size is left out (a warning log). */
MQ_API int mq_disconnect_v5(mq_client *c, int reason, const mq_props *props);

/**
 * Forced disconnect (MQTT.js end(true)): does not wait for anything. The
 * bytes already handed to the socket are followed by DISCONNECT if the
 * client is connected; what was not delivered is settled at once as by
 * mq_disconnect() at its timeout (kept, or MQ_ERR_ABORTED events), then
 * MQ_EVENT_DISCONNECTED (MQ_OK). Also ends a graceful disconnect in
 * progress. MQ_ERR_NO_CONN when idle, MQ_ERR_INVAL, MQ_ERR_NOMEM (nothing
 * changed, as for mq_disconnect()). Any thread.
 */
MQ_API int mq_disconnect_now(mq_client *c, int reason);

/**
 * Queue a PUBLISH. Copies topic and payload and returns without touching
 * the network. Returns a positive token (also reported in the
 * MQ_EVENT_PUBLISHED event) or an error:
 *  MQ_ERR_INVAL (NULL client/topic, NULL payload with len > 0),
 *  MQ_ERR_TOPIC (empty, wildcard, over 65535 bytes), MQ_ERR_UTF8,
 *  MQ_ERR_QOS, MQ_ERR_TOO_LARGE (over the maximum packet size),
 *  MQ_ERR_QUEUE_FULL (queue at MQ_OPT_QUEUE_MAX_MSGS/BYTES),
 *  MQ_ERR_NO_CONN (QoS 0 offline with MQ_OPT_OFFLINE_QOS0=0),
 *  MQ_ERR_DESTROYED. After an error no event is produced for the call.
 * Messages published from one thread are sent in order. Any thread.
 */
MQ_API int mq_publish(mq_client *c, const char *topic, const void *payload,
                      size_t len, int qos, int retain);

/** mq_publish() with MQTT 5 properties (copied; may be NULL). Also
 *  MQ_ERR_PROPERTY for properties not allowed in PUBLISH, and
 *  MQ_ERR_NOT_SUPPORTED for non-empty props on a v3.1.1 client.
 *  A Topic Alias property (1..65535) asks for that outbound alias: libmq
 *  sends the topic with it the first time on a connection (or when the
 *  alias stood for another topic) and the alias alone afterwards; topic
 *  is always given. MQ_ERR_PROPERTY if the broker's Topic Alias Maximum
 *  is known and lower (0 when its CONNACK had none) or with
 *  MQ_OPT_TOPIC_ALIAS_AUTO on; when the maximum is not known yet (queued
 *  offline) and turns out lower, the message completes with
 *  MQ_ERR_PROPERTY (reason 0x94, Topic Alias invalid) unsent. */
MQ_API int mq_publish_v5(mq_client *c, const char *topic, const void *payload,
                         size_t len, int qos, int retain,
                         const mq_props *props);

/**
 * mq_publish_v5() with an application tag: any 64-bit value (e.g. the
 * application's own message id), 0 meaning none. The tag comes back on
 * the message's MQ_EVENT_PUBLISHED and, with persistence, is stored with
 * the message and comes back on its MQ_EVENT_RECOVERED after a restart
 * (mq_event_tag()). With persistence, the record of a tagged message stays
 * in the store until its MQ_EVENT_PUBLISHED has been freed (or no such
 * event is posted): an application that notes completion before freeing
 * the event never loses track of a message across a crash. The
 * exactly-once recipe is in docs/guide/persistence.md. Errors as
 * mq_publish_v5(). Any thread.
 */
MQ_API int mq_publish_tagged(mq_client *c, const char *topic,
                             const void *payload, size_t len, int qos,
                             int retain, const mq_props *props,
                             uint64_t tag);

/**
 * Queue a SUBSCRIBE for one filter at @p qos. Returns a positive token
 * (reported in MQ_EVENT_SUBSCRIBED) or MQ_ERR_INVAL, MQ_ERR_TOPIC,
 * MQ_ERR_QOS, MQ_ERR_QUEUE_FULL, MQ_ERR_TOO_LARGE (the packet would exceed
 * MQ_OPT_MAX_PACKET_SIZE or the broker's Maximum Packet Size, once a
 * CONNACK said it). Sent when connected; a packet found too large only
 * then is not sent: its event has error MQ_ERR_TOO_LARGE and reason 0x95
 * for every filter. libmq resubscribes by itself after a reconnect where
 * the broker did not keep the session. Any thread.
 */
MQ_API int mq_subscribe(mq_client *c, const char *filter, int qos);

/** SUBSCRIBE with MQ_SUB_* option bits (QoS in the low bits) and v5
 *  properties (e.g. Subscription Identifier). */
MQ_API int mq_subscribe_v5(mq_client *c, const char *filter, int options,
                           const mq_props *props);

/** SUBSCRIBE many filters in one packet (C only). */
MQ_API int mq_subscribe_many(mq_client *c, size_t count,
                             const char *const *filters, const int *options,
                             const mq_props *props);

/** Queue an UNSUBSCRIBE; token or error as mq_subscribe(). props v5. */
MQ_API int mq_unsubscribe(mq_client *c, const char *filter);
MQ_API int mq_unsubscribe_v5(mq_client *c, const char *filter,
                             const mq_props *props);

/** UNSUBSCRIBE @p count filters (1..65535) in one packet, like
 *  mq_subscribe_many(); props v5 (may be NULL). One MQ_EVENT_UNSUBSCRIBED
 *  with a reason code per filter (MQTT 3.1.1: all 0). Token or error as
 *  mq_subscribe(). Any thread. C only. */
MQ_API int mq_unsubscribe_many(mq_client *c, size_t count,
                               const char *const *filters,
                               const mq_props *props);

/** Send an MQTT 5 AUTH packet (enhanced authentication). MQ_ERR_TOO_LARGE
 *  over the maximum packet size. Sent only on a v5 connection whose
 *  CONNECT carried an Authentication Method (else logged, not sent:
 *  [MQTT-4.12.0-7]). Also before the CONNACK: a broker's challenge (AUTH
 *  0x18 Continue authentication) arrives as MQ_EVENT_AUTH while
 *  connecting, and mq_auth(c, 0x18, props) answers it at once; later
 *  calls go out once connected (re-authentication, 0x19). Any thread. */
MQ_API int mq_auth(mq_client *c, int reason, const mq_props *props);

/** Messages accepted by mq_publish() but not yet completed. Any thread. */
MQ_API size_t mq_queued_messages(mq_client *c);

/** 1 if the client is connected (CONNACK received), else 0. Any thread. */
MQ_API int mq_is_connected(mq_client *c);

/* ---- 10. Events, callbacks and loops -------------------------------- */

/**
 * A descriptor that is readable while events are pending (level
 * triggered). It is the read end of a pipe: poll/epoll/libuv/net.Socket
 * can watch it. Never read or close it; libmq does. -1 on NULL.
 */
MQ_API int mq_event_fd(mq_client *c);

/**
 * Take the next event, waiting up to @p timeout_ms (0: do not wait, -1:
 * forever). NULL when none arrived in time. Free it with mq_event_free().
 * Any thread (events go to whichever thread takes them).
 */
MQ_API mq_event *mq_next_event(mq_client *c, int timeout_ms);

/** Free an event; NULL is a no-op. Freeing a MESSAGE of QoS 1/2 lets
 *  libmq acknowledge it (the application is done with it); the worker
 *  sends the PUBACK/PUBREC, never this call. Any thread, also after
 *  mq_client_destroy() (then nothing is acknowledged). */
MQ_API void mq_event_free(mq_event *ev);

/* Event accessors; all accept NULL (returning 0 / NULL). */
MQ_API int mq_event_type(const mq_event *ev);     /* mq_event_kind */
MQ_API int mq_event_error(const mq_event *ev);    /* MQ_OK or MQ_ERR_* */
MQ_API int mq_event_reason(const mq_event *ev);   /* mq_reason */
MQ_API int mq_event_token(const mq_event *ev);    /* from publish/sub/unsub */
/** The tag of mq_publish_tagged() on PUBLISHED and RECOVERED events; 0
 *  otherwise. */
MQ_API uint64_t mq_event_tag(const mq_event *ev);
MQ_API const char *mq_event_topic(const mq_event *ev);
MQ_API const void *mq_event_payload(const mq_event *ev, size_t *out_len);
MQ_API size_t mq_event_payload_len(const mq_event *ev);
MQ_API int mq_event_qos(const mq_event *ev);
MQ_API int mq_event_retain(const mq_event *ev);
MQ_API int mq_event_dup(const mq_event *ev);
MQ_API int mq_event_packet_id(const mq_event *ev);
MQ_API int mq_event_session_present(const mq_event *ev);
MQ_API int mq_event_will_reconnect(const mq_event *ev);
/** Reason codes of a SUBACK/UNSUBACK: count, and the i-th (granted QoS
 *  0..2 or a failure code >= 0x80). -1 if i is out of range. */
MQ_API size_t mq_event_reason_count(const mq_event *ev);
MQ_API int mq_event_reason_at(const mq_event *ev, size_t i);
MQ_API int mq_event_log_level(const mq_event *ev);
/** Log text, or for DISCONNECTED a human-readable cause. May be NULL. */
MQ_API const char *mq_event_message(const mq_event *ev);
/** MQTT 5 properties of the packet behind the event; NULL if none. Owned
 *  by the event. */
MQ_API const mq_props *mq_event_props(const mq_event *ev);

/* What mq_event_tls() reports. */
typedef enum {
    MQ_TLS_VERSION = 1,  /* "TLSv1.2", "TLSv1.3" */
    MQ_TLS_CIPHER = 2,   /* e.g. "TLS_AES_256_GCM_SHA384" */
    MQ_TLS_ALPN = 3,     /* negotiated ALPN protocol; "" when none */
    MQ_TLS_RESUMED = 4   /* "1" if the session was resumed, else "0" */
} mq_tls_item;

/** What the TLS handshake of the connection negotiated, for an
 *  MQ_EVENT_CONNECT event of a TLS (mqtts://, wss://) connection: @p item
 *  is an mq_tls_item. Owned by the event. NULL for other events, other
 *  transports, or an unknown item. Any thread. */
MQ_API const char *mq_event_tls(const mq_event *ev, int item);

/** A callback for one kind of event, called by mq_loop*() on the thread
 *  running the loop. The event is freed after the callback returns. */
typedef void (*mq_event_cb)(mq_client *c, const mq_event *ev, void *userdata);

/** Set (or with cb NULL clear) the callback for events of @p kind
 *  (mq_event_kind; MQ_EVENT_RECOVERED has no shorthand). Events with no
 *  callback are dropped by mq_loop*(). MQ_ERR_INVAL; MQ_ERR_NOMEM (a
 *  client's first callback allocates its table; nothing changed). Any
 *  thread. */
MQ_API int mq_set_callback(mq_client *c, int kind, mq_event_cb cb,
                           void *userdata);

/** Paho-style shorthands for mq_set_callback(). */
MQ_API int mq_on_connect(mq_client *c, mq_event_cb cb, void *userdata);
MQ_API int mq_on_disconnect(mq_client *c, mq_event_cb cb, void *userdata);
MQ_API int mq_on_message(mq_client *c, mq_event_cb cb, void *userdata);
MQ_API int mq_on_publish(mq_client *c, mq_event_cb cb, void *userdata);
MQ_API int mq_on_subscribe(mq_client *c, mq_event_cb cb, void *userdata);
MQ_API int mq_on_unsubscribe(mq_client *c, mq_event_cb cb, void *userdata);
MQ_API int mq_on_log(mq_client *c, mq_event_cb cb, void *userdata);

/**
 * Dispatch pending events to the callbacks, waiting up to @p timeout_ms for
 * the first one (0: no wait, -1: forever). Returns the number of events
 * dispatched (>= 0) or MQ_ERR_STATE if a loop thread is running.
 */
MQ_API int mq_loop(mq_client *c, int timeout_ms);

/**
 * Dispatch events until mq_loop_stop() is called, or until the client is
 * disconnected by mq_disconnect() (or the connection is lost with
 * reconnect off). Returns MQ_OK, or the error of the final disconnect.
 */
MQ_API int mq_loop_forever(mq_client *c);

/**
 * Start a thread of libmq's that dispatches events to the callbacks.
 * With MQ_OPT_LOOP_IO_THREAD (default 1) that thread is also the client's
 * I/O thread, as libmosquitto's and paho-mqtt's loop threads are: it reads
 * and writes this client's socket, runs its timers and, after each round,
 * calls its callbacks, so a message reaches on_message without a hand-off
 * between threads. The client moves there from the shared worker (also
 * when mq_connect() came first, the usual order) and back to it at
 * mq_loop_stop(). So a callback that blocks delays this client's I/O -
 * keepalive, acknowledgements, its queued publishes - but no other
 * client's. From a callback on that thread, the calls that wait for the
 * I/O do it themselves while they wait (no callback runs meanwhile):
 * mq_wait(), mq_wait_connected(), mq_wait_disconnected(), mq_next_event()
 * with a timeout, and mq_publish() waiting for queue space
 * (MQ_OPT_PUBLISH_TIMEOUT_MS); mq_wait() and mq_wait_connected() still
 * fail with MQ_ERR_STATE where reading has stopped because the event
 * queue is full (MQ_OPT_MAX_EVENTS). mq_disconnect()
 * returns at once; mq_loop_stop() and mq_client_destroy() take effect when
 * the callback returns. With MQ_OPT_LOOP_IO_THREAD 0 the shared worker
 * keeps the I/O and this thread only dispatches: fewer threads doing I/O,
 * which suits a process with several busy clients that all use
 * mq_loop_start (each one's I/O is then batched with the others' on the
 * shared worker instead of waking a thread of its own). MQ_ERR_STATE if
 * a loop runs already, MQ_ERR_SYSTEM if no thread could be started. Any
 * thread.
 */
MQ_API int mq_loop_start(mq_client *c);

/** Stop mq_loop_forever() or the mq_loop_start() thread (joined unless
 *  called from a callback on it; then the thread ends when the callback
 *  returns). The client's I/O goes back to the shared worker; events not
 *  yet dispatched stay queued for mq_next_event() or the next loop.
 *  MQ_ERR_STATE if none runs. */
MQ_API int mq_loop_stop(mq_client *c);

/* ---- 11. MQTT 5 properties ------------------------------------------ */

typedef enum {
    MQ_PROP_PAYLOAD_FORMAT_INDICATOR = 0x01,   /* byte */
    MQ_PROP_MESSAGE_EXPIRY_INTERVAL = 0x02,    /* u32 */
    MQ_PROP_CONTENT_TYPE = 0x03,               /* string */
    MQ_PROP_RESPONSE_TOPIC = 0x08,             /* string */
    MQ_PROP_CORRELATION_DATA = 0x09,           /* binary */
    MQ_PROP_SUBSCRIPTION_IDENTIFIER = 0x0B,    /* varint */
    MQ_PROP_SESSION_EXPIRY_INTERVAL = 0x11,    /* u32 */
    MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER = 0x12, /* string */
    MQ_PROP_SERVER_KEEP_ALIVE = 0x13,          /* u16 */
    MQ_PROP_AUTHENTICATION_METHOD = 0x15,      /* string */
    MQ_PROP_AUTHENTICATION_DATA = 0x16,        /* binary */
    MQ_PROP_REQUEST_PROBLEM_INFORMATION = 0x17,/* byte */
    MQ_PROP_WILL_DELAY_INTERVAL = 0x18,        /* u32 */
    MQ_PROP_REQUEST_RESPONSE_INFORMATION = 0x19,/* byte */
    MQ_PROP_RESPONSE_INFORMATION = 0x1A,       /* string */
    MQ_PROP_SERVER_REFERENCE = 0x1C,           /* string */
    MQ_PROP_REASON_STRING = 0x1F,              /* string */
    MQ_PROP_RECEIVE_MAXIMUM = 0x21,            /* u16 */
    MQ_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,        /* u16 */
    MQ_PROP_TOPIC_ALIAS = 0x23,                /* u16 */
    MQ_PROP_MAXIMUM_QOS = 0x24,                /* byte */
    MQ_PROP_RETAIN_AVAILABLE = 0x25,           /* byte */
    MQ_PROP_USER_PROPERTY = 0x26,              /* string pair */
    MQ_PROP_MAXIMUM_PACKET_SIZE = 0x27,        /* u32 */
    MQ_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28,  /* byte */
    MQ_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29,/* byte */
    MQ_PROP_SHARED_SUBSCRIPTION_AVAILABLE = 0x2A     /* byte */
} mq_property_id;

/** New empty property list; NULL when out of memory. Free with
 *  mq_props_free(). A list is not thread-safe; libmq copies it on use. */
MQ_API mq_props *mq_props_new(void);
MQ_API void mq_props_free(mq_props *p);
/** Add an integer property (byte, two-byte, four-byte or varint ids).
 *  MQ_ERR_PROPERTY for a non-integer id or a value out of its range. */
MQ_API int mq_props_add_int(mq_props *p, int id, uint32_t value);
/** Add a UTF-8 string property. MQ_ERR_PROPERTY, MQ_ERR_UTF8. */
MQ_API int mq_props_add_string(mq_props *p, int id, const char *value);
/** Add a binary property (correlation/authentication data). */
MQ_API int mq_props_add_binary(mq_props *p, int id, const void *data,
                               size_t len);
/** Add a user property (key, value). MQ_ERR_UTF8, MQ_ERR_INVAL. */
MQ_API int mq_props_add_user(mq_props *p, const char *key, const char *value);
/** Number of properties in the list. */
MQ_API size_t mq_props_count(const mq_props *p);
/** 1 if a property with @p id is present, else 0. */
MQ_API int mq_props_has(const mq_props *p, int id);
/** The n-th (from 0) integer property with @p id (Subscription Identifier
 *  may repeat). MQ_ERR_NOT_FOUND, MQ_ERR_PROPERTY (not an integer id). */
MQ_API int mq_props_get_int(const mq_props *p, int id, size_t n,
                            uint32_t *out_value);
/** First string property with @p id, or NULL. Owned by the list. */
MQ_API const char *mq_props_get_string(const mq_props *p, int id);
/** First binary property with @p id, or NULL (then *out_len = 0). */
MQ_API const void *mq_props_get_binary(const mq_props *p, int id,
                                       size_t *out_len);
/** User properties: count, and the i-th key and value (NULL if out of
 *  range). Order is kept as received. */
MQ_API size_t mq_props_user_count(const mq_props *p);
MQ_API const char *mq_props_user_key(const mq_props *p, size_t i);
MQ_API const char *mq_props_user_value(const mq_props *p, size_t i);

/* ---- 12. Topic utilities -------------------------------------------- */

/** MQ_OK if @p topic is a valid topic name to publish to, else MQ_ERR_TOPIC
 *  or MQ_ERR_UTF8 (or MQ_ERR_INVAL for NULL). */
MQ_API int mq_topic_check(const char *topic);
/** MQ_OK if @p filter is a valid topic filter, else as mq_topic_check().
 *  Shared subscriptions ($share/group/filter) are accepted. */
MQ_API int mq_filter_check(const char *filter);
/** 1 if topic name @p topic matches @p filter, 0 if not (or invalid).
 *  Wildcards at the first level do not match topics starting with '$'. */
MQ_API int mq_topic_matches(const char *filter, const char *topic);

/* ---- 13. Waiting (blocking helpers) -------------------------------- */

/* Like paho-mqtt's wait_for_publish()/is_published() and blocking
 * connect(). They take no events (the application still gets every
 * event through mq_next_event() or the callbacks) and work with or
 * without a loop thread. @p timeout_ms: -1 waits without limit, 0 only
 * looks; below -1 is MQ_ERR_INVAL. They may be called from callbacks, but
 * return MQ_ERR_STATE instead of waiting when called from a callback of
 * this client's loop while its event queue is full (MQ_OPT_MAX_EVENTS):
 * the worker has stopped reading, and only that loop could drain it. */

/**
 * Wait for the operation behind @p token (from mq_publish*,
 * mq_subscribe*, mq_unsubscribe*) to finish, and return its outcome: the
 * error its MQ_EVENT_PUBLISHED / SUBSCRIBED / UNSUBSCRIBED event carries
 * (MQ_OK; MQ_ERR_REFUSED with a failure reason code; MQ_ERR_ABORTED;
 * MQ_ERR_TOO_LARGE ...). QoS 1 finishes at PUBACK, QoS 2 at PUBCOMP,
 * QoS 0 once handed to the open connection (encoded for the socket and
 * written in the same worker round unless the socket is full; paho-mqtt
 * waits for the write itself), a subscribe at SUBACK.
 * Outcomes are remembered without a time limit, except that only the 64
 * newest failures are: for a token finished before more than 64 later
 * failures, MQ_ERR_NOT_FOUND (outcome no longer known). A message kept
 * for the next connect by mq_disconnect() is still pending. Also
 * MQ_ERR_TIMEOUT (not finished in time), MQ_ERR_INVAL (NULL client, a
 * token never issued by this client, timeout below -1), MQ_ERR_STATE (see
 * above), MQ_ERR_NOMEM. Any thread.
 */
MQ_API int mq_wait(mq_client *c, int token, int timeout_ms);

/**
 * Wait until the client is connected (CONNACK with reason 0): MQ_OK at
 * once if it is. Otherwise the result of the connect attempt in progress,
 * or of the next one if it is between attempts: its error when it fails
 * (MQ_ERR_REFUSED - the reason code is in the MQ_EVENT_CONNECT event,
 * which stays queued -, MQ_ERR_CONNREFUSED, MQ_ERR_DNS, MQ_ERR_TLS,
 * MQ_ERR_TIMEOUT for MQ_OPT_CONNECT_TIMEOUT_MS ...) while automatic
 * reconnect goes on in the background; MQ_ERR_NO_CONN if mq_connect() was
 * not called (or mq_disconnect() was); MQ_ERR_TIMEOUT when @p timeout_ms
 * passed first; MQ_ERR_STATE, MQ_ERR_INVAL. Any thread.
 */
MQ_API int mq_wait_connected(mq_client *c, int timeout_ms);

/**
 * Wait until the client is idle: a graceful mq_disconnect() has finished
 * (the final MQ_EVENT_DISCONNECTED is queued), or the connection ended
 * with reconnect off. MQ_OK (also at once if never connected),
 * MQ_ERR_TIMEOUT, MQ_ERR_INVAL. Any thread.
 */
MQ_API int mq_wait_disconnected(mq_client *c, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* MQ_H */
