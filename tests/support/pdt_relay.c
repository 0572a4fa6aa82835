#include "pdt_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PAIRS 64
#define FLOW_CAP 16384

/* Bytes read from one side and not yet written to the other. */
typedef struct {
    char data[FLOW_CAP];
    size_t len;
    int eof;  /* the source sent its FIN */
    int shut; /* and the destination has been shut down for writing after the last byte */
} flow_t;

/*
 * One relayed connection: fd[0] the accepted side, fd[1] the target's
 * (-1 until connected: while frozen). flow[i] goes from fd[i] to fd[1 - i].
 */
typedef struct {
    int fd[2];
    int connecting; /* fd[1]'s connect has not completed */
    flow_t flow[2];
} pair_t;

typedef enum {
    MODE_FORWARD,
    MODE_FROZEN,
    MODE_CUT,
} relay_mode_t;

/* The control commands, one byte each on the control socket; each is acknowledged with one byte. */
enum {
    CTL_CUT = 'c',
    CTL_FREEZE = 'f',
    CTL_RESTORE = 'r',
    CTL_SYNC = 's',
    CTL_QUIT = 'q',
};

struct pdt_relay {
    int listen_fd;
    int port, target_port;
    int ctl[2]; /* ctl[0]: the test's end, ctl[1]: the thread's */
    pthread_t thread;
    /* The thread's alone: */
    relay_mode_t mode;
    int accept_paused; /* out of descriptors: listen again once one is closed */
    pair_t *pairs[MAX_PAIRS];
    /* Read by the test after a CTL_SYNC round trip: */
    atomic_int accepted, open;
};

