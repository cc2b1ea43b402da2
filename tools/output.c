/*
 * output.c - how mqsub and mqrr print a received message: payload only,
 * -v ("topic payload"), or a -F format string with the %, @ and \
 * sequences of mosquitto_sub (including %j/%J JSON output).
 *
 * Threading: main thread of the tool only.
 */
#include "common.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a small growable buffer ------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void
buf_add(struct buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *np;

        while (cap < b->len + n + 1)
            cap *= 2;
        np = realloc(b->p, cap);
        if (np == NULL)
            return; /* output is best effort when memory is short */
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void
buf_printf(struct buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- checking a format ------------------------------------------------- */

/* Largest field width or precision: a bigger one would pad each message
 * with gigabytes (and overflow an int). */
#define FMT_MAX_WIDTH 65535

/* Skip a run of digits; -1 if its value is over FMT_MAX_WIDTH. */
static int
skip_number(const char **pp)
{
    long v = 0;

    while (**pp >= '0' && **pp <= '9') {
        if (v <= FMT_MAX_WIDTH)
            v = v * 10 + (**pp - '0');
        (*pp)++;
    }
    return v > FMT_MAX_WIDTH ? -1 : 0;
}

int
format_check(const struct tool_cfg *cfg, const char *fmt)
{
    const char *p = fmt;

    while (*p != '\0') {
        if (*p == '%') {
            int big;

            p++;
            while (*p == '-' || *p == '0')
                p++;
            big = skip_number(&p);
            if (*p == '.') {
                p++;
                big |= skip_number(&p);
            }
            if (big) {
                err_printf(cfg, "Error: Format width or precision over "
                                "%d.\n", FMT_MAX_WIDTH);
                return 1;
            }
            if (*p == '\0') {
                err_printf(cfg, "Error: Incomplete format specifier.\n");
                return 1;
            }
            if (strchr("%ACDEFIJjlmPpqRrStUXx", *p) == NULL) {
                err_printf(cfg, "Error: Invalid format specifier '%c'.\n",
                           *p);
                return 1;
            }
        } else if (*p == '@') {
            p++;
            if (*p == '\0') {
                err_printf(cfg, "Error: Incomplete format specifier.\n");
                return 1;
            }
        } else if (*p == '\\') {
            p++;
            if (*p == '\0') {
                err_printf(cfg, "Error: Incomplete escape specifier.\n");
                return 1;
            }
            if (strchr("\\0aenrtv", *p) == NULL) {
                err_printf(cfg, "Error: Invalid escape specifier '%c'.\n",
                           *p);
                return 1;
            }
        }
        p++;
    }
    return 0;
}

/* ---- JSON -------------------------------------------------------------- */

static void
json_string(struct buf *b, const void *data, size_t len)
{
    const unsigned char *s = data;
    size_t i;

    buf_add(b, "\"", 1);
    for (i = 0; i < len; i++) {
        unsigned char ch = s[i];

        switch (ch) {
        case '"': buf_add(b, "\\\"", 2); break;
        case '\\': buf_add(b, "\\\\", 2); break;
        case '\b': buf_add(b, "\\b", 2); break;
        case '\f': buf_add(b, "\\f", 2); break;
        case '\n': buf_add(b, "\\n", 2); break;
        case '\r': buf_add(b, "\\r", 2); break;
        case '\t': buf_add(b, "\\t", 2); break;
        default:
            if (ch < 0x20)
                buf_printf(b, "\\u%04x", ch);
            else
                buf_add(b, &s[i], 1);
        }
    }
    buf_add(b, "\"", 1);
}

/* %J: the payload is parsed as JSON (RFC 8259, strict) and printed again
 * the way mosquitto_sub's cJSON prints it: compact, or with --pretty tab
 * indented; strings re-escaped, numbers normalised. */
struct jp {
    const unsigned char *p, *end;
    struct buf *out;
    int pretty;
    int depth;   /* output indentation depth */
    int nesting; /* guard against deep recursion */
};

static void
jp_ws(struct jp *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jp_value(struct jp *j);

static int
jp_lit(struct jp *j, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return -1;
    j->p += n;
    buf_add(j->out, lit, n);
    return 0;
}

static int
jp_hex4(struct jp *j, unsigned *out)
{
    unsigned v = 0;
    int k;

    for (k = 0; k < 4; k++) {
        unsigned char ch;

        if (j->p >= j->end)
            return -1;
        ch = *j->p++;
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (unsigned)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void
utf8_put(struct buf *b, unsigned cp)
{
    unsigned char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_add(b, u, n);
}

/* Decode a JSON string and print it re-escaped. */
static int
jp_string(struct jp *j)
{
    struct buf s = { NULL, 0, 0 };

    if (j->p >= j->end || *j->p != '"')
        return -1;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        unsigned char ch = *j->p++;

        if (ch < 0x20)
            goto fail;
        if (ch != '\\') {
            buf_add(&s, &ch, 1);
            continue;
        }
        if (j->p >= j->end)
            goto fail;
        ch = *j->p++;
        switch (ch) {
        case '"': case '\\': case '/': buf_add(&s, &ch, 1); break;
        case 'b': buf_add(&s, "\b", 1); break;
        case 'f': buf_add(&s, "\f", 1); break;
        case 'n': buf_add(&s, "\n", 1); break;
        case 'r': buf_add(&s, "\r", 1); break;
        case 't': buf_add(&s, "\t", 1); break;
        case 'u': {
            unsigned cp, lo;

            if (jp_hex4(j, &cp) != 0)
                goto fail;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
                    goto fail;
                j->p += 2;
                if (jp_hex4(j, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                    goto fail;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                goto fail;
            }
            utf8_put(&s, cp);
            break;
        }
        default:
            goto fail;
        }
    }
    if (j->p >= j->end)
        goto fail;
    j->p++;
    json_string(j->out, s.p != NULL ? s.p : "", s.len);
    free(s.p);
    return 0;
fail:
    free(s.p);
    return -1;
}

static int
jp_digits(struct jp *j)
{
    const unsigned char *s = j->p;

    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s ? 0 : -1;
}

static int
jp_number(struct jp *j)
{
    const unsigned char *start = j->p;
    char tmp[64], *num;
    size_t n;
    double d;

    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (jp_digits(j) != 0)
        return -1;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (jp_digits(j) != 0)
            return -1;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (jp_digits(j) != 0)
            return -1;
    }
    n = (size_t)(j->p - start);
    num = malloc(n + 1);
    if (num == NULL)
        return -1;
    memcpy(num, start, n);
    num[n] = '\0';
    d = strtod(num, NULL);
    free(num);
    /* cJSON: integers in int range as %d, else %1.15g or %1.17g */
    if (isnan(d) || isinf(d)) {
        snprintf(tmp, sizeof tmp, "null");
    } else if (d >= INT_MIN && d <= INT_MAX && d == (double)(int)d) {
        snprintf(tmp, sizeof tmp, "%d", (int)d);
    } else {
        snprintf(tmp, sizeof tmp, "%1.15g", d);
        if (strtod(tmp, NULL) != d)
            snprintf(tmp, sizeof tmp, "%1.17g", d);
    }
    buf_str(j->out, tmp);
    return 0;
}

static void
jp_tabs(struct jp *j, int n)
{
    while (n-- > 0)
        buf_add(j->out, "\t", 1);
}

static int
jp_object(struct jp *j)
{
    int first = 1;

    j->p++;
    j->depth++;
    buf_add(j->out, "{", 1);
    if (j->pretty)
        buf_add(j->out, "\n", 1);
    jp_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        goto close;
    }
    for (;;) {
        jp_ws(j);
        if (!first) {
            buf_add(j->out, ",", 1);
            if (j->pretty)
                buf_add(j->out, "\n", 1);
        }
        first = 0;
        if (j->pretty)
            jp_tabs(j, j->depth);
        if (jp_string(j) != 0)
            return -1;
        jp_ws(j);
        if (j->p >= j->end || *j->p != ':')
            return -1;
        j->p++;
        buf_add(j->out, j->pretty ? ":\t" : ":", j->pretty ? 2 : 1);
        if (jp_value(j) != 0)
            return -1;
        jp_ws(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p != '}')
            return -1;
        j->p++;
        if (j->pretty)
            buf_add(j->out, "\n", 1);
        break;
    }
close:
    if (j->pretty)
        jp_tabs(j, j->depth - 1);
    buf_add(j->out, "}", 1);
    j->depth--;
    return 0;
}

static int
jp_array(struct jp *j)
{
    int first = 1;

    j->p++;
    j->depth++;
    buf_add(j->out, "[", 1);
    jp_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        goto close;
    }
    for (;;) {
        if (!first)
            buf_add(j->out, j->pretty ? ", " : ",", j->pretty ? 2 : 1);
        first = 0;
        if (jp_value(j) != 0)
            return -1;
        jp_ws(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p != ']')
            return -1;
        j->p++;
        break;
    }
close:
    buf_add(j->out, "]", 1);
    j->depth--;
    return 0;
}

static int
jp_value(struct jp *j)
{
    int rc;

    jp_ws(j);
    if (j->p >= j->end || ++j->nesting > 512)
        return -1;
    switch (*j->p) {
    case '{': rc = jp_object(j); break;
    case '[': rc = jp_array(j); break;
    case '"': rc = jp_string(j); break;
    case 't': rc = jp_lit(j, "true"); break;
    case 'f': rc = jp_lit(j, "false"); break;
    case 'n': rc = jp_lit(j, "null"); break;
    default: rc = jp_number(j); break;
    }
    j->nesting--;
    return rc;
}

/* Parse the payload as JSON and print it into @p out at @p depth.
 * Returns 0, or -1 (and adds nothing) if it is not valid JSON. */
static int
json_reprint(struct buf *out, const void *data, size_t len, int pretty,
             int depth)
{
    struct buf tmp = { NULL, 0, 0 };
    struct jp j;
    int rc;

    j.p = data;
    j.end = j.p + len;
    j.out = &tmp;
    j.pretty = pretty;
    j.depth = depth;
    j.nesting = 0;
    rc = jp_value(&j);
    if (rc == 0) {
        jp_ws(&j);
        if (j.p != j.end)
            rc = -1;
    }
    if (rc == 0)
        buf_add(out, tmp.p != NULL ? tmp.p : "", tmp.len);
    free(tmp.p);
    return rc;
}

/* Writes "key": in compact or pretty (cJSON-like) layout. */
static void
json_key(struct buf *b, int pretty, int depth, int *first, const char *key)
{
    int k;

    if (!*first)
        buf_add(b, ",", 1);
    *first = 0;
    if (pretty) {
        buf_add(b, "\n", 1);
        for (k = 0; k < depth; k++)
            buf_add(b, "\t", 1);
    }
    json_string(b, key, strlen(key));
    buf_add(b, ":", 1);
    if (pretty)
        buf_add(b, "\t", 1);
}

static void
json_close(struct buf *b, int pretty, int depth)
{
    int k;

    if (pretty) {
        buf_add(b, "\n", 1);
        for (k = 0; k < depth; k++)
            buf_add(b, "\t", 1);
    }
    buf_add(b, "}", 1);
}

static void
json_props(struct buf *b, int pretty, const mq_props *pr)
{
    int first = 1;
    uint32_t v;
    const char *s;
    const void *bin;
    size_t n, i;

    if (pr == NULL || mq_props_count(pr) == 0)
        return;
    {
        int outer_first = 0; /* never the first key in the message */

        json_key(b, pretty, 1, &outer_first, "properties");
    }
    buf_add(b, "{", 1);
    if (mq_props_get_int(pr, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 0, &v) == 0) {
        json_key(b, pretty, 2, &first, "subscription-identifier");
        buf_printf(b, "%u", (unsigned)v);
    }
    if ((s = mq_props_get_string(pr, MQ_PROP_CONTENT_TYPE)) != NULL) {
        json_key(b, pretty, 2, &first, "content-type");
        json_string(b, s, strlen(s));
    }
    if ((bin = mq_props_get_binary(pr, MQ_PROP_CORRELATION_DATA, &n))
        != NULL) {
        json_key(b, pretty, 2, &first, "correlation-data");
        json_string(b, bin, n);
    }
    if (mq_props_get_int(pr, MQ_PROP_PAYLOAD_FORMAT_INDICATOR, 0, &v) == 0) {
        json_key(b, pretty, 2, &first, "payload-format-indicator");
        buf_printf(b, "%u", (unsigned)v);
    }
    if (mq_props_user_count(pr) > 0) {
        int ufirst = 1;

        json_key(b, pretty, 2, &first, "user-properties");
        buf_add(b, "{", 1);
        for (i = 0; i < mq_props_user_count(pr); i++) {
            const char *k = mq_props_user_key(pr, i);
            const char *val = mq_props_user_value(pr, i);

            json_key(b, pretty, 3, &ufirst, k != NULL ? k : "");
            json_string(b, val != NULL ? val : "",
                        val != NULL ? strlen(val) : 0);
        }
        json_close(b, pretty, 2);
    }
    if ((s = mq_props_get_string(pr, MQ_PROP_RESPONSE_TOPIC)) != NULL) {
        json_key(b, pretty, 2, &first, "response-topic");
        json_string(b, s, strlen(s));
    }
    if (mq_props_get_int(pr, MQ_PROP_MESSAGE_EXPIRY_INTERVAL, 0, &v) == 0) {
        json_key(b, pretty, 2, &first, "message-expiry-interval");
        buf_printf(b, "%u", (unsigned)v);
    }
    if (mq_props_get_int(pr, MQ_PROP_TOPIC_ALIAS, 0, &v) == 0) {
        json_key(b, pretty, 2, &first, "topic-alias");
        buf_printf(b, "%u", (unsigned)v);
    }
    json_close(b, pretty, 1);
}

/* %j (escaped payload) and %J (payload inserted as JSON). Returns -1 when
 * %J and the payload is not valid JSON. */
static int
format_json(struct buf *b, const struct tool_cfg *cfg, const mq_event *ev,
            const struct timespec *ts, int raw_payload)
{
    const char *topic = mq_event_topic(ev);
    size_t plen = 0;
    const void *payload = mq_event_payload(ev, &plen);
    int pretty = cfg->pretty;
    int first = 1;
    struct tm tm;
    char tbuf[64], zbuf[16];
    struct buf jpay = { NULL, 0, 0 };

    if (raw_payload && plen > 0) {
        if (json_reprint(&jpay, payload, plen, pretty, 1) != 0) {
            err_printf(cfg, "Error: Message payload is not valid JSON on "
                            "topic %s.\n", topic != NULL ? topic : "");
            return -1;
        }
    }
    localtime_r(&ts->tv_sec, &tm);
    strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zbuf, sizeof zbuf, "%z", &tm);
    buf_add(b, "{", 1);
    json_key(b, pretty, 1, &first, "tst");
    buf_printf(b, "\"%s.%06ldZ%s\"", tbuf, (long)(ts->tv_nsec / 1000), zbuf);
    json_key(b, pretty, 1, &first, "topic");
    json_string(b, topic != NULL ? topic : "",
                topic != NULL ? strlen(topic) : 0);
    json_key(b, pretty, 1, &first, "qos");
    buf_printf(b, "%d", mq_event_qos(ev));
    json_key(b, pretty, 1, &first, "retain");
    buf_printf(b, "%d", mq_event_retain(ev) ? 1 : 0);
    json_key(b, pretty, 1, &first, "payloadlen");
    buf_printf(b, "%zu", plen);
    if (mq_event_qos(ev) > 0) {
        json_key(b, pretty, 1, &first, "mid");
        buf_printf(b, "%d", mq_event_packet_id(ev));
    }
    json_props(b, pretty, mq_event_props(ev));
    json_key(b, pretty, 1, &first, "payload");
    if (plen == 0)
        buf_str(b, "null"); /* as mosquitto_sub */
    else if (raw_payload)
        buf_add(b, jpay.p != NULL ? jpay.p : "", jpay.len);
    else
        json_string(b, payload, plen);
    json_close(b, pretty, 0);
    free(jpay.p);
    return 0;
}

/* ---- the format engine -------------------------------------------------- */

static void
pad_out(struct buf *b, const char *s, size_t len, int width, int prec,
        int left, int zero)
{
    size_t pad;

    if (prec >= 0 && len > (size_t)prec)
        len = (size_t)prec;
    pad = width > 0 && (size_t)width > len ? (size_t)width - len : 0;
    if (left) {
        buf_add(b, s, len);
        while (pad-- > 0)
            buf_add(b, " ", 1);
    } else {
        char pc = zero ? '0' : ' ';

        while (pad-- > 0)
            buf_add(b, &pc, 1);
        buf_add(b, s, len);
    }
}

static void
hex_out(struct buf *b, const void *data, size_t len, int upper, int width,
        int left, int zero)
{
    const unsigned char *s = data;
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    struct buf h = { NULL, 0, 0 };
    size_t i;

    for (i = 0; i < len; i++) {
        char two[2] = { digits[s[i] >> 4], digits[s[i] & 15] };

        buf_add(&h, two, 2);
    }
    pad_out(b, h.p != NULL ? h.p : "", h.len, width, -1, left, zero);
    free(h.p);
}

static void
int_prop_out(struct buf *b, const mq_props *pr, int id, int width, int left,
             int zero)
{
    uint32_t v;
    char tmp[16] = "";

    if (pr != NULL && mq_props_get_int(pr, id, 0, &v) == 0)
        snprintf(tmp, sizeof tmp, "%u", (unsigned)v);
    pad_out(b, tmp, strlen(tmp), width, -1, left, zero);
}

static void
format_message(struct buf *b, const struct tool_cfg *cfg, const mq_event *ev,
               const struct timespec *ts)
{
    const char *p = cfg->format;
    const mq_props *pr = mq_event_props(ev);
    const char *topic = mq_event_topic(ev);
    size_t plen = 0;
    const void *payload = mq_event_payload(ev, &plen);
    char tmp[128];
    struct tm tm;

    if (topic == NULL)
        topic = "";
    if (payload == NULL)
        payload = "";
    localtime_r(&ts->tv_sec, &tm);
    while (*p != '\0') {
        if (*p == '%') {
            int left = 0, zero = 0, width = 0, prec = -1;
            const char *s;

            p++;
            while (*p == '-' || *p == '0') {
                if (*p == '-')
                    left = 1;
                else
                    zero = 1;
                p++;
            }
            if (left)
                zero = 0;
            while (*p >= '0' && *p <= '9')
                width = width * 10 + (*p++ - '0');
            if (*p == '.') {
                prec = 0;
                p++;
                while (*p >= '0' && *p <= '9')
                    prec = prec * 10 + (*p++ - '0');
            }
            switch (*p) {
            case '%':
                buf_add(b, "%", 1);
                break;
            case 'A':
                int_prop_out(b, pr, MQ_PROP_TOPIC_ALIAS, width, left, zero);
                break;
            case 'C':
                s = pr != NULL ? mq_props_get_string(pr, MQ_PROP_CONTENT_TYPE)
                               : NULL;
                s = s != NULL ? s : "";
                pad_out(b, s, strlen(s), width, prec, left, 0);
                break;
            case 'D': {
                size_t n = 0;
                const void *d =
                    pr != NULL ? mq_props_get_binary(
                                     pr, MQ_PROP_CORRELATION_DATA, &n)
                               : NULL;
                if (d != NULL)
                    buf_add(b, d, n);
                break;
            }
            case 'E':
                int_prop_out(b, pr, MQ_PROP_MESSAGE_EXPIRY_INTERVAL, width,
                             left, zero);
                break;
            case 'F':
                int_prop_out(b, pr, MQ_PROP_PAYLOAD_FORMAT_INDICATOR, width,
                             left, zero);
                break;
            case 'I':
                strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S%z", &tm);
                pad_out(b, tmp, strlen(tmp), width, prec, left, 0);
                break;
            case 'j':
            case 'J':
                format_json(b, cfg, ev, ts, *p == 'J');
                break;
            case 'l':
                snprintf(tmp, sizeof tmp, "%zu", plen);
                pad_out(b, tmp, strlen(tmp), width, -1, left, zero);
                break;
            case 'm':
                snprintf(tmp, sizeof tmp, "%d", mq_event_packet_id(ev));
                pad_out(b, tmp, strlen(tmp), width, -1, left, zero);
                break;
            case 'P': {
                size_t i, n = pr != NULL ? mq_props_user_count(pr) : 0;

                for (i = 0; i < n; i++) {
                    const char *k = mq_props_user_key(pr, i);
                    const char *v = mq_props_user_value(pr, i);

                    if (i > 0)
                        buf_add(b, " ", 1);
                    buf_str(b, k != NULL ? k : "");
                    buf_add(b, ":", 1);
                    buf_str(b, v != NULL ? v : "");
                }
                break;
            }
            case 'p':
                buf_add(b, payload, plen);
                break;
            case 'q':
                buf_printf(b, "%d", mq_event_qos(ev));
                break;
            case 'R':
                s = pr != NULL
                        ? mq_props_get_string(pr, MQ_PROP_RESPONSE_TOPIC)
                        : NULL;
                s = s != NULL ? s : "";
                pad_out(b, s, strlen(s), width, prec, left, 0);
                break;
            case 'r':
                buf_printf(b, "%d", mq_event_retain(ev) ? 1 : 0);
                break;
            case 'S':
                int_prop_out(b, pr, MQ_PROP_SUBSCRIPTION_IDENTIFIER, width,
                             left, zero);
                break;
            case 't':
                pad_out(b, topic, strlen(topic), width, prec, left, 0);
                break;
            case 'U':
                buf_printf(b, "%lld.%09ld", (long long)ts->tv_sec,
                           (long)ts->tv_nsec);
                break;
            case 'x':
            case 'X':
                hex_out(b, payload, plen, *p == 'X', width, left, zero);
                break;
            default:
                return; /* format_check() rejected it already */
            }
            p++;
        } else if (*p == '@') {
            p++;
            if (*p == '@') {
                buf_add(b, "@", 1);
            } else if (*p == 'N') {
                buf_printf(b, "%09ld", (long)ts->tv_nsec);
            } else if (*p != '\0') {
                char f[3] = { '%', *p, '\0' };
                size_t n = strftime(tmp, sizeof tmp, f, &tm);

                buf_add(b, tmp, n);
            } else {
                return;
            }
            p++;
        } else if (*p == '\\') {
            p++;
            switch (*p) {
            case '\\': buf_add(b, "\\", 1); break;
            case '0': buf_add(b, "", 1); break;
            case 'a': buf_add(b, "\a", 1); break;
            case 'e': buf_add(b, "\033", 1); break;
            case 'n': buf_add(b, "\n", 1); break;
            case 'r': buf_add(b, "\r", 1); break;
            case 't': buf_add(b, "\t", 1); break;
            case 'v': buf_add(b, "\v", 1); break;
            default: return;
            }
            p++;
        } else {
            buf_add(b, p, 1);
            p++;
        }
    }
}

void
print_message(const struct tool_cfg *cfg, const mq_event *ev)
{
    struct buf b = { NULL, 0, 0 };
    size_t plen = 0;
    const void *payload = mq_event_payload(ev, &plen);
    const char *topic = mq_event_topic(ev);
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (topic == NULL)
        topic = "";
    if (cfg->format != NULL) {
        format_message(&b, cfg, ev, &ts);
        if (cfg->eol)
            buf_add(&b, "\n", 1);
    } else if (cfg->verbose) {
        /* as mosquitto_sub: an empty payload shows as "(null)", and not
         * at all with -N */
        if (plen > 0) {
            buf_str(&b, topic);
            buf_add(&b, " ", 1);
            buf_add(&b, payload, plen);
            if (cfg->eol)
                buf_add(&b, "\n", 1);
        } else if (cfg->eol) {
            buf_str(&b, topic);
            buf_str(&b, " (null)\n");
        }
    } else if (plen > 0) {
        buf_add(&b, payload, plen);
        if (cfg->eol)
            buf_add(&b, "\n", 1);
    }
    if (b.len > 0)
        fwrite(b.p, 1, b.len, stdout);
    fflush(stdout);
    free(b.p);
}
