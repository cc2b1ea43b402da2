/*
 * store_crash.c - kill -9 torture test for the persistence store (store.c).
 *
 * Each iteration forks a child that opens the store, recovers it, and then
 * adds messages as fast as it can (main thread) while a second thread acks
 * them (removes) or moves them to PUBREL (updates) and calls tick; the
 * store compacts itself again and again. After each call returns, the
 * child reports it on a pipe. The parent kills the child with SIGKILL at a
 * random moment, reopens the store and checks:
 *   - every add the child reported is present, unless it was removed;
 *   - every remove the child reported is absent;
 *   - every reported PUBREL update is present in the record;
 *   - records come back in increasing seq order with intact contents;
 *   - at most one unreported add and one unreported remove (the calls in
 *     flight when the child died) explain any difference.
 * Sync policies rotate per iteration. A plain main(), no Criterion.
 *
 * Usage: store_crash [iterations [seed [dir]]]   (default 300, time, tmp)
 * Exit status 0 when every iteration passed.
 *
 * Threading: the parent is single-threaded; the child runs two threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "mq.h"
#include "store.h"

#define CLIENT_ID "crash/client \xc3\xa9"

/* One report on the pipe: fixed size, well under PIPE_BUF, so writes from
 * two threads never interleave. */
typedef struct report {
    uint8_t type; /* 'A' add, 'R' remove, 'U' update to PUBREL, 'C' compacted */
    uint8_t pad[1];
    uint16_t pid;
    uint32_t len;
    uint64_t seq;
    uint64_t nonce;
} report;

/* ---- deterministic message contents --------------------------------- */

static uint64_t
xs(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static size_t
len_of(uint64_t nonce)
{
    uint64_t k = nonce % 1000;
    if (k < 5)
        return 200000 + (size_t)(nonce >> 20) % 300000; /* big: torn writes */
    if (k < 50)
        return 0;
    return (size_t)((nonce >> 10) % 3000);
}

static void
gen_payload(uint8_t *p, size_t n, uint64_t nonce)
{
    uint64_t s = nonce | 1;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = xs(&s);
        size_t k = n - i < 8 ? n - i : 8;
        memcpy(p + i, &v, k);
    }
}

static uint8_t
qos_of(uint64_t nonce)
{
    return (uint8_t)(1 + (nonce >> 3) % 2);
}

/* ---- the child ------------------------------------------------------- */

#define LIST_MAX 4096

typedef struct child {
    mqi_store *s;
    int wfd;
    pthread_mutex_t mx;
    uint64_t list[LIST_MAX];
    uint8_t updated[LIST_MAX];
    size_t head, n;
    uint64_t rng;
    uint64_t ack_rng; /* the acker's own seed, set before it starts */
} child;

static void
send_report(int fd, const report *r)
{
    ssize_t w;
    do
        w = write(fd, r, sizeof *r);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof *r)
        _exit(3);
}

static void
push(child *c, uint64_t seq, uint8_t upd)
{
    pthread_mutex_lock(&c->mx);
    while (c->n == LIST_MAX) {
        pthread_mutex_unlock(&c->mx);
        usleep(50);
        pthread_mutex_lock(&c->mx);
    }
    size_t i = (c->head + c->n) % LIST_MAX;
    c->list[i] = seq;
    c->updated[i] = upd;
    c->n++;
    pthread_mutex_unlock(&c->mx);
}

static bool
pop(child *c, uint64_t *seq, uint8_t *upd, size_t *left)
{
    bool ok = false;
    pthread_mutex_lock(&c->mx);
    *left = c->n;
    if (c->n > 0) {
        *seq = c->list[c->head];
        *upd = c->updated[c->head];
        c->head = (c->head + 1) % LIST_MAX;
        c->n--;
        ok = true;
    }
    pthread_mutex_unlock(&c->mx);
    return ok;
}

