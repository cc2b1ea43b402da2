/*
 * common.c - option parsing, client setup and helpers shared by mqpub,
 * mqsub and mqrr. Options, defaults, messages and exit codes follow the
 * mosquitto_pub/mosquitto_sub/mosquitto_rr tools (2.0.x) so that scripts
 * written for those work unchanged.
 *
 * Threading: single-threaded; only the signal handler touches tool_signal.
 */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const prog_names[] = { "mqpub", "mqsub", "mqrr" };

volatile int tool_signal = 0;

/* ---- messages --------------------------------------------------------- */

void
err_printf(const struct tool_cfg *cfg, const char *fmt, ...)
{
    va_list ap;

    if (cfg != NULL && cfg->quiet)
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

void
print_use_help(enum tool_kind kind)
{
    fprintf(stderr, "\nUse '%s --help' to see usage.\n", prog_names[kind]);
}

static void
print_common_usage_tail(void)
{
    printf(
        " -A : (not supported) bind address.\n"
        " -c : disable clean session / keep the session (needs -i).\n"
        " -d : print debug messages.\n"
        " -D : MQTT v5 property: -D command identifier value [value].\n"
        "      commands: connect publish subscribe unsubscribe will.\n"
        " -h : host to connect to. Default: localhost.\n"
        " -i : client id. Default: assigned by the broker.\n"
        " -I : client id prefix; the process id is appended.\n"
        " -k : keepalive in seconds (5..65535). Default: 60.\n"
        " -L : URL mqtt(s)://[username[:password]@]host[:port]/topic.\n"
        " -p : port. Default: 1883, or 8883 with TLS.\n"
        " -P : password.\n"
        " -u : username.\n"
        " -V : protocol version: mqttv5 (5) or mqttv311 (311).\n"
        " -x : session expiry interval in seconds (MQTT v5); -1 = never.\n"
        " --help : print this text.\n"
        " --nodelay : disable Nagle's algorithm (the default in libmq).\n"
        " --quiet : do not print error messages.\n"
        " --reconnect : reconnect automatically when the connection is lost.\n"
        " --stats : print message counts and rates to stderr at exit.\n"
        " --unix : connect through a Unix domain socket at this path.\n"
        " --will-topic, --will-payload, --will-qos, --will-retain : the Will.\n"
        " --cafile, --capath : trusted CA certificates (enables TLS).\n"
        " --cert, --key : client certificate and key.\n"
        " --ciphers : OpenSSL cipher list.\n"
        " --insecure : do not verify the server host name (the certificate chain is still verified).\n"
        " --tls-alpn : ALPN protocol.\n"
        " --tls-use-os-certs : trust the system CA certificates.\n"
        " --tls-version : minimum TLS version: tlsv1.2 or tlsv1.3.\n"
        " --keyform : pem (default) or engine: --key is then the key's id in\n"
        "             the --tls-engine (e.g. a pkcs11: URI). A --key or --cert\n"
        "             that is not a file but a URI (pkcs11:..., file:...) is\n"
        "             loaded through OpenSSL's stores.\n"
        " --tls-engine : OpenSSL engine for --keyform engine (e.g. pkcs11).\n"
        " --tls-provider : OpenSSL 3 provider(s) to load, comma-separated.\n"
        " --crlfile : CRL file or hashed directory to check the broker's\n"
        "             certificate chain against.\n"
        " --psk : pre-shared key in hex (TLS-PSK, no certificates).\n"
        " --psk-identity : the identity of --psk.\n"
        " --proxy : connect through a proxy: socks5h://[user[:pass]@]host[:port]\n"
        "           (also socks5://, and http:// for HTTP CONNECT).\n"
        "\nlibmq %s\n", mq_version_string());
}

void
print_usage(enum tool_kind kind)
{
    switch (kind) {
    case TOOL_PUB:
        printf(
            "mqpub publishes messages on one topic and exits.\n"
            "mqpub version %s (libmq).\n\n"
            "Usage: mqpub {[-h host] [--unix path] [-p port] [-u username] "
            "[-P password] -t topic | -L URL}\n"
            "             {-f file | -l | -n | -m message | -s}\n"
            "             [-c] [-k keepalive] [-q qos] [-r] [--repeat N] "
            "[--repeat-delay time] [-x session-expiry]\n"
            "             [-i id] [-I id_prefix] [-d] [--quiet] [--stats] "
            "[-M max_inflight]\n"
            "             [--will-topic [--will-payload payload] "
            "[--will-qos qos] [--will-retain]]\n"
            "             [{--cafile file | --capath dir} [--cert file] "
            "[--key file] [--insecure] [--tls-version version]]\n"
            "             [-D command identifier value]\n"
            "       mqpub --help\n\n"
            " -f : send the contents of a file as the message.\n"
            " -l : read stdin, send one message per line.\n"
            " -m : the message payload.\n"
            " -M : maximum QoS 1/2 messages in flight.\n"
            " -n : send a zero-length message.\n"
            " -q : QoS of the messages. Default: 0.\n"
            " -r : retain the message.\n"
            " -s : read stdin, send it all as one message.\n"
            " -t : topic to publish to.\n"
            " --repeat : publish the message N times (-m, -f, -s, -n).\n"
            " --repeat-delay : seconds between repeats. Default: 0.\n",
            MQ_VERSION_STRING);
        break;
    case TOOL_SUB:
        printf(
            "mqsub subscribes to topics and prints the messages it "
            "receives.\n"
            "mqsub version %s (libmq).\n\n"
            "Usage: mqsub {[-h host] [--unix path] [-p port] [-u username] "
            "[-P password] -t topic | -L URL [-t topic]}\n"
            "             [-c] [-k keepalive] [-q qos] [-x session-expiry]\n"
            "             [-C msg_count] [-E] [-R] [--retained-only] "
            "[--remove-retained] [-T filter_out] [-U topic ...]\n"
            "             [-F format] [-W timeout_secs] [-N] [-v] "
            "[--pretty] [--random-filter chance]\n"
            "             [-i id] [-I id_prefix] [-d] [--quiet] [--stats]\n"
            "             [--will-topic [--will-payload payload] "
            "[--will-qos qos] [--will-retain]]\n"
            "             [{--cafile file | --capath dir} [--cert file] "
            "[--key file] [--insecure] [--tls-version version]]\n"
            "             [-D command identifier value]\n"
            "       mqsub --help\n\n"
            " -C : exit after receiving this many messages.\n"
            " -E : exit once all subscriptions are acknowledged.\n"
            " -F : output format (see mqsub(1)).\n"
            " -N : do not print an end of line after each message.\n"
            " -q : QoS of the subscriptions. Default: 0.\n"
            " -R : do not print retained (stale) messages.\n"
            " -t : topic filter to subscribe to; may be repeated.\n"
            " -T : topic filter to leave out of the output; may be repeated.\n"
            " -U : topic filter to unsubscribe from; may be repeated.\n"
            " -v : print \"topic payload\".\n"
            " -W : exit with code 27 after this many seconds.\n"
            " --pretty : indented JSON for %%j / %%J.\n"
            " --random-filter : print only this percentage of messages.\n"
            " --retained-only : print retained messages only; exit at the "
            "first non-retained one.\n"
            " --remove-retained : clear the retained messages received.\n",
            MQ_VERSION_STRING);
        break;
    case TOOL_RR:
        printf(
            "mqrr publishes a request and waits for the response "
            "(MQTT v5 request/response).\n"
            "mqrr version %s (libmq).\n\n"
            "Usage: mqrr {[-h host] [--unix path] [-p port] [-u username] "
            "[-P password] -t topic | -L URL} -e response-topic\n"
            "            {-f file | -n | -m message | -s}\n"
            "            [-c] [-k keepalive] [-q qos] [-R] "
            "[-x session-expiry]\n"
            "            [-F format] [-W timeout_secs] [-N] [-v] [--pretty]\n"
            "            [-i id] [-I id_prefix] [-d] [--quiet]\n"
            "            [--will-topic [--will-payload payload] "
            "[--will-qos qos] [--will-retain]]\n"
            "            [{--cafile file | --capath dir} [--cert file] "
            "[--key file] [--insecure] [--tls-version version]]\n"
            "            [-D command identifier value]\n"
            "       mqrr --help\n\n"
            " -e : response topic; mqrr subscribes to it and waits.\n"
            " -F : output format (see mqsub(1)).\n"
            " -m, -f, -s, -n : the request payload.\n"
            " -N : do not print an end of line after the response.\n"
            " -q : QoS of the request and the subscription. Default: 0.\n"
            " -R : ignore retained messages.\n"
            " -t : topic to send the request to.\n"
            " -v : print \"topic payload\".\n"
            " -W : give up after this many seconds (exit code 27).\n",
            MQ_VERSION_STRING);
        break;
    }
    print_common_usage_tail();
}

/* ---- small parsers ----------------------------------------------------- */

/* Strict decimal integer in [lo, hi]. */
static int
parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int
parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || isnan(v))
        return -1;
    *out = v;
    return 0;
}

