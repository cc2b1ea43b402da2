/*
 * options.h - the option table (curl's easyoptions.c is the model): one
 * row per MQ_OPT_* / MQ_SOPT_* with its name, type, range, default, when it
 * may be set and where its value lives. mq_set_int, mq_get_int and
 * mq_set_str (client.c) are driven by it, mq_client_new takes its defaults
 * from it, and scripts/gen-api-docs.py renders it as docs/api/options.md
 * (and fails when mq.h and the table disagree). Also here: copying and
 * freeing the option set (mqi_opts, internal.h) and parsing server URIs.
 *
 * Option numbers are ABI: a row is never renumbered or reused.
 *
 * Threading: the table is constant; the functions touch only what they
 * are given (callers hold c->lock where the storage needs it).
 */
#ifndef MQI_OPTIONS_H
#define MQI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"

struct mq_client;
struct mqi_opts;
struct mqi_server;

enum { MQI_OT_INT = 1, MQI_OT_STR };

/* When an option may be set. */
enum {
    MQI_OW_ANY = 1, /* any time, also while connected (atomics) */
    MQI_OW_IDLE,    /* not between mq_connect() and the end of the
                       connection (MQ_ERR_STATE); applies at the next
                       connect */
    MQI_OW_READ     /* read-only (mq_get_int) */
};

/* Flags. */
enum {
    MQI_OF_V5 = 1,    /* a value other than the default needs MQTT 5
                         (MQ_ERR_NOT_SUPPORTED on a 3.1.1 client) */
    MQI_OF_TLS = 2,   /* needs a TLS build (MQ_ERR_NOT_SUPPORTED) */
    MQI_OF_WAKE = 4,  /* the worker looks at the new value at once */
    MQI_OF_FILE = 8,  /* a file that must be readable when set */
    MQI_OF_DIR = 16,  /* a directory that must be readable when set */
    MQI_OF_BYTES = 32, /* any bytes (a path), not checked as UTF-8 */
    MQI_OF_SECRET = 64, /* zeroed before it is freed */
    MQI_OF_ADDR = 128 /* a numeric IPv4/IPv6 address, checked when set */
};

/* Where the value lives. */
enum {
    MQI_OS_OPT_INT = 1, /* int in mqi_opts (c->opt) at off */
    MQI_OS_OPT_U32,     /* uint32_t in mqi_opts */
    MQI_OS_OPT_U16,     /* uint16_t in mqi_opts: only for a range within
                           0..65535 (unit_options checks every row) */
    MQI_OS_OPT_BOOL,    /* bool in mqi_opts */
    MQI_OS_OPT_STR,     /* char * in mqi_opts */
    MQI_OS_T_BOOL,      /* bool in mqi_topts (c->opt->t, made when a
                           value is set; default 0) */
    MQI_OS_T_STR,       /* char * in mqi_topts */
    MQI_OS_CLI_INT,     /* int in mq_client at off */
    MQI_OS_ATOM_INT,    /* atomic_int in mq_client at off */
    MQI_OS_ATOM_SIZE,   /* atomic_size_t in mq_client at off */
    MQI_OS_CONST,       /* always the default (reserved options) */
    MQI_OS_XOPTS,       /* api_transport.c's mqi_xopts (mqi_xopts_*) */
    MQI_OS_SPECIAL      /* client.c has code for it (password, TLS
                           version, persistence directory) */
};

typedef struct mqi_optdef {
    int id;
    const char *name;
    uint8_t type;  /* MQI_OT_* */
    uint8_t when;  /* MQI_OW_* */
    uint8_t flags; /* MQI_OF_* */
    uint8_t store; /* MQI_OS_* */
    size_t off;
    int64_t lo, hi, def; /* integer options */
} mqi_optdef;

/* The row of option @p id, or NULL for an unknown number. */
const mqi_optdef *mqi_opt_find(int id);
/* Every row, in the table's order: NULL past the end. */
const mqi_optdef *mqi_opt_at(size_t i);

/* The integer defaults of every option, into a new client's options and
 * atomics (before any other thread sees it). */
void mqi_opt_defaults(struct mq_client *c);
/* Store / read an integer option whose row says where (not XOPTS,
 * SPECIAL): the caller checked range and state, and holds c->lock for
 * the non-atomic ones; for a T_BOOL row it made c->opt->t first
 * (mqi_topts_mut). */
void mqi_opt_store_int(struct mq_client *c, const mqi_optdef *d, int64_t v);
int64_t mqi_opt_load_int(struct mq_client *c, const mqi_optdef *d);
/* The char * field of a string row in @p o: MQI_OS_OPT_STR in o itself,
 * MQI_OS_T_STR in o->t (NULL when o->t is NULL). */
char **mqi_opt_str_field(struct mqi_opts *o, const mqi_optdef *d);

/* A copy of @p s (NULL stays NULL), or of @p n bytes; NULL without
 * memory. */
char *mqi_strdup(const char *s);
void *mqi_memdup(const void *p, size_t n);

/* Parse one server URI of @p len bytes ("mqtt://host:1883", "mqtts://",
 * "ws://host/path", "wss://", "unix:///path", a bare "host[:port]") into
 * *s. MQ_OK, MQ_ERR_URI, MQ_ERR_NOT_SUPPORTED (TLS without a TLS build),
 * MQ_ERR_NOMEM. */
MQI_MUST_CHECK int mqi_uri_parse(const char *u, size_t len,
                                 struct mqi_server *s);
/* A server list as one block: the array, then its host and path strings
 * (issue 20 item 3: one allocation per client instead of 1 + 2n); NULL
 * without memory or for n 0. Free it with mqi_servers_free. Every list in
 * an option set is one of these. */
struct mqi_server *mqi_servers_pack(const struct mqi_server *s, size_t n);
void mqi_servers_free(struct mqi_server *s);

/* A numeric IPv4 or IPv6 address (MQ_SOPT_BIND_ADDRESS) as a socket
 * address with port 0 in *out (may be NULL: only check). Returns its
 * family (AF_INET, AF_INET6), or 0 if @p s is not one. */
struct sockaddr_storage;
int mqi_numeric_addr(const char *s, struct sockaddr_storage *out);

#endif
