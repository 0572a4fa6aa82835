#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "../base/mem.h"
#include "../cluster/cluster.h"
#include "../rooms/rooms.h"
#include "log.h"
#include "uring.h"

typedef enum {
    OPT_FLAG,     /* int, set to 1 */
    OPT_STR,      /* char *, copied */
    OPT_FILE,     /* char * + size_t after it: the file's bytes */
    OPT_SECONDS,  /* uint64_t milliseconds, given as (fractional) seconds */
    OPT_SIZE,     /* size_t */
    OPT_UINT,     /* unsigned */
    OPT_INT64,    /* int64_t */
    OPT_DOUBLE,   /* double */
    OPT_LISTEN,   /* HOST:PORT into listen_host/listen_port */
    OPT_ORIGINS,  /* comma-separated list, repeatable */
    OPT_LOGLEVEL, /* int */
    OPT_SECRET,   /* env only: the secret itself */
    OPT_HEADER,   /* one "Name: value" per use (env: one per line) */
    OPT_MOUNT,    /* one "/PREFIX=DIR" per use (env: one per line) */
    OPT_LEAVE,    /* unsigned pd_leave_messages_t: both, user_left or user_left_presence */
    OPT_URING,    /* unsigned pd_uring_mode_t: auto, on or off */
} opt_type_t;

typedef struct {
    const char *flag; /* without the leading "--" */
    const char *env;
    opt_type_t type;
    size_t offset;
    const char *arg; /* placeholder shown in --help */
    const char *help;
} opt_t;

#define OFF(field) offsetof(pd_config_t, field)

