/*
 * Tokens for black-box tests. Well-formed tokens come from the project's own
 * minting function; the broken ones it cannot make (a missing claim, alg
 * "none", a foreign secret) are assembled here from JSON text with OpenSSL's
 * HMAC and base64url. Every string returned stays valid until
 * pdt_tokens_free(), which each test's teardown calls, so tests never free
 * tokens one by one.
 */
#ifndef PDT_TOKEN_H
#define PDT_TOKEN_H

#include <stdint.h>

/* The HS256 secret every test server is started with (its file adds a '\n'). */
#define PDT_SECRET "blackbox-secret-7f3a9c"

/* Seconds since the epoch, as the server's clock sees it. */
int64_t pdt_now(void);

/*
 * A valid token for user in presence-{workspace}, issued now and expiring
 * ttl_s seconds from now (negative: already expired). picture may be NULL.
 */
const char *pdt_token(const char *user, const char *name, const char *workspace, int64_t ttl_s);
const char *pdt_token_pic(const char *user, const char *name, const char *picture,
                          const char *workspace, int64_t ttl_s);

/*
 * A token built from raw JSON: base64url(header).base64url(claims).sig,
 * signed with HMAC-SHA256 under secret, or with an empty signature when
 * secret is NULL (for "alg":"none").
 */
const char *pdt_token_raw(const char *header_json, const char *claims_json, const char *secret);

/* The display name tests give user: its id with the first letter capitalised. */
const char *pdt_name(const char *user);

/* A printf-style string kept until pdt_tokens_free() (for JSON and paths). */
const char *pdt_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Releases every string handed out since the last call. */
void pdt_tokens_free(void);

#endif
