/*
 * The process around the shards (shard.c): one pd_server_t per thread, each
 * on its own loop with its own rooms, connections, flush phase, sweep and
 * verify client. A room lives on the shard its id hashes to. Shards never
 * touch each other's memory: they talk only through inboxes, a list behind
 * a mutex that a uv_async_t wakes the owner to drain. Inboxes carry
 * handovers, drains and the questions /metrics and /api/rooms ask every
 * shard; nothing on the path of an update goes through one.
 *
 * Process-wide and shared: the configuration (read-only), the count of
 * open connections and the draining flag (atomics), and the count of
 * handshakes per client address (behind a mutex, taken only when a
 * connection starts or leaves its HTTP phase).
 */
#ifndef PD_SERVER_SHARD_H
#define PD_SERVER_SHARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <uv.h>

#include "../base/buf.h"
#include "../base/map.h"
#include "../base/slice.h"
#include "../cluster/cluster.h"
#include "listener.h"
#include "metrics.h"
#include "server.h"
#include "uring.h"
#include "verifier.h"

#define PD_MAX_THREADS 64

struct pd_conn;
struct pd_ask;

typedef enum {
    PD_SHARD_HANDOVER, /* a socket and the bytes already read from it */
    PD_SHARD_DRAIN,    /* the process is draining */
    PD_SHARD_ASK,      /* fill this shard's report of an ask */
    PD_SHARD_ANSWER,   /* every shard has filled its report (to the asker) */
} pd_shard_msg_type_t;

typedef struct pd_shard_msg {
    struct pd_shard_msg *next;
    pd_shard_msg_type_t type;
    int fd;             /* handover: the socket, now the receiver's to close */
    pd_buf_t bytes;     /* handover: what the sender had read, in order */
    struct pd_ask *ask; /* ask, answer */
} pd_shard_msg_t;

typedef struct {
    uv_mutex_t lock;
    pd_shard_msg_t *head, **tail;
    int closed; /* no more messages are taken */
    uv_async_t wake;
} pd_inbox_t;

typedef struct pd_proc {
    unsigned n;
    pd_server_t *shards[PD_MAX_THREADS];
    uv_loop_t *loops[PD_MAX_THREADS];    /* shard 0's is the caller's */
    uv_thread_t threads[PD_MAX_THREADS]; /* shards 1..n-1 */
    unsigned started;                    /* threads running */
    atomic_uint n_conns;                 /* open connections, every shard: --max-conns */
    atomic_int draining;
    char node_id[72];           /* --node-id, or one made at start (--redis) */
    uv_mutex_t addr_lock;       /* guards http_by_addr: taken on accept and */
    pd_map_t http_by_addr;      /* the HTTP phase's end, never on an update */
    pd_fd_reserve_t fd_reserve; /* given up to shed connections past the open-file limit */
} pd_proc_t;

/* One shard's part of an answer to /metrics or /api/rooms. */
typedef struct {
    pd_metrics_t metrics;
    size_t rooms;
    unsigned conns; /* its connections, any state */
    int has_verifier;
    pd_verifier_stats_t verify;
    int uring_on; /* its flush writes through io_uring */
    pd_uring_stats_t uring;
    int has_cluster; /* --redis */
    pd_cluster_stats_t cluster;
    pd_buf_t text; /* a room listing's entries */
} pd_shard_report_t;

/* Runs on each shard's own thread, for its own report. */
typedef void (*pd_ask_fill_cb)(pd_server_t *srv, pd_shard_report_t *rep);
/* Runs on the asker's thread once every report is in; c is still open. */
typedef void (*pd_ask_done_cb)(struct pd_conn *c, const pd_shard_report_t *reps, unsigned n);

typedef struct pd_ask {
    pd_server_t *origin;
    struct pd_conn *conn; /* the origin thread's alone; NULL once the connection went */
    pd_ask_fill_cb fill;
    pd_ask_done_cb done;
    atomic_uint pending; /* reports still to fill */
    unsigned n;
    pd_shard_report_t reports[];
} pd_ask_t;

/* The threads to run when --threads is 0: CPUs this process may use, at most 64. */
unsigned pd_shard_default_count(void);

/* The shard that owns room_id: a stable hash, the same on every thread. */
unsigned pd_shard_of(const pd_proc_t *proc, pd_slice_t room_id);

/* Sets up srv's inbox on its loop. */
void pd_shard_inbox_init(pd_server_t *srv);
/* Closes the inbox: messages still in it are settled (sockets closed, asks answered). */
void pd_shard_inbox_close(pd_server_t *srv);
/* Queues m for shard to. Returns 0, or -1 when its inbox is closed (m is still the caller's). */
int pd_shard_post(pd_proc_t *proc, unsigned to, pd_shard_msg_t *m);

/* Starts a thread for each shard after the first; each runs its loop until it has drained. */
int pd_shard_start(pd_proc_t *proc, char *err, size_t errlen);
/* Tells every other shard to drain (from shard from's thread). */
void pd_shard_drain_others(pd_proc_t *proc, unsigned from);
/* Waits for the threads to end. */
void pd_shard_join(pd_proc_t *proc);

/*
 * Asks every shard for its report; done runs with all of them on c's
 * thread, in a later loop turn unless there is one shard. A connection that
 * closes meanwhile gets no answer (pd_shard_ask_cancel).
 */
void pd_shard_ask(struct pd_conn *c, pd_ask_fill_cb fill, pd_ask_done_cb done);
/* c is going: a pending ask is answered to no one. */
void pd_shard_ask_cancel(struct pd_conn *c);

#endif
