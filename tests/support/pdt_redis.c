#include "pdt_redis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "pdt_proc.h"

#ifndef PDT_REDIS_SERVER_BIN
#error "PDT_REDIS_SERVER_BIN must name the redis-server binary (\"\" when there is none)"
#endif

#define START_TIMEOUT_MS 10000
#define CMD_TIMEOUT_MS 5000
#define PING_TIMEOUT_MS 2000

/* ---- the RESP client ---- */

/* Replies are read through this buffer from a blocking socket with a receive timeout. */
typedef struct {
    int fd;
    char buf[4096];
    size_t pos, len;
} reader_t;

/* The flattened reply: appended to out, truncated at cap - 1 bytes. */
typedef struct {
    char *out;
    size_t cap, len;
} text_t;

static void text_add(text_t *t, const char *s, size_t n)
{
    size_t room = t->cap - 1 - t->len;
    if (n > room)
        n = room;
    memcpy(t->out + t->len, s, n);
    t->len += n;
    t->out[t->len] = '\0';
}

static int fill(reader_t *rd)
{
    if (rd->pos < rd->len)
        return 0;
    ssize_t n;
    do
        n = read(rd->fd, rd->buf, sizeof(rd->buf));
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        if (n == 0)
            errno = ECONNRESET;
        return -1;
    }
    rd->pos = 0;
    rd->len = (size_t)n;
    return 0;
}

/* One line without its "\r\n" into line (cap bytes), cut to fit (the rest is skipped). */
static int read_line(reader_t *rd, char *line, size_t cap)
{
    size_t n = 0;
    int cr = 0, kept = 0; /* the last byte was '\r'; it was kept in line */
    for (;;) {
        if (fill(rd) != 0)
            return -1;
        char c = rd->buf[rd->pos++];
        if (c == '\n' && cr) {
            line[kept ? n - 1 : n] = '\0';
            return 0;
        }
        cr = c == '\r';
        kept = n + 1 < cap;
        if (kept)
            line[n++] = c;
    }
}

/* n bytes of a bulk string and its "\r\n", kept in t as far as they fit. */
static int read_bulk(reader_t *rd, long long n, text_t *t)
{
    long long left = n + 2;
    while (left > 0) {
        if (fill(rd) != 0)
            return -1;
        size_t take = rd->len - rd->pos;
        if ((long long)take > left)
            take = (size_t)left;
        long long body = left - 2 < (long long)take ? left - 2 : (long long)take;
        if (body > 0)
            text_add(t, rd->buf + rd->pos, (size_t)body);
        rd->pos += take;
        left -= (long long)take;
    }
    return 0;
}

