/*
 * libpresence: a client for presenced, the workspace presence server.
 *
 * One presence_client_t is one member of one workspace's room: it keeps a
 * WebSocket open to {url}/parties/presence/{workspace}, reconnects when it
 * drops, asks the application for tokens, keeps the map of who is where,
 * sends this member's own location, and can follow another member.
 *
 * Threading and callbacks. A client runs on the caller's uv_loop_t and must
 * be used from that loop's thread only. Every callback (events, the token
 * provider, follow notifications, close) runs on the loop, and never from
 * inside the library call that caused it: presence_client_start() asks for
 * a token on a later loop turn, presence_client_follow() reports the current
 * location on a later loop turn, and so on. Callbacks may call any function
 * of this header, presence_client_close() included.
 *
 * Memory. The client copies every string it is given. Strings and
 * presence_user_t pointers it hands out belong to it and stay valid until
 * control returns to the loop (the end of the callback they were given to,
 * or for a lookup, the end of the current callback or loop turn); copy what
 * must live longer. There is no global state; clients are independent.
 *
 * Errors. Functions return 0 or a negative presence_err_t;
 * presence_strerror() names each one. The same codes say why a connection
 * ended in PRESENCE_EV_DISCONNECTED and PRESENCE_EV_STOPPED.
 *
 * The wire protocol is presenced's docs/protocol.md; this library's own
 * documentation is docs/client.md.
 */
#ifndef PRESENCE_CLIENT_H
#define PRESENCE_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PRESENCE_VERSION "0.1.0"

typedef enum {
    PRESENCE_OK = 0,
    /* Calls. */
    PRESENCE_ERR_INVALID = -1,   /* an argument is malformed (URL, workspace, path, ...) */
    PRESENCE_ERR_STATE = -2,     /* not possible in the client's current state */
    PRESENCE_ERR_NOT_FOUND = -3, /* no such user in the presence map */
    PRESENCE_ERR_CONFIG = -4,    /* setup failed (a CA file that cannot be read, OpenSSL) */
    /* Connections: why one could not be made or ended. */
    PRESENCE_ERR_RESOLVE = -5,   /* the host name did not resolve */
    PRESENCE_ERR_CONNECT = -6,   /* TCP connect failed (refused, unreachable) */
    PRESENCE_ERR_TLS = -7,       /* TLS failed: handshake, certificate or host name */
    PRESENCE_ERR_HANDSHAKE = -8, /* the server did not answer the upgrade with a valid 101 */
    PRESENCE_ERR_PROTOCOL = -9,  /* the server broke the WebSocket or presence protocol */
    PRESENCE_ERR_CLOSED = -10,   /* the server closed or reset the connection, or it was lost */
    PRESENCE_ERR_TIMEOUT = -11,  /* no connection within connect_timeout_ms, or no pong */
    PRESENCE_ERR_IO = -12,       /* reading or writing the socket failed otherwise */
    PRESENCE_ERR_NO_TOKEN = -13, /* the token provider answered with no token */
    /* The server's answers (docs/protocol.md, "Admission"). */
    PRESENCE_ERR_AUTH_MISSING = -14,   /* the server got no token */
    PRESENCE_ERR_AUTH_INVALID = -15,   /* the token is malformed or its signature is wrong */
    PRESENCE_ERR_AUTH_EXPIRED = -16,   /* the token has expired */
    PRESENCE_ERR_AUTH_FORBIDDEN = -17, /* the token is not for this workspace */
    PRESENCE_ERR_REVOKED = -18,        /* the server revoked this user's access */
    PRESENCE_ERR_REPLACED = -19,       /* a newer connection with our connection key took over */
    PRESENCE_ERR_ROOM_FULL = -20,      /* the room is at its connection limit */
    PRESENCE_ERR_TOO_MANY_CONNECTIONS = -21, /* this user has too many connections */
    PRESENCE_ERR_UNAVAILABLE = -22, /* the server is draining or cannot verify tokens now */
} presence_err_t;

/* A static description of an error code ("token expired"); never NULL. */
const char *presence_strerror(int err);

typedef struct presence_client presence_client_t;

/*
 * One member as the server reports it. A user with several connections
 * (tabs) is one entry, at the location of the connection updated last.
 */
