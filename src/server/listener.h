/*
 * The listening socket: bound once by shard 0, polled by every shard (each
 * through its own dup, so a shard that drains closes only its copy), and
 * accepted from with accept4() here rather than libuv's uv_listen(). Owning
 * the accept loop is what lets the process keep one reserve descriptor for
 * all its threads: when accept() fails for lack of descriptors the reserve
 * is given up to accept and close what is pending, under a lock, and a
 * shard that still cannot accept pauses its polling instead of spinning.
 */
#ifndef PD_SERVER_LISTENER_H
#define PD_SERVER_LISTENER_H

#include <stdint.h>
#include <uv.h>

struct pd_server;

typedef struct {
    int fd;             /* this shard's copy of the listening socket, or -1 */
    uv_poll_t poll;     /* readable: connections are pending */
    uv_timer_t pause;   /* out of descriptors with none in reserve: polls again when it fires */
    int polling;        /* poll is started (or the pause will start it) */
    uint64_t warned_ms; /* when the last "out of file descriptors" warning was logged */
} pd_listener_t;

/* The process's reserve descriptor and its lock (in pd_proc_t). */
typedef struct {
    uv_mutex_t lock;
    int fd; /* open on /dev/null, or -1 while given up or not to be had */
} pd_fd_reserve_t;

void pd_fd_reserve_init(pd_fd_reserve_t *r);
void pd_fd_reserve_free(pd_fd_reserve_t *r);

/* Initialises srv's listener handles on its loop (not yet polling). */
void pd_listener_init(struct pd_server *srv);

/*
 * Shard 0: binds host:port (port 0: a free one), listens and starts
 * polling; *port is the bound port. Returns 0 or a libuv error code.
 */
int pd_listener_bind(struct pd_server *srv, const char *host, int port, int *bound);

/* Another shard: polls a dup of from's listening socket. 0 or a libuv error. */
int pd_listener_share(struct pd_server *srv, const struct pd_server *from);

/* Stops polling and closes this shard's copy of the socket and its handles. */
void pd_listener_close(struct pd_server *srv);

#endif
