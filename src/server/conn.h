/*
 * One connection (conn.c): the HTTP request, the upgrade, messages in,
 * frames out, liveness and closing, and the operations the rooms module
 * calls for its members. A connection knows nothing of the files above it
 * (admit.c, routes.c, api.c): what it cannot settle alone goes through the
 * hooks server.c installs (pd_conn_hooks_t).
 */
#ifndef PD_SERVER_CONN_H
#define PD_SERVER_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#include "../base/list.h"
#include "../base/shared.h"
#include "../base/slice.h"
#include "../http/http.h"
#include "../rooms/rooms.h"
#include "../ws/ws.h"
#include "outq.h"
#include "server.h"
#include "verifier.h"

/* iovecs per write: one writev's, or one io_uring send's, worth of frames. */
#define PD_MAX_IOV 64

typedef enum {
    CONN_HTTP = 0, /* reading the request */
    CONN_OPEN,     /* a WebSocket member of a room */
    CONN_CLOSING,  /* last bytes queued; the socket closes once they are out */
    CONN_CLOSED,   /* uv_close() called; freed in its callback */
} pd_conn_state_t;

typedef struct pd_conn pd_conn_t;

struct pd_conn {
    uv_tcp_t tcp;
    pd_server_t *srv;
    pd_conn_state_t state;
    unsigned writing : 1;       /* a uv_write is in flight */
    unsigned resync : 1;        /* backlog dropped; a snapshot follows when drained */
    unsigned refresh_asked : 1; /* TOKEN_REFRESH_REQUIRED sent */
    unsigned clean_close : 1;   /* the peer sent a close frame */
    unsigned evict_slow : 1;    /* fell behind too often; closed in the flush phase */
    unsigned app_pings : 1;     /* sends app-level pings: only messages prove it alive */
    unsigned over_limit : 1;    /* accepted past --max-conns: status answers or 503 only */
    unsigned behind : 1;        /* the kernel refused bytes and the queue has not drained since */
    unsigned broken : 1;        /* a write failed inside a broadcast; closed in the flush phase */
    unsigned handed : 1;        /* handed over to another shard, which counts it from now on */
    pd_list_t link;             /* in srv->conns */
    pd_list_t flush_link;       /* in srv->flush_list or srv->delay_list */
    uint32_t flush_seq;         /* srv->flush_pushes when it joined flush_list */
    uint32_t flush_ms;          /* on delay_list: loop time (ms, wraps) it is due */
    uint32_t last_write_ms;     /* loop time (ms, wraps) of its last write */
    float msg_tokens;           /* message budget left (--msg-rate, --msg-burst) */
    uint32_t msg_ms;            /* loop time (ms, wraps) the budget was last refilled */
    size_t inflight;            /* bytes handed to uv_write */
    uint32_t inflight_items;    /* queue entries covered by that write */
    uint64_t created_ms;
    uint64_t last_recv_ms; /* any bytes */
    uint64_t last_text_ms; /* a message; what counts once app_pings is set */
    uint64_t last_ping_ms;
    uint64_t deadline_ms;  /* closing: force close; expiry: end of grace */
    int64_t expires_at_ms; /* token expiry, 0 = never */
    uint32_t resyncs;      /* resynchronisations in the current window */
    uint64_t resync_window_ms;
    pd_http_parser_t *http;     /* only while reading the request */
    pd_buf_t raw;               /* with several shards, the bytes read while in the HTTP phase */
    struct pd_ask *ask;         /* shard.c's, while the other shards are asked for /metrics etc. */
    struct pd_addr_count *addr; /* its address's count of HTTP-phase connections, or NULL */
    pd_ws_t *ws;
    pd_member_t *member;
    struct pd_admission *admission; /* admit.c's, while the token is being checked */
    pd_verify_req_t *refresh;       /* admit.c's, a token_refresh being checked */
    pd_outq_t outq;
};

/*
 * What a connection hands to the files above it: server.c fills one table
 * (srv->hooks) with admit.c's, routes.c's and api.c's functions. Each is
 * called from inside the connection's own callbacks.
 */
