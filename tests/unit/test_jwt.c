/*
 * Token verification: algorithm pinning, signatures, claims and their
 * order of checks. RSA and EC keys are generated at setup, so no key
 * material lives in the tree. All times are relative to the fixed NOW.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/identity.h"
#include "auth/jwt.h"
#include "base/err.h"

#define NOW 1700000000
#define SECRET "s3cret-for-tests"
#define ROOM "presence-ws1"
#define HS_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GOOD_CLAIMS "{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\",\"exp\":1700000600}"

typedef struct {
    char *rsa_priv;
    char *rsa_pub;
    char *ec_priv;
    char *ec_pub;
    char *ec2_priv;
    char *rsa1024_pub;
    char *p384_pub;
} keys_t;

/* ---- helpers ---- */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, f);
    assert_true(vasprintf(&s, f, ap) >= 0);
    va_end(ap);
    return s;
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static char *b64url(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static char *unsigned_part(const char *header, const char *claims)
{
    char *h = b64url(header, strlen(header));
    char *c = b64url(claims, strlen(claims));
    char *s = fmt("%s.%s", h, c);
    free(h);
    free(c);
    return s;
}

/* An HMAC-signed token with any header, built without libjwt. */
static char *hmac_token(const EVP_MD *md, const char *secret, const char *header,
                        const char *claims)
{
    char *data = unsigned_part(header, claims);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    assert_non_null(HMAC(md, secret, (int)strlen(secret), (const unsigned char *)data, strlen(data),
                         mac, &mac_len));
    char *sig = b64url(mac, mac_len);
    char *token = fmt("%s.%s", data, sig);
    free(data);
    free(sig);
    return token;
}

static char *hs(const char *claims)
{
    return hmac_token(EVP_sha256(), SECRET, HS_HEADER, claims);
}

/* A token signed by libjwt with alg and a secret or PEM private key. */
static char *libjwt_token(jwt_alg_t alg, const char *key, size_t key_len, const char *claims)
{
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grants_json(jwt, claims), 0);
    assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)key_len), 0);
    char *token = jwt_encode_str(jwt);
    assert_non_null(token);
    jwt_free(jwt);
    return token;
}

static pd_jwt_config_t hs_config(void)
{
    return (pd_jwt_config_t){.alg = "HS256",
                             .key = (const unsigned char *)SECRET,
                             .key_len = strlen(SECRET),
                             .leeway_s = 30};
}

static pd_jwt_config_t pem_config(const char *alg, const char *pem)
{
    return (pd_jwt_config_t){
        .alg = alg, .key = (const unsigned char *)pem, .key_len = strlen(pem), .leeway_s = 30};
}

/* Verifies token for room with a fresh verifier; fills id only when given. */
static pd_auth_status_t verify_as(const pd_jwt_config_t *cfg, const char *token, const char *room,
                                  pd_identity_t *id)
{
    pd_jwt_verifier_t *v = NULL;
    char err[128] = "";
    assert_int_equal(pd_jwt_verifier_new(&v, cfg, err, sizeof(err)), 0);
    pd_identity_t local = {0};
    pd_identity_t *out = id ? id : &local;
    pd_auth_status_t st = pd_jwt_verify(v, pd_slice_cstr(token), pd_slice_cstr(room), NOW, out);
    pd_identity_free(&local);
    pd_jwt_verifier_free(v);
    return st;
}

static pd_auth_status_t verify_with(const pd_jwt_config_t *cfg, const char *claims)
{
    char *token = hs(claims);
    pd_auth_status_t st = verify_as(cfg, token, ROOM, NULL);
    free(token);
    return st;
}

/* Signs claims with the test secret and verifies them as the default HS256 verifier. */
static pd_auth_status_t check_hs(const char *claims)
{
    pd_jwt_config_t cfg = hs_config();
    return verify_with(&cfg, claims);
}

/* Like check_hs() but with claims built from a format, freed here. */
static pd_auth_status_t check_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static pd_auth_status_t check_fmt(const char *f, ...)
{
    va_list ap;
    char *claims = NULL;
    va_start(ap, f);
    assert_true(vasprintf(&claims, f, ap) >= 0);
    va_end(ap);
    pd_auth_status_t st = check_hs(claims);
    free(claims);
    return st;
}

static int config_fails(const pd_jwt_config_t *cfg, const char *want_msg)
{
    static char sentinel;
    pd_jwt_verifier_t *v = (pd_jwt_verifier_t *)&sentinel; /* must come back NULL */
    char err[160] = "";
    int rc = pd_jwt_verifier_new(&v, cfg, err, sizeof(err));
    assert_null(v);
    assert_string_equal(err, want_msg);
    return rc == PD_ERR_CONFIG;
}

/* ---- key material ---- */

