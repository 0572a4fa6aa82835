/*
 * The loop phases: the flush phase (sockets with
 * queued frames are written with one writev each, before the loop polls;
 * at most --flush-batch of them per turn, so input is read between the
 * slices of a long sweep), the liveness sweep and the drain on shutdown;
 * listener.c accepts.
 * It owns the server's state (server_state.h) and installs what runs a
 * connection's requests and messages (the hooks in conn.h). Each of these
 * runs per shard, on the shard's own loop; pd_server_new() makes every
 * shard and pd_server_listen() starts their threads (shard.c).
 */
#include "server.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../base/err.h"
#include "../base/mem.h"
#include "../cluster/cluster.h"
#include "admit.h"
#include "api.h"
#include "conn.h"
#include "handover.h"
#include "listener.h"
#include "log.h"
#include "routes.h"
#include "server_state.h"
#include "shard.h"

#define DRAIN_TIMEOUT_MS 3000
#define FD_RESERVE 64
#define URING_MAX_SLICE 1024 /* sends per io_uring submission */

/* Pending token checks, asks of the other shards and reads of Redis end with the connection. */
static void conn_leaving(pd_conn_t *c)
{
    pd_admit_cancel(c);
    pd_shard_ask_cancel(c);
    pd_api_cancel(c);
}

/* The files above a connection, as the connection reaches them (conn.h). */
static const pd_conn_hooks_t conn_hooks = {
    .takes_body = pd_api_takes_body,
    .is_status = pd_routes_is_status,
    .request = pd_routes_handle,
    .elsewhere = pd_handover_upgrade,
    .upgraded = pd_admit_start,
    .early_text = pd_admit_buffer,
    .refresh = pd_admit_refresh,
    .leaving = conn_leaving,
};

/* ---- loop phases ----------------------------------------------------- */

/* Updates read since the last flush phase are out once everything queued now is. */
static void latency_mark(pd_server_t *srv)
{
    for (unsigned k = srv->n_latency - srv->n_latency_new; k < srv->n_latency; k++)
        srv->latency[(srv->latency_head + k) % PD_LATENCY_SAMPLES].upto = srv->flush_pushes;
    srv->n_latency_new = 0;
}

/* Lowers done to just before the oldest connection still waiting on list. */
static void oldest_waiting(const pd_list_t *list, uint32_t *done)
{
    if (pd_list_empty(list))
        return;
    uint32_t before = pd_container_of(list->next, pd_conn_t, flush_link)->flush_seq - 1;
    if ((int32_t)(before - *done) < 0)
        *done = before;
}

static void latency_observe(pd_server_t *srv)
{
    uint32_t done = srv->flush_pushes;
    oldest_waiting(&srv->flush_list, &done);
    oldest_waiting(&srv->delay_list, &done);
    uint64_t now = 0;
    while (srv->n_latency) {
        unsigned h = srv->latency_head;
        if ((int32_t)(srv->latency[h].upto - done) > 0)
            break;
        if (!now)
            now = uv_hrtime();
        pd_metrics_observe_latency(&srv->metrics, (double)(now - srv->latency[h].t0) / 1e9);
        srv->latency_head = (h + 1) % PD_LATENCY_SAMPLES;
        srv->n_latency--;
    }
}

static void on_flush_more(uv_idle_t *idle)
{
    (void)idle; /* its being active is what keeps the next poll from sleeping */
}

static void on_flush_due(uv_timer_t *t)
{
    (void)t; /* the flush phase of this loop turn writes what is due */
}

/* Milliseconds until the first connection on the delay list is due (0: now). */
static uint64_t delay_wait_ms(pd_server_t *srv)
{
    const pd_conn_t *c = pd_container_of(srv->delay_list.next, pd_conn_t, flush_link);
    int32_t wait = (int32_t)(c->flush_ms - (uint32_t)pd_server_now(srv));
    return wait > 0 ? (uint64_t)wait : 0;
}

/*
 * The next connection to write: the head of the flush list or a due head of
 * the delay list, whichever was queued first, so that neither list can
 * starve the other under load.
 */
static pd_list_t *next_to_write(pd_server_t *srv)
{
    pd_list_t *f = pd_list_empty(&srv->flush_list) ? NULL : srv->flush_list.next;
    pd_list_t *d = NULL;
    if (!pd_list_empty(&srv->delay_list) && delay_wait_ms(srv) == 0)
        d = srv->delay_list.next;
    if (!f || !d)
        return f ? f : d;
    uint32_t fs = pd_container_of(f, pd_conn_t, flush_link)->flush_seq;
    uint32_t ds = pd_container_of(d, pd_conn_t, flush_link)->flush_seq;
    return (int32_t)(ds - fs) < 0 ? d : f;
}

