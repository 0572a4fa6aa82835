/*
 * pd_slice_t: a borrowed view of bytes. It never owns memory; whoever hands
 * one out says how long the bytes stay valid.
 */
#ifndef PD_BASE_SLICE_H
#define PD_BASE_SLICE_H

#include <stddef.h>
#include <string.h>

typedef struct {
    const char *base; /* NULL means "absent", distinct from an empty string */
    size_t len;
} pd_slice_t;

#define PD_SLICE_NULL ((pd_slice_t){NULL, 0})
#define PD_SLICE_LIT(s) ((pd_slice_t){(s), sizeof(s) - 1})

static inline pd_slice_t pd_slice(const char *base, size_t len)
{
    return (pd_slice_t){base, len};
}

static inline pd_slice_t pd_slice_cstr(const char *s)
{
    return s ? (pd_slice_t){s, strlen(s)} : PD_SLICE_NULL;
}

static inline int pd_slice_eq(pd_slice_t a, pd_slice_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

static inline int pd_slice_eq_cstr(pd_slice_t a, const char *s)
{
    return pd_slice_eq(a, pd_slice_cstr(s));
}

#endif
