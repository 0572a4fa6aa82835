/*
 * Rooms and presence: who is in which room and where, with the semantics of
 * docs/protocol.md. No sockets and no clock: time comes in as arguments, and
 * messages go out through two operations the caller supplies, so every rule
 * here can be tested without a network.
 *
 * Ownership and indexing: a pd_rooms_t owns its rooms; a room owns its users
 * and members; a member is one connection's place in a room. Lookups go both
 * ways (room -> users by id -> members; member -> user -> room), so joining,
 * updating and leaving cost what they touch, not the size of the server.
 *
 * Remote members (a cluster, src/cluster): a member may belong to another
 * node, with no connection here. It counts as a local one does for
 * user_joined and user_left, the snapshot and its user's presence, and is
 * created, changed and removed only through pd_rooms_remote_*(). Limits
 * (connections per room, per user) count this node's connections alone.
 * Local members' changes are reported through ops->local_changed so that
 * other nodes hear of them. A room is kept only while it has a local member
 * (or while pd_rooms_remote_set() fills it before a first local join): when
 * its last local member goes, its remote members are forgotten silently.
 *
 * Order across nodes: each member carries a stamp, the time of its last
 * applied update (0: never updated; a member that takes over another
 * node's member starts with that one's). A local update is stamped
 * max(wall clock ms, the user's highest stamp + 1), so it ranks above every
 * update this node knew of; a user's members rank by stamp, highest first,
 * then by full key ("node|key", higher first), then never-updated members,
 * newest join first. Every node that has heard the same updates therefore
 * agrees on each user's presence.
 *
 * A client back on another node (a takeover across nodes): a member of
 * another node and a member here of the same user with the same connection
 * key (the remote key's part after its last '|') are twins, one client
 * seen before and after a reconnect. A join here under the key of a remote
 * twin starts in the twin's state (location and stamp), as a takeover here
 * keeps the member's; hearing of a remote twin ends a lingering member here
 * at once, and a live one (stale or half-open) leaves at once rather than
 * lingers when its connection goes. Two members in the same state (stamp
 * and location) are copies: one joining or leaving beside the other
 * changes no presence and announces nothing.
 *
 * Threading: a pd_rooms_t and everything in it belong to one event loop.
 */
#ifndef PD_PRESENCE_ROOMS_H
#define PD_PRESENCE_ROOMS_H

#include <stddef.h>
#include <stdint.h>

#include "../auth/identity.h"
#include "../base/buf.h"
#include "../base/shared.h"
#include "../base/slice.h"
#include "../proto/proto.h"

typedef struct pd_rooms pd_rooms_t;
typedef struct pd_room pd_room_t;
typedef struct pd_member pd_member_t;

/* Why a connection stopped being a member without asking to. */
typedef enum {
    PD_DETACH_REPLACED = 1, /* a new connection took over its _pk */
    PD_DETACH_KICKED,       /* the backend removed the user */
} pd_detach_reason_t;

/*
 * The ops are called from inside this module's functions, in the middle of
 * a broadcast: they must not call back into it (a connection to close is
 * marked and closed after the loop iteration).
 */
/* A member's state as other nodes need it. Slices point into the room's memory. */
typedef struct {
    pd_slice_t user_id;
    pd_slice_t user_name;
    pd_slice_t user_image; /* base NULL: none */
    pd_proto_location_t loc;
    uint64_t stamp; /* 0: never updated */
} pd_member_state_t;

typedef struct {
    /*
     * Frames a JSON text once; returns shared bytes holding one reference,
     * which the rooms module drops after delivering to every receiver.
     */
    pd_shared_t *(*frame)(void *ctx, const char *json, size_t len);
    /* Queues msg for conn; the callee takes its own reference if it keeps it. */
    void (*deliver)(void *ctx, void *conn, pd_shared_t *msg);
    /*
     * conn is no longer a member (its member now belongs to another
     * connection, or was removed); the caller closes it and must not pass
     * that member to this module again. Called after any message for conn
     * (e.g. permission_revoked) has been delivered.
     */
    void (*detached)(void *ctx, void *conn, pd_detach_reason_t why);
    /*
     * Optional (NULL on a single node). A local member of room_id, keyed
     * key, now has state st (it joined, applied an update or took a new
     * identity), or left (st NULL). locals is the room's local members
     * after the change; 0 means this node no longer keeps the room.
     */
    void (*local_changed)(void *ctx, pd_slice_t room_id, pd_slice_t key,
                          const pd_member_state_t *st, size_t locals);
    /* Optional: wall-clock ms since the epoch, for stamps (NULL: stamps count updates alone). */
    uint64_t (*wall_ms)(void *ctx);
} pd_rooms_ops_t;

/*
 * The messages that announce a user's leave (a bit set). The contract's
 * clients listen for user_left, the app's shipped client (Ripple's
 * useWorkspacePresence) only for user_left_presence; by default both go
 * out, user_left first, one right after the other.
 */