_Static_assert(PD_URING_MAX_IOV >= PD_MAX_IOV, "a ring slot holds one writev's iovecs");

static void on_sent(void *owner, int res, void *arg)
{
    pd_conn_flush_end(owner, res);
}

static int uring_in_use(const pd_server_t *srv)
{
    return srv->uring && !pd_uring_broken(srv->uring);
}

/* The slice's sends, submitted together; a failed ring leaves writev to do the rest. */
static void submit_slice(pd_server_t *srv)
{
    if (!uring_in_use(srv))
        return;
    pd_uring_submit(srv->uring, on_sent, NULL);
    if (pd_uring_broken(srv->uring))
        pd_log(PD_LOG_WARN, "io_uring failed; writing with writev from now on", " sends=%llu",
               (unsigned long long)pd_uring_stats(srv->uring).sends);
}

/*
 * Queues c's first write into the ring, or writes it at once without one.
 * Until the slice is submitted the send names c's descriptor; that stays
 * open because inside the flush phase only a connection's own flush closes
 * it (others close from read, timer and write callbacks), and a queued
 * connection counts as writing, so its own flush is not run again.
 */
static void flush_conn(pd_server_t *srv, pd_conn_t *c)
{
    if (uring_in_use(srv) && pd_uring_full(srv->uring))
        submit_slice(srv);
    if (!uring_in_use(srv)) {
        pd_conn_flush(c);
        return;
    }
    struct iovec *iov = pd_uring_slot(srv->uring);
    size_t total;
    int fd;
    unsigned n = pd_conn_flush_begin(c, &fd, iov, &total);
    if (n)
        pd_uring_queue(srv->uring, fd, n, c);
}

/*
 * One writev per connection, in the order they were queued (with io_uring,
 * one sendmsg each, the slice's submitted in one call). A long list
 * (one update in a room of thousands) is written in slices of flush_batch
 * sockets, one slice per loop turn: updates read in between join the queues
 * not yet written, so they wait for a slice rather than a whole sweep, and
 * the sockets at the end carry several frames per writev. With
 * --write-delay, members written less than the delay ago wait on the delay
 * list until it has passed. The list is roughly in due order and only its
 * first entry is checked, so an entry may wait behind one due later; since
 * every entry is due within the delay of joining, none waits longer than
 * the delay from its first pending frame.
 */
static void on_flush_phase(uv_prepare_t *p)
{
    pd_server_t *srv = p->data;
    unsigned batch = srv->cfg->flush_batch, n = 0;
    pd_list_t *it;
    latency_mark(srv);
    /* Flushing can queue more (a resync snapshot): those go to the back. */
    while ((!batch || n++ < batch) && (it = next_to_write(srv)) != NULL) {
        pd_list_remove(it);
        flush_conn(srv, pd_container_of(it, pd_conn_t, flush_link));
    }
    submit_slice(srv);
    latency_observe(srv);
    if (next_to_write(srv) != NULL) {
        uv_idle_start(&srv->flush_more, on_flush_more);
        return;
    }
    uv_idle_stop(&srv->flush_more);
    if (!pd_list_empty(&srv->delay_list))
        uv_timer_start(&srv->flush_timer, on_flush_due, delay_wait_ms(srv), 0);
}

static void on_sweep(uv_timer_t *t)
{
    pd_server_t *srv = t->data;
    uint64_t now = pd_server_now(srv);
    pd_list_foreach_safe(it, tmp, &srv->conns)
        pd_conn_sweep(pd_container_of(it, pd_conn_t, link), now);
}

static uint64_t sweep_period(const pd_config_t *cfg)
{
    uint64_t p = 1000;
    if (cfg->ping_interval_ms / 2 < p)
        p = cfg->ping_interval_ms / 2;
    if (cfg->idle_timeout_ms / 4 < p)
        p = cfg->idle_timeout_ms / 4;
    return p < 10 ? 10 : p;
}

/* ---- setup ----------------------------------------------------------- */

static unsigned raise_fd_limit(const pd_config_t *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            pd_log(PD_LOG_INFO, "raised open-file limit", " from=%llu to=%llu",
                   (unsigned long long)old, (unsigned long long)rl.rlim_cur);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* The status reserve (--status-reserve) is open files too. */
    rlim_t reserve = FD_RESERVE + cfg->status_reserve;
    unsigned derived = rl.rlim_cur > reserve * 2 ? (unsigned)(rl.rlim_cur - reserve) : 64;
    if (cfg->max_conns && cfg->max_conns < derived)
        return cfg->max_conns;
    return derived;
}

