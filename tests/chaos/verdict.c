/*
 * verdict.c - counts and attribution of the chaos test (see verdict.h).
 *
 * The broker log is read once, in order; every line that concerns a
 * message "chaos/NAME/SEQ" becomes an event on that message (line number,
 * kind, which subscriber, DUP flag, payload length): received from the
 * publisher, acked to it, PUBREL from it, sent to a subscriber, acked by a
 * subscriber. A payload that does not match its topic is attributed by
 * comparing the length the subscriber's application got with the lengths
 * the broker logged and with what the publisher makes (chaos_child.c). Packet
 * ids are mapped back to messages per client (the broker logs the topic
 * only with PUBLISH). Acks to publishers since the last completed save of
 * the broker's database are remembered; a broker kill marks them LOST. A
 * save is complete once the broker logged another line after its
 * "Saving in-memory database" line (mosquitto saves synchronously).
 *
 * Threading: any thread; all state is local to cv_analyze().
 */
#include "verdict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEQ 50000000L
#define NMID 65536

enum {
    E_IN,    /* PUBLISH received from the publisher (dup: its DUP flag) */
    E_ACK,   /* PUBACK / PUBREC / PUBCOMP sent to the publisher (dup: its
                reason code: ACK_OK, ACK_ERROR or ACK_NOSUB) */
    E_REL,   /* PUBREL received from the publisher */
    E_LOST,  /* an ack before this broker kill was not saved */
    E_SEND,  /* PUBLISH sent to subscriber `who` (dup: its DUP flag) */
    E_SACK,  /* PUBACK / PUBREC received from subscriber `who` */
    E_REUSED /* sent (DUP 0) with the packet id of an earlier QoS 2 message
                to the same subscriber whose flow the broker forgot in a
                restart (no PUBREC logged before the kill) */
};

enum { ACK_OK, ACK_ERROR, ACK_NOSUB };

typedef struct ev {
    int pos;
    unsigned char type, who, dup;
    unsigned char alien; /* E_IN: not a packet of this message (below) */
    int len;             /* E_IN, E_SEND: payload bytes the broker logged
                            (-1 unknown) */
} ev;

typedef struct msg {
    unsigned char accepted, reported;
    unsigned char corrupt; /* 1 + the highest CV_CORR_* of its corrupt
                              receptions (enum order: the most libmq's
                              last), 0 if none */
    int acc_inc;
    int nrecv;
    int recv_sub[2], recv_inc[2];
    ev *evs;
    int nev, cap;
} msg;

typedef struct posv {
    int *pos, *inc;
    int n, cap;
} posv;

typedef struct ref {
    int pub;
    long seq;
} ref;

/* The broker's last use of a packet id towards a subscriber. */
typedef struct smid {
    int pub;
    long seq;
    int pos;             /* line of the PUBLISH */
    int qos, acked;      /* acked: PUBREC/PUBACK from the subscriber seen */
} smid;

typedef struct state {
    const cv_config *cfg;
    cv_result *r;
    msg *m[CV_MAX_PUBS];
    long nm[CV_MAX_PUBS];
    long *pub_mid[CV_MAX_PUBS]; /* mid -> seq, -1 none */
    int *pub_mid_pos[CV_MAX_PUBS]; /* mid -> line of that PUBLISH */
    smid *sub_mid[CV_MAX_SUBS];
    posv broker_kills, pub_kills[CV_MAX_PUBS], sub_kills[CV_MAX_SUBS];
    posv sub_conns[CV_MAX_SUBS];
    int max_inc[CV_MAX_PUBS];  /* highest "start" incarnation per publisher */
    /* broker runs in which it acked with 0x10 (no matching subscribers)
     * before any SUBSCRIBE: [epoch start, first SUBSCRIBE) */
    posv nosub;             /* pos: window start, inc: window end */
    int epoch_start, epoch_nosub, epoch_subscribed;
    ref *dirty, *saving;
    long ndirty, nsaving, capdirty, capsaving;
    int save_open;
    int oom;
} state;

static int
posv_add(state *s, posv *v, int pos, int inc)
{
    if (v->n == v->cap) {
        int nc = v->cap ? v->cap * 2 : 16;
        int *np = realloc(v->pos, (size_t)nc * sizeof *np);
        int *ni = np ? realloc(v->inc, (size_t)nc * sizeof *ni) : NULL;
        if (np)
            v->pos = np;
        if (ni == NULL) {
            s->oom = 1;
            return -1;
        }
        v->inc = ni;
        v->cap = nc;
    }
    v->pos[v->n] = pos;
    v->inc[v->n++] = inc;
    return 0;
}

/* 1 if some position in v lies in (lo, hi). */
static int
posv_between(const posv *v, int lo, int hi)
{
    for (int i = 0; i < v->n; i++)
        if (v->pos[i] > lo && v->pos[i] < hi)
            return 1;
    return 0;
}

