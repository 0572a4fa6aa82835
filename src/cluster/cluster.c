#include "cluster.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "../base/buf.h"
#include "../base/err.h"
#include "../base/list.h"
#include "../base/map.h"
#include "../base/mem.h"

#define KEY_PREFIX "presenced:"
#define NODES_KEY KEY_PREFIX "nodes"
#define HEARTBEAT_MAX_MS 1000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CLOSE_GRACE_MS 1000
#define CONNECT_TIMEOUT_MS 3000
#define NAME_MAX_LEN (PD_CLUSTER_NODE_MAX + 1)
#define MEMBER_MAX_LEN (NAME_MAX_LEN + 24) /* "name:incarnation" in the nodes set */
/* HDEL of a field whose message is of one incarnation (ARGV[2] is `,"i":INC,`). */
#define REAP_SCRIPT                                                                               \
    "local v = redis.call('HGET', KEYS[1], ARGV[1]) "                                             \
    "if v and string.find(v, ARGV[2], 1, true) then return redis.call('HDEL', KEYS[1], ARGV[1]) " \
    "end return 0"
#define RKEY_MAX_LEN (PD_CLUSTER_NODE_MAX + 1 + PD_CLUSTER_KEY_MAX)

/*
 * Threads of this process in an outage now: the first one to lose Redis
 * logs the warning, the others only count, so that a node warns once per
 * outage rather than once per thread.
 */
static atomic_uint shards_down;

/* A room's subscription. */
typedef enum {
    ROOM_SUBSCRIBING, /* SUBSCRIBE sent; messages are held */
    ROOM_LOADING,     /* subscribed; its state is being read; messages are held */
    ROOM_READY,       /* messages are applied as they come */
    ROOM_LEAVING,     /* UNSUBSCRIBE sent */
} room_state_t;

typedef struct croom {
    pd_cluster_t *cl;
    room_state_t state;
    int rejoin;     /* a first member came while leaving: subscribe again */
    unsigned gen;   /* which load a reply belongs to */
    int late;       /* its load passed the deadline: joins go on with the state known here */
    uint64_t since; /* loop time its subscription was asked for */
    pd_buf_t held;  /* messages while not ready: [uint32 length][bytes] */
    pd_list_t waits;
    size_t id_len;
    char id[]; /* the key in cl->rooms */
} croom_t;

struct pd_cluster_wait {
    pd_list_t node;
    croom_t *room;
    void (*ready)(void *ud);
    void *ud;
};

/* Another node as this one sees it. */
typedef struct {
    uint64_t inc;      /* its newest incarnation heard of */
    double score;      /* its last heartbeat, as it stamped it */
    uint64_t seen_ms;  /* loop time its heartbeat last moved, or it was first heard of */
    uint64_t since_ms; /* loop time this incarnation was first heard of */
    int dead;          /* that incarnation was declared dead */
    int present;       /* in the nodes set at the last look */
    size_t name_len;
    char name[]; /* the key in cl->peers */
} peer_t;

/* A reply's context: which cluster, and for a room, which load of it. */
typedef struct {
    pd_cluster_t *cl;
    unsigned gen;
    uint64_t at; /* loop time it was sent */
    size_t len;
    char text[]; /* a room id, or a node's member string */
} req_t;

struct pd_cluster {
    uv_loop_t *loop;
    pd_rooms_t *rooms;
    pd_cluster_ops_t ops;
    void *ctx;
    pd_cluster_limits_t limits;
    uint64_t timeout_ms, beat_ms;
    char host[256], user[128], password[256];
    int port;
    unsigned db;
    char name[NAME_MAX_LEN + 1]; /* "node_id/shard" */
    size_t name_len;
    char member[MEMBER_MAX_LEN + 1]; /* "name:incarnation", this one's entry in the nodes set */
    uint64_t inc, seq;

    uv_timer_t timer; /* heartbeats, liveness, reconnects; the close grace period */
    uv_getaddrinfo_t resolver;
    int resolving;
    redisAsyncContext *cmd, *sub;
    int cmd_up, sub_up;
    int connected, closing, timer_closed;
    uint64_t retry_at, backoff_ms, last_look_ms, attempt_at;
    int warned_down, warned_bad;
    uint64_t beat_since; /* loop time of the oldest heartbeat not answered yet, 0: none */
    uint64_t tick_ms;    /* loop time of the timer's last tick while connected */

    pd_map_t rooms_by_id; /* croom_t */
    pd_map_t peers;       /* peer_t by name */
    pd_buf_t scratch;
    pd_cluster_stats_t stats;
};

/* ---- small helpers ---- */

uint64_t pd_cluster_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_ms(const pd_cluster_t *cl)
{
    return uv_now(cl->loop);
}

static void note(pd_cluster_t *cl, int warn, const char *msg, const char *detail)
{
    if (cl->ops.log)
        cl->ops.log(cl->ctx, warn, msg, detail);
}

static req_t *req_new(pd_cluster_t *cl, pd_slice_t text, unsigned gen)
{
    req_t *r = pd_malloc(sizeof(*r) + text.len + 1);
    r->cl = cl;
    r->gen = gen;
    r->at = now_ms(cl);
    r->len = text.len;
    if (text.len)
        memcpy(r->text, text.base, text.len);
    r->text[text.len] = '\0';
    return r;
}

static pd_slice_t reply_slice(const redisReply *r)
{
    return pd_slice(r->str, r->len);
}

static int is_string(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* Sends argv (n strings, NUL-terminated) on ac; a NULL ac (not connected) drops it. */
static void command(redisAsyncContext *ac, redisCallbackFn *fn, void *priv, int n,
                    const pd_slice_t *argv)
{
    const char *args[8];
    size_t lens[8];
    for (int i = 0; i < n; i++) {
        args[i] = argv[i].base;
        lens[i] = argv[i].len;
    }
    if (!ac || redisAsyncCommandArgv(ac, fn, priv, n, args, lens) != REDIS_OK) {
        /* hiredis refused it (disconnecting): the callback still owns priv. */
        if (fn)
            fn(ac, NULL, priv);
    }
}

static void keyf(pd_buf_t *b, const char *fmt, pd_slice_t a)
{
    pd_buf_reset(b);
    pd_buf_appendf(b, fmt, (int)a.len, a.base);
}

/* ---- the URL ---- */

static int copy_part(char *out, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int parse_port_db(const char *p, int *port, unsigned *db)
{
    char *end;
    if (*p == ':') {
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535)
            return -1;
        *port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || v < 0 || v > 100000)
            return -1;
        *db = (unsigned)v;
        return 0;
    }
    return *p == '\0' || (*p == '/' && !p[1]) ? 0 : -1;
}

int pd_cluster_parse_url(const char *url, char *host, size_t hcap, int *port, char *user,
                         size_t ucap, char *password, size_t pcap, unsigned *db)
{
    *port = 6379;
    *db = 0;
    user[0] = password[0] = host[0] = '\0';
    if (strncmp(url, "redis://", 8) != 0)
        return PD_ERR_CONFIG;
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
        if (copy_part(user, ucap, p, ulen) < 0)
            return PD_ERR_CONFIG;
        if (colon && copy_part(password, pcap, colon + 1, (size_t)(at - colon - 1)) < 0)
            return PD_ERR_CONFIG;
        if (!colon) { /* redis://PASSWORD@host, as some clients accept */
            if (copy_part(password, pcap, user, ulen) < 0)
                return PD_ERR_CONFIG;
            user[0] = '\0';
        }
        p = at + 1;
    }
    size_t hlen = strcspn(p, ":/");
    if (!hlen || copy_part(host, hcap, p, hlen) < 0)
        return PD_ERR_CONFIG;
    return parse_port_db(p + hlen, port, db) < 0 ? PD_ERR_CONFIG : 0;
}

