#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/mem.h"
#include "internal.h"
#include "proto/proto.h"
#include "tls.h"

#define KEY_LEN 16
#define MAX_PATH 1024
#define MAX_RESOURCE_TYPE 32
#define MAX_RESOURCE_ID 256

/* ---- Names. ---- */

static const char *const errors[] = {
    [0] = "success",
    [1] = "invalid argument",
    [2] = "not possible in the client's current state",
    [3] = "no such user",
    [4] = "setup failed",
    [5] = "host name did not resolve",
    [6] = "cannot connect",
    [7] = "TLS failed",
    [8] = "the server refused the WebSocket upgrade",
    [9] = "the server broke the protocol",
    [10] = "the connection was closed",
    [11] = "timed out",
    [12] = "socket I/O failed",
    [13] = "no token",
    [14] = "the server got no token",
    [15] = "token invalid",
    [16] = "token expired",
    [17] = "token not valid for this workspace",
    [18] = "access revoked",
    [19] = "replaced by a newer connection with the same key",
    [20] = "room full",
    [21] = "too many connections for this user",
    [22] = "server unavailable",
};

const char *presence_strerror(int err)
{
    unsigned i = err <= 0 ? (unsigned)-err : ~0u;
    return i < sizeof errors / sizeof errors[0] ? errors[i] : "unknown error";
}

const char *presence_state_str(presence_state_t state)
{
    static const char *const names[] = {"idle", "connecting", "connected", "waiting", "stopped"};
    return (unsigned)state < sizeof names / sizeof names[0] ? names[state] : "unknown";
}

const char *presence_event_str(presence_event_type_t type)
{
    static const char *const names[] = {
        "",     "connected",    "snapshot", "joined",       "changed",
        "left", "disconnected", "stopped",  "server_error", "token_refreshed",
    };
    unsigned i = (unsigned)type;
    return i > 0 && i < sizeof names / sizeof names[0] ? names[i] : "unknown";
}

const char *presence_follow_status_str(presence_follow_status_t status)
{
    static const char *const names[] = {"", "moved", "went offline", "unfollowed", "stopped"};
    unsigned i = (unsigned)status;
    return i > 0 && i < sizeof names / sizeof names[0] ? names[i] : "unknown";
}

/* ---- Options. ---- */

void presence_options_init(presence_options_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->backoff_min_ms = 1000;
    opts->backoff_first_ms = 5000;
    opts->backoff_growth = 1.3;
    opts->backoff_max_ms = 10000;
    opts->backoff_reset_ms = 5000;
    opts->connect_timeout_ms = 4000;
    opts->ping_interval_ms = 10000;
    opts->pong_timeout_ms = 5000;
    opts->max_message = 16u << 20;
    opts->follow_grace_ms = 15000;
}

static int invalid(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int invalid(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return PRESENCE_ERR_INVALID;
}

static int check_timing(const presence_options_t *o, char *err, size_t errlen)
{
    if (o->connect_timeout_ms == 0 || (o->ping_interval_ms && o->pong_timeout_ms == 0))
        return invalid(err, errlen,
                       "connect_timeout_ms and pong_timeout_ms must be at least 1 "
                       "(start from presence_options_init())");
    if (!(o->backoff_growth >= 1.0) || o->backoff_max_ms == 0 || o->max_message < 1024)
        return invalid(err, errlen,
                       "backoff_growth must be at least 1, backoff_max_ms at least "
                       "1 and max_message at least 1024 (start from "
                       "presence_options_init())");
    return 0;
}

static int check_options(const presence_options_t *o, char *err, size_t errlen)
{
    if (!o || !o->url || !o->workspace || !o->token_cb)
        return invalid(err, errlen, "url, workspace and token_cb are required");
    if (!pd_proto_workspace_valid(pd_slice_cstr(o->workspace)))
        return invalid(err, errlen,
                       "the workspace id must be 1-128 characters of A-Z a-z 0-9 _ -: "
                       "\"%s\"",
                       o->workspace);
    if (o->connection_key && !pd_proto_conn_key_valid(pd_slice_cstr(o->connection_key)))
        return invalid(err, errlen,
                       "the connection key must be 1-64 characters of A-Z a-z 0-9 _ -");
    return check_timing(o, err, errlen);
}

/* ---- Creation. ---- */

/* Random bytes from the system; rand() only if that fails (they seed a hash, name a key). */
static void fill_random(void *out, size_t len)
{
    if (getrandom(out, len, 0) == (ssize_t)len)
        return;
    for (size_t i = 0; i < len; i++)
        ((unsigned char *)out)[i] = (unsigned char)rand();
}

/* A random key like PartySocket's: the same on every reconnect of this client. */
static char *random_key(void)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[KEY_LEN];
    char *key = pd_malloc(KEY_LEN + 1);
    fill_random(raw, sizeof raw);
    for (int i = 0; i < KEY_LEN; i++)
        key[i] = alphabet[raw[i] % (sizeof alphabet - 1)];
    key[KEY_LEN] = '\0';
    return key;
}

static char *copy(const char *s)
{
    return s ? pd_strndup(s, strlen(s)) : NULL;
}

static void init_timer(presence_client_t *c, uv_timer_t *t)
{
    uv_timer_init(c->loop, t);
    t->data = c;
    c->handles++;
}