typedef struct pd_conn_hooks {
    /* 1 when head is a request whose body is read (pd_api_takes_body). */
    int (*takes_body)(const pd_server_t *srv, const pd_http_request_t *head);
    /* 1 for paths answered even past --max-conns (pd_routes_is_status). */
    int (*is_status)(pd_slice_t path);
    /* Answers a complete plain HTTP request, not a room upgrade (pd_routes_handle). */
    void (*request)(pd_conn_t *c, const pd_http_request_t *req);
    /* 1 when workspace's room is another shard's, which takes c over (pd_handover_upgrade). */
    int (*elsewhere)(pd_conn_t *c, const pd_http_request_t *req, pd_slice_t workspace);
    /* The 101 is queued: admits c to workspace's room (pd_admit_start). */
    void (*upgraded)(pd_conn_t *c, const pd_http_request_t *req, pd_slice_t workspace);
    /* A message during admission; 1 when kept, 0 when none is pending (pd_admit_buffer). */
    int (*early_text)(pd_conn_t *c, const char *data, size_t len);
    /* A member's token_refresh (pd_admit_refresh). */
    void (*refresh)(pd_conn_t *c, pd_slice_t token);
    /* c is leaving its room, or never joined one: pending checks end (pd_admit_cancel). */
    void (*leaving)(pd_conn_t *c);
} pd_conn_hooks_t;

/* The two kinds of message that carry a code (docs/protocol.md). */
typedef enum {
    PD_CODE_ERROR,      /* {"type":"error","code":code[,"message":message]} */
    PD_CODE_AUTH_ERROR, /* {"type":"auth_error","code":code}: the token was refused */
} pd_code_type_t;

/* What the rooms module calls for a member's connection (ctx is the server). */
extern const pd_rooms_ops_t pd_conn_rooms_ops;

/* Takes fd, a connection srv's listener accepted (closed here when refused). */
void pd_conn_accept(pd_server_t *srv, int fd);
/*
 * Takes over fd, a connection in the HTTP phase that another shard accepted
 * and read raw from, and goes on as if it had read raw itself.
 */
void pd_conn_adopt(pd_server_t *srv, int fd, pd_slice_t raw);
/* Closes c here without touching its socket's peer: another shard now holds a copy of fd. */
void pd_conn_release(pd_conn_t *c);
/* Upgrades c only to close it at once with 1001: its room's shard is draining. */
void pd_conn_refuse_upgrade(pd_conn_t *c, const pd_http_request_t *req);
/* Sends a message of that type with code; message is NULL or only sent in an error. */
void pd_conn_send_code(pd_conn_t *c, pd_code_type_t type, const char *code, const char *message);
/* Decodes and applies one message of an admitted connection. */
void pd_conn_handle_text(pd_conn_t *c, const char *data, size_t len);
/* Queues a single message (JSON text) for c, framed for it alone. */
void pd_conn_send_json(pd_conn_t *c, pd_slice_t json);
/* Queues a shared, already framed message. */
void pd_conn_enqueue(pd_conn_t *c, pd_shared_t *frame);
/* Queues an HTTP response and closes the connection once it is written. */
void pd_conn_respond(pd_conn_t *c, int status, const char *type, pd_slice_t body,
                     const char *extra_headers);
/* The same for a JSON body, with Cache-Control: no-store. */
void pd_conn_respond_json(pd_conn_t *c, int status, pd_slice_t json);
/* A JSON error, {"error":message}: every API and /dev/token error. */
void pd_conn_respond_error(pd_conn_t *c, int status, const char *message);
/*
 * Leaves the room, queues a close frame and closes once it is written and
 * the peer's close has come, or after a grace period. Only for an open
 * WebSocket; anything else is left as it is.
 */
void pd_conn_close_ws(pd_conn_t *c, uint16_t code, const char *reason);
/* Closes at once without a close frame. */
void pd_conn_abort(pd_conn_t *c);
/* Writes the queue while the kernel takes it; called from the flush phase. */
void pd_conn_flush(pd_conn_t *c);
/*
 * pd_conn_flush with its first write made by the caller (through io_uring):
 * begin fills up to PD_MAX_IOV iovecs and the socket's descriptor and
 * returns their count, or 0 when it has done all of the flush itself; the
 * iovecs stay valid until end, which takes the write's result (bytes, a
 * negative errno, or PD_URING_NOT_SENT) and finishes the flush.
 */
unsigned pd_conn_flush_begin(pd_conn_t *c, int *fd, struct iovec *iov, size_t *total);
void pd_conn_flush_end(pd_conn_t *c, int res);
/* Periodic checks: handshake, idle, ping, token expiry, closing deadline. */
void pd_conn_sweep(pd_conn_t *c, uint64_t now);

#endif
