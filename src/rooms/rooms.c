#include "rooms.h"

#include <stdlib.h>
#include <string.h>

#include "../base/err.h"
#include "../base/list.h"
#include "../base/map.h"
#include "../base/mem.h"

#define KEY_MAX 64
#define FRESH_KEY_LEN 16
#define NODE_KEY_MAX 95
#define RKEY_MAX 255

/* A location holding its own copy of the bytes, in a single allocation. */
typedef struct {
    char *mem;
    pd_proto_location_t loc;
} owned_loc_t;

/* An entry of a list kept in deadline order. */
typedef struct {
    pd_list_t node;
    uint64_t at;
} deadline_t;

typedef struct user {
    pd_room_t *room;
    pd_identity_t id; /* id.user_id is the key in room->users */
    size_t id_len;
    pd_list_t members;         /* most recently updated first: the front is the presence */
    pd_list_t room_node;       /* in room->users_by_join */
    unsigned live;             /* members with a connection */
    double tat;                /* the user's own rate limiter, see bucket_take() */
    deadline_t announce_at;    /* in rooms->announcing while an announcement waits for it */
    pd_shared_t *last_changed; /* watched, not held: its newest presence_changed */
} user_t;

struct pd_member {
    user_t *user;
    void *conn;            /* NULL while lingering */
    pd_list_t user_node;   /* in user->members */
    pd_list_t conn_node;   /* in room->conns while live */
    deadline_t linger;     /* in rooms->lingering while lingering */
    deadline_t pending_at; /* in rooms->pending while an update waits */
    double tat;            /* rate limiter state, see bucket_take() */
    owned_loc_t loc;
    owned_loc_t pending;
    int updated;    /* has applied at least one update */
    int took_over;  /* the next applied update is compared with loc */
    uint64_t stamp; /* of its last applied update, 0 before one; see rooms.h */
    char *rkey;     /* a remote member's "node|key" (the key in room->remotes), else NULL */
    size_t rkey_len;
    size_t key_len;
    char key[KEY_MAX + 1]; /* the key in room->members */
};

struct pd_room {
    pd_rooms_t *rooms;
    pd_map_t users;          /* user id -> user_t */
    pd_map_t members;        /* member key -> pd_member_t, local ones, lingering included */
    pd_map_t remotes;        /* "node|key" -> pd_member_t, other nodes' */
    pd_list_t users_by_join; /* the order of snapshots and the HTTP API */
    pd_list_t conns;         /* live members, in join order */
    size_t live;
    size_t id_len;
    char id[]; /* the key in rooms->rooms */
};

struct pd_rooms {
    pd_rooms_config_t cfg;
    pd_rooms_ops_t ops;
    void *ctx;
    pd_map_t rooms;       /* room id -> pd_room_t */
    pd_list_t lingering;  /* members by linger deadline */
    pd_list_t pending;    /* members with a deferred update, by due time */
    pd_list_t announcing; /* users whose announcement waits for their bucket, by due time */
    pd_buf_t scratch;     /* every message is encoded here, then framed once */
    uint64_t rng;
    size_t node_key_len;
    char node_key[NODE_KEY_MAX + 1]; /* this node's, for ranking equal stamps */
};

static const pd_proto_location_t unknown_loc = {{"", 0}, {NULL, 0}, {NULL, 0}};

/* ---- small helpers ---- */

static pd_rooms_t *rooms_of(const pd_member_t *m)
{
    return m->user->room->rooms;
}

static pd_member_t *member_of_user_node(const pd_list_t *n)
{
    return pd_container_of(n, pd_member_t, user_node);
}

static pd_slice_t user_id_slice(const user_t *u)
{
    return pd_slice(u->id.user_id, u->id_len);
}

static pd_member_t *user_front(const user_t *u)
{
    return member_of_user_node(u->members.next);
}

static int is_presence(const pd_member_t *m)
{
    return user_front(m->user) == m;
}

static int is_only_member(const pd_member_t *m)
{
    return m->user->members.next == &m->user_node && m->user->members.prev == &m->user_node;
}