static char *
xstrdup(const char *s)
{
    char *d;
    size_t n;

    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    d = malloc(n);
    if (d == NULL) {
        fprintf(stderr, "Error: Out of memory.\n");
        exit(EXIT_USAGE);
    }
    memcpy(d, s, n);
    return d;
}

static void
set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = xstrdup(v);
}

static void
list_add(char ***list, int *count, const char *v)
{
    char **n = realloc(*list, sizeof(char *) * (size_t)(*count + 1));

    if (n == NULL) {
        fprintf(stderr, "Error: Out of memory.\n");
        exit(EXIT_USAGE);
    }
    n[*count] = xstrdup(v);
    *list = n;
    (*count)++;
}

/* ---- -D / --property ---------------------------------------------------- */

enum prop_type { PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_STRING, PT_BINARY,
                 PT_PAIR };

struct prop_def {
    const char *name;
    int id;
    enum prop_type type;
    unsigned cmds; /* bit per enum prop_cmd where allowed */
};

#define PB(x) (1u << (x))
static const struct prop_def prop_defs[] = {
    { "payload-format-indicator", MQ_PROP_PAYLOAD_FORMAT_INDICATOR, PT_BYTE,
      PB(PCMD_PUBLISH) | PB(PCMD_WILL) },
    { "message-expiry-interval", MQ_PROP_MESSAGE_EXPIRY_INTERVAL, PT_U32,
      PB(PCMD_PUBLISH) | PB(PCMD_WILL) },
    { "content-type", MQ_PROP_CONTENT_TYPE, PT_STRING,
      PB(PCMD_PUBLISH) | PB(PCMD_WILL) },
    { "response-topic", MQ_PROP_RESPONSE_TOPIC, PT_STRING,
      PB(PCMD_PUBLISH) | PB(PCMD_WILL) },
    { "correlation-data", MQ_PROP_CORRELATION_DATA, PT_BINARY,
      PB(PCMD_PUBLISH) | PB(PCMD_WILL) },
    { "subscription-identifier", MQ_PROP_SUBSCRIPTION_IDENTIFIER, PT_VARINT,
      PB(PCMD_SUBSCRIBE) },
    { "session-expiry-interval", MQ_PROP_SESSION_EXPIRY_INTERVAL, PT_U32,
      PB(PCMD_CONNECT) | PB(PCMD_DISCONNECT) },
    { "authentication-method", MQ_PROP_AUTHENTICATION_METHOD, PT_STRING,
      PB(PCMD_CONNECT) | PB(PCMD_AUTH) },
    { "authentication-data", MQ_PROP_AUTHENTICATION_DATA, PT_BINARY,
      PB(PCMD_CONNECT) | PB(PCMD_AUTH) },
    { "request-problem-information", MQ_PROP_REQUEST_PROBLEM_INFORMATION,
      PT_BYTE, PB(PCMD_CONNECT) },
    { "will-delay-interval", MQ_PROP_WILL_DELAY_INTERVAL, PT_U32,
      PB(PCMD_WILL) },
    { "request-response-information", MQ_PROP_REQUEST_RESPONSE_INFORMATION,
      PT_BYTE, PB(PCMD_CONNECT) },
    { "receive-maximum", MQ_PROP_RECEIVE_MAXIMUM, PT_U16, PB(PCMD_CONNECT) },
    { "topic-alias-maximum", MQ_PROP_TOPIC_ALIAS_MAXIMUM, PT_U16,
      PB(PCMD_CONNECT) },
    { "maximum-packet-size", MQ_PROP_MAXIMUM_PACKET_SIZE, PT_U32,
      PB(PCMD_CONNECT) },
    { "topic-alias", MQ_PROP_TOPIC_ALIAS, PT_U16, PB(PCMD_PUBLISH) },
    { "user-property", MQ_PROP_USER_PROPERTY, PT_PAIR,
      PB(PCMD_CONNECT) | PB(PCMD_PUBLISH) | PB(PCMD_SUBSCRIBE) |
          PB(PCMD_UNSUBSCRIBE) | PB(PCMD_DISCONNECT) | PB(PCMD_WILL) |
          PB(PCMD_AUTH) },
};

static const char *const prop_cmd_names[PCMD_COUNT_] = {
    "connect", "publish", "subscribe", "unsubscribe", "disconnect", "will",
    "auth"
};

/* Parse "-D cmd name value [value2]" starting at argv[*i] (the -D). */
static int
parse_property(struct tool_cfg *cfg, int argc, char *argv[], int *i)
{
    const struct prop_def *def = NULL;
    const char *cmdname, *name, *value, *value2 = NULL;
    int cmd = -1;
    size_t k;
    long v;
    long max;
    int rc;

    if (*i + 3 >= argc) {
        err_printf(NULL, "Error: --property argument given but not enough "
                         "arguments specified.\n\n");
        return CFG_ERR;
    }
    cmdname = argv[*i + 1];
    name = argv[*i + 2];
    value = argv[*i + 3];
    for (k = 0; k < PCMD_COUNT_; k++)
        if (strcmp(cmdname, prop_cmd_names[k]) == 0)
            cmd = (int)k;
    if (cmd < 0) {
        err_printf(NULL, "Error: Invalid command given in --property "
                         "argument.\n\n");
        return CFG_ERR;
    }
    for (k = 0; k < sizeof prop_defs / sizeof prop_defs[0]; k++)
        if (strcmp(name, prop_defs[k].name) == 0)
            def = &prop_defs[k];
    if (def == NULL) {
        err_printf(NULL, "Error: Invalid property name given in --property "
                         "argument.\n\n");
        return CFG_ERR;
    }
    if ((def->cmds & PB(cmd)) == 0) {
        err_printf(NULL, "Error: %s property not allowed for %s in "
                         "--property argument.\n\n", name, cmdname);
        return CFG_ERR;
    }
    if (def->type == PT_PAIR) {
        if (*i + 4 >= argc) {
            err_printf(NULL, "Error: --property argument given but not "
                             "enough arguments specified.\n\n");
            return CFG_ERR;
        }
        value2 = argv[*i + 4];
    }
    if (cfg->props[cmd] == NULL) {
        cfg->props[cmd] = mq_props_new();
        if (cfg->props[cmd] == NULL) {
            err_printf(NULL, "Error: Out of memory.\n");
            return CFG_ERR;
        }
    }
    switch (def->type) {
    case PT_BYTE:
    case PT_U16:
    case PT_U32:
    case PT_VARINT:
        max = def->type == PT_BYTE ? 255
              : def->type == PT_U16 ? 65535
              : def->type == PT_VARINT ? 268435455
                                       : (long)UINT32_MAX;
        if (parse_long(value, 0, max, &v) != 0) {
            err_printf(NULL, "Error: Invalid property value given in "
                             "--property argument.\n\n");
            return CFG_ERR;
        }
        rc = mq_props_add_int(cfg->props[cmd], def->id, (uint32_t)v);
        break;
    case PT_STRING:
        rc = mq_props_add_string(cfg->props[cmd], def->id, value);
        break;
    case PT_BINARY:
        rc = mq_props_add_binary(cfg->props[cmd], def->id, value,
                                 strlen(value));
        break;
    default:
        rc = mq_props_add_user(cfg->props[cmd], value, value2);
        break;
    }
    if (rc < 0) {
        err_printf(NULL, "Error: Invalid property value given in --property "
                         "argument (%s).\n\n", mq_strerror(rc));
        return CFG_ERR;
    }
    *i += def->type == PT_PAIR ? 4 : 3;
    return CFG_OK;
}

