/*
 * pd_buf_t: a growable byte buffer. The buffer owns base; pd_buf_free()
 * releases it. Appending may move base, so slices into a buffer are valid
 * only until the next append. base is always NUL-terminated when cap > 0
 * (the NUL is not counted in len), so a buffer can be handed to C string
 * functions.
 */
#ifndef PD_BASE_BUF_H
#define PD_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "slice.h"

typedef struct {
    char *base;
    size_t len;
    size_t cap;
} pd_buf_t;

#define PD_BUF_INIT ((pd_buf_t){NULL, 0, 0})

void pd_buf_init(pd_buf_t *b);
void pd_buf_free(pd_buf_t *b);
/* Empties the buffer, keeping its memory. */
void pd_buf_reset(pd_buf_t *b);
/* Makes room for extra more bytes (plus the NUL). */
void pd_buf_reserve(pd_buf_t *b, size_t extra);
void pd_buf_append(pd_buf_t *b, const void *data, size_t len);
void pd_buf_append_slice(pd_buf_t *b, pd_slice_t s);
void pd_buf_append_cstr(pd_buf_t *b, const char *s);
void pd_buf_append_char(pd_buf_t *b, char c);
void pd_buf_appendf(pd_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pd_buf_vappendf(pd_buf_t *b, const char *fmt, va_list ap);
/* Removes the first n bytes (n <= len). */
void pd_buf_consume(pd_buf_t *b, size_t n);

static inline pd_slice_t pd_buf_slice(const pd_buf_t *b)
{
    return (pd_slice_t){b->base ? b->base : "", b->len};
}

#endif
