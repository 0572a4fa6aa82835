#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

void pd_buf_init(pd_buf_t *b)
{
    *b = PD_BUF_INIT;
}

void pd_buf_free(pd_buf_t *b)
{
    free(b->base);
    *b = PD_BUF_INIT;
}

void pd_buf_reset(pd_buf_t *b)
{
    b->len = 0;
    if (b->base)
        b->base[0] = '\0';
}

void pd_buf_reserve(pd_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->base = pd_realloc(b->base, cap);
    b->cap = cap;
}

void pd_buf_append(pd_buf_t *b, const void *data, size_t len)
{
    pd_buf_reserve(b, len);
    if (len)
        memcpy(b->base + b->len, data, len);
    b->len += len;
    b->base[b->len] = '\0';
}

void pd_buf_append_slice(pd_buf_t *b, pd_slice_t s)
{
    pd_buf_append(b, s.base, s.len);
}

void pd_buf_append_cstr(pd_buf_t *b, const char *s)
{
    pd_buf_append(b, s, strlen(s));
}

void pd_buf_append_char(pd_buf_t *b, char c)
{
    pd_buf_append(b, &c, 1);
}

void pd_buf_vappendf(pd_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n <= 0)
        return;
    pd_buf_reserve(b, (size_t)n);
    vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void pd_buf_appendf(pd_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pd_buf_vappendf(b, fmt, ap);
    va_end(ap);
}

void pd_buf_consume(pd_buf_t *b, size_t n)
{
    if (n >= b->len) {
        pd_buf_reset(b);
        return;
    }
    memmove(b->base, b->base + n, b->len - n);
    b->len -= n;
    b->base[b->len] = '\0';
}