/* Closes fd with an RST rather than a FIN. */
static void reset_fd(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (fd < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static void close_pair(pdt_relay_t *r, int slot, int reset)
{
    pair_t *p = r->pairs[slot];
    for (int i = 0; i < 2; i++) {
        if (reset)
            reset_fd(p->fd[i]);
        else if (p->fd[i] >= 0)
            close(p->fd[i]);
    }
    free(p);
    r->pairs[slot] = NULL;
    r->accept_paused = 0;
    atomic_fetch_sub(&r->open, 1);
}

static void reset_all(pdt_relay_t *r)
{
    for (int i = 0; i < MAX_PAIRS; i++)
        if (r->pairs[i] != NULL)
            close_pair(r, i, 1);
}

/* Starts the connection to the target (non-blocking: it completes while polled). */
static int connect_target(pdt_relay_t *r, pair_t *p)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->target_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->fd[1] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd[1] < 0)
        return -1;
    if (connect(p->fd[1], (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return 0;
    p->connecting = errno == EINPROGRESS;
    return p->connecting ? 0 : -1;
}

/* Takes fd as a new relayed connection, or resets it when cut, full or the target is down. */
static void add_pair(pdt_relay_t *r, int fd)
{
    int slot = 0;
    while (slot < MAX_PAIRS && r->pairs[slot] != NULL)
        slot++;
    pair_t *p = r->mode == MODE_CUT || slot == MAX_PAIRS ? NULL : calloc(1, sizeof(*p));
    if (p == NULL) {
        if (slot == MAX_PAIRS)
            fprintf(stderr, "pdt_relay %d: over %d connections; resetting one\n", r->port,
                    MAX_PAIRS);
        reset_fd(fd);
        return;
    }
    p->fd[0] = fd;
    p->fd[1] = -1;
    r->pairs[slot] = p;
    atomic_fetch_add(&r->open, 1);
    if (r->mode == MODE_FORWARD && connect_target(r, p) != 0)
        close_pair(r, slot, 1);
}

static void accept_all(pdt_relay_t *r)
{
    for (;;) {
        int fd = accept4(r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            atomic_fetch_add(&r->accepted, 1);
            add_pair(r, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            fprintf(stderr, "pdt_relay %d: accept: %s\n", r->port, strerror(errno));
            r->accept_paused = 1;
        }
        return;
    }
}

/* The held connections of a freeze, connected to the target now. */
static void connect_held(pdt_relay_t *r)
{
    for (int i = 0; i < MAX_PAIRS; i++)
        if (r->pairs[i] != NULL && r->pairs[i]->fd[1] < 0 && connect_target(r, r->pairs[i]) != 0)
            close_pair(r, i, 1);
}

/* Returns 1 when the thread is to end. */
static int on_control(pdt_relay_t *r)
{
    char c;
    ssize_t n = read(r->ctl[1], &c, 1);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0)
        c = CTL_QUIT;
    switch (c) {
    case CTL_CUT:
        r->mode = MODE_CUT;
        reset_all(r);
        /* Those the kernel has accepted already are not relayed either. */
        accept_all(r);
        break;
    case CTL_FREEZE: r->mode = MODE_FROZEN; break;
    case CTL_RESTORE:
        r->mode = MODE_FORWARD;
        connect_held(r);
        break;
    case CTL_SYNC:
        /* The counts then include every connection the kernel has completed. */
        accept_all(r);
        break;
    case CTL_QUIT: reset_all(r); break;
    default: break;
    }
    if (n > 0 && send(r->ctl[1], &c, 1, MSG_NOSIGNAL) != 1)
        c = CTL_QUIT;
    return c == CTL_QUIT;
}

/* What to poll fd[side] for: room to read into its flow, bytes to write from the other. */
static short wanted(const pdt_relay_t *r, const pair_t *p, int side)
{
    short ev = 0;
    if (r->mode != MODE_FORWARD || p->fd[side] < 0)
        return 0;
    if (side == 1 && p->connecting)
        return POLLOUT;
    if (!p->flow[side].eof && p->flow[side].len < FLOW_CAP)
        ev |= POLLIN;
    if (p->flow[1 - side].len > 0)
        ev |= POLLOUT;
    return ev;
}

/* Reads what fits from fd[side]. Returns -1 when the connection failed. */
static int read_side(pair_t *p, int side)
{
    flow_t *f = &p->flow[side];
    ssize_t n = recv(p->fd[side], f->data + f->len, FLOW_CAP - f->len, 0);
    if (n > 0)
        f->len += (size_t)n;
    else if (n == 0)
        f->eof = 1;
    else if (errno != EAGAIN && errno != EINTR)
        return -1;
    return 0;
}

/* Writes what fd[side] takes of the other side's flow. Returns -1 when the connection failed. */
static int write_side(pair_t *p, int side)
{
    flow_t *f = &p->flow[1 - side];
    ssize_t n = send(p->fd[side], f->data, f->len, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    memmove(f->data, f->data + n, f->len - (size_t)n);
    f->len -= (size_t)n;
    return 0;
}

/* Passes a FIN on once its flow is delivered. Returns 1 when both ways are done. */
static int pass_eof(pair_t *p)
{
    if (p->connecting)
        return 0;
    for (int i = 0; i < 2; i++) {
        flow_t *f = &p->flow[i];
        if (f->eof && f->len == 0 && !f->shut) {
            shutdown(p->fd[1 - i], SHUT_WR);
            f->shut = 1;
        }
    }
    return p->flow[0].shut && p->flow[1].shut;
}

/*
 * One pair after poll: ev[i] asked of fd[i], got[i] what came. An error,
 * or a hang-up on a side not being read (a reset), resets the pair.
 */
static void service(pdt_relay_t *r, int slot, const short *ev, const short *got)
{
    pair_t *p = r->pairs[slot];
    int bad = 0;
    /* POLLOUT without an error: the connection to the target is made. */
    if (p->connecting && (got[1] & POLLOUT) && !(got[1] & (POLLERR | POLLHUP)))
        p->connecting = 0;
    for (int i = 0; i < 2 && !bad; i++) {
        if ((got[i] & (POLLIN | POLLHUP | POLLERR)) && (ev[i] & POLLIN))
            bad = read_side(p, i) != 0;
        if (!bad && (got[i] & POLLOUT))
            bad = write_side(p, i) != 0;
        if (got[i] & (POLLERR | POLLNVAL) || ((got[i] & POLLHUP) && !(ev[i] & POLLIN)))
            bad = 1;
    }
    if (bad)
        close_pair(r, slot, 1);
    else if (pass_eof(p))
        close_pair(r, slot, 0);
}

static void *run(void *arg)
{
    pdt_relay_t *r = arg;
    struct pollfd pf[2 + 2 * MAX_PAIRS];
    for (;;) {
        pf[0] = (struct pollfd){.fd = r->ctl[1], .events = POLLIN};
        pf[1] = (struct pollfd){.fd = r->accept_paused ? -1 : r->listen_fd, .events = POLLIN};
        for (int i = 0; i < MAX_PAIRS; i++) {
            for (int s = 0; s < 2; s++) {
                pair_t *p = r->pairs[i];
                short ev = p != NULL ? wanted(r, p, s) : 0;
                /* A side not polled at all is left out, or its hang-ups would wake us for ever. */
                pf[2 + 2 * i + s] = (struct pollfd){.fd = ev ? p->fd[s] : -1, .events = ev};
            }
        }
        if (poll(pf, 2 + 2 * MAX_PAIRS, -1) < 0) {
            if (errno == EINTR)
                continue;
            /* Looping on would spin, and the test would hang on its next control call. */
            perror("pdt_relay: poll");
            abort();
        }
        if (pf[0].revents != 0) {
            if (on_control(r))
                return NULL;
            continue; /* The pairs may have changed under the rest of pf. */
        }
        if (pf[1].revents != 0)
            accept_all(r);
        for (int i = 0; i < MAX_PAIRS; i++) {
            struct pollfd *q = &pf[2 + 2 * i];
            short ev[2] = {q[0].events, q[1].events}, got[2] = {q[0].revents, q[1].revents};
            if (r->pairs[i] != NULL && (got[0] | got[1]) != 0)
                service(r, i, ev, got);
        }
    }
}

static int listen_loopback(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

pdt_relay_t *pdt_relay_start(int target_port)
{
    pdt_relay_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->target_port = target_port;
    r->ctl[0] = r->ctl[1] = -1;
    r->listen_fd = listen_loopback(&r->port);
    if (r->listen_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->ctl) != 0) {
        fprintf(stderr, "pdt_relay_start: %s\n", strerror(errno));
        pdt_relay_stop(r);
        return NULL;
    }
    int e = pthread_create(&r->thread, NULL, run, r);
    if (e != 0) {
        fprintf(stderr, "pdt_relay_start: pthread_create: %s\n", strerror(e));
        close(r->ctl[1]);
        r->ctl[1] = -1;
        pdt_relay_stop(r);
        return NULL;
    }
    return r;
}

int pdt_relay_port(const pdt_relay_t *r)
{
    return r->port;
}

/* Sends c to the thread and waits for it to be done. */
static void control(pdt_relay_t *r, char c)
{
    char ack;
    if (send(r->ctl[0], &c, 1, MSG_NOSIGNAL) != 1 || recv(r->ctl[0], &ack, 1, 0) != 1)
        fprintf(stderr, "pdt_relay %d: control '%c' not acknowledged: %s\n", r->port, c,
                strerror(errno));
}

void pdt_relay_cut(pdt_relay_t *r)
{
    control(r, CTL_CUT);
}

void pdt_relay_freeze(pdt_relay_t *r)
{
    control(r, CTL_FREEZE);
}

void pdt_relay_restore(pdt_relay_t *r)
{
    control(r, CTL_RESTORE);
}

int pdt_relay_accepted(pdt_relay_t *r)
{
    control(r, CTL_SYNC);
    return atomic_load(&r->accepted);
}

int pdt_relay_open(pdt_relay_t *r)
{
    control(r, CTL_SYNC);
    return atomic_load(&r->open);
}

void pdt_relay_stop(pdt_relay_t *r)
{
    if (r == NULL)
        return;
    if (r->ctl[1] >= 0) {
        control(r, CTL_QUIT);
        pthread_join(r->thread, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (r->ctl[i] >= 0)
            close(r->ctl[i]);
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    free(r);
}