/* splitmix64: cheap, well mixed, and state lives in the context. */
static uint64_t next_random(pd_rooms_t *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- locations ---- */

static pd_slice_t copy_part(char **at, pd_slice_t s)
{
    if (!s.base)
        return PD_SLICE_NULL;
    pd_slice_t out = pd_slice(*at, s.len);
    if (s.len)
        memcpy(*at, s.base, s.len);
    *at += s.len;
    return out;
}

static owned_loc_t loc_copy(const pd_proto_location_t *src)
{
    pd_slice_t path = src->current_path.base ? src->current_path : pd_slice("", 0);
    owned_loc_t o;
    o.mem = pd_malloc(path.len + src->resource_type.len + src->resource_id.len);
    char *at = o.mem;
    o.loc.current_path = copy_part(&at, path);
    o.loc.resource_type = copy_part(&at, src->resource_type);
    o.loc.resource_id = copy_part(&at, src->resource_id);
    return o;
}

static void loc_free(owned_loc_t *o)
{
    free(o->mem);
    *o = (owned_loc_t){NULL, unknown_loc};
}

/* Unlike pd_slice_eq(), an absent field differs from an empty one. */
static int field_eq(pd_slice_t a, pd_slice_t b)
{
    return (a.base == NULL) == (b.base == NULL) && pd_slice_eq(a, b);
}

static int loc_eq(const pd_proto_location_t *a, const pd_proto_location_t *b)
{
    return field_eq(a->current_path, b->current_path) &&
           field_eq(a->resource_type, b->resource_type) && field_eq(a->resource_id, b->resource_id);
}

/* ---- deadline lists ---- */

/* Deadlines mostly arrive in order, so the walk from the back is short. */
static void deadline_insert(pd_list_t *list, deadline_t *d, uint64_t at)
{
    d->at = at;
    pd_list_t *pos = list->prev;
    while (pos != list && pd_container_of(pos, deadline_t, node)->at > at)
        pos = pos->prev;
    pd_list_insert_after(pos, &d->node);
}

/* The first entry due by now, or NULL. */
static deadline_t *deadline_due(pd_list_t *list, uint64_t now)
{
    if (pd_list_empty(list))
        return NULL;
    deadline_t *d = pd_container_of(list->next, deadline_t, node);
    return d->at <= now ? d : NULL;
}

static uint64_t deadline_next(const pd_list_t *list)
{
    return pd_list_empty(list) ? UINT64_MAX : pd_container_of(list->next, deadline_t, node)->at;
}

/* ---- rate limit ---- */

/*
 * The token bucket in its virtual-scheduling form (GCRA): tat is the time at
 * which the bucket would be full again. An update fits when the bucket is at
 * most burst - 1 intervals short of full; the earliest such time is the same
 * number the check compares against, so a deferred update is always
 * admitted at the time it was scheduled for. Each member has a bucket, and
 * so has each user: a user's tabs share one budget for what the room hears.
 */
typedef struct {
    double per_sec; /* <= 0: no limit */
    double burst;
} limit_t;

static limit_t member_limit(const pd_rooms_t *r)
{
    return (limit_t){r->cfg.updates_per_sec, r->cfg.update_burst};
}

static limit_t user_limit(const pd_rooms_t *r)
{
    return (limit_t){r->cfg.user_updates_per_sec, r->cfg.user_update_burst};
}

static double interval_ms(limit_t l)
{
    return 1000.0 / l.per_sec;
}

static double bucket_ready_at(double tat, limit_t l)
{
    return tat - (l.burst - 1.0) * interval_ms(l);
}

static int bucket_take(double *tat, limit_t l, uint64_t now)
{
    if (l.per_sec <= 0)
        return 1;
    if (bucket_ready_at(*tat, l) > (double)now)
        return 0;
    *tat = (*tat > (double)now ? *tat : (double)now) + interval_ms(l);
    return 1;
}

static uint64_t bucket_due(double tat, limit_t l)
{
    double at = bucket_ready_at(tat, l);
    uint64_t due = (uint64_t)at;
    return (double)due < at ? due + 1 : due;
}

/* ---- sending ---- */

static pd_buf_t *scratch(pd_rooms_t *r)
{
    pd_buf_reset(&r->scratch);
    return &r->scratch;
}

static pd_shared_t *frame_scratch(pd_rooms_t *r)
{
    return r->ops.frame(r->ctx, pd_buf_slice(&r->scratch).base, r->scratch.len);
}

static void send_to(pd_rooms_t *r, void *conn)
{
    pd_shared_t *msg = frame_scratch(r);
    r->ops.deliver(r->ctx, conn, msg);
    pd_shared_unref(msg);
}

/*
 * Sends the scratch message to every live connection of room but except;
 * returns the frame with one reference for the caller, or NULL when no one
 * got it.
 */
static pd_shared_t *broadcast_frame(pd_room_t *room, const void *except)
{
    pd_rooms_t *r = room->rooms;
    pd_shared_t *msg = NULL;
    pd_list_foreach(it, &room->conns)
    {
        pd_member_t *m = pd_container_of(it, pd_member_t, conn_node);
        if (m->conn == except)
            continue;
        if (!msg)
            msg = frame_scratch(r);
        r->ops.deliver(r->ctx, m->conn, msg);
    }
    return msg;
}

static void broadcast(pd_room_t *room, const void *except)
{
    pd_shared_unref(broadcast_frame(room, except));
}

static pd_proto_entry_t user_entry(const user_t *u)
{
    return (pd_proto_entry_t){user_id_slice(u), pd_slice_cstr(u->id.user_name),
                              pd_slice_cstr(u->id.user_image), user_front(u)->loc.loc};
}

/*
 * msg, just sent to every connection but except, carries the user's whole
 * presence: the one before it is superseded for each of its holders that
 * msg reached, which is all of them but except. A connection that is
 * behind may then skip the older one unsent.
 */
static void supersede(user_t *u, pd_shared_t *msg, const void *except)
{
    if (u->last_changed)
        pd_shared_supersede(u->last_changed, except);
    pd_shared_watch(msg, &u->last_changed);
}

/* Announces the user's presence now; an announcement waiting for the bucket is no longer needed. */
static void announce_presence(user_t *u, const void *except)
{
    pd_list_remove(&u->announce_at.node);
    pd_proto_entry_t e = user_entry(u);
    pd_proto_enc_presence_changed(scratch(u->room->rooms), &e);
    pd_shared_t *msg = broadcast_frame(u->room, except);
    if (msg)
        supersede(u, msg, except);
    pd_shared_unref(msg);
}

/*
 * An applied update is announced when the user's bucket allows, else once
 * it does: updates applied meanwhile (from any of its tabs) join the
 * waiting announcement, which tells the newest presence to every
 * connection but that of the member it comes from. Returns 1 when it waits.
 */
static int announce_update(user_t *u, uint64_t now)
{
    pd_rooms_t *r = u->room->rooms;
    if (pd_list_linked(&u->announce_at.node))
        return 1;
    if (!bucket_take(&u->tat, user_limit(r), now)) {
        deadline_insert(&r->announcing, &u->announce_at, bucket_due(u->tat, user_limit(r)));
        return 1;
    }
    announce_presence(u, user_front(u)->conn);
    return 0;
}

static void announce_joined(user_t *u, const void *except)
{
    pd_proto_enc_user_joined(scratch(u->room->rooms), user_id_slice(u),
                             pd_slice_cstr(u->id.user_name), pd_slice_cstr(u->id.user_image));
    broadcast(u->room, except);
}

/* The configured forms go to every remaining connection, user_left first. */
static void announce_left(user_t *u)
{
    unsigned forms = u->room->rooms->cfg.leave_messages;
    if (forms & PD_LEAVE_USER_LEFT) {
        pd_proto_enc_user_left(scratch(u->room->rooms), user_id_slice(u));
        broadcast(u->room, NULL);
    }
    if (forms & PD_LEAVE_USER_LEFT_PRESENCE) {
        pd_proto_enc_user_left_presence(scratch(u->room->rooms), user_id_slice(u));
        broadcast(u->room, NULL);
    }
}

/* The joining user is listed only when it is present through another member. */
static void send_snapshot(pd_member_t *m)
{
    pd_room_t *room = m->user->room;
    pd_buf_t *b = scratch(room->rooms);
    pd_proto_enc_snapshot_begin(b, user_id_slice(m->user), pd_member_key(m),
                                rooms_of(m)->cfg.idle_timeout_ms);
    int first = 1;
    pd_list_foreach(it, &room->users_by_join)
    {
        user_t *u = pd_container_of(it, user_t, room_node);
        if (u == m->user && is_only_member(m))
            continue;
        pd_proto_entry_t e = user_entry(u);
        pd_proto_enc_snapshot_entry(b, &e, first);
        first = 0;
    }
    pd_proto_enc_snapshot_end(b);
    send_to(room->rooms, m->conn);
}

/* ---- rooms ---- */

static pd_room_t *room_new(pd_rooms_t *r, pd_slice_t id)
{
    pd_room_t *room = pd_malloc(sizeof(*room) + id.len + 1);
    room->rooms = r;
    pd_map_init(&room->users, next_random(r));
    pd_map_init(&room->members, next_random(r));
    pd_map_init(&room->remotes, next_random(r));
    pd_list_init(&room->users_by_join);
    pd_list_init(&room->conns);
    room->live = 0;
    room->id_len = id.len;
    if (id.len)
        memcpy(room->id, id.base, id.len);
    room->id[id.len] = '\0';
    pd_map_put(&r->rooms, pd_room_id(room), room);
    return room;
}

static void room_free(pd_room_t *room)
{
    pd_map_free(&room->users);
    pd_map_free(&room->members);
    pd_map_free(&room->remotes);
    free(room);
}

static void room_destroy(pd_room_t *room);

/*
 * A room is kept while it has a local member: without one, no connection
 * here hears its remote members, so they are forgotten at once.
 */
static void room_release_if_empty(pd_room_t *room)
{
    if (room->members.count)
        return;
    pd_map_del(&room->rooms->rooms, pd_room_id(room));
    room_destroy(room);
}

/* After a remote member left: the room goes only when nothing is left in it. */
static void room_release_if_unused(pd_room_t *room)
{
    if (!room->remotes.count)
        room_release_if_empty(room);
}

/* ---- users ---- */

static user_t *user_new(pd_room_t *room, pd_identity_t *id)
{
    user_t *u = pd_calloc(1, sizeof(*u));
    u->room = room;
    u->id = *id;
    *id = (pd_identity_t){0};
    u->id_len = strlen(u->id.user_id);
    pd_list_init(&u->members);
    pd_list_init(&u->announce_at.node);
    pd_list_push_back(&room->users_by_join, &u->room_node);
    pd_map_put(&room->users, user_id_slice(u), u);
    return u;
}

/* Takes the name, image and expiry of a newer token for the same user. */
static void user_take_profile(user_t *u, pd_identity_t *id)
{
    char *old_name = u->id.user_name, *old_image = u->id.user_image;
    u->id.user_name = id->user_name;
    u->id.user_image = id->user_image;
    u->id.expires_at_ms = id->expires_at_ms;
    id->user_name = old_name;
    id->user_image = old_image;
    pd_identity_free(id);
    *id = (pd_identity_t){0};
}

static void user_unlink(user_t *u)
{
    pd_map_del(&u->room->users, user_id_slice(u));
    pd_list_remove(&u->room_node);
}

static void user_free(user_t *u)
{
    pd_list_remove(&u->announce_at.node);
    pd_shared_unwatch(&u->last_changed);
    pd_identity_free(&u->id);
    free(u);
}

/* Never-updated members rank after updated ones, newest join first. */
static void user_add_member(user_t *u, pd_member_t *m)
{
    pd_list_t *at = &u->members;
    while (at->next != &u->members && member_of_user_node(at->next)->updated)
        at = at->next;
    pd_list_insert_after(at, &m->user_node);
}

/* The member's key across nodes, "node|key", into buf (at least RKEY_MAX + 1 bytes). */
static pd_slice_t full_key(const pd_member_t *m, char *buf)
{
    if (m->rkey)
        return pd_slice(m->rkey, m->rkey_len);
    const pd_rooms_t *r = m->user->room->rooms;
    memcpy(buf, r->node_key, r->node_key_len);
    buf[r->node_key_len] = '|';
    memcpy(buf + r->node_key_len + 1, m->key, m->key_len);
    return pd_slice(buf, r->node_key_len + 1 + m->key_len);
}

/* 1 when a (updated) ranks before b: a higher stamp, then a higher full key. */
static int ranks_before(const pd_member_t *a, const pd_member_t *b)
{
    if (!b->updated || a->stamp != b->stamp)
        return !b->updated || a->stamp > b->stamp;
    char ba[RKEY_MAX + 1], bb[RKEY_MAX + 1];
    pd_slice_t ka = full_key(a, ba), kb = full_key(b, bb);
    size_t n = ka.len < kb.len ? ka.len : kb.len;
    int c = memcmp(ka.base, kb.base, n);
    return c > 0 || (c == 0 && ka.len > kb.len);
}

/* Puts m (not on the list) in its place on its user's list, by the order of rooms.h. */
static void user_place_member(user_t *u, pd_member_t *m)
{
    if (!m->updated) {
        user_add_member(u, m);
        return;
    }
    pd_list_t *at = &u->members;
    while (at->next != &u->members && !ranks_before(m, member_of_user_node(at->next)))
        at = at->next;
    pd_list_insert_after(at, &m->user_node);
}

/* The stamp of a local update now: above every stamp the user has here. */
static uint64_t next_stamp(const user_t *u)
{
    const pd_rooms_t *r = u->room->rooms;
    uint64_t wall = r->ops.wall_ms ? r->ops.wall_ms(r->ctx) : 0;
    uint64_t top = pd_list_empty(&u->members) ? 0 : user_front(u)->stamp;
    return wall > top ? wall : top + 1;
}

/*
 * 1 when a and b hold the same applied state (stamp and location): a
 * member that took over another node's member starts as its copy, and
 * neither one's arrival or departure changes the user's presence.
 */
static int same_state(const pd_member_t *a, const pd_member_t *b)
{
    return a->updated && b->updated && a->stamp == b->stamp && loc_eq(&a->loc.loc, &b->loc.loc);
}

/* The connection key of a remote member: its key after the last '|' ("node|key"). */
static pd_slice_t remote_key(const pd_member_t *m)
{
    size_t i = m->rkey_len;
    while (i > 0 && m->rkey[i - 1] != '|')
        i--;
    return pd_slice(m->rkey + i, m->rkey_len - i);
}

/* u's highest-ranked remote member with connection key key (a twin on another node), or NULL. */
static pd_member_t *remote_twin(const user_t *u, pd_slice_t key)
{
    pd_list_foreach(it, &u->members)
    {
        pd_member_t *m = member_of_user_node(it);
        if (m->rkey && pd_slice_eq(remote_key(m), key))
            return m;
    }
    return NULL;
}

/* ---- members ---- */

static pd_slice_t key_slice(const pd_member_t *m)
{
    return pd_slice(m->key, m->key_len);
}

static void fresh_key(pd_rooms_t *r, pd_member_t *m)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i < FRESH_KEY_LEN; i++)
        m->key[i] = alphabet[next_random(r) % (sizeof(alphabet) - 1)];
    m->key[FRESH_KEY_LEN] = '\0';
    m->key_len = FRESH_KEY_LEN;
}

