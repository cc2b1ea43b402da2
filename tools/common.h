/*
 * common.h - shared code of mqpub, mqsub and mqrr: option parsing in the
 * style of the mosquitto_pub/mosquitto_sub/mosquitto_rr tools, client setup
 * on the public libmq API, -L URL parsing and message output (-v, -F, %j).
 *
 * Threading: single-threaded programs; the tools pull events with
 * mq_next_event() on their main thread.
 */
#ifndef MQ_TOOLS_COMMON_H
#define MQ_TOOLS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mq.h"

enum tool_kind { TOOL_PUB = 0, TOOL_SUB = 1, TOOL_RR = 2 };

/* Exit codes shared with the mosquitto tools. */
#define EXIT_USAGE 1
#define EXIT_TIMEOUT 27

/* Payload sources of mqpub / mqrr. */
enum pub_mode {
    MODE_NONE = 0,
    MODE_MESSAGE,  /* -m */
    MODE_FILE,     /* -f */
    MODE_STDIN,    /* -s: whole stdin as one message */
    MODE_LINES,    /* -l: one message per line */
    MODE_NULL      /* -n: zero-length message */
};

/* Commands of -D/--property. */
enum prop_cmd {
    PCMD_CONNECT = 0,
    PCMD_PUBLISH,
    PCMD_SUBSCRIBE,
    PCMD_UNSUBSCRIBE,
    PCMD_DISCONNECT,
    PCMD_WILL,
    PCMD_AUTH,
    PCMD_COUNT_
};

struct tool_cfg {
    enum tool_kind kind;
    const char *prog;        /* "mqpub", ... (for messages) */

    /* connection */
    char *host;
    int port;                /* 0 = default */
    char *unix_path;
    int protocol;            /* MQ_PROTO_V311 / MQ_PROTO_V5 */
    int keepalive;
    int clean;               /* 1 unless -c */
    long long session_expiry;/* -1 unset; else 0..0xFFFFFFFF */
    char *id;
    char *id_prefix;
    char *username;
    char *password;
    int max_inflight;        /* -M, 0 = library default */
    int nodelay;
    int reconnect;           /* --reconnect (extension) */

    /* TLS */
    int tls;                 /* 1 when any TLS option or mqtts:// */
    char *cafile, *capath, *certfile, *keyfile;
    char *ciphers, *tls_version, *tls_alpn;
    int insecure;
    int tls_os_certs;
    char *psk, *psk_identity;   /* --psk, --psk-identity */
    int keyform_engine;      /* --keyform engine: --key is the engine's id */
    char *tls_engine;        /* --tls-engine */
    char *tls_providers;     /* --tls-provider (extension) */
    char *crlfile;           /* --crlfile (extension): file or directory */
    char *proxy;             /* --proxy URL */

    /* will */
    char *will_topic;
    char *will_payload;
    size_t will_payloadlen;
    int will_qos;
    int will_retain;

    /* publish (mqpub, mqrr) */
    char **topics;           /* -t (sub: filters; pub/rr: [0] is the topic) */
    int topic_count;
    enum pub_mode pub_mode;
    char *message;           /* -m or file contents */
    size_t msglen;
    char *file;              /* -f */
    int qos;
    int retain;
    long repeat_count;       /* --repeat */
    double repeat_delay;     /* --repeat-delay, seconds */

    /* subscribe (mqsub, mqrr) */
    char **unsub_topics;     /* -U */
    int unsub_count;
    char **filter_outs;      /* -T */
    int filter_out_count;
    long msg_count;          /* -C */
    int exit_after_sub;      /* -E */
    int no_retain;           /* -R */
    int retained_only;
    int remove_retained;
    int verbose;             /* -v */
    int eol;                 /* 0 with -N */
    char *format;            /* -F */
    int pretty;
    double random_filter;    /* percent, 100 = all */
    long timeout_s;          /* -W, 0 = none */
    char *response_topic;    /* mqrr -e */

    /* misc */
    int debug;
    int quiet;
    int stats;               /* --stats (extension) */

    /* -D properties, built at parse time (NULL when none) */
    mq_props *props[PCMD_COUNT_];
};

