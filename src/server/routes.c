/*
 * Plain HTTP endpoints beside the WebSocket: /healthz, /metrics and, in
 * development mode, /dev/token. Every response closes its connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "routes.h"

#include "../auth/jwt.h"
#include "../base/buf.h"
#include "../base/mem.h"
#include "../proto/proto.h"
#include "../rooms/rooms.h"
#include "api.h"
#include "conn.h"
#include "metrics.h"
#include "server_state.h"
#include "verifier.h"

#define DEV_TOKEN_TTL_S 900
#define DEV_TOKEN_MAX_TTL_S 86400

int pd_routes_is_status(pd_slice_t path)
{
    return pd_slice_eq_cstr(path, "/healthz") || pd_slice_eq_cstr(path, "/metrics");
}

static void render_verifier(const pd_verifier_stats_t *st, pd_buf_t *out)
{
    pd_buf_appendf(
        out,
        "# HELP presenced_verify_requests_total Requests sent to the verify endpoint.\n"
        "# TYPE presenced_verify_requests_total counter\n"
        "presenced_verify_requests_total %llu\n"
        "# HELP presenced_verify_cache_hits_total Verifications answered from the cache.\n"
        "# TYPE presenced_verify_cache_hits_total counter\n"
        "presenced_verify_cache_hits_total %llu\n"
        "# HELP presenced_verify_failures_total Verifications that found the endpoint unavailable.\n"
        "# TYPE presenced_verify_failures_total counter\n"
        "presenced_verify_failures_total %llu\n"
        "# HELP presenced_verify_inflight Verify requests in flight.\n"
        "# TYPE presenced_verify_inflight gauge\n"
        "presenced_verify_inflight %u\n"
        "# HELP presenced_verify_queued Verify requests waiting for a slot.\n"
        "# TYPE presenced_verify_queued gauge\n"
        "presenced_verify_queued %u\n",
        (unsigned long long)st->requests, (unsigned long long)st->cache_hits,
        (unsigned long long)st->failures, st->inflight, st->queued);
}

static void add_verifier(pd_verifier_stats_t *dst, const pd_verifier_stats_t *src)
{
    dst->requests += src->requests;
    dst->cache_hits += src->cache_hits;
    dst->failures += src->failures;
    dst->inflight += src->inflight;
    dst->queued += src->queued;
}

/* On each thread: a copy of its own counters, read by the asker once all are in. */
static void fill_metrics(pd_server_t *srv, pd_shard_report_t *rep)
{
    rep->metrics = srv->metrics;
    rep->rooms = pd_rooms_count(srv->rooms);
    rep->conns = srv->n_conns;
    rep->has_verifier = srv->verifier != NULL;
    if (srv->verifier)
        pd_verifier_stats(srv->verifier, &rep->verify);
    rep->uring_on = srv->uring && !pd_uring_broken(srv->uring);
    if (srv->uring)
        rep->uring = pd_uring_stats(srv->uring);
    rep->has_cluster = srv->cluster != NULL;
    if (srv->cluster)
        pd_cluster_stats(srv->cluster, &rep->cluster);
}

/*
 * The cluster's figures: connected only when every thread is; nodes as the
 * first thread sees them (each thread of a node is one); counters summed.
 */
