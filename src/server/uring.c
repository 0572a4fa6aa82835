#include "uring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../base/mem.h"

int pd_uring_parse_mode(const char *s, pd_uring_mode_t *out)
{
    static const char *const names[] = {"auto", "on", "off"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (pd_uring_mode_t)i;
            return 0;
        }
    return -1;
}

void pd_uring_render(const pd_uring_t *u, pd_buf_t *out)
{
    pd_uring_stats_t st = u ? pd_uring_stats(u) : (pd_uring_stats_t){0};
    pd_uring_render_stats(u && !pd_uring_broken(u), &st, out);
}

void pd_uring_add_stats(pd_uring_stats_t *dst, const pd_uring_stats_t *src)
{
    dst->sends += src->sends;
    dst->batches += src->batches;
    dst->refused += src->refused;
}

void pd_uring_render_stats(int on, const pd_uring_stats_t *st, pd_buf_t *out)
{
    pd_buf_appendf(out,
                   "# HELP presenced_io_uring 1 while the flush phase writes through io_uring.\n"
                   "# TYPE presenced_io_uring gauge\n"
                   "presenced_io_uring %d\n"
                   "# HELP presenced_io_uring_submissions_total Sends submitted to io_uring.\n"
                   "# TYPE presenced_io_uring_submissions_total counter\n"
                   "presenced_io_uring_submissions_total %llu\n"
                   "# HELP presenced_io_uring_batches_total System calls that submitted them.\n"
                   "# TYPE presenced_io_uring_batches_total counter\n"
                   "presenced_io_uring_batches_total %llu\n"
                   "# HELP presenced_io_uring_refused_total Sends the kernel took only part of, "
                   "or none; the rest went the writev way.\n"
                   "# TYPE presenced_io_uring_refused_total counter\n"
                   "presenced_io_uring_refused_total %llu\n",
                   on, (unsigned long long)st->sends, (unsigned long long)st->batches,
                   (unsigned long long)st->refused);
}

#ifdef PD_HAVE_URING
#include <liburing.h>

/* One queued send: its message header and iovecs stay put until it completes. */
typedef struct {
    struct msghdr msg;
    struct iovec iov[PD_URING_MAX_IOV];
    void *owner;
    int reported;
} slot_t;

struct pd_uring {
    struct io_uring ring;
    slot_t *slots;
    unsigned n_slots;
    unsigned n_queued;
    int broken;
    pd_uring_stats_t stats;
};

/*
 * SUBMIT_ALL keeps submitting past a send that fails early (a closed
 * descriptor), and COOP_TASKRUN spares the loop an interrupt per
 * completion; kernels older than 5.19 reject them, and then the ring is
 * made without them.
 */
static int init_ring(struct io_uring *ring, unsigned entries)
{
    unsigned flags = 0;
#if defined(IORING_SETUP_SUBMIT_ALL) && defined(IORING_SETUP_COOP_TASKRUN)
    flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
#endif
    int rc = io_uring_queue_init(entries, ring, flags);
    if (rc == -EINVAL && flags)
        rc = io_uring_queue_init(entries, ring, 0);
    return rc;
}

/* Returns 0 when the ring supports IORING_OP_SENDMSG, else a negative errno. */
static int probe_sendmsg(struct io_uring *ring)
{
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    if (!p)
        return -ENOSYS;
    int ok = io_uring_opcode_supported(p, IORING_OP_SENDMSG);
    io_uring_free_probe(p);
    return ok ? 0 : -EOPNOTSUPP;
}

static int refuse(pd_uring_mode_t mode, int rc, char *err, size_t errlen)
{
    snprintf(err, errlen, "io_uring unavailable (%s)", strerror(-rc));
    return mode == PD_URING_ON ? -1 : 0;
}

int pd_uring_open(pd_uring_t **out, pd_uring_mode_t mode, unsigned entries, char *err,
                  size_t errlen)
{
    *out = NULL;
    if (mode == PD_URING_OFF)
        return 0;
    pd_uring_t *u = pd_calloc(1, sizeof(*u));
    int rc = init_ring(&u->ring, entries);
    if (rc < 0) {
        free(u);
        return refuse(mode, rc, err, errlen);
    }
    if ((rc = probe_sendmsg(&u->ring)) < 0) {
        io_uring_queue_exit(&u->ring);
        free(u);
        return refuse(mode, rc, err, errlen);
    }
    u->n_slots = entries;
    u->slots = pd_calloc(entries, sizeof(slot_t));
    *out = u;
    return 0;
}

void pd_uring_close(pd_uring_t *u)
{
    if (!u)
        return;
    io_uring_queue_exit(&u->ring);
    free(u->slots);
    free(u);
}

