/*
 * A blocking WebSocket test client over a real TCP socket, built on the
 * project's own codec in client mode. Messages the server sends are queued
 * per client and handed out as parsed JSON.
 *
 * Every wait in this module (for a message, a close, or for silence) reads
 * the sockets of all open clients, not just the one the test looks at, so
 * that every codec keeps answering server pings and no client the test is not
 * looking at times out; a paused client is left unread on purpose.
 *
 * Functions ending in "_" take the caller's file and line for failure
 * messages; use the macros without the underscore. A failed expectation
 * prints what arrived instead and fails the current cmocka test.
 */
#ifndef PDT_WS_H
#define PDT_WS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "ws/ws.h"

/* How long expectations wait by default: a bound for failures on a loaded
 * machine, reached only when the awaited message never comes. */
#define PDT_WAIT_MS 20000

typedef struct pdt_ws pdt_ws_t;

struct pdt_ws {
    int fd;
    char label[96]; /* "user@workspace#n", for failure messages */
    pd_ws_t *codec;
    pd_buf_t out; /* codec output not yet written */
    char **queue; /* received text messages, oldest at q_head */
    size_t q_head, q_len, q_cap;
    cJSON *last;    /* the message an expect function returned last */
    unsigned pings; /* WebSocket pings the server sent */
    int paused;     /* not read while set */
    int eof;        /* the server closed the TCP connection */
    int close_code; /* a close frame's code; 1006 for EOF without one; 0 */
    char close_reason[128];
    int codec_error;      /* the codec rejected the server's bytes */
    uint8_t scan_hdr[14]; /* frame scanner: counts pings, reads close frames */
    size_t scan_len;
    uint64_t scan_skip;
    int scan_opcode;
    uint8_t scan_ctl[125];
    size_t scan_ctl_len;
    pdt_ws_t *next; /* all open clients */
};

typedef struct {
    const char *workspace; /* path /parties/presence/{workspace} */
    const char *path;      /* a whole path instead (optional) */
    const char *token;     /* query token=... (NULL: none) */
    const char *pk;        /* query _pk=... (NULL: none) */
    const char *query;     /* a whole query string instead of token and pk */
    const char *headers;   /* extra header lines, each ending "\r\n" */
    const char *early;     /* a text message sent in the same write as the request */
    int rcvbuf;            /* SO_RCVBUF before connecting (0: default) */
    const char *label;     /* name in failure messages (default "client") */
} pdt_ws_opts_t;

/* Opens a WebSocket; fails the test unless the answer is a valid 101. */
pdt_ws_t *pdt_ws_open_(int port, const pdt_ws_opts_t *o, const char *file, int line);
#define pdt_ws_open(port, o) pdt_ws_open_((port), (o), __FILE__, __LINE__)

/*
 * Connects user (display name pdt_name(user), an hour-long token) to
 * workspace and expects the presence_snapshot, which pdt_last() returns.
 */
pdt_ws_t *pdt_join_(int port, const char *workspace, const char *user, const char *file, int line);
#define pdt_join(port, ws, user) pdt_join_((port), (ws), (user), __FILE__, __LINE__)

/* The message the last expect/next call returned (owned by the client). */
const cJSON *pdt_last(const pdt_ws_t *c);

/*
 * The next message within timeout_ms, or NULL (nothing came, or the
 * connection closed with nothing queued). Owned by the client until its next
 * call.
 */
const cJSON *pdt_next_(pdt_ws_t *c, int timeout_ms, const char *file, int line);
#define pdt_next(c, ms) pdt_next_((c), (ms), __FILE__, __LINE__)

/* The next message, which must come within PDT_WAIT_MS and be of type. */
const cJSON *pdt_expect_(pdt_ws_t *c, const char *type, int timeout_ms, const char *file, int line);
#define pdt_expect(c, type) pdt_expect_((c), (type), PDT_WAIT_MS, __FILE__, __LINE__)
#define pdt_expect_within(c, type, ms) pdt_expect_((c), (type), (ms), __FILE__, __LINE__)

/*
 * A leave as the server announces it by default: user_left for user within
 * timeout_ms, then at once user_left_presence for the same user.
 */
void pdt_expect_leave_(pdt_ws_t *c, const char *user, int timeout_ms, const char *file, int line);
#define pdt_expect_leave(c, user) pdt_expect_leave_((c), (user), PDT_WAIT_MS, __FILE__, __LINE__)
#define pdt_expect_leave_within(c, user, ms) \
    pdt_expect_leave_((c), (user), (ms), __FILE__, __LINE__)

/* Skips messages of other types until one of type arrives (timeout_ms). */
const cJSON *pdt_wait_type_(pdt_ws_t *c, const char *type, int timeout_ms, const char *file,
                            int line);
#define pdt_wait_type(c, type, ms) pdt_wait_type_((c), (type), (ms), __FILE__, __LINE__)

/*
 * Pumps all clients for ms, then fails if c received anything or closed:
 * for what only time can show (a timer that must not fire). Where a
 * message would be the answer to something a client sent, pdt_expect_none()
 * is faster and cannot pass early on a loaded machine.
 */