/* The last position in v before pos (0 if none). */
static int
last_before(const posv *v, int pos)
{
    int best = 0;

    for (int i = 0; i < v->n; i++)
        if (v->pos[i] < pos && v->pos[i] > best)
            best = v->pos[i];
    return best;
}

static int
posv_has_inc(const posv *v, int inc)
{
    for (int i = 0; i < v->n; i++)
        if (v->inc[i] == inc)
            return 1;
    return 0;
}

static msg *
get_msg(state *s, int pub, long seq)
{
    if (pub < 0 || seq < 0 || seq >= MAX_SEQ)
        return NULL;
    if (seq >= s->nm[pub]) {
        long nn = s->nm[pub] ? s->nm[pub] : 1024;
        msg *nm;
        while (nn <= seq)
            nn *= 2;
        nm = realloc(s->m[pub], (size_t)nn * sizeof *nm);
        if (nm == NULL) {
            s->oom = 1;
            return NULL;
        }
        memset(nm + s->nm[pub], 0, (size_t)(nn - s->nm[pub]) * sizeof *nm);
        s->m[pub] = nm;
        s->nm[pub] = nn;
    }
    return &s->m[pub][seq];
}

/* Add an event; @p len: the payload length logged with a PUBLISH, or -1.
 * Returns it (NULL if there is no message or no memory). */
static ev *
add_ev(state *s, msg *m, int pos, int type, int who, int dup, long len)
{
    if (m == NULL)
        return NULL;
    if (m->nev == m->cap) {
        int nc = m->cap ? m->cap * 2 : 4;
        ev *ne = realloc(m->evs, (size_t)nc * sizeof *ne);
        if (ne == NULL) {
            s->oom = 1;
            return NULL;
        }
        m->evs = ne;
        m->cap = nc;
    }
    m->evs[m->nev] = (ev){pos, (unsigned char)type, (unsigned char)who,
                          (unsigned char)dup, 0,
                          len >= 0 && len <= INT32_MAX ? (int)len : -1};
    return &m->evs[m->nev++];
}

/* The payload length at the end of a mosquitto PUBLISH line
 * "... (N bytes))", -1 if there is none. */
static long
logged_len(const char *body)
{
    const char *p = strrchr(body, '(');
    long n;

    return p != NULL && sscanf(p, "(%ld bytes)", &n) == 1 ? n : -1;
}

static int
find_pub_name(const state *s, const char *name, size_t len)
{
    for (int i = 0; i < s->cfg->npubs; i++)
        if (strlen(s->cfg->pubs[i].name) == len &&
            memcmp(s->cfg->pubs[i].name, name, len) == 0)
            return i;
    return -1;
}

static int
find_pub_id(const state *s, const char *id)
{
    for (int i = 0; i < s->cfg->npubs; i++)
        if (strcmp(s->cfg->pubs[i].client_id, id) == 0)
            return i;
    return -1;
}

static int
find_sub_id(const state *s, const char *id)
{
    for (int i = 0; i < s->cfg->nsubs; i++)
        if (strcmp(s->cfg->subs[i].client_id, id) == 0)
            return i;
    return -1;
}

/* "chaos/NAME/SEQ" -> publisher and seq; 0 on success. */
static int
parse_topic(const state *s, const char *t, int *pub, long *seq)
{
    const char *rest, *slash;
    char *end;

    if (strncmp(t, "chaos/", 6) != 0)
        return -1;
    rest = t + 6;
    slash = strrchr(rest, '/');
    if (slash == NULL)
        return -1;
    *pub = find_pub_name(s, rest, (size_t)(slash - rest));
    *seq = strtol(slash + 1, &end, 10);
    return *pub >= 0 && *end == '\0' && *seq >= 0 ? 0 : -1;
}

static void
dirty_add(state *s, int pub, long seq)
{
    if (s->ndirty == s->capdirty) {
        long nc = s->capdirty ? s->capdirty * 2 : 1024;
        ref *nd = realloc(s->dirty, (size_t)nc * sizeof *nd);
        if (nd == NULL) {
            s->oom = 1;
            return;
        }
        s->dirty = nd;
        s->capdirty = nc;
    }
    s->dirty[s->ndirty++] = (ref){pub, seq};
}

/* A save started: what was acked so far is being written. */
static void
save_start(state *s)
{
    ref *t = s->saving;
    long tc = s->capsaving;

    /* anything still in `saving` belongs to a save that never completed */
    if (s->nsaving > 0) {
        for (long i = 0; i < s->nsaving; i++)
            dirty_add(s, s->saving[i].pub, s->saving[i].seq);
    }
    s->saving = s->dirty;
    s->capsaving = s->capdirty;
    s->nsaving = s->ndirty;
    s->dirty = t;
    s->capdirty = tc;
    s->ndirty = 0;
    s->save_open = 1;
    s->r->broker_saves++;
}