/* ---- -L URL --------------------------------------------------------------- */

/* mqtt(s)://[username[:password]@]host[:port]/topic */
static int
parse_url(struct tool_cfg *cfg, const char *url)
{
    const char *p, *slash, *at, *colon, *hostend;
    char *tmp = NULL;
    long port;

    if (strncmp(url, "mqtt://", 7) == 0) {
        p = url + 7;
        cfg->port = cfg->port ? cfg->port : 0;
    } else if (strncmp(url, "mqtts://", 8) == 0) {
        p = url + 8;
        cfg->tls = 1;
    } else {
        err_printf(NULL, "Error: Unsupported URL scheme.\n\n");
        return CFG_ERR;
    }
    slash = strchr(p, '/');
    if (slash == NULL || slash[1] == '\0') {
        if (cfg->kind != TOOL_SUB) {
            err_printf(NULL, "Error: Invalid URL for -L argument specified "
                             "- topic missing.\n");
            return CFG_ERR;
        }
        if (slash == NULL)
            slash = p + strlen(p);
    }
    tmp = malloc((size_t)(slash - p) + 1);
    if (tmp == NULL)
        return CFG_ERR;
    memcpy(tmp, p, (size_t)(slash - p));
    tmp[slash - p] = '\0';

    /* credentials: the last '@' ends them (passwords may contain '@') */
    at = strrchr(tmp, '@');
    p = tmp;
    if (at != NULL) {
        char *cred = tmp;
        char *c2;

        tmp[at - tmp] = '\0';
        c2 = strchr(cred, ':');
        if (c2 != NULL) {
            *c2 = '\0';
            set_str(&cfg->password, c2 + 1);
        }
        set_str(&cfg->username, cred);
        p = at + 1;
    }
    /* host, maybe [v6], maybe :port */
    if (*p == '[') {
        hostend = strchr(p, ']');
        if (hostend == NULL) {
            err_printf(NULL, "Error: Invalid URL for -L argument "
                             "specified.\n");
            goto fail;
        }
        free(cfg->host);
        cfg->host = malloc((size_t)(hostend - p));
        if (cfg->host == NULL)
            goto fail;
        memcpy(cfg->host, p + 1, (size_t)(hostend - p - 1));
        cfg->host[hostend - p - 1] = '\0';
        colon = hostend[1] == ':' ? hostend + 1 : NULL;
    } else {
        colon = strchr(p, ':');
        free(cfg->host);
        cfg->host = malloc(strlen(p) + 1);
        if (cfg->host == NULL)
            goto fail;
        if (colon != NULL) {
            memcpy(cfg->host, p, (size_t)(colon - p));
            cfg->host[colon - p] = '\0';
        } else {
            strcpy(cfg->host, p);
        }
    }
    if (cfg->host[0] == '\0') {
        err_printf(NULL, "Error: Invalid URL for -L argument specified - "
                         "host missing.\n");
        goto fail;
    }
    if (colon != NULL) {
        if (parse_long(colon + 1, 1, 65535, &port) != 0) {
            err_printf(NULL, "Error: Invalid port given: %s\n", colon + 1);
            goto fail;
        }
        cfg->port = (int)port;
    }
    if (*slash == '/' && slash[1] != '\0')
        list_add(&cfg->topics, &cfg->topic_count, slash + 1);
    free(tmp);
    return CFG_OK;
fail:
    free(tmp);
    return CFG_ERR;
}

/* ---- the option table -------------------------------------------------- */

#define K_PUB (1u << TOOL_PUB)
#define K_SUB (1u << TOOL_SUB)
#define K_RR (1u << TOOL_RR)
#define K_ALL (K_PUB | K_SUB | K_RR)

static int
allowed(const struct tool_cfg *cfg, unsigned kinds)
{
    return (kinds & (1u << cfg->kind)) != 0;
}

static int
need_arg(int argc, int i, const char *what, const char *opt)
{
    if (i + 1 >= argc) {
        err_printf(NULL, "Error: %s argument given but no %s specified.\n\n",
                   opt, what);
        return 0;
    }
    return 1;
}

static int
set_pub_mode(struct tool_cfg *cfg, enum pub_mode m)
{
    if (cfg->pub_mode != MODE_NONE) {
        err_printf(NULL, "Error: Only one type of message can be sent at "
                         "once.\n\n");
        return CFG_ERR;
    }
    cfg->pub_mode = m;
    return CFG_OK;
}

static int
parse_version(struct tool_cfg *cfg, const char *v)
{
    if (strcmp(v, "mqttv5") == 0 || strcmp(v, "5") == 0) {
        cfg->protocol = MQ_PROTO_V5;
    } else if (strcmp(v, "mqttv311") == 0 || strcmp(v, "311") == 0) {
        cfg->protocol = MQ_PROTO_V311;
    } else if (strcmp(v, "mqttv31") == 0 || strcmp(v, "31") == 0) {
        err_printf(NULL, "Error: MQTT v3.1 is not supported by libmq; use "
                         "mqttv311 or mqttv5.\n\n");
        return CFG_ERR;
    } else {
        err_printf(NULL, "Error: Invalid protocol version argument "
                         "given.\n\n");
        return CFG_ERR;
    }
    return CFG_OK;
}