void pdt_expect_silence_(pdt_ws_t *c, int ms, const char *file, int line);
#define pdt_expect_silence(c, ms) pdt_expect_silence_((c), (ms), __FILE__, __LINE__)

/*
 * A barrier: sends a ping with an id of its own on c and waits for its
 * pong. The server handles a connection's messages in order and sends
 * everything it queues for a connection in order, so once the pong is back
 * every message c sent before has been handled, and everything queued for
 * c before that has arrived. Messages that came before the pong stay
 * queued; the pong is taken out (pdt_last() is unchanged).
 */
void pdt_sync_(pdt_ws_t *c, const char *file, int line);
#define pdt_sync(c) pdt_sync_((c), __FILE__, __LINE__)

/*
 * Expects that the server has nothing for c, without waiting for a while:
 * after a barrier on cause (the client whose messages could have caused a
 * message to c; NULL when there is none besides c), the next message c
 * gets must be the pong of its own barrier. Whatever the server queued for
 * c before then, a loaded machine included, arrives before that pong.
 */
void pdt_expect_none_(pdt_ws_t *c, pdt_ws_t *cause, const char *file, int line);
#define pdt_expect_none(c, cause) pdt_expect_none_((c), (cause), __FILE__, __LINE__)

/* Fails if c has a queued message or has been closed (no waiting). */
void pdt_assert_quiet_(pdt_ws_t *c, const char *file, int line);
#define pdt_assert_quiet(c) pdt_assert_quiet_((c), __FILE__, __LINE__)

/*
 * Expects the connection to end before any further message: a close frame
 * with code (1006: the socket ended without one) and, unless reason is NULL,
 * that reason.
 */
void pdt_expect_close_(pdt_ws_t *c, int code, const char *reason, int timeout_ms, const char *file,
                       int line);
#define pdt_expect_close(c, code, reason) \
    pdt_expect_close_((c), (code), (reason), PDT_WAIT_MS, __FILE__, __LINE__)

/*
 * A draining server closes every connection with 1001. A member may hear
 * others leave (user_left, user_left_presence) before its own close;
 * anything else fails the test.
 */
void pdt_expect_going_away_(pdt_ws_t *c, const char *file, int line);
#define pdt_expect_going_away(c) pdt_expect_going_away_((c), __FILE__, __LINE__)

/* Waits up to timeout_ms for the server to end the TCP connection; returns 1 if it did. */
int pdt_wait_closed(pdt_ws_t *c, int timeout_ms);

/* Sends a text message (masked, through the codec). */
void pdt_send(pdt_ws_t *c, const char *text);
void pdt_sendf(pdt_ws_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes bytes to the socket as they are (for hand-made frames). */
void pdt_send_raw(pdt_ws_t *c, const void *data, size_t len);

/* Appends one frame: opcode, FIN bit, masked with a fixed key when masked. */
void pdt_frame(pd_buf_t *b, int fin, int opcode, int masked, const void *payload, size_t len);

/* Stops (on = 1) or resumes reading c's socket. */
void pdt_ws_pause(pdt_ws_t *c, int on);

/* Reads what every open client has received, then keeps reading for ms. */
void pdt_pump(int ms);

/* Pumps until cond(arg) is non-zero or timeout_ms passes; returns cond's last value. */
int pdt_wait(int (*cond)(void *arg), void *arg, int timeout_ms);

/*
 * The next queued message as text, unparsed, or NULL when none is queued
 * (no waiting): for tests that read many messages. The caller frees it.
 */
char *pdt_take_text(pdt_ws_t *c);

/* Number of messages queued on c and not yet taken. */
size_t pdt_pending(const pdt_ws_t *c);

/* Sends a close frame (1000), waits briefly for the server's, frees c. */
void pdt_ws_close(pdt_ws_t *c);
/* Closes the socket without a close frame and frees c. */
void pdt_ws_drop(pdt_ws_t *c);
/* Closes the socket with SO_LINGER 0 (a TCP RST) and frees c. */
void pdt_ws_reset(pdt_ws_t *c);

/* Drops every open client and frees the test's tokens: a cmocka teardown. */
int pdt_teardown(void **state);

/* The string field key of j, or NULL when absent or not a string. */
const char *pdt_str(const cJSON *j, const char *key);

/*
 * Asserts j's field key is the string want; want NULL asserts the field is
 * absent; PDT_JSON_NULL asserts it is JSON null.
 */
void pdt_assert_field_(const cJSON *j, const char *key, const char *want, const char *file,
                       int line);
#define PDT_JSON_NULL ((const char *)1)
#define assert_field(j, key, want) pdt_assert_field_((j), (key), (want), __FILE__, __LINE__)

/* Expects a kick: permission_revoked for reason, then close 1008 AUTH_FORBIDDEN. */
void pdt_expect_revoked_(pdt_ws_t *c, const char *reason, const char *file, int line);
#define pdt_expect_revoked(c, reason) pdt_expect_revoked_((c), (reason), __FILE__, __LINE__)

/* The entry for user in a presence_snapshot's "users", or NULL. */
const cJSON *pdt_snapshot_user(const cJSON *snapshot, const char *user);
/* The number of entries in a presence_snapshot's "users". */
int pdt_snapshot_count(const cJSON *snapshot);

#endif