static char *pem_of(EVP_PKEY *pkey, int private_key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = private_key ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
                         : PEM_write_bio_PUBKEY(bio, pkey);
    assert_int_equal(ok, 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    /* The BIO's bytes are not NUL-terminated: copy exactly n of them. */
    char *pem = malloc((size_t)n + 1);
    memcpy(pem, data, (size_t)n);
    pem[n] = '\0';
    BIO_free(bio);
    return pem;
}

static void keypair(EVP_PKEY *pkey, char **priv, char **pub)
{
    assert_non_null(pkey);
    if (priv)
        *priv = pem_of(pkey, 1);
    *pub = pem_of(pkey, 0);
    EVP_PKEY_free(pkey);
}

static int make_keys(void **state)
{
    keys_t *k = calloc(1, sizeof(*k));
    char *unused = NULL;
    keypair(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), &k->rsa_priv, &k->rsa_pub);
    keypair(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), &k->ec_priv, &k->ec_pub);
    keypair(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), &k->ec2_priv, &unused);
    free(unused);
    keypair(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024), NULL, &k->rsa1024_pub);
    keypair(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), NULL, &k->p384_pub);
    *state = k;
    return 0;
}

static int free_keys(void **state)
{
    keys_t *k = *state;
    free(k->rsa_priv);
    free(k->rsa_pub);
    free(k->ec_priv);
    free(k->ec_pub);
    free(k->ec2_priv);
    free(k->rsa1024_pub);
    free(k->p384_pub);
    free(k);
    return 0;
}

/* ---- valid tokens ---- */

static void test_valid_hs256(void **state)
{
    char *token = hs(GOOD_CLAIMS);
    pd_jwt_config_t cfg = hs_config();
    pd_identity_t id = {0};
    assert_int_equal(verify_as(&cfg, token, ROOM, &id), PD_AUTH_OK);
    assert_string_equal(id.user_id, "u1");
    assert_string_equal(id.user_name, "Ann");
    assert_null(id.user_image);
    assert_int_equal(id.expires_at_ms, 1700000600000LL);
    pd_identity_free(&id);
    free(token);
}

static void test_default_alg_is_hs256(void **state)
{
    char *token = hs(GOOD_CLAIMS);
    pd_jwt_config_t cfg = hs_config();
    cfg.alg = NULL;
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_OK);
    free(token);
}

static void test_valid_rs256(void **state)
{
    const keys_t *k = *state;
    char *token = libjwt_token(JWT_ALG_RS256, k->rsa_priv, strlen(k->rsa_priv), GOOD_CLAIMS);
    pd_jwt_config_t cfg = pem_config("RS256", k->rsa_pub);
    pd_identity_t id = {0};
    assert_int_equal(verify_as(&cfg, token, ROOM, &id), PD_AUTH_OK);
    assert_string_equal(id.user_id, "u1");
    assert_int_equal(id.expires_at_ms, 1700000600000LL);
    pd_identity_free(&id);
    free(token);
}

static void test_valid_es256(void **state)
{
    const keys_t *k = *state;
    char *token = libjwt_token(JWT_ALG_ES256, k->ec_priv, strlen(k->ec_priv), GOOD_CLAIMS);
    pd_jwt_config_t cfg = pem_config("ES256", k->ec_pub);
    pd_identity_t id = {0};
    assert_int_equal(verify_as(&cfg, token, ROOM, &id), PD_AUTH_OK);
    assert_string_equal(id.user_name, "Ann");
    pd_identity_free(&id);
    free(token);
}

static void test_es256_other_key(void **state)
{
    const keys_t *k = *state;
    char *token = libjwt_token(JWT_ALG_ES256, k->ec2_priv, strlen(k->ec2_priv), GOOD_CLAIMS);
    pd_jwt_config_t cfg = pem_config("ES256", k->ec_pub);
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
    free(token);
}

/* ---- algorithm pinning ---- */

static void test_alg_none(void **state)
{
    const keys_t *k = *state;
    char *body = b64url(GOOD_CLAIMS, strlen(GOOD_CLAIMS));
    char *bare = fmt("eyJhbGciOiJub25lIn0.%s.", body);
    char *with_sig = fmt("eyJhbGciOiJub25lIn0.%s.c2lnbmF0dXJl", body);
    pd_jwt_config_t hs_cfg = hs_config();
    pd_jwt_config_t rs_cfg = pem_config("RS256", k->rsa_pub);
    assert_int_equal(verify_as(&hs_cfg, bare, ROOM, NULL), PD_AUTH_INVALID);
    assert_int_equal(verify_as(&hs_cfg, with_sig, ROOM, NULL), PD_AUTH_INVALID);
    assert_int_equal(verify_as(&rs_cfg, bare, ROOM, NULL), PD_AUTH_INVALID);
    assert_int_equal(verify_as(&rs_cfg, with_sig, ROOM, NULL), PD_AUTH_INVALID);
    free(body);
    free(bare);
    free(with_sig);
}

/*
 * The classic confusion: an HS256 token whose HMAC key is the server's RSA
 * public key. libjwt on its own accepts it; the pinned verifier must not.
 */
static void test_alg_confusion_hs256_with_rsa_pem(void **state)
{
    const keys_t *k = *state;
    char *token = hmac_token(EVP_sha256(), k->rsa_pub, HS_HEADER, GOOD_CLAIMS);
    jwt_t *jwt = NULL;
    assert_int_equal(
        jwt_decode(&jwt, token, (const unsigned char *)k->rsa_pub, (int)strlen(k->rsa_pub)), 0);
    jwt_free(jwt);
    pd_jwt_config_t cfg = pem_config("RS256", k->rsa_pub);
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
    free(token);
}

