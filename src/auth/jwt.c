#include "jwt.h"

#include <cjson/cJSON.h>
#include <jwt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "../base/err.h"
#include "../base/mem.h"
#include "../proto/proto.h"

#define MAX_TOKEN_LEN 8192
#define MAX_SUB_LEN 128
#define MAX_NAME_LEN 256
#define MAX_IMAGE_LEN 2048
#define MIN_RSA_BITS 2048
/*
 * NumericDate values beyond this (about the year 33658) are not dates a real
 * issuer writes; bounding them keeps exp * 1000 exact in an int64_t.
 */
#define MAX_TIME_S 1e12

struct pd_jwt_verifier {
    jwt_alg_t alg;
    const char *alg_name;
    char *key; /* HS256: the secret (NUL-terminated copy of key_len bytes) */
    size_t key_len;
    EVP_PKEY *pkey; /* RS256/ES256: the public key, parsed once */
    int64_t leeway_s;
    char *issuer;
    char *audience;
};

typedef struct {
    pd_slice_t head;
    pd_slice_t body;
    pd_slice_t sig;
} token_parts_t;

typedef struct {
    const char *sub;
    const char *name;
    const char *image;
    const char *room;
    double exp;
    double nbf;
    double iat;
    int has_nbf;
    int has_iat;
} claims_t;

/* ---- configuration ---- */

static int config_error(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return PD_ERR_CONFIG;
}

static jwt_alg_t alg_from_name(const char *name)
{
    if (strcmp(name, "HS256") == 0)
        return JWT_ALG_HS256;
    if (strcmp(name, "RS256") == 0)
        return JWT_ALG_RS256;
    if (strcmp(name, "ES256") == 0)
        return JWT_ALG_ES256;
    return JWT_ALG_INVAL;
}

static const char *check_ec_key(EVP_PKEY *pkey)
{
    char group[64];
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
        !EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) ||
        strcmp(group, "prime256v1") != 0)
        return "ES256 needs an EC P-256 public key";
    return NULL;
}

static const char *check_rsa_key(EVP_PKEY *pkey)
{
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
        return "RS256 needs an RSA public key";
    if (EVP_PKEY_get_bits(pkey) < MIN_RSA_BITS)
        return "RS256 needs an RSA key of at least 2048 bits";
    return NULL;
}

/*
 * Parses key as a public key usable for alg into *out; returns NULL, or why
 * not (and *out is NULL).
 */