/* Indexes m under want when that key is free, else under a fresh one. */
static void member_set_key(pd_member_t *m, pd_room_t *room, pd_slice_t want)
{
    if (want.base && want.len >= 1 && want.len <= KEY_MAX && !pd_map_get(&room->members, want)) {
        memcpy(m->key, want.base, want.len);
        m->key[want.len] = '\0';
        m->key_len = want.len;
    } else {
        do
            fresh_key(room->rooms, m);
        while (pd_map_get(&room->members, key_slice(m)));
    }
    pd_map_put(&room->members, key_slice(m), m);
}

static void member_attach(pd_member_t *m, void *conn)
{
    pd_room_t *room = m->user->room;
    m->conn = conn;
    pd_list_push_back(&room->conns, &m->conn_node);
    room->live++;
    m->user->live++;
}

/* Takes m off the room's live connections; m->conn is kept for the caller. */
static void member_detach(pd_member_t *m)
{
    if (!pd_list_linked(&m->conn_node))
        return;
    pd_list_remove(&m->conn_node);
    m->user->room->live--;
    m->user->live--;
}

/* A member of u with no place yet: no location, on no list. */
static pd_member_t *member_alloc(user_t *u)
{
    pd_member_t *m = pd_calloc(1, sizeof(*m));
    m->user = u;
    m->loc.loc = unknown_loc;
    m->pending.loc = unknown_loc;
    pd_list_init(&m->conn_node);
    pd_list_init(&m->linger.node);
    pd_list_init(&m->pending_at.node);
    return m;
}