/* One option at argv[*i]. Advances *i past its values. */
static int
parse_one(struct tool_cfg *cfg, int argc, char *argv[], int *i)
{
    const char *o = argv[*i];
    const char *a = *i + 1 < argc ? argv[*i + 1] : NULL;
    long v;
    double d;

#define ARG(what)                                                           \
    do {                                                                    \
        if (!need_arg(argc, *i, what, o))                                   \
            return CFG_ERR;                                                 \
        (*i)++;                                                             \
    } while (0)

    if (strcmp(o, "--help") == 0) {
        return CFG_HELP;
    } else if (strcmp(o, "-h") == 0 || strcmp(o, "--host") == 0) {
        ARG("host");
        set_str(&cfg->host, a);
    } else if (strcmp(o, "-p") == 0 || strcmp(o, "--port") == 0) {
        ARG("port");
        if (parse_long(a, 1, 65535, &v) != 0) {
            err_printf(NULL, "Error: Invalid port given: %s\n", a);
            return CFG_ERR;
        }
        cfg->port = (int)v;
    } else if (strcmp(o, "--unix") == 0) {
        ARG("unix socket path");
        set_str(&cfg->unix_path, a);
    } else if (strcmp(o, "-t") == 0 || strcmp(o, "--topic") == 0) {
        ARG("topic");
        if (cfg->kind == TOOL_SUB) {
            if (mq_filter_check(a) != MQ_OK) {
                err_printf(NULL, "Error: Invalid subscription topic '%s', "
                                 "are all '+' and '#' wildcards correct?\n",
                           a);
                return CFG_ERR;
            }
        } else {
            if (cfg->topic_count > 0) {
                err_printf(NULL, "Error: Duplicate topic argument "
                                 "given.\n\n");
                return CFG_ERR;
            }
            if (mq_topic_check(a) != MQ_OK) {
                err_printf(NULL, "Error: Invalid publish topic '%s', does "
                                 "it contain '+' or '#'?\n", a);
                return CFG_ERR;
            }
        }
        list_add(&cfg->topics, &cfg->topic_count, a);
    } else if (strcmp(o, "-L") == 0 || strcmp(o, "--url") == 0) {
        ARG("URL");
        if (parse_url(cfg, a) != CFG_OK)
            return CFG_ERR;
    } else if (strcmp(o, "-q") == 0 || strcmp(o, "--qos") == 0) {
        ARG("QoS");
        if (parse_long(a, 0, 2, &v) != 0) {
            err_printf(NULL, "Error: Invalid QoS given: %s\n", a);
            return CFG_ERR;
        }
        cfg->qos = (int)v;
    } else if (strcmp(o, "-k") == 0 || strcmp(o, "--keepalive") == 0) {
        ARG("keepalive");
        if (parse_long(a, 5, 65535, &v) != 0) {
            err_printf(NULL, "Error: Invalid keepalive given, it must be "
                             "between 5 and 65535 inclusive.\n\n");
            return CFG_ERR;
        }
        cfg->keepalive = (int)v;
    } else if (strcmp(o, "-i") == 0 || strcmp(o, "--id") == 0) {
        ARG("id");
        if (cfg->id_prefix != NULL) {
            err_printf(NULL, "Error: -i and -I argument cannot be used "
                             "together.\n\n");
            return CFG_ERR;
        }
        if (a[0] == '\0') {
            err_printf(NULL, "Error: Invalid id.\n");
            return CFG_ERR;
        }
        set_str(&cfg->id, a);
    } else if (strcmp(o, "-I") == 0 || strcmp(o, "--id-prefix") == 0) {
        ARG("id prefix");
        if (cfg->id != NULL) {
            err_printf(NULL, "Error: -i and -I argument cannot be used "
                             "together.\n\n");
            return CFG_ERR;
        }
        set_str(&cfg->id_prefix, a);
    } else if (strcmp(o, "-u") == 0 || strcmp(o, "--username") == 0) {
        ARG("username");
        set_str(&cfg->username, a);
    } else if (strcmp(o, "-P") == 0 || strcmp(o, "--pw") == 0) {
        ARG("password");
        set_str(&cfg->password, a);
    } else if (strcmp(o, "-c") == 0 || strcmp(o, "--disable-clean-session")
                                           == 0) {
        cfg->clean = 0;
    } else if (strcmp(o, "-x") == 0) {
        ARG("session expiry interval");
        if (strcmp(a, "\xe2\x88\x9e") == 0 || strcmp(a, "-1") == 0) {
            cfg->session_expiry = UINT32_MAX;
        } else if (parse_long(a, 0, (long)UINT32_MAX, &v) == 0) {
            cfg->session_expiry = v;
        } else {
            err_printf(NULL, "Error: session-expiry-interval not between 0 "
                             "and 4294967295.\n\n");
            return CFG_ERR;
        }
    } else if (strcmp(o, "-V") == 0 || strcmp(o, "--protocol-version")
                                           == 0) {
        ARG("protocol version");
        if (parse_version(cfg, a) != CFG_OK)
            return CFG_ERR;
    } else if (strcmp(o, "-d") == 0 || strcmp(o, "--debug") == 0) {
        cfg->debug = 1;
    } else if (strcmp(o, "--quiet") == 0) {
        cfg->quiet = 1;
    } else if (strcmp(o, "--stats") == 0) {
        cfg->stats = 1;
    } else if (strcmp(o, "--reconnect") == 0) {
        cfg->reconnect = 1;
    } else if (strcmp(o, "--nodelay") == 0) {
        cfg->nodelay = 1;
    } else if (strcmp(o, "-D") == 0 || strcmp(o, "--property") == 0) {
        if (parse_property(cfg, argc, argv, i) != CFG_OK)
            return CFG_ERR;
    } else if (strcmp(o, "--will-topic") == 0) {
        ARG("will topic");
        if (mq_topic_check(a) != MQ_OK) {
            err_printf(NULL, "Error: Invalid will topic '%s', does it "
                             "contain '+' or '#'?\n", a);
            return CFG_ERR;
        }
        set_str(&cfg->will_topic, a);
    } else if (strcmp(o, "--will-payload") == 0) {
        ARG("will payload");
        set_str(&cfg->will_payload, a);
        cfg->will_payloadlen = strlen(a);
    } else if (strcmp(o, "--will-qos") == 0) {
        ARG("will QoS");
        if (parse_long(a, 0, 2, &v) != 0) {
            err_printf(NULL, "Error: Invalid will QoS %s.\n\n", a);
            return CFG_ERR;
        }
        cfg->will_qos = (int)v;
    } else if (strcmp(o, "--will-retain") == 0) {
        cfg->will_retain = 1;
    } else if (strcmp(o, "--cafile") == 0) {
        ARG("certificate");
        set_str(&cfg->cafile, a);
        cfg->tls = 1;
    } else if (strcmp(o, "--capath") == 0) {
        ARG("certificate directory");
        set_str(&cfg->capath, a);
        cfg->tls = 1;
    } else if (strcmp(o, "--cert") == 0) {
        ARG("certificate");
        set_str(&cfg->certfile, a);
        cfg->tls = 1;
    } else if (strcmp(o, "--key") == 0) {
        ARG("key");
        set_str(&cfg->keyfile, a);
        cfg->tls = 1;
    } else if (strcmp(o, "--ciphers") == 0) {
        ARG("ciphers");
        set_str(&cfg->ciphers, a);
    } else if (strcmp(o, "--tls-version") == 0) {
        ARG("TLS version");
        if (strcmp(a, "tlsv1.3") != 0 && strcmp(a, "tlsv1.2") != 0) {
            err_printf(NULL, "Error: Unsupported TLS version '%s' (use "
                             "tlsv1.2 or tlsv1.3).\n\n", a);
            return CFG_ERR;
        }
        set_str(&cfg->tls_version, a);
    } else if (strcmp(o, "--tls-alpn") == 0) {
        ARG("protocol");
        set_str(&cfg->tls_alpn, a);
    } else if (strcmp(o, "--insecure") == 0) {
        cfg->insecure = 1;
    } else if (strcmp(o, "--tls-use-os-certs") == 0) {
        cfg->tls_os_certs = 1;
        cfg->tls = 1;
    } else if (strcmp(o, "--psk") == 0) {
        ARG("key");
        set_str(&cfg->psk, a);
        cfg->tls = 1;
    } else if (strcmp(o, "--psk-identity") == 0) {
        ARG("identity");
        set_str(&cfg->psk_identity, a);
        cfg->tls = 1;
    } else if (strcmp(o, "--keyform") == 0) {
        ARG("keyform");
        if (strcmp(a, "engine") == 0) {
            cfg->keyform_engine = 1;
        } else if (strcmp(a, "pem") == 0) {
            cfg->keyform_engine = 0;
        } else {
            err_printf(NULL, "Error: Invalid keyform \"%s\" (use pem or "
                             "engine).\n\n", a);
            return CFG_ERR;
        }
    } else if (strcmp(o, "--tls-engine") == 0) {
        ARG("engine");
        set_str(&cfg->tls_engine, a);
    } else if (strcmp(o, "--tls-provider") == 0) {
        ARG("provider");
        set_str(&cfg->tls_providers, a);
    } else if (strcmp(o, "--crlfile") == 0) {
        ARG("CRL file");
        set_str(&cfg->crlfile, a);
        cfg->tls = 1;
    } else if (strcmp(o, "--proxy") == 0) {
        ARG("proxy URL");
        set_str(&cfg->proxy, a);
    } else if (strcmp(o, "--tls-engine-kpass-sha1") == 0) {
        err_printf(NULL, "Error: %s is not supported by %s; give the token "
                   "PIN in the key URI (pin-value=...).\n\n", o, cfg->prog);
        return CFG_ERR;
    } else if (strcmp(o, "-A") == 0) {
        err_printf(NULL, "Error: %s is not supported by %s.\n\n", o,
                   cfg->prog);
        return CFG_ERR;
    /* ---- publish ---- */
    } else if (allowed(cfg, K_PUB | K_RR) &&
               (strcmp(o, "-m") == 0 || strcmp(o, "--message") == 0)) {
        ARG("message");
        if (set_pub_mode(cfg, MODE_MESSAGE) != CFG_OK)
            return CFG_ERR;
        set_str(&cfg->message, a);
        cfg->msglen = strlen(a);
    } else if (allowed(cfg, K_PUB | K_RR) &&
               (strcmp(o, "-f") == 0 || strcmp(o, "--file") == 0)) {
        ARG("file");
        if (set_pub_mode(cfg, MODE_FILE) != CFG_OK)
            return CFG_ERR;
        set_str(&cfg->file, a);
    } else if (allowed(cfg, K_PUB | K_RR) &&
               (strcmp(o, "-s") == 0 || strcmp(o, "--stdin-file") == 0)) {
        if (set_pub_mode(cfg, MODE_STDIN) != CFG_OK)
            return CFG_ERR;
    } else if (allowed(cfg, K_PUB) &&
               (strcmp(o, "-l") == 0 || strcmp(o, "--stdin-line") == 0)) {
        if (set_pub_mode(cfg, MODE_LINES) != CFG_OK)
            return CFG_ERR;
    } else if (allowed(cfg, K_PUB | K_RR) &&
               (strcmp(o, "-n") == 0 || strcmp(o, "--null-message") == 0)) {
        if (set_pub_mode(cfg, MODE_NULL) != CFG_OK)
            return CFG_ERR;
    } else if (allowed(cfg, K_PUB) &&
               (strcmp(o, "-r") == 0 || strcmp(o, "--retain") == 0)) {
        cfg->retain = 1;
    } else if (allowed(cfg, K_PUB) && strcmp(o, "-M") == 0) {
        ARG("max inflight");
        if (parse_long(a, 1, 65535, &v) != 0) {
            err_printf(NULL, "Error: Invalid max inflight %s.\n\n", a);
            return CFG_ERR;
        }
        cfg->max_inflight = (int)v;
    } else if (allowed(cfg, K_PUB) && strcmp(o, "--repeat") == 0) {
        ARG("count");
        if (parse_long(a, 1, LONG_MAX, &v) != 0) {
            err_printf(NULL, "Error: --repeat argument must be >0.\n\n");
            return CFG_ERR;
        }
        cfg->repeat_count = v;
    } else if (allowed(cfg, K_PUB) && strcmp(o, "--repeat-delay") == 0) {
        ARG("time");
        if (parse_double(a, &d) != 0 || d < 0) {
            err_printf(NULL, "Error: --repeat-delay argument must be "
                             ">=0.0.\n\n");
            return CFG_ERR;
        }
        cfg->repeat_delay = d;
    /* ---- subscribe / rr ---- */
    } else if (allowed(cfg, K_SUB) &&
               (strcmp(o, "-C") == 0 || strcmp(o, "--count") == 0)) {
        ARG("count");
        if (parse_long(a, 1, LONG_MAX, &v) != 0) {
            err_printf(NULL, "Error: Invalid message count \"%s\".\n\n", a);
            return CFG_ERR;
        }
        cfg->msg_count = v;
    } else if (allowed(cfg, K_SUB) && strcmp(o, "-E") == 0) {
        cfg->exit_after_sub = 1;
    } else if (allowed(cfg, K_SUB | K_RR) &&
               (strcmp(o, "-F") == 0 || strcmp(o, "--format") == 0)) {
        ARG("format");
        if (format_check(NULL, a) != 0)
            return CFG_ERR;
        set_str(&cfg->format, a);
    } else if (allowed(cfg, K_SUB | K_RR) && strcmp(o, "-N") == 0) {
        cfg->eol = 0;
    } else if (allowed(cfg, K_SUB | K_RR) &&
               (strcmp(o, "-R") == 0 || strcmp(o, "--no-retain") == 0)) {
        cfg->no_retain = 1;
    } else if (allowed(cfg, K_SUB) && strcmp(o, "--retained-only") == 0) {
        cfg->retained_only = 1;
    } else if (allowed(cfg, K_SUB) && strcmp(o, "--remove-retained") == 0) {
        cfg->remove_retained = 1;
    } else if (allowed(cfg, K_SUB) &&
               (strcmp(o, "-T") == 0 || strcmp(o, "--filter-out") == 0)) {
        ARG("topic filter");
        if (mq_filter_check(a) != MQ_OK) {
            err_printf(NULL, "Error: Invalid filter topic '%s', are all "
                             "'+' and '#' wildcards correct?\n", a);
            return CFG_ERR;
        }
        list_add(&cfg->filter_outs, &cfg->filter_out_count, a);
    } else if (allowed(cfg, K_SUB) &&
               (strcmp(o, "-U") == 0 || strcmp(o, "--unsubscribe") == 0)) {
        ARG("unsubscribe topic");
        if (mq_filter_check(a) != MQ_OK) {
            err_printf(NULL, "Error: Invalid unsubscribe topic '%s', are "
                             "all '+' and '#' wildcards correct?\n", a);
            return CFG_ERR;
        }
        list_add(&cfg->unsub_topics, &cfg->unsub_count, a);
    } else if (allowed(cfg, K_SUB | K_RR) &&
               (strcmp(o, "-v") == 0 || strcmp(o, "--verbose") == 0)) {
        cfg->verbose = 1;
    } else if (allowed(cfg, K_SUB | K_RR) && strcmp(o, "--pretty") == 0) {
        cfg->pretty = 1;
    } else if (allowed(cfg, K_SUB) && strcmp(o, "--random-filter") == 0) {
        ARG("chance");
        if (parse_double(a, &d) != 0 || d < 0.1 || d > 100.0) {
            err_printf(NULL, "Error: Invalid random filter chance "
                             "\"%s\".\n\n", a);
            return CFG_ERR;
        }
        cfg->random_filter = d;
    } else if (allowed(cfg, K_SUB | K_RR) && strcmp(o, "-W") == 0) {
        ARG("timeout");
        if (parse_long(a, 1, 3600L * 24 * 365, &v) != 0) {
            err_printf(NULL, "Error: Invalid timeout \"%s\".\n\n", a);
            return CFG_ERR;
        }
        cfg->timeout_s = v;
    } else if (allowed(cfg, K_RR) && strcmp(o, "-e") == 0) {
        ARG("response topic");
        if (mq_topic_check(a) != MQ_OK) {
            err_printf(NULL, "Error: Invalid response topic '%s', does it "
                             "contain '+' or '#'?\n", a);
            return CFG_ERR;
        }
        set_str(&cfg->response_topic, a);
    } else {
        err_printf(NULL, "Error: Unknown option '%s'.\n", o);
        return CFG_ERR;
    }
    (*i)++;
    return CFG_OK;
#undef ARG
}