static void test_rs256_token_to_hs256_verifier(void **state)
{
    const keys_t *k = *state;
    char *token = libjwt_token(JWT_ALG_RS256, k->rsa_priv, strlen(k->rsa_priv), GOOD_CLAIMS);
    pd_jwt_config_t cfg = hs_config();
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
    free(token);
}

static void test_es256_token_to_rs256_verifier(void **state)
{
    const keys_t *k = *state;
    char *token = libjwt_token(JWT_ALG_ES256, k->ec_priv, strlen(k->ec_priv), GOOD_CLAIMS);
    pd_jwt_config_t cfg = pem_config("RS256", k->rsa_pub);
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
    free(token);
}

static void test_hs512_token_to_hs256_verifier(void **state)
{
    char *token = hmac_token(EVP_sha512(), SECRET, "{\"alg\":\"HS512\"}", GOOD_CLAIMS);
    pd_jwt_config_t cfg = hs_config();
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
    free(token);
}

/*
 * A header naming "alg" twice: cJSON reads the first, libjwt the last. The
 * algorithm libjwt actually verified with must be the configured one too.
 */
static void test_duplicate_alg_header(void **state)
{
    char *token =
        hmac_token(EVP_sha512(), SECRET, "{\"alg\":\"HS256\",\"alg\":\"HS512\"}", GOOD_CLAIMS);
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_decode(&jwt, token, (const unsigned char *)SECRET, strlen(SECRET)), 0);
    assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS512);
    jwt_free(jwt);
    pd_jwt_config_t cfg = hs_config();
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
    free(token);
}

static void test_header_variants(void **state)
{
    pd_jwt_config_t cfg = hs_config();
    const char *bad[] = {
        "{\"alg\":\"hs256\"}",
        "{\"alg\":\"HS256 \"}",
        "{\"alg\":256}",
        "{}",
        "[\"HS256\"]",
        "not json",
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *token = hmac_token(EVP_sha256(), SECRET, bad[i], GOOD_CLAIMS);
        assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
        free(token);
    }
    char *plain = hmac_token(EVP_sha256(), SECRET, "{\"alg\":\"HS256\"}", GOOD_CLAIMS);
    assert_int_equal(verify_as(&cfg, plain, ROOM, NULL), PD_AUTH_OK);
    free(plain);
}

/* ---- signatures ---- */

static void test_wrong_secret(void **state)
{
    char *token = hmac_token(EVP_sha256(), "another-secret", HS_HEADER, GOOD_CLAIMS);
    pd_jwt_config_t cfg = hs_config();
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
    free(token);
}

static void test_tampered_payload(void **state)
{
    char *token = hs(GOOD_CLAIMS);
    const char *forged_claims =
        "{\"sub\":\"admin\",\"name\":\"Ann\",\"room\":\"presence-ws1\",\"exp\":1700000600}";
    char *forged_body = b64url(forged_claims, strlen(forged_claims));
    char *first_dot = strchr(token, '.');
    char *last_dot = strrchr(token, '.');
    *first_dot = '\0';
    char *forged = fmt("%s.%s%s", token, forged_body, last_dot);
    pd_jwt_config_t cfg = hs_config();
    assert_int_equal(verify_as(&cfg, forged, ROOM, NULL), PD_AUTH_INVALID);
    free(forged);
    free(forged_body);
    free(token);
}