static const opt_t options[] = {
    {"listen", "PRESENCED_LISTEN", OPT_LISTEN, 0, "HOST:PORT",
     "address to listen on (default 127.0.0.1:1999; port 0 picks a free one)"},
    {"port-file", "PRESENCED_PORT_FILE", OPT_STR, OFF(port_file), "PATH",
     "write the bound port to PATH once listening"},
    {"dev", "PRESENCED_DEV", OPT_FLAG, OFF(dev), NULL,
     "development mode: random secret, GET /dev/token, demo at /; loopback only"},
    {"static-dir", "PRESENCED_STATIC_DIR", OPT_STR, OFF(static_dir), "DIR",
     "dev mode: serve the demo app from DIR at / (scripts/run.sh passes demo/)"},
    {"static-mount", "PRESENCED_STATIC_MOUNTS", OPT_MOUNT, 0, "/PREFIX=DIR",
     "dev mode: serve DIR at /PREFIX/ too, repeatable (env: one per line)"},
    {"jwt-secret-file", "PRESENCED_JWT_SECRET_FILE", OPT_FILE, OFF(jwt_secret), "FILE",
     "HS256 secret (a trailing newline is not part of it; an empty FILE is no secret yet); "
     "env PRESENCED_JWT_SECRET gives it inline"},
    {NULL, "PRESENCED_JWT_SECRET", OPT_SECRET, OFF(jwt_secret), NULL, NULL},
    {"jwt-public-key", "PRESENCED_JWT_PUBLIC_KEY", OPT_FILE, OFF(jwt_public_key), "FILE",
     "PEM public key for RS256 or ES256"},
    {"jwt-alg", "PRESENCED_JWT_ALG", OPT_STR, OFF(jwt_alg), "ALG",
     "the only accepted algorithm: HS256 (default), RS256 or ES256"},
    {"jwt-leeway", "PRESENCED_JWT_LEEWAY", OPT_INT64, OFF(jwt_leeway_s), "SECONDS",
     "allowed clock skew for exp/nbf/iat (default 5)"},
    {"jwt-issuer", "PRESENCED_JWT_ISSUER", OPT_STR, OFF(jwt_issuer), "ISS",
     "require this iss claim"},
    {"jwt-audience", "PRESENCED_JWT_AUDIENCE", OPT_STR, OFF(jwt_audience), "AUD",
     "require this aud claim"},
    {"ping-interval", "PRESENCED_PING_INTERVAL", OPT_SECONDS, OFF(ping_interval_ms), "SECONDS",
     "WebSocket ping period (default 10)"},
    {"idle-timeout", "PRESENCED_IDLE_TIMEOUT", OPT_SECONDS, OFF(idle_timeout_ms), "SECONDS",
     "close a connection silent this long (default 25)"},
    {"token-grace", "PRESENCED_TOKEN_GRACE", OPT_SECONDS, OFF(token_grace_ms), "SECONDS",
     "time to send token_refresh after a token expires (default 30)"},
    {"handshake-timeout", "PRESENCED_HANDSHAKE_TIMEOUT", OPT_SECONDS, OFF(handshake_timeout_ms),
     "SECONDS", "time to complete the HTTP request (default 10)"},
    {"linger", "PRESENCED_LINGER", OPT_SECONDS, OFF(linger_ms), "SECONDS",
     "keep presence this long after a close without a close frame (default 5; 0 disables)"},
    {"leave-messages", "PRESENCED_LEAVE_MESSAGES", OPT_LEAVE, OFF(leave_messages), "FORM",
     "how a leave is announced: both (default: user_left, then user_left_presence), "
     "user_left or user_left_presence"},
    {"max-message", "PRESENCED_MAX_MESSAGE", OPT_SIZE, OFF(max_message), "BYTES",
     "largest WebSocket message (default 4096; larger closes with 1009)"},
    {"max-header-bytes", "PRESENCED_MAX_HEADER_BYTES", OPT_SIZE, OFF(max_header_bytes), "BYTES",
     "largest request line + headers (default 8192; larger gets 431)"},
    {"max-path", "PRESENCED_MAX_PATH", OPT_SIZE, OFF(max_path), "BYTES",
     "longest currentPath (default 1024)"},
    {"max-resource-type", "PRESENCED_MAX_RESOURCE_TYPE", OPT_SIZE, OFF(max_resource_type), "BYTES",
     "longest resourceType (default 32)"},
    {"max-resource-id", "PRESENCED_MAX_RESOURCE_ID", OPT_SIZE, OFF(max_resource_id), "BYTES",
     "longest resourceId (default 256)"},
    {"rate", "PRESENCED_RATE", OPT_DOUBLE, OFF(rate), "N",
     "presence updates per second per connection (default 20)"},
    {"burst", "PRESENCED_BURST", OPT_DOUBLE, OFF(burst), "N",
     "burst of presence updates per connection (default 40)"},
    {"msg-rate", "PRESENCED_MSG_RATE", OPT_DOUBLE, OFF(msg_rate), "N",
     "WebSocket messages per second per connection, of any type (default 50)"},
    {"msg-burst", "PRESENCED_MSG_BURST", OPT_DOUBLE, OFF(msg_burst), "N",
     "burst of messages per connection; past it: close 1008 RATE_LIMITED (default 200)"},
    {"user-rate", "PRESENCED_USER_RATE", OPT_DOUBLE, OFF(user_rate), "N",
     "presence changes per second one user (all its tabs) may cause in a room (default 20; 0: no limit)"},
    {"user-burst", "PRESENCED_USER_BURST", OPT_DOUBLE, OFF(user_burst), "N",
     "burst of presence changes per user per room (default 40)"},
    {"max-conns-per-user", "PRESENCED_MAX_CONNS_PER_USER", OPT_UINT, OFF(max_conns_per_user), "N",
     "connections per user per room (default 16)"},
    {"max-conns-per-room", "PRESENCED_MAX_CONNS_PER_ROOM", OPT_UINT, OFF(max_conns_per_room), "N",
     "connections per room (default 10000)"},
    {"max-conns", "PRESENCED_MAX_CONNS", OPT_UINT, OFF(max_conns), "N",
     "connections in the whole server (default: open-file limit minus a reserve)"},
    {"max-send-buffer", "PRESENCED_MAX_SEND_BUFFER", OPT_SIZE, OFF(max_send_buffer), "BYTES",
     "unsent bytes per connection before it is resynchronised (default 262144)"},
    {"max-pending-messages", "PRESENCED_MAX_PENDING_MESSAGES", OPT_UINT, OFF(max_pending_msgs), "N",
     "messages kept while a connection is being admitted (default 32)"},
    {"max-pending-bytes", "PRESENCED_MAX_PENDING_BYTES", OPT_SIZE, OFF(max_pending_bytes), "BYTES",
     "bytes of messages kept while a connection is being admitted (default 16384)"},
    {"max-api-body", "PRESENCED_MAX_API_BODY", OPT_SIZE, OFF(max_api_body), "BYTES",
     "request body accepted by the kick call, the only one that takes a body (default 4096)"},
    {"status-reserve", "PRESENCED_STATUS_RESERVE", OPT_UINT, OFF(status_reserve), "N",
     "connections past --max-conns kept for /healthz, /metrics and 503 answers (default 8)"},
    {"max-handshakes-per-ip", "PRESENCED_MAX_HANDSHAKES_PER_IP", OPT_UINT,
     OFF(max_handshakes_per_ip), "N",
     "connections per client address still in the HTTP phase (default 0: no limit)"},
    {"threads", "PRESENCED_THREADS", OPT_UINT, OFF(threads), "N",
     "loop threads, rooms sharded over them by room id (default 0: one per CPU; at most 64)"},
    {"flush-batch", "PRESENCED_FLUSH_BATCH", OPT_UINT, OFF(flush_batch), "N",
     "sockets written per loop turn before reading input again (default 16; 0: no limit)"},
    {"write-delay", "PRESENCED_WRITE_DELAY", OPT_SECONDS, OFF(write_delay_ms), "SECONDS",
     "write a member at most once per this long while messages keep coming (default 0; at most 1)"},
    {"io-uring", "PRESENCED_IO_URING", OPT_URING, OFF(io_uring), "auto|on|off",
     "flush writes through io_uring: auto uses it where the kernel allows, on refuses to start "
     "without it (default auto)"},
    {"allowed-origin", "PRESENCED_ALLOWED_ORIGINS", OPT_ORIGINS, 0, "ORIGINS",
     "comma-separated Origin values allowed to connect (default: any)"},
    {"verify-url", "PRESENCED_VERIFY_URL", OPT_STR, OFF(verify_url), "URL",
     "check tokens with POST URL (the app's verify endpoint) instead of JWTs"},
    {"verify-timeout", "PRESENCED_VERIFY_TIMEOUT", OPT_SECONDS, OFF(verify_timeout_ms), "SECONDS",
     "answer time allowed to the verify endpoint (default 3)"},
    {"verify-header", "PRESENCED_VERIFY_HEADERS", OPT_HEADER, 0, "'NAME: VALUE'",
     "extra header for verify requests, repeatable (env: one per line)"},
    {"verify-max-inflight", "PRESENCED_VERIFY_MAX_INFLIGHT", OPT_UINT, OFF(verify_max_inflight),
     "N", "concurrent verify requests; more wait in a queue (default 64)"},
    {"verify-cache-ttl", "PRESENCED_VERIFY_CACHE_TTL", OPT_SECONDS, OFF(verify_cache_ttl_ms),
     "SECONDS", "reuse a successful verification this long (default 30; 0 disables)"},
    {"verify-cache-max", "PRESENCED_VERIFY_CACHE_MAX", OPT_UINT, OFF(verify_cache_max), "N",
     "verifications kept in the cache (default 10000)"},
    {"redis", "PRESENCED_REDIS_URL", OPT_STR, OFF(redis_url), "URL",
     "share presence with other nodes through Redis at redis://[:PASSWORD@]HOST:PORT[/DB] "
     "(default: none, a single node)"},
    {"node-id", "PRESENCED_NODE_ID", OPT_STR, OFF(node_id), "ID",
     "this node's name in the cluster, 1-64 of [A-Za-z0-9_.-] (default: random at start, logged)"},
    {"node-timeout", "PRESENCED_NODE_TIMEOUT", OPT_SECONDS, OFF(node_timeout_ms), "SECONDS",
     "a node not heard from this long is dead and its members leave everywhere (default 5)"},
    {"api-secret-file", "PRESENCED_API_SECRET_FILE", OPT_FILE, OFF(api_secret), "FILE",
     "enable the HTTP API (/api/rooms) for this Bearer secret; env PRESENCED_API_SECRET inline"},
    {NULL, "PRESENCED_API_SECRET", OPT_SECRET, OFF(api_secret), NULL, NULL},
    {"log-level", "PRESENCED_LOG_LEVEL", OPT_LOGLEVEL, OFF(log_level), "LEVEL",
     "debug, info (default), warn, error or off"},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

void pd_config_defaults(pd_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen_host = pd_strndup("127.0.0.1", 9);
    cfg->listen_port = 1999;
    cfg->jwt_alg = pd_strndup("HS256", 5);
    cfg->jwt_leeway_s = 5;
    cfg->ping_interval_ms = 10000;
    cfg->idle_timeout_ms = 25000;
    cfg->token_grace_ms = 30000;
    cfg->handshake_timeout_ms = 10000;
    cfg->linger_ms = 5000;
    cfg->leave_messages = PD_LEAVE_BOTH;
    cfg->io_uring = PD_URING_AUTO;
    cfg->max_message = 4096;
    cfg->max_header_bytes = 8192;
    cfg->max_path = 1024;
    cfg->max_resource_type = 32;
    cfg->max_resource_id = 256;
    cfg->rate = 20;
    cfg->burst = 40;
    cfg->user_rate = 20;
    cfg->user_burst = 40;
    cfg->max_conns_per_user = 16;
    cfg->max_conns_per_room = 10000;
    cfg->max_send_buffer = 256 * 1024;
    cfg->max_pending_msgs = 32;
    cfg->max_pending_bytes = 16384;
    cfg->max_api_body = 4096;
    cfg->status_reserve = 8;
    cfg->msg_rate = 50;
    cfg->msg_burst = 200;
    cfg->flush_batch = 16;
    cfg->threads = 0;
    cfg->log_level = PD_LOG_INFO;
    cfg->verify_timeout_ms = 3000;
    cfg->verify_max_inflight = 64;
    cfg->verify_cache_ttl_ms = 30000;
    cfg->verify_cache_max = 10000;
    cfg->node_timeout_ms = 5000;
}

static void free_list(char ***list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

static void list_add(char ***list, size_t *n, const char *item, size_t len)
{
    *list = pd_realloc(*list, (*n + 1) * sizeof(char *));
    (*list)[(*n)++] = pd_strndup(item, len);
}

static void wipe_free(char *secret, size_t len)
{
    if (secret)
        memset(secret, 0, len);
    free(secret);
}

void pd_config_free(pd_config_t *cfg)
{
    free(cfg->listen_host);
    free(cfg->port_file);
    free(cfg->static_dir);
    free_list(&cfg->static_mounts, &cfg->n_static_mounts);
    wipe_free(cfg->jwt_secret, cfg->jwt_secret_len);
    wipe_free(cfg->api_secret, cfg->api_secret_len);
    free(cfg->jwt_secret_empty_file);
    free(cfg->jwt_public_key);
    free(cfg->jwt_alg);
    free(cfg->jwt_issuer);
    free(cfg->jwt_audience);
    free(cfg->verify_url);
    if (cfg->redis_url)
        memset(cfg->redis_url, 0, strlen(cfg->redis_url)); /* it may hold a password */
    free(cfg->redis_url);
    free(cfg->node_id);
    free_list(&cfg->allowed_origins, &cfg->n_allowed_origins);
    free_list(&cfg->verify_headers, &cfg->n_verify_headers);
    memset(cfg, 0, sizeof(*cfg));
}

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
    return PD_ERR_CONFIG;
}

/* 0 with the bytes in *out, 1 (*out untouched) for a file of nothing but
 * newlines, or an error with a message. */
static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
    pd_buf_t b = PD_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < (1 << 20))
        pd_buf_append(&b, chunk, n);
    fclose(f);
    /* A secret file's trailing newline is not part of the secret. */
    while (b.len && (b.base[b.len - 1] == '\n' || b.base[b.len - 1] == '\r'))
        b.len--;
    if (!b.len) {
        pd_buf_free(&b);
        return 1;
    }
    free(*out);
    *out = pd_strndup(b.base, b.len);
    *len = b.len;
    pd_buf_free(&b);
    return 0;
}

