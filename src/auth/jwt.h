/*
 * Local token verification: JWTs (RFC 7519) checked with OpenSSL, with the
 * algorithm pinned to the configured one and the public key parsed once,
 * at start (libjwt, used here only to mint tokens, would accept whatever
 * algorithm a token names and read the key again per token). It rejects
 * "none", any algorithm other than the configured one (including an HS256
 * token signed with an RSA public key as the secret), and checks exp, nbf
 * and iat with a leeway, the room, and optionally iss and aud.
 */
#ifndef PD_AUTH_JWT_H
#define PD_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/slice.h"
#include "identity.h"

typedef struct {
    const char *alg;          /* "HS256" (default when NULL), "RS256" or "ES256" */
    const unsigned char *key; /* HS256: the secret's bytes; else a PEM public key */
    size_t key_len;
    int64_t leeway_s;     /* allowed clock skew for exp/nbf/iat */
    const char *issuer;   /* NULL: iss is not checked */
    const char *audience; /* NULL: aud is not checked */
} pd_jwt_config_t;

typedef struct pd_jwt_verifier pd_jwt_verifier_t;

/*
 * Creates a verifier (it copies what it needs from cfg). Returns 0, or
 * PD_ERR_CONFIG with a message in err (an unknown algorithm, an empty
 * secret, a key that is not a PEM public key of the right type: RSA of at
 * least 2048 bits for RS256, EC P-256 for ES256). err may be NULL. A
 * negative leeway counts as none.
 */
int pd_jwt_verifier_new(pd_jwt_verifier_t **out, const pd_jwt_config_t *cfg, char *err,
                        size_t errlen);
/* NULL is ignored. */
void pd_jwt_verifier_free(pd_jwt_verifier_t *v);

/*
 * Verifies token for room_id (e.g. "presence-ws1") at time now_s. On
 * PD_AUTH_OK fills *out (owned by the caller; expires_at_ms from exp);
 * otherwise leaves it untouched.
 * Checks, in order: empty -> MISSING; structure, alg, signature, required
 * claims and their sizes, nbf, iat -> INVALID; exp -> EXPIRED; iss/aud ->
 * INVALID; room -> FORBIDDEN.
 * Structure: at most 8192 bytes of three unpadded base64url segments, and
 * a header without "crit" (no extensions are understood).
 * Claims: sub (string, 1-128 bytes), name (string, 1-256 bytes), room
 * (non-empty string) and exp (number) are required; the image is
 * "picture", or "img" when picture is absent or null, a string of at most
 * 2048 bytes (empty or null means none). A time claim that is not a number
 * within 1e12 s, or nbf or iat later than now plus the leeway, is INVALID;
 * exp at or before now minus the leeway is EXPIRED. aud may be a string or
 * an array of strings that contains the configured audience.
 */
pd_auth_status_t pd_jwt_verify(const pd_jwt_verifier_t *v, pd_slice_t token, pd_slice_t room_id,
                               int64_t now_s, pd_identity_t *out);

/*
 * Mints an HS256 token (development mode, the CLI, tests). picture may be
 * NULL. Returns a malloc'd NUL-terminated string, or NULL on failure.
 */
char *pd_jwt_mint_hs256(const unsigned char *secret, size_t secret_len, const char *sub,
                        const char *name, const char *picture, const char *room, int64_t iat,
                        int64_t exp);

#endif