int pd_uring_full(const pd_uring_t *u)
{
    return u->n_queued == u->n_slots;
}

struct iovec *pd_uring_slot(pd_uring_t *u)
{
    return u->slots[u->n_queued].iov;
}

/* MSG_NOSIGNAL: a reset peer is an error to handle, not a SIGPIPE. */
void pd_uring_queue(pd_uring_t *u, int fd, unsigned n, void *owner)
{
    unsigned i = u->n_queued++;
    slot_t *s = &u->slots[i];
    s->msg = (struct msghdr){.msg_iov = s->iov, .msg_iovlen = n};
    s->owner = owner;
    s->reported = 0;
    /* The submission queue is at least n_slots long and empty after each submit. */
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    io_uring_prep_sendmsg(sqe, fd, &s->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, i);
}

static void report(pd_uring_t *u, unsigned i, int res, pd_uring_done_cb done, void *arg)
{
    slot_t *s = &u->slots[i];
    size_t want = 0;
    for (size_t k = 0; k < s->msg.msg_iovlen; k++)
        want += s->iov[k].iov_len;
    if (res == -EAGAIN || (res >= 0 && (size_t)res < want))
        u->stats.refused++;
    s->reported = 1;
    done(s->owner, res, arg);
}

/* Reports the completions that are there; returns how many. */
static unsigned reap_ready(pd_uring_t *u, pd_uring_done_cb done, void *arg)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe)
    {
        report(u, (unsigned)cqe->user_data, cqe->res, done, arg);
        n++;
    }
    io_uring_cq_advance(&u->ring, n);
    return n;
}

/* Submits the queue, in more than one call only where the kernel stops early. */
static int submit_queued(pd_uring_t *u, unsigned *submitted)
{
    while (*submitted < u->n_queued) {
        int rc = io_uring_submit(&u->ring);
        if (rc == -EINTR)
            continue;
        if (rc <= 0)
            return rc < 0 ? rc : -EIO;
        *submitted += (unsigned)rc;
        u->stats.batches++;
    }
    return 0;
}

/*
 * Waits for the sends submitted, which nearly always completed inside the
 * submitting call already. A send still in the kernel points at the
 * caller's bytes, so this returns only once each has completed.
 */
static void reap_all(pd_uring_t *u, unsigned submitted, pd_uring_done_cb done, void *arg)
{
    unsigned reaped = reap_ready(u, done, arg);
    while (reaped < submitted) {
        struct io_uring_cqe *cqe;
        int rc = io_uring_wait_cqe(&u->ring, &cqe);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
            u->broken = 1; /* the ring's descriptor failed: there is no waiting on it */
            return;
        }
        reaped += reap_ready(u, done, arg);
    }
}

unsigned pd_uring_submit(pd_uring_t *u, pd_uring_done_cb done, void *arg)
{
    unsigned submitted = 0, n = u->n_queued;
    if (n == 0)
        return 0;
    if (submit_queued(u, &submitted) != 0)
        u->broken = 1;
    u->stats.sends += submitted;
    reap_all(u, submitted, done, arg);
    /* Sends never submitted stay in the ring, which is not used again. */
    for (unsigned i = 0; i < n; i++)
        if (!u->slots[i].reported)
            report(u, i, PD_URING_NOT_SENT, done, arg);
    u->n_queued = 0;
    return n;
}

int pd_uring_broken(const pd_uring_t *u)
{
    return u->broken;
}

pd_uring_stats_t pd_uring_stats(const pd_uring_t *u)
{
    return u->stats;
}

#else /* no liburing: always writev */

struct pd_uring {
    int unused;
};

int pd_uring_open(pd_uring_t **out, pd_uring_mode_t mode, unsigned entries, char *err,
                  size_t errlen)
{
    *out = NULL;
    if (mode == PD_URING_OFF)
        return 0;
    snprintf(err, errlen, "io_uring unavailable (built without liburing)");
    return mode == PD_URING_ON ? -1 : 0;
}

void pd_uring_close(pd_uring_t *u)
{
}

int pd_uring_full(const pd_uring_t *u)
{
    return 1;
}

struct iovec *pd_uring_slot(pd_uring_t *u)
{
    return NULL;
}

void pd_uring_queue(pd_uring_t *u, int fd, unsigned n, void *owner)
{
}

unsigned pd_uring_submit(pd_uring_t *u, pd_uring_done_cb done, void *arg)
{
    return 0;
}

int pd_uring_broken(const pd_uring_t *u)
{
    return 1;
}

pd_uring_stats_t pd_uring_stats(const pd_uring_t *u)
{
    return (pd_uring_stats_t){0};
}

#endif