static void
broker_killed(state *s, int pos)
{
    for (long i = 0; i < s->ndirty; i++)
        add_ev(s, get_msg(s, s->dirty[i].pub, s->dirty[i].seq), pos, E_LOST,
               0, 0, -1);
    for (long i = 0; i < s->nsaving; i++)
        add_ev(s, get_msg(s, s->saving[i].pub, s->saving[i].seq), pos,
               E_LOST, 0, 0, -1);
    s->ndirty = s->nsaving = 0;
    s->save_open = 0;
    posv_add(s, &s->broker_kills, pos, 0);
    s->r->broker_kills++;
    s->epoch_start = pos;
    s->epoch_nosub = s->epoch_subscribed = 0;
}

/* A SUBSCRIBE ends a window without subscriptions that began at the start
 * of the broker's run. */
static void
subscribed(state *s, int pos)
{
    if (s->epoch_nosub && !s->epoch_subscribed)
        posv_add(s, &s->nosub, s->epoch_start, pos);
    s->epoch_subscribed = 1;
}

static void
broker_line(state *s, char *line, int pos)
{
    char id[128], topic[256];
    int d, q, rr, mid, inc, pub, sub, rc;
    long seq;
    char *body = line;
    msg *m;

    /* mosquitto lines start with a timestamp "HH:MM:SS: " */
    if (line[0] >= '0' && line[0] <= '9') {
        char *c = strstr(line, ": ");
        if (c != NULL)
            body = c + 2;
    }
    if (strncmp(line, "=== ", 4) == 0) {
        if (strstr(line, "[mqt-harness] killed (SIGKILL)") != NULL) {
            broker_killed(s, pos);
        } else if (strstr(line, "[mqt-harness] stopped") != NULL) {
            s->ndirty = s->nsaving = 0; /* a clean exit saves everything */
            s->save_open = 0;
        } else if (sscanf(line, "=== [chaos] start %127s %d", id, &inc) == 2) {
            if ((pub = find_pub_id(s, id)) >= 0 && inc > s->max_inc[pub])
                s->max_inc[pub] = inc;
        } else if (sscanf(line, "=== [chaos] kill %127s %d", id, &inc) == 2) {
            if ((pub = find_pub_id(s, id)) >= 0)
                posv_add(s, &s->pub_kills[pub], pos, inc);
            if ((sub = find_sub_id(s, id)) >= 0)
                posv_add(s, &s->sub_kills[sub], pos, inc);
        }
        return;
    }
    if (s->save_open) {
        /* the broker logged something after "Saving": the save completed */
        s->save_open = 0;
        s->nsaving = 0;
    }
    if (strncmp(body, "Saving in-memory database", 25) == 0) {
        save_start(s);
        return;
    }
    if (sscanf(body, "New client connected from %*s as %127s", id) == 1) {
        if ((sub = find_sub_id(s, id)) >= 0)
            posv_add(s, &s->sub_conns[sub], pos, 0);
        return;
    }
    if (strncmp(body, "Received SUBSCRIBE from ", 24) == 0) {
        subscribed(s, pos);
        return;
    }
    if (strstr(body, " disconnected due to malformed packet") != NULL &&
        sscanf(body, "Client %127s disconnected", id) == 1) {
        if ((pub = find_pub_id(s, id)) >= 0)
            s->r->pub[pub].malformed++;
        return;
    }
    if (strncmp(body, "Outgoing messages are being dropped", 35) == 0) {
        s->r->broker_drops++;
        return;
    }
    if (sscanf(body, "Received PUBLISH from %127s (d%d, q%d, r%d, m%d, '%255[^']'",
               id, &d, &q, &rr, &mid, topic) == 6) {
        int alien, client = find_pub_id(s, id);
        ev *e;
        if (client < 0)
            return;
        if (parse_topic(s, topic, &pub, &seq) != 0 || pub != client) {
            /* not one of its messages: a library that built a PUBLISH
             * from something else (tests/chaos/README.md, Paho C) */
            s->r->pub[client].foreign++;
            return;
        }
        alien = q != cc_qos(seq);
        if (mid >= 0 && mid < NMID) {
            /* a DUP PUBLISH re-delivers an earlier attempt of the same
             * message (MQTT 3.1.1 3.3.1.1); with a packet id that the
             * same process sent with another message, it is not one */
            long prev = s->pub_mid[pub][mid];
            if (d && prev >= 0 && prev != seq &&
                !posv_between(&s->pub_kills[pub], s->pub_mid_pos[pub][mid],
                              pos))
                alien = 1;
            s->pub_mid[pub][mid] = seq;
            s->pub_mid_pos[pub][mid] = pos;
        }
        e = add_ev(s, get_msg(s, pub, seq), pos, E_IN, 0, d, logged_len(body));
        if (e != NULL)
            e->alien = (unsigned char)alien;
        return;
    }
    if (sscanf(body, "Sending PUBLISH to %127s (d%d, q%d, r%d, m%d, '%255[^']'",
               id, &d, &q, &rr, &mid, topic) == 6) {
        if ((sub = find_sub_id(s, id)) < 0 || parse_topic(s, topic, &pub, &seq))
            return;
        add_ev(s, get_msg(s, pub, seq), pos, E_SEND, sub, d, logged_len(body));
        if (mid >= 0 && mid < NMID) {
            smid *o = &s->sub_mid[sub][mid];
            if (d == 0 && o->pub >= 0 && o->qos == 2 && !o->acked &&
                (o->pub != pub || o->seq != seq) &&
                posv_between(&s->broker_kills, o->pos, pos))
                add_ev(s, get_msg(s, pub, seq), pos, E_REUSED, sub, 0, -1);
            *o = (smid){pub, seq, pos, q, 0};
        }
        return;
    }
    rc = 0;
    if (sscanf(body, "Sending PUBACK to %127s (m%d, rc%d", id, &mid, &rc) >= 2 ||
        sscanf(body, "Sending PUBREC to %127s (m%d, rc%d", id, &mid, &rc) >= 2 ||
        sscanf(body, "Sending PUBCOMP to %127s (m%d", id, &mid) == 2) {
        if ((pub = find_pub_id(s, id)) < 0 || mid < 0 || mid >= NMID ||
            s->pub_mid[pub][mid] < 0)
            return;
        seq = s->pub_mid[pub][mid];
        m = get_msg(s, pub, seq);
        add_ev(s, m, pos, E_ACK, 0,
               rc >= 0x80 ? ACK_ERROR : rc == 0x10 ? ACK_NOSUB : ACK_OK, -1);
        if (rc == 0x10 && !s->epoch_subscribed)
            s->epoch_nosub = 1;
        dirty_add(s, pub, seq);
        return;
    }
    if (sscanf(body, "Received PUBREL from %127s (Mid: %d", id, &mid) == 2) {
        if ((pub = find_pub_id(s, id)) < 0 || mid < 0 || mid >= NMID ||
            s->pub_mid[pub][mid] < 0)
            return;
        add_ev(s, get_msg(s, pub, s->pub_mid[pub][mid]), pos, E_REL, 0, 0, -1);
        return;
    }
    if (sscanf(body, "Received PUBACK from %127s (Mid: %d", id, &mid) == 2 ||
        sscanf(body, "Received PUBREC from %127s (Mid: %d", id, &mid) == 2) {
        if ((sub = find_sub_id(s, id)) < 0 || mid < 0 || mid >= NMID ||
            s->sub_mid[sub][mid].pub < 0)
            return;
        s->sub_mid[sub][mid].acked = 1;
        add_ev(s, get_msg(s, s->sub_mid[sub][mid].pub, s->sub_mid[sub][mid].seq),
               pos, E_SACK, sub, 0, -1);
    }
}

