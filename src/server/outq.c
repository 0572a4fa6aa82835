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
    while (n && q->count) {
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