/* ---- peers ---- */

static peer_t *peer_get(pd_cluster_t *cl, pd_slice_t name)
{
    return pd_map_get(&cl->peers, name);
}

static peer_t *peer_add(pd_cluster_t *cl, pd_slice_t name, uint64_t inc)
{
    peer_t *p = pd_calloc(1, sizeof(*p) + name.len + 1);
    memcpy(p->name, name.base, name.len);
    p->name_len = name.len;
    p->inc = inc;
    p->score = -1;
    p->seen_ms = p->since_ms = now_ms(cl);
    pd_map_put(&cl->peers, pd_slice(p->name, p->name_len), p);
    return p;
}

/* Every member of the node leaves every room here. */
static void peer_drop_members(pd_cluster_t *cl, peer_t *p)
{
    char prefix[NAME_MAX_LEN + 2];
    memcpy(prefix, p->name, p->name_len);
    prefix[p->name_len] = '|';
    pd_rooms_remote_drop(cl->rooms, pd_slice(prefix, p->name_len + 1), now_ms(cl));
}

static void peer_declare_dead(pd_cluster_t *cl, peer_t *p, const char *why)
{
    p->dead = 1;
    cl->stats.dead++;
    peer_drop_members(cl, p);
    char detail[200];
    snprintf(detail, sizeof(detail), " node=%s incarnation=%llu why=%s", p->name,
             (unsigned long long)p->inc, why);
    note(cl, 0, "cluster node dead", detail);
}

/*
 * A message or heartbeat of node name, incarnation inc: 1 when it counts
 * (a newer incarnation, or any other than a dead one, replaces the one
 * known, whose members leave), 0 when it comes from this node, from an
 * incarnation older than a live one, or from one declared dead.
 */
static int peer_accept(pd_cluster_t *cl, pd_slice_t name, uint64_t inc)
{
    if (pd_slice_eq(name, pd_slice(cl->name, cl->name_len)))
        return 0;
    peer_t *p = peer_get(cl, name);
    if (!p) {
        peer_add(cl, name, inc);
        return 1;
    }
    /* A dead incarnation never speaks again: another one is the node started
     * again, even with a lower number (its clock went back). */
    if (inc < p->inc && !p->dead)
        return 0;
    if (inc != p->inc) {
        if (!p->dead)
            peer_drop_members(cl, p);
        p->inc = inc;
        p->dead = 0;
        p->score = -1;
        p->seen_ms = p->since_ms = now_ms(cl);
        return 1;
    }
    return !p->dead;
}

/* 1 when name's incarnation inc is alive as this node knows. */
static int peer_alive(pd_cluster_t *cl, pd_slice_t name, uint64_t inc)
{
    peer_t *p = peer_get(cl, name);
    return p && !p->dead && p->inc == inc;
}

/* ---- removing a dead node's entries (one survivor does it) ---- */

static void on_reaped_members(redisAsyncContext *ac, void *reply, void *priv)
{
    req_t *rq = priv;
    pd_cluster_t *cl = rq->cl;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ARRAY && cl->cmd) {
        const char *colon = strrchr(rq->text, ':');
        char mark[40];
        int mark_len = snprintf(mark, sizeof(mark), ",\"i\":%s,", colon ? colon + 1 : "0");
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            const char *bar = is_string(e) ? memchr(e->str, '|', e->len) : NULL;
            if (!bar)
                continue;
            pd_slice_t room = pd_slice(e->str, (size_t)(bar - e->str));
            pd_slice_t field = pd_slice(bar + 1, e->len - room.len - 1);
            keyf(&cl->scratch, KEY_PREFIX "room:%.*s", room);
            /* Only the dead incarnation's entry: the node's next one writes the
             * same field ("node|key") when it announces its members again. */
            pd_slice_t argv[] = {pd_slice_cstr("EVAL"),
                                 pd_slice_cstr(REAP_SCRIPT),
                                 pd_slice_cstr("1"),
                                 pd_buf_slice(&cl->scratch),
                                 field,
                                 pd_slice(mark, (size_t)mark_len)};
            command(cl->cmd, NULL, NULL, 6, argv);
        }
        keyf(&cl->scratch, KEY_PREFIX "members:%.*s", pd_slice(rq->text, rq->len));
        pd_slice_t argv[] = {pd_slice_cstr("DEL"), pd_buf_slice(&cl->scratch)};
        command(cl->cmd, NULL, NULL, 2, argv);
    }
    free(rq);
}

static void on_reaped(redisAsyncContext *ac, void *reply, void *priv)
{
    req_t *rq = priv;
    pd_cluster_t *cl = rq->cl;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1 && cl->cmd) {
        /* This node removed it from the nodes set: its entries are this node's to remove. */
        keyf(&cl->scratch, KEY_PREFIX "members:%.*s", pd_slice(rq->text, rq->len));
        pd_slice_t argv[] = {pd_slice_cstr("SMEMBERS"), pd_buf_slice(&cl->scratch)};
        command(cl->cmd, on_reaped_members, rq, 2, argv);
        return;
    }
    free(rq);
}

static void reap(pd_cluster_t *cl, pd_slice_t member)
{
    pd_slice_t argv[] = {pd_slice_cstr("ZREM"), pd_slice_cstr(NODES_KEY), member};
    command(cl->cmd, on_reaped, req_new(cl, member, 0), 3, argv);
}

/* ---- liveness ---- */

/* "name:incarnation" of the nodes set; 0 when it is not one. */
static int split_member(pd_slice_t m, pd_slice_t *name, uint64_t *inc)
{
    const char *colon = NULL;
    for (size_t i = m.len; i > 0; i--)
        if (m.base[i - 1] == ':') {
            colon = m.base + i - 1;
            break;
        }
    if (!colon)
        return 0;
    *name = pd_slice(m.base, (size_t)(colon - m.base));
    char digits[24];
    size_t n = m.len - name->len - 1;
    if (!n || n >= sizeof(digits) || !pd_cluster_node_valid(*name))
        return 0;
    memcpy(digits, colon + 1, n);
    digits[n] = '\0';
    char *end;
    unsigned long long v = strtoull(digits, &end, 10);
    if (*end || !v)
        return 0;
    *inc = v;
    return 1;
}

static void look_at_entry(pd_cluster_t *cl, const redisReply *mem, const redisReply *score)
{
    pd_slice_t name;
    uint64_t inc;
    if (!is_string(mem) || !is_string(score) || !split_member(reply_slice(mem), &name, &inc))
        return;
    if (pd_slice_eq(name, pd_slice(cl->name, cl->name_len))) {
        if (inc < cl->inc)
            reap(cl, reply_slice(mem)); /* this node's own, from before it reconnected */
        return;
    }
    peer_t *p = peer_get(cl, name);
    if (p && inc < p->inc && !p->dead) {
        reap(cl, reply_slice(mem)); /* an incarnation a newer one replaced */
        return;
    }
    if (!peer_accept(cl, name, inc)) {
        reap(cl, reply_slice(mem)); /* declared dead, still listed */
        return;
    }
    p = peer_get(cl, name);
    double s = strtod(score->str, NULL);
    if (s != p->score) {
        p->score = s;
        p->seen_ms = now_ms(cl);
    }
    p->present = 1;
}