static FILE *
open_log(const char *path)
{
    FILE *f = fopen(path, "r");

    if (f == NULL)
        fprintf(stderr, "verdict: cannot read %s\n", path);
    return f;
}

static int
read_broker(state *s)
{
    FILE *f = open_log(s->cfg->broker_log);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int pos = 0;

    if (f == NULL)
        return -1;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[n - 1] = '\0';
        broker_line(s, line, ++pos);
    }
    free(line);
    fclose(f);
    s->r->broker_lines = pos;
    return 0;
}

static int
read_accepts(state *s, int pub)
{
    FILE *f = open_log(s->cfg->pubs[pub].alog);
    char line[256];

    if (f == NULL)
        return -1;
    s->r->pub[pub].left = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        int inc, tok, err, reason, q;
        long seq, left;
        msg *m;
        if (sscanf(line, "# drained %d %ld", &inc, &left) == 2) {
            s->r->pub[pub].left = left;
        } else if (sscanf(line, "A %d %ld %d", &inc, &seq, &q) == 3) {
            if ((m = get_msg(s, pub, seq)) != NULL) {
                m->accepted = 1;
                m->acc_inc = inc;
            }
        } else if (sscanf(line, "E %d %ld %d %d %d", &inc, &seq, &tok, &err,
                          &reason) == 5) {
            if ((m = get_msg(s, pub, seq)) != NULL)
                m->reported = 1;
        }
    }
    fclose(f);
    return 0;
}

/* Line of the first event of @p type on @p m (for E_SEND: to subscriber
 * @p who), 0 if none. */
