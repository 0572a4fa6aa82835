/*
 * presence-floor: what the kernel charges for fan-out on loopback TCP.
 *
 *   presence-floor --sockets 1000 --frames 1 --size 120 --call writev
 *   presence-floor --sockets 1000 --frames 1 --size 150 --call uring
 *
 * Whatever a presence server does in its own code, each delivery ends in a
 * write system call on a connected socket, and that call has a price no
 * server can avoid. This program pays it and nothing else, so that a
 * server's own cost per delivery can be stated against a floor.
 *
 * It connects N loopback TCP pairs. A reader thread drains the receiving
 * ends through its own epoll, as clients would. The main thread runs
 * "sweeps": each writes once to every sending end (nonblocking, TCP_NODELAY,
 * as a server holds its connections), K frames of B bytes in one call, and
 * then sleeps a gap so that the reader catches up.
 *
 * The writer's CPU inside the sweeps, divided by the calls, is the floor per
 * call; dividing by K shows how putting several frames in one call spreads
 * it. On loopback that CPU includes the receive side's softirq work (TCP
 * input, queueing, waking the reader), which the kernel runs inside the
 * sender's call. It is taken from CLOCK_THREAD_CPUTIME_ID around each sweep:
 * getrusage(RUSAGE_THREAD) is only current after the thread sleeps or takes
 * a tick, which would undercount sweeps shorter than a tick, so getrusage()
 * is read around the whole loop and gives the user/system split. The
 * process's CPU (getrusage RUSAGE_SELF) adds the reader's.
 *
 * The uring calls (built with liburing) queue the same call for every
 * socket of a sweep into one io_uring and submit them all with one
 * io_uring_enter: "uring" as IORING_OP_SENDMSG over the K iovecs (what the
 * server's flush does), "uring-send" as IORING_OP_SEND of one buffer. Both
 * pass MSG_DONTWAIT, so a full socket completes at once with -EAGAIN
 * instead of waiting in the ring for room, and a send that has room
 * completes inside the submitting call; completions that were not ready
 * when it returned are counted as "uring_late". Work the kernel hands to
 * its io-wq threads would not be in the writer's CPU clock, but it is in
 * the process's.
 *
 * Prints one JSON object on stdout. Exit status: 0 after a run, 1 on a
 * socket error or when the run outlasts its 120 s bound, 2 for bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#ifdef PD_HAVE_URING
#include <liburing.h>
#endif

#define TIME_LIMIT_S 120
#define DRAIN_LIMIT_NS 5000000000ull
#define FD_RESERVE 200       /* descriptors left for stdio, epoll and the listener */
#define MAX_FRAMES 1024      /* IOV_MAX on Linux */
#define MAX_CALL_BYTES 65536 /* one call's payload */
#define READ_CHUNK 65536
#define READER_EVENTS 256

typedef enum {
    CALL_WRITEV,
    CALL_SEND,
    CALL_WRITE,
    CALL_URING,
    CALL_URING_SEND,
    CALL_COUNT
} call_t;

static const char *const call_names[] = {"writev", "send", "write", "uring", "uring-send"};

#define URING_MAX_ENTRIES 32768 /* the kernel's limit on one ring's submission queue */

typedef struct {
    long sockets, frames, size, rounds, warmup, gap_us;
    long batch; /* uring: sends per submission (0: the whole sweep) */
    call_t call;
    int pin;  /* writer on CPU 0, reader on CPU 1 */
    int spin; /* the reader polls instead of sleeping: no wakeups for the writer to pay */
} opts_t;

/* The pairs: tx are the accepted ends (the server's), rx the connecting ends (the clients'). */
typedef struct {
    int listener;
    int epfd;
    long n;
    int *tx;
    int *rx;
} pairs_t;

typedef struct {
    int epfd;
    int timeout_ms; /* of each epoll_wait: 0 spins */
    atomic_int stop;
    atomic_int failed;
    atomic_ullong bytes;
} reader_t;

