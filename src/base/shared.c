#include "shared.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

pd_shared_t *pd_shared_new(size_t len)
{
    pd_shared_t *s = pd_malloc(sizeof(*s) + len);
    s->refs = 1;
    s->len = (uint32_t)len;
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
    if (s && --s->refs == 0)
        free(s);
}
