/*
 * Allocation wrappers. A presence server that cannot allocate a few hundred
 * bytes cannot keep its promises to anyone, so running out of memory aborts
 * with a message instead of threading NULL checks through every layer (the
 * same choice as redis' zmalloc). Libraries never call exit(); abort() keeps
 * the core dump.
 */
#ifndef PD_BASE_MEM_H
#define PD_BASE_MEM_H

#include <stddef.h>

void *pd_malloc(size_t size);
void *pd_calloc(size_t n, size_t size);
void *pd_realloc(void *p, size_t size);
/* Copies len bytes and appends a NUL; the result is owned by the caller. */
char *pd_strndup(const char *s, size_t len);

#endif