static void render_cluster(const pd_shard_report_t *reps, unsigned n, pd_buf_t *out)
{
    pd_cluster_stats_t sum = {0};
    int connected = 1;
    for (unsigned i = 0; i < n; i++) {
        connected &= reps[i].cluster.connected;
        sum.published += reps[i].cluster.published;
        sum.received += reps[i].cluster.received;
        sum.malformed += reps[i].cluster.malformed;
        sum.loads += reps[i].cluster.loads;
        sum.dead += reps[i].cluster.dead;
        sum.resyncs += reps[i].cluster.resyncs;
        sum.late += reps[i].cluster.late;
    }
    pd_buf_appendf(
        out,
        "# HELP presenced_cluster_connected 1 while every thread is connected to Redis.\n"
        "# TYPE presenced_cluster_connected gauge\n"
        "presenced_cluster_connected %d\n"
        "# HELP presenced_cluster_nodes Cluster nodes alive (a node's every thread counts).\n"
        "# TYPE presenced_cluster_nodes gauge\n"
        "presenced_cluster_nodes %u\n"
        "# HELP presenced_cluster_messages_published_total Changes of local members published.\n"
        "# TYPE presenced_cluster_messages_published_total counter\n"
        "presenced_cluster_messages_published_total %llu\n"
        "# HELP presenced_cluster_messages_received_total Messages received on room channels.\n"
        "# TYPE presenced_cluster_messages_received_total counter\n"
        "presenced_cluster_messages_received_total %llu\n"
        "# HELP presenced_cluster_messages_malformed_total Messages from Redis refused as malformed.\n"
        "# TYPE presenced_cluster_messages_malformed_total counter\n"
        "presenced_cluster_messages_malformed_total %llu\n"
        "# HELP presenced_cluster_room_loads_total Rooms whose state was read from Redis.\n"
        "# TYPE presenced_cluster_room_loads_total counter\n"
        "presenced_cluster_room_loads_total %llu\n"
        "# HELP presenced_cluster_nodes_dead_total Nodes declared dead, as each thread counts.\n"
        "# TYPE presenced_cluster_nodes_dead_total counter\n"
        "presenced_cluster_nodes_dead_total %llu\n"
        "# HELP presenced_cluster_resyncs_total Rooms subscribed and announced again after a "
        "reconnection to Redis.\n"
        "# TYPE presenced_cluster_resyncs_total counter\n"
        "presenced_cluster_resyncs_total %llu\n"
        "# HELP presenced_cluster_room_loads_late_total Room loads that took longer than the node "
        "timeout; their joins went on with this node's state.\n"
        "# TYPE presenced_cluster_room_loads_late_total counter\n"
        "presenced_cluster_room_loads_late_total %llu\n",
        connected, reps[0].cluster.nodes, (unsigned long long)sum.published,
        (unsigned long long)sum.received, (unsigned long long)sum.malformed,
        (unsigned long long)sum.loads, (unsigned long long)sum.dead,
        (unsigned long long)sum.resyncs, (unsigned long long)sum.late);
}

static void metrics_done(pd_conn_t *c, const pd_shard_report_t *reps, unsigned n)
{
    pd_metrics_t sum = {0};
    pd_verifier_stats_t verify = {0};
    pd_uring_stats_t uring = {0};
    int uring_on = n > 0;
    unsigned conns[PD_MAX_THREADS];
    size_t rooms = 0;
    for (unsigned i = 0; i < n; i++) {
        pd_metrics_add(&sum, &reps[i].metrics);
        add_verifier(&verify, &reps[i].verify);
        pd_uring_add_stats(&uring, &reps[i].uring);
        uring_on &= reps[i].uring_on;
        rooms += reps[i].rooms;
        conns[i] = reps[i].conns;
    }
    pd_buf_t body = PD_BUF_INIT;
    pd_metrics_render(&sum, rooms, &body);
    if (reps[0].has_verifier)
        render_verifier(&verify, &body);
    pd_uring_render_stats(uring_on, &uring, &body);
    if (reps[0].has_cluster)
        render_cluster(reps, n, &body);
    pd_metrics_render_threads(conns, n, &body);
    pd_conn_respond(c, 200, "text/plain; version=0.0.4", pd_buf_slice(&body), NULL);
    pd_buf_free(&body);
}

static void handle_metrics(pd_conn_t *c)
{
    pd_shard_ask(c, fill_metrics, metrics_done);
}

