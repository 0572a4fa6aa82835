#include "pdt_token.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/jwt.h"
#include "base/buf.h"
#include "base/mem.h"

/* Strings handed out to tests; a test harness may keep this one global list. */
static char **kept;
static size_t n_kept, cap_kept;

static const char *keep(char *s)
{
    if (s == NULL)
        return NULL;
    if (n_kept == cap_kept) {
        cap_kept = cap_kept ? cap_kept * 2 : 32;
        kept = pd_realloc(kept, cap_kept * sizeof(*kept));
    }
    kept[n_kept++] = s;
    return s;
}

void pdt_tokens_free(void)
{
    for (size_t i = 0; i < n_kept; i++)
        free(kept[i]);
    free(kept);
    kept = NULL;
    n_kept = cap_kept = 0;
}

int64_t pdt_now(void)
{
    return (int64_t)time(NULL);
}

const char *pdt_fmt(const char *fmt, ...)
{
    pd_buf_t b = PD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    pd_buf_vappendf(&b, fmt, ap);
    va_end(ap);
    if (b.base == NULL)
        pd_buf_append(&b, "", 0);
    return keep(b.base);
}

const char *pdt_name(const char *user)
{
    return pdt_fmt("%c%s", toupper((unsigned char)user[0]), user + 1);
}

const char *pdt_token_pic(const char *user, const char *name, const char *picture,
                          const char *workspace, int64_t ttl_s)
{
    char room[160];
    snprintf(room, sizeof(room), "presence-%s", workspace);
    int64_t now = pdt_now();
    return keep(pd_jwt_mint_hs256((const unsigned char *)PDT_SECRET, strlen(PDT_SECRET), user, name,
                                  picture, room, now, now + ttl_s));
}

const char *pdt_token(const char *user, const char *name, const char *workspace, int64_t ttl_s)
{
    return pdt_token_pic(user, name, NULL, workspace, ttl_s);
}

static void append_b64url(pd_buf_t *b, const unsigned char *data, size_t len)
{
    char *tmp = pd_malloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)tmp, data, (int)len);
    for (int i = 0; i < n && tmp[i] != '='; i++)
        pd_buf_append_char(b, tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i]);
    free(tmp);
}

const char *pdt_token_raw(const char *header_json, const char *claims_json, const char *secret)
{
    pd_buf_t b = PD_BUF_INIT;
    append_b64url(&b, (const unsigned char *)header_json, strlen(header_json));
    pd_buf_append_char(&b, '.');
    append_b64url(&b, (const unsigned char *)claims_json, strlen(claims_json));
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (secret != NULL)
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)b.base, b.len, mac,
             &mac_len);
    pd_buf_append_char(&b, '.');
    append_b64url(&b, mac, mac_len);
    return keep(b.base);
}