static void *
acker(void *arg)
{
    child *c = arg;
    uint64_t rng = c->ack_rng;
    struct timespec ts;

    for (;;) {
        uint64_t seq, last_size = mqi_store_file_size(c->s);
        uint8_t upd;
        size_t left;
        report r = {0};

        if (!pop(c, &seq, &upd, &left)) {
            sched_yield();
            continue;
        }
        uint64_t x = xs(&rng) % 100;
        if (x < 65 || left > LIST_MAX / 2) {
            if (mqi_store_remove(c->s, seq) != MQ_OK)
                _exit(4);
            r.type = 'R';
            r.seq = seq;
            send_report(c->wfd, &r);
        } else if (x < 85 && !upd) {
            uint16_t pid = (uint16_t)(1 + xs(&rng) % 65535);
            if (mqi_store_update(c->s, seq, MQI_ST_PUBREL, pid) != MQ_OK)
                _exit(5);
            r.type = 'U';
            r.seq = seq;
            r.pid = pid;
            send_report(c->wfd, &r);
            push(c, seq, 1);
        } else {
            push(c, seq, upd); /* not acked yet */
        }
        if (mqi_store_file_size(c->s) < last_size) {
            memset(&r, 0, sizeof r);
            r.type = 'C';
            send_report(c->wfd, &r);
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        mqi_store_tick(c->s, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    }
    return NULL;
}

/* Never blocks (the acker runs only after recovery): a message that does
 * not fit in the list stays in the store for a later child. */
static int
child_recovered(void *ud, const mqi_store_rec *r)
{
    child *c = ud;

    if (c->n < LIST_MAX)
        push(c, r->seq, r->state == MQI_ST_PUBREL);
    return 0;
}

static void
child_main(const char *dir, int policy, int wfd, uint64_t seed)
{
    static child c;
    pthread_t th;
    uint8_t *buf = malloc(600000);
    char err[256];
    size_t bad;

    c.wfd = wfd;
    c.rng = seed | 1;
    pthread_mutex_init(&c.mx, NULL);
    if (buf == NULL ||
        mqi_store_open(dir, CLIENT_ID, policy, &c.s, err, sizeof err) != MQ_OK) {
        fprintf(stderr, "child: open failed: %s\n", err);
        _exit(2);
    }
    if (mqi_store_recover(c.s, child_recovered, &c, &bad) != MQ_OK)
        _exit(2);
    c.ack_rng = c.rng ^ 0x5555;
    if (pthread_create(&th, NULL, acker, &c) != 0)
        _exit(2);
    for (;;) {
        uint64_t nonce = xs(&c.rng), seq;
        size_t len = len_of(nonce);
        char topic[40];
        mqi_store_rec r = {0};
        report rp = {0};

        snprintf(topic, sizeof topic, "c/%016" PRIx64, nonce);
        gen_payload(buf, len, nonce);
        r.qos = qos_of(nonce);
        r.topic = topic;
        r.topic_len = strlen(topic);
        r.payload = buf;
        r.payload_len = len;
        if (mqi_store_add(c.s, &r, &seq) != MQ_OK)
            _exit(6);
        rp.type = 'A';
        rp.seq = seq;
        rp.nonce = nonce;
        rp.len = (uint32_t)len;
        send_report(wfd, &rp);
        push(&c, seq, 0);
    }
}

/* ---- the parent's model ------------------------------------------------ */

typedef struct mrec {
    uint64_t seq, nonce;
    uint8_t state; /* as reported */
    uint16_t pid;
    bool removed;
    bool seen;
} mrec;

typedef struct model {
    mrec *v;
    size_t n, cap;
} model;

static mrec *
m_find(model *m, uint64_t seq)
{
    /* Sorted by seq (adds arrive in increasing order). */
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->v[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n && m->v[lo].seq == seq ? &m->v[lo] : NULL;
}

static void
m_append(model *m, const mrec *r)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->v = realloc(m->v, m->cap * sizeof *m->v);
        if (m->v == NULL)
            abort();
    }
    m->v[m->n++] = *r;
}

typedef struct check {
    model *m;
    model next;
    uint8_t *buf;
    int unreported_adds;
    uint64_t last_seq;
    const char *fail;
    uint64_t fail_seq;
} check;

static int
check_rec(void *ud, const mqi_store_rec *r)
{
    check *k = ud;
    char topic[40];
    uint64_t nonce;
    mrec *e, nr = {0};

#define FAIL(msg)                                                         \
    do {                                                                  \
        k->fail = msg;                                                    \
        k->fail_seq = r->seq;                                             \
        return 1;                                                         \
    } while (0)

    if (r->seq <= k->last_seq)
        FAIL("records out of order");
    k->last_seq = r->seq;
    if (r->topic_len != 18 || memcmp(r->topic, "c/", 2) != 0)
        FAIL("bad topic");
    memcpy(topic, r->topic, 18);
    topic[18] = 0;
    nonce = strtoull(topic + 2, NULL, 16);
    if (r->payload_len != len_of(nonce) || r->qos != qos_of(nonce) ||
        r->retain != 0 || r->props_len != 0 || r->state > MQI_ST_PUBREL)
        FAIL("bad fields");
    gen_payload(k->buf, r->payload_len, nonce);
    if (memcmp(k->buf, r->payload, r->payload_len) != 0)
        FAIL("bad payload");
    e = m_find(k->m, r->seq);
    if (e != NULL) {
        if (e->removed)
            FAIL("a removed message came back");
        if (e->nonce != nonce)
            FAIL("seq holds another message");
        if (e->state == MQI_ST_PUBREL &&
            (r->state != MQI_ST_PUBREL || r->packet_id != e->pid))
            FAIL("reported PUBREL update lost");
        e->seen = true;
    } else {
        k->unreported_adds++;
    }
    nr.seq = r->seq;
    nr.nonce = nonce;
    nr.state = r->state;
    nr.pid = r->packet_id;
    m_append(&k->next, &nr);
    return 0;
#undef FAIL
}

static int
count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".tmp") == 0)
            n++;
    }
    closedir(d);
    return n;
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
handle(model *m, const report *r, long *compactions, const char **err)
{
    mrec *e;
    mrec nr = {0};

    switch (r->type) {
    case 'A':
        if (m->n > 0 && r->seq <= m->v[m->n - 1].seq) {
            *err = "child got a non-increasing seq";
            return;
        }
        nr.seq = r->seq;
        nr.nonce = r->nonce;
        m_append(m, &nr);
        break;
    case 'R':
    case 'U':
        e = m_find(m, r->seq);
        if (e == NULL || e->removed) {
            *err = "report for an unknown seq";
            return;
        }
        if (r->type == 'R') {
            e->removed = true;
        } else {
            e->state = MQI_ST_PUBREL;
            e->pid = r->pid;
        }
        break;
    case 'C':
        (*compactions)++;
        break;
    default:
        *err = "bad report";
    }
}