typedef struct {
    const char *user_id;
    const char *user_name;
    const char *user_image;    /* NULL when the user has none */
    const char *current_path;  /* "" while the location is unknown */
    const char *resource_type; /* NULL when unset */
    const char *resource_id;   /* NULL when unset */
} presence_user_t;

typedef enum {
    PRESENCE_IDLE = 0,   /* created, not started */
    PRESENCE_CONNECTING, /* getting a token, connecting, or waiting for admission */
    PRESENCE_CONNECTED,  /* admitted: the map is live */
    PRESENCE_WAITING,    /* disconnected; the next attempt is scheduled */
    PRESENCE_STOPPED,    /* stopped for good, by presence_client_stop() or the server */
} presence_state_t;

/* "idle", "connecting", "connected", "waiting", "stopped". */
const char *presence_state_str(presence_state_t state);

typedef enum {
    /* Admitted; presence_client_self_id() is known. The snapshot follows. */
    PRESENCE_EV_CONNECTED = 1,
    /*
     * The whole map was replaced (first message of every connection, or a
     * resynchronisation). Differences to the previous map are not reported
     * one by one: iterate the map.
     */
    PRESENCE_EV_SNAPSHOT,
    PRESENCE_EV_JOINED,  /* user joined (location unknown until it changes) */
    PRESENCE_EV_CHANGED, /* user moved, or changed name; also sent when unchanged */
    PRESENCE_EV_LEFT,    /* user left; user is the entry as it was */
    /*
     * A connection or an attempt ended: reason and detail say why, and the
     * next attempt comes in retry_ms. The map is kept as it was until the
     * next snapshot replaces it.
     */
    PRESENCE_EV_DISCONNECTED,
    /*
     * The client stopped and will not reconnect: reason is PRESENCE_OK
     * after presence_client_stop(), else AUTH_FORBIDDEN, REVOKED or
     * REPLACED. presence_client_start() starts it again.
     */
    PRESENCE_EV_STOPPED,
    /* The server reported an error that did not end the connection. */
    PRESENCE_EV_SERVER_ERROR,
    /* The server accepted a refreshed token (no reconnect happened). */
    PRESENCE_EV_TOKEN_REFRESHED,
} presence_event_type_t;

/* "connected", "snapshot", "joined", "changed", "left", ... */
const char *presence_event_str(presence_event_type_t type);

typedef struct {
    presence_event_type_t type;
    /* JOINED, CHANGED: the entry as it is now; LEFT: as it was. Else NULL. */
    const presence_user_t *user;
    /* DISCONNECTED, STOPPED: why (a presence_err_t). */
    int reason;
    /*
     * Human-readable detail or NULL: DISCONNECTED/STOPPED, e.g. "HTTP 404",
     * "close 1001 \"shutting down\"", "certificate verify failed: ...";
     * SERVER_ERROR: the server's message text.
     */
    const char *detail;
    /* SERVER_ERROR: the server's code, e.g. "BAD_MESSAGE". Else NULL. */
    const char *code;
    /* DISCONNECTED: milliseconds until the next attempt. */
    uint64_t retry_ms;
} presence_event_t;

typedef void (*presence_event_cb)(presence_client_t *c, const presence_event_t *ev, void *data);

typedef enum {
    PRESENCE_TOKEN_CONNECT = 1, /* for the next connection attempt */
    PRESENCE_TOKEN_REFRESH,     /* the live connection's token expires: send a new one */
} presence_token_reason_t;

/*
 * Asks the application for a token. Answer with presence_client_token(),
 * from inside this callback or any time later (e.g. after an HTTP request
 * of your own). It is asked before every connection attempt, so each
 * reconnect presents a fresh token, and when the server asks for a refresh.
 * The client waits for the answer as long as it takes.
 */
typedef void (*presence_token_cb)(presence_client_t *c, presence_token_reason_t why, void *data);