/*
 * Each thread has its own verify client; the process-wide bounds
 * (--verify-max-inflight, --verify-cache-max) are split among them, rounded
 * up, so the endpoint sees no more than with one thread (give or take the
 * rounding). A room's checks all run on its thread, so its cache entries
 * live there alone.
 */
static unsigned share(unsigned total, unsigned threads)
{
    return total ? (total + threads - 1) / threads : 0;
}

static int make_endpoint_verifier(pd_server_t *srv, char *err, size_t errlen)
{
    const pd_config_t *cfg = srv->cfg;
    char **headers = pd_calloc(cfg->n_verify_headers + 1, sizeof(char *));
    for (size_t i = 0; i < cfg->n_verify_headers; i++)
        headers[i] = cfg->verify_headers[i];
    pd_verifier_config_t vc = {
        .url = cfg->verify_url,
        .timeout_ms = cfg->verify_timeout_ms,
        .headers = (const char *const *)headers,
        .max_inflight = share(cfg->verify_max_inflight, srv->proc->n),
        .max_queue = srv->max_conns,
        .cache_ttl_ms = cfg->verify_cache_ttl_ms,
        .cache_max = share(cfg->verify_cache_max, srv->proc->n),
    };
    srv->verifier = pd_verifier_new(srv->loop, &vc, err, errlen);
    free(headers);
    return srv->verifier ? 0 : PD_ERR_CONFIG;
}

static int make_verifier(pd_server_t *srv, char *err, size_t errlen)
{
    const pd_config_t *cfg = srv->cfg;
    if (cfg->verify_url)
        return make_endpoint_verifier(srv, err, errlen);
    pd_jwt_config_t jc = {.alg = cfg->jwt_alg,
                          .leeway_s = cfg->jwt_leeway_s,
                          .issuer = cfg->jwt_issuer,
                          .audience = cfg->jwt_audience};
    if (strcmp(cfg->jwt_alg, "HS256") != 0) {
        jc.key = (const unsigned char *)cfg->jwt_public_key;
        jc.key_len = cfg->jwt_public_key_len;
    } else if (cfg->jwt_secret) {
        jc.key = (const unsigned char *)cfg->jwt_secret;
        jc.key_len = cfg->jwt_secret_len;
        srv->mint_key = jc.key;
        srv->mint_key_len = jc.key_len;
    } else {
        /* One secret for the process: a token minted on one thread is checked on another. */
        if (srv->shard == 0 && RAND_bytes(srv->dev_secret, sizeof(srv->dev_secret)) != 1) {
            snprintf(err, errlen, "cannot make a development secret");
            return PD_ERR_CONFIG;
        }
        jc.key = srv->dev_secret;
        jc.key_len = sizeof(srv->dev_secret);
        srv->mint_key = jc.key;
        srv->mint_key_len = jc.key_len;
    }
    return pd_jwt_verifier_new(&srv->jwt, &jc, err, errlen);
}

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1)
        seed = uv_hrtime();
    return seed;
}

static void init_limits(pd_server_t *srv)
{
    const pd_config_t *cfg = srv->cfg;
    srv->proto_limits =
        (pd_proto_limits_t){cfg->max_path, cfg->max_resource_type, cfg->max_resource_id,
                            PD_PROTO_LIMITS_DEFAULT.max_token};
    srv->http_limits = (pd_http_limits_t){cfg->max_header_bytes, cfg->max_api_body};
}

/*
 * A shard's flush-phase ring, sized to a slice (--flush-batch; a larger or
 * unlimited slice is submitted in parts). Which path writes is logged once,
 * by the first shard: every shard opens its ring the same way.
 */
static int open_uring(pd_server_t *srv, char *err, size_t errlen)
{
    unsigned batch = srv->cfg->flush_batch;
    unsigned entries = batch && batch < URING_MAX_SLICE ? batch : URING_MAX_SLICE;
    char why[128] = "";
    if (pd_uring_open(&srv->uring, (pd_uring_mode_t)srv->cfg->io_uring, entries, why,
                      sizeof(why)) != 0) {
        snprintf(err, errlen, "--io-uring on: %s", why);
        return -1;
    }
    if (srv->shard != 0)
        return 0;
    if (srv->uring)
        pd_log(PD_LOG_INFO, "flush writes with io_uring", " slice=%u", entries);
    else
        pd_log(PD_LOG_INFO, "flush writes with writev", " reason=\"%s\"",
               why[0] ? why : "--io-uring off");
    return 0;
}