/* What one call writes: K iovecs over consecutive B-byte frames of buf. */
typedef struct {
    char *buf;
    size_t len;
    struct iovec *iov;
    struct msghdr msg; /* the iovecs, for IORING_OP_SENDMSG; the kernel only reads it */
#ifdef PD_HAVE_URING
    struct io_uring ring;
    int ring_ready;
#endif
} payload_t;

typedef struct {
    unsigned long long calls, eagain, short_writes, bytes;
    unsigned long long submits, late; /* io_uring_enter calls; completions not ready after one */
} tally_t;

typedef struct {
    uint64_t cpu_ns;                /* the writer's CPU inside the sweeps */
    uint64_t *wall_ns;              /* one per sweep */
    struct rusage thread0, thread1; /* the writer, around the measured loop */
    struct rusage self0, self1;     /* the process, from the first sweep until drained */
    unsigned long long lag_max;     /* bytes written but not yet read when a sweep began */
    unsigned long long read_base, read_end;
    int complete;
} measure_t;

/* ---- time ------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Exact, unlike getrusage(RUSAGE_THREAD), which lags the running thread by up to a tick. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t tv_ns(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

static void pause_us(long us)
{
    if (us <= 0)
        return;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void on_alarm(int sig)
{
    static const char msg[] = "presence-floor: out of time; stopping\n";
    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
        _exit(1);
    _exit(1);
}

/* ---- options ---------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: presence-floor [options]\n"
          "  --sockets N     loopback TCP pairs (1000; at most (open-file limit - 200) / 2)\n"
          "  --frames K      frames per call (1; at most 1024)\n"
          "  --size B        bytes per frame (120, a typical presence_changed frame)\n"
          "  --call C        writev|send|write|uring|uring-send (writev: K iovecs; send, write:\n"
          "                  one K*B buffer; uring: a sweep's sendmsg calls in one io_uring\n"
          "                  submission, uring-send: its send calls)\n"
          "  --batch N       uring: submit every N sends (0, the default: the whole sweep)\n"
          "  --rounds R      measured sweeps, each one call per socket (200)\n"
          "  --warmup W      sweeps before measuring, not counted (5)\n"
          "  --gap-us U      sleep between sweeps, microseconds (1000)\n"
          "  --pin           writer on CPU 0, reader on CPU 1 (default: the scheduler's choice)\n"
          "  --spin          the reader polls epoll without sleeping (default: it sleeps)\n"
          "  --help          this text\n"
          "K*B is at most 65536. Prints one JSON object on stdout.\n",
          f);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int is_uring(call_t call)
{
    return call == CALL_URING || call == CALL_URING_SEND;
}

static int parse_call(const char *s, call_t *out)
{
#ifndef PD_HAVE_URING
    if (strncmp(s, "uring", 5) == 0) {
        fputs("presence-floor: built without liburing; no uring calls\n", stderr);
        return -1;
    }
#endif
    for (int i = 0; i < CALL_COUNT; i++)
        if (strcmp(s, call_names[i]) == 0) {
            *out = (call_t)i;
            return 0;
        }
    return -1;
}

static int parse_opt(opts_t *o, int id, const char *arg)
{
    switch (id) {
    case 'n': return parse_long(arg, 1, 1000000, &o->sockets);
    case 'k': return parse_long(arg, 1, MAX_FRAMES, &o->frames);
    case 'b': return parse_long(arg, 1, MAX_CALL_BYTES, &o->size);
    case 'c': return parse_call(arg, &o->call);
    case 'r': return parse_long(arg, 1, 1000000, &o->rounds);
    case 'a': return parse_long(arg, 0, URING_MAX_ENTRIES, &o->batch);
    case 'w': return parse_long(arg, 0, 1000000, &o->warmup);
    case 'g': return parse_long(arg, 0, 10000000, &o->gap_us);
    case 'p': o->pin = 1; return 0;
    case 's': o->spin = 1; return 0;
    }
    return -1;
}

static const struct option long_opts[] = {
    {"sockets", 1, 0, 'n'}, {"frames", 1, 0, 'k'}, {"size", 1, 0, 'b'},   {"call", 1, 0, 'c'},
    {"rounds", 1, 0, 'r'},  {"warmup", 1, 0, 'w'}, {"gap-us", 1, 0, 'g'}, {"pin", 0, 0, 'p'},
    {"spin", 0, 0, 's'},    {"batch", 1, 0, 'a'},  {"help", 0, 0, 'h'},   {0, 0, 0, 0},
};

/* Returns 0, 1 after --help, or -1 for bad usage. */
static int parse_args(opts_t *o, int argc, char **argv)
{
    *o = (opts_t){.sockets = 1000,
                  .frames = 1,
                  .size = 120,
                  .rounds = 200,
                  .warmup = 5,
                  .gap_us = 1000,
                  .call = CALL_WRITEV};
    int id, at = 0;
    while ((id = getopt_long(argc, argv, "", long_opts, &at)) != -1) {
        if (id == 'h')
            return 1;
        if (id == '?')
            return -1;
        if (parse_opt(o, id, optarg) != 0) {
            fprintf(stderr, "presence-floor: bad value '%s' for --%s\n", optarg,
                    long_opts[at].name);
            return -1;
        }
    }
    if (optind != argc || o->frames * o->size > MAX_CALL_BYTES) {
        fputs("presence-floor: stray arguments, or frames * size above 65536\n", stderr);
        return -1;
    }
    return 0;
}