/*
 * A node is dead when its heartbeat has not moved for the timeout, as this
 * node's own loop clock measures (so clocks need not agree), or when
 * another node has removed it. A look that comes late by more than the
 * timeout (this node was frozen) judges no one: it starts the count again.
 */
static void judge_peers(pd_cluster_t *cl, int stalled, uint64_t asked_at)
{
    uint64_t now = now_ms(cl);
    size_t iter = 0;
    void *v;
    unsigned alive = 1;
    while (pd_map_next(&cl->peers, &iter, NULL, &v)) {
        peer_t *p = v;
        if (p->dead)
            continue;
        if (stalled)
            p->seen_ms = now;
        if (!p->present && p->since_ms < asked_at) {
            /* Not listed, though heard of before the question: another node removed it. */
            peer_declare_dead(cl, p, "removed");
        } else if (!p->present) {
            alive++; /* heard of after the question was asked: the next look tells */
        } else if (now - p->seen_ms > cl->timeout_ms) {
            peer_declare_dead(cl, p, "timeout");
            char member[MEMBER_MAX_LEN + 1];
            int n =
                snprintf(member, sizeof(member), "%s:%llu", p->name, (unsigned long long)p->inc);
            reap(cl, pd_slice(member, (size_t)n));
        } else {
            alive++;
        }
    }
    cl->stats.nodes = alive;
}

static void look_at_nodes(pd_cluster_t *cl, const redisReply *r, uint64_t asked_at)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return;
    uint64_t now = now_ms(cl);
    int stalled = cl->last_look_ms && now - cl->last_look_ms > cl->timeout_ms;
    cl->last_look_ms = now;
    size_t iter = 0;
    void *v;
    while (pd_map_next(&cl->peers, &iter, NULL, &v))
        ((peer_t *)v)->present = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        look_at_entry(cl, r->element[i], r->element[i + 1]);
    judge_peers(cl, stalled, asked_at);
}

static void on_nodes(redisAsyncContext *ac, void *reply, void *priv)
{
    req_t *rq = priv;
    look_at_nodes(rq->cl, reply, rq->at);
    free(rq);
}

static void ask_nodes(pd_cluster_t *cl)
{
    pd_slice_t argv[] = {pd_slice_cstr("ZRANGE"), pd_slice_cstr(NODES_KEY), pd_slice_cstr("0"),
                         pd_slice_cstr("-1"), pd_slice_cstr("WITHSCORES")};
    command(cl->cmd, on_nodes, req_new(cl, PD_SLICE_NULL, 0), 5, argv);
}

/* ---- registration ---- */

static void new_incarnation(pd_cluster_t *cl)
{
    uint64_t inc = pd_cluster_wall_ms();
    cl->inc = inc > cl->inc ? inc : cl->inc + 1;
    cl->seq = 0;
    snprintf(cl->member, sizeof(cl->member), "%s:%llu", cl->name, (unsigned long long)cl->inc);
}

static void beat(pd_cluster_t *cl, int first);

static void evicted(pd_cluster_t *cl)
{
    char detail[160];
    snprintf(detail, sizeof(detail), " node=%s incarnation=%llu", cl->name,
             (unsigned long long)cl->inc);
    note(cl, 1, "cluster declared this node dead while it was away; closing its clients (1012)",
         detail);
    if (cl->ops.evicted)
        cl->ops.evicted(cl->ctx);
    /* Its view of the others starts again too: their clocks ran while this one stood still. */
    size_t iter = 0;
    void *v;
    while (pd_map_next(&cl->peers, &iter, NULL, &v))
        ((peer_t *)v)->seen_ms = now_ms(cl);
    new_incarnation(cl);
    beat(cl, 1);
    snprintf(detail, sizeof(detail), " node=%s incarnation=%llu", cl->name,
             (unsigned long long)cl->inc);
    note(cl, 0, "cluster joined again", detail);
}

/* Redis answers again: this thread no longer counts among those in an outage. */
static void outage_over(pd_cluster_t *cl)
{
    if (!cl->warned_down)
        return;
    cl->warned_down = 0;
    atomic_fetch_sub(&shards_down, 1);
}

static void on_beat(redisAsyncContext *ac, void *reply, void *priv)
{
    req_t *rq = priv;
    pd_cluster_t *cl = rq->cl;
    redisReply *r = reply;
    /* ZADD XX CH answers 0 when the entry was gone: the others removed this node. */
    int gone = r && r->type == REDIS_REPLY_INTEGER && r->integer == 0 && rq->gen == 0;
    uint64_t inc = strtoull(rq->text, NULL, 10);
    free(rq);
    if (r && inc == cl->inc && cl->connected) {
        /* Redis answers: the outage, if there was one, is over. */
        cl->beat_since = 0;
        cl->backoff_ms = 0;
        outage_over(cl);
    }
    if (gone && inc == cl->inc && !cl->closing)
        evicted(cl);
}

/* The heartbeat: the node's score is its wall clock, which must keep moving. */
static void beat(pd_cluster_t *cl, int first)
{
    char score[24], inc[24];
    snprintf(score, sizeof(score), "%llu", (unsigned long long)pd_cluster_wall_ms());
    int n = snprintf(inc, sizeof(inc), "%llu", (unsigned long long)cl->inc);
    if (first) {
        pd_slice_t argv[] = {pd_slice_cstr("ZADD"), pd_slice_cstr(NODES_KEY), pd_slice_cstr(score),
                             pd_slice_cstr(cl->member)};
        command(cl->cmd, NULL, NULL, 4, argv);
        return;
    }
    if (!cl->beat_since)
        cl->beat_since = now_ms(cl);
    pd_slice_t argv[] = {pd_slice_cstr("ZADD"), pd_slice_cstr(NODES_KEY),
                         pd_slice_cstr("XX"),   pd_slice_cstr("CH"),
                         pd_slice_cstr(score),  pd_slice_cstr(cl->member)};
    command(cl->cmd, on_beat, req_new(cl, pd_slice(inc, (size_t)n), 0), 6, argv);
}

/* ---- publishing ---- */

static void channel_of(pd_cluster_t *cl, pd_buf_t *b, pd_slice_t room_id)
{
    pd_buf_reset(b);
    pd_buf_appendf(b, KEY_PREFIX "%u:room:%.*s", cl->db, (int)room_id.len, room_id.base);
}