static int parse_listen(pd_config_t *cfg, const char *v, char *err, size_t errlen)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v)
        return fail(err, errlen, "--listen wants HOST:PORT, got \"%s\"%s", v, "");
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return fail(err, errlen, "--listen: bad port in \"%s\"%s", v, "");
    const char *host = v;
    size_t hlen = (size_t)(colon - v);
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    free(cfg->listen_host);
    cfg->listen_host = pd_strndup(host, hlen);
    cfg->listen_port = (int)port;
    return 0;
}

static int parse_origins(pd_config_t *cfg, const char *v)
{
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && (*p == ' ')) {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        if (n)
            list_add(&cfg->allowed_origins, &cfg->n_allowed_origins, p, n);
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

/* One header per flag; the environment variable holds one per line. */
static int parse_headers(pd_config_t *cfg, const char *v, char *err, size_t errlen)
{
    for (const char *p = v; *p;) {
        size_t n = strcspn(p, "\n");
        size_t len = n && p[n - 1] == '\r' ? n - 1 : n;
        if (len) {
            if (!memchr(p, ':', len) || memchr(p, '\r', len)) {
                snprintf(err, errlen, "--verify-header wants \"Name: value\", got \"%.*s\"",
                         (int)len, p);
                return PD_ERR_CONFIG;
            }
            list_add(&cfg->verify_headers, &cfg->n_verify_headers, p, len);
        }
        p += n + (p[n] == '\n');
    }
    return 0;
}

/* "/prefix=dir": a prefix of [A-Za-z0-9_-] segments, not "/" alone, and a directory. */
static int mount_valid(const char *p, size_t len)
{
    const char *eq = memchr(p, '=', len);
    if (!eq || eq - p < 2 || p[0] != '/' || eq[-1] == '/' || eq + 1 == p + len)
        return 0;
    for (const char *q = p + 1; q < eq; q++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/", *q) ||
            (*q == '/' && q[-1] == '/'))
            return 0;
    return 1;
}

static int parse_mounts(pd_config_t *cfg, const char *v, char *err, size_t errlen)
{
    for (const char *p = v; *p;) {
        size_t n = strcspn(p, "\n");
        if (n && !mount_valid(p, n)) {
            snprintf(err, errlen, "--static-mount wants \"/PREFIX=DIR\", got \"%.*s\"", (int)n, p);
            return PD_ERR_CONFIG;
        }
        if (n)
            list_add(&cfg->static_mounts, &cfg->n_static_mounts, p, n);
        p += n + (p[n] == '\n');
    }
    return 0;
}

static int parse_number(const char *v, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d != d || d < min || d > max)
        return -1;
    *out = d;
    return 0;
}