static void init_state(presence_client_t *c, uv_loop_t *loop, const presence_options_t *o)
{
    c->loop = loop;
    c->opts = *o;
    c->opts.url = c->opts.workspace = c->opts.connection_key = c->opts.ca_file = NULL;
    c->workspace = copy(o->workspace);
    c->key = o->connection_key ? copy(o->connection_key) : random_key();
    pd_backoff_config_t bc = {o->backoff_min_ms, o->backoff_first_ms, o->backoff_growth,
                              o->backoff_max_ms, o->backoff_reset_ms};
    pd_backoff_init(&c->backoff, &bc);
    uint64_t seed;
    fill_random(&seed, sizeof seed);
    pd_pmap_init(&c->map, seed);
    pd_list_init(&c->notices);
    init_timer(c, &c->retry);
    init_timer(c, &c->watchdog);
    init_timer(c, &c->heartbeat);
    init_timer(c, &c->defer);
    init_timer(c, &c->follow_grace);
}

int presence_client_new(presence_client_t **out, uv_loop_t *loop, const presence_options_t *opts,
                        char *err, size_t errlen)
{
    *out = NULL;
    int r = check_options(opts, err, errlen);
    if (r != 0)
        return r;
    pd_url_t url;
    if (pd_url_parse(&url, opts->url, err, errlen) != 0)
        return PRESENCE_ERR_INVALID;
    SSL_CTX *tls_ctx = NULL;
    if (url.tls && pd_tls_ctx_new(&tls_ctx, opts->ca_file, err, errlen) != 0) {
        pd_url_free(&url);
        return PRESENCE_ERR_CONFIG;
    }
    presence_client_t *c = pd_calloc(1, sizeof *c);
    c->url = url;
    c->tls_ctx = tls_ctx;
    init_state(c, loop, opts);
    *out = c;
    return 0;
}

/* ---- Lifecycle. ---- */

int presence_client_start(presence_client_t *c)
{
    if (c->closing || (c->state != PRESENCE_IDLE && c->state != PRESENCE_STOPPED))
        return PRESENCE_ERR_STATE;
    c->state = PRESENCE_CONNECTING;
    c->last_reason = 0;
    pd_backoff_init(&c->backoff, &c->backoff.cfg);
    pd_session_schedule(c, 0);
    return 0;
}

int presence_client_stop(presence_client_t *c)
{
    if (c->closing || c->state == PRESENCE_IDLE || c->state == PRESENCE_STOPPED)
        return PRESENCE_ERR_STATE;
    c->api_depth++;
    pd_session_stop(c, PRESENCE_OK, NULL);
    c->api_depth--;
    return 0;
}

static void free_client(presence_client_t *c)
{
    pd_pmap_free(&c->map);
    pd_url_free(&c->url);
    pd_tls_ctx_free(c->tls_ctx);
    free(c->workspace);
    free(c->key);
    free(c->self_id);
    free(c->loc_path);
    free(c->loc_type);
    free(c->loc_id);
}

void pd_client_maybe_finish(presence_client_t *c)
{
    if (!c->closing || c->handles > 0 || c->conns > 0)
        return;
    free_client(c);
    if (c->close_cb)
        c->close_cb(c, c->opts.data);
    free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    presence_client_t *c = h->data;
    c->handles--;
    pd_client_maybe_finish(c);
}

void presence_client_close(presence_client_t *c, presence_close_cb close_cb)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->close_cb = close_cb;
    pd_session_drop(c);
    pd_notify_drop(c);
    pd_follow_free(c);
    uv_close((uv_handle_t *)&c->retry, on_timer_closed);
    uv_close((uv_handle_t *)&c->watchdog, on_timer_closed);
    uv_close((uv_handle_t *)&c->heartbeat, on_timer_closed);
    uv_close((uv_handle_t *)&c->defer, on_timer_closed);
    uv_close((uv_handle_t *)&c->follow_grace, on_timer_closed);
}

int presence_client_token(presence_client_t *c, const char *token)
{
    c->api_depth++;
    int r = pd_session_token(c, token);
    c->api_depth--;
    return r;
}

/* ---- This member's location. ---- */

static int location_valid(const char *path, const char *type, const char *id)
{
    size_t n = path ? strlen(path) : 0;
    return n >= 1 && n <= MAX_PATH && (!type || strlen(type) <= MAX_RESOURCE_TYPE) &&
           (!id || strlen(id) <= MAX_RESOURCE_ID);
}

int presence_client_update(presence_client_t *c, const char *path, const char *resource_type,
                           const char *resource_id)
{
    if (!location_valid(path, resource_type, resource_id))
        return PRESENCE_ERR_INVALID;
    free(c->loc_path);
    free(c->loc_type);
    free(c->loc_id);
    c->loc_path = copy(path);
    c->loc_type = copy(resource_type);
    c->loc_id = copy(resource_id);
    c->api_depth++;
    pd_session_send_location(c);
    c->api_depth--;
    return 0;
}

/* ---- Accessors. ---- */

presence_state_t presence_client_state(const presence_client_t *c)
{
    return c->state;
}

const char *presence_client_self_id(const presence_client_t *c)
{
    return c->self_id;
}

const char *presence_client_connection_key(const presence_client_t *c)
{
    return c->key;
}

const presence_user_t *presence_client_user(const presence_client_t *c, const char *user_id)
{
    return user_id ? pd_pmap_get(&c->map, pd_slice_cstr(user_id)) : NULL;
}

size_t presence_client_count(const presence_client_t *c)
{
    return pd_pmap_count(&c->map);
}

const presence_user_t *presence_client_next(const presence_client_t *c, size_t *iter)
{
    return pd_pmap_next(&c->map, iter);
}