static const char *load_public_key(jwt_alg_t alg, const unsigned char *key, size_t key_len,
                                   EVP_PKEY **out)
{
    *out = NULL;
    if (!key || key_len == 0 || key_len > INT_MAX)
        return "RS256 and ES256 need a PEM public key";
    BIO *bio = BIO_new_mem_buf(key, (int)key_len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    const char *why = "the key is not a PEM public key";
    if (pkey)
        why = alg == JWT_ALG_RS256 ? check_rsa_key(pkey) : check_ec_key(pkey);
    BIO_free(bio);
    ERR_clear_error();
    if (why)
        EVP_PKEY_free(pkey);
    else
        *out = pkey;
    return why;
}

static const char *check_key(jwt_alg_t alg, const unsigned char *key, size_t key_len,
                             EVP_PKEY **pkey)
{
    *pkey = NULL;
    if (alg != JWT_ALG_HS256)
        return load_public_key(alg, key, key_len, pkey);
    if (!key || key_len == 0)
        return "HS256 needs a non-empty secret";
    if (key_len > INT_MAX)
        return "the HS256 secret is too long";
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? pd_strndup(s, strlen(s)) : NULL;
}

int pd_jwt_verifier_new(pd_jwt_verifier_t **out, const pd_jwt_config_t *cfg, char *err,
                        size_t errlen)
{
    *out = NULL;
    const char *name = cfg->alg ? cfg->alg : "HS256";
    jwt_alg_t alg = alg_from_name(name);
    if (alg == JWT_ALG_INVAL)
        return config_error(err, errlen, "unknown JWT algorithm (HS256, RS256 or ES256)");
    EVP_PKEY *pkey;
    const char *why = check_key(alg, cfg->key, cfg->key_len, &pkey);
    if (why)
        return config_error(err, errlen, why);
    pd_jwt_verifier_t *v = pd_calloc(1, sizeof(*v));
    v->pkey = pkey;
    v->alg = alg;
    v->alg_name = jwt_alg_str(alg);
    v->key = pd_strndup((const char *)cfg->key, cfg->key_len);
    v->key_len = cfg->key_len;
    v->leeway_s = cfg->leeway_s > 0 ? cfg->leeway_s : 0;
    v->issuer = dup_or_null(cfg->issuer);
    v->audience = dup_or_null(cfg->audience);
    *out = v;
    return 0;
}

void pd_jwt_verifier_free(pd_jwt_verifier_t *v)
{
    if (!v)
        return;
    free(v->key);
    EVP_PKEY_free(v->pkey);
    free(v->issuer);
    free(v->audience);
    free(v);
}

/* ---- token structure and header ---- */

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

static int is_b64url(pd_slice_t s)
{
    if (s.len == 0 || s.len % 4 == 1)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (b64url_value((unsigned char)s.base[i]) < 0)
            return 0;
    return 1;
}

/*
 * Decodes a segment that passed is_b64url() into a new NUL-terminated
 * buffer owned by the caller; *len gets the decoded length.
 */
static char *b64url_decode(pd_slice_t s, size_t *len)
{
    char *out = pd_malloc(s.len * 3 / 4 + 1);
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        acc = (acc << 6) | (uint32_t)b64url_value((unsigned char)s.base[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    *len = n;
    return out;
}

static pd_slice_t take_segment(pd_slice_t *rest)
{
    const char *dot = memchr(rest->base, '.', rest->len);
    size_t n = dot ? (size_t)(dot - rest->base) : rest->len;
    pd_slice_t seg = pd_slice(rest->base, n);
    *rest = dot ? pd_slice(dot + 1, rest->len - n - 1) : pd_slice(NULL, 0);
    return seg;
}

/* Three non-empty unpadded base64url segments, nothing else. */
static int split_token(pd_slice_t token, token_parts_t *p)
{
    pd_slice_t rest = token;
    p->head = take_segment(&rest);
    if (!rest.base)
        return 0;
    p->body = take_segment(&rest);
    if (!rest.base)
        return 0;
    p->sig = rest;
    return is_b64url(p->head) && is_b64url(p->body) && is_b64url(p->sig);
}

/*
 * Reads the header before libjwt sees the token, because libjwt verifies
 * with whatever algorithm the header names: an HS256 token "signed" with
 * the RSA public key as its secret would pass an RS256 verifier. A "crit"
 * header names extensions this verifier does not implement, so RFC 7515
 * requires rejecting it.
 */
static int header_acceptable(const pd_jwt_verifier_t *v, pd_slice_t head)
{
    size_t len;
    char *json = b64url_decode(head, &len);
    cJSON *h = pd_proto_parse_json(json, len, NULL);
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    int ok = cJSON_IsObject(h) && cJSON_IsString(alg) &&
             strcmp(alg->valuestring, v->alg_name) == 0 && !cJSON_HasObjectItem(h, "crit");
    cJSON_Delete(h);
    free(json);
    return ok;
}

/* ---- signature ---- */

/*
 * The signature is checked here with OpenSSL rather than by libjwt, which
 * reads the PEM public key again for every token (about 0.35 ms per RS256
 * or ES256 check, against some 0.02-0.05 ms for the check itself): the key
 * is parsed once, when the verifier is made.
 */
static int hs256_ok(const pd_jwt_verifier_t *v, pd_slice_t input, const unsigned char *sig,
                    size_t sig_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), v->key, (int)v->key_len, (const unsigned char *)input.base, input.len,
              mac, &mac_len))
        return 0;
    return sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
}