static int
first(const msg *m, int type, int who)
{
    for (int i = 0; i < m->nev; i++)
        if (m->evs[i].type == type &&
            (type != E_SEND || m->evs[i].who == who))
            return m->evs[i].pos;
    return 0;
}

/* @p late was taken first by subscriber @p sub after @p early (a later
 * seq): whose order? */
static int
classify_order(const msg *late, const msg *early, int qos, int sub)
{
    int at = qos == 2 ? E_REL : E_IN;
    int a_late = first(late, at, 0), a_early = first(early, at, 0);
    int s_late = first(late, E_SEND, sub), s_early = first(early, E_SEND, sub);

    if (a_late > 0 && a_early > 0 && a_late > a_early)
        return CV_ORD_PUB;
    if (s_late > 0 && s_early > 0 && s_late > s_early)
        return CV_ORD_BROKER;
    return CV_ORD_SUB;
}

/* @p len is a payload length publisher @p pub could have sent as message
 * @p seq (cc_message() in any of its incarnations); 1 when the run's
 * largest payload is not known. */
static int
plausible_len(const state *s, int pub, long seq, const msg *m, long len)
{
    int last = s->max_inc[pub] > m->acc_inc ? s->max_inc[pub] : m->acc_inc;

    if (s->cfg->max_size <= 0)
        return 1;
    for (int inc = 1; inc <= last || inc == 1; inc++)
        if ((long)cc_payload_len(s->cfg->pubs[pub].name, seq, inc,
                                 s->cfg->max_size) == len)
            return 1;
    return 0;
}

/* Subscriber @p sub took message @p seq with a payload of @p len bytes
 * (-1 unknown) that does not match its topic: whose? (verdict.h) */
static int
classify_corrupt(const state *s, int pub, long seq, const msg *m, int sub,
                 long len)
{
    int sent = 0, sent_len = 0, in = 0, in_len = 0, alien = 0;

    if (len < 0)
        return CV_CORR_UNEXPL;
    for (int i = 0; i < m->nev; i++) {
        const ev *e = &m->evs[i];
        if (e->type == E_SEND && e->who == sub) {
            sent = 1;
            sent_len |= e->len == len;
        } else if (e->type == E_IN) {
            in = 1;
            in_len |= e->len == len;
            alien |= e->len == len && e->alien;
        }
    }
    if (sent && !sent_len)
        return CV_CORR_SUB;
    if (sent_len && in_len && (alien || !plausible_len(s, pub, seq, m, len)))
        return CV_CORR_PUB;
    if (sent_len && in && !in_len)
        return CV_CORR_BROKER;
    return CV_CORR_UNEXPL;
}

static void
note_corrupt(cv_pub_result *pr, long seq, int sub, int kind, long len,
             const char *prefix)
{
    cv_corrupt *c;

    if (pr->nfirst_corrupt >= CV_FIRST)
        return;
    c = &pr->first_corrupt[pr->nfirst_corrupt++];
    c->seq = seq;
    c->sub = sub;
    c->kind = kind;
    c->len = len;
    snprintf(c->prefix, sizeof c->prefix, "%s", prefix);
}

static int
read_receives(state *s, int sub)
{
    FILE *f = open_log(s->cfg->subs[sub].rlog);
    char line[1024], topic[256], prefix[4 * CC_LOG_PREFIX + 1];
    long maxseq[CV_MAX_PUBS][3];

    if (f == NULL)
        return -1;
    for (int p = 0; p < CV_MAX_PUBS; p++)
        maxseq[p][0] = maxseq[p][1] = maxseq[p][2] = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        int inc, q, d, ok, pub, n;
        long seq, len = -1;
        msg *m;
        /* LEN and PREFIX are missing in logs from before they were added */
        _Static_assert(sizeof prefix == 193, "the %192s below");
        snprintf(prefix, sizeof prefix, "?");
        if ((n = sscanf(line, "R %d %d %d %255s %d %ld %192s", &inc, &q, &d,
                        topic, &ok, &len, prefix)) < 5 ||
            parse_topic(s, topic, &pub, &seq) != 0 ||
            (m = get_msg(s, pub, seq)) == NULL)
            continue;
        if (n < 6)
            len = -1;
        s->r->sub_received[sub]++;
        if (!ok) {
            int k = classify_corrupt(s, pub, seq, m, sub, len);
            if (k + 1 > m->corrupt)
                m->corrupt = (unsigned char)(k + 1);
            note_corrupt(&s->r->pub[pub], seq, sub, k, len, prefix);
        }
        if (m->nrecv < 2) {
            m->recv_sub[m->nrecv] = sub;
            m->recv_inc[m->nrecv] = inc;
        }
        if (m->nrecv++ == 0) {
            int pq = (seq & 1) ? 2 : 1;
            if (seq < maxseq[pub][pq]) {
                const msg *e = get_msg(s, pub, maxseq[pub][pq]);
                s->r->pub[pub].reordered++;
                s->r->pub[pub].reord[classify_order(m, e, pq, sub)]++;
            } else {
                maxseq[pub][pq] = seq;
            }
        }
    }
    fclose(f);
    return 0;
}