typedef enum {
    PD_LEAVE_USER_LEFT = 1,
    PD_LEAVE_USER_LEFT_PRESENCE = 2,
    PD_LEAVE_BOTH = PD_LEAVE_USER_LEFT | PD_LEAVE_USER_LEFT_PRESENCE,
} pd_leave_messages_t;

typedef struct {
    unsigned max_conns_per_room; /* default 10000 */
    unsigned max_conns_per_user; /* per user per room, default 16 */
    double updates_per_sec;      /* token bucket rate, default 20; <= 0: no limit */
    double update_burst;         /* bucket size, default 40; below 1 counts as 1 */
    uint64_t linger_ms;          /* presence kept after an unclean close, default 5000 */
    uint64_t idle_timeout_ms;    /* announced in snapshots (0: not announced) */
    unsigned leave_messages;     /* pd_leave_messages_t bits; 0 counts as PD_LEAVE_BOTH */
    double
        user_updates_per_sec; /* one user's bucket, all its tabs together, default 20; <= 0: none */
    double user_update_burst; /* its size, default 40; below 1 counts as 1 */
} pd_rooms_config_t;

#define PD_ROOMS_CONFIG_DEFAULT \
    ((pd_rooms_config_t){10000, 16, 20.0, 40.0, 5000, 0, PD_LEAVE_BOTH, 20.0, 40.0})

/* seed randomises hashing and assigned connection keys. */
pd_rooms_t *pd_rooms_new(const pd_rooms_config_t *cfg, const pd_rooms_ops_t *ops, void *ctx,
                         uint64_t seed);
/* Frees everything without sending anything (shutdown). */
void pd_rooms_free(pd_rooms_t *rooms);

typedef enum {
    PD_JOIN_OK = 0,
    PD_JOIN_ROOM_FULL = -1, /* the room has max_conns_per_room connections */
    PD_JOIN_TOO_MANY = -2,  /* the user has max_conns_per_user in the room */
} pd_join_status_t;

/*
 * Admits conn to room room_id (created on first join) as *id. conn_key is
 * the client's _pk (already validated: 1-64 of [A-Za-z0-9_-]) or an absent
 * slice; a key held by a member of another user is never taken over, and
 * the member gets a fresh random key instead.
 *
 * In order, within this call: if conn_key names a live or lingering member
 * of the same user, that member is taken over (its old connection gets
 * detached(PD_DETACH_REPLACED)); else if the user has a lingering member, the
 * newest one is taken over and re-keyed (to conn_key when free, else a
 * fresh key, so that its old connection coming back cannot replace the new
 * one); else a new member is made, keyed conn_key when free. The remote
 * twin rule goes before the lingering one: when conn_key is free here and
 * names a remote member of the same user (the client was on another node),
 * no lingering member is taken over; the new member starts with that
 * member's location and stamp (the highest-ranked one's, when several
 * nodes have the key) and is published so. Then the
 * snapshot is delivered to conn, then user_joined to every other connection
 * when this is the user's first member. A takeover sends no
 * user_left/user_joined, and the taking connection's first update is
 * relayed only if its location differs from the one it took over (and the
 * member is its user's presence, or in the same state as the presence);
 * when it does not differ the update changes nothing: no new stamp, nothing
 * published.
 *
 * Limits: max_conns_per_room counts live connections, max_conns_per_user
 * the user's live connections in the room; taking over a live member adds
 * no connection and is allowed at either limit.
 *
 * On PD_JOIN_OK the identity is moved into the room (*id is zeroed; when
 * the user is already present, its name and image are replaced by these,
 * sending nothing) and *out is the member. On failure nothing changed and
 * *id is untouched.
 */
pd_join_status_t pd_rooms_join(pd_rooms_t *rooms, pd_slice_t room_id, pd_identity_t *id,
                               pd_slice_t conn_key, void *conn, uint64_t now_ms, pd_member_t **out);

/*
 * Applies a presence_update from the member's connection: relayed as
 * presence_changed to every connection of the room but this one. Over the
 * member's rate limit the update is kept as the member's pending one
 * (replacing an older pending one) and applied by pd_rooms_tick() when the
 * bucket allows. Over the user's limit (its tabs together) the update is
 * applied but its announcement waits for pd_rooms_tick(), and then tells
 * the user's newest presence once, however many updates joined it.
 * Returns 0 when applied and announced now, 1 when anything waits for a
 * tick. The location is copied.
 *
 * Each presence_changed supersedes the user's previous one (see
 * pd_shared_supersede) for every connection it reaches.
 */
int pd_member_update(pd_member_t *m, const pd_proto_location_t *loc, uint64_t now_ms);

/*
 * The member's connection is gone. linger != 0 (closed without a close
 * frame) keeps the member present for linger_ms with no connection, unless
 * its user has a remote member with its key (the client is back on another
 * node, so it leaves now); else it
 * leaves now: the leave messages (user_left, user_left_presence, as
 * configured) when it was the user's last member, or a fallback
 * presence_changed when it was the user's most recent one (none when the
 * next one is in the same state). The member must
 * not be used after this call.
 */