static int read_reply(reader_t *rd, text_t *t, int depth)
{
    char line[1 + 1023 + 1]; /* the type, up to 1023 bytes, the NUL */
    if (depth > 8) {
        errno = EPROTO;
        return -1;
    }
    if (read_line(rd, line, sizeof(line)) != 0)
        return -1;
    long long n = atoll(line + 1);
    switch (line[0]) {
    case '+':
    case ':': text_add(t, line + 1, strlen(line + 1)); return 0;
    case '-':
        text_add(t, "ERR:", 4);
        text_add(t, line + 1, strlen(line + 1));
        return 0;
    case '$':
        if (n < 0) {
            text_add(t, "(nil)", 5);
            return 0;
        }
        return read_bulk(rd, n, t);
    case '*':
        if (n < 0)
            text_add(t, "(nil)", 5);
        for (long long i = 0; i < n; i++) {
            if (i > 0)
                text_add(t, "\n", 1);
            if (read_reply(rd, t, depth + 1) != 0)
                return -1;
        }
        return 0;
    default: errno = EPROTO; return -1;
    }
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* argv as a RESP array of bulk strings. */
static int send_command(int fd, const char *const *argv)
{
    char head[32];
    size_t argc = 0;
    while (argv[argc] != NULL)
        argc++;
    snprintf(head, sizeof(head), "*%zu\r\n", argc);
    if (write_all(fd, head, strlen(head)) != 0)
        return -1;
    for (size_t i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        snprintf(head, sizeof(head), "$%zu\r\n", n);
        if (write_all(fd, head, strlen(head)) != 0 || write_all(fd, argv[i], n) != 0 ||
            write_all(fd, "\r\n", 2) != 0)
            return -1;
    }
    return 0;
}

/* A blocking connection to 127.0.0.1:port whose reads and writes give up after timeout_ms. */
static int connect_to(int port, int timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The command's flattened reply in out; -1 with errno set on failure. */
static int command(int port, int timeout_ms, char *out, size_t cap, const char *const *argv)
{
    reader_t rd = {.fd = connect_to(port, timeout_ms)};
    text_t t = {out, cap, 0};
    out[0] = '\0';
    if (rd.fd < 0)
        return -1;
    int rc = send_command(rd.fd, argv) == 0 && read_reply(&rd, &t, 0) == 0 ? 0 : -1;
    int e = errno;
    close(rd.fd);
    errno = e;
    if (rc != 0)
        out[0] = '\0';
    return rc;
}

int pdt_redis_cmd(const pdt_redis_t *r, char *out, size_t cap, const char *const *argv)
{
    if (cap == 0 || argv == NULL || argv[0] == NULL) {
        fprintf(stderr, "pdt_redis_cmd: no room for the reply or no command\n");
        return -1;
    }
    if (command(r->port, CMD_TIMEOUT_MS, out, cap, argv) == 0)
        return 0;
    fprintf(stderr, "pdt_redis_cmd %s on port %d: %s\n", argv[0], r->port,
            errno == EAGAIN ? "no reply within 5 s" : strerror(errno));
    return -1;
}

/* ---- the process ---- */

int pdt_redis_available(void)
{
    return PDT_REDIS_SERVER_BIN[0] != '\0' && access(PDT_REDIS_SERVER_BIN, X_OK) == 0;
}

void pdt_redis_url(const pdt_redis_t *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "redis://127.0.0.1:%d", r->port);
}

void pdt_redis_dump_log(const pdt_redis_t *r)
{
    pdt_dump_log(r->log_path, "redis-server");
}

/*
 * The config goes in a file rather than on the command line so that the
 * directory shows how the server ran. logfile "" logs to stdout, which
 * pdt_spawn sends to log_path.
 */
static int write_config(const pdt_redis_t *r, char *path, size_t cap)
{
    char text[1024];
    snprintf(path, cap, "%s/redis.conf", r->dir);
    snprintf(text, sizeof(text),
             "bind 127.0.0.1\n"
             "port %d\n"
             "dir %s\n"
             "save \"\"\n"
             "appendonly no\n"
             "protected-mode no\n"
             "daemonize no\n"
             "supervised no\n"
             "logfile \"\"\n"
             "always-show-logo no\n"
             "enable-debug-command local\n",
             r->port, r->dir);
    return pdt_write_file(path, text);
}

/*
 * Marks the start in the log (which also makes sure the file exists before
 * it is watched) and returns an inotify descriptor that becomes readable
 * whenever the server writes to it, or -1.
 */
static int watch_log(const pdt_redis_t *r)
{
    FILE *f = fopen(r->log_path, "a");
    if (f == NULL)
        return -1;
    fprintf(f, "----- pdt_redis: starting on port %d -----\n", r->port);
    fclose(f);
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino >= 0 && inotify_add_watch(ino, r->log_path, IN_MODIFY) < 0) {
        close(ino);
        ino = -1;
    }
    return ino;
}

/* A descriptor that becomes readable when pid exits, or -1 where the kernel has no pidfd. */
static int watch_exit(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    return -1;
#endif
}

/*
 * Sleeps until the log grows, the server exits, or timeout_ms pass. Without
 * one of the two descriptors it looks again every 50 ms instead.
 */