static void
cfg_defaults(struct tool_cfg *cfg, enum tool_kind kind)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->prog = prog_names[kind];
    cfg->protocol = kind == TOOL_RR ? MQ_PROTO_V5 : MQ_PROTO_V311;
    cfg->keepalive = 60;
    cfg->clean = 1;
    cfg->session_expiry = -1;
    cfg->eol = 1;
    cfg->random_filter = 100.0;
    cfg->repeat_count = 1;
}

/* Options from $XDG_CONFIG_HOME/<prog> or ~/.config/<prog>: one option per
 * line ("-q 1", "--cafile /x"), '#' starts a comment line. */
static int
parse_config_file(struct tool_cfg *cfg)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char path[4096];
    char line[4096];
    FILE *f;
    int rc = CFG_OK;

    if (xdg != NULL && xdg[0] != '\0')
        snprintf(path, sizeof path, "%s/%s", xdg, cfg->prog);
    else if (home != NULL && home[0] != '\0')
        snprintf(path, sizeof path, "%s/.config/%s", home, cfg->prog);
    else
        return CFG_OK;
    f = fopen(path, "r");
    if (f == NULL)
        return CFG_OK;
    while (rc == CFG_OK && fgets(line, sizeof line, f) != NULL) {
        char *argv2[3];
        char *p = line, *sp;
        int argc2 = 0, i = 0;

        line[strcspn(line, "\r\n")] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\0')
            continue;
        argv2[argc2++] = p;
        sp = strpbrk(p, " \t");
        if (sp != NULL) {
            *sp++ = '\0';
            while (*sp == ' ' || *sp == '\t')
                sp++;
            if (*sp != '\0')
                argv2[argc2++] = sp;
        }
        argv2[argc2] = NULL;
        while (i < argc2 && rc == CFG_OK)
            rc = parse_one(cfg, argc2, argv2, &i);
    }
    fclose(f);
    return rc;
}

