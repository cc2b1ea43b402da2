/*
 * chaos_child.h - what the chaos test's child programs share (the libmq
 * client, and the libmosquitto and Paho C publishers): their command line,
 * the message protocol and the two logs the verdict is computed from.
 *
 * Message protocol: publisher NAME sends message SEQ on topic
 * "chaos/NAME/SEQ" with QoS 1 for even SEQ and QoS 2 for odd SEQ; the
 * payload is "NAME|SEQ|QOS|INC|" padded with 'x' to a length that varies
 * with SEQ (INC is the publisher's incarnation: its restart count).
 *
 * Accept log (one per publisher, O_APPEND, survives its restarts): the line
 * "A INC SEQ QOS" is written after the library accepted SEQ (libmq: after
 * mq_publish returned a token, with persistence on; Paho: after
 * MQTTAsync_sendMessage succeeded; libmosquitto: after mosquitto_publish
 * succeeded). A kill between the accept and the write leaves a message that
 * may arrive but is not counted as accepted; the reverse cannot happen. A
 * restarted publisher goes on at the last logged SEQ + 2, so that an
 * unlogged message never shares its SEQ with a new one.
 *
 * Receive log (one per subscriber): "R INC QOS DUP TOPIC OK LEN [PREFIX]"
 * for every message the application took (OK: 1 if the payload starts
 * with the "NAME|SEQ|" of its topic; LEN: the payload's length in bytes;
 * PREFIX, only when OK is 0: its first CC_LOG_PREFIX bytes with every byte
 * that is not printable ASCII, a space or a backslash written as \xHH, or
 * "-" for an empty payload), and "# subscribed INC" once the SUBACK
 * arrived.
 *
 * Signals: SIGUSR1 asks a publisher to stop publishing and wait until its
 * library has completed everything it accepted (also what an earlier
 * incarnation left in its store); it then writes "# drained INC LEFT" to
 * its accept log (LEFT: not completed when the wait gave up) and, unless
 * it also subscribes, disconnects and exits (0, or 3 if LEFT > 0).
 * SIGUSR2 makes any child disconnect and exit. SIGKILL is the chaos.
 *
 * Threading: the main thread of each child only (signal handlers only set
 * a flag).
 */
#ifndef CHAOS_CHILD_H
#define CHAOS_CHILD_H

#include <signal.h>
#include <stddef.h>

#define CC_TOPIC_PREFIX "chaos/"
#define CC_MAX_PAYLOAD 4096
#define CC_LOG_PREFIX 48   /* payload bytes a receive log line shows */

typedef struct cc_opts {
    const char *uri;      /* -u mqtt://127.0.0.1:PORT (required) */
    const char *id;       /* -i client id (required) */
    const char *name;     /* -n publisher name: publish (else no publishing) */
    const char *filter;   /* -f subscribe to this filter at QoS 2 */
    const char *dir;      /* -d persistence directory */
    const char *alog;     /* -a accept log (with -n) */
    const char *rlog;     /* -r receive log (with -f) */
    int inc;              /* -I incarnation (1 = first start) */
    int rate;             /* -R messages per second (default 100) */
    int max_size;         /* -s largest payload (default 512) */
    int keepalive;        /* -k seconds (default 2) */
    int version;          /* -V 4 or 5 (default 5; ignored where fixed) */
    int max_inflight;     /* -w window: accepted but not completed (500) */
    int resubscribe;      /* -S subscribe again after every reconnect, also
                             when the broker says it kept the session */
    int pause_ms;         /* -P after the SUBACK, take no events for this
                             long (an application busy elsewhere) */
    const char *go;       /* -G publish only once this file exists */
} cc_opts;

extern volatile sig_atomic_t cc_stop; /* SIGUSR1 seen */
extern volatile sig_atomic_t cc_quit; /* SIGUSR2 seen */

/* Parse argv into @p o (defaults first); exits 2 on a bad command line. */
void cc_parse(int argc, char **argv, cc_opts *o);
/* Install the SIGUSR1/SIGUSR2 handlers and ignore SIGPIPE. */
void cc_signals(void);
/* The first SEQ of this incarnation: last SEQ in the accept log + 2, or 0. */
long cc_first_seq(const char *alog);
/* Open a log for appending; exits 2 on failure. */
int cc_open_log(const char *path);
/* Write one whole line with a single write(2); exits 2 on failure. */
void cc_write_line(int fd, const char *line);
/* Topic and payload of message @p seq of @p name; returns the payload
 * length. topic needs 160 bytes, payload CC_MAX_PAYLOAD. */
size_t cc_message(const cc_opts *o, long seq, char *topic, char *payload);
/* The payload length of message @p seq of publisher @p name in its
 * incarnation @p inc with payloads up to @p max_size bytes (what
 * cc_message() makes; the verdict checks the broker's lengths with it). */
size_t cc_payload_len(const char *name, long seq, int inc, int max_size);
int cc_qos(long seq);
/* "A INC SEQ QOS" to the accept log. */
void cc_log_accept(int fd, int inc, long seq);
/* "# drained INC LEFT" to the accept log. */
void cc_log_drained(int fd, int inc, long left);
/* "R INC QOS DUP TOPIC OK LEN [PREFIX]" to the receive log; checks the
 * payload. */
void cc_log_receive(int fd, int inc, int qos, int dup, const char *topic,
                    const void *payload, size_t len);
/* @p len bytes of @p data as printable ASCII without spaces (others as
 * \xHH) into @p out (@p cap bytes, always terminated; 4 * len + 1 holds
 * all); returns the length written. */
size_t cc_sanitize(const void *data, size_t len, char *out, size_t cap);
/* 1 when publishing may start (no -G, or its file exists). */
int cc_go(const cc_opts *o);
/* Sleep until the next send slot at o->rate per second (monotonic). */
void cc_pace(const cc_opts *o, long long *next_us);
long long cc_now_us(void);
void cc_sleep_ms(int ms);

#endif
