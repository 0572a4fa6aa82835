#include "shared.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

pd_shared_t *pd_shared_new(size_t len)
{
    pd_shared_t *s = pd_malloc(sizeof(*s) + len);
    s->refs = 1;
    s->len = (uint32_t)len;
    s->superseded = 0;
    s->kept_for = NULL;
    s->watcher = NULL;
    return s;
}

pd_shared_t *pd_shared_copy(const void *data, size_t len)
{
    pd_shared_t *s = pd_shared_new(len);
    if (len)
        memcpy(s->data, data, len);
    return s;
}

void pd_shared_unref(pd_shared_t *s)
{
    if (!s || --s->refs != 0)
        return;
    if (s->watcher)
        *s->watcher = NULL;
    free(s);
}

void pd_shared_supersede(pd_shared_t *s, const void *kept_for)
{
    s->superseded = 1;
    s->kept_for = kept_for;
}

void pd_shared_watch(pd_shared_t *s, pd_shared_t **slot)
{
    pd_shared_unwatch(slot);
    if (s->watcher)
        *s->watcher = NULL; /* one watcher at a time: the older one lets go */
    s->watcher = slot;
    *slot = s;
}

void pd_shared_unwatch(pd_shared_t **slot)
{
    if (*slot)
        (*slot)->watcher = NULL;
    *slot = NULL;
}