static void test_tampered_signature(void **state)
{
    char *token = hs(GOOD_CLAIMS);
    char *sig = strrchr(token, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    pd_jwt_config_t cfg = hs_config();
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
    free(token);
}

/* ---- time claims ---- */

static void test_expired(void **state)
{
    pd_jwt_config_t cfg = hs_config();
    cfg.leeway_s = 0;
    assert_int_equal(verify_with(&cfg, "{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                                       "\"exp\":1699999999}"),
                     PD_AUTH_EXPIRED);
    assert_int_equal(verify_with(&cfg, "{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                                       "\"exp\":1700000000}"),
                     PD_AUTH_EXPIRED);
    assert_int_equal(verify_with(&cfg, "{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                                       "\"exp\":1700000001}"),
                     PD_AUTH_OK);
}

static void test_expired_within_leeway(void **state)
{
    const char *f = "{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\",\"exp\":%d}";
    assert_int_equal(check_fmt(f, NOW - 10), PD_AUTH_OK);
    assert_int_equal(check_fmt(f, NOW - 29), PD_AUTH_OK);
    assert_int_equal(check_fmt(f, NOW - 30), PD_AUTH_EXPIRED);
    assert_int_equal(check_fmt(f, NOW - 3600), PD_AUTH_EXPIRED);
}

static void test_negative_leeway_counts_as_zero(void **state)
{
    pd_jwt_config_t cfg = hs_config();
    cfg.leeway_s = -100;
    assert_int_equal(verify_with(&cfg, "{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                                       "\"exp\":1700000001,\"nbf\":1700000000}"),
                     PD_AUTH_OK);
}

static void test_fractional_exp(void **state)
{
    char *token = hs("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                     "\"exp\":1700000600.5}");
    pd_jwt_config_t cfg = hs_config();
    pd_identity_t id = {0};
    assert_int_equal(verify_as(&cfg, token, ROOM, &id), PD_AUTH_OK);
    assert_int_equal(id.expires_at_ms, 1700000600500LL);
    pd_identity_free(&id);
    free(token);
}

static void test_nbf(void **state)
{
    const char *f =
        "{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\",\"exp\":1700000600,\"nbf\":%d}";
    assert_int_equal(check_fmt(f, NOW + 3600), PD_AUTH_INVALID);
    assert_int_equal(check_fmt(f, NOW + 31), PD_AUTH_INVALID);
    assert_int_equal(check_fmt(f, NOW + 30), PD_AUTH_OK);
    assert_int_equal(check_fmt(f, NOW + 10), PD_AUTH_OK);
    assert_int_equal(check_fmt(f, NOW - 10), PD_AUTH_OK);
}

static void test_iat(void **state)
{
    const char *f =
        "{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\",\"exp\":1700000600,\"iat\":%d}";
    assert_int_equal(check_fmt(f, NOW + 3600), PD_AUTH_INVALID);
    assert_int_equal(check_fmt(f, NOW + 31), PD_AUTH_INVALID);
    assert_int_equal(check_fmt(f, NOW + 30), PD_AUTH_OK);
    assert_int_equal(check_fmt(f, NOW - 60), PD_AUTH_OK);
}

static void test_time_claim_types(void **state)
{
    const char *base = "\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\"";
    assert_int_equal(check_fmt("{%s,\"exp\":\"1700000600\"}", base), PD_AUTH_INVALID);
    assert_int_equal(check_fmt("{%s,\"exp\":null}", base), PD_AUTH_INVALID);
    assert_int_equal(check_fmt("{%s,\"exp\":true}", base), PD_AUTH_INVALID);
    assert_int_equal(check_fmt("{%s,\"exp\":1e300}", base), PD_AUTH_INVALID);
    assert_int_equal(check_fmt("{%s,\"exp\":1700000600,\"nbf\":\"0\"}", base), PD_AUTH_INVALID);
    assert_int_equal(check_fmt("{%s,\"exp\":1700000600,\"iat\":[1]}", base), PD_AUTH_INVALID);
}

/* ---- required claims ---- */

static void test_missing_claims(void **state)
{
    assert_int_equal(check_hs("{\"name\":\"Ann\",\"room\":\"presence-ws1\",\"exp\":1700000600}"),
                     PD_AUTH_INVALID);
    assert_int_equal(check_hs("{\"sub\":\"u1\",\"room\":\"presence-ws1\",\"exp\":1700000600}"),
                     PD_AUTH_INVALID);
    assert_int_equal(check_hs("{\"sub\":\"u1\",\"name\":\"Ann\",\"exp\":1700000600}"),
                     PD_AUTH_INVALID);
    assert_int_equal(check_hs("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\"}"),
                     PD_AUTH_INVALID);
    assert_int_equal(check_hs("{\"Sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                              "\"exp\":1700000600}"),
                     PD_AUTH_INVALID);
}

static void test_claim_types(void **state)
{
    const char *rest = "\"room\":\"presence-ws1\",\"exp\":1700000600";
    assert_int_equal(check_fmt("{\"sub\":42,\"name\":\"Ann\",%s}", rest), PD_AUTH_INVALID);
    assert_int_equal(check_fmt("{\"sub\":null,\"name\":\"Ann\",%s}", rest), PD_AUTH_INVALID);
    assert_int_equal(check_fmt("{\"sub\":[\"u1\"],\"name\":\"Ann\",%s}", rest), PD_AUTH_INVALID);
    assert_int_equal(check_fmt("{\"sub\":\"u1\",\"name\":{},%s}", rest), PD_AUTH_INVALID);
    assert_int_equal(check_hs("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":7,\"exp\":1700000600}"),
                     PD_AUTH_INVALID);
    assert_int_equal(check_hs("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"\",\"exp\":1700000600}"),
                     PD_AUTH_INVALID);
}

static void test_embedded_nul_rejected(void **state)
{
    assert_int_equal(
        check_hs("{\"sub\":\"u1\\u0000admin\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                 "\"exp\":1700000600}"),
        PD_AUTH_INVALID);
}

static void test_sub_sizes(void **state)
{
    const char *f =
        "{\"sub\":\"%s\",\"name\":\"Ann\",\"room\":\"presence-ws1\",\"exp\":1700000600}";
    char *s128 = repeat('u', 128);
    char *s129 = repeat('u', 129);
    assert_int_equal(check_fmt(f, ""), PD_AUTH_INVALID);
    assert_int_equal(check_fmt(f, s128), PD_AUTH_OK);
    assert_int_equal(check_fmt(f, s129), PD_AUTH_INVALID);
    free(s128);
    free(s129);
}

static void test_name_sizes(void **state)
{
    const char *f = "{\"sub\":\"u1\",\"name\":\"%s\",\"room\":\"presence-ws1\",\"exp\":1700000600}";
    char *n256 = repeat('n', 256);
    char *n257 = repeat('n', 257);
    assert_int_equal(check_fmt(f, ""), PD_AUTH_INVALID);
    assert_int_equal(check_fmt(f, n256), PD_AUTH_OK);
    assert_int_equal(check_fmt(f, n257), PD_AUTH_INVALID);
    free(n256);
    free(n257);
}

/* Verifies GOOD_CLAIMS plus image fields and returns the image (or "(null)"). */
static char *image_of(const char *image_fields, pd_auth_status_t want)
{
    char *claims = fmt("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                       "\"exp\":1700000600,%s}",
                       image_fields);
    char *token = hs(claims);
    pd_jwt_config_t cfg = hs_config();
    pd_identity_t id = {0};
    assert_int_equal(verify_as(&cfg, token, ROOM, &id), want);
    char *image = strdup(id.user_image ? id.user_image : "(null)");
    pd_identity_free(&id);
    free(token);
    free(claims);
    return image;
}

static void expect_image(const char *image_fields, const char *want)
{
    char *image = image_of(image_fields, PD_AUTH_OK);
    assert_string_equal(image, want);
    free(image);
}

static void test_picture_and_img(void **state)
{
    expect_image("\"picture\":\"https://p/1.png\"", "https://p/1.png");
    expect_image("\"img\":\"https://i/2.png\"", "https://i/2.png");
    expect_image("\"picture\":\"https://p/1.png\",\"img\":\"https://i/2.png\"", "https://p/1.png");
    expect_image("\"img\":\"https://i/2.png\",\"picture\":\"https://p/1.png\"", "https://p/1.png");
    expect_image("\"picture\":null,\"img\":\"https://i/2.png\"", "https://i/2.png");
    expect_image("\"picture\":null", "(null)");
    expect_image("\"picture\":\"\"", "(null)");
    free(image_of("\"picture\":42", PD_AUTH_INVALID));
    free(image_of("\"img\":{}", PD_AUTH_INVALID));
}

static void test_picture_size(void **state)
{
    char *p2048 = repeat('p', 2048);
    char *p2049 = repeat('p', 2049);
    const char *f =
        "{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\",\"exp\":1700000600,\"%s\":\"%s\"}";
    assert_int_equal(check_fmt(f, "picture", p2048), PD_AUTH_OK);
    assert_int_equal(check_fmt(f, "picture", p2049), PD_AUTH_INVALID);
    assert_int_equal(check_fmt(f, "img", p2049), PD_AUTH_INVALID);
    free(p2048);
    free(p2049);
}

/* ---- room, issuer, audience and the order of checks ---- */

static void test_wrong_room(void **state)
{
    char *token = hs(GOOD_CLAIMS);
    pd_jwt_config_t cfg = hs_config();
    assert_int_equal(verify_as(&cfg, token, "presence-ws2", NULL), PD_AUTH_FORBIDDEN);
    assert_int_equal(verify_as(&cfg, token, "presence-ws", NULL), PD_AUTH_FORBIDDEN);
    assert_int_equal(verify_as(&cfg, token, "presence-ws12", NULL), PD_AUTH_FORBIDDEN);
    assert_int_equal(verify_as(&cfg, token, "Presence-ws1", NULL), PD_AUTH_FORBIDDEN);
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_OK);
    free(token);
}

