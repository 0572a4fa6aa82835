/*
 * The cluster (cluster.c): presence shared among presenced nodes through
 * Redis. One pd_cluster_t per shard, on the shard's own loop, with its own
 * two Redis connections (hiredis's async API on its libuv adapter; nothing
 * blocks the loop): one for commands, one for subscriptions. It registers
 * the shard as a node ("nodeid/shard"), keeps its heartbeat, watches the
 * others', publishes its local members' changes and applies the other
 * nodes' to its pd_rooms_t as remote members (rooms.h). docs/architecture.md
 * ("Cluster") gives the keys, the channels, the message and the ordering.
 *
 * Threading: a pd_cluster_t, like the pd_rooms_t it feeds, belongs to one loop.
 */
#ifndef PD_CLUSTER_CLUSTER_H
#define PD_CLUSTER_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../base/slice.h"
#include "../rooms/rooms.h"
#include "msg.h"

typedef struct pd_cluster pd_cluster_t;
typedef struct pd_cluster_wait pd_cluster_wait_t;

typedef struct {
    const char *redis_url;    /* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] */
    const char *node_id;      /* 1-64 of [A-Za-z0-9_.-] */
    unsigned shard;           /* the node's name is "node_id/shard" */
    uint64_t node_timeout_ms; /* a node whose heartbeat stops this long is dead */
    pd_cluster_limits_t limits;
} pd_cluster_config_t;

typedef struct {
    /*
     * The other nodes declared this one dead while it could not speak (it
     * was frozen, or cut off): every local connection is to be closed now
     * (the server closes them with 1012 so that clients reconnect). It
     * registers again afterwards with a new incarnation.
     */
    void (*evicted)(void *ctx);
    /*
     * Another node kicked user_id out of room_id (its HTTP API): the user's
     * connections here are to be kicked as if the API call had come here.
     * Called only for a room with local members here.
     */
    void (*kick)(void *ctx, pd_slice_t room_id, pd_slice_t user_id, const char *reason);
    /* A line for the log: warn != 0 for a warning, else information. No secrets in it. */
    void (*log)(void *ctx, int warn, const char *msg, const char *detail);
} pd_cluster_ops_t;

typedef struct {
    int connected;      /* both connections are up and the node registered */
    unsigned nodes;     /* nodes alive as this one sees them, itself included */
    uint64_t published; /* messages this node published */
    uint64_t received;  /* messages that came on its subscriptions */
    uint64_t malformed; /* of those, refused as malformed */
    uint64_t loads;     /* rooms whose state was read from Redis */
    uint64_t dead;      /* nodes declared dead */
    uint64_t resyncs;   /* rooms subscribed and announced again after a reconnection */
    uint64_t late;      /* room loads that passed the deadline (joins went on without them) */
} pd_cluster_stats_t;

/*
 * Parses redis_url into host (hcap bytes), port, password (pcap bytes, ""
 * when none), user (ucap, "" when none) and db. Returns 0 or PD_ERR_CONFIG.
 */
int pd_cluster_parse_url(const char *url, char *host, size_t hcap, int *port, char *user,
                         size_t ucap, char *password, size_t pcap, unsigned *db);

/*
 * A cluster for rooms on loop (nothing starts yet). Returns NULL with a
 * message in err when the URL cannot be used.
 */
pd_cluster_t *pd_cluster_new(uv_loop_t *loop, pd_rooms_t *rooms, const pd_cluster_config_t *cfg,
                             const pd_cluster_ops_t *ops, void *ctx, char *err, size_t errlen);

/* Connects (from the next loop turn) and keeps connecting, with a backoff. */
void pd_cluster_start(pd_cluster_t *cl);

/* The rooms op local_changed: publishes a local member's change. */
void pd_cluster_local_changed(pd_cluster_t *cl, pd_slice_t room_id, pd_slice_t key,
                              const pd_member_state_t *st, size_t locals);

/* Wall-clock milliseconds since the epoch (the rooms op wall_ms). */
uint64_t pd_cluster_wall_ms(void);

/*
 * A first local member is about to join room_id: returns NULL when the
 * room's cluster state is here (or Redis is away: the node serves the room
 * alone), so the join goes on at once; else ready(ud) runs on a later loop
 * turn, once the room is subscribed and its state read, and the returned
 * wait is the caller's until then.
 */
pd_cluster_wait_t *pd_cluster_await(pd_cluster_t *cl, pd_slice_t room_id, void (*ready)(void *ud),
                                    void *ud);
/* The waiting connection went: ready will not run. */
void pd_cluster_await_cancel(pd_cluster_wait_t *w);

/*
 * Publishes a kick of user_id out of room_id to every node with members in
 * it (this one excepted: the caller kicks its own). Nothing when Redis is
 * away.
 */
void pd_cluster_kick(pd_cluster_t *cl, pd_slice_t room_id, pd_slice_t user_id, pd_slice_t reason);

/*
 * Reads the cluster's state from Redis, for the HTTP API: one room
 * (room_id), or every room (room_id.base NULL), the latter through the
 * members sets of the live nodes. done(ud, view) runs on a later loop turn
 * with a pd_rooms_t of its own holding, as remote members, every member
 * that Redis keeps for a live node (this one included), so that each
 * user's presence is ranked by the rooms module's rules; view lives for the
 * call only, and is NULL when Redis was lost meanwhile. Returns NULL, and
 * done never runs, when Redis is away now.
 */
typedef struct pd_cluster_read pd_cluster_read_t;
typedef void (*pd_cluster_read_cb)(void *ud, const pd_rooms_t *view);
pd_cluster_read_t *pd_cluster_read(pd_cluster_t *cl, pd_slice_t room_id, pd_cluster_read_cb done,
                                   void *ud);
/* The asker went: done will not run. */
void pd_cluster_read_cancel(pd_cluster_read_t *rd);

/*
 * Shutdown: unregisters the node, sends what is queued and disconnects;
 * every handle is closed within about a second, so the loop can end.
 */
void pd_cluster_close(pd_cluster_t *cl);
/* Frees it, after its loop has ended. */
void pd_cluster_free(pd_cluster_t *cl);

void pd_cluster_stats(const pd_cluster_t *cl, pd_cluster_stats_t *out);

#endif