/* ES256 signatures are r || s, 32 bytes each (RFC 7518 3.4); OpenSSL wants DER. */
static unsigned char *es256_der(const unsigned char *sig, size_t sig_len, size_t *der_len)
{
    if (sig_len != 64)
        return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        int n = i2d_ECDSA_SIG(es, &der);
        *der_len = n > 0 ? (size_t)n : 0;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

static int pkey_ok(const pd_jwt_verifier_t *v, pd_slice_t input, const unsigned char *sig,
                   size_t sig_len)
{
    unsigned char *der = NULL;
    if (v->alg == JWT_ALG_ES256) {
        if (!(der = es256_der(sig, sig_len, &sig_len)))
            return 0;
        sig = der;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, v->pkey) == 1 &&
             EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input.base, input.len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

/*
 * Returns the claims of a token whose signature verifies with the
 * configured algorithm and key, or NULL. The header was already checked to
 * name that algorithm (header_acceptable()).
 */
static cJSON *verified_claims(const pd_jwt_verifier_t *v, pd_slice_t token, const token_parts_t *p)
{
    pd_slice_t input = pd_slice(token.base, (size_t)(p->sig.base - 1 - token.base));
    size_t sig_len, body_len;
    unsigned char *sig = (unsigned char *)b64url_decode(p->sig, &sig_len);
    int ok = v->alg == JWT_ALG_HS256 ? hs256_ok(v, input, sig, sig_len)
                                     : pkey_ok(v, input, sig, sig_len);
    free(sig);
    ERR_clear_error();
    if (!ok)
        return NULL;
    char *json = b64url_decode(p->body, &body_len);
    cJSON *claims = pd_proto_parse_json(json, body_len, NULL);
    free(json);
    if (!cJSON_IsObject(claims)) {
        cJSON_Delete(claims);
        return NULL;
    }
    return claims;
}

/* ---- claims ---- */

/* 1: a string of min..max bytes; 0: absent or null; -1: anything else. */
static int string_claim(const cJSON *o, const char *key, size_t min, size_t max, const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!item || cJSON_IsNull(item))
        return 0;
    if (!cJSON_IsString(item))
        return -1;
    size_t len = strlen(item->valuestring);
    if (len < min || len > max)
        return -1;
    *out = item->valuestring;
    return 1;
}

/* 1: a finite number within MAX_TIME_S; 0: absent; -1: anything else. */
static int time_claim(const cJSON *o, const char *key, double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!item)
        return 0;
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) ||
        fabs(item->valuedouble) > MAX_TIME_S)
        return -1;
    *out = item->valuedouble;
    return 1;
}

/* "picture" wins over "img" unless it is absent or null. */
static int image_claim(const cJSON *o, const char **out)
{
    int r = string_claim(o, "picture", 0, MAX_IMAGE_LEN, out);
    if (r != 0)
        return r;
    return string_claim(o, "img", 0, MAX_IMAGE_LEN, out);
}

static int read_claims(const cJSON *o, claims_t *c)
{
    memset(c, 0, sizeof(*c));
    if (string_claim(o, "sub", 1, MAX_SUB_LEN, &c->sub) != 1 ||
        string_claim(o, "name", 1, MAX_NAME_LEN, &c->name) != 1 ||
        string_claim(o, "room", 1, SIZE_MAX, &c->room) != 1 || time_claim(o, "exp", &c->exp) != 1 ||
        image_claim(o, &c->image) < 0)
        return -1;
    c->has_nbf = time_claim(o, "nbf", &c->nbf);
    c->has_iat = time_claim(o, "iat", &c->iat);
    return c->has_nbf < 0 || c->has_iat < 0 ? -1 : 0;
}

static pd_auth_status_t check_times(const pd_jwt_verifier_t *v, const claims_t *c, int64_t now_s)
{
    double latest = (double)now_s + (double)v->leeway_s;
    double earliest = (double)now_s - (double)v->leeway_s;
    if (c->has_nbf && c->nbf > latest)
        return PD_AUTH_INVALID;
    if (c->has_iat && c->iat > latest)
        return PD_AUTH_INVALID;
    if (c->exp <= earliest)
        return PD_AUTH_EXPIRED;
    return PD_AUTH_OK;
}

