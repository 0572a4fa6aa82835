#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/jwt.h"

#ifndef PRESENCED_BIN
#error "PRESENCED_BIN must name the presenced binary"
#endif

/* ---- Processes. ---- */

/*
 * Every process this program started, so the watchdog's signal handler can
 * kill them; a handler cannot be given a context, hence the global (tests
 * only).
 */
#define MAX_PROCS 32
static volatile pid_t procs[MAX_PROCS];

static void track(pid_t pid, pid_t old)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (procs[i] == old) {
            procs[i] = pid;
            return;
        }
    }
}

static void on_alarm(int sig)
{
    static const char msg[] = "\n*** client test timed out; killing its processes ***\n";
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] > 0)
            kill(procs[i], SIGKILL);
    if (write(2, msg, sizeof msg - 1) < 0)
        _exit(1);
    _exit(1);
}

void ct_watchdog(unsigned seconds)
{
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(seconds);
}

uint64_t ct_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void child(const char *const *argv, int out, const char *log_path)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int log = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null = open("/dev/null", O_RDONLY);
    if (log < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out >= 0 ? out : log, 1) < 0 ||
        dup2(log, 2) < 0)
        _exit(126);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

pid_t ct_spawn(const char *const *argv, int *out_fd, const char *log_path)
{
    int fds[2] = {-1, -1};
    if (out_fd && pipe2(fds, O_CLOEXEC) != 0)
        fail_msg("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0)
        child(argv, fds[1], log_path);
    track(pid, 0);
    if (out_fd) {
        close(fds[1]);
        *out_fd = fds[0];
    }
    return pid;
}

int ct_wait_exit(pid_t pid, int timeout_ms)
{
    uint64_t deadline = ct_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            track(0, pid);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (r < 0 || ct_now_ms() > deadline)
            return -1;
        usleep(2000);
    }
}

int ct_kill(pid_t pid, int sig, int timeout_ms)
{
    kill(pid, sig);
    int code = ct_wait_exit(pid, timeout_ms);
    if (code < 0) {
        kill(pid, SIGKILL);
        ct_wait_exit(pid, 5000);
    }
    return code;
}

void ct_tmpdir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/presence-test-XXXXXX");
    if (!mkdtemp(out))
        fail_msg("mkdtemp: %s", strerror(errno));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

void ct_tmpdir_remove(const char *dir)
{
    if (dir[0])
        nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

void ct_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        fail_msg("cannot write %s", path);
}

int ct_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("cannot find a free port");
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- presenced. ---- */

static int read_port(const char *path)
{
    char text[32] = {0};
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    return n > 0 && text[n - 1] == '\n' ? atoi(text) : 0;
}

static void server_files(ct_server_t *s)
{
    if (s->dir[0])
        return;
    ct_tmpdir(s->dir, sizeof s->dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->dir);
    snprintf(s->port_path, sizeof s->port_path, "%s/port", s->dir);
    snprintf(s->secret_path, sizeof s->secret_path, "%s/secret", s->dir);
    ct_write_file(s->secret_path, CT_SECRET "\n");
}

static void server_wait_port(ct_server_t *s)
{
    uint64_t deadline = ct_now_ms() + 10000;
    while (ct_now_ms() < deadline) {
        int port = read_port(s->port_path);
        if (port > 0) {
            s->port = port;
            return;
        }
        usleep(5000);
    }
    ct_server_cleanup(s, 1);
    fail_msg("presenced did not listen within 10 s");
}

void ct_server_start(ct_server_t *s, int port, const char *const *extra)
{
    server_files(s);
    unlink(s->port_path);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port ? port : s->port);
    const char *argv[48] = {PRESENCED_BIN, "--listen", listen, "--port-file", s->port_path,
                            "--jwt-secret-file", s->secret_path, "--log-level", "warn"};
    size_t n = 9;
    for (size_t i = 0; extra && extra[i] && n + 1 < 48; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    s->pid = ct_spawn(argv, NULL, s->log_path);
    server_wait_port(s);
}

void ct_server_kill(ct_server_t *s, uv_loop_t *loop, int sig)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, sig);
    /*
     * The clients on loop keep running while the server goes: a drain waits
     * for their answers to its close frames, and their own timers keep
     * counting. A loop frozen here would see the drain's full timeout pass
     * at once, pong timeouts included, before reading the close frames.
     */
    uint64_t deadline = ct_now_ms() + 10000;
    while (ct_wait_exit(s->pid, 0) < 0) {
        if (ct_now_ms() > deadline) {
            ct_kill(s->pid, SIGKILL, 5000);
            s->pid = 0;
            fail_msg("presenced did not exit within 10 s of signal %d", sig);
        }
        if (loop)
            ct_pump(loop, 5);
        else
            usleep(2000);
    }
    s->pid = 0;
}

static void dump_log(const char *path)
{
    char line[1024];
    FILE *f = fopen(path, "r");
    fprintf(stderr, "----- %s -----\n", path);
    while (f && fgets(line, sizeof line, f))
        fputs(line, stderr);
    if (f)
        fclose(f);
    fprintf(stderr, "----- end -----\n");
}

void ct_server_cleanup(ct_server_t *s, int dump)
{
    ct_server_kill(s, NULL, SIGKILL);
    if (dump && s->dir[0])
        dump_log(s->log_path);
    ct_tmpdir_remove(s->dir);
    s->dir[0] = '\0';
}

const char *ct_server_url(const ct_server_t *s)
{
    static char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", s->port);
    return url;
}

/* ---- Tokens. ---- */