static void publish(pd_cluster_t *cl, pd_slice_t room_id, pd_slice_t key,
                    const pd_member_state_t *st)
{
    pd_buf_t msg = PD_BUF_INIT, hash = PD_BUF_INIT, field = PD_BUF_INIT, set = PD_BUF_INIT,
             entry = PD_BUF_INIT;
    pd_cluster_msg_encode(&msg, pd_slice(cl->name, cl->name_len), cl->inc, ++cl->seq, key, st);
    keyf(&hash, KEY_PREFIX "room:%.*s", room_id);
    pd_buf_appendf(&field, "%s|%.*s", cl->name, (int)key.len, key.base);
    keyf(&set, KEY_PREFIX "members:%.*s", pd_slice_cstr(cl->member));
    pd_buf_appendf(&entry, "%.*s|%.*s", (int)room_id.len, room_id.base, (int)field.len, field.base);
    /* The room's hash and the message change together, so that a node reading
     * the hash after subscribing misses nothing and can drop what it read twice. */
    pd_slice_t multi[] = {pd_slice_cstr("MULTI")};
    command(cl->cmd, NULL, NULL, 1, multi);
    pd_slice_t h[] = {pd_slice_cstr(st ? "HSET" : "HDEL"), pd_buf_slice(&hash),
                      pd_buf_slice(&field), pd_buf_slice(&msg)};
    command(cl->cmd, NULL, NULL, st ? 4 : 3, h);
    pd_slice_t s[] = {pd_slice_cstr(st ? "SADD" : "SREM"), pd_buf_slice(&set),
                      pd_buf_slice(&entry)};
    command(cl->cmd, NULL, NULL, 3, s);
    channel_of(cl, &hash, room_id);
    pd_slice_t p[] = {pd_slice_cstr("PUBLISH"), pd_buf_slice(&hash), pd_buf_slice(&msg)};
    command(cl->cmd, NULL, NULL, 3, p);
    pd_slice_t exec[] = {pd_slice_cstr("EXEC")};
    command(cl->cmd, NULL, NULL, 1, exec);
    cl->stats.published++;
    pd_buf_free(&msg);
    pd_buf_free(&hash);
    pd_buf_free(&field);
    pd_buf_free(&set);
    pd_buf_free(&entry);
}

/* ---- rooms ---- */

static croom_t *croom_get(pd_cluster_t *cl, pd_slice_t id)
{
    return pd_map_get(&cl->rooms_by_id, id);
}

static void croom_free(croom_t *r)
{
    pd_map_del(&r->cl->rooms_by_id, pd_slice(r->id, r->id_len));
    pd_list_foreach_safe(it, tmp, &r->waits) free(pd_container_of(it, pd_cluster_wait_t, node));
    pd_buf_free(&r->held);
    free(r);
}

static void on_subscription(redisAsyncContext *ac, void *reply, void *priv);

static void subscribe(croom_t *r)
{
    pd_cluster_t *cl = r->cl;
    r->state = ROOM_SUBSCRIBING;
    r->gen++;
    r->late = 0;
    r->since = now_ms(cl);
    pd_buf_reset(&r->held);
    pd_buf_t ch = PD_BUF_INIT;
    channel_of(cl, &ch, pd_slice(r->id, r->id_len));
    pd_slice_t argv[] = {pd_slice_cstr("SUBSCRIBE"), pd_buf_slice(&ch)};
    /* The subscriber's callback is one for every channel, with the cluster as its data.
     * While connecting, check_up() subscribes once the connection is up. */
    if (cl->sub_up)
        command(cl->sub, on_subscription, cl, 2, argv);
    pd_buf_free(&ch);
}

static void unsubscribe(croom_t *r)
{
    pd_cluster_t *cl = r->cl;
    r->state = ROOM_LEAVING;
    pd_buf_t ch = PD_BUF_INIT;
    channel_of(cl, &ch, pd_slice(r->id, r->id_len));
    pd_slice_t argv[] = {pd_slice_cstr("UNSUBSCRIBE"), pd_buf_slice(&ch)};
    command(cl->sub, NULL, NULL, 2, argv);
    pd_buf_free(&ch);
}

static croom_t *croom_new(pd_cluster_t *cl, pd_slice_t id)
{
    croom_t *r = pd_calloc(1, sizeof(*r) + id.len + 1);
    r->cl = cl;
    memcpy(r->id, id.base, id.len);
    r->id_len = id.len;
    pd_buf_init(&r->held);
    pd_list_init(&r->waits);
    pd_map_put(&cl->rooms_by_id, pd_slice(r->id, r->id_len), r);
    return r;
}

static void count_malformed(pd_cluster_t *cl, const char *why)
{
    cl->stats.malformed++;
    if (cl->warned_bad)
        return;
    cl->warned_bad = 1;
    char detail[160];
    snprintf(detail, sizeof(detail), " why=\"%s\" (logged once; counted in /metrics)", why);
    note(cl, 1, "cluster message refused", detail);
}

/*
 * Another node's kick: its users' connections here go, when the room has
 * any (a room still loading has none yet: its first member is not in).
 */
static void apply_kick(pd_cluster_t *cl, pd_slice_t room_id, const pd_cluster_msg_t *m)
{
    if (!peer_accept(cl, m->node, m->inc) || !cl->ops.kick)
        return;
    pd_room_t *room = pd_rooms_find(cl->rooms, room_id);
    if (room && pd_room_local_count(room))
        cl->ops.kick(cl->ctx, room_id, m->kick_user,
                     m->kick_reason.base ? m->kick_reason.base : "");
}

/* Applies one message about room r; seen, when given, drops what the room's state already had. */
static void apply(pd_cluster_t *cl, croom_t *r, const char *json, size_t len, const pd_map_t *seen)
{
    pd_cluster_msg_t m;
    const char *why = NULL;
    if (pd_cluster_msg_decode(&cl->limits, json, len, &m, &why) != 0) {
        count_malformed(cl, why);
        return;
    }
    pd_slice_t room = pd_slice(r->id, r->id_len);
    if (m.is_kick) {
        apply_kick(cl, room, &m);
        pd_cluster_msg_free(&m);
        return;
    }
    char rkey[RKEY_MAX_LEN + 2];
    int n = snprintf(rkey, sizeof(rkey), "%.*s|%.*s", (int)m.node.len, m.node.base, (int)m.key.len,
                     m.key.base);
    pd_slice_t rk = pd_slice(rkey, (size_t)n);
    const uint64_t *had = seen ? pd_map_get(seen, rk) : NULL;
    if ((had && m.seq <= *had) || !peer_accept(cl, m.node, m.inc)) {
        pd_cluster_msg_free(&m);
        return;
    }
    if (m.has_member &&
        pd_rooms_remote_set(cl->rooms, room, rk, &m.state, now_ms(cl)) == PD_ERR_INVALID)
        count_malformed(cl, "a key of another user");
    else if (!m.has_member)
        pd_rooms_remote_del(cl->rooms, room, rk, now_ms(cl));
    pd_cluster_msg_free(&m);
}

static void hold(croom_t *r, const redisReply *payload)
{
    uint32_t n = (uint32_t)payload->len;
    pd_buf_append(&r->held, &n, sizeof(n));
    pd_buf_append(&r->held, payload->str, payload->len);
}

static void apply_held(pd_cluster_t *cl, croom_t *r, const pd_map_t *seen)
{
    pd_buf_t held = r->held;
    pd_buf_init(&r->held);
    size_t off = 0;
    while (off + sizeof(uint32_t) <= held.len) {
        uint32_t n;
        memcpy(&n, held.base + off, sizeof(n));
        off += sizeof(n);
        apply(cl, r, held.base + off, n, seen);
        off += n;
    }
    pd_buf_free(&held);
}

/* 1 when a hash field is "node|key" for the message it holds. */
static int field_names(pd_slice_t f, const pd_cluster_msg_t *m)
{
    return f.len == m->node.len + 1 + m->key.len &&
           memcmp(f.base, m->node.base, m->node.len) == 0 && f.base[m->node.len] == '|' &&
           memcmp(f.base + m->node.len + 1, m->key.base, m->key.len) == 0;
}

