/*
 * mqbench.c - mqbench, a broker load generator on the public libmq API, in
 * the manner of emqtt-bench: `mqbench conn|pub|sub|pubsub [options]`
 * simulates many clients that connect, publish and subscribe, prints a
 * progress line each second and a final report (throughput, latency
 * percentiles from timestamps in the payloads, loss / duplicates /
 * reordering per subscriber), as text or JSON. This file parses the
 * command line and runs the engine (mqbench_run.c) and the report
 * (mqbench_report.c). See docs/man/mqbench.1.
 *
 * Threading: one thread drives every client; libmq's workers do the I/O.
 */
#include "mqbench.h"

#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
usage(void)
{
    printf(
        "mqbench - MQTT broker load generator (libmq %s)\n\n"
        "Usage: mqbench conn|pub|sub|pubsub [options]\n"
        "  conn    clients connect and stay idle\n"
        "  pub     clients publish\n"
        "  sub     clients subscribe and measure what arrives\n"
        "  pubsub  subscribers, then publishers, in one process\n\n"
        "Clients:\n"
        "  -c, --count N          clients (publishers in pubsub). Default 10\n"
        "      --subs N           pubsub: subscribers. Default: same as -c\n"
        "  -n, --start-number N   first client index (%%i, ids). Default 0\n"
        "  -i, --interval MS      pause between client starts. Default 10\n"
        "  -R, --conn-rate N      client starts per second (instead of -i)\n"
        "      --max-connecting N clients connecting at once. Default 100\n"
        "      --prefix P         client id prefix. Default mqb<pid>\n"
        "      --workers N        libmq worker threads (1..64). Default 1\n"
        "Messages:\n"
        "  -I, --pub-interval MS  per publisher. Default 1000; 0 = as fast\n"
        "                         as --max-queued allows\n"
        "  -r, --rate N           total messages/s over all publishers\n"
        "  -q, --qos 0|1|2        publish and subscribe QoS. Default 0\n"
        "  -s, --size BYTES       payload size, at least %d. Default 256\n"
        "  -t, --topic T          %%i = client index, %%c = client id.\n"
        "                         Default mqbench/%%i (sub: mqbench/#)\n"
        "      --sub-topic F      pubsub: subscription filter. Default: -t\n"
        "  -L, --limit N          pub, pubsub: messages in all; sub: stop\n"
        "                         after N received\n"
        "      --duration S       pub, pubsub: publish for S seconds; conn:\n"
        "                         stay connected S seconds; sub: stop after\n"
        "      --drain S          wait up to S s for what is in flight, "
        "and as long\n"
        "                         for the graceful disconnects at the end "
        "(0: at\n"
        "                         once). Default 5\n"
        "      --idle S           sub: stop after S s without a message\n"
        "      --shared           shared subscriptions ($share/GROUP/filter)\n"
        "      --group NAME       share group. Default mqbench\n"
        "      --retain           publish retained\n"
        "      --inflight N       QoS 1/2 messages in flight per client\n"
        "      --max-queued N     messages queued per publisher before it\n"
        "                         waits. Default 1000 (QoS 0), 2x inflight\n"
        "Connection:\n"
        "  -h, --host H[,H...]    broker host(s); clients spread over them\n"
        "  -p, --port P           Default 1883 (8883 TLS)\n"
        "      --uri U[,U...]     libmq URI(s): mqtt:// mqtts:// ws:// wss://\n"
        "                         unix:///path; clients spread over them\n"
        "  -S, --ssl              TLS (mqtts)\n"
        "      --ws               WebSocket (path --ws-path, default /mqtt)\n"
        "      --unix PATH        Unix domain socket\n"
        "  -V, --protocol-version 3|4|5  3 and 4 both mean MQTT 3.1.1.\n"
        "                         Default 5\n"
        "  -u, --username U   -P, --password P\n"
        "  -k, --keepalive S      Default 60\n"
        "  -C, --clean 0|1        clean start. Default 1\n"
        "  -x, --session-expiry S MQTT 5 session expiry\n"
        "      --reconnect        reconnect lost clients (default: count them"
        " as failed)\n"
        "  --cafile F --capath D --cert F --key F --ciphers L "
        "--tls-version V\n"
        "  --tls-alpn P --insecure --tls-use-os-certs --psk HEX\n"
        "  --psk-identity ID --keyform pem|engine --tls-engine E\n"
        "  --tls-provider P --crlfile F   TLS, as mqpub\n"
        "      --proxy URL        socks5h://[user[:pass]@]host[:port] or\n"
        "                         http://...: host names go to the proxy\n"
        "Output:\n"
        "      --json             final report as JSON on stdout\n"
        "      --progress tty|lines|none   Default: tty on a terminal\n"
        "      --quiet            no progress line, no warnings\n"
        "      --show-subs N      subscribers listed in the report. Default 10\n"
        "      --events auto|fd|poll   how events are watched. Default auto\n"
        "      --help\n\n"
        "Exit status: 0 ok, 1 usage, 2 a client failed to connect or lost\n"
        "its connection, 3 messages lost, 4 publishes failed.\n",
        MQ_VERSION_STRING, MQB_HDR_SIZE);
}

