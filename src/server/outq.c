#include "outq.h"

#include <stdlib.h>

#include "../base/mem.h"

void pd_outq_init(pd_outq_t *q)
{
    *q = (pd_outq_t){0};
}

void pd_outq_free(pd_outq_t *q)
{
    pd_outq_truncate(q, 0);
    free(q->items);
    *q = (pd_outq_t){0};
}

static void grow(pd_outq_t *q)
{
    uint32_t cap = q->cap ? q->cap * 2 : 4;
    pd_shared_t **items = pd_malloc(cap * sizeof(*items));
    for (uint32_t i = 0; i < q->count; i++)
        items[i] = q->items[(q->head + i) & (q->cap - 1)];
    free(q->items);
    q->items = items;
    q->cap = cap;
    q->head = 0;
}

void pd_outq_push(pd_outq_t *q, pd_shared_t *msg)
{
    if (q->count == q->cap)
        grow(q);
    q->items[(q->head + q->count) & (q->cap - 1)] = pd_shared_ref(msg);
    q->count++;
    q->bytes += msg->len;
}

unsigned pd_outq_iov(const pd_outq_t *q, struct iovec *iov, unsigned max, size_t *total)
{
    unsigned n = 0;
    size_t sum = 0;
    for (uint32_t i = 0; i < q->count && n < max; i++) {
        pd_shared_t *m = q->items[(q->head + i) & (q->cap - 1)];
        size_t skip = i == 0 ? q->offset : 0;
        iov[n].iov_base = m->data + skip;
        iov[n].iov_len = m->len - skip;
        sum += iov[n].iov_len;
        n++;
    }
    *total = sum;
    return n;
}

void pd_outq_consume(pd_outq_t *q, size_t n)
{
    q->bytes -= n;
    /* Empty entries at the front are finished too, so a flush loop always advances. */
    while (q->count) {
        pd_shared_t *m = q->items[q->head];
        size_t left = m->len - q->offset;
        if (n < left) {
            q->offset += (uint32_t)n;
            return;
        }
        n -= left;
        pd_shared_unref(m);
        q->head = (q->head + 1) & (q->cap - 1);
        q->count--;
        q->offset = 0;
    }
}

void pd_outq_truncate(pd_outq_t *q, uint32_t keep)
{
    while (q->count > keep) {
        uint32_t last = (q->head + q->count - 1) & (q->cap - 1);
        pd_shared_t *m = q->items[last];
        q->bytes -= m->len - (q->count == 1 ? q->offset : 0);
        pd_shared_unref(m);
        q->count--;
    }
    if (!q->count)
        q->offset = 0;
}

static pd_shared_t **slot(const pd_outq_t *q, uint32_t i)
{
    return &q->items[(q->head + i) & (q->cap - 1)];
}

/* A partly written first entry has started to go out: it is never dropped. */
static int may_drop(const pd_outq_t *q, uint32_t i, const void *holder)
{
    return (i > 0 || q->offset == 0) && pd_shared_droppable(*slot(q, i), holder);
}

/* The length of the front run holding max entries that stay; *drops counts the others. */
static uint32_t front_run(const pd_outq_t *q, const void *holder, unsigned max, unsigned *drops)
{
    uint32_t i = 0;
    unsigned kept = 0;
    *drops = 0;
    for (; i < q->count && kept < max; i++) {
        if (may_drop(q, i, holder))
            (*drops)++;
        else
            kept++;
    }
    return i;
}

/*
 * Packs the entries that stay toward the end of the front run, walking
 * backwards, then moves the head past the freed slots: the rest of the
 * ring does not move.
 */
unsigned pd_outq_drop_stale(pd_outq_t *q, const void *holder, unsigned max)
{
    unsigned drops;
    uint32_t run = front_run(q, holder, max, &drops);
    if (!drops)
        return 0;
    uint32_t w = run;
    for (uint32_t i = run; i-- > 0;) {
        pd_shared_t *m = *slot(q, i);
        if (may_drop(q, i, holder)) {
            q->bytes -= m->len;
            pd_shared_unref(m);
        } else {
            *slot(q, --w) = m;
        }
    }
    q->head = (q->head + w) & (q->cap - 1);
    q->count -= w;
    return w;
}