static pd_member_t *member_new(user_t *u, pd_slice_t key, void *conn)
{
    pd_member_t *m = member_alloc(u);
    member_set_key(m, u->room, key);
    user_add_member(u, m);
    member_attach(m, conn);
    return m;
}

/* Removes m from the room's indexes and timers; it stays on its user's list. */
static void member_unlink(pd_member_t *m)
{
    member_detach(m);
    pd_list_remove(&m->linger.node);
    pd_list_remove(&m->pending_at.node);
    if (m->rkey)
        pd_map_del(&m->user->room->remotes, pd_slice(m->rkey, m->rkey_len));
    else
        pd_map_del(&m->user->room->members, key_slice(m));
}

static void member_free(pd_member_t *m)
{
    loc_free(&m->loc);
    loc_free(&m->pending);
    free(m->rkey);
    free(m);
}

/* ---- telling other nodes ---- */

static pd_member_state_t member_state(const pd_member_t *m)
{
    const user_t *u = m->user;
    return (pd_member_state_t){user_id_slice(u), pd_slice_cstr(u->id.user_name),
                               pd_slice_cstr(u->id.user_image), m->loc.loc, m->stamp};
}

static void report_state(const pd_member_t *m)
{
    pd_rooms_t *r = rooms_of(m);
    if (!r->ops.local_changed || m->rkey)
        return;
    pd_member_state_t st = member_state(m);
    pd_room_t *room = m->user->room;
    r->ops.local_changed(r->ctx, pd_room_id(room), key_slice(m), &st, room->members.count);
}

/* m, a local member, has just been unlinked from its room. */
static void report_gone(const pd_member_t *m, pd_room_t *room)
{
    pd_rooms_t *r = room->rooms;
    if (r->ops.local_changed && !m->rkey)
        r->ops.local_changed(r->ctx, pd_room_id(room), key_slice(m), NULL, room->members.count);
}

