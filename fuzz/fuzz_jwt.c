/*
 * Arbitrary bytes against an HS256 verifier. The first byte picks how far in
 * the input goes: as the whole token, after a valid header, or as the header
 * or the claims of a correctly signed token, so the fuzzer reaches the
 * header check, libjwt's parser and the claim checks rather than stopping at
 * the signature. Another bit turns on iss/aud checking.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/jwt.h"
#include "base/buf.h"

#define SECRET "fuzz-secret"
#define HS_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define CLAIMS "{\"sub\":\"u1\",\"name\":\"Ann\",\"room\":\"presence-ws1\",\"exp\":1700000600}"
#define NOW 1700000000

enum {
    AS_TOKEN,
    AFTER_HEADER,
    AS_CLAIMS,
    AS_HEADER,
    MODES
};

static void append_b64url(pd_buf_t *b, const uint8_t *data, size_t len)
{
    size_t start = b->len;
    pd_buf_reserve(b, 4 * ((len + 2) / 3));
    int n = EVP_EncodeBlock((unsigned char *)b->base + start, data, (int)len);
    while (n > 0 && b->base[start + (size_t)n - 1] == '=')
        n--;
    for (int i = 0; i < n; i++) {
        char *c = &b->base[start + (size_t)i];
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    }
    b->len = start + (size_t)n;
    b->base[b->len] = '\0';
}

static void append_signature(pd_buf_t *b)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)b->base, b->len, mac,
         &mac_len);
    pd_buf_append_char(b, '.');
    append_b64url(b, mac, mac_len);
}

static void signed_token(pd_buf_t *b, const uint8_t *header, size_t header_len,
                         const uint8_t *claims, size_t claims_len)
{
    append_b64url(b, header, header_len);
    pd_buf_append_char(b, '.');
    append_b64url(b, claims, claims_len);
    append_signature(b);
}

static void build_token(pd_buf_t *b, int mode, const uint8_t *data, size_t size)
{
    static const char header[] = HS_HEADER;
    static const char claims[] = CLAIMS;
    switch (mode) {
    case AS_TOKEN: pd_buf_append(b, data, size); break;
    case AFTER_HEADER:
        append_b64url(b, (const uint8_t *)header, sizeof(header) - 1);
        pd_buf_append_char(b, '.');
        pd_buf_append(b, data, size);
        break;
    case AS_CLAIMS: signed_token(b, (const uint8_t *)header, sizeof(header) - 1, data, size); break;
    default: signed_token(b, data, size, (const uint8_t *)claims, sizeof(claims) - 1); break;
    }
}

/* An accepted identity must respect the sizes the protocol promises. */
static void check_identity(const pd_identity_t *id)
{
    size_t sub = strlen(id->user_id), name = strlen(id->user_name);
    if (sub < 1 || sub > 128 || name < 1 || name > 256 ||
        (id->user_image && strlen(id->user_image) > 2048))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    pd_jwt_config_t cfg = {.alg = "HS256",
                           .key = (const unsigned char *)SECRET,
                           .key_len = strlen(SECRET),
                           .leeway_s = 30};
    if (data[0] & 0x80) {
        cfg.issuer = "https://app";
        cfg.audience = "presenced";
    }
    pd_jwt_verifier_t *v = NULL;
    if (pd_jwt_verifier_new(&v, &cfg, NULL, 0) != 0)
        abort();
    pd_buf_t token = PD_BUF_INIT;
    build_token(&token, (data[0] & 0x7f) % MODES, data + 1, size - 1);
    pd_identity_t id = {0};
    pd_auth_status_t st =
        pd_jwt_verify(v, pd_buf_slice(&token), PD_SLICE_LIT("presence-ws1"), NOW, &id);
    if (st == PD_AUTH_OK)
        check_identity(&id);
    pd_identity_free(&id);
    pd_buf_free(&token);
    pd_jwt_verifier_free(v);
    return 0;
}