static void test_identity_untouched_on_failure(void **state)
{
    char *token = hs(GOOD_CLAIMS);
    pd_jwt_config_t cfg = hs_config();
    char sentinel[] = "keep";
    pd_identity_t id = {sentinel, sentinel, sentinel, 7};
    assert_int_equal(verify_as(&cfg, token, "presence-ws2", &id), PD_AUTH_FORBIDDEN);
    assert_ptr_equal(id.user_id, sentinel);
    assert_ptr_equal(id.user_image, sentinel);
    assert_int_equal(id.expires_at_ms, 7);
    free(token);
}

static void test_wrong_room_and_expired(void **state)
{
    char *token =
        hs("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-other\",\"exp\":1699990000}");
    pd_jwt_config_t cfg = hs_config();
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_EXPIRED);
    free(token);
}

static void test_wrong_room_and_nbf(void **state)
{
    char *token = hs("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-other\","
                     "\"exp\":1700000600,\"nbf\":1700009000}");
    pd_jwt_config_t cfg = hs_config();
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
    free(token);
}

static pd_auth_status_t check_iss_aud(const char *issuer, const char *audience, const char *extra)
{
    pd_jwt_config_t cfg = hs_config();
    cfg.issuer = issuer;
    cfg.audience = audience;
    char *claims = fmt("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                       "\"exp\":1700000600%s}",
                       extra);
    pd_auth_status_t st = verify_with(&cfg, claims);
    free(claims);
    return st;
}

