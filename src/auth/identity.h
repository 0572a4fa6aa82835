/*
 * Who a connection is, as its token says. Every string is owned by the
 * identity and freed by pd_identity_free(); moving an identity means copying
 * the struct and zeroing the source.
 */
#ifndef PD_AUTH_IDENTITY_H
#define PD_AUTH_IDENTITY_H

#include <stdint.h>

#include "../base/slice.h"

typedef struct {
    char *user_id;         /* 1-128 bytes */
    char *user_name;       /* 1-256 bytes */
    char *user_image;      /* NULL when the token has none */
    int64_t expires_at_ms; /* 0: never expires */
} pd_identity_t;

typedef enum {
    PD_AUTH_OK = 0,
    PD_AUTH_MISSING, /* no token, or an empty one */
    PD_AUTH_INVALID, /* malformed, bad signature, wrong alg, missing claim, nbf */
    PD_AUTH_EXPIRED,
    PD_AUTH_FORBIDDEN,   /* valid, but for another room (or user, on refresh) */
    PD_AUTH_UNAVAILABLE, /* the verify endpoint could not answer */
} pd_auth_status_t;

/* Frees the strings and zeroes *id, so it can be freed again. NULL is ignored. */
void pd_identity_free(pd_identity_t *id);
/* Deep copy into dst, which is overwritten without being freed first. */
void pd_identity_copy(pd_identity_t *dst, const pd_identity_t *src);
/*
 * 1 when token may be a bearer token: 1 or more visible ASCII characters
 * (VCHAR, 0x21-0x7e). RFC 6750's b64token is a subset, and so is every
 * JWT; a space, a control byte (CR, LF, NUL, ...) or a byte over 0x7e is
 * never part of a token, so a token that passes can be written into an
 * HTTP header without changing what the header says. Checked before any
 * use of a token, local or remote: a token that fails is AUTH_INVALID.
 */
int pd_auth_token_valid(pd_slice_t token);

/* The wire code: "AUTH_INVALID", ..., "SERVICE_UNAVAILABLE"; NULL for OK. */
const char *pd_auth_code(pd_auth_status_t s);

#endif
