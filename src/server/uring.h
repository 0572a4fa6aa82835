/*
 * The flush phase's writes through io_uring: a slice of sockets, one
 * sendmsg each, submitted with one system call instead of one writev per
 * socket. The ring belongs to the server's loop and knows nothing of
 * connections: the caller fills a slot's iovecs, queues it with an owner
 * pointer, and learns each result through a callback from pd_uring_submit.
 *
 * Every send passes MSG_DONTWAIT, so a socket with room completes inside
 * the submitting call and a full one completes at once with -EAGAIN rather
 * than waiting in the ring; pd_uring_submit also waits for every send it
 * submitted before returning. No send outlives the call, so the bytes the
 * iovecs point at need to stay alive only until pd_uring_submit returns.
 *
 * Built without liburing (PD_HAVE_URING undefined), pd_uring_open reports
 * io_uring as unavailable and the server writes with writev.
 */
#ifndef PD_SERVER_URING_H
#define PD_SERVER_URING_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../base/buf.h"

#define PD_URING_MAX_IOV 64 /* iovecs per send: PD_MAX_IOV, one writev's worth */

typedef enum {
    PD_URING_AUTO = 0, /* use it when the kernel allows, else writev */
    PD_URING_ON,       /* refuse to start without it */
    PD_URING_OFF,      /* writev only */
} pd_uring_mode_t;

/* The result of a send that was never made (the ring failed): write it another way. */
#define PD_URING_NOT_SENT (-ECANCELED)

typedef struct pd_uring pd_uring_t;

/* res: bytes sent, or a negative errno (-EAGAIN: the socket is full), or PD_URING_NOT_SENT. */
typedef void (*pd_uring_done_cb)(void *owner, int res, void *arg);

typedef struct {
    uint64_t sends;   /* sends submitted */
    uint64_t batches; /* io_uring_enter calls that submitted them */
    uint64_t refused; /* sends the kernel took only part of, or none (-EAGAIN) */
} pd_uring_stats_t;

/*
 * Opens a ring for up to `entries` queued sends. Returns 0 with *out set;
 * 0 with *out NULL when mode is off, or is auto and the kernel refuses
 * (containers often forbid io_uring); -1 when mode is on and the kernel
 * refuses. err gets the reason whenever *out is NULL and mode is not off.
 */
int pd_uring_open(pd_uring_t **out, pd_uring_mode_t mode, unsigned entries, char *err,
                  size_t errlen);
/* Closes the ring; nothing may be queued. NULL is a no-op. */
void pd_uring_close(pd_uring_t *u);
/* 1 when no slot is free: submit before queueing more. */
int pd_uring_full(const pd_uring_t *u);
/* The next free slot's PD_URING_MAX_IOV iovecs, for the caller to fill. */
struct iovec *pd_uring_slot(pd_uring_t *u);
/* Queues a send of the slot's first n iovecs to fd; owner goes to the callback. */
void pd_uring_queue(pd_uring_t *u, int fd, unsigned n, void *owner);
/*
 * Submits everything queued with one call, waits for each send and calls
 * done for each, in no particular order. If the ring fails, every queued
 * send is reported as PD_URING_NOT_SENT and the ring takes no more
 * (pd_uring_broken). Returns the number of sends reported.
 */
unsigned pd_uring_submit(pd_uring_t *u, pd_uring_done_cb done, void *arg);
/* 1 after the ring has failed: the caller should stop using it. */
int pd_uring_broken(const pd_uring_t *u);
pd_uring_stats_t pd_uring_stats(const pd_uring_t *u);
/*
 * Appends the Prometheus lines: presenced_io_uring (1 while the flush
 * writes through the ring; NULL or broken: 0) and the counters.
 */
void pd_uring_render(const pd_uring_t *u, pd_buf_t *out);
/* The same from counters summed over the threads' rings; on: 1 while every ring writes. */
void pd_uring_render_stats(int on, const pd_uring_stats_t *st, pd_buf_t *out);
void pd_uring_add_stats(pd_uring_stats_t *dst, const pd_uring_stats_t *src);
/* Parses auto|on|off; returns 0, or -1 for anything else. */
int pd_uring_parse_mode(const char *s, pd_uring_mode_t *out);

#endif