char *ct_token(const char *user, const char *name, const char *workspace, int64_t ttl_s)
{
    char room[160];
    snprintf(room, sizeof room, "presence-%s", workspace);
    int64_t now = (int64_t)time(NULL);
    return pd_jwt_mint_hs256((const unsigned char *)CT_SECRET, strlen(CT_SECRET), user, name,
                             NULL, room, now, now + ttl_s);
}

/* ---- The loop. ---- */

static void on_pump_timer(uv_timer_t *t)
{
}

void ct_pump(uv_loop_t *loop, int ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_pump_timer, (uint64_t)ms, 0);
    uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

void ct_run_for(uv_loop_t *loop, int ms)
{
    if (ms <= 0)
        return;
    uint64_t end = ct_now_ms() + (uint64_t)ms;
    while (ct_now_ms() < end)
        ct_pump(loop, (int)(end - ct_now_ms()));
}

/* ---- The recording client. ---- */

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void on_event(presence_client_t *c, const presence_event_t *ev, void *data)
{
    ct_client_t *cc = data;
    if (cc->n_events == CT_MAX_EVENTS)
        fail_msg("%s: more than %d events", cc->user, CT_MAX_EVENTS);
    ct_event_t *e = &cc->events[cc->n_events++];
    e->type = ev->type;
    e->reason = ev->reason;
    e->retry_ms = ev->retry_ms;
    e->at_ms = ct_now_ms();
    copy_str(e->user_id, sizeof e->user_id, ev->user ? ev->user->user_id : NULL);
    copy_str(e->path, sizeof e->path, ev->user ? ev->user->current_path : NULL);
    copy_str(e->detail, sizeof e->detail, ev->detail);
    copy_str(e->code, sizeof e->code, ev->code);
}

static void on_token(presence_client_t *c, presence_token_reason_t why, void *data)
{
    ct_client_t *cc = data;
    cc->token_calls++;
    if (why == PRESENCE_TOKEN_REFRESH)
        cc->refresh_calls++;
    if (cc->no_answer)
        return;
    char *token = cc->token_fn ? cc->token_fn(cc, why)
                               : ct_token(cc->user, cc->name, cc->workspace, cc->ttl_s);
    if (token == CT_TOKEN_LATER)
        return;
    presence_client_token(c, token);
    free(token);
}

void ct_fast_options(presence_options_t *o)
{
    o->backoff_min_ms = 20;
    o->backoff_first_ms = 100;
    o->backoff_max_ms = 400;
    o->backoff_growth = 2.0;
    o->backoff_reset_ms = 1000;
    o->connect_timeout_ms = 3000;
    o->ping_interval_ms = 500;
    o->pong_timeout_ms = 3000;
}

ct_client_t *ct_client_new(uv_loop_t *loop, const char *url, const char *workspace,
                           const char *user, void (*tweak)(presence_options_t *o, void *arg),
                           void *arg)
{
    ct_client_t *cc = calloc(1, sizeof *cc);
    cc->loop = loop;
    cc->ttl_s = 3600;
    copy_str(cc->user, sizeof cc->user, user);
    snprintf(cc->name, sizeof cc->name, "Name of %s", user);
    copy_str(cc->workspace, sizeof cc->workspace, workspace);
    presence_options_t o;
    presence_options_init(&o);
    ct_fast_options(&o);
    o.url = url;
    o.workspace = workspace;
    o.token_cb = on_token;
    o.event_cb = on_event;
    o.data = cc;
    if (tweak)
        tweak(&o, arg);
    char err[256];
    int r = presence_client_new(&cc->c, loop, &o, err, sizeof err);
    if (r != 0)
        fail_msg("presence_client_new: %s (%s)", presence_strerror(r), err);
    cc->data = arg;
    assert_int_equal(presence_client_start(cc->c), 0);
    return cc;
}

static void on_closed(presence_client_t *c, void *data)
{
    ct_client_t *cc = data;
    cc->closed = 1;
}

void ct_client_close(ct_client_t *cc)
{
    if (!cc)
        return;
    presence_client_close(cc->c, on_closed);
    CT_WAIT(cc->loop, cc->closed, 10000);
    free(cc);
}

int ct_count(const ct_client_t *cc, presence_event_type_t type)
{
    int n = 0;
    for (size_t i = 0; i < cc->n_events; i++)
        n += cc->events[i].type == type;
    return n;
}

const ct_event_t *ct_last(const ct_client_t *cc, presence_event_type_t type)
{
    for (size_t i = cc->n_events; i > 0; i--)
        if (cc->events[i - 1].type == type)
            return &cc->events[i - 1];
    return NULL;
}

const char *ct_where(const ct_client_t *cc, const char *user)
{
    static char bufs[4][600];
    static int next;
    char *out = bufs[next++ % 4];
    const presence_user_t *u = presence_client_user(cc->c, user);
    if (!u)
        return "-";
    snprintf(out, sizeof bufs[0], "%s|%s|%s", u->current_path,
             u->resource_type ? u->resource_type : "", u->resource_id ? u->resource_id : "");
    return out;
}

static void on_follow(presence_client_t *c, presence_follow_status_t status,
                      const presence_user_t *u, void *data)
{
    ct_client_t *cc = data;
    if (cc->n_follows == CT_MAX_EVENTS)
        fail_msg("too many follow notifications");
    ct_follow_t *f = &cc->follows[cc->n_follows++];
    f->status = status;
    copy_str(f->path, sizeof f->path, u ? u->current_path : NULL);
    copy_str(f->user_id, sizeof f->user_id, u ? u->user_id : NULL);
}

int ct_follow_try(ct_client_t *cc, const char *user)
{
    return presence_client_follow(cc->c, user, on_follow, cc);
}

void ct_follow(ct_client_t *cc, const char *user)
{
    int r = ct_follow_try(cc, user);
    if (r != 0)
        fail_msg("follow %s: %s", user, presence_strerror(r));
}
