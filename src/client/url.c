#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "proto/proto.h"

static int url_fail(char *err, size_t errlen, const char *msg, const char *url)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: \"%s\"", msg, url);
    return PD_ERR_INVALID;
}

/* Splits off the scheme; returns the rest, or NULL when it is not ws or wss. */
static const char *url_scheme(const char *url, int *tls)
{
    if (strncmp(url, "ws://", 5) == 0) {
        *tls = 0;
        return url + 5;
    }
    if (strncmp(url, "wss://", 6) == 0) {
        *tls = 1;
        return url + 6;
    }
    return NULL;
}

static int port_valid(const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return 0;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

static int host_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_';
}

static int host_name_valid(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!host_char_ok(s[i]))
            return 0;
    return 1;
}

/* The host of an authority: [v6] or a name; returns where the port part starts, or NULL. */
static const char *url_host(const char *auth, size_t len, pd_url_t *u)
{
    if (len > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', len);
        if (!close || close == auth + 1 ||
            strspn(auth + 1, "0123456789abcdefABCDEF:.") < (size_t)(close - auth - 1))
            return NULL;
        u->host = pd_strndup(auth + 1, (size_t)(close - auth - 1));
        return close + 1;
    }
    const char *colon = memchr(auth, ':', len);
    size_t host_len = colon ? (size_t)(colon - auth) : len;
    if (!host_name_valid(auth, host_len))
        return NULL;
    u->host = pd_strndup(auth, host_len);
    return auth + host_len;
}

/* Parses "host[:port]" of length len; returns 0 or -1. */
static int url_authority(const char *auth, size_t len, pd_url_t *u)
{
    const char *rest = url_host(auth, len, u);
    if (!rest)
        return -1;
    size_t rest_len = len - (size_t)(rest - auth);
    if (rest_len == 0) {
        u->port = pd_strndup(u->tls ? "443" : "80", u->tls ? 3 : 2);
    } else {
        if (rest[0] != ':' || !port_valid(rest + 1, rest_len - 1))
            return -1;
        u->port = pd_strndup(rest + 1, rest_len - 1);
    }
    u->host_header = pd_strndup(auth, len);
    return 0;
}

static int prefix_valid(const char *p)
{
    /* Characters that would need escaping, or that start a query or fragment. */
    for (; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == '%' || *p == '"' ||
            (unsigned char)*p >= 0x7f)
            return 0;
    return 1;
}

static void url_prefix(const char *path, pd_url_t *u)
{
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--;
    u->prefix = pd_strndup(path, len);
}

int pd_url_parse(pd_url_t *u, const char *url, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    const char *rest = url ? url_scheme(url, &u->tls) : NULL;
    if (!rest)
        return url_fail(err, errlen, "the URL must start with ws:// or wss://",
                        url ? url : "(none)");
    size_t auth_len = strcspn(rest, "/?#");
    if (memchr(rest, '@', auth_len))
        return url_fail(err, errlen, "the URL must not carry a user name or password", url);
    if (url_authority(rest, auth_len, u) != 0) {
        pd_url_free(u);
        return url_fail(err, errlen, "the URL's host or port is malformed", url);
    }
    if (!prefix_valid(rest + auth_len)) {
        pd_url_free(u);
        return url_fail(err, errlen,
                        "the URL must not have a query, a fragment, or characters that need "
                        "escaping in its path",
                        url);
    }
    url_prefix(rest + auth_len, u);
    return 0;
}

void pd_url_free(pd_url_t *u)
{
    free(u->host);
    free(u->port);
    free(u->host_header);
    free(u->prefix);
    memset(u, 0, sizeof *u);
}

void pd_url_room_target(const pd_url_t *u, const char *workspace, const char *key, pd_buf_t *out)
{
    pd_buf_append_cstr(out, u->prefix);
    pd_proto_append_room_path(out, pd_slice_cstr(workspace));
    pd_buf_appendf(out, "?_pk=%s", key);
}