int
main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 300;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0)
                             : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    char tmpl[] = "/tmp/mqstore-crash-XXXXXX";
    const char *dir = argc > 3 ? argv[3] : NULL;
    model m = {0};
    uint8_t *buf = malloc(600000);
    long total_adds = 0, total_removes = 0, torn = 0, compactions = 0,
         tmp_left = 0, failures = 0;
    uint64_t bad_total = 0;
    uint64_t rng = seed | 1;

    signal(SIGPIPE, SIG_IGN);
    if (dir == NULL) {
        dir = mkdtemp(tmpl);
        if (dir == NULL) {
            perror("mkdtemp");
            return 2;
        }
    }
    printf("store_crash: %d iterations, seed %" PRIu64 ", dir %s\n",
           iterations, seed, dir);

    for (int it = 0; it < iterations; it++) {
        int policy = it % 3, fds[2];
        int64_t delay = (int64_t)(xs(&rng) % 120), start;
        uint64_t cseed = xs(&rng);
        const char *err = NULL;
        report r;
        size_t have = 0;
        pid_t pid;

        if (pipe(fds) != 0) {
            perror("pipe");
            return 2;
        }
        pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, policy, fds[1], cseed);
            _exit(0);
        }
        close(fds[1]);
        start = now_ms();
        /* Read reports until the chosen moment, then kill. */
        for (;;) {
            int64_t left = start + delay - now_ms();
            struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
            if (left <= 0)
                break;
            if (poll(&pfd, 1, (int)left) > 0) {
                ssize_t n = read(fds[0], (uint8_t *)&r + have, sizeof r - have);
                if (n <= 0)
                    break;
                have += (size_t)n;
                if (have == sizeof r) {
                    have = 0;
                    handle(&m, &r, &compactions, &err);
                    total_adds += r.type == 'A';
                    total_removes += r.type == 'R';
                }
            }
        }
        kill(pid, SIGKILL);
        for (;;) {
            ssize_t n = read(fds[0], (uint8_t *)&r + have, sizeof r - have);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            have += (size_t)n;
            if (have == sizeof r) {
                have = 0;
                handle(&m, &r, &compactions, &err);
                total_adds += r.type == 'A';
                total_removes += r.type == 'R';
            }
        }
        close(fds[0]);
        int st;
        waitpid(pid, &st, 0);
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
            printf("iteration %d: child exited by itself (status %d)\n", it,
                   st);
            failures++;
        }
        tmp_left += count_tmp(dir);

        /* Reopen and check against what the child reported. */
        mqi_store *s = NULL;
        char oerr[256];
        size_t bad = 0;
        check k = {.m = &m, .buf = buf};
        int rc = mqi_store_open(dir, CLIENT_ID, MQI_SYNC_NONE, &s, oerr,
                                sizeof oerr);
        if (rc != MQ_OK) {
            printf("iteration %d: open failed: %d %s\n", it, rc, oerr);
            return 1;
        }
        rc = mqi_store_recover(s, check_rec, &k, &bad);
        if (bad > 0) {
            torn++;
            bad_total += bad;
        }
        int missing = 0;
        for (size_t i = 0; i < m.n; i++)
            if (!m.v[i].removed && !m.v[i].seen)
                missing++;
        if (rc != MQ_OK || k.fail != NULL || err != NULL || missing > 1 ||
            k.unreported_adds > 1) {
            printf("iteration %d (policy %d, delay %" PRId64 " ms): FAIL: "
                   "rc %d, %s (seq %" PRIu64 "), %s, missing %d, "
                   "unreported adds %d\n",
                   it, policy, delay, rc, k.fail ? k.fail : "-", k.fail_seq,
                   err ? err : "-", missing, k.unreported_adds);
            failures++;
        }
        mqi_store_close(s);
        free(m.v);
        m = k.next; /* what is in the store now */
        if (it % 25 == 0 || it == iterations - 1)
            printf("iteration %d: live %zu, adds %ld, removes %ld, "
                   "compactions %ld, torn tails %ld (%" PRIu64 " bytes), "
                   "tmp files left by kills %ld\n",
                   it, m.n, total_adds, total_removes, compactions, torn,
                   bad_total, tmp_left);
        fflush(stdout);
    }
    printf("store_crash: %s (%ld failures)\n", failures ? "FAILED" : "OK",
           failures);
    if (argc <= 3) {
        /* Clean up our temporary directory. */
        DIR *d = opendir(dir);
        struct dirent *de;
        char p[512];
        while (d != NULL && (de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
        if (d != NULL)
            closedir(d);
        rmdir(dir);
    }
    free(m.v);
    free(buf);
    return failures ? 1 : 0;
}