static void test_issuer(void **state)
{
    assert_int_equal(check_iss_aud("https://app", NULL, ",\"iss\":\"https://app\""), PD_AUTH_OK);
    assert_int_equal(check_iss_aud("https://app", NULL, ",\"iss\":\"https://evil\""),
                     PD_AUTH_INVALID);
    assert_int_equal(check_iss_aud("https://app", NULL, ",\"iss\":[\"https://app\"]"),
                     PD_AUTH_INVALID);
    assert_int_equal(check_iss_aud("https://app", NULL, ""), PD_AUTH_INVALID);
    assert_int_equal(check_iss_aud(NULL, NULL, ",\"iss\":\"anyone\""), PD_AUTH_OK);
}

static void test_audience(void **state)
{
    assert_int_equal(check_iss_aud(NULL, "presenced", ",\"aud\":\"presenced\""), PD_AUTH_OK);
    assert_int_equal(check_iss_aud(NULL, "presenced", ",\"aud\":\"other\""), PD_AUTH_INVALID);
    assert_int_equal(check_iss_aud(NULL, "presenced", ""), PD_AUTH_INVALID);
    assert_int_equal(check_iss_aud(NULL, "presenced", ",\"aud\":[\"api\",\"presenced\"]"),
                     PD_AUTH_OK);
    assert_int_equal(check_iss_aud(NULL, "presenced", ",\"aud\":[\"api\",\"other\"]"),
                     PD_AUTH_INVALID);
    assert_int_equal(check_iss_aud(NULL, "presenced", ",\"aud\":[]"), PD_AUTH_INVALID);
    assert_int_equal(check_iss_aud(NULL, "presenced", ",\"aud\":7"), PD_AUTH_INVALID);
    assert_int_equal(check_iss_aud(NULL, NULL, ",\"aud\":7"), PD_AUTH_OK);
    assert_int_equal(check_iss_aud("i", "a", ",\"iss\":\"i\",\"aud\":[\"a\"]"), PD_AUTH_OK);
}

static void test_check_order_iss_room_exp(void **state)
{
    pd_jwt_config_t cfg = hs_config();
    cfg.issuer = "https://app";
    char *wrong_iss_and_room =
        hs("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-x\",\"exp\":1700000600,"
           "\"iss\":\"https://evil\"}");
    char *wrong_iss_and_expired = hs("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                                     "\"exp\":1600000000,\"iss\":\"https://evil\"}");
    assert_int_equal(verify_as(&cfg, wrong_iss_and_room, ROOM, NULL), PD_AUTH_INVALID);
    assert_int_equal(verify_as(&cfg, wrong_iss_and_expired, ROOM, NULL), PD_AUTH_EXPIRED);
    free(wrong_iss_and_room);
    free(wrong_iss_and_expired);
}

/* ---- malformed tokens ---- */

static void test_garbage_tokens(void **state)
{
    pd_jwt_config_t cfg = hs_config();
    const char *bad[] = {
        "abc",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln.c2ln",
        "eyJhbGciOiJIUzI1NiJ9..c2ln",
        ".eyJzdWIiOiJ1MSJ9.c2ln",
        "..",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi*iJ1MSJ9.c2ln",
        "eyJhbGciOiJIUzI1NiJ9=.eyJzdWIiOiJ1MSJ9.c2ln",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln ",
        "eyJhbGciOiJIUzI1NiJ9a.eyJzdWIiOiJ1MSJ9.c2ln",
        " ",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(verify_as(&cfg, bad[i], ROOM, NULL), PD_AUTH_INVALID);
}

static void test_token_with_nul_byte(void **state)
{
    char *token = hs(GOOD_CLAIMS);
    size_t len = strlen(token);
    char *copy = malloc(len + 2);
    memcpy(copy, token, len);
    copy[len] = '\0';
    copy[len + 1] = 'A';
    pd_jwt_config_t cfg = hs_config();
    pd_jwt_verifier_t *v = NULL;
    assert_int_equal(pd_jwt_verifier_new(&v, &cfg, NULL, 0), 0);
    pd_identity_t id = {0};
    assert_int_equal(pd_jwt_verify(v, pd_slice(copy, len + 2), PD_SLICE_LIT(ROOM), NOW, &id),
                     PD_AUTH_INVALID);
    assert_int_equal(pd_jwt_verify(v, pd_slice(copy, len), PD_SLICE_LIT(ROOM), NOW, &id),
                     PD_AUTH_OK);
    pd_identity_free(&id);
    pd_jwt_verifier_free(v);
    free(copy);
    free(token);
}

static void test_payload_not_an_object(void **state)
{
    assert_int_equal(check_hs("[1,2]"), PD_AUTH_INVALID);
    assert_int_equal(check_hs("\"sub\""), PD_AUTH_INVALID);
    assert_int_equal(check_hs("{\"sub\":"), PD_AUTH_INVALID);
}

static char *padded_token(size_t pad)
{
    char *filler = repeat('x', pad);
    char *claims = fmt("{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\","
                       "\"exp\":1700000600,\"pad\":\"%s\"}",
                       filler);
    char *token = hs(claims);
    free(claims);
    free(filler);
    return token;
}

static void test_size_limit(void **state)
{
    size_t pad = 5000;
    char *token = padded_token(pad);
    while (strlen(token) <= 8192) {
        free(token);
        token = padded_token(++pad);
    }
    char *largest = padded_token(pad - 1);
    pd_jwt_config_t cfg = hs_config();
    assert_true(strlen(largest) <= 8192);
    assert_int_equal(verify_as(&cfg, largest, ROOM, NULL), PD_AUTH_OK);
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_INVALID);
    free(largest);
    free(token);

    char *huge = repeat('A', 1 << 20);
    assert_int_equal(verify_as(&cfg, huge, ROOM, NULL), PD_AUTH_INVALID);
    free(huge);
}