typedef struct {
    /*
     * The server: "ws://host[:port][/prefix]" or "wss://..." (port 80 and
     * 443 by default). The room's path /parties/presence/{workspace} is
     * appended to the prefix. Required.
     */
    const char *url;
    const char *workspace;      /* 1-128 of [A-Za-z0-9_-]; required */
    presence_token_cb token_cb; /* required */
    presence_event_cb event_cb; /* may be NULL */
    void *data;                 /* passed to every callback */
    /*
     * The connection key (_pk, 1-64 of [A-Za-z0-9_-]) sent on every
     * connection so that a reconnect takes over its own lingering
     * connection; NULL: a random one per client, as PartySocket does.
     */
    const char *connection_key;
    /* wss: a PEM file of trusted CAs instead of the system's; may be NULL. */
    const char *ca_file;

    /*
     * Reconnecting. The delay before attempt n (0 for the first retry) is
     * drawn uniformly from [backoff_min_ms, ceiling(n)] ("full jitter"),
     * where ceiling(n) = min(backoff_max_ms, backoff_first_ms * growth^n).
     * The count n goes back to 0 once a connection has stayed up for
     * backoff_reset_ms. AUTH_EXPIRED retries at once (with a new token),
     * unless the attempt before also failed so.
     */
    uint32_t backoff_min_ms;   /* default 1000 */
    uint32_t backoff_first_ms; /* default 5000: the first delay is 1-5 s */
    double backoff_growth;     /* default 1.3 */
    uint32_t backoff_max_ms;   /* default 10000 */
    uint32_t backoff_reset_ms; /* default 5000 */
    /* An attempt (connect, TLS, upgrade, admission) must finish in this. */
    uint32_t connect_timeout_ms; /* default 4000 */
    /*
     * Liveness: a {"type":"ping"} goes out every ping_interval_ms while
     * connected; without a pong within pong_timeout_ms the connection is
     * taken for dead (PRESENCE_ERR_TIMEOUT) and replaced. 0 disables pings.
     */
    uint32_t ping_interval_ms; /* default 10000 */
    uint32_t pong_timeout_ms;  /* default 5000 */
    size_t max_message;        /* largest message accepted (default 16 MiB) */
    /*
     * Follow mode: when the followed user is missing from a snapshot (after
     * a reconnect, everyone rejoins at their own pace), how long to wait
     * for them before reporting PRESENCE_FOLLOW_WENT_OFFLINE. A user_left
     * is reported at once. 0: no wait.
     */
    uint32_t follow_grace_ms; /* default 15000 */

    /*
     * Sources of time and chance, for tests; NULL means the loop's clock
     * (uv_now) and a uniform random number in [0, 1) from the system.
     */
    uint64_t (*now_ms)(void *data);
    double (*random)(void *data);
} presence_options_t;

/* Fills opts with the defaults above (and NULL for everything else). */
void presence_options_init(presence_options_t *opts);

/*
 * Creates a client on loop; nothing happens until presence_client_start().
 * Returns 0 and sets *out, or PRESENCE_ERR_INVALID (a missing or malformed
 * option) or PRESENCE_ERR_CONFIG (the CA file, OpenSSL), with a message
 * saying what to change in err (NUL-terminated, truncated to errlen; err
 * may be NULL).
 */
int presence_client_new(presence_client_t **out, uv_loop_t *loop, const presence_options_t *opts,
                        char *err, size_t errlen);

/*
 * Starts connecting (the token provider is asked on a later loop turn) and
 * keeps the client connected until it is stopped. Returns 0, or
 * PRESENCE_ERR_STATE when it is already running or is closing.
 */
int presence_client_start(presence_client_t *c);

/*
 * Closes the connection cleanly (the server reports this member as left at
 * once) and stops reconnecting; PRESENCE_EV_STOPPED with reason PRESENCE_OK
 * follows on a later loop turn. The map is cleared. Returns 0, or
 * PRESENCE_ERR_STATE when the client is not running.
 */
int presence_client_stop(presence_client_t *c);

typedef void (*presence_close_cb)(presence_client_t *c, void *data);

/*
 * Closes the connection cleanly, cancels everything, and frees the client
 * once its libuv handles and sockets have closed, on a later loop turn;
 * close_cb (may be NULL) runs just before the memory goes. No other
 * callback runs after this call (not even a pending follow or event
 * notification), and c must not be used after it, not even in close_cb,
 * which only learns that the client is gone. Keep running the loop until
 * close_cb has run (or until uv_run() returns). A second call is ignored.
 */