static int set_numeric(const opt_t *o, void *field, const char *v, char *err, size_t errlen)
{
    double d;
    double max = o->type == OPT_SECONDS ? 1e7 : o->type == OPT_UINT ? 4294967295.0 : 1e15;
    if (parse_number(v, 0, max, &d) < 0)
        return fail(err, errlen, "--%s: \"%s\" is not a valid non-negative number", o->flag, v);
    int integral = o->type != OPT_SECONDS && o->type != OPT_DOUBLE;
    if (integral && d != (double)(int64_t)d)
        return fail(err, errlen, "--%s: \"%s\" must be a whole number", o->flag, v);
    switch (o->type) {
    case OPT_SECONDS: *(uint64_t *)field = (uint64_t)(d * 1000.0 + 0.5); break;
    case OPT_SIZE: *(size_t *)field = (size_t)d; break;
    case OPT_UINT: *(unsigned *)field = (unsigned)d; break;
    case OPT_INT64: *(int64_t *)field = (int64_t)d; break;
    default: *(double *)field = d; break;
    }
    return 0;
}

static int parse_leave(unsigned *field, const char *name, const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "both") == 0)
        *field = PD_LEAVE_BOTH;
    else if (strcmp(v, "user_left") == 0)
        *field = PD_LEAVE_USER_LEFT;
    else if (strcmp(v, "user_left_presence") == 0)
        *field = PD_LEAVE_USER_LEFT_PRESENCE;
    else
        return fail(err, errlen, "--%s must be both, user_left or user_left_presence, not \"%s\"",
                    name, v);
    return 0;
}