/* ---- the cluster (--redis) ------------------------------------------- */

static void cluster_local_changed(void *ctx, pd_slice_t room_id, pd_slice_t key,
                                  const pd_member_state_t *st, size_t locals)
{
    pd_server_t *srv = ctx;
    pd_cluster_local_changed(srv->cluster, room_id, key, st, locals);
}

static uint64_t cluster_wall_ms(void *ctx)
{
    return pd_cluster_wall_ms();
}

/* Declared dead while frozen: clients reconnect (1012) and find the cluster's view. */
static void cluster_evicted(void *ctx)
{
    pd_server_t *srv = ctx;
    pd_list_foreach_safe(it, tmp, &srv->conns)
    {
        pd_conn_t *c = pd_container_of(it, pd_conn_t, link);
        if (c->state == CONN_OPEN)
            pd_conn_close_ws(c, 1012, "NODE_RESTART");
    }
}

/* Another node's API kicked a user out of a room this shard has members in. */
static void cluster_kick(void *ctx, pd_slice_t room_id, pd_slice_t user_id, const char *reason)
{
    pd_server_t *srv = ctx;
    pd_rooms_kick(srv->rooms, room_id, user_id, reason);
    if (srv->verifier)
        pd_verifier_forget_user(srv->verifier, user_id);
}

static void cluster_log(void *ctx, int warn, const char *msg, const char *detail)
{
    pd_server_t *srv = ctx;
    pd_log(warn ? PD_LOG_WARN : PD_LOG_INFO, msg, " thread=%u%s", srv->shard, detail);
}

/* A node id when none is given: 12 random hex digits, the same for every shard. */
static void make_node_id(pd_proc_t *proc, const pd_config_t *cfg)
{
    if (cfg->node_id) {
        snprintf(proc->node_id, sizeof(proc->node_id), "%s", cfg->node_id);
        return;
    }
    snprintf(proc->node_id, sizeof(proc->node_id), "%012llx",
             (unsigned long long)(random_seed() & 0xffffffffffffULL));
}

static int make_cluster(pd_server_t *srv, const pd_rooms_config_t *rc, char *err, size_t errlen)
{
    const pd_config_t *cfg = srv->cfg;
    pd_rooms_ops_t ops = pd_conn_rooms_ops;
    ops.local_changed = cluster_local_changed;
    ops.wall_ms = cluster_wall_ms;
    pd_rooms_free(srv->rooms);
    srv->rooms = pd_rooms_new(rc, &ops, srv, random_seed());
    pd_cluster_config_t cc = {cfg->redis_url,
                              srv->proc->node_id,
                              srv->shard,
                              cfg->node_timeout_ms,
                              {cfg->max_path, cfg->max_resource_type, cfg->max_resource_id}};
    static const pd_cluster_ops_t cops = {cluster_evicted, cluster_kick, cluster_log};
    srv->cluster = pd_cluster_new(srv->loop, srv->rooms, &cc, &cops, srv, err, errlen);
    if (!srv->cluster)
        return -1;
    if (srv->shard == 0)
        pd_log(PD_LOG_INFO, "cluster", " node=%s node_timeout_ms=%llu", srv->proc->node_id,
               (unsigned long long)cfg->node_timeout_ms);
    return 0;
}

/*
 * Shard i: its loop, rooms, connections and phases. Shards after the first
 * copy shard 0's connection limit and development secret.
 */
