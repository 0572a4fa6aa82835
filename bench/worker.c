/*
 * A worker process: one libuv loop holding its share of the connections.
 * It connects its steady members a window at a time, then obeys the
 * parent's commands and reports after each.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "auth/jwt.h"
#include "base/mem.h"
#include "procstat.h"
#include "worker.h"

_Static_assert(LG_MAX_NODES <= LG_NET_MAX_SERVERS, "a node the client cannot reach");

/* Waits until fd is readable: uv_poll_init() made the command pipe non-blocking. */
static void wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    poll(&pfd, 1, -1);
}

int lg_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EAGAIN)
            wait_readable(fd);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int lg_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void lg_worker_note_error(lg_worker_t *w, const char *what, size_t len)
{
    w->rep.errors++;
    if (w->rep.first_error[0])
        return;
    if (len >= sizeof(w->rep.first_error))
        len = sizeof(w->rep.first_error) - 1;
    memcpy(w->rep.first_error, what, len);
    w->rep.first_error[len] = '\0';
}

void lg_worker_note_end(lg_worker_t *w, const lg_conn_t *c)
{
    char msg[96];
    int n = snprintf(msg, sizeof(msg), "%s (%u)", lg_end_reason(c->err), c->close_code);
    lg_worker_note_error(w, msg, (size_t)n);
}

void lg_worker_report(lg_worker_t *w, uint32_t op)
{
    w->rep.op = op;
    w->rep.worker = w->index;
    w->rep.cpu_total_s = lg_self_cpu();
    if (lg_write_full(w->rep_fd, &w->rep, sizeof(w->rep)) != 0)
        _exit(1);
    w->rep.sent_window = w->rep.deliveries = w->rep.max_lag_ns = 0;
    w->rep.cpu_window_s = 0;
    lg_hist_reset(&w->rep.latency);
    lg_hist_reset(&w->rep.join);
}

/* ---- connecting ------------------------------------------------------ */

static void user_of(const lg_member_t *m, unsigned worker, char sub[48], char name[48])
{
    static const char prefix[] = {'u', 'c', 'o'};
    snprintf(sub, 48, "%c%u-%u-%u", prefix[m->kind], m->room, m->index,
             m->kind == LG_KIND_MEMBER ? 0 : worker);
    snprintf(name, 48, "User %u-%u", m->room, m->index);
}

/* The request target with a fresh token for m's user and room. */
static void make_target(lg_worker_t *w, const lg_member_t *m, char *out, size_t cap)
{
    char sub[48], name[48], room[48];
    user_of(m, w->index, sub, name);
    snprintf(room, sizeof(room), "presence-bench%u", m->room);
    int64_t now = (int64_t)time(NULL);
    char *token = pd_jwt_mint_hs256(w->cfg->secret, w->cfg->secret_len, sub, name, NULL, room,
                                    now - 10, now + 6 * 3600);
    snprintf(out, cap, "/parties/presence/bench%u?token=%s", m->room, token ? token : "");
    free(token);
}

static int start_conn(lg_worker_t *w, lg_member_t *m)
{
    char target[1024];
    make_target(w, m, target, sizeof(target));
    m->w = w;
    m->admitted = m->leaving = 0;
    m->conn.data = m;
    m->t_connect = uv_hrtime();
    if (!w->rep.t_first_connect)
        w->rep.t_first_connect = m->t_connect;
    unsigned src = m->room * 7919u + m->index * 31u + (unsigned)m->kind;
    int r = lg_conn_start(w->net, &m->conn, m->node, src, target);
    if (r < 0) {
        char msg[96];
        int n = snprintf(msg, sizeof(msg), "socket: %s", uv_strerror(r));
        lg_worker_note_error(w, msg, (size_t)n);
    }
    return r;
}

static void maybe_report_connected(lg_worker_t *w)
{
    if (w->connect_reported || w->connecting || w->next_connect < w->n_members)
        return;
    w->connect_reported = 1;
    lg_worker_report(w, LG_REP_CONNECTED);
}

static void connect_more(lg_worker_t *w)
{
    while (w->connecting < w->cfg->connect_window && w->next_connect < w->n_members) {
        lg_member_t *m = &w->members[w->next_connect++];
        if (start_conn(w, m) < 0)
            w->rep.failed++;
        else
            w->connecting++;
    }
    maybe_report_connected(w);
}