static int parse_uring(unsigned *field, const char *name, const char *v, char *err, size_t errlen)
{
    pd_uring_mode_t mode;
    if (pd_uring_parse_mode(v, &mode) != 0)
        return fail(err, errlen, "--%s must be auto, on or off, not \"%s\"", name, v);
    *field = (unsigned)mode;
    return 0;
}

static int apply(pd_config_t *cfg, const opt_t *o, const char *v, char *err, size_t errlen)
{
    void *field = (char *)cfg + o->offset;
    const char *name = o->flag ? o->flag : o->env;
    switch (o->type) {
    case OPT_FLAG:
        *(int *)field = !v || !(strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || !*v);
        return 0;
    case OPT_STR:
        free(*(char **)field);
        *(char **)field = pd_strndup(v, strlen(v));
        return 0;
    case OPT_FILE: {
        int rc =
            read_file(v, (char **)field, (size_t *)((char *)field + sizeof(char *)), err, errlen);
        if (rc != 1)
            return rc;
        if (o->offset != OFF(jwt_secret))
            return fail(err, errlen, "--%s: %s is empty", name, v);
        /* An empty secret file (as a package installs it) is no secret yet:
         * validation refuses to start unless another key stands in. */
        wipe_free(cfg->jwt_secret, cfg->jwt_secret_len);
        cfg->jwt_secret = NULL;
        cfg->jwt_secret_len = 0;
        free(cfg->jwt_secret_empty_file);
        cfg->jwt_secret_empty_file = pd_strndup(v, strlen(v));
        return 0;
    }
    case OPT_SECRET:
        free(*(char **)field);
        *(char **)field = pd_strndup(v, strlen(v));
        *(size_t *)((char *)field + sizeof(char *)) = strlen(v);
        return 0;
    case OPT_LISTEN: return parse_listen(cfg, v, err, errlen);
    case OPT_HEADER: return parse_headers(cfg, v, err, errlen);
    case OPT_MOUNT: return parse_mounts(cfg, v, err, errlen);
    case OPT_ORIGINS: return parse_origins(cfg, v);
    case OPT_LEAVE: return parse_leave((unsigned *)field, name, v, err, errlen);
    case OPT_URING: return parse_uring((unsigned *)field, name, v, err, errlen);
    case OPT_LOGLEVEL:
        if ((*(int *)field = pd_log_parse_level(v)) < 0)
            return fail(err, errlen, "--%s: unknown level \"%s\"", name, v);
        return 0;
    default: return set_numeric(o, field, v, err, errlen);
    }
}