static void member_leave_now(pd_member_t *m)
{
    user_t *u = m->user;
    pd_room_t *room = u->room;
    /* A member that never updated leaves the user's location as it was (""), and
     * one followed by a member in the same state leaves the presence as it was. */
    int was_presence = is_presence(m) && m->updated;
    if (was_presence && m->user_node.next != &u->members &&
        same_state(member_of_user_node(m->user_node.next), m))
        was_presence = 0;
    int remote = m->rkey != NULL;
    member_unlink(m);
    pd_list_remove(&m->user_node);
    report_gone(m, room);
    member_free(m);
    if (pd_list_empty(&u->members)) {
        user_unlink(u);
        announce_left(u);
        user_free(u);
    } else if (was_presence) {
        announce_presence(u, NULL);
    }
    if (remote)
        room_release_if_unused(room);
    else
        room_release_if_empty(room);
}

static void member_start_linger(pd_member_t *m, uint64_t deadline)
{
    member_detach(m);
    m->conn = NULL;
    deadline_insert(&rooms_of(m)->lingering, &m->linger, deadline);
}

/* ---- updates ---- */

static void drop_pending(pd_member_t *m)
{
    pd_list_remove(&m->pending_at.node);
    loc_free(&m->pending);
}

/* Makes next (moved in) the member's location and announces it; 1 when that waits. */
static int apply_update(pd_member_t *m, owned_loc_t *next, uint64_t now)
{
    int quiet = m->took_over && loc_eq(&m->loc.loc, &next->loc) &&
                (is_presence(m) || same_state(user_front(m->user), m));
    m->took_over = 0;
    if (quiet && m->updated) {
        /* The state every node has for it already: nothing changes, nothing is told. */
        loc_free(next);
        return 0;
    }
    loc_free(&m->loc);
    m->loc = *next;
    *next = (owned_loc_t){NULL, unknown_loc};
    m->updated = 1;
    m->stamp = next_stamp(m->user);
    pd_list_remove(&m->user_node);
    pd_list_push_front(&m->user->members, &m->user_node);
    report_state(m);
    return quiet ? 0 : announce_update(m->user, now);
}

static void defer_update(pd_member_t *m, const pd_proto_location_t *loc)
{
    pd_rooms_t *r = rooms_of(m);
    owned_loc_t next = loc_copy(loc);
    loc_free(&m->pending);
    m->pending = next;
    if (!pd_list_linked(&m->pending_at.node))
        deadline_insert(&r->pending, &m->pending_at, bucket_due(m->tat, member_limit(r)));
}

int pd_member_update(pd_member_t *m, const pd_proto_location_t *loc, uint64_t now_ms)
{
    if (!bucket_take(&m->tat, member_limit(rooms_of(m)), now_ms)) {
        defer_update(m, loc);
        return 1;
    }
    drop_pending(m);
    owned_loc_t next = loc_copy(loc);
    return apply_update(m, &next, now_ms);
}

/* ---- joining ---- */

static pd_member_t *newest_lingering(const user_t *u)
{
    pd_member_t *best = NULL;
    pd_list_foreach(it, &u->members)
    {
        pd_member_t *m = member_of_user_node(it);
        if (!m->conn && !m->rkey && (!best || m->linger.at > best->linger.at))
            best = m;
    }
    return best;
}

/*
 * The member a join of u under key takes over: the user's own member with
 * that key here; else, when the key is free here and names a member of
 * the user on another node (*twin), none (a new member copies the twin's
 * state); else the user's newest lingering member here.
 */
static pd_member_t *takeover_target(const user_t *u, pd_slice_t key, pd_member_t **twin)
{
    *twin = NULL;
    pd_member_t *m = key.base ? pd_map_get(&u->room->members, key) : NULL;
    if (m && m->user == u)
        return m;
    if (!m && key.base && (*twin = remote_twin(u, key)))
        return NULL;
    return newest_lingering(u);
}

static pd_join_status_t check_limits(const pd_rooms_t *r, const pd_room_t *room, const user_t *u,
                                     const pd_member_t *target)
{
    if (target && target->conn)
        return PD_JOIN_OK; /* replaces a live connection: the counts stay */
    if (room && room->live >= r->cfg.max_conns_per_room)
        return PD_JOIN_ROOM_FULL;
    if (u && u->live >= r->cfg.max_conns_per_user)
        return PD_JOIN_TOO_MANY;
    return PD_JOIN_OK;
}

/*
 * A lingering member taken over under another key is re-keyed, so that its
 * old connection coming back later cannot replace the new one.
 */
static void member_take_over(pd_member_t *m, pd_slice_t key, void *conn, char *old, size_t *old_len)
{
    m->took_over = 1;
    *old_len = 0;
    if (m->conn) {
        m->conn = conn;
        return;
    }
    pd_list_remove(&m->linger.node);
    member_attach(m, conn);
    if (!pd_slice_eq(key, key_slice(m))) {
        *old_len = m->key_len;
        memcpy(old, m->key, m->key_len);
        pd_map_del(&m->user->room->members, key_slice(m));
        member_set_key(m, m->user->room, key);
    }
}

/*
 * A new member m whose key names twin, its user's member on another node
 * (the same client, reconnected here): m starts with twin's location and
 * stamp, so that it ranks as the user's presence as twin did, with no new
 * stamp, and its first update at that location is not relayed.
 */
static void member_inherit(pd_member_t *m, const pd_member_t *twin)
{
    m->took_over = 1;
    if (!twin->updated)
        return;
    loc_free(&m->loc);
    m->loc = loc_copy(&twin->loc.loc);
    m->stamp = twin->stamp;
    m->updated = 1;
    pd_list_remove(&m->user_node);
    user_place_member(m->user, m);
}