static int
has(const msg *m, int type)
{
    for (int i = 0; i < m->nev; i++)
        if (m->evs[i].type == type)
            return 1;
    return 0;
}

static int
classify_missing(const state *s, int pub, long seq, const msg *m)
{
    const cv_pub *p = &s->cfg->pubs[pub];
    int q2 = (seq & 1) != 0;

    if (m->reported)
        return CV_MISS_REPORTED;
    for (int i = 0; i < m->nev; i++)
        if (m->evs[i].type == E_ACK && m->evs[i].dup != ACK_OK)
            return m->evs[i].dup == ACK_ERROR ? CV_MISS_BROKER_REFUSED
                                              : CV_MISS_BROKER_NOSUB;
    if (has(m, E_LOST))
        return CV_MISS_BROKER_KILL;
    if (has(m, E_REUSED))
        return CV_MISS_BROKER_REUSED;
    for (int i = 0; i < m->nev; i++) {
        const ev *e = &m->evs[i];
        if (e->type == E_SACK &&
            posv_between(&s->sub_kills[e->who],
                         last_before(&s->sub_conns[e->who], e->pos),
                         1 << 30))
            return CV_MISS_SUB_WINDOW;
    }
    if (!has(m, E_IN) || (q2 && !has(m, E_REL))) {
        if (!p->persistent && posv_has_inc(&s->pub_kills[pub], m->acc_inc))
            return CV_MISS_NO_PERSIST;
        return CV_MISS_UNEXPL_PUB;
    }
    if (!has(m, E_SEND)) {
        /* a QoS 2 message is routed at its PUBREL, and PUBREC carries no
         * "no matching subscribers": released while the broker had no
         * subscription (its QoS 1 acks said 0x10) */
        int rel = first(m, E_REL, 0);
        for (int i = 0; q2 && i < s->nosub.n; i++)
            if (rel > s->nosub.pos[i] && rel < s->nosub.inc[i])
                return CV_MISS_BROKER_NOSUB;
        return s->r->broker_drops > 0 ? CV_MISS_BROKER_DROP
                                      : CV_MISS_UNEXPL_BROKER;
    }
    return CV_MISS_UNEXPL_SUB;
}

static int
classify_dup(const state *s, const msg *m)
{
    int first_new = -1, second_new = -1;

    /* the broker sent it again after the subscriber's PUBREC */
    for (int i = 0; i < m->nev; i++) {
        if (m->evs[i].type != E_SACK)
            continue;
        for (int j = i + 1; j < m->nev; j++)
            if (m->evs[j].type == E_SEND && m->evs[j].who == m->evs[i].who &&
                m->evs[j].pos > m->evs[i].pos)
                return CV_DUP_BROKER_RESEND;
    }
    /* two fresh copies in the broker */
    for (int i = 0; i < m->nev; i++) {
        if (m->evs[i].type != E_SEND || m->evs[i].dup)
            continue;
        if (first_new < 0)
            first_new = m->evs[i].pos;
        else if (second_new < 0)
            second_new = m->evs[i].pos;
    }
    if (second_new >= 0)
        return posv_between(&s->broker_kills, first_new, second_new)
                   ? CV_DUP_BROKER_SESSION : CV_DUP_UNEXPL_PUB;
    if (m->recv_sub[0] == m->recv_sub[1] && m->recv_inc[0] != m->recv_inc[1])
        return CV_DUP_SUB_RESTART;
    return CV_DUP_UNEXPL_SUB;
}

static void
note_unexpl(cv_pub_result *pr, long seq)
{
    if (pr->nfirst_unexpl < CV_FIRST)
        pr->first_unexpl[pr->nfirst_unexpl++] = seq;
}