/* Result of cfg_parse(). */
#define CFG_OK 0
#define CFG_ERR 1   /* message printed; exit with EXIT_USAGE */
#define CFG_HELP 2  /* --help: print usage, exit with EXIT_USAGE */

/** Parse the command line (after the options of the config file, if any). */
int cfg_parse(struct tool_cfg *cfg, enum tool_kind kind, int argc,
              char *argv[]);
/** The checks across the TLS options (--cert with --key, --psk with
 *  --psk-identity and without --cafile/--capath, --keyform engine with
 *  --tls-engine), in mosquitto's wording on stderr: CFG_OK or CFG_ERR.
 *  cfg_parse() makes them; a tool that takes single options through
 *  cfg_parse_option() (mqbench) calls it itself. */
int cfg_check_tls(const struct tool_cfg *cfg);
/** Free what cfg_parse() allocated. */
void cfg_free(struct tool_cfg *cfg);
/** Print "Error: ..." unless --quiet. */
void err_printf(const struct tool_cfg *cfg, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/** Print the usage text of the tool to stdout. */
void print_usage(enum tool_kind kind);
/** Print "\nUse 'prog --help' to see usage." to stderr. */
void print_use_help(enum tool_kind kind);
/** Standard startup handling: parse, and print usage/errors. Returns -1 if
 *  the program may go on, else the exit code. */
int cfg_load(struct tool_cfg *cfg, enum tool_kind kind, int argc,
             char *argv[]);

/* For tools with a parser of their own that take some options of mqpub
 * (mqbench: the TLS options) and want the same client setup. */
/** Set the defaults of @p kind (what cfg_parse() starts from). */
void cfg_init(struct tool_cfg *cfg, enum tool_kind kind);
/** Parse the one option at argv[*i] with the rules of cfg->kind's tool and
 *  advance *i past it: CFG_OK, CFG_ERR (message printed) or CFG_HELP. */
int cfg_parse_option(struct tool_cfg *cfg, int argc, char *argv[], int *i);
/** Apply the configuration to a new client without connecting: server
 *  (-h/-p/--unix/TLS), reconnect, keepalive, clean session, session
 *  expiry, max inflight, credentials, TLS, Will, CONNECT properties.
 *  0, or -1 with the error printed. */
int tool_client_setup(struct tool_cfg *cfg, mq_client *c);
/** Strict decimal integer in [lo, hi]: 0, or -1 if @p s is not one. */
int tool_parse_long(const char *s, long lo, long hi, long *out);
/** Strict floating-point number (not NaN): 0, or -1. */
int tool_parse_double(const char *s, double *out);

/**
 * Create a client from the configuration and start connecting; then wait
 * for the CONNACK. On success returns the client (connected) and sets
 * *out_exit to 0. On failure prints the reason, destroys the client and
 * returns NULL with *out_exit set to the exit code (the CONNACK reason code
 * when the broker refused, else 1).
 */
mq_client *tool_connect(struct tool_cfg *cfg, int *out_exit);

/** Map a CONNACK reason code to the exit code mosquitto tools use. */
int connack_exit_code(int protocol, int reason);

/** Print an MQ_EVENT_LOG event as a debug line if -d. */
void tool_log_event(const struct tool_cfg *cfg, const mq_event *ev);

/** Graceful disconnect and wait (bounded) for the DISCONNECTED event. */
void tool_disconnect(struct tool_cfg *cfg, mq_client *c);

/** Check a -F format string; returns 0 or prints an error and returns 1. */
int format_check(const struct tool_cfg *cfg, const char *fmt);

/** Print one received message in the configured way (plain, -v, -F). */
void print_message(const struct tool_cfg *cfg, const mq_event *ev);

/** Monotonic time in seconds. */
double now_mono(void);

/** Read a whole stream/file into a malloc'd buffer. 0 ok, -1 error. */
int read_all(FILE *f, char **out, size_t *out_len);

/** Install SIGINT/SIGTERM/SIGHUP handlers that set tool_signal. */
void tool_signals_install(void);
/** Non-zero (the signal number) once a signal arrived. */
extern volatile int tool_signal;
/** Re-raise the signal that stopped the tool with its default action. */
void tool_signals_reraise(void);

#endif /* MQ_TOOLS_COMMON_H */