/* Other nodes hear of a re-keyed member's new key before its old one goes: the user never leaves. */
static void report_rekeyed(pd_member_t *m, const char *old, size_t old_len)
{
    pd_room_t *room = m->user->room;
    pd_rooms_t *r = room->rooms;
    if (old_len && r->ops.local_changed)
        r->ops.local_changed(r->ctx, pd_room_id(room), pd_slice(old, old_len), NULL,
                             room->members.count);
}

pd_join_status_t pd_rooms_join(pd_rooms_t *rooms, pd_slice_t room_id, pd_identity_t *id,
                               pd_slice_t conn_key, void *conn, uint64_t now_ms, pd_member_t **out)
{
    pd_room_t *room = pd_map_get(&rooms->rooms, room_id);
    user_t *u = room ? pd_map_get(&room->users, pd_slice_cstr(id->user_id)) : NULL;
    pd_member_t *twin = NULL;
    pd_member_t *target = u ? takeover_target(u, conn_key, &twin) : NULL;
    pd_join_status_t st = check_limits(rooms, room, u, target);
    if (st != PD_JOIN_OK)
        return st;
    if (!room)
        room = room_new(rooms, room_id);
    int first = !u;
    if (first)
        u = user_new(room, id);
    else
        user_take_profile(u, id);
    void *replaced = target ? target->conn : NULL;
    char old_key[KEY_MAX + 1];
    size_t old_len = 0;
    if (target)
        member_take_over(target, conn_key, conn, old_key, &old_len);
    *out = target ? target : member_new(u, conn_key, conn);
    if (twin)
        member_inherit(*out, twin);
    report_state(*out);
    report_rekeyed(*out, old_key, old_len);
    send_snapshot(*out);
    if (replaced)
        rooms->ops.detached(rooms->ctx, replaced, PD_DETACH_REPLACED);
    if (first)
        announce_joined(u, conn);
    return PD_JOIN_OK;
}

/* ---- leaving, kicking, ticking ---- */

void pd_member_leave(pd_member_t *m, int linger, uint64_t now_ms)
{
    pd_rooms_t *r = rooms_of(m);
    /* Its client is already back on another node (the twin took over): nothing to keep. */
    if (linger && r->cfg.linger_ms > 0 && m->conn && !remote_twin(m->user, key_slice(m)))
        member_start_linger(m, now_ms + r->cfg.linger_ms);
    else
        member_leave_now(m);
}

static void revoke(user_t *u, const char *reason)
{
    pd_rooms_t *r = u->room->rooms;
    pd_proto_enc_permission_revoked(scratch(r), reason);
    pd_shared_t *msg = NULL;
    pd_list_foreach(it, &u->members)
    {
        pd_member_t *m = member_of_user_node(it);
        if (!m->conn)
            continue;
        if (!msg)
            msg = frame_scratch(r);
        r->ops.deliver(r->ctx, m->conn, msg);
    }
    pd_shared_unref(msg);
}

static int user_has_remote(const user_t *u)
{
    pd_list_foreach(it, &u->members) if (member_of_user_node(it)->rkey) return 1;
    return 0;
}

/*
 * A kick of a user also present on other nodes removes its local members
 * here, and announces nothing: the kick reaches every node (the cluster
 * carries it), so its other members are leaving too, and the user leaves
 * with the last of them, with no fallback presence in between.
 */
static int kick_locals(user_t *u, int kicked)
{
    pd_room_t *room = u->room;
    pd_rooms_t *r = room->rooms;
    pd_list_foreach_safe(it, tmp, &u->members)
    {
        pd_member_t *m = member_of_user_node(it);
        if (m->rkey)
            continue;
        void *conn = m->conn;
        member_unlink(m);
        pd_list_remove(&m->user_node);
        report_gone(m, room);
        if (conn)
            r->ops.detached(r->ctx, conn, PD_DETACH_KICKED);
        member_free(m);
    }
    room_release_if_empty(room);
    return kicked;
}

int pd_rooms_kick(pd_rooms_t *rooms, pd_slice_t room_id, pd_slice_t user_id, const char *reason)
{
    pd_room_t *room = pd_map_get(&rooms->rooms, room_id);
    user_t *u = room ? pd_map_get(&room->users, user_id) : NULL;
    if (!u)
        return PD_ERR_NOT_FOUND;
    int kicked = (int)u->live;
    revoke(u, reason);
    if (user_has_remote(u))
        return kick_locals(u, kicked);
    pd_list_foreach(it, &u->members)
    {
        pd_member_t *m = member_of_user_node(it);
        member_unlink(m);
        report_gone(m, room);
    }
    user_unlink(u);
    announce_left(u);
    pd_list_foreach_safe(it, tmp, &u->members)
    {
        pd_member_t *m = member_of_user_node(it);
        if (m->conn)
            rooms->ops.detached(rooms->ctx, m->conn, PD_DETACH_KICKED);
        member_free(m);
    }
    user_free(u);
    room_release_if_empty(room);
    return kicked;
}

static void expire_lingers(pd_rooms_t *r, uint64_t now)
{
    deadline_t *d;
    while ((d = deadline_due(&r->lingering, now)))
        member_leave_now(pd_container_of(d, pd_member_t, linger));
}

static void apply_due_updates(pd_rooms_t *r, uint64_t now)
{
    deadline_t *d;
    while ((d = deadline_due(&r->pending, now))) {
        pd_member_t *m = pd_container_of(d, pd_member_t, pending_at);
        pd_list_remove(&d->node);
        if (!bucket_take(&m->tat, member_limit(r), now)) {
            deadline_insert(&r->pending, d, bucket_due(m->tat, member_limit(r)));
            continue;
        }
        owned_loc_t next = m->pending;
        m->pending = (owned_loc_t){NULL, unknown_loc};
        apply_update(m, &next, now);
    }
}