static int query_field(pd_slice_t query, const char *name, char *out, size_t cap)
{
    ssize_t n = pd_http_query_param(query, name, out, cap);
    return n > 0 ? 1 : 0;
}

static long dev_ttl(pd_slice_t query)
{
    char ttl[16];
    if (!query_field(query, "ttl", ttl, sizeof(ttl)))
        return DEV_TOKEN_TTL_S;
    long v = strtol(ttl, NULL, 10);
    return v < 1 ? 1 : v > DEV_TOKEN_MAX_TTL_S ? DEV_TOKEN_MAX_TTL_S : v;
}

/* GET /dev/token?user=U&name=N&workspace=W[&picture=URL][&ttl=S] */
static void handle_dev_token(pd_conn_t *c, pd_slice_t query)
{
    char user[129], name[257], ws[129], picture[1024], room[160];
    if (!query_field(query, "user", user, sizeof(user)) ||
        !query_field(query, "workspace", ws, sizeof(ws)) ||
        !pd_proto_workspace_valid(pd_slice_cstr(ws))) {
        pd_conn_respond_error(c, 400, "user and workspace ([A-Za-z0-9_-]{1,128}) are required");
        return;
    }
    if (!query_field(query, "name", name, sizeof(name)))
        snprintf(name, sizeof(name), "%s", user);
    int has_picture = query_field(query, "picture", picture, sizeof(picture));
    pd_proto_room_id(room, sizeof(room), pd_slice_cstr(ws));
    int64_t now = (int64_t)time(NULL);
    int64_t exp = now + dev_ttl(query);
    char *token = pd_jwt_mint_hs256(c->srv->mint_key, c->srv->mint_key_len, user, name,
                                    has_picture ? picture : NULL, room, now, exp);
    if (!token) {
        pd_conn_respond_error(c, 500, "could not mint a token");
        return;
    }
    pd_buf_t body = PD_BUF_INIT;
    pd_proto_enc_dev_token(&body, token, (long long)exp * 1000);
    pd_conn_respond_json(c, 200, pd_buf_slice(&body));
    pd_buf_free(&body);
    free(token);
}