static void
tally(state *s)
{
    for (int p = 0; p < s->cfg->npubs; p++) {
        cv_pub_result *pr = &s->r->pub[p];
        pr->kills = s->pub_kills[p].n;
        for (long seq = 0; seq < s->nm[p]; seq++) {
            const msg *m = &s->m[p][seq];
            if (m->corrupt) {
                pr->corrupt++;
                pr->corr[m->corrupt - 1]++;
            }
            if (!m->accepted) {
                if (m->nrecv > 0)
                    pr->unaccepted_received++;
                continue;
            }
            pr->accepted++;
            if (m->nrecv == 0) {
                int k = classify_missing(s, p, seq, m);
                pr->missing++;
                pr->miss[k]++;
                if (k >= CV_MISS_UNEXPL_PUB)
                    note_unexpl(pr, seq);
                continue;
            }
            pr->received++;
            if (m->nrecv > 1 && (seq & 1)) {
                int k = classify_dup(s, m);
                pr->qos2_dups++;
                pr->dup[k]++;
                if (k >= CV_DUP_UNEXPL_PUB)
                    note_unexpl(pr, seq);
            } else if (m->nrecv > 1) {
                pr->qos1_dups++;
            }
        }
    }
    for (int i = 0; i < s->cfg->nsubs; i++)
        s->r->sub_kills[i] = s->sub_kills[i].n;
}

static void
free_state(state *s)
{
    for (int p = 0; p < CV_MAX_PUBS; p++) {
        for (long i = 0; i < s->nm[p]; i++)
            free(s->m[p][i].evs);
        free(s->m[p]);
        free(s->pub_mid[p]);
        free(s->pub_mid_pos[p]);
        free(s->pub_kills[p].pos);
        free(s->pub_kills[p].inc);
    }
    for (int i = 0; i < CV_MAX_SUBS; i++) {
        free(s->sub_mid[i]);
        free(s->sub_kills[i].pos);
        free(s->sub_kills[i].inc);
        free(s->sub_conns[i].pos);
        free(s->sub_conns[i].inc);
    }
    free(s->nosub.pos);
    free(s->nosub.inc);
    free(s->broker_kills.pos);
    free(s->broker_kills.inc);
    free(s->dirty);
    free(s->saving);
}

int
cv_analyze(const cv_config *cfg, cv_result *r)
{
    state s;
    int rc = 0;

    memset(&s, 0, sizeof s);
    memset(r, 0, sizeof *r);
    s.cfg = cfg;
    s.r = r;
    if (cfg->npubs > CV_MAX_PUBS || cfg->nsubs > CV_MAX_SUBS)
        return -1;
    for (int p = 0; p < cfg->npubs; p++) {
        s.pub_mid[p] = malloc(NMID * sizeof *s.pub_mid[p]);
        s.pub_mid_pos[p] = calloc(NMID, sizeof *s.pub_mid_pos[p]);
        if (s.pub_mid[p] == NULL || s.pub_mid_pos[p] == NULL)
            s.oom = 1;
        else
            for (int i = 0; i < NMID; i++)
                s.pub_mid[p][i] = -1;
    }
    for (int i = 0; i < cfg->nsubs; i++) {
        s.sub_mid[i] = malloc(NMID * sizeof *s.sub_mid[i]);
        if (s.sub_mid[i] == NULL)
            s.oom = 1;
        else
            for (int j = 0; j < NMID; j++)
                s.sub_mid[i][j] = (smid){-1, -1, 0, 0, 0};
    }
    if (!s.oom && read_broker(&s) != 0)
        rc = -1;
    for (int p = 0; rc == 0 && p < cfg->npubs; p++)
        if (read_accepts(&s, p) != 0)
            rc = -1;
    for (int i = 0; rc == 0 && i < cfg->nsubs; i++)
        if (read_receives(&s, i) != 0)
            rc = -1;
    if (rc == 0 && !s.oom)
        tally(&s);
    if (s.oom) {
        fprintf(stderr, "verdict: out of memory\n");
        rc = -1;
    }
    free_state(&s);
    return rc;
}

static const char *const miss_names[CV_MISS_KINDS] = {
    "reported", "broker_refused", "broker_nosub", "broker_kill",
    "broker_reused", "broker_drop", "sub_window", "no_persist",
    "unexpl_pub", "unexpl_broker", "unexpl_sub"};
static const char *const dup_names[CV_DUP_KINDS] = {
    "broker_session", "broker_resend", "sub_restart", "unexpl_pub",
    "unexpl_sub"};
static const char *const corr_names[CV_CORR_KINDS] = {
    "by publisher", "by broker", "by subscriber", "unexplained"};

