/*
 * A connection's queue of outgoing frames. Each entry is a reference to a
 * shared, already framed buffer (a broadcast frame is one buffer referenced
 * by every receiver), so queueing costs a pointer, not a copy. The queue
 * hands out iovecs for one writev and takes back how many bytes the kernel
 * accepted. No I/O here.
 */
#ifndef PD_SERVER_OUTQ_H
#define PD_SERVER_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../base/shared.h"

typedef struct {
    pd_shared_t **items; /* ring of references */
    uint32_t head;
    uint32_t count;
    uint32_t cap;    /* a power of two, or 0 */
    uint32_t offset; /* bytes of items[head] already written */
    size_t bytes;    /* unsent bytes in the queue */
} pd_outq_t;

void pd_outq_init(pd_outq_t *q);
/* Drops every reference and the ring. */
void pd_outq_free(pd_outq_t *q);
/* Appends msg, taking a new reference to it. */
void pd_outq_push(pd_outq_t *q, pd_shared_t *msg);
/*
 * Fills up to max iovecs from the front of the queue (the first starting
 * past what was already written). Returns the number filled; *total gets
 * their byte count.
 */
unsigned pd_outq_iov(const pd_outq_t *q, struct iovec *iov, unsigned max, size_t *total);
/* Marks n bytes from the front as written, dropping finished entries. */
void pd_outq_consume(pd_outq_t *q, size_t n);
/*
 * Drops superseded entries that holder may drop (pd_shared_droppable) from
 * the front of the queue, until max entries that stay lead it or the queue
 * ends; a partly written first entry always stays. Order is kept. Returns
 * the number dropped. Not while a write holds iovecs into the queue.
 */
unsigned pd_outq_drop_stale(pd_outq_t *q, const void *holder, unsigned max);
/*
 * Drops the entries after the first keep ones (used to shed a slow reader's
 * backlog while the front entries are still being written).
 */
void pd_outq_truncate(pd_outq_t *q, uint32_t keep);

static inline int pd_outq_empty(const pd_outq_t *q)
{
    return q->count == 0;
}

#endif
