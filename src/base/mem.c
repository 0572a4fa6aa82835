#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *oom(size_t size)
{
    fprintf(stderr, "presenced: out of memory allocating %zu bytes\n", size);
    abort();
}

void *pd_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    return p ? p : oom(size);
}

void *pd_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    return p ? p : oom(n * size);
}

void *pd_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    return q ? q : oom(size);
}

char *pd_strndup(const char *s, size_t len)
{
    char *d = pd_malloc(len + 1);
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}