static void test_empty_token(void **state)
{
    pd_jwt_config_t cfg = hs_config();
    pd_jwt_verifier_t *v = NULL;
    assert_int_equal(pd_jwt_verifier_new(&v, &cfg, NULL, 0), 0);
    pd_identity_t id = {0};
    assert_int_equal(pd_jwt_verify(v, PD_SLICE_NULL, PD_SLICE_LIT(ROOM), NOW, &id),
                     PD_AUTH_MISSING);
    assert_int_equal(pd_jwt_verify(v, pd_slice("", 0), PD_SLICE_LIT(ROOM), NOW, &id),
                     PD_AUTH_MISSING);
    assert_null(id.user_id);
    pd_jwt_verifier_free(v);
}

/* ---- configuration ---- */

static void test_verifier_new_errors(void **state)
{
    const keys_t *k = *state;
    pd_jwt_config_t cfg = hs_config();
    cfg.alg = "HS512";
    assert_true(config_fails(&cfg, "unknown JWT algorithm (HS256, RS256 or ES256)"));
    cfg.alg = "none";
    assert_true(config_fails(&cfg, "unknown JWT algorithm (HS256, RS256 or ES256)"));
    cfg.alg = "hs256";
    assert_true(config_fails(&cfg, "unknown JWT algorithm (HS256, RS256 or ES256)"));

    cfg = (pd_jwt_config_t){.alg = "HS256", .key = (const unsigned char *)"", .key_len = 0};
    assert_true(config_fails(&cfg, "HS256 needs a non-empty secret"));
    cfg.key = NULL;
    assert_true(config_fails(&cfg, "HS256 needs a non-empty secret"));

    cfg = pem_config("RS256", "not a pem");
    assert_true(config_fails(&cfg, "the key is not a PEM public key"));
    cfg = pem_config("RS256", k->rsa_priv);
    assert_true(config_fails(&cfg, "the key is not a PEM public key"));
    cfg = (pd_jwt_config_t){.alg = "ES256"};
    assert_true(config_fails(&cfg, "RS256 and ES256 need a PEM public key"));
    cfg = pem_config("ES256", k->rsa_pub);
    assert_true(config_fails(&cfg, "ES256 needs an EC P-256 public key"));
    cfg = pem_config("ES256", k->p384_pub);
    assert_true(config_fails(&cfg, "ES256 needs an EC P-256 public key"));
    cfg = pem_config("RS256", k->ec_pub);
    assert_true(config_fails(&cfg, "RS256 needs an RSA public key"));
    cfg = pem_config("RS256", k->rsa1024_pub);
    assert_true(config_fails(&cfg, "RS256 needs an RSA key of at least 2048 bits"));
}

static void test_verifier_new_truncates_message(void **state)
{
    pd_jwt_config_t cfg = {.alg = "HS256"};
    pd_jwt_verifier_t *v = NULL;
    char err[6];
    assert_int_equal(pd_jwt_verifier_new(&v, &cfg, err, sizeof(err)), PD_ERR_CONFIG);
    assert_string_equal(err, "HS256");
    assert_int_equal(pd_jwt_verifier_new(&v, &cfg, NULL, 0), PD_ERR_CONFIG);
    pd_jwt_verifier_free(NULL);
}

/* ---- minting ---- */

static void test_mint_round_trip(void **state)
{
    char *token = pd_jwt_mint_hs256((const unsigned char *)SECRET, strlen(SECRET), "u7", "Cy",
                                    "https://img/cy.png", ROOM, NOW - 5, NOW + 900);
    assert_non_null(token);
    pd_jwt_config_t cfg = hs_config();
    pd_identity_t id = {0};
    assert_int_equal(verify_as(&cfg, token, ROOM, &id), PD_AUTH_OK);
    assert_string_equal(id.user_id, "u7");
    assert_string_equal(id.user_name, "Cy");
    assert_string_equal(id.user_image, "https://img/cy.png");
    assert_int_equal(id.expires_at_ms, (int64_t)(NOW + 900) * 1000);
    pd_identity_free(&id);
    assert_int_equal(verify_as(&cfg, token, "presence-ws2", NULL), PD_AUTH_FORBIDDEN);
    free(token);
}

static void test_mint_without_picture(void **state)
{
    char *token = pd_jwt_mint_hs256((const unsigned char *)SECRET, strlen(SECRET), "u8", "Di", NULL,
                                    ROOM, NOW, NOW + 60);
    pd_jwt_config_t cfg = hs_config();
    pd_identity_t id = {0};
    assert_int_equal(verify_as(&cfg, token, ROOM, &id), PD_AUTH_OK);
    assert_null(id.user_image);
    pd_identity_free(&id);
    free(token);

    token = pd_jwt_mint_hs256((const unsigned char *)SECRET, strlen(SECRET), "u8", "Di", NULL, ROOM,
                              NOW - 120, NOW - 60);
    assert_int_equal(verify_as(&cfg, token, ROOM, NULL), PD_AUTH_EXPIRED);
    free(token);
}