/* Raises the open-file soft limit to the hard one; returns the sockets it allows. */
static long max_sockets(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur != rl.rlim_max) {
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000)
        rl.rlim_cur = 1000000;
    long fds = (long)rl.rlim_cur - FD_RESERVE;
    return fds > 0 ? fds / 2 : 0;
}

static int pin_to(pthread_t th, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(th, sizeof(set), &set);
}

/* ---- sockets ---------------------------------------------------------- */

static int make_listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    socklen_t len = sizeof(*addr);
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* One pair: connect, accept, then both ends nonblocking and the sender TCP_NODELAY. */
static int connect_pair(int listener, const struct sockaddr_in *addr, int *tx, int *rx)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0)
        return -1;
    int a = -1, one = 1;
    if (connect(c, (const struct sockaddr *)addr, sizeof(*addr)) == 0 && set_nonblock(c) == 0)
        a = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a >= 0 && setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0) {
        *tx = a;
        *rx = c;
        return 0;
    }
    int err = errno;
    if (a >= 0)
        close(a);
    close(c);
    errno = err;
    return -1;
}

static int watch(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Connects n pairs and registers the receiving ends with a level-triggered epoll. */
static int open_pairs(pairs_t *p, long n)
{
    struct sockaddr_in addr;
    *p = (pairs_t){.listener = -1, .epfd = -1};
    p->tx = calloc((size_t)n, sizeof(int));
    p->rx = calloc((size_t)n, sizeof(int));
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->listener = make_listener(&addr);
    if (!p->tx || !p->rx || p->epfd < 0 || p->listener < 0)
        return -1;
    for (p->n = 0; p->n < n; p->n++) {
        if (connect_pair(p->listener, &addr, &p->tx[p->n], &p->rx[p->n]) != 0)
            return -1;
        if (watch(p->epfd, p->rx[p->n]) != 0) {
            p->n++;
            return -1;
        }
    }
    return 0;
}

static void close_pairs(pairs_t *p)
{
    for (long i = 0; i < p->n; i++) {
        close(p->tx[i]);
        close(p->rx[i]);
    }
    if (p->listener >= 0)
        close(p->listener);
    if (p->epfd >= 0)
        close(p->epfd);
    free(p->tx);
    free(p->rx);
}

/* ---- reader ----------------------------------------------------------- */

/* One read per readiness, as a client's event loop would; EOF or an error is a failure. */
static void drain_one(reader_t *rd, int fd, char *buf)
{
    ssize_t r = read(fd, buf, READ_CHUNK);
    if (r > 0) {
        atomic_fetch_add_explicit(&rd->bytes, (unsigned long long)r, memory_order_relaxed);
        return;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    epoll_ctl(rd->epfd, EPOLL_CTL_DEL, fd, NULL);
    atomic_store(&rd->failed, 1);
}

static void *reader_main(void *arg)
{
    reader_t *rd = arg;
    char *buf = malloc(READ_CHUNK);
    struct epoll_event ev[READER_EVENTS];
    if (!buf) {
        atomic_store(&rd->failed, 1);
        return NULL;
    }
    while (!atomic_load(&rd->stop)) {
        int n = epoll_wait(rd->epfd, ev, READER_EVENTS, rd->timeout_ms);
        if (n < 0 && errno != EINTR) {
            atomic_store(&rd->failed, 1);
            break;
        }
        for (int i = 0; i < n; i++)
            drain_one(rd, ev[i].data.fd, buf);
    }
    free(buf);
    return NULL;
}

static unsigned long long reader_bytes(reader_t *rd)
{
    return atomic_load_explicit(&rd->bytes, memory_order_relaxed);
}

/* Waits, at most DRAIN_LIMIT_NS, until the reader has read want bytes. */
static int wait_drained(reader_t *rd, unsigned long long want)
{
    uint64_t deadline = now_ns() + DRAIN_LIMIT_NS;
    while (reader_bytes(rd) < want && !atomic_load(&rd->failed) && now_ns() < deadline)
        pause_us(200);
    return reader_bytes(rd) == want ? 0 : -1;
}

/* ---- writer ----------------------------------------------------------- */

static int make_payload(payload_t *pl, const opts_t *o)
{
    pl->len = (size_t)o->frames * (size_t)o->size;
    pl->buf = malloc(pl->len);
    pl->iov = calloc((size_t)o->frames, sizeof(struct iovec));
    if (!pl->buf || !pl->iov)
        return -1;
    memset(pl->buf, 'x', pl->len);
    for (long i = 0; i < o->frames; i++) {
        pl->iov[i].iov_base = pl->buf + i * o->size;
        pl->iov[i].iov_len = (size_t)o->size;
    }
    pl->msg.msg_iov = pl->iov;
    pl->msg.msg_iovlen = (size_t)o->frames;
    return 0;
}

/* ---- io_uring --------------------------------------------------------- */

#ifdef PD_HAVE_URING
/* A ring whose submission queue holds a batch: a whole sweep, up to the kernel's limit. */
static int uring_open(payload_t *pl, long batch)
{
    unsigned entries = batch < URING_MAX_ENTRIES ? (unsigned)batch : URING_MAX_ENTRIES;
    int rc = io_uring_queue_init(entries, &pl->ring, 0);
    if (rc < 0) {
        fprintf(stderr, "presence-floor: io_uring_queue_init: %s\n", strerror(-rc));
        return -1;
    }
    pl->ring_ready = 1;
    return 0;
}

static void uring_close(payload_t *pl)
{
    if (pl->ring_ready)
        io_uring_queue_exit(&pl->ring);
}

static void uring_prep(call_t call, struct io_uring_sqe *sqe, int fd, payload_t *pl)
{
    if (call == CALL_URING)
        io_uring_prep_sendmsg(sqe, fd, &pl->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    else
        io_uring_prep_send(sqe, fd, pl->buf, pl->len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Tallies one completion as sweep() tallies a call's return. */
static int uring_tally(const payload_t *pl, int res, tally_t *t)
{
    t->calls++;
    if (res == -EAGAIN) {
        t->eagain++;
        return 0;
    }
    if (res < 0) {
        fprintf(stderr, "presence-floor: uring send: %s\n", strerror(-res));
        return -1;
    }
    if ((size_t)res < pl->len)
        t->short_writes++;
    t->bytes += (unsigned long long)res;
    return 0;
}

/*
 * Reaps n completions. Those the submitting call finished are there at
 * once; any other is waited for and counted late.
 */
static int uring_reap(payload_t *pl, unsigned n, tally_t *t)
{
    int rc = 0;
    while (n > 0) {
        struct io_uring_cqe *cqe;
        if (io_uring_peek_cqe(&pl->ring, &cqe) != 0) {
            int w = io_uring_wait_cqe(&pl->ring, &cqe);
            if (w < 0) {
                fprintf(stderr, "presence-floor: io_uring_wait_cqe: %s\n", strerror(-w));
                return -1;
            }
            t->late++;
        }
        if (uring_tally(pl, cqe->res, t) != 0)
            rc = -1;
        io_uring_cqe_seen(&pl->ring, cqe);
        n--;
    }
    return rc;
}

/* Submits what is queued with one io_uring_enter, then reaps it all. */
static int uring_flush(payload_t *pl, tally_t *t)
{
    int rc = io_uring_submit(&pl->ring);
    if (rc < 0) {
        fprintf(stderr, "presence-floor: io_uring_submit: %s\n", strerror(-rc));
        return -1;
    }
    t->submits++;
    return uring_reap(pl, (unsigned)rc, t);
}

/*
 * One send per socket, queued and then submitted together: the whole sweep
 * at once, or --batch at a time as a server's flush slices would.
 */
static int uring_sweep(const opts_t *o, const pairs_t *p, payload_t *pl, tally_t *t)
{
    for (long i = 0; i < p->n; i++) {
        if (o->batch && i && i % o->batch == 0 && uring_flush(pl, t) != 0)
            return -1;
        struct io_uring_sqe *sqe = io_uring_get_sqe(&pl->ring);
        if (!sqe) {
            if (uring_flush(pl, t) != 0)
                return -1;
            sqe = io_uring_get_sqe(&pl->ring);
        }
        uring_prep(o->call, sqe, p->tx[i], pl);
    }
    return uring_flush(pl, t);
}
#else
static int uring_open(payload_t *pl, long batch)
{
    return -1;
}

static void uring_close(payload_t *pl)
{
}

static int uring_sweep(const opts_t *o, const pairs_t *p, payload_t *pl, tally_t *t)
{
    return -1;
}
#endif

static ssize_t write_once(call_t call, int fd, const payload_t *pl, int frames)
{
    switch (call) {
    case CALL_WRITEV: return writev(fd, pl->iov, frames);
    case CALL_SEND: return send(fd, pl->buf, pl->len, 0);
    case CALL_WRITE: return write(fd, pl->buf, pl->len);
    default: break;
    }
    errno = EINVAL;
    return -1;
}

/* One call to every sending end. EAGAIN and short counts are tallied, not retried. */
static int sweep(const opts_t *o, const pairs_t *p, payload_t *pl, tally_t *t)
{
    if (is_uring(o->call))
        return uring_sweep(o, p, pl, t);
    for (long i = 0; i < p->n; i++) {
        ssize_t r = write_once(o->call, p->tx[i], pl, (int)o->frames);
        t->calls++;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            t->eagain++;
            continue;
        }
        if (r < 0) {
            perror("presence-floor: write");
            return -1;
        }
        if ((size_t)r < pl->len)
            t->short_writes++;
        t->bytes += (unsigned long long)r;
    }
    return 0;
}

static int warm_up(const opts_t *o, const pairs_t *p, payload_t *pl, reader_t *rd, tally_t *t)
{
    for (long r = 0; r < o->warmup; r++) {
        if (sweep(o, p, pl, t) != 0)
            return -1;
        pause_us(o->gap_us);
    }
    int rc = wait_drained(rd, t->bytes);
    pause_us(1000); /* so that the measured loop starts from a fresh runtime count */
    return rc;
}

/* One measured sweep: the writer's CPU and the wall time around it. */
static int timed_sweep(const opts_t *o, const pairs_t *p, payload_t *pl, tally_t *t, measure_t *m,
                       long i)
{
    uint64_t c0 = thread_cpu_ns(), t0 = now_ns();
    int rc = sweep(o, p, pl, t);
    uint64_t t1 = now_ns(), c1 = thread_cpu_ns();
    m->cpu_ns += c1 - c0;
    m->wall_ns[i] = t1 - t0;
    return rc;
}

/*
 * The measured loop. getrusage() is read where the thread has just slept
 * (after the warm-up's drain, after the last gap), when the kernel's count
 * of its runtime is current; it gives the user/system split and the count
 * of preemptions.
 */
static int measure(const opts_t *o, const pairs_t *p, payload_t *pl, reader_t *rd, tally_t *t,
                   measure_t *m)
{
    unsigned long long written0 = t->bytes;
    m->read_base = reader_bytes(rd);
    getrusage(RUSAGE_SELF, &m->self0);
    getrusage(RUSAGE_THREAD, &m->thread0);
    for (long r = 0; r < o->rounds; r++) {
        unsigned long long lag = t->bytes - reader_bytes(rd);
        if (lag > m->lag_max)
            m->lag_max = lag;
        if (timed_sweep(o, p, pl, t, m, r) != 0)
            return -1;
        pause_us(o->gap_us > 0 ? o->gap_us : 1);
    }
    getrusage(RUSAGE_THREAD, &m->thread1);
    wait_drained(rd, t->bytes);
    getrusage(RUSAGE_SELF, &m->self1);
    m->read_end = reader_bytes(rd);
    unsigned long long want = (unsigned long long)o->rounds * (unsigned long long)p->n *
                              (unsigned long long)(o->frames * o->size);
    m->complete = t->bytes - written0 == want && m->read_end - m->read_base == want;
    return 0;
}

/* ---- report ----------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double rusage_ns(const struct rusage *a, const struct rusage *b, int user)
{
    return user ? (double)(tv_ns(b->ru_utime) - tv_ns(a->ru_utime))
                : (double)(tv_ns(b->ru_stime) - tv_ns(a->ru_stime));
}

/* The loop's totals, in ns. */
typedef struct {
    double calls, deliveries;
    double user, sys; /* writer: the exact CPU clock, split as getrusage() splits it */
    double rusage;    /* writer: getrusage() over the loop, sleeps included */
    double self;      /* the process, reader included */
    double wall;      /* the sweeps */
} totals_t;

/* The kernel samples the user/system split at ticks; the CPU clock is exact. */
static totals_t totals(const opts_t *o, const pairs_t *p, const measure_t *m)
{
    totals_t s = {.calls = (double)o->rounds * (double)p->n};
    s.deliveries = s.calls * (double)o->frames;
    double user = rusage_ns(&m->thread0, &m->thread1, 1);
    double sys = rusage_ns(&m->thread0, &m->thread1, 0);
    double user_share = user + sys > 0 ? user / (user + sys) : 0;
    s.user = (double)m->cpu_ns * user_share;
    s.sys = (double)m->cpu_ns - s.user;
    s.rusage = user + sys;
    s.self = rusage_ns(&m->self0, &m->self1, 1) + rusage_ns(&m->self0, &m->self1, 0);
    for (long i = 0; i < o->rounds; i++)
        s.wall += (double)m->wall_ns[i];
    return s;
}

static void report(const opts_t *o, const pairs_t *p, const tally_t *t, measure_t *m)
{
    totals_t s = totals(o, p, m);
    double writer = s.user + s.sys;
    qsort(m->wall_ns, (size_t)o->rounds, sizeof(uint64_t), cmp_u64);
    printf("{\"sockets\":%ld,\"frames\":%ld,\"size\":%ld,\"call\":\"%s\",\"rounds\":%ld,"
           "\"warmup\":%ld,\"gap_us\":%ld,\"pin\":%s,\"spin\":%s,\"batch\":%ld,",
           p->n, o->frames, o->size, call_names[o->call], o->rounds, o->warmup, o->gap_us,
           o->pin ? "true" : "false", o->spin ? "true" : "false", o->batch);
    printf("\"writes\":%.0f,\"deliveries\":%.0f,\"writer_user_ns_per_call\":%.1f,"
           "\"writer_sys_ns_per_call\":%.1f,\"writer_ns_per_call\":%.1f,"
           "\"writer_ns_per_delivery\":%.1f,\"writer_rusage_ns_per_call\":%.1f,"
           "\"process_ns_per_delivery\":%.1f,",
           s.calls, s.deliveries, s.user / s.calls, s.sys / s.calls, writer / s.calls,
           writer / s.deliveries, s.rusage / s.calls, s.self / s.deliveries);
    printf("\"sweep_wall_us_p50\":%.1f,\"sweep_wall_us_mean\":%.1f,\"sweep_wall_us_max\":%.1f,"
           "\"writer_preempted\":%ld,\"eagain\":%llu,\"short_writes\":%llu,"
           "\"uring_submits\":%llu,\"uring_late\":%llu,"
           "\"reader_lag_max_bytes\":%llu,\"reader_bytes\":%llu,\"complete\":%s}\n",
           (double)m->wall_ns[(o->rounds - 1) / 2] / 1e3, s.wall / (double)o->rounds / 1e3,
           (double)m->wall_ns[o->rounds - 1] / 1e3, m->thread1.ru_nivcsw - m->thread0.ru_nivcsw,
           t->eagain, t->short_writes, t->submits, t->late, m->lag_max, m->read_end - m->read_base,
           m->complete ? "true" : "false");
}

/* ---- main ------------------------------------------------------------- */

static int check_sockets(const opts_t *o)
{
    long most = max_sockets();
    if (o->sockets <= most)
        return 0;
    fprintf(stderr,
            "presence-floor: --sockets %ld needs %ld descriptors; the open-file limit "
            "allows at most %ld sockets in one process\n",
            o->sockets, 2 * o->sockets, most);
    return -1;
}

static int run(const opts_t *o, pairs_t *p, reader_t *rd)
{
    payload_t pl = {0};
    tally_t t = {0};
    measure_t m = {0};
    pthread_t th;
    int rc = -1;
    m.wall_ns = calloc((size_t)o->rounds, sizeof(uint64_t));
    if (!m.wall_ns || make_payload(&pl, o) != 0) {
        fputs("presence-floor: out of memory\n", stderr);
        goto out;
    }
    if (is_uring(o->call) && uring_open(&pl, o->batch ? o->batch : p->n) != 0)
        goto out;
    rd->epfd = p->epfd;
    rd->timeout_ms = o->spin ? 0 : 20;
    if (pthread_create(&th, NULL, reader_main, rd) != 0) {
        fputs("presence-floor: cannot start the reader\n", stderr);
        goto out;
    }
    if (o->pin && (pin_to(pthread_self(), 0) != 0 || pin_to(th, 1) != 0))
        fputs("presence-floor: cannot pin the threads; running unpinned\n", stderr);
    if (warm_up(o, p, &pl, rd, &t) != 0)
        fputs("presence-floor: the warm-up did not drain\n", stderr);
    else if (measure(o, p, &pl, rd, &t, &m) == 0)
        rc = 0;
    atomic_store(&rd->stop, 1);
    pthread_join(th, NULL);
    if (rc == 0)
        report(o, p, &t, &m);
    if (atomic_load(&rd->failed)) {
        fputs("presence-floor: the reader met EOF or a socket error\n", stderr);
        rc = -1;
    }
out:
    uring_close(&pl);
    free(m.wall_ns);
    free(pl.buf);
    free(pl.iov);
    return rc;
}

int main(int argc, char **argv)
{
    opts_t o;
    int parsed = parse_args(&o, argc, argv);
    if (parsed != 0) {
        usage(parsed > 0 ? stdout : stderr);
        return parsed > 0 ? 0 : 2;
    }
    if (check_sockets(&o) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm(TIME_LIMIT_S);
    pairs_t p;
    reader_t rd = {0};
    if (open_pairs(&p, o.sockets) != 0) {
        fprintf(stderr, "presence-floor: setting up pair %ld of %ld: %s\n", p.n + 1, o.sockets,
                strerror(errno));
        close_pairs(&p);
        return 1;
    }
    int rc = run(&o, &p, &rd);
    close_pairs(&p);
    return rc == 0 ? 0 : 1;
}