void
cv_print(const cv_config *cfg, const cv_result *r, FILE *out, int md)
{
    const char *sep = md ? " | " : "  ";
    int w = md ? 0 : 14;

    if (md)
        fprintf(out, "| count");
    else
        fprintf(out, "%-*s", 16, "count");
    for (int p = 0; p < cfg->npubs; p++)
        fprintf(out, "%s%*s", sep, w, cfg->pubs[p].name);
    fprintf(out, "%s\n", md ? " |" : "");
    if (md) {
        fprintf(out, "|---");
        for (int p = 0; p < cfg->npubs; p++)
            fprintf(out, "|--:");
        fprintf(out, "|\n");
    }
#define ROW(label, expr)                                                  \
    do {                                                                  \
        if (md)                                                           \
            fprintf(out, "| %s", label);                                  \
        else                                                              \
            fprintf(out, "%-16s", label);                                 \
        for (int p = 0; p < cfg->npubs; p++) {                            \
            const cv_pub_result *pr = &r->pub[p];                         \
            (void)pr;                                                     \
            fprintf(out, "%s%*ld", sep, w, (long)(expr));                 \
        }                                                                 \
        fprintf(out, "%s\n", md ? " |" : "");                             \
    } while (0)
    if (md)
        fprintf(out, "| library");
    else
        fprintf(out, "%-16s", "library");
    for (int p = 0; p < cfg->npubs; p++)
        fprintf(out, "%s%*s", sep, w, cfg->pubs[p].lib);
    fprintf(out, "%s\n", md ? " |" : "");
    ROW("publisher kills", pr->kills);
    ROW("accepted", pr->accepted);
    ROW("left incomplete", pr->left);
    ROW("received", pr->received);
    ROW("missing", pr->missing);
    for (int k = 0; k < CV_MISS_KINDS; k++) {
        char label[40];
        snprintf(label, sizeof label, "  %s", miss_names[k]);
        ROW(label, pr->miss[k]);
    }
    ROW("qos2 duplicates", pr->qos2_dups);
    for (int k = 0; k < CV_DUP_KINDS; k++) {
        char label[40];
        snprintf(label, sizeof label, "  %s", dup_names[k]);
        ROW(label, pr->dup[k]);
    }
    ROW("qos1 duplicates", pr->qos1_dups);
    ROW("reordered", pr->reordered);
    ROW("  by publisher", pr->reord[CV_ORD_PUB]);
    ROW("  by broker", pr->reord[CV_ORD_BROKER]);
    ROW("  by subscriber", pr->reord[CV_ORD_SUB]);
    ROW("recv unaccepted", pr->unaccepted_received);
    ROW("foreign PUBLISH", pr->foreign);
    ROW("malformed", pr->malformed);
    ROW("corrupt", pr->corrupt);
    for (int k = 0; k < CV_CORR_KINDS; k++) {
        char label[40];
        snprintf(label, sizeof label, "  %s", corr_names[k]);
        ROW(label, pr->corr[k]);
    }
#undef ROW
    fprintf(out, "%sbroker: %ld kills, %ld saves, %ld drop notices, %ld log "
                 "lines; subscribers:",
            md ? "\n" : "", r->broker_kills, r->broker_saves, r->broker_drops,
            r->broker_lines);
    for (int i = 0; i < cfg->nsubs; i++)
        fprintf(out, " %s took %ld (%ld kills)%s", cfg->subs[i].client_id,
                r->sub_received[i], r->sub_kills[i],
                i + 1 < cfg->nsubs ? "," : "");
    fprintf(out, "\n");
    for (int p = 0; p < cfg->npubs; p++) {
        const cv_pub_result *pr = &r->pub[p];
        if (pr->nfirst_unexpl == 0)
            continue;
        fprintf(out, "%sunexplained (%s): seq", md ? "\n" : "",
                cfg->pubs[p].name);
        for (int i = 0; i < pr->nfirst_unexpl; i++)
            fprintf(out, " %ld", pr->first_unexpl[i]);
        fprintf(out, "\n");
    }
    for (int p = 0; p < cfg->npubs; p++) {
        const cv_pub_result *pr = &r->pub[p];
        for (int i = 0; i < pr->nfirst_corrupt; i++) {
            const cv_corrupt *c = &pr->first_corrupt[i];
            fprintf(out, "%scorrupt (%s, %s): chaos/%s/%ld taken by %s, %ld "
                         "bytes, starting %s\n",
                    md ? "\n" : "", cfg->pubs[p].name, corr_names[c->kind],
                    cfg->pubs[p].name, c->seq, cfg->subs[c->sub].client_id,
                    c->len, c->prefix);
        }
    }
}

long
cv_libmq_failures(const cv_config *cfg, const cv_result *r)
{
    long n = 0;

    for (int p = 0; p < cfg->npubs; p++) {
        const cv_pub_result *pr = &r->pub[p];
        int libmq = strcmp(cfg->pubs[p].lib, "libmq") == 0;
        n += pr->corr[CV_CORR_SUB] + pr->corr[CV_CORR_UNEXPL] +
             pr->miss[CV_MISS_UNEXPL_SUB] + pr->dup[CV_DUP_UNEXPL_SUB] +
             pr->reord[CV_ORD_SUB];
        if (libmq)
            n += pr->corr[CV_CORR_PUB] + pr->miss[CV_MISS_UNEXPL_PUB] +
                 pr->dup[CV_DUP_UNEXPL_PUB] + pr->reord[CV_ORD_PUB];
    }
    return n;
}