static int is_string_eq(const cJSON *item, const char *want)
{
    return cJSON_IsString(item) && strcmp(item->valuestring, want) == 0;
}

/* aud may be one string or an array of them (RFC 7519 section 4.1.3). */
static int audience_matches(const cJSON *aud, const char *want)
{
    if (!cJSON_IsArray(aud))
        return is_string_eq(aud, want);
    const cJSON *item;
    cJSON_ArrayForEach(item, aud)
    {
        if (is_string_eq(item, want))
            return 1;
    }
    return 0;
}

static pd_auth_status_t check_iss_aud(const pd_jwt_verifier_t *v, const cJSON *o)
{
    if (v->issuer && !is_string_eq(cJSON_GetObjectItemCaseSensitive(o, "iss"), v->issuer))
        return PD_AUTH_INVALID;
    if (v->audience && !audience_matches(cJSON_GetObjectItemCaseSensitive(o, "aud"), v->audience))
        return PD_AUTH_INVALID;
    return PD_AUTH_OK;
}

static pd_auth_status_t check_claims(const pd_jwt_verifier_t *v, const cJSON *o, pd_slice_t room_id,
                                     int64_t now_s, claims_t *c)
{
    if (read_claims(o, c) < 0)
        return PD_AUTH_INVALID;
    pd_auth_status_t st = check_times(v, c, now_s);
    if (st == PD_AUTH_OK)
        st = check_iss_aud(v, o);
    if (st == PD_AUTH_OK && !pd_slice_eq_cstr(room_id, c->room))
        st = PD_AUTH_FORBIDDEN;
    return st;
}

static void fill_identity(pd_identity_t *out, const claims_t *c)
{
    out->user_id = pd_strndup(c->sub, strlen(c->sub));
    out->user_name = pd_strndup(c->name, strlen(c->name));
    out->user_image = c->image && c->image[0] ? pd_strndup(c->image, strlen(c->image)) : NULL;
    out->expires_at_ms = (int64_t)(c->exp * 1000.0);
}

pd_auth_status_t pd_jwt_verify(const pd_jwt_verifier_t *v, pd_slice_t token, pd_slice_t room_id,
                               int64_t now_s, pd_identity_t *out)
{
    if (!token.base || token.len == 0)
        return PD_AUTH_MISSING;
    token_parts_t parts;
    if (token.len > MAX_TOKEN_LEN || !split_token(token, &parts) ||
        !header_acceptable(v, parts.head))
        return PD_AUTH_INVALID;
    cJSON *claims = verified_claims(v, token, &parts);
    if (!claims)
        return PD_AUTH_INVALID;
    claims_t c;
    pd_auth_status_t st = check_claims(v, claims, room_id, now_s, &c);
    if (st == PD_AUTH_OK)
        fill_identity(out, &c);
    cJSON_Delete(claims);
    return st;
}

/* ---- minting ---- */

static int add_claims(jwt_t *jwt, const char *sub, const char *name, const char *picture,
                      const char *room, int64_t iat, int64_t exp)
{
    return jwt_add_grant(jwt, "sub", sub) || jwt_add_grant(jwt, "name", name) ||
           (picture && jwt_add_grant(jwt, "picture", picture)) ||
           jwt_add_grant(jwt, "room", room) || jwt_add_grant_int(jwt, "iat", (long)iat) ||
           jwt_add_grant_int(jwt, "exp", (long)exp);
}

char *pd_jwt_mint_hs256(const unsigned char *secret, size_t secret_len, const char *sub,
                        const char *name, const char *picture, const char *room, int64_t iat,
                        int64_t exp)
{
    if (!secret || secret_len == 0 || secret_len > INT_MAX || !sub || !name || !room)
        return NULL;
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0)
        return NULL;
    char *token = NULL;
    if (add_claims(jwt, sub, name, picture, room, iat, exp) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, secret, (int)secret_len) == 0)
        token = jwt_encode_str(jwt);
    jwt_free(jwt);
    return token;
}