static void wait_event(int ino, int pidfd, uint64_t timeout_ms)
{
    struct pollfd p[2] = {{.fd = ino, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
    if ((ino < 0 || pidfd < 0) && timeout_ms > 50)
        timeout_ms = 50;
    poll(p, 2, (int)timeout_ms);
    char drain[4096];
    while (ino >= 0 && read(ino, drain, sizeof(drain)) > 0)
        ;
}

static int answers_ping(int port)
{
    static const char *const ping[] = {"PING", NULL};
    char out[16];
    return command(port, PING_TIMEOUT_MS, out, sizeof(out), ping) == 0 && strcmp(out, "PONG") == 0;
}

/* 0 once it answers PING; -1 (with *exited set when it exited) after printing why. */
static int wait_ready(pdt_redis_t *r, int ino, int pidfd, int *exited)
{
    uint64_t deadline = pdt_now_ms() + START_TIMEOUT_MS;
    *exited = 0;
    for (;;) {
        if (answers_ping(r->port))
            return 0;
        int code = pdt_wait_exit(r->pid, 0);
        if (code >= 0) {
            r->pid = 0;
            *exited = 1;
            fprintf(stderr, "redis-server exited with %d before answering PING on port %d\n", code,
                    r->port);
            return -1;
        }
        uint64_t now = pdt_now_ms();
        if (now >= deadline) {
            fprintf(stderr, "redis-server did not answer PING on port %d within 10 s\n", r->port);
            return -1;
        }
        wait_event(ino, pidfd, deadline - now);
    }
}

/* Spawns the server on r->port in r->dir and waits until it answers. */
static int launch(pdt_redis_t *r, int *exited)
{
    char conf[96];
    *exited = 0;
    if (mkdir(r->dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir %s: %s\n", r->dir, strerror(errno));
        return -1;
    }
    if (write_config(r, conf, sizeof(conf)) != 0) {
        fprintf(stderr, "cannot write %s\n", conf);
        return -1;
    }
    const char *argv[] = {PDT_REDIS_SERVER_BIN, conf, NULL};
    int ino = watch_log(r);
    pid_t pid = pdt_spawn(argv, NULL, r->log_path);
    if (pid < 0) {
        if (ino >= 0)
            close(ino);
        return -1;
    }
    r->pid = pid;
    int pidfd = watch_exit(pid);
    int rc = wait_ready(r, ino, pidfd, exited);
    if (ino >= 0)
        close(ino);
    if (pidfd >= 0)
        close(pidfd);
    if (rc != 0 && r->pid > 0)
        pdt_redis_kill(r);
    return rc;
}

static int fail_start(pdt_redis_t *r, int remove_dir)
{
    pdt_redis_dump_log(r);
    if (remove_dir) {
        pdt_tmpdir_remove(r->dir);
        r->dir[0] = '\0';
    }
    return -1;
}

int pdt_redis_start(pdt_redis_t *r)
{
    memset(r, 0, sizeof(*r));
    if (!pdt_redis_available()) {
        fprintf(stderr, "redis-server not found (\"%s\"); scripts/deps.sh test installs it\n",
                PDT_REDIS_SERVER_BIN);
        return -1;
    }
    if (pdt_tmpdir(r->dir, sizeof(r->dir)) != 0)
        return -1;
    snprintf(r->log_path, sizeof(r->log_path), "%s/redis.log", r->dir);
    /*
     * The free port is only free when it was looked at; another process may
     * take it first, and then the server exits at once: try a few ports.
     */
    int exited = 1;
    for (int tries = 0; tries < 3 && exited; tries++) {
        r->port = pdt_free_port();
        if (r->port > 0 && launch(r, &exited) == 0)
            return 0;
    }
    return fail_start(r, 1);
}

int pdt_redis_restart(pdt_redis_t *r)
{
    if (r->pid != 0 || r->port <= 0 || r->dir[0] == '\0') {
        fprintf(stderr, "pdt_redis_restart: %s\n",
                r->pid != 0 ? "redis-server is still running" : "it was never started");
        return -1;
    }
    int exited;
    if (launch(r, &exited) == 0)
        return 0;
    return fail_start(r, 0);
}

void pdt_redis_kill(pdt_redis_t *r)
{
    if (r->pid <= 0)
        return;
    pdt_kill(r->pid, SIGKILL, 5000);
    r->pid = 0;
}

void pdt_redis_stop(pdt_redis_t *r)
{
    if (r->pid > 0) {
        int code = pdt_kill(r->pid, SIGTERM, 10000);
        if (code != 0)
            fprintf(stderr, "redis-server on port %d exited with %d on SIGTERM\n", r->port, code);
        r->pid = 0;
    }
    pdt_tmpdir_remove(r->dir);
}