int
cfg_check_tls(const struct tool_cfg *cfg)
{
    if ((cfg->certfile != NULL) != (cfg->keyfile != NULL)) {
        err_printf(NULL, "Error: Both certfile and keyfile must be provided "
                         "if one of them is set.\n");
        return CFG_ERR;
    }
    if ((cfg->psk != NULL) != (cfg->psk_identity != NULL)) {
        err_printf(NULL, "Error: --psk-identity required if --psk used, and "
                         "the reverse.\n");
        return CFG_ERR;
    }
    if (cfg->psk != NULL && (cfg->cafile != NULL || cfg->capath != NULL)) {
        err_printf(NULL, "Error: Only one of --psk or --cafile/--capath may "
                         "be used at once.\n");
        return CFG_ERR;
    }
    if (cfg->keyform_engine && cfg->tls_engine == NULL) {
        err_printf(NULL, "Error: --keyform engine needs --tls-engine.\n");
        return CFG_ERR;
    }
    return CFG_OK;
}

int
cfg_parse(struct tool_cfg *cfg, enum tool_kind kind, int argc, char *argv[])
{
    int i = 1;
    int rc;

    cfg_defaults(cfg, kind);
    rc = parse_config_file(cfg);
    while (rc == CFG_OK && i < argc)
        rc = parse_one(cfg, argc, argv, &i);
    if (rc != CFG_OK)
        return rc;

    /* cross-option checks, in the order the mosquitto tools make them */
    if (cfg->will_payload != NULL && cfg->will_topic == NULL) {
        err_printf(NULL, "Error: Will payload given, but no will topic "
                         "given.\n");
        return CFG_ERR;
    }
    if (cfg->will_retain && cfg->will_topic == NULL) {
        err_printf(NULL, "Error: Will retain given, but no will topic "
                         "given.\n");
        return CFG_ERR;
    }
    if (cfg->password != NULL && cfg->username == NULL) {
        err_printf(NULL, "Error: Password given, but no username "
                         "given.\n");
        return CFG_ERR;
    }
    if (cfg_check_tls(cfg) != CFG_OK)
        return CFG_ERR;
    if (!cfg->clean && cfg->id == NULL && cfg->id_prefix == NULL) {
        err_printf(NULL, "Error: You must provide a client id if you are "
                         "using the -c option.\n");
        return CFG_ERR;
    }
    if (cfg->session_expiry < 0 && !cfg->clean)
        cfg->session_expiry = UINT32_MAX;
    if (kind == TOOL_PUB) {
        if (cfg->topic_count == 0 || cfg->pub_mode == MODE_NONE) {
            err_printf(NULL, "Error: Both topic and message must be "
                             "supplied.\n");
            return CFG_HELP;
        }
    } else if (kind == TOOL_SUB) {
        if (cfg->topic_count == 0) {
            err_printf(NULL, "Error: You must specify a topic to subscribe "
                             "to.\n");
            return CFG_ERR;
        }
        if (cfg->remove_retained && cfg->retained_only == 0 &&
            cfg->no_retain) {
            /* harmless: -R only hides them */
        }
    } else {
        if (cfg->topic_count == 0 || cfg->pub_mode == MODE_NONE ||
            cfg->response_topic == NULL) {
            err_printf(NULL, "Error: All of topic, message, and response "
                             "topic must be supplied.\n");
            return CFG_ERR;
        }
    }
    if (cfg->id_prefix != NULL) {
        char buf[64];
        size_t n;

        snprintf(buf, sizeof buf, "%ld", (long)getpid());
        n = strlen(cfg->id_prefix) + strlen(buf) + 1;
        cfg->id = malloc(n);
        if (cfg->id == NULL)
            return CFG_ERR;
        snprintf(cfg->id, n, "%s%s", cfg->id_prefix, buf);
    }
    if (cfg->file != NULL) {
        FILE *f = fopen(cfg->file, "rb");

        if (f == NULL || read_all(f, &cfg->message, &cfg->msglen) != 0) {
            err_printf(NULL, "Error: Unable to open file \"%s\".\n",
                       cfg->file);
            if (f != NULL)
                fclose(f);
            return CFG_ERR;
        }
        fclose(f);
    }
    if (cfg->pub_mode == MODE_STDIN) {
        if (read_all(stdin, &cfg->message, &cfg->msglen) != 0) {
            err_printf(NULL, "Error: Unable to read from stdin.\n");
            return CFG_ERR;
        }
    }
    return CFG_OK;
}

void
cfg_init(struct tool_cfg *cfg, enum tool_kind kind)
{
    cfg_defaults(cfg, kind);
}

int
tool_parse_long(const char *s, long lo, long hi, long *out)
{
    return parse_long(s, lo, hi, out);
}