void presence_client_close(presence_client_t *c, presence_close_cb close_cb);

/*
 * Answers the token provider. token NULL or "" (or one containing a line
 * break, which cannot go in a header) means none can be had now:
 * a connection attempt then fails with PRESENCE_ERR_NO_TOKEN and is retried
 * after a back-off; a refresh is dropped (the server will end the
 * connection when its grace period is over, and the reconnect asks again).
 * Returns 0, or PRESENCE_ERR_STATE when no token was asked for (the
 * question was overtaken: the client stopped or the connection ended).
 */
int presence_client_token(presence_client_t *c, const char *token);

/*
 * Sets this member's location: path (1-1024 bytes), resource_type (NULL or
 * at most 32 bytes) and resource_id (NULL or at most 256 bytes). It is sent
 * now if connected, and again after every reconnect. Returns 0, or
 * PRESENCE_ERR_INVALID for an argument outside those limits.
 */
int presence_client_update(presence_client_t *c, const char *path, const char *resource_type,
                           const char *resource_id);

/* The client's state. */
presence_state_t presence_client_state(const presence_client_t *c);

/* This member's userId from the last snapshot, or NULL before the first. */
const char *presence_client_self_id(const presence_client_t *c);

/* The connection key (_pk) sent on every connection. */
const char *presence_client_connection_key(const presence_client_t *c);

/*
 * The map holds what the server reports to this connection: every other
 * member, and this member's own user only while it has other connections
 * (tabs), at the location those last sent (the server does not echo a
 * sender's own updates). While disconnected it keeps the last state known;
 * the next snapshot replaces it. presence_client_stop() clears it.
 */

/* The entry for user_id, or NULL. See "Memory" above for how long it lives. */
const presence_user_t *presence_client_user(const presence_client_t *c, const char *user_id);

/* Number of users in the map. */
size_t presence_client_count(const presence_client_t *c);

/*
 * Iterates the map in no particular order: start with *iter = 0; returns
 * the next entry, or NULL at the end. The map must not change during an
 * iteration, so finish it before returning to the loop.
 */
const presence_user_t *presence_client_next(const presence_client_t *c, size_t *iter);

typedef enum {
    PRESENCE_FOLLOW_MOVED = 1,    /* the followed user is at a new location */
    PRESENCE_FOLLOW_WENT_OFFLINE, /* the user left the workspace; following ended */
    PRESENCE_FOLLOW_UNFOLLOWED,   /* presence_client_unfollow() or a new follow ended it */
    PRESENCE_FOLLOW_STOPPED,      /* the client stopped; following ended */
} presence_follow_status_t;

/* "moved", "went offline", "unfollowed", "stopped". */
const char *presence_follow_status_str(presence_follow_status_t status);

/*
 * A follow notification. For MOVED, user is the followed user's entry with
 * a known (non-empty) current_path. For the other statuses following has
 * ended: user is the last entry seen (WENT_OFFLINE), the current one, or
 * NULL when there is none; this is the callback's last call.
 */
typedef void (*presence_follow_cb)(presence_client_t *c, presence_follow_status_t status,
                                   const presence_user_t *user, void *data);

/*
 * Follows user_id: cb runs on a later loop turn with the user's current
 * location (unless it is still unknown), then each time the location
 * (path, resource type or id) changes, including across reconnects, and
 * once more when following ends. One user is followed at a time: following
 * another ends the current one with PRESENCE_FOLLOW_UNFOLLOWED. Following
 * survives reconnects (see follow_grace_ms). Returns 0,
 * PRESENCE_ERR_NOT_FOUND when user_id is not in the map (wait for
 * PRESENCE_EV_SNAPSHOT), or PRESENCE_ERR_INVALID for a NULL argument.
 */
int presence_client_follow(presence_client_t *c, const char *user_id, presence_follow_cb cb,
                           void *data);

/*
 * Stops following; the callback gets PRESENCE_FOLLOW_UNFOLLOWED on a later
 * loop turn. Returns 0, or PRESENCE_ERR_STATE when not following.
 */
int presence_client_unfollow(presence_client_t *c);

/* The followed user's id, or NULL. */
const char *presence_client_following(const presence_client_t *c);

#ifdef __cplusplus
}
#endif

#endif