static int
bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "Error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nUse 'mqbench --help' to see usage.\n");
    return EXIT_USAGE;
}

static int
num_long(const char *s, long lo, long hi, long *out)
{
    return tool_parse_long(s, lo, hi, out);
}

static int
num_double(const char *s, double lo, double hi, double *out)
{
    double v;

    if (tool_parse_double(s, &v) != 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Split "a,b,c" into a NULL-terminated list; returns the count. */
static int
split_list(const char *s, char ***out)
{
    char *copy = strdup(s), *tok, *save = NULL;
    char **list = NULL;
    int n = 0;

    if (copy == NULL)
        return -1;
    for (tok = strtok_r(copy, ", ", &save); tok != NULL;
         tok = strtok_r(NULL, ", ", &save)) {
        char **nl = realloc(list, sizeof(char *) * (size_t)(n + 2));

        if (nl == NULL)
            break;
        list = nl;
        list[n++] = strdup(tok);
        list[n] = NULL;
    }
    free(copy);
    *out = list;
    return n;
}

/* Expand %i / %c / %% in @p pat; NULL on an unknown % sequence. */
char *
mqb_subst(const char *pat, long idx, const char *id)
{
    size_t cap = strlen(pat) + strlen(id) * 4 + 64, n = 0;
    char *out = malloc(cap), num[24];
    const char *p;

    if (out == NULL)
        return NULL;
    snprintf(num, sizeof num, "%ld", idx);
    for (p = pat; *p != '\0'; p++) {
        const char *add = NULL;
        char one[2] = { 0, 0 };
        size_t len;

        if (*p == '%') {
            p++;
            if (*p == 'i') {
                add = num;
            } else if (*p == 'c') {
                add = id;
            } else if (*p == '%') {
                add = "%";
            } else {
                free(out);
                return NULL;
            }
        } else {
            one[0] = *p;
            add = one;
        }
        len = strlen(add);
        if (n + len + 1 > cap) {
            char *no;

            cap = (n + len + 1) * 2;
            no = realloc(out, cap);
            if (no == NULL) {
                free(out);
                return NULL;
            }
            out = no;
        }
        memcpy(out + n, add, len);
        n += len;
    }
    out[n] = '\0';
    return out;
}

/* Resolve a host name once (libmq would start a resolver per connect) and
 * build the URIs. With --proxy, names stay names: the proxy resolves them
 * (it may know hosts this machine cannot resolve). */
static int
build_uris(struct mqb_opts *o, const char *hosts, long port, int ssl, int ws,
           const char *ws_path, const char *unix_path)
{
    char **list = NULL;
    int n, i, rc = 0;

    if (unix_path != NULL) {
        o->uris = calloc(2, sizeof(char *));
        o->verify_names = calloc(2, sizeof(char *));
        if (o->uris == NULL || o->verify_names == NULL)
            return -1;
        o->uris[0] = malloc(strlen(unix_path) + 8);
        if (o->uris[0] == NULL)
            return -1;
        sprintf(o->uris[0], "unix://%s", unix_path);
        o->nuris = 1;
        return 0;
    }
    n = split_list(hosts != NULL ? hosts : "localhost", &list);
    if (n <= 0) {
        free(list);
        return bad("no host given%s", "");
    }
    o->uris = calloc((size_t)n + 1, sizeof(char *));
    o->verify_names = calloc((size_t)n + 1, sizeof(char *));
    if (o->uris == NULL || o->verify_names == NULL)
        rc = -1;
    for (i = 0; i < n && rc == 0; i++) {
        struct addrinfo hints, *res = NULL;
        char addr[NI_MAXHOST], portpart[16] = "", buf[NI_MAXHOST + 300];
        const char *scheme = ws ? (ssl ? "wss" : "ws") : (ssl ? "mqtts"
                                                              : "mqtt");
        int numeric;

        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST;
        numeric = getaddrinfo(list[i], NULL, &hints, &res) == 0;
        if (!numeric && o->tcfg.proxy != NULL) {
            if (port > 0)
                snprintf(portpart, sizeof portpart, ":%ld", port);
            snprintf(buf, sizeof buf, "%s://%s%s%s", scheme, list[i],
                     portpart, ws ? ws_path : "");
            o->uris[i] = strdup(buf);
            o->nuris = i + 1;
            if (o->uris[i] == NULL)
                rc = -1;
            continue;
        }
        if (!numeric) {
            hints.ai_flags = AI_ADDRCONFIG;
            if (getaddrinfo(list[i], NULL, &hints, &res) != 0 || res == NULL) {
                fprintf(stderr, "Error: cannot resolve host '%s'.\n",
                        list[i]);
                rc = EXIT_USAGE;
                break;
            }
        }
        if (getnameinfo(res->ai_addr, res->ai_addrlen, addr, sizeof addr,
                        NULL, 0, NI_NUMERICHOST) != 0) {
            freeaddrinfo(res);
            rc = bad("cannot use host '%s'", list[i]);
            break;
        }
        if (port > 0)
            snprintf(portpart, sizeof portpart, ":%ld", port);
        snprintf(buf, sizeof buf, res->ai_family == AF_INET6
                                      ? "%s://[%s]%s%s" : "%s://%s%s%s",
                 scheme, addr, portpart, ws ? ws_path : "");
        freeaddrinfo(res);
        o->uris[i] = strdup(buf);
        if (!numeric && ssl)
            o->verify_names[i] = strdup(list[i]);
        o->nuris = i + 1;
        if (o->uris[i] == NULL)
            rc = -1;
    }
    for (i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return rc;
}

static int
parse_mode(struct mqb_opts *o, const char *m)
{
    static const char *const names[] = { "conn", "pub", "sub", "pubsub" };
    int k;

    for (k = 0; k < 4; k++) {
        if (strcmp(m, names[k]) == 0) {
            o->mode = (enum mqb_mode)k;
            o->mode_name = names[k];
            return 0;
        }
    }
    return -1;
}

/* TLS and proxy options are parsed by common.c, as for mqpub (the checks
 * across them too: cfg_check_tls()). */
static int
is_common_option(const char *a)
{
    static const char *const names[] = {
        "--cafile", "--capath", "--cert", "--key", "--ciphers",
        "--tls-version", "--tls-alpn", "--insecure", "--tls-use-os-certs",
        "--psk", "--psk-identity", "--keyform", "--tls-engine",
        "--tls-engine-kpass-sha1", "--tls-provider", "--crlfile", "--proxy",
    };
    size_t k;

    for (k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strcmp(a, names[k]) == 0)
            return 1;
    return 0;
}

static int
parse_args(struct mqb_opts *o, int argc, char *argv[])
{
    const char *hosts = NULL, *uri = NULL, *unix_path = NULL;
    const char *ws_path = "/mqtt";
    long port = 0, v;
    int ssl = 0, ws = 0, rate_set = 0, interval_set = 0, i, rc;
    int start_set = 0, rate_conn_set = 0;
    double d;
    char *pfx;

    memset(o, 0, sizeof *o);
    cfg_init(&o->tcfg, TOOL_PUB);
    o->tcfg.quiet = 0;
    o->clients = 10;
    o->subs = -1;
    o->start_interval_ms = 10;
    o->max_connecting = 100;
    o->pub_interval_ms = 1000;
    o->size = 256;
    o->drain_s = 5;
    o->group = "mqbench";
    o->protocol = MQ_PROTO_V5;
    o->keepalive = 60;
    o->clean = 1;
    o->session_expiry = -1;
    o->window = -1;
    o->progress_tty = isatty(2) ? 1 : 0;
    o->show_subs = 10;

    if (argc < 2) {
        usage();
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0) {
        usage();
        return EXIT_USAGE;
    }
    if (parse_mode(o, argv[1]) != 0)
        return bad("unknown command '%s' (use conn, pub, sub or pubsub)",
                   argv[1]);
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;

#define OPT(s, l) (strcmp(a, s) == 0 || strcmp(a, l) == 0)
#define LONGOPT(l) (strcmp(a, l) == 0)
#define NEED()                                                              \
    do {                                                                    \
        if (val == NULL)                                                    \
            return bad("%s needs a value", a);                              \
        i++;                                                                \
    } while (0)
        if (LONGOPT("--help")) {
            usage();
            return EXIT_USAGE;
        } else if (OPT("-c", "--count")) {
            NEED();
            if (num_long(val, 1, 10000000, &v) != 0)
                return bad("invalid client count '%s'", val);
            o->clients = v;
        } else if (LONGOPT("--subs")) {
            NEED();
            if (num_long(val, 1, 10000000, &v) != 0)
                return bad("invalid subscriber count '%s'", val);
            o->subs = v;
        } else if (OPT("-n", "--start-number")) {
            NEED();
            if (num_long(val, 0, INT32_MAX, &v) != 0)
                return bad("invalid start number '%s'", val);
            o->start_number = v;
        } else if (OPT("-i", "--interval")) {
            NEED();
            if (num_double(val, 0, 3600e3, &d) != 0)
                return bad("invalid start interval '%s' (milliseconds)", val);
            o->start_interval_ms = d;
            start_set = 1;
        } else if (OPT("-R", "--conn-rate")) {
            NEED();
            if (num_double(val, 0.001, 1e7, &d) != 0)
                return bad("invalid connection rate '%s'", val);
            o->start_interval_ms = 1000.0 / d;
            rate_conn_set = 1;
        } else if (LONGOPT("--max-connecting")) {
            NEED();
            if (num_long(val, 1, 10000000, &v) != 0)
                return bad("invalid --max-connecting '%s'", val);
            o->max_connecting = v;
        } else if (LONGOPT("--prefix")) {
            NEED();
            o->prefix = val;
        } else if (LONGOPT("--workers")) {
            NEED();
            if (num_long(val, 1, 64, &v) != 0)
                return bad("invalid --workers '%s' (1..64)", val);
            o->workers = (int)v;
        } else if (OPT("-I", "--pub-interval")) {
            NEED();
            if (num_double(val, 0, 3600e3, &d) != 0)
                return bad("invalid publish interval '%s' (milliseconds)",
                           val);
            o->pub_interval_ms = d;
            interval_set = 1;
        } else if (OPT("-r", "--rate")) {
            NEED();
            if (num_double(val, 0.001, 1e9, &d) != 0)
                return bad("invalid rate '%s' (messages per second)", val);
            o->rate = d;
            rate_set = 1;
        } else if (OPT("-q", "--qos")) {
            NEED();
            if (num_long(val, 0, 2, &v) != 0)
                return bad("invalid QoS '%s'", val);
            o->qos = (int)v;
        } else if (OPT("-s", "--size")) {
            NEED();
            if (num_long(val, 0, 268435455, &v) != 0)
                return bad("invalid payload size '%s'", val);
            if (v < MQB_HDR_SIZE) {
                fprintf(stderr, "Error: payload size %ld is smaller than the "
                                "%d-byte mqbench header (sequence number, "
                                "publisher, timestamp).\nUse 'mqbench "
                                "--help' to see usage.\n", v, MQB_HDR_SIZE);
                return EXIT_USAGE;
            }
            o->size = (size_t)v;
        } else if (OPT("-t", "--topic")) {
            NEED();
            o->topic = val;
        } else if (LONGOPT("--sub-topic")) {
            NEED();
            o->sub_topic = val;
        } else if (OPT("-L", "--limit")) {
            NEED();
            if (num_long(val, 1, LONG_MAX, &v) != 0)
                return bad("invalid message limit '%s'", val);
            o->limit = v;
        } else if (LONGOPT("--duration")) {
            NEED();
            if (num_double(val, 0.001, 1e7, &d) != 0)
                return bad("invalid duration '%s' (seconds)", val);
            o->duration_s = d;
        } else if (LONGOPT("--drain")) {
            NEED();
            if (num_double(val, 0, 3600, &d) != 0)
                return bad("invalid drain time '%s' (seconds)", val);
            o->drain_s = d;
        } else if (LONGOPT("--idle")) {
            NEED();
            if (num_double(val, 0.001, 1e7, &d) != 0)
                return bad("invalid idle time '%s' (seconds)", val);
            o->idle_s = d;
        } else if (LONGOPT("--shared")) {
            o->shared = 1;
        } else if (LONGOPT("--group")) {
            NEED();
            if (val[0] == '\0' || strpbrk(val, "/+#") != NULL)
                return bad("invalid share group '%s'", val);
            o->group = val;
            o->shared = 1;
        } else if (LONGOPT("--retain")) {
            o->retain = 1;
        } else if (LONGOPT("--inflight")) {
            NEED();
            if (num_long(val, 1, 65535, &v) != 0)
                return bad("invalid --inflight '%s' (1..65535)", val);
            o->inflight = (int)v;
        } else if (LONGOPT("--max-queued")) {
            NEED();
            if (num_long(val, 1, 100000, &v) != 0)
                return bad("invalid --max-queued '%s' (1..100000)", val);
            o->window = v;
        } else if (OPT("-h", "--host")) {
            NEED();
            hosts = val;
        } else if (OPT("-p", "--port")) {
            NEED();
            if (num_long(val, 1, 65535, &port) != 0)
                return bad("invalid port '%s'", val);
        } else if (LONGOPT("--uri")) {
            NEED();
            uri = val;
        } else if (OPT("-S", "--ssl")) {
            ssl = 1;
        } else if (LONGOPT("--ws")) {
            ws = 1;
        } else if (LONGOPT("--ws-path")) {
            NEED();
            if (val[0] != '/')
                return bad("--ws-path must start with '/': '%s'", val);
            ws_path = val;
            ws = 1;
        } else if (LONGOPT("--unix")) {
            NEED();
            unix_path = val;
        } else if (OPT("-V", "--protocol-version")) {
            NEED();
            if (strcmp(val, "5") == 0 || strcmp(val, "mqttv5") == 0)
                o->protocol = MQ_PROTO_V5;
            else if (strcmp(val, "3") == 0 || strcmp(val, "4") == 0 ||
                     strcmp(val, "311") == 0 || strcmp(val, "mqttv311") == 0)
                o->protocol = MQ_PROTO_V311; /* libmq's only 3.x */
            else if (strcmp(val, "31") == 0 || strcmp(val, "mqttv31") == 0)
                return bad("MQTT 3.1 (-V %s) is not supported by libmq; use "
                           "3 or 4 (3.1.1) or 5", val);
            else
                return bad("invalid protocol version '%s' (3, 4 or 5)", val);
        } else if (OPT("-u", "--username")) {
            NEED();
            o->tcfg.username = strdup(val);
        } else if (OPT("-P", "--password")) {
            NEED();
            o->tcfg.password = strdup(val);
        } else if (OPT("-k", "--keepalive")) {
            NEED();
            if (num_long(val, 0, 65535, &v) != 0)
                return bad("invalid keepalive '%s' (0..65535)", val);
            o->keepalive = (int)v;
        } else if (OPT("-C", "--clean")) {
            NEED();
            if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0)
                o->clean = 1;
            else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0)
                o->clean = 0;
            else
                return bad("invalid --clean '%s' (0 or 1)", val);
        } else if (OPT("-x", "--session-expiry")) {
            NEED();
            if (strcmp(val, "-1") == 0)
                o->session_expiry = UINT32_MAX;
            else if (num_long(val, 0, (long)UINT32_MAX, &v) == 0)
                o->session_expiry = v;
            else
                return bad("invalid session expiry '%s'", val);
        } else if (LONGOPT("--reconnect")) {
            o->reconnect = 1;
        } else if (LONGOPT("--json")) {
            o->json = 1;
        } else if (LONGOPT("--quiet")) {
            o->quiet = 1;
        } else if (LONGOPT("--progress")) {
            NEED();
            if (strcmp(val, "tty") == 0)
                o->progress_tty = 1;
            else if (strcmp(val, "lines") == 0)
                o->progress_tty = 0;
            else if (strcmp(val, "none") == 0)
                o->progress_tty = -1;
            else
                return bad("invalid --progress '%s' (tty, lines, none)", val);
        } else if (LONGOPT("--show-subs")) {
            NEED();
            if (num_long(val, 0, 10000000, &v) != 0)
                return bad("invalid --show-subs '%s'", val);
            o->show_subs = (int)v;
        } else if (LONGOPT("--events")) {
            NEED();
            if (strcmp(val, "auto") == 0)
                o->events = EVENTS_AUTO;
            else if (strcmp(val, "fd") == 0)
                o->events = EVENTS_FD;
            else if (strcmp(val, "poll") == 0)
                o->events = EVENTS_POLL;
            else
                return bad("invalid --events '%s' (auto, fd, poll)", val);
        } else if (is_common_option(a)) {
            int j = i;

            rc = cfg_parse_option(&o->tcfg, argc, argv, &j);
            if (rc != CFG_OK)
                return bad("in option %s", a);
            i = j - 1;
        } else {
            return bad("unknown option '%s'", a);
        }
#undef OPT
#undef LONGOPT
#undef NEED
    }

    /* cross-option checks */
    if (rate_set && interval_set)
        return bad("give -I (per client) or -r (total), not both%s", "");
    if (start_set && rate_conn_set)
        return bad("give -i or -R, not both%s", "");
    if (o->tcfg.password != NULL && o->tcfg.username == NULL)
        return bad("password given, but no username%s", "");
    if (cfg_check_tls(&o->tcfg) != CFG_OK)
        return bad("in the TLS options%s", "");
    if (o->tcfg.proxy != NULL && unix_path != NULL)
        return bad("--proxy cannot be used with --unix%s", "");
    if (uri != NULL && (hosts != NULL || port != 0 || ssl || ws ||
                        unix_path != NULL))
        return bad("--uri replaces -h, -p, -S, --ws and --unix%s", "");
    if (unix_path != NULL && (hosts != NULL || ssl || ws))
        return bad("--unix cannot be combined with -h, -S or --ws%s", "");
    if (o->mode != MQB_PUBSUB && o->subs > 0)
        return bad("--subs is for pubsub%s", "");
    if (o->mode != MQB_PUBSUB && o->sub_topic != NULL)
        return bad("--sub-topic is for pubsub (use -t)%s", "");
    if (o->shared && (o->mode == MQB_CONN || o->mode == MQB_PUB))
        return bad("--shared is for sub and pubsub%s", "");
    if (o->limit > 0 && o->mode == MQB_CONN)
        return bad("-L is not used by conn (use --duration)%s", "");
    if (o->idle_s > 0 && o->mode != MQB_SUB)
        return bad("--idle is for sub%s", "");
    /* an option that means TLS (--cafile, --cert, --psk ...: common.c
     * notes it) makes -h/-p connections mqtts:// */
    if (o->tcfg.tls)
        ssl = ssl || (uri == NULL && unix_path == NULL);
    if (o->subs < 0)
        o->subs = o->clients;
    if (o->topic == NULL)
        o->topic = o->mode == MQB_SUB ? "mqbench/#" : "mqbench/%i";
    if (o->sub_topic == NULL)
        o->sub_topic = o->topic;
    if (rate_set) {
        /* per-client interval that gives the total rate */
        o->pub_interval_ms = 1000.0 * (double)o->clients / o->rate;
    }
    if (o->window < 0)
        o->window = o->qos == 0 ? 1000
                                : 2L * (o->inflight > 0 ? o->inflight : 20);
    if (o->session_expiry >= 0 && o->protocol != MQ_PROTO_V5)
        return bad("-x needs MQTT 5 (-V 5)%s", "");
    if (!o->clean && o->protocol == MQ_PROTO_V5 && o->session_expiry < 0)
        o->session_expiry = UINT32_MAX;

    if (o->prefix == NULL) {
        pfx = malloc(32);
        if (pfx == NULL)
            return EXIT_USAGE;
        snprintf(pfx, 32, "mqb%ld", (long)getpid());
        o->prefix = pfx;
    }
    /* topics must be valid once substituted */
    {
        const char *pt = o->mode == MQB_SUB ? NULL : o->topic;
        const char *ft = o->mode == MQB_SUB      ? o->topic
                         : o->mode == MQB_PUBSUB ? o->sub_topic
                                                 : NULL;
        char *t;

        if (pt != NULL && o->mode != MQB_CONN) {
            t = mqb_subst(pt, o->start_number, "id");
            if (t == NULL)
                return bad("unknown %%-sequence in topic '%s' (use %%i, %%c "
                           "or %%%%)", pt);
            rc = mq_topic_check(t);
            free(t);
            if (rc != MQ_OK)
                return bad("invalid publish topic '%s'", pt);
        }
        if (ft != NULL) {
            t = mqb_subst(ft, o->start_number, "id");
            if (t == NULL)
                return bad("unknown %%-sequence in filter '%s' (use %%i, "
                           "%%c or %%%%)", ft);
            rc = mq_filter_check(t);
            free(t);
            if (rc != MQ_OK)
                return bad("invalid subscription filter '%s'", ft);
        }
    }
    /* the common setup: credentials, keepalive, TLS */
    o->tcfg.protocol = o->protocol;
    o->tcfg.keepalive = o->keepalive;
    o->tcfg.clean = o->clean;
    o->tcfg.session_expiry = o->session_expiry;
    o->tcfg.reconnect = o->reconnect;
    o->tcfg.max_inflight = o->inflight;
    if (uri != NULL) {
        int n = split_list(uri, &o->uris), k;

        if (n <= 0)
            return bad("no URI in '%s'", uri);
        o->nuris = n;
        o->verify_names = calloc((size_t)n + 1, sizeof(char *));
        /* TLS options apply when given or when a URI is TLS (for
         * --insecure); libmq uses them for the mqtts:// and wss:// ones */
        for (k = 0; k < n; k++)
            if (strncmp(o->uris[k], "mqtts://", 8) == 0 ||
                strncmp(o->uris[k], "ssl://", 6) == 0 ||
                strncmp(o->uris[k], "wss://", 6) == 0)
                o->tcfg.tls = 1;
        for (k = 0; k < n; k++) {
            mq_client *probe = mq_client_new("probe", o->protocol);

            rc = probe != NULL ? mq_set_server(probe, o->uris[k])
                               : MQ_ERR_NOMEM;
            mq_client_destroy(probe);
            if (rc != MQ_OK) {
                fprintf(stderr, "Error: bad URI '%s': %s\nUse 'mqbench "
                                "--help' to see usage.\n",
                        o->uris[k], mq_strerror(rc));
                return EXIT_USAGE;
            }
        }
        return 0;
    }
    o->tcfg.tls = ssl;
    rc = build_uris(o, hosts, port, ssl, ws, ws_path, unix_path);
    return rc < 0 ? EXIT_USAGE : rc;
}

static void
opts_free(struct mqb_opts *o)
{
    int k;

    for (k = 0; k < o->nuris; k++) {
        free(o->uris[k]);
        if (o->verify_names != NULL)
            free(o->verify_names[k]);
    }
    free(o->uris);
    free(o->verify_names);
    cfg_free(&o->tcfg);
}

int
main(int argc, char *argv[])
{
    static struct mqb_opts o;
    static struct mqb_run r;
    int rc;

    rc = parse_args(&o, argc, argv);
    if (rc != 0) {
        opts_free(&o);
        return rc;
    }
    if (o.workers > 0 && mq_set_worker_threads(o.workers) != MQ_OK) {
        fprintf(stderr, "Error: cannot use %d worker threads.\n", o.workers);
        return EXIT_USAGE;
    }
    rc = mqb_run(&r, &o);
    if (rc != 0) {
        mqb_run_free(&r);
        opts_free(&o);
        return rc;
    }
    if (o.json)
        mqb_report_json(&r);
    else
        mqb_report_text(&r);
    rc = mqb_exit_code(&r);
    mqb_run_free(&r);
    opts_free(&o);
    return rc;
}