static void print_help(void)
{
    printf("Usage: presenced [OPTIONS]\n\n"
           "A workspace presence server: WebSocket rooms at " PD_PROTO_ROOM_PATH_PREFIX
           "{workspaceId}.\n"
           "Every option can also be set with the environment variable shown.\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_t *o = &options[i];
        if (!o->flag)
            continue;
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->flag, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-32s %s\n  %-32s [%s]\n", left, o->help, "", o->env);
    }
    printf("  %-32s %s\n  %-32s %s\n", "--help", "show this help", "--version", "show the version");
}

static const opt_t *find_flag(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *f = options[i].flag;
        if (f && strlen(f) == n && strncmp(f, arg, n) == 0) {
            if (eq)
                *inline_value = eq + 1;
            return &options[i];
        }
    }
    return NULL;
}

static int load_env(pd_config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *v = getenv(options[i].env);
        if (v && *v) {
            int rc = apply(cfg, &options[i], v, err, errlen);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int load_args(pd_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help();
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("presenced %s\n", PD_VERSION);
            return 1;
        }
        const char *v = NULL;
        const opt_t *o = strncmp(a, "--", 2) == 0 ? find_flag(a + 2, &v) : NULL;
        if (!o)
            return fail(err, errlen, "unknown option \"%s\" (see --help)%s", a, "");
        if (o->type != OPT_FLAG && !v) {
            if (i + 1 >= argc)
                return fail(err, errlen, "%s needs a value%s", a, "");
            v = argv[++i];
        }
        int rc = apply(cfg, o, v, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int pd_config_load(pd_config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    int rc = load_env(cfg, err, errlen);
    return rc ? rc : load_args(cfg, argc, argv, err, errlen);
}

int pd_config_option(size_t i, const char **flag, const char **env)
{
    if (i >= N_OPTIONS)
        return -1;
    *flag = options[i].flag;
    *env = options[i].env;
    return 0;
}

static int is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

static int redis_url_valid(const char *url)
{
    char host[256], user[128], password[256];
    int port;
    unsigned db;
    int rc = pd_cluster_parse_url(url, host, sizeof(host), &port, user, sizeof(user), password,
                                  sizeof(password), &db);
    memset(password, 0, sizeof(password));
    return rc == 0;
}

static int node_id_valid(const char *id)
{
    size_t n = strlen(id);
    return n >= 1 && n <= 64 &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

int pd_config_validate(const pd_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->dev && !is_loopback(cfg->listen_host))
        return fail(err, errlen, "--dev only listens on loopback, not %s%s", cfg->listen_host, "");
    int hs = strcmp(cfg->jwt_alg, "HS256") == 0;
    if (!hs && strcmp(cfg->jwt_alg, "RS256") != 0 && strcmp(cfg->jwt_alg, "ES256") != 0)
        return fail(err, errlen, "--jwt-alg must be HS256, RS256 or ES256, not %s%s", cfg->jwt_alg,
                    "");
    if (cfg->verify_url && strncmp(cfg->verify_url, "http://", 7) != 0 &&
        strncmp(cfg->verify_url, "https://", 8) != 0)
        return fail(err, errlen, "--verify-url must be an http:// or https:// URL%s%s", "", "");
    if (cfg->verify_url && (cfg->verify_timeout_ms == 0 || cfg->verify_max_inflight == 0))
        return fail(err, errlen,
                    "--verify-timeout and --verify-max-inflight must be above zero%s%s", "", "");
    if (!cfg->dev && !cfg->verify_url && hs && !cfg->jwt_secret && cfg->jwt_secret_empty_file) {
        snprintf(err, errlen,
                 "no token key: the secret file %s is empty. Write the HS256 secret into it "
                 "(e.g. openssl rand -hex 32), or set --jwt-alg RS256 or ES256 with "
                 "--jwt-public-key FILE, or --verify-url URL (or their PRESENCED_* variables)",
                 cfg->jwt_secret_empty_file);
        return PD_ERR_CONFIG;
    }
    if (!cfg->dev && !cfg->verify_url && hs && !cfg->jwt_secret)
        return fail(err, errlen,
                    "no token key: give --jwt-secret-file FILE (or PRESENCED_JWT_SECRET),%s%s",
                    " --jwt-alg RS256 or ES256 with --jwt-public-key FILE, or --verify-url URL;"
                    " or --dev to try it out",
                    "");
    if (!hs && !cfg->jwt_public_key && !cfg->verify_url)
        return fail(err, errlen, "--jwt-alg %s needs --jwt-public-key FILE%s", cfg->jwt_alg, "");
    if (cfg->idle_timeout_ms == 0 || cfg->ping_interval_ms == 0)
        return fail(err, errlen, "--ping-interval and --idle-timeout must be above zero%s%s", "",
                    "");
    if (cfg->write_delay_ms > 1000)
        return fail(err, errlen, "--write-delay is at most 1 second%s%s", "", "");
    if (cfg->threads > 64)
        return fail(err, errlen, "--threads is at most 64%s%s", "", "");
    if (cfg->ping_interval_ms >= cfg->idle_timeout_ms)
        return fail(err, errlen, "--ping-interval must be shorter than --idle-timeout%s%s", "", "");
    if (cfg->max_message < 64 || cfg->max_header_bytes < 256 || cfg->rate <= 0 || cfg->burst < 1)
        return fail(err, errlen,
                    "a limit is too small (max-message >= 64, max-header-bytes >= 256,%s%s",
                    " rate > 0, burst >= 1)", "");
    if (cfg->msg_rate <= 0 || cfg->msg_burst < 1)
        return fail(err, errlen, "--msg-rate must be above zero and --msg-burst at least 1%s%s", "",
                    "");
    if (cfg->redis_url && !redis_url_valid(cfg->redis_url))
        return fail(err, errlen,
                    "--redis must be a redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] URL%s%s", "", "");
    if (cfg->node_id && !node_id_valid(cfg->node_id))
        return fail(err, errlen, "--node-id must be 1-64 of [A-Za-z0-9_.-], not \"%s\"%s",
                    cfg->node_id, "");
    if (cfg->node_timeout_ms < 1000 || cfg->node_timeout_ms > 3600000)
        return fail(err, errlen, "--node-timeout must be between 1 and 3600 seconds%s%s", "", "");
    if (cfg->user_rate < 0 || cfg->user_burst < 1)
        return fail(err, errlen, "a limit is too small (user-rate >= 0, user-burst >= 1)%s%s", "",
                    "");
    return 0;
}