static void announce_due(pd_rooms_t *r, uint64_t now)
{
    deadline_t *d;
    while ((d = deadline_due(&r->announcing, now))) {
        pd_list_remove(&d->node);
        announce_update(pd_container_of(d, user_t, announce_at), now);
    }
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

uint64_t pd_rooms_tick(pd_rooms_t *rooms, uint64_t now_ms)
{
    expire_lingers(rooms, now_ms);
    apply_due_updates(rooms, now_ms);
    announce_due(rooms, now_ms);
    uint64_t next = earliest(deadline_next(&rooms->lingering), deadline_next(&rooms->pending));
    return earliest(next, deadline_next(&rooms->announcing));
}

/* ---- lifecycle ---- */

pd_rooms_t *pd_rooms_new(const pd_rooms_config_t *cfg, const pd_rooms_ops_t *ops, void *ctx,
                         uint64_t seed)
{
    pd_rooms_t *r = pd_calloc(1, sizeof(*r));
    r->cfg = *cfg;
    if (r->cfg.update_burst < 1.0)
        r->cfg.update_burst = 1.0;
    if (!(r->cfg.leave_messages & PD_LEAVE_BOTH))
        r->cfg.leave_messages = PD_LEAVE_BOTH;
    if (r->cfg.user_update_burst < 1.0)
        r->cfg.user_update_burst = 1.0;
    r->ops = *ops;
    r->ctx = ctx;
    r->rng = seed;
    pd_map_init(&r->rooms, next_random(r));
    pd_list_init(&r->lingering);
    pd_list_init(&r->pending);
    pd_list_init(&r->announcing);
    pd_buf_init(&r->scratch);
    return r;
}

static void room_destroy(pd_room_t *room)
{
    pd_list_foreach_safe(it, tmp, &room->users_by_join)
    {
        user_t *u = pd_container_of(it, user_t, room_node);
        pd_list_foreach_safe(mit, mtmp, &u->members) member_free(member_of_user_node(mit));
        user_free(u);
    }
    room_free(room);
}

void pd_rooms_free(pd_rooms_t *rooms)
{
    if (!rooms)
        return;
    size_t iter = 0;
    void *room;
    while (pd_map_next(&rooms->rooms, &iter, NULL, &room))
        room_destroy(room);
    pd_map_free(&rooms->rooms);
    pd_buf_free(&rooms->scratch);
    free(rooms);
}

/* ---- the rest of the interface ---- */

void pd_member_set_identity(pd_member_t *m, pd_identity_t *id)
{
    user_take_profile(m->user, id);
    report_state(m);
}

void pd_member_resync(pd_member_t *m)
{
    if (m->conn)
        send_snapshot(m);
}

pd_slice_t pd_member_key(const pd_member_t *m)
{
    return key_slice(m);
}

pd_slice_t pd_member_user_id(const pd_member_t *m)
{
    return user_id_slice(m->user);
}

pd_room_t *pd_member_room(const pd_member_t *m)
{
    return m->user->room;
}

size_t pd_rooms_count(const pd_rooms_t *rooms)
{
    return rooms->rooms.count;
}

pd_room_t *pd_rooms_find(const pd_rooms_t *rooms, pd_slice_t room_id)
{
    return pd_map_get(&rooms->rooms, room_id);
}

pd_room_t *pd_rooms_next(const pd_rooms_t *rooms, size_t *iter)
{
    void *room;
    return pd_map_next(&rooms->rooms, iter, NULL, &room) ? room : NULL;
}

pd_slice_t pd_room_id(const pd_room_t *room)
{
    return pd_slice(room->id, room->id_len);
}

size_t pd_room_user_count(const pd_room_t *room)
{
    return room->users.count;
}

size_t pd_room_conn_count(const pd_room_t *room)
{
    return room->live;
}

size_t pd_room_remote_count(const pd_room_t *room)
{
    return room->remotes.count;
}

int pd_room_user_connections(const pd_room_t *room, pd_slice_t user_id)
{
    const user_t *u = pd_map_get(&room->users, user_id);
    if (!u)
        return PD_ERR_NOT_FOUND;
    size_t n = u->live;
    pd_list_foreach(it, &u->members) n += member_of_user_node(it)->rkey != NULL;
    return (int)n;
}

void pd_room_encode_users(const pd_room_t *room, pd_buf_t *out)
{
    pd_buf_append_char(out, '[');
    pd_list_foreach(it, &room->users_by_join)
    {
        if (it != room->users_by_join.next)
            pd_buf_append_char(out, ',');
        pd_proto_entry_t e = user_entry(pd_container_of(it, user_t, room_node));
        pd_proto_enc_entry(out, &e);
    }
    pd_buf_append_char(out, ']');
}

size_t pd_room_local_count(const pd_room_t *room)
{
    return room->members.count;
}

void pd_rooms_report_locals(pd_rooms_t *rooms, pd_room_t *room)
{
    (void)rooms;
    size_t iter = 0;
    void *v;
    while (pd_map_next(&room->members, &iter, NULL, &v))
        report_state(v);
}

void pd_rooms_set_node_key(pd_rooms_t *rooms, pd_slice_t node_key)
{
    size_t n = node_key.len < NODE_KEY_MAX ? node_key.len : NODE_KEY_MAX;
    if (n)
        memcpy(rooms->node_key, node_key.base, n);
    rooms->node_key[n] = '\0';
    rooms->node_key_len = n;
}

/* ---- remote members ---- */

static char *dup_or_null(pd_slice_t s)
{
    return s.base ? pd_strndup(s.base, s.len) : NULL;
}

static pd_identity_t identity_of(const pd_member_state_t *st)
{
    pd_identity_t id = {0};
    id.user_id = pd_strndup(st->user_id.base, st->user_id.len);
    id.user_name = pd_strndup(st->user_name.base, st->user_name.len);
    id.user_image = dup_or_null(st->user_image);
    return id;
}

/* Takes the state's name and image when they differ from the user's. */
static void user_take_state_profile(user_t *u, const pd_member_state_t *st)
{
    if (pd_slice_eq(pd_slice_cstr(u->id.user_name), st->user_name) &&
        field_eq(pd_slice_cstr(u->id.user_image), st->user_image))
        return;
    pd_identity_t id = identity_of(st);
    user_take_profile(u, &id);
}

static pd_member_t *remote_new(user_t *u, pd_slice_t rkey)
{
    pd_member_t *m = member_alloc(u);
    pd_list_init(&m->user_node);
    m->rkey = pd_strndup(rkey.base, rkey.len);
    m->rkey_len = rkey.len;
    pd_map_put(&u->room->remotes, pd_slice(m->rkey, m->rkey_len), m);
    return m;
}

/*
 * Takes st's location and stamp and puts m in its place; 1 when that is
 * news to the room: m is now its user's presence, which it was not already
 * in the same state (a twin's copy is no news).
 */
static int remote_take(pd_member_t *m, const pd_member_state_t *st)
{
    if (st->stamp <= m->stamp)
        return 0;
    user_t *u = m->user;
    const pd_member_t *front = user_front(u);
    owned_loc_t next = loc_copy(&st->loc);
    loc_free(&m->loc);
    m->loc = next;
    m->stamp = st->stamp;
    m->updated = 1;
    pd_list_remove(&m->user_node);
    user_place_member(u, m);
    return is_presence(m) && !(front != m && same_state(front, m));
}

/*
 * m, a remote member, was just set: the client behind it is that of this
 * node's member of the same user and key (its twin), reconnected there. A
 * lingering twin here is gone at once, silently (the user stays present
 * through m); a live one is left alone (a stale or half-open connection,
 * which liveness ends, and which then leaves at once rather than lingers),
 * but until its first update it follows a newer state of m. May free the
 * room.
 */
static void settle_local_twin(pd_room_t *room, pd_member_t *m)
{
    pd_member_t *twin = pd_map_get(&room->members, remote_key(m));
    if (!twin || twin->user != m->user)
        return;
    if (!twin->conn) {
        member_leave_now(twin);
        return;
    }
    if (!twin->took_over || !m->updated || m->stamp <= twin->stamp)
        return;
    loc_free(&twin->loc);
    twin->loc = loc_copy(&m->loc.loc);
    twin->stamp = m->stamp;
    twin->updated = 1;
    pd_list_remove(&twin->user_node);
    user_place_member(twin->user, twin);
    report_state(twin);
}

static int remote_join(pd_room_t *room, pd_slice_t rkey, const pd_member_state_t *st, uint64_t now)
{
    user_t *u = pd_map_get(&room->users, st->user_id);
    int first = !u;
    if (first) {
        pd_identity_t id = identity_of(st);
        u = user_new(room, &id);
    } else {
        user_take_state_profile(u, st);
    }
    pd_member_t *m = remote_new(u, rkey);
    user_add_member(u, m);
    int news = remote_take(m, st);
    if (first)
        announce_joined(u, NULL);
    if (news)
        announce_update(u, now);
    settle_local_twin(room, m);
    return 0;
}

int pd_rooms_remote_set(pd_rooms_t *rooms, pd_slice_t room_id, pd_slice_t rkey,
                        const pd_member_state_t *st, uint64_t now_ms)
{
    if (!rkey.len || rkey.len > RKEY_MAX || !st->user_id.len || !st->user_name.base)
        return PD_ERR_INVALID;
    pd_room_t *room = pd_map_get(&rooms->rooms, room_id);
    if (!room)
        room = room_new(rooms, room_id);
    pd_member_t *m = pd_map_get(&room->remotes, rkey);
    if (!m)
        return remote_join(room, rkey, st, now_ms);
    if (!pd_slice_eq(user_id_slice(m->user), st->user_id))
        return PD_ERR_INVALID;
    user_take_state_profile(m->user, st);
    if (remote_take(m, st))
        announce_update(m->user, now_ms);
    settle_local_twin(room, m);
    return 0;
}

int pd_rooms_remote_del(pd_rooms_t *rooms, pd_slice_t room_id, pd_slice_t rkey, uint64_t now_ms)
{
    pd_room_t *room = pd_map_get(&rooms->rooms, room_id);
    pd_member_t *m = room ? pd_map_get(&room->remotes, rkey) : NULL;
    if (!m)
        return PD_ERR_NOT_FOUND;
    member_leave_now(m);
    return 0;
}

size_t pd_rooms_remote_drop(pd_rooms_t *rooms, pd_slice_t prefix, uint64_t now_ms)
{
    /* Gathered first: leaving changes the maps being walked. */
    pd_member_t **gone = NULL;
    size_t n = 0, cap = 0, iter = 0;
    void *room;
    while (pd_map_next(&rooms->rooms, &iter, NULL, &room)) {
        size_t it = 0;
        void *m;
        while (pd_map_next(&((pd_room_t *)room)->remotes, &it, NULL, &m)) {
            const pd_member_t *pm = m;
            if (pm->rkey_len < prefix.len || memcmp(pm->rkey, prefix.base, prefix.len) != 0)
                continue;
            if (n == cap)
                gone = pd_realloc(gone, (cap = cap ? cap * 2 : 16) * sizeof(*gone));
            gone[n++] = m;
        }
    }
    for (size_t i = 0; i < n; i++)
        member_leave_now(gone[i]);
    free(gone);
    return n;
}

void pd_rooms_remote_forget(pd_rooms_t *rooms, pd_slice_t room_id)
{
    pd_room_t *room = pd_map_get(&rooms->rooms, room_id);
    if (room)
        room_release_if_empty(room);
}
