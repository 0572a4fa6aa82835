/*
 * Server URLs and room paths. A client is given the server's base URL
 * ("wss://presence.example.com/prefix") and a workspace; this module splits
 * the URL and builds the request target PartySocket would use. No I/O.
 */
#ifndef PD_CLIENT_URL_H
#define PD_CLIENT_URL_H

#include <stddef.h>

#include "base/buf.h"

/* A parsed base URL; every string is owned by the struct. */
typedef struct {
    int tls;           /* wss:// */
    char *host;        /* a name, an IPv4 address, or an IPv6 address without brackets */
    char *port;        /* decimal, "80"/"443" when the URL has none */
    char *host_header; /* the Host header: host as written, with ":port" when given */
    char *prefix;      /* path before /parties, without a trailing '/'; often "" */
} pd_url_t;

/*
 * Parses url: "ws://" or "wss://", a host (name, IPv4, or [IPv6]), an
 * optional port 1-65535, an optional path prefix. User info, a query or a
 * fragment are refused. Returns 0, or PD_ERR_INVALID with a message in err
 * (err may be NULL); on error u holds nothing to free.
 */
int pd_url_parse(pd_url_t *u, const char *url, char *err, size_t errlen);
/* Frees the strings; u may then be parsed into again. */
void pd_url_free(pd_url_t *u);

/*
 * Appends "{prefix}{room path}?_pk={key}", the room path being
 * pd_proto_append_room_path()'s (workspace and key already validated with
 * pd_proto_workspace_valid() and pd_proto_conn_key_valid(), so nothing
 * needs escaping).
 */
void pd_url_room_target(const pd_url_t *u, const char *workspace, const char *key, pd_buf_t *out);

#endif