/* The room's state as Redis keeps it: one entry per member of a live node. */
static void load_entries(pd_cluster_t *cl, croom_t *r, const redisReply *hash, pd_map_t *seen,
                         uint64_t *seqs)
{
    pd_slice_t room = pd_slice(r->id, r->id_len);
    for (size_t i = 0; i + 1 < hash->elements; i += 2) {
        const redisReply *f = hash->element[i], *v = hash->element[i + 1];
        pd_cluster_msg_t m;
        const char *why = NULL;
        if (!is_string(f) || !is_string(v) ||
            pd_cluster_msg_decode(&cl->limits, v->str, v->len, &m, &why) != 0) {
            count_malformed(cl, why ? why : "not a string");
            continue;
        }
        /* Entries of nodes not seen alive are a dead node's, or a newer node's
         * whose every change comes as a held message. */
        if (m.has_member && peer_alive(cl, m.node, m.inc) && field_names(reply_slice(f), &m) &&
            pd_rooms_remote_set(cl->rooms, room, reply_slice(f), &m.state, now_ms(cl)) == 0) {
            seqs[i / 2] = m.seq;
            pd_map_put(seen, reply_slice(f), &seqs[i / 2]);
        }
        pd_cluster_msg_free(&m);
    }
}

/* The connections waiting for r join now. */
static void release_waits(croom_t *r)
{
    while (!pd_list_empty(&r->waits)) {
        pd_cluster_wait_t *w = pd_container_of(r->waits.next, pd_cluster_wait_t, node);
        pd_list_remove(&w->node);
        void (*ready)(void *) = w->ready;
        void *ud = w->ud;
        free(w);
        ready(ud);
    }
}

static void room_ready(pd_cluster_t *cl, croom_t *r)
{
    r->state = ROOM_READY;
    release_waits(r);
    pd_room_t *room = pd_rooms_find(cl->rooms, pd_slice(r->id, r->id_len));
    if (!room || !pd_room_local_count(room)) {
        /* Every connection that waited went (or was refused): the room is not kept. */
        pd_rooms_remote_forget(cl->rooms, pd_slice(r->id, r->id_len));
        unsubscribe(r);
    }
}

static void on_hash(redisAsyncContext *ac, void *reply, void *priv)
{
    req_t *rq = priv;
    pd_cluster_t *cl = rq->cl;
    croom_t *r = croom_get(cl, pd_slice(rq->text, rq->len));
    redisReply *h = reply;
    if (r && r->gen == rq->gen && r->state == ROOM_LOADING && h) {
        cl->stats.loads++;
        pd_map_t seen;
        pd_map_init(&seen, 0x5eedULL);
        size_t n = h->type == REDIS_REPLY_ARRAY ? h->elements / 2 : 0;
        uint64_t *seqs = pd_calloc(n ? n : 1, sizeof(*seqs));
        if (n)
            load_entries(cl, r, h, &seen, seqs);
        apply_held(cl, r, &seen);
        pd_map_free(&seen);
        free(seqs);
        room_ready(cl, r);
    }
    free(rq);
}

/* Subscribed: reads who is alive, then the room's state (messages meanwhile are held). */
static void load(croom_t *r)
{
    pd_cluster_t *cl = r->cl;
    r->state = ROOM_LOADING;
    ask_nodes(cl);
    pd_buf_t key = PD_BUF_INIT;
    keyf(&key, KEY_PREFIX "room:%.*s", pd_slice(r->id, r->id_len));
    pd_slice_t argv[] = {pd_slice_cstr("HGETALL"), pd_buf_slice(&key)};
    command(cl->cmd, on_hash, req_new(cl, pd_slice(r->id, r->id_len), r->gen), 2, argv);
    pd_buf_free(&key);
}

static void on_subscription(redisAsyncContext *ac, void *reply, void *priv)
{
    pd_cluster_t *cl = priv;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || !is_string(r->element[0]) ||
        !is_string(r->element[1]))
        return;
    pd_buf_t prefix = PD_BUF_INIT;
    channel_of(cl, &prefix, pd_slice("", 0)); /* the prefix alone */
    pd_slice_t ch = reply_slice(r->element[1]);
    croom_t *room = NULL;
    if (ch.len > prefix.len && memcmp(ch.base, prefix.base, prefix.len) == 0)
        room = croom_get(cl, pd_slice(ch.base + prefix.len, ch.len - prefix.len));
    pd_buf_free(&prefix);
    const char *type = r->element[0]->str;
    if (!room)
        return;
    if (strcmp(type, "message") == 0 && is_string(r->element[2])) {
        cl->stats.received++;
        if (room->state == ROOM_READY)
            apply(cl, room, r->element[2]->str, r->element[2]->len, NULL);
        else if (room->state != ROOM_LEAVING)
            hold(room, r->element[2]);
    } else if (strcmp(type, "subscribe") == 0 && room->state == ROOM_SUBSCRIBING) {
        load(room);
    } else if (strcmp(type, "unsubscribe") == 0 && room->state == ROOM_LEAVING) {
        if (room->rejoin) {
            room->rejoin = 0;
            subscribe(room);
        } else {
            croom_free(room);
        }
    }
}

/* A connection is being made: rooms wait for it (for CONNECT_TIMEOUT_MS at most). */
static int connecting(const pd_cluster_t *cl)
{
    return !cl->connected && !cl->closing && (cl->resolving || cl->cmd || cl->sub);
}

pd_cluster_wait_t *pd_cluster_await(pd_cluster_t *cl, pd_slice_t room_id, void (*ready)(void *ud),
                                    void *ud)
{
    if (!cl->connected && !connecting(cl))
        return NULL;
    croom_t *r = croom_get(cl, room_id);
    if (r && (r->state == ROOM_READY || (r->late && r->state != ROOM_LEAVING)))
        return NULL;
    if (!r) {
        r = croom_new(cl, room_id);
        subscribe(r);
    } else if (r->state == ROOM_LEAVING) {
        r->rejoin = 1;
    }
    pd_cluster_wait_t *w = pd_calloc(1, sizeof(*w));
    w->room = r;
    w->ready = ready;
    w->ud = ud;
    pd_list_push_back(&r->waits, &w->node);
    return w;
}

void pd_cluster_await_cancel(pd_cluster_wait_t *w)
{
    pd_list_remove(&w->node);
    free(w);
}

void pd_cluster_local_changed(pd_cluster_t *cl, pd_slice_t room_id, pd_slice_t key,
                              const pd_member_state_t *st, size_t locals)
{
    if (!cl->connected)
        return;
    publish(cl, room_id, key, st);
    croom_t *r = locals ? NULL : croom_get(cl, room_id);
    if (r && r->state == ROOM_READY)
        unsubscribe(r);
}

/* ---- the HTTP API: kicks, and the cluster's state read from Redis ---- */

void pd_cluster_kick(pd_cluster_t *cl, pd_slice_t room_id, pd_slice_t user_id, pd_slice_t reason)
{
    if (!cl->connected)
        return;
    pd_buf_t msg = PD_BUF_INIT, ch = PD_BUF_INIT;
    pd_cluster_msg_encode_kick(&msg, pd_slice(cl->name, cl->name_len), cl->inc, ++cl->seq, user_id,
                               reason);
    channel_of(cl, &ch, room_id);
    pd_slice_t argv[] = {pd_slice_cstr("PUBLISH"), pd_buf_slice(&ch), pd_buf_slice(&msg)};
    command(cl->cmd, NULL, NULL, 3, argv);
    cl->stats.published++;
    pd_buf_free(&msg);
    pd_buf_free(&ch);
}

struct pd_cluster_read {
    pd_cluster_t *cl;
    pd_cluster_read_cb done;
    void *ud;         /* NULL once cancelled */
    unsigned pending; /* replies still to come */
    int lost;         /* one did not come: Redis went */
    pd_slice_t room;  /* one room (base into room_id), or every room (base NULL) */
    pd_map_t live;    /* "name:incarnation" of the nodes alive at the read (owned strings) */
    pd_map_t asked;   /* every room: read_room_t by room id, each read once */
    pd_rooms_t *view;
    char room_id[];
};