void lg_worker_connect(lg_worker_t *w, lg_member_t *m)
{
    if (start_conn(w, m) < 0)
        lg_churn_ended(w, m);
}

void lg_worker_admitted(lg_worker_t *w, lg_member_t *m)
{
    m->admitted = 1;
    w->rep.admitted++;
    w->rep.t_last_admit = w->net->read_ns;
    lg_hist_record(&w->rep.join, w->net->read_ns - m->t_connect);
    w->connecting--;
    connect_more(w);
}

/* ---- connection events ----------------------------------------------- */

static void on_text(void *ud, lg_conn_t *c, const char *data, size_t len)
{
    lg_member_t *m = c->data;
    if (m->kind == LG_KIND_MEMBER)
        lg_traffic_text(m->w, m, data, len);
    else
        lg_churn_text(m->w, m, data, len);
}

static void on_end(void *ud, lg_conn_t *c, int err)
{
    lg_member_t *m = c->data;
    lg_worker_t *w = m->w;
    if (m->kind != LG_KIND_MEMBER) {
        lg_churn_ended(w, m);
        return;
    }
    if (m->leaving)
        return;
    lg_worker_note_end(w, c);
    if (m->admitted) {
        w->rep.dropped++;
        return;
    }
    w->rep.failed++;
    w->connecting--;
    connect_more(w);
}

static const lg_conn_ops_t conn_ops = {on_text, on_end};

/* ---- commands -------------------------------------------------------- */

static void on_cmd(uv_poll_t *p, int status, int events)
{
    lg_worker_t *w = p->data;
    lg_cmd_t cmd;
    if (lg_read_full(w->cmd_fd, &cmd, sizeof(cmd)) != 0)
        _exit(0); /* the parent is gone */
    switch (cmd.op) {
    case LG_CMD_STEP: lg_traffic_step(w, &cmd); break;
    case LG_CMD_LAST: lg_traffic_report_last(w); break;
    case LG_CMD_CHECK: lg_traffic_check(w); break;
    case LG_CMD_GHOSTS: lg_ghosts_start(w); break;
    default: _exit(0);
    }
}

/* ---- setup ----------------------------------------------------------- */

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Worker index owns the members whose global number g has g % procs == index. */
static void make_members(lg_worker_t *w)
{
    const lg_cfg_t *cfg = w->cfg;
    uint32_t total = cfg->rooms * cfg->members;
    w->n_members = total / cfg->procs + (w->index < total % cfg->procs);
    w->members = pd_calloc(w->n_members ? w->n_members : 1, sizeof(*w->members));
    for (uint32_t k = 0; k < w->n_members; k++) {
        lg_member_t *m = &w->members[k];
        uint32_t g = w->index + k * cfg->procs;
        m->room = g / cfg->members;
        m->index = g % cfg->members;
        m->kind = LG_KIND_MEMBER;
        m->node = (uint8_t)(m->index % cfg->nodes);
        if (cfg->scenario != LG_IDLE)
            m->seen = pd_calloc(cfg->members, sizeof(*m->seen));
    }
}

static void init_handles(lg_worker_t *w)
{
    uv_loop_init(&w->loop);
    uv_poll_init(&w->loop, &w->cmd_poll, w->cmd_fd);
    uv_timer_init(&w->loop, &w->send_timer);
    uv_timer_init(&w->loop, &w->wait_timer);
    uv_timer_init(&w->loop, &w->churn_timer);
    w->cmd_poll.data = w->send_timer.data = w->wait_timer.data = w->churn_timer.data = w;
    uv_poll_start(&w->cmd_poll, UV_READABLE, on_cmd);
}

void lg_worker_main(const lg_cfg_t *cfg, unsigned index, int cmd_fd, int rep_fd)
{
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    alarm((unsigned)cfg->timeout_s + 5);
    raise_fd_limit();
    lg_worker_t *w = pd_calloc(1, sizeof(*w));
    w->cfg = cfg;
    w->index = index;
    w->cmd_fd = cmd_fd;
    w->rep_fd = rep_fd;
    pd_list_init(&w->churners);
    init_handles(w);
    w->net = pd_malloc(sizeof(*w->net));
    lg_net_init(w->net, &w->loop, cfg->ports, cfg->nodes, cfg->n_src,
                uv_hrtime() ^ ((uint64_t)index << 32), &conn_ops, w);
    make_members(w);
    connect_more(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    _exit(0);
}
