/*
 * UTF-8 well-formedness (Unicode table 3-7), the one rule the WebSocket
 * codec (text frames, close reasons) and the JSON encoder (which must emit
 * valid text) both apply. No allocation.
 */
#ifndef PD_BASE_UTF8_H
#define PD_BASE_UTF8_H

#include <stddef.h>

/*
 * Length (1-4) of the well-formed UTF-8 sequence at p, which has avail > 0
 * bytes, or 0 when the bytes there are not one: a stray continuation byte,
 * an overlong form, a surrogate (U+D800-U+DFFF), a code point above
 * U+10FFFF, or a sequence cut short by the end of the input.
 */
size_t pd_utf8_seq_len(const unsigned char *p, size_t avail);

/* 1 when all len bytes at p are well-formed UTF-8 (len 0 included), else 0. */
int pd_utf8_valid(const void *p, size_t len);

#endif