/* One room's hash asked for. */
typedef struct {
    pd_cluster_read_t *rd;
    size_t len;
    char id[];
} read_room_t;

static pd_shared_t *view_frame(void *ctx, const char *json, size_t len)
{
    (void)ctx;
    (void)json;
    (void)len;
    return NULL; /* a view has no connection: nothing is ever delivered */
}

static void view_deliver(void *ctx, void *conn, pd_shared_t *msg)
{
    (void)ctx;
    (void)conn;
    (void)msg;
}

static void view_detached(void *ctx, void *conn, pd_detach_reason_t why)
{
    (void)ctx;
    (void)conn;
    (void)why;
}

static void free_values(pd_map_t *m)
{
    size_t iter = 0;
    void *v;
    while (pd_map_next(m, &iter, NULL, &v))
        free(v);
    pd_map_free(m);
}

static void read_finish(pd_cluster_read_t *rd)
{
    if (--rd->pending)
        return;
    if (rd->ud)
        rd->done(rd->ud, rd->lost ? NULL : rd->view);
    free_values(&rd->asked);
    free_values(&rd->live);
    pd_rooms_free(rd->view);
    free(rd);
}

/* 1 when a message is of a node that was alive at the read. */
static int entry_alive(const pd_cluster_read_t *rd, const pd_cluster_msg_t *m)
{
    char member[MEMBER_MAX_LEN + 1];
    int n = snprintf(member, sizeof(member), "%.*s:%llu", (int)m->node.len, m->node.base,
                     (unsigned long long)m->inc);
    return n > 0 && (size_t)n < sizeof(member) &&
           pd_map_get(&rd->live, pd_slice(member, (size_t)n)) != NULL;
}

static void on_read_hash(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    read_room_t *rr = priv;
    pd_cluster_read_t *rd = rr->rd;
    pd_cluster_t *cl = rd->cl;
    const redisReply *h = reply;
    rd->lost |= !h;
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i], *v = h->element[i + 1];
        pd_cluster_msg_t m;
        const char *why = NULL;
        if (!is_string(f) || !is_string(v) ||
            pd_cluster_msg_decode(&cl->limits, v->str, v->len, &m, &why) != 0)
            continue; /* counted when a room is loaded; an answer is not the place */
        if (m.has_member && entry_alive(rd, &m) && field_names(reply_slice(f), &m))
            pd_rooms_remote_set(rd->view, pd_slice(rr->id, rr->len), reply_slice(f), &m.state, 0);
        pd_cluster_msg_free(&m);
    }
    read_finish(rd);
}

static void read_room(pd_cluster_read_t *rd, pd_slice_t id)
{
    if (pd_map_get(&rd->asked, id))
        return;
    read_room_t *rr = pd_malloc(sizeof(*rr) + id.len);
    rr->rd = rd;
    rr->len = id.len;
    memcpy(rr->id, id.base, id.len);
    pd_map_put(&rd->asked, pd_slice(rr->id, rr->len), rr);
    pd_buf_t key = PD_BUF_INIT;
    keyf(&key, KEY_PREFIX "room:%.*s", id);
    pd_slice_t argv[] = {pd_slice_cstr("HGETALL"), pd_buf_slice(&key)};
    rd->pending++;
    command(rd->cl->cmd, on_read_hash, rr, 2, argv);
    pd_buf_free(&key);
}

/* A members set's entry is "{roomId}|{node}|{key}": the room id is what precedes the last two '|'. */
static int entry_room(pd_slice_t e, pd_slice_t *room)
{
    int bars = 0;
    for (size_t i = e.len; i-- > 0;)
        if (e.base[i] == '|' && ++bars == 2) {
            *room = pd_slice(e.base, i);
            return i > 0;
        }
    return 0;
}

static void on_read_members(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    pd_cluster_read_t *rd = priv;
    const redisReply *r = reply;
    rd->lost |= !r;
    pd_slice_t room;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (is_string(r->element[i]) && entry_room(reply_slice(r->element[i]), &room))
            read_room(rd, room);
    read_finish(rd);
}

/*
 * A node listed in the nodes set is alive for the read unless this node has
 * declared that incarnation dead or heard of a newer one: a node registered
 * since this one last looked counts, as it will at the next look.
 */
static int listed_alive(pd_cluster_t *cl, pd_slice_t name, uint64_t inc)
{
    if (pd_slice_eq(name, pd_slice(cl->name, cl->name_len)))
        return inc == cl->inc;
    const peer_t *p = peer_get(cl, name);
    return !p || inc > p->inc || (inc == p->inc && !p->dead);
}

static void on_read_nodes(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    pd_cluster_read_t *rd = priv;
    pd_cluster_t *cl = rd->cl;
    const redisReply *r = reply;
    rd->lost |= !r;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        pd_slice_t name;
        uint64_t inc;
        if (!is_string(r->element[i]) || !split_member(reply_slice(r->element[i]), &name, &inc) ||
            !listed_alive(cl, name, inc) || pd_map_get(&rd->live, reply_slice(r->element[i])))
            continue;
        char *m = pd_strndup(r->element[i]->str, r->element[i]->len);
        pd_map_put(&rd->live, pd_slice(m, r->element[i]->len), m);
        if (!rd->room.base) {
            pd_buf_t key = PD_BUF_INIT;
            pd_buf_appendf(&key, KEY_PREFIX "members:%s", m);
            pd_slice_t argv[] = {pd_slice_cstr("SMEMBERS"), pd_buf_slice(&key)};
            rd->pending++;
            command(cl->cmd, on_read_members, rd, 2, argv);
            pd_buf_free(&key);
        }
    }
    if (r && rd->room.base)
        read_room(rd, rd->room);
    read_finish(rd);
}

pd_cluster_read_t *pd_cluster_read(pd_cluster_t *cl, pd_slice_t room_id, pd_cluster_read_cb done,
                                   void *ud)
{
    if (!cl->connected)
        return NULL;
    static const pd_rooms_ops_t ops = {view_frame, view_deliver, view_detached, NULL, NULL};
    pd_rooms_config_t rc = PD_ROOMS_CONFIG_DEFAULT;
    rc.updates_per_sec = rc.user_updates_per_sec = 0; /* a view announces nothing */
    pd_cluster_read_t *rd = pd_calloc(1, sizeof(*rd) + room_id.len + 1);
    rd->cl = cl;
    rd->done = done;
    rd->ud = ud;
    if (room_id.base) {
        memcpy(rd->room_id, room_id.base, room_id.len);
        rd->room = pd_slice(rd->room_id, room_id.len);
    }
    rd->pending = 2; /* the nodes' reply, and this call until it has asked */
    pd_map_init(&rd->live, 0x11feULL);
    pd_map_init(&rd->asked, 0x7eadULL);
    rd->view = pd_rooms_new(&rc, &ops, NULL, 0);
    /* Who is alive first, then the members sets or the room: replies come in order. */
    pd_slice_t argv[] = {pd_slice_cstr("ZRANGE"), pd_slice_cstr(NODES_KEY), pd_slice_cstr("0"),
                         pd_slice_cstr("-1")};
    command(cl->cmd, on_read_nodes, rd, 4, argv);
    /* hiredis never answers within a call but to refuse a command, which it
     * does only while it disconnects: then done must not run. */
    if (rd->lost) {
        rd->ud = NULL;
        read_finish(rd);
        return NULL;
    }
    rd->pending--;
    return rd;
}

