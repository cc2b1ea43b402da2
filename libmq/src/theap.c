/*
 * theap.c - binary min-heap of timer nodes (see theap.h).
 *
 * Threading: one heap per worker thread; no locks.
 */
#include <stdlib.h>

#include "mq.h"
#include "theap.h"

int
mqi_theap_reserve(mqi_theap *h, size_t n)
{
    mqi_theap_node **v;
    size_t cap = h->cap ? h->cap : 16;

    if (n <= h->cap)
        return MQ_OK;
    while (cap < n)
        cap *= 2;
    v = realloc(h->v, cap * sizeof *v);
    if (v == NULL)
        return MQ_ERR_NOMEM;
    h->v = v;
    h->cap = cap;
    return MQ_OK;
}

static void
place(mqi_theap *h, size_t i, mqi_theap_node *x)
{
    h->v[i] = x;
    x->idx = i + 1;
}

static void
sift_up(mqi_theap *h, size_t i)
{
    mqi_theap_node *x = h->v[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p]->when <= x->when)
            break;
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, x);
}

static void
sift_down(mqi_theap *h, size_t i)
{
    mqi_theap_node *x = h->v[i];

    for (;;) {
        size_t l = 2 * i + 1, m = i;
        int64_t mw = x->when;
        if (l < h->n && h->v[l]->when < mw) {
            m = l;
            mw = h->v[l]->when;
        }
        if (l + 1 < h->n && h->v[l + 1]->when < mw)
            m = l + 1;
        if (m == i)
            break;
        place(h, i, h->v[m]);
        i = m;
    }
    place(h, i, x);
}

int
mqi_theap_set(mqi_theap *h, mqi_theap_node *x, int64_t when)
{
    if (x->idx == 0) {
        if (h->n == h->cap && mqi_theap_reserve(h, h->n + 1) != MQ_OK)
            return MQ_ERR_NOMEM;
        x->when = when;
        place(h, h->n++, x);
        sift_up(h, h->n - 1);
        return MQ_OK;
    }
    if (when < x->when) {
        x->when = when;
        sift_up(h, x->idx - 1);
    } else if (when > x->when) {
        x->when = when;
        sift_down(h, x->idx - 1);
    }
    return MQ_OK;
}

void
mqi_theap_remove(mqi_theap *h, mqi_theap_node *x)
{
    size_t i;
    mqi_theap_node *last;

    if (x->idx == 0)
        return;
    i = x->idx - 1;
    x->idx = 0;
    last = h->v[--h->n];
    if (last == x)
        return; /* it was the last element */
    place(h, i, last);
    if (i > 0 && h->v[(i - 1) / 2]->when > last->when)
        sift_up(h, i);
    else
        sift_down(h, i);
}

mqi_theap_node *
mqi_theap_pop_due(mqi_theap *h, int64_t now)
{
    mqi_theap_node *x = mqi_theap_top(h);

    if (x == NULL || x->when > now)
        return NULL;
    mqi_theap_remove(h, x);
    return x;
}

void
mqi_theap_free(mqi_theap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