void pd_member_leave(pd_member_t *m, int linger, uint64_t now_ms);

/*
 * A refreshed token for the same user: takes the name and image from *id
 * (moved in, *id zeroed) for later events; sends nothing.
 */
void pd_member_set_identity(pd_member_t *m, pd_identity_t *id);

/* Delivers a fresh snapshot to the member's connection (resynchronisation). */
void pd_member_resync(pd_member_t *m);

pd_slice_t pd_member_key(const pd_member_t *m);
pd_slice_t pd_member_user_id(const pd_member_t *m);
pd_room_t *pd_member_room(const pd_member_t *m);

/*
 * Applies deferred updates whose budget has refilled and ends lingers that
 * ran out. Returns the time (ms) when it next has work, or UINT64_MAX.
 */
uint64_t pd_rooms_tick(pd_rooms_t *rooms, uint64_t now_ms);

/*
 * Removes user_id from room_id: each of its connections gets
 * {"type":"permission_revoked","reason":reason}, then the user and all its
 * members are removed and the others get the leave messages, then each kicked
 * connection gets detached(KICKED). Returns the number of connections kicked
 * (lingering members count as 0 but are removed), or PD_ERR_NOT_FOUND when
 * the room or the user is not there. A user that also has members on
 * other nodes loses its local ones here, with no message to the others:
 * the kick reaches those nodes too (src/cluster), and the user leaves
 * when the last of its members anywhere has gone.
 */
int pd_rooms_kick(pd_rooms_t *rooms, pd_slice_t room_id, pd_slice_t user_id, const char *reason);

/*
 * This node's key ("nodeid/shard", up to 95 bytes; copied), used to rank a
 * local member against a remote one with the same stamp. Empty by default.
 */
void pd_rooms_set_node_key(pd_rooms_t *rooms, pd_slice_t node_key);

/*
 * Another node's member rkey ("node|key", 1-255 bytes) of room_id now has
 * state st: it is created (the room too, when missing) or changed, with the
 * messages a local member would cause: user_joined for the user's first
 * member, presence_changed to every local connection when it becomes or
 * stays the user's presence with a newer stamp (under the user's rate limit
 * as for a local member), unless the presence was already a member in the
 * same state. A stamp older than the member's is ignored but for the name
 * and image. Then, when a local member of the same user has rkey's
 * connection key (its twin): a lingering one leaves at once (published
 * through local_changed; no user_left, the user is present through rkey);
 * a live one that has not updated since it took over takes a newer state
 * of rkey's (and is published). Returns 0, or PD_ERR_INVALID when rkey
 * names a member of another user.
 */
int pd_rooms_remote_set(pd_rooms_t *rooms, pd_slice_t room_id, pd_slice_t rkey,
                        const pd_member_state_t *st, uint64_t now_ms);

/*
 * Another node's member has left: the leave messages when it was its
 * user's last member anywhere, or a fallback presence_changed (none when
 * the next member is in the same state). Returns 0, or PD_ERR_NOT_FOUND.
 */
int pd_rooms_remote_del(pd_rooms_t *rooms, pd_slice_t room_id, pd_slice_t rkey, uint64_t now_ms);

/* Removes, as pd_rooms_remote_del() does, every remote member whose key starts with prefix. */
size_t pd_rooms_remote_drop(pd_rooms_t *rooms, pd_slice_t prefix, uint64_t now_ms);

/* Forgets room_id silently when it has no local member (a first join that never came). */
void pd_rooms_remote_forget(pd_rooms_t *rooms, pd_slice_t room_id);

/* Local members of room (lingering included). */
size_t pd_room_local_count(const pd_room_t *room);
/*
 * Reports every local member of room through ops->local_changed, as if each
 * had just changed (a node that registers again announces its members).
 */
void pd_rooms_report_locals(pd_rooms_t *rooms, pd_room_t *room);

/* Introspection, for the HTTP API and metrics. */
size_t pd_rooms_count(const pd_rooms_t *rooms);
pd_room_t *pd_rooms_find(const pd_rooms_t *rooms, pd_slice_t room_id);
/* Iterates rooms: *iter starts at 0; returns NULL at the end. No changes meanwhile. */
pd_room_t *pd_rooms_next(const pd_rooms_t *rooms, size_t *iter);
pd_slice_t pd_room_id(const pd_room_t *room);
size_t pd_room_user_count(const pd_room_t *room);
/* Live connections (lingering members excluded). */
size_t pd_room_conn_count(const pd_room_t *room);
/* Members of other nodes in room (as connections: lingering ones are not told apart). */
size_t pd_room_remote_count(const pd_room_t *room);
/*
 * user_id's connections in room: its live local ones and its members on
 * other nodes; PD_ERR_NOT_FOUND when the user is not there.
 */
int pd_room_user_connections(const pd_room_t *room, pd_slice_t user_id);
/* Appends the room's users as a JSON array of snapshot entries. */
void pd_room_encode_users(const pd_room_t *room, pd_buf_t *out);

#endif
