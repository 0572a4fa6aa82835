/*
 * pd_shared_t: immutable, reference-counted bytes. A broadcast is framed once
 * into one of these and every receiving connection holds a reference until
 * its socket has taken the bytes. Reference counts are not atomic: a shared
 * buffer belongs to one event loop thread.
 *
 * A buffer may be marked superseded: a newer one carries everything it
 * says, to every holder except kept_for (NULL: to every holder), so a holder
 * that has not started to send it may drop it instead. The bytes never
 * change; only these two fields do, once.
 *
 * Whoever wants to mark a buffer later without keeping it alive (which
 * would pin its memory) watches it: a watch is a weak reference, a slot that
 * is set to NULL when the buffer is freed. A buffer has at most one watcher.
 */
#ifndef PD_BASE_SHARED_H
#define PD_BASE_SHARED_H

#include <stddef.h>
#include <stdint.h>

typedef struct pd_shared {
    uint32_t refs;
    uint32_t len;
    uint32_t superseded;        /* 0, or 1 once a newer buffer replaces it */
    const void *kept_for;       /* the one holder the newer buffer does not reach */
    struct pd_shared **watcher; /* cleared when the buffer is freed, or NULL */
    char data[];
} pd_shared_t;

/* Returns a buffer of len bytes with one reference, owned by the caller. */
pd_shared_t *pd_shared_new(size_t len);
/* Returns a new buffer holding a copy of data, with one reference. */
pd_shared_t *pd_shared_copy(const void *data, size_t len);

static inline pd_shared_t *pd_shared_ref(pd_shared_t *s)
{
    s->refs++;
    return s;
}

/* Drops one reference; the last one frees the buffer. NULL is ignored. */
void pd_shared_unref(pd_shared_t *s);

/*
 * Marks s superseded for every holder but kept_for (NULL: for all). A newer
 * buffer must have gone, after s, to every holder of s except kept_for.
 */
void pd_shared_supersede(pd_shared_t *s, const void *kept_for);

/* 1 when holder may drop s unsent (it is superseded and not kept for holder). */
static inline int pd_shared_droppable(const pd_shared_t *s, const void *holder)
{
    return s->superseded && s->kept_for != holder;
}

/*
 * Sets *slot to s without taking a reference and makes slot s's watcher:
 * *slot becomes NULL when s is freed. Any older watch on *slot ends first.
 */
void pd_shared_watch(pd_shared_t *s, pd_shared_t **slot);

/* Ends the watch through slot (if *slot is set) and sets *slot to NULL. */
void pd_shared_unwatch(pd_shared_t **slot);

#endif