static const char *content_type(const char *name)
{
    static const char *types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".ico", "image/x-icon"},
        {".map", "application/json"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* Only plain relative names: no "..", no hidden files, a fixed alphabet. */
static int safe_static_path(pd_slice_t p)
{
    if (p.len < 2 || p.len > 200 || p.base[0] != '/')
        return 0;
    for (size_t i = 1; i < p.len; i++) {
        char ch = p.base[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-' || ch == '/' || ch == '.';
        if (!ok || (ch == '.' && p.base[i - 1] == '/'))
            return 0;
    }
    return 1;
}

/*
 * Opens rel (no leading '/') inside dir without ever leaving it: openat2()
 * with RESOLVE_BENEATH refuses ".." and symlinks that point out; where the
 * kernel lacks it, the resolved path must still lie under the directory's.
 * O_NONBLOCK makes opening a FIFO return at once instead of waiting for a
 * writer (it is then refused as not a regular file).
 */
static int open_beneath(const char *dir, const char *rel)
{
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    struct open_how how = {.flags = (uint64_t)flags,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
        char real_dir[PATH_MAX], full[PATH_MAX], real[PATH_MAX];
        int w = snprintf(full, sizeof(full), "%s/%s", dir, rel);
        /* A path cut short could name another file: refused. */
        size_t n =
            w > 0 && (size_t)w < sizeof(full) && realpath(dir, real_dir) ? strlen(real_dir) : 0;
        if (n && realpath(full, real) && strncmp(real, real_dir, n) == 0 && real[n] == '/')
            fd = open(real, flags | O_NOFOLLOW);
    }
    close(dfd);
    return fd;
}

/* Reads a regular file of at most 8 MiB under dir; -1 for anything else. */
static int read_static(const char *dir, const char *rel, pd_buf_t *out)
{
    int fd = open_beneath(dir, rel);
    if (fd < 0)
        return -1;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (8 << 20);
    char chunk[16384];
    ssize_t n;
    while (ok && (n = read(fd, chunk, sizeof(chunk))) > 0 && out->len < (8u << 20))
        pd_buf_append(out, chunk, (size_t)n);
    close(fd);
    return ok ? 0 : -1;
}

/*
 * The directory a path is served from: a --static-mount whose prefix starts
 * it (then *file loses the prefix), else --static-dir. Mounts take the
 * place of links out of the directory, which are not followed.
 */
static const char *mounted_dir(const pd_config_t *cfg, pd_slice_t *file, char *buf, size_t cap)
{
    for (size_t i = 0; i < cfg->n_static_mounts; i++) {
        const char *m = cfg->static_mounts[i], *eq = strchr(m, '=');
        size_t plen = (size_t)(eq - m);
        if (file->len > plen + 1 && memcmp(file->base, m, plen) == 0 && file->base[plen] == '/') {
            *file = pd_slice(file->base + plen, file->len - plen);
            snprintf(buf, cap, "%s", eq + 1);
            return buf;
        }
    }
    return cfg->static_dir;
}

/*
 * Development mode serves the demo from --static-dir: regular files only,
 * never through a link out of the directory. Files are small and read
 * synchronously (a FIFO or a device is refused before any read, so nothing
 * can block the loop); this never runs outside --dev, which is loopback only.
 * Paths without a file extension are the demo's client-side routes and get
 * index.html (history API navigation).
 */
static int serve_static(pd_conn_t *c, pd_slice_t path)
{
    const char *dir = c->srv->cfg->static_dir;
    if (!c->srv->cfg->dev || !dir)
        return 0;
    const char *last_slash = memrchr(path.base, '/', path.len);
    int has_ext =
        last_slash && memchr(last_slash, '.', path.len - (size_t)(last_slash - path.base));
    pd_slice_t file = has_ext && safe_static_path(path) ? path : PD_SLICE_LIT("/index.html");
    char rel[256], mount_dir[4096];
    dir = mounted_dir(c->srv->cfg, &file, mount_dir, sizeof(mount_dir));
    snprintf(rel, sizeof(rel), "%.*s", (int)file.len - 1, file.base + 1);
    pd_buf_t body = PD_BUF_INIT;
    if (read_static(dir, rel, &body) != 0) {
        pd_buf_free(&body);
        return 0;
    }
    pd_conn_respond(c, 200, content_type(rel), pd_buf_slice(&body), "Cache-Control: no-cache\r\n");
    pd_buf_free(&body);
    return 1;
}

void pd_routes_handle(pd_conn_t *c, const pd_http_request_t *req)
{
    pd_slice_t path = req->path;
    if (pd_api_handle(c, req))
        return;
    int get = req->method == PD_HTTP_GET || req->method == PD_HTTP_HEAD;
    int known = pd_slice_eq_cstr(path, "/healthz") || pd_slice_eq_cstr(path, "/metrics") ||
                (c->srv->cfg->dev && pd_slice_eq_cstr(path, "/dev/token"));
    if (!known) {
        if (!get || !serve_static(c, path))
            pd_conn_respond_error(c, 404, "not found");
    } else if (!get) {
        pd_conn_respond(c, 405, "text/plain", PD_SLICE_LIT("Method Not Allowed"), "Allow: GET\r\n");
    } else if (pd_slice_eq_cstr(path, "/healthz")) {
        int ok = !atomic_load(&c->srv->proc->draining);
        pd_conn_respond(c, ok ? 200 : 503, "text/plain",
                        ok ? PD_SLICE_LIT("ok\n") : PD_SLICE_LIT("draining\n"), NULL);
    } else if (pd_slice_eq_cstr(path, "/metrics")) {
        handle_metrics(c);
    } else {
        handle_dev_token(c, req->query);
    }
}