void pd_cluster_read_cancel(pd_cluster_read_t *rd)
{
    rd->ud = NULL;
}

/* ---- connections ---- */

static void connect_both(pd_cluster_t *cl);

static void close_timer(pd_cluster_t *cl)
{
    if (cl->timer_closed)
        return;
    cl->timer_closed = 1;
    uv_close((uv_handle_t *)&cl->timer, NULL);
}

static void schedule_retry(pd_cluster_t *cl)
{
    cl->backoff_ms = cl->backoff_ms ? cl->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (cl->backoff_ms > BACKOFF_MAX_MS)
        cl->backoff_ms = BACKOFF_MAX_MS;
    cl->retry_at = now_ms(cl) + cl->backoff_ms;
}

/* Connections waiting for a room's state join at once; the rooms' subscriptions are gone. */
static void release_rooms(pd_cluster_t *cl)
{
    size_t iter = 0;
    void *v;
    while (pd_map_next(&cl->rooms_by_id, &iter, NULL, &v)) {
        croom_t *r = v;
        release_waits(r);
    }
    while ((iter = 0, pd_map_next(&cl->rooms_by_id, &iter, NULL, &v)))
        croom_free(v);
}

/* What this node knew of the others goes: their members leave here. */
static void forget_peers(pd_cluster_t *cl)
{
    pd_rooms_remote_drop(cl->rooms, pd_slice("", 0), now_ms(cl));
    size_t iter = 0;
    void *v;
    while (pd_map_next(&cl->peers, &iter, NULL, &v))
        free(v);
    pd_map_free(&cl->peers);
    pd_map_init(&cl->peers, 0x9e37ULL);
    cl->last_look_ms = 0;
    cl->stats.nodes = 0;
}

/*
 * Redis is away: the node serves its rooms alone. Connections waiting for
 * a room's state join at once, and what this node knew of the others goes
 * (their members leave here), since nothing keeps it true meanwhile.
 */
static void went_down(pd_cluster_t *cl, const char *why)
{
    if (cl->closing && (cl->cmd || cl->sub) && strcmp(why, "closing") != 0)
        return; /* the other connection is still sending what was queued */
    cl->connected = 0;
    cl->beat_since = cl->tick_ms = 0;
    cl->cmd_up = cl->sub_up = 0;
    redisAsyncContext *cmd = cl->cmd, *sub = cl->sub;
    cl->cmd = cl->sub = NULL;
    if (cmd)
        redisAsyncFree(cmd);
    if (sub)
        redisAsyncFree(sub);
    release_rooms(cl);
    forget_peers(cl);
    if (cl->closing) {
        close_timer(cl);
        return;
    }
    if (!cl->warned_down) {
        cl->warned_down = 1;
        if (atomic_fetch_add(&shards_down, 1) == 0) {
            char detail[512];
            snprintf(detail, sizeof(detail), " redis=%s:%d why=\"%s\" (retrying with backoff)",
                     cl->host, cl->port, why);
            note(cl, 1, "cluster: Redis unreachable, serving this node's rooms alone", detail);
        }
    }
    schedule_retry(cl);
}

/*
 * Registered again (Redis came back, or this node's link did): every room
 * this node kept with local members is subscribed again and its state read
 * again (the others' members come back from it), and its local members are
 * announced again under this incarnation, so that the others, which dropped
 * them, get them back.
 */
static void resync_rooms(pd_cluster_t *cl)
{
    size_t iter = 0;
    pd_room_t *room;
    while ((room = pd_rooms_next(cl->rooms, &iter))) {
        if (!pd_room_local_count(room))
            continue;
        pd_slice_t id = pd_room_id(room);
        if (!croom_get(cl, id)) {
            subscribe(croom_new(cl, id));
            cl->stats.resyncs++;
        }
        pd_rooms_report_locals(cl->rooms, room);
    }
}

static void check_up(pd_cluster_t *cl)
{
    if (!cl->cmd_up || !cl->sub_up || cl->connected)
        return;
    cl->connected = 1;
    cl->beat_since = cl->tick_ms = 0;
    new_incarnation(cl);
    beat(cl, 1);
    ask_nodes(cl);
    /* Rooms whose first member came while connecting subscribe now. */
    size_t iter = 0;
    void *v;
    while (pd_map_next(&cl->rooms_by_id, &iter, NULL, &v))
        if (((croom_t *)v)->state == ROOM_SUBSCRIBING)
            subscribe(v);
    resync_rooms(cl);
    char detail[512];
    snprintf(detail, sizeof(detail), " node=%s incarnation=%llu redis=%s:%d db=%u", cl->name,
             (unsigned long long)cl->inc, cl->host, cl->port, cl->db);
    note(cl, 0, "cluster connected", detail);
}

static void on_connected(const redisAsyncContext *ac, int status)
{
    pd_cluster_t *cl = ac->data;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this call. */
        if (ac == cl->cmd)
            cl->cmd = NULL;
        else if (ac == cl->sub)
            cl->sub = NULL;
        went_down(cl, ac->errstr);
        return;
    }
    if (ac == cl->cmd)
        cl->cmd_up = 1;
    else if (ac == cl->sub)
        cl->sub_up = 1;
    check_up(cl);
}

static void on_disconnected(const redisAsyncContext *ac, int status)
{
    pd_cluster_t *cl = ac->data;
    if (ac == cl->cmd)
        cl->cmd = NULL;
    else if (ac == cl->sub)
        cl->sub = NULL;
    else
        return; /* freed by went_down() itself */
    went_down(cl, status == REDIS_OK ? "disconnected" : ac->errstr);
}

static void on_auth(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *r = reply;
    pd_cluster_t *cl = ac->data;
    if (r && r->type == REDIS_REPLY_ERROR && !cl->closing) {
        char detail[512];
        snprintf(detail, sizeof(detail), " redis=%s:%d error=\"%.80s\"", cl->host, cl->port,
                 r->str);
        note(cl, 1, "cluster: Redis refused the password or database", detail);
        redisAsyncDisconnect(ac);
    }
}

