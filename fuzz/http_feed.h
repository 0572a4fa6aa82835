/*
 * Shared by the HTTP fuzz drivers: feeding a parser whole or in chunks
 * whose sizes come from a pattern byte, so the two runs can be compared.
 */
#ifndef PD_FUZZ_HTTP_FEED_H
#define PD_FUZZ_HTTP_FEED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "http/http.h"

typedef struct {
    ssize_t result; /* total consumed when complete, else the error */
    int status;
} outcome_t;

/* Sizes cycle through a pattern of 1-4 (or 17-68) bytes picked by pattern. */
static inline size_t chunk_size(uint8_t pattern, size_t step)
{
    size_t size = (size_t)((pattern >> (step % 4 * 2)) & 3) + 1;
    return pattern & 0x80 ? size * 17 : size;
}

static inline outcome_t feed(pd_http_parser_t *p, const char *in, size_t len, int chunked,
                             uint8_t pattern)
{
    size_t off = 0;
    ssize_t r = PD_ERR_PARTIAL;
    for (size_t step = 0; off < len && r == PD_ERR_PARTIAL; step++) {
        size_t n = chunked ? chunk_size(pattern, step) : len;
        n = n < len - off ? n : len - off;
        r = pd_http_feed(p, in + off, n);
        if (r > (ssize_t)n)
            __builtin_trap();
        off += r > 0 ? (size_t)r : n;
    }
    return (outcome_t){r > 0 ? (ssize_t)off : r, pd_http_error_status(p)};
}

#endif