static pd_server_t *shard_new(pd_proc_t *proc, unsigned i, uv_loop_t *loop, const pd_config_t *cfg,
                              char *err, size_t errlen)
{
    pd_server_t *srv = pd_calloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->cfg = cfg;
    srv->proc = proc;
    srv->shard = i;
    srv->hooks = &conn_hooks;
    init_limits(srv);
    srv->max_conns = proc->shards[0] ? proc->shards[0]->max_conns : raise_fd_limit(cfg);
    if (proc->shards[0])
        memcpy(srv->dev_secret, proc->shards[0]->dev_secret, sizeof(srv->dev_secret));
    pd_rooms_config_t rc = {
        cfg->max_conns_per_room, cfg->max_conns_per_user, cfg->rate,           cfg->burst,
        cfg->linger_ms,          cfg->idle_timeout_ms,    cfg->leave_messages, cfg->user_rate,
        cfg->user_burst};
    srv->rooms = pd_rooms_new(&rc, &pd_conn_rooms_ops, srv, random_seed());
    if ((cfg->redis_url && make_cluster(srv, &rc, err, errlen) != 0) ||
        open_uring(srv, err, errlen) != 0) {
        pd_cluster_free(srv->cluster);
        pd_rooms_free(srv->rooms);
        free(srv);
        return NULL;
    }
    if (make_verifier(srv, err, errlen) != 0) {
        pd_cluster_free(srv->cluster);
        pd_rooms_free(srv->rooms);
        pd_uring_close(srv->uring);
        free(srv);
        return NULL;
    }
    pd_list_init(&srv->conns);
    pd_list_init(&srv->api_reads);
    pd_list_init(&srv->flush_list);
    pd_list_init(&srv->delay_list);
    pd_proto_client_msg_init(&srv->msg);
    srv->ping_frame = pd_shared_copy("\x89\x00", 2);
    pd_listener_init(srv);
    uv_prepare_init(loop, &srv->flush_phase);
    uv_idle_init(loop, &srv->flush_more);
    uv_timer_init(loop, &srv->flush_timer);
    uv_timer_init(loop, &srv->sweep);
    uv_timer_init(loop, &srv->tick);
    uv_timer_init(loop, &srv->drain_timer);
    pd_shard_inbox_init(srv);
    srv->flush_phase.data = srv->sweep.data = srv->tick.data = srv;
    srv->flush_more.data = srv->flush_timer.data = srv;
    srv->drain_timer.data = srv;
    return srv;
}

static void shard_free(pd_server_t *srv)
{
    pd_cluster_free(srv->cluster);
    pd_rooms_free(srv->rooms);
    pd_uring_close(srv->uring);
    pd_jwt_verifier_free(srv->jwt);
    pd_proto_client_msg_free(&srv->msg);
    pd_buf_free(&srv->scratch);
    pd_shared_unref(srv->ping_frame);
    uv_mutex_destroy(&srv->inbox.lock);
    memset(srv->dev_secret, 0, sizeof(srv->dev_secret));
    free(srv);
}

/* Shards 1..n-1 get a loop each; their threads start once the listener is up. */
static int make_other_shards(pd_proc_t *proc, const pd_config_t *cfg, char *err, size_t errlen)
{
    for (unsigned i = 1; i < proc->n; i++) {
        proc->loops[i] = pd_calloc(1, sizeof(uv_loop_t));
        uv_loop_init(proc->loops[i]);
        proc->shards[i] = shard_new(proc, i, proc->loops[i], cfg, err, errlen);
        if (!proc->shards[i])
            return -1;
    }
    return 0;
}

static void proc_free(pd_proc_t *proc)
{
    for (unsigned i = 1; i < proc->n; i++) {
        if (proc->shards[i]) {
            /* A shard whose thread never ran closes its handles here. */
            pd_server_drain_shard(proc->shards[i]);
            uv_run(proc->loops[i], UV_RUN_DEFAULT);
            shard_free(proc->shards[i]);
        }
        if (proc->loops[i]) {
            uv_loop_close(proc->loops[i]);
            free(proc->loops[i]);
        }
    }
    if (proc->shards[0])
        shard_free(proc->shards[0]);
    pd_map_free(&proc->http_by_addr);
    uv_mutex_destroy(&proc->addr_lock);
    pd_fd_reserve_free(&proc->fd_reserve);
    free(proc);
}

pd_server_t *pd_server_new(uv_loop_t *loop, const pd_config_t *cfg, char *err, size_t errlen)
{
    pd_proc_t *proc = pd_calloc(1, sizeof(*proc));
    proc->n = cfg->threads ? cfg->threads : pd_shard_default_count();
    atomic_init(&proc->n_conns, 0);
    atomic_init(&proc->draining, 0);
    uv_mutex_init(&proc->addr_lock);
    pd_map_init(&proc->http_by_addr, random_seed());
    pd_fd_reserve_init(&proc->fd_reserve);
    proc->loops[0] = loop;
    make_node_id(proc, cfg);
    proc->shards[0] = shard_new(proc, 0, loop, cfg, err, errlen);
    if (!proc->shards[0] || make_other_shards(proc, cfg, err, errlen) != 0) {
        proc_free(proc);
        return NULL;
    }
    return proc->shards[0];
}

static void write_port_file(pd_server_t *srv)
{
    if (!srv->cfg->port_file)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", srv->cfg->port_file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%d\n", srv->port);
    fclose(f);
    rename(tmp, srv->cfg->port_file);
}