int
tool_parse_double(const char *s, double *out)
{
    return parse_double(s, out);
}

int
cfg_parse_option(struct tool_cfg *cfg, int argc, char *argv[], int *i)
{
    return parse_one(cfg, argc, argv, i);
}

int
cfg_load(struct tool_cfg *cfg, enum tool_kind kind, int argc, char *argv[])
{
    int rc = cfg_parse(cfg, kind, argc, argv);

    if (rc == CFG_OK)
        return -1;
    if (rc == CFG_HELP)
        print_usage(kind);
    else
        print_use_help(kind);
    cfg_free(cfg);
    return EXIT_USAGE;
}

static void
free_list(char **list, int n)
{
    int i;

    for (i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void
cfg_free(struct tool_cfg *cfg)
{
    int k;

    free(cfg->host);
    free(cfg->unix_path);
    free(cfg->id);
    free(cfg->id_prefix);
    free(cfg->username);
    free(cfg->password);
    free(cfg->cafile);
    free(cfg->capath);
    free(cfg->certfile);
    free(cfg->keyfile);
    free(cfg->ciphers);
    free(cfg->tls_version);
    free(cfg->tls_alpn);
    free(cfg->psk);
    free(cfg->psk_identity);
    free(cfg->tls_engine);
    free(cfg->tls_providers);
    free(cfg->crlfile);
    free(cfg->proxy);
    free(cfg->will_topic);
    free(cfg->will_payload);
    free(cfg->message);
    free(cfg->file);
    free(cfg->format);
    free(cfg->response_topic);
    free_list(cfg->topics, cfg->topic_count);
    free_list(cfg->unsub_topics, cfg->unsub_count);
    free_list(cfg->filter_outs, cfg->filter_out_count);
    for (k = 0; k < PCMD_COUNT_; k++)
        mq_props_free(cfg->props[k]);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- client setup ------------------------------------------------------- */

int
connack_exit_code(int protocol, int reason)
{
    if (protocol == MQ_PROTO_V311) {
        /* libmq reports v3.1.1 return codes with their v5 equivalents;
         * mosquitto tools exit with the v3.1.1 number. */
        switch (reason) {
        case MQ_RC_UNSUPPORTED_PROTOCOL_VERSION: return 1;
        case MQ_RC_CLIENT_IDENTIFIER_NOT_VALID: return 2;
        case MQ_RC_SERVER_UNAVAILABLE: return 3;
        case MQ_RC_BAD_USER_NAME_OR_PASSWORD: return 4;
        case MQ_RC_NOT_AUTHORIZED: return 5;
        default: break;
        }
    }
    return reason > 0 && reason < 256 ? reason : 1;
}

static const char *
connack_string(int protocol, int reason)
{
    if (protocol == MQ_PROTO_V311) {
        switch (reason) {
        case MQ_RC_UNSUPPORTED_PROTOCOL_VERSION:
            return "Connection Refused: unacceptable protocol version.";
        case MQ_RC_CLIENT_IDENTIFIER_NOT_VALID:
            return "Connection Refused: identifier rejected.";
        case MQ_RC_SERVER_UNAVAILABLE:
            return "Connection Refused: broker unavailable.";
        case MQ_RC_BAD_USER_NAME_OR_PASSWORD:
            return "Connection Refused: bad user name or password.";
        case MQ_RC_NOT_AUTHORIZED:
            return "Connection Refused: not authorised.";
        default: break;
        }
    }
    return mq_reason_string(reason);
}

void
tool_log_event(const struct tool_cfg *cfg, const mq_event *ev)
{
    const char *m = mq_event_message(ev);

    if (cfg->debug && m != NULL) {
        printf("%s\n", m);
        fflush(stdout);
    }
}

/* True for "scheme:rest" that is not an existing file (pkcs11:..., file:...). */
static int
is_uri(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-");

    return n > 1 && s[n] == ':' && access(s, F_OK) != 0;
}

/* Build the server URI from -h/-p/--unix/TLS. */
static int
build_uri(const struct tool_cfg *cfg, char *buf, size_t len)
{
    const char *host = cfg->host != NULL ? cfg->host : "localhost";
    int port = cfg->port != 0 ? cfg->port : (cfg->tls ? 8883 : 1883);
    const char *scheme = cfg->tls ? "mqtts" : "mqtt";
    int n;

    if (cfg->unix_path != NULL)
        n = snprintf(buf, len, "unix://%s", cfg->unix_path);
    else if (strchr(host, ':') != NULL)
        n = snprintf(buf, len, "%s://[%s]:%d", scheme, host, port);
    else
        n = snprintf(buf, len, "%s://%s:%d", scheme, host, port);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
setup_fail(const struct tool_cfg *cfg, const char *what, int rc)
{
    err_printf(cfg, "Error: %s: %s\n", what, mq_strerror(rc));
    return -1;
}

static int
client_setup(struct tool_cfg *cfg, mq_client *c)
{
    char uri[4200];
    int rc;

    if (build_uri(cfg, uri, sizeof uri) != 0)
        return setup_fail(cfg, "Invalid host", MQ_ERR_URI);
    rc = mq_set_server(c, uri);
    if (rc < 0)
        return setup_fail(cfg, uri, rc);
    rc = mq_set_int(c, MQ_OPT_RECONNECT, cfg->reconnect ? 1 : 0);
    if (rc < 0)
        return setup_fail(cfg, "reconnect", rc);
    rc = mq_set_int(c, MQ_OPT_KEEPALIVE_S, cfg->keepalive);
    if (rc < 0)
        return setup_fail(cfg, "keepalive", rc);
    rc = mq_set_int(c, MQ_OPT_CLEAN_START, cfg->clean);
    if (rc < 0)
        return setup_fail(cfg, "clean session", rc);
    if (cfg->protocol == MQ_PROTO_V5 && cfg->session_expiry >= 0) {
        rc = mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, cfg->session_expiry);
        if (rc < 0)
            return setup_fail(cfg, "session expiry", rc);
    }
    if (cfg->max_inflight > 0) {
        rc = mq_set_int(c, MQ_OPT_MAX_INFLIGHT, cfg->max_inflight);
        if (rc < 0)
            return setup_fail(cfg, "max inflight", rc);
    }
    if (cfg->debug)
        mq_set_int(c, MQ_OPT_LOG_LEVEL, MQ_LOG_DEBUG);
    if (cfg->username != NULL) {
        rc = mq_set_str(c, MQ_SOPT_USERNAME, cfg->username);
        if (rc < 0)
            return setup_fail(cfg, "Problem setting username", rc);
    }
    if (cfg->password != NULL) {
        rc = mq_set_str(c, MQ_SOPT_PASSWORD, cfg->password);
        if (rc < 0)
            return setup_fail(cfg, "Problem setting password", rc);
    }
    if (cfg->proxy != NULL) {
        rc = mq_set_str(c, MQ_SOPT_PROXY, cfg->proxy);
        if (rc < 0)
            return setup_fail(cfg, "--proxy", rc);
    }
    if (cfg->tls) {
        /* a --key/--cert that is not a file but names a URI scheme goes
         * to OpenSSL's stores; with --keyform engine the key is the
         * engine's id */
        int key_uri = cfg->keyfile != NULL
                      && (cfg->keyform_engine || is_uri(cfg->keyfile));
        int cert_uri = cfg->certfile != NULL && is_uri(cfg->certfile);
        struct stat crl_st;
        int crl_dir = cfg->crlfile != NULL && stat(cfg->crlfile, &crl_st) == 0
                      && S_ISDIR(crl_st.st_mode);
        struct {
            int opt;
            const char *val;
            const char *what;
        } t[] = {
            { MQ_SOPT_TLS_CA_FILE, cfg->cafile, "--cafile" },
            { MQ_SOPT_TLS_CA_PATH,
              cfg->capath != NULL ? cfg->capath
              : cfg->tls_os_certs ? "/etc/ssl/certs" : NULL, "--capath" },
            { MQ_SOPT_TLS_PROVIDERS, cfg->tls_providers, "--tls-provider" },
            { MQ_SOPT_TLS_ENGINE, cfg->tls_engine, "--tls-engine" },
            { cert_uri ? MQ_SOPT_TLS_CERT_URI : MQ_SOPT_TLS_CERT_FILE,
              cfg->certfile, "--cert" },
            { key_uri ? MQ_SOPT_TLS_KEY_URI : MQ_SOPT_TLS_KEY_FILE,
              cfg->keyfile, "--key" },
            { MQ_SOPT_TLS_CIPHERS, cfg->ciphers, "--ciphers" },
            { MQ_SOPT_TLS_MIN_VERSION, cfg->tls_version, "--tls-version" },
            { MQ_SOPT_TLS_ALPN, cfg->tls_alpn, "--tls-alpn" },
            { crl_dir ? MQ_SOPT_TLS_CRL_PATH : MQ_SOPT_TLS_CRL_FILE,
              cfg->crlfile, "--crlfile" },
            { MQ_SOPT_TLS_PSK, cfg->psk, "--psk" },
            { MQ_SOPT_TLS_PSK_IDENTITY, cfg->psk_identity, "--psk-identity" },
        };
        size_t k;

        for (k = 0; k < sizeof t / sizeof t[0]; k++) {
            if (t[k].val == NULL)
                continue;
            rc = mq_set_str(c, t[k].opt, t[k].val);
            if (rc < 0)
                return setup_fail(cfg, t[k].what, rc);
        }
        /* as mosquitto's tools: --insecure skips the host name check
         * only; the certificate chain is still verified */
        if (cfg->insecure) {
            rc = mq_set_int(c, MQ_OPT_TLS_NO_HOSTNAME_CHECK, 1);
            if (rc < 0)
                return setup_fail(cfg, "--insecure", rc);
        }
    }
    if (cfg->will_topic != NULL) {
        rc = mq_set_will(c, cfg->will_topic, cfg->will_payload,
                         cfg->will_payloadlen, cfg->will_qos,
                         cfg->will_retain,
                         cfg->protocol == MQ_PROTO_V5 ? cfg->props[PCMD_WILL]
                                                      : NULL);
        if (rc < 0)
            return setup_fail(cfg, "Problem setting will", rc);
    }
    if (cfg->protocol == MQ_PROTO_V5 && cfg->props[PCMD_CONNECT] != NULL) {
        rc = mq_set_connect_props(c, cfg->props[PCMD_CONNECT]);
        if (rc < 0)
            return setup_fail(cfg, "CONNECT properties", rc);
    }
    return 0;
}

int
tool_client_setup(struct tool_cfg *cfg, mq_client *c)
{
    return client_setup(cfg, c);
}

mq_client *
tool_connect(struct tool_cfg *cfg, int *out_exit)
{
    mq_client *c;
    mq_event *ev;
    int rc;
    double deadline;

    *out_exit = 1;
    c = mq_client_new(cfg->id, cfg->protocol);
    if (c == NULL) {
        err_printf(cfg, "Error: Invalid id or out of memory.\n");
        return NULL;
    }
    if (client_setup(cfg, c) != 0)
        goto fail;
    rc = mq_connect(c);
    if (rc < 0) {
        err_printf(cfg, "Error: %s\n", mq_strerror(rc));
        goto fail;
    }
    /* The library has its own connect timeout; this is a safety net. */
    deadline = now_mono() + 60.0;
    for (;;) {
        if (tool_signal != 0) {
            *out_exit = 1;
            goto fail;
        }
        if (now_mono() > deadline) {
            err_printf(cfg, "Error: %s\n", mq_strerror(MQ_ERR_TIMEOUT));
            goto fail;
        }
        ev = mq_next_event(c, 200);
        if (ev == NULL)
            continue;
        switch (mq_event_type(ev)) {
        case MQ_EVENT_LOG:
            tool_log_event(cfg, ev);
            break;
        case MQ_EVENT_CONNECT:
            rc = mq_event_reason(ev);
            if (rc == 0) {
                mq_event_free(ev);
                *out_exit = 0;
                return c;
            }
            err_printf(cfg, "Connection error: %s\n",
                       connack_string(cfg->protocol, rc));
            *out_exit = connack_exit_code(cfg->protocol, rc);
            mq_event_free(ev);
            goto fail;
        case MQ_EVENT_DISCONNECTED:
            if (mq_event_will_reconnect(ev)) {
                tool_log_event(cfg, ev);
                break;
            }
            rc = mq_event_error(ev);
            if (rc == MQ_ERR_REFUSED && mq_event_reason(ev) != 0) {
                /* CONNECT refused: the CONNECT event (if any) printed it */
                if (*out_exit == 1) {
                    err_printf(cfg, "Connection error: %s\n",
                               connack_string(cfg->protocol,
                                              mq_event_reason(ev)));
                    *out_exit = connack_exit_code(cfg->protocol,
                                                  mq_event_reason(ev));
                }
            } else if (rc == MQ_ERR_CONNREFUSED && cfg->proxy == NULL) {
                err_printf(cfg, "Error: Connection refused\n");
            } else if (rc == MQ_ERR_DNS) {
                err_printf(cfg, "Unable to connect (Lookup error.).\n");
            } else {
                const char *m = mq_event_message(ev);

                err_printf(cfg, "Error: %s\n",
                           m != NULL ? m : mq_strerror(rc));
            }
            mq_event_free(ev);
            goto fail;
        default:
            break;
        }
        mq_event_free(ev);
    }
fail:
    mq_client_destroy(c);
    return NULL;
}

void
tool_disconnect(struct tool_cfg *cfg, mq_client *c)
{
    mq_event *ev;
    double deadline;

    if (mq_disconnect_v5(c, 0, cfg->protocol == MQ_PROTO_V5
                                    ? cfg->props[PCMD_DISCONNECT]
                                    : NULL) < 0)
        return;
    deadline = now_mono() + 10.0;
    while (now_mono() < deadline) {
        ev = mq_next_event(c, 100);
        if (ev == NULL)
            continue;
        if (mq_event_type(ev) == MQ_EVENT_LOG)
            tool_log_event(cfg, ev);
        if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED) {
            mq_event_free(ev);
            return;
        }
        mq_event_free(ev);
    }
}

/* ---- misc ---------------------------------------------------------------- */

double
now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
read_all(FILE *f, char **out, size_t *out_len)
{
    size_t cap = 4096, len = 0, n;
    char *buf = malloc(cap), *nb;

    if (buf == NULL)
        return -1;
    for (;;) {
        if (len == cap) {
            cap *= 2;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                return -1;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                free(buf);
                return -1;
            }
            break;
        }
    }
    free(*out);
    *out = buf;
    *out_len = len;
    return 0;
}

static void
on_signal(int sig)
{
    tool_signal = sig;
}

void
tool_signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void
tool_signals_reraise(void)
{
    int sig = tool_signal;

    if (sig == 0)
        return;
    fflush(stdout);
    signal(sig, SIG_DFL);
    raise(sig);
}