static redisAsyncContext *open_one(pd_cluster_t *cl, const char *ip, int select_db)
{
    redisAsyncContext *ac = redisAsyncConnect(ip, cl->port);
    if (!ac)
        return NULL;
    if (ac->err || redisLibuvAttach(ac, cl->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = cl;
    redisAsyncSetConnectCallback(ac, on_connected);
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    if (cl->password[0] && cl->user[0]) {
        pd_slice_t argv[] = {pd_slice_cstr("AUTH"), pd_slice_cstr(cl->user),
                             pd_slice_cstr(cl->password)};
        command(ac, on_auth, NULL, 3, argv);
    } else if (cl->password[0]) {
        pd_slice_t argv[] = {pd_slice_cstr("AUTH"), pd_slice_cstr(cl->password)};
        command(ac, on_auth, NULL, 2, argv);
    }
    if (select_db && cl->db) {
        char db[16];
        snprintf(db, sizeof(db), "%u", cl->db);
        pd_slice_t argv[] = {pd_slice_cstr("SELECT"), pd_slice_cstr(db)};
        command(ac, on_auth, NULL, 2, argv);
    }
    return ac;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    pd_cluster_t *cl = req->data;
    cl->resolving = 0;
    char ip[64] = "";
    if (status == 0 && res)
        uv_ip_name(res->ai_addr, ip, sizeof(ip));
    uv_freeaddrinfo(res);
    if (cl->closing)
        return;
    if (!ip[0]) {
        went_down(cl, status ? uv_strerror(status) : "no address");
        return;
    }
    cl->cmd = open_one(cl, ip, 1);
    cl->sub = cl->cmd ? open_one(cl, ip, 0) : NULL;
    if (!cl->cmd || !cl->sub)
        went_down(cl, "cannot open a connection");
}

/* Names are resolved off the loop (getaddrinfo blocks); hiredis then connects without blocking. */
static void connect_both(pd_cluster_t *cl)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    cl->resolver.data = cl;
    cl->retry_at = UINT64_MAX;
    cl->attempt_at = now_ms(cl);
    if (uv_getaddrinfo(cl->loop, &cl->resolver, on_resolved, cl->host, NULL, &hints) == 0)
        cl->resolving = 1;
    else
        went_down(cl, "cannot resolve");
}

/*
 * A room whose state has not come within the node timeout (Redis, or the
 * subscriber's link, is slow or silent) lets its waiting connections join
 * with the state this node knows (its own members); the state still
 * applies when it comes, as joins and leaves they are told of.
 */
static void release_late_rooms(pd_cluster_t *cl)
{
    uint64_t now = now_ms(cl);
    size_t iter = 0;
    void *v;
    while (pd_map_next(&cl->rooms_by_id, &iter, NULL, &v)) {
        croom_t *r = v;
        if ((r->state == ROOM_SUBSCRIBING || r->state == ROOM_LOADING) && !r->late &&
            now - r->since > cl->timeout_ms) {
            r->late = 1;
            cl->stats.late++;
            release_waits(r);
        }
    }
}

static void on_timer(uv_timer_t *t)
{
    pd_cluster_t *cl = t->data;
    if (cl->closing) {
        /* The grace period is over: whatever has not disconnected is dropped. */
        went_down(cl, "closing");
        return;
    }
    if (cl->connected) {
        uint64_t now = now_ms(cl);
        if (cl->tick_ms && now - cl->tick_ms > cl->timeout_ms)
            cl->beat_since = 0; /* this node stood still (frozen): its heartbeat tells */
        cl->tick_ms = now;
        if (cl->beat_since && now - cl->beat_since > cl->timeout_ms) {
            /* hiredis has no reply deadline: a silent link is found here. */
            went_down(cl, "no reply within the node timeout");
            return;
        }
        release_late_rooms(cl);
        beat(cl, 0);
        ask_nodes(cl);
    } else if ((cl->cmd || cl->sub) && now_ms(cl) - cl->attempt_at > CONNECT_TIMEOUT_MS) {
        /* hiredis's connect has no deadline of its own. */
        went_down(cl, "connect timed out");
    } else if (!cl->cmd && !cl->sub && !cl->resolving && now_ms(cl) >= cl->retry_at) {
        connect_both(cl);
    }
}

/* ---- the interface ---- */

static int make_name(pd_cluster_t *cl, const pd_cluster_config_t *cfg)
{
    int n = snprintf(cl->name, sizeof(cl->name), "%s/%u", cfg->node_id, cfg->shard);
    if (n < 0 || (size_t)n >= sizeof(cl->name) || !pd_cluster_node_valid(pd_slice_cstr(cl->name)))
        return -1;
    cl->name_len = (size_t)n;
    return 0;
}

pd_cluster_t *pd_cluster_new(uv_loop_t *loop, pd_rooms_t *rooms, const pd_cluster_config_t *cfg,
                             const pd_cluster_ops_t *ops, void *ctx, char *err, size_t errlen)
{
    pd_cluster_t *cl = pd_calloc(1, sizeof(*cl));
    if (pd_cluster_parse_url(cfg->redis_url, cl->host, sizeof(cl->host), &cl->port, cl->user,
                             sizeof(cl->user), cl->password, sizeof(cl->password), &cl->db) != 0 ||
        make_name(cl, cfg) != 0) {
        snprintf(err, errlen, "--redis wants redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]");
        memset(cl->password, 0, sizeof(cl->password));
        free(cl);
        return NULL;
    }
    cl->loop = loop;
    cl->rooms = rooms;
    cl->ops = *ops;
    cl->ctx = ctx;
    cl->limits = cfg->limits;
    cl->timeout_ms = cfg->node_timeout_ms;
    cl->beat_ms = cl->timeout_ms / 4 < HEARTBEAT_MAX_MS ? cl->timeout_ms / 4 : HEARTBEAT_MAX_MS;
    if (cl->beat_ms < 50)
        cl->beat_ms = 50;
    pd_map_init(&cl->rooms_by_id, 0x51ULL);
    pd_map_init(&cl->peers, 0x9e37ULL);
    pd_buf_init(&cl->scratch);
    uv_timer_init(loop, &cl->timer);
    cl->timer.data = cl;
    pd_rooms_set_node_key(rooms, pd_slice(cl->name, cl->name_len));
    return cl;
}

void pd_cluster_start(pd_cluster_t *cl)
{
    cl->retry_at = 0;
    uv_timer_start(&cl->timer, on_timer, 0, cl->beat_ms);
}

void pd_cluster_close(pd_cluster_t *cl)
{
    if (!cl || cl->closing)
        return;
    if (cl->connected) {
        /* Leaving cleanly: the others drop this node at once rather than after the timeout. */
        pd_slice_t zrem[] = {pd_slice_cstr("ZREM"), pd_slice_cstr(NODES_KEY),
                             pd_slice_cstr(cl->member)};
        command(cl->cmd, NULL, NULL, 3, zrem);
        keyf(&cl->scratch, KEY_PREFIX "members:%.*s", pd_slice_cstr(cl->member));
        pd_slice_t del[] = {pd_slice_cstr("DEL"), pd_buf_slice(&cl->scratch)};
        command(cl->cmd, NULL, NULL, 2, del);
    }
    cl->closing = 1;
    if (cl->resolving)
        uv_cancel((uv_req_t *)&cl->resolver);
    /* hiredis sends what is queued, waits for the replies, then disconnects. */
    if (cl->cmd)
        redisAsyncDisconnect(cl->cmd);
    if (cl->sub)
        redisAsyncDisconnect(cl->sub);
    if (!cl->cmd && !cl->sub)
        close_timer(cl);
    else
        uv_timer_start(&cl->timer, on_timer, CLOSE_GRACE_MS, 0);
}

void pd_cluster_free(pd_cluster_t *cl)
{
    if (!cl)
        return;
    if (!cl->timer_closed) {
        /* Never closed (the server did not start): close here and let the handles go. */
        cl->closing = 1;
        went_down(cl, "closing");
        uv_run(cl->loop, UV_RUN_NOWAIT);
    }
    size_t iter = 0;
    void *v;
    while ((iter = 0, pd_map_next(&cl->rooms_by_id, &iter, NULL, &v)))
        croom_free(v);
    pd_map_free(&cl->rooms_by_id);
    iter = 0;
    while (pd_map_next(&cl->peers, &iter, NULL, &v))
        free(v);
    pd_map_free(&cl->peers);
    pd_buf_free(&cl->scratch);
    outage_over(cl);
    memset(cl->password, 0, sizeof(cl->password));
    free(cl);
}

void pd_cluster_stats(const pd_cluster_t *cl, pd_cluster_stats_t *out)
{
    *out = cl->stats;
    out->connected = cl->connected;
    if (!cl->connected)
        out->nodes = 0;
}