/* Loop phases of a shard that is listening. */
static void start_phases(pd_server_t *srv)
{
    srv->listening = 1;
    uv_prepare_start(&srv->flush_phase, on_flush_phase);
    uint64_t period = sweep_period(srv->cfg);
    uv_timer_start(&srv->sweep, on_sweep, period, period);
    if (srv->cluster)
        pd_cluster_start(srv->cluster);
}

/* Every other shard polls the same listening socket (listener.c). */
static int share_listener(pd_proc_t *proc, char *err, size_t errlen)
{
    int rc = 0;
    for (unsigned i = 1; !rc && i < proc->n; i++) {
        pd_server_t *srv = proc->shards[i];
        rc = pd_listener_share(srv, proc->shards[0]);
        if (!rc)
            start_phases(srv);
    }
    if (rc)
        snprintf(err, errlen, "cannot share the listener: %s", uv_strerror(rc));
    return rc ? rc : pd_shard_start(proc, err, errlen);
}

int pd_server_listen(pd_server_t *srv, char *err, size_t errlen)
{
    int rc = pd_listener_bind(srv, srv->cfg->listen_host, srv->cfg->listen_port, &srv->port);
    if (rc) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", srv->cfg->listen_host,
                 srv->cfg->listen_port, uv_strerror(rc));
        return rc;
    }
    start_phases(srv);
    rc = share_listener(srv->proc, err, errlen);
    if (rc)
        return rc;
    write_port_file(srv);
    pd_log(PD_LOG_INFO, "listening", " addr=%s:%d max_conns=%u dev=%d threads=%u",
           srv->cfg->listen_host, srv->port, srv->max_conns, srv->cfg->dev, srv->proc->n);
    return 0;
}

int pd_server_port(const pd_server_t *srv)
{
    return srv->port;
}

/* ---- shutdown -------------------------------------------------------- */

static void close_all_handles(pd_server_t *srv)
{
    pd_list_foreach_safe(it, tmp, &srv->conns) pd_conn_abort(pd_container_of(it, pd_conn_t, link));
    pd_verifier_close(srv->verifier);
    srv->verifier = NULL;
    pd_cluster_close(srv->cluster);
    pd_shard_inbox_close(srv);
    uv_handle_t *handles[] = {(uv_handle_t *)&srv->flush_phase, (uv_handle_t *)&srv->flush_more,
                              (uv_handle_t *)&srv->flush_timer, (uv_handle_t *)&srv->sweep,
                              (uv_handle_t *)&srv->tick,        (uv_handle_t *)&srv->drain_timer};
    for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
        if (!uv_is_closing(handles[i]))
            uv_close(handles[i], NULL);
}

static void on_drain_check(uv_timer_t *t)
{
    pd_server_t *srv = t->data;
    int open = 0;
    pd_list_foreach(it, &srv->conns) open +=
        pd_container_of(it, pd_conn_t, link)->state != CONN_CLOSED;
    if (!open || pd_server_now(srv) >= srv->drain_deadline_ms)
        close_all_handles(srv);
}

void pd_server_drain_shard(pd_server_t *srv)
{
    if (srv->draining)
        return;
    srv->draining = 1;
    pd_log(PD_LOG_DEBUG, "draining", " thread=%u connections=%u", srv->shard, srv->n_conns);
    pd_listener_close(srv);
    pd_list_foreach_safe(it, tmp, &srv->conns)
    {
        pd_conn_t *c = pd_container_of(it, pd_conn_t, link);
        if (c->state == CONN_OPEN)
            pd_conn_close_ws(c, 1001, "server shutting down");
        else if (c->state == CONN_HTTP)
            pd_conn_abort(c);
    }
    srv->drain_deadline_ms = pd_server_now(srv) + DRAIN_TIMEOUT_MS;
    uv_timer_start(&srv->drain_timer, on_drain_check, 50, 50);
}

void pd_server_drain(pd_server_t *srv)
{
    pd_proc_t *proc = srv->proc;
    if (atomic_exchange(&proc->draining, 1))
        return;
    pd_log(PD_LOG_INFO, "draining", " connections=%u", atomic_load(&proc->n_conns));
    pd_shard_drain_others(proc, srv->shard);
    pd_server_drain_shard(srv);
}

void pd_server_free(pd_server_t *srv)
{
    if (!srv)
        return;
    pd_shard_join(srv->proc);
    proc_free(srv->proc);
}
