/*
 * pd_shared_t: immutable, reference-counted bytes. A broadcast is framed once
 * into one of these and every receiving connection holds a reference until
 * its socket has taken the bytes. Reference counts are not atomic: a shared
 * buffer belongs to one event loop thread.
 */
#ifndef PD_BASE_SHARED_H
#define PD_BASE_SHARED_H

#include <stddef.h>
#include <stdint.h>

typedef struct pd_shared {
    uint32_t refs;
    uint32_t len;
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

#endif