static void test_mint_rejects_bad_input(void **state)
{
    const unsigned char *s = (const unsigned char *)SECRET;
    assert_null(pd_jwt_mint_hs256(s, 0, "u", "n", NULL, ROOM, NOW, NOW + 1));
    assert_null(pd_jwt_mint_hs256(NULL, 4, "u", "n", NULL, ROOM, NOW, NOW + 1));
    assert_null(pd_jwt_mint_hs256(s, strlen(SECRET), NULL, "n", NULL, ROOM, NOW, NOW + 1));
    assert_null(pd_jwt_mint_hs256(s, strlen(SECRET), "u", NULL, NULL, ROOM, NOW, NOW + 1));
    assert_null(pd_jwt_mint_hs256(s, strlen(SECRET), "u", "n", NULL, NULL, NOW, NOW + 1));
}

/* ---- identity ---- */

static void test_auth_codes(void **state)
{
    assert_null(pd_auth_code(PD_AUTH_OK));
    assert_string_equal(pd_auth_code(PD_AUTH_MISSING), "AUTH_MISSING");
    assert_string_equal(pd_auth_code(PD_AUTH_INVALID), "AUTH_INVALID");
    assert_string_equal(pd_auth_code(PD_AUTH_EXPIRED), "AUTH_EXPIRED");
    assert_string_equal(pd_auth_code(PD_AUTH_FORBIDDEN), "AUTH_FORBIDDEN");
    assert_string_equal(pd_auth_code(PD_AUTH_UNAVAILABLE), "SERVICE_UNAVAILABLE");
}

static void test_identity_copy_and_free(void **state)
{
    char uid[] = "u1", uname[] = "Ann", img[] = "https://i";
    pd_identity_t src = {uid, uname, img, 42};
    pd_identity_t dst;
    pd_identity_copy(&dst, &src);
    assert_ptr_not_equal(dst.user_id, uid);
    assert_string_equal(dst.user_id, "u1");
    assert_string_equal(dst.user_name, "Ann");
    assert_string_equal(dst.user_image, "https://i");
    assert_int_equal(dst.expires_at_ms, 42);
    pd_identity_free(&dst);
    assert_null(dst.user_id);
    assert_null(dst.user_image);
    assert_int_equal(dst.expires_at_ms, 0);

    pd_identity_t no_image = {uid, uname, NULL, 0};
    pd_identity_copy(&dst, &no_image);
    assert_null(dst.user_image);
    pd_identity_free(&dst);
    pd_identity_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_hs256),
        cmocka_unit_test(test_default_alg_is_hs256),
        cmocka_unit_test(test_valid_rs256),
        cmocka_unit_test(test_valid_es256),
        cmocka_unit_test(test_es256_other_key),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_alg_confusion_hs256_with_rsa_pem),
        cmocka_unit_test(test_rs256_token_to_hs256_verifier),
        cmocka_unit_test(test_es256_token_to_rs256_verifier),
        cmocka_unit_test(test_hs512_token_to_hs256_verifier),
        cmocka_unit_test(test_duplicate_alg_header),
        cmocka_unit_test(test_header_variants),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_expired_within_leeway),
        cmocka_unit_test(test_negative_leeway_counts_as_zero),
        cmocka_unit_test(test_fractional_exp),
        cmocka_unit_test(test_nbf),
        cmocka_unit_test(test_iat),
        cmocka_unit_test(test_time_claim_types),
        cmocka_unit_test(test_missing_claims),
        cmocka_unit_test(test_claim_types),
        cmocka_unit_test(test_embedded_nul_rejected),
        cmocka_unit_test(test_sub_sizes),
        cmocka_unit_test(test_name_sizes),
        cmocka_unit_test(test_picture_and_img),
        cmocka_unit_test(test_picture_size),
        cmocka_unit_test(test_wrong_room),
        cmocka_unit_test(test_identity_untouched_on_failure),
        cmocka_unit_test(test_wrong_room_and_expired),
        cmocka_unit_test(test_wrong_room_and_nbf),
        cmocka_unit_test(test_issuer),
        cmocka_unit_test(test_audience),
        cmocka_unit_test(test_check_order_iss_room_exp),
        cmocka_unit_test(test_garbage_tokens),
        cmocka_unit_test(test_token_with_nul_byte),
        cmocka_unit_test(test_payload_not_an_object),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_empty_token),
        cmocka_unit_test(test_verifier_new_errors),
        cmocka_unit_test(test_verifier_new_truncates_message),
        cmocka_unit_test(test_mint_round_trip),
        cmocka_unit_test(test_mint_without_picture),
        cmocka_unit_test(test_mint_rejects_bad_input),
        cmocka_unit_test(test_auth_codes),
        cmocka_unit_test(test_identity_copy_and_free),
    };
    return cmocka_run_group_tests(tests, make_keys, free_keys);
}
