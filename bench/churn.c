/*
 * Churn: short-lived connections that join a room, stay a moment and leave,
 * some with a close frame and some by dropping the socket (as a closed
 * laptop does), while the steady members keep updating. Afterwards the
 * ghost check connects an observer to every room (through every node of a
 * cluster) until its snapshot holds exactly the steady members: a churner
 * still listed is a ghost.
 */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "worker.h"

#define CHURN_TICK_MS 5
#define CHURN_CONNECT_TIMEOUT_NS 10000000000ull
#define GHOST_RETRY_MS 250
#define GHOST_MAX_NS 20000000000ull

/* Whether churner serial drops its socket instead of closing cleanly. */
static int abrupt(const lg_worker_t *w, uint64_t serial)
{
    uint64_t h = (serial * 2654435761u) % 1000;
    return (double)h < w->cfg->churn_abrupt * 1000.0;
}

static void open_churner(lg_worker_t *w)
{
    lg_member_t *m = pd_calloc(1, sizeof(*m));
    uint64_t serial = w->churn_serial++;
    m->kind = LG_KIND_CHURNER;
    m->index = (uint32_t)serial;
    uint64_t g = serial * w->cfg->procs + w->index;
    m->room = (uint32_t)(g % w->cfg->rooms);
    m->node = (uint8_t)(g / w->cfg->rooms % w->cfg->nodes); /* each room's churners on every node */
    pd_list_push_back(&w->churners, &m->link);
    lg_worker_connect(w, m);
}

/* Closes the churners whose time is up, and those that never got in. */
static void leave_due(lg_worker_t *w, uint64_t now)
{
    pd_list_foreach_safe(it, tmp, &w->churners)
    {
        lg_member_t *m = pd_container_of(it, lg_member_t, link);
        if (m->leaving)
            continue;
        uint64_t deadline = m->admitted ? m->t_leave : m->t_connect + CHURN_CONNECT_TIMEOUT_NS;
        if (now >= deadline) {
            m->leaving = 1;
            lg_conn_close(&m->conn, !abrupt(w, m->index));
        }
    }
}

static void on_churn_tick(uv_timer_t *t)
{
    lg_worker_t *w = t->data;
    uint64_t now = uv_hrtime();
    if (now < w->step.t_start)
        return;
    if (now < w->step.t_end) {
        double per_worker = w->cfg->churn_rate / w->cfg->procs;
        uint64_t due = (uint64_t)((double)(now - w->step.t_start) * per_worker / 1e9);
        while (w->churn_serial < due)
            open_churner(w);
    }
    leave_due(w, now);
    if (now >= w->step.t_end && pd_list_empty(&w->churners))
        uv_timer_stop(t);
}

void lg_churn_start(lg_worker_t *w)
{
    w->churn_serial = 0;
    uv_timer_start(&w->churn_timer, on_churn_tick, CHURN_TICK_MS, CHURN_TICK_MS);
}

/* ---- the ghost check ------------------------------------------------- */

/* Counts the entries of a snapshot's users array whose userId starts with c. */
static unsigned count_users(const char *data, size_t len, char c)
{
    const char *end = data + len;
    const char *p = memmem(data, len, "\"users\":[", 9);
    char key[] = "\"userId\":\"?";
    key[sizeof(key) - 2] = c;
    unsigned n = 0;
    while (p && (p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
        n++;
        p += sizeof(key) - 1;
    }
    return n;
}

static void observe(lg_worker_t *w, lg_member_t *m, const char *data, size_t len)
{
    unsigned ghosts = count_users(data, len, 'c');
    unsigned steady = count_users(data, len, 'u');
    w->rep.ghosts += ghosts;
    if (steady < w->cfg->members)
        w->rep.missing += w->cfg->members - steady;
    m->leaving = 1;
    lg_conn_close(&m->conn, 1);
}

static void ghost_round(lg_worker_t *w);

static void on_ghost_retry(uv_timer_t *t)
{
    ghost_round(t->data);
}

/* Every observer of a round has gone: done, or look again shortly. */
static void round_over(lg_worker_t *w)
{
    uint64_t now = uv_hrtime();
    int clean = w->rep.ghosts == 0 && w->rep.missing == 0 && !w->ghost_round_bad;
    if (clean || now >= w->ghost_deadline) {
        w->rep.settle_ms = (now - w->ghost_t0) / 1000000;
        lg_worker_report(w, LG_CMD_GHOSTS);
        return;
    }
    uv_timer_start(&w->wait_timer, on_ghost_retry, GHOST_RETRY_MS, 0);
}

static void ghost_round(lg_worker_t *w)
{
    w->rep.ghosts = w->rep.missing = 0;
    w->ghost_round_bad = 0;
    w->observers = w->cfg->rooms * w->cfg->nodes;
    for (uint32_t r = 0; r < w->cfg->rooms; r++) {
        for (unsigned node = 0; node < w->cfg->nodes; node++) {
            lg_member_t *m = pd_calloc(1, sizeof(*m));
            m->kind = LG_KIND_OBSERVER;
            m->room = r;
            m->node = (uint8_t)node;
            m->index = (uint32_t)w->churn_serial++;
            lg_worker_connect(w, m);
        }
    }
}

void lg_ghosts_start(lg_worker_t *w)
{
    w->ghost_t0 = uv_hrtime();
    w->ghost_deadline = w->ghost_t0 + GHOST_MAX_NS;
    ghost_round(w);
}

/* ---- events ---------------------------------------------------------- */

void lg_churn_text(lg_worker_t *w, lg_member_t *m, const char *data, size_t len)
{
    if (m->admitted || !lg_has_prefix(data, len, "{\"type\":\"presence_snapshot\""))
        return;
    m->admitted = 1;
    if (m->kind == LG_KIND_OBSERVER) {
        observe(w, m, data, len);
        return;
    }
    w->rep.churn_opened++;
    lg_hist_record(&w->rep.join, w->net->read_ns - m->t_connect);
    m->t_leave = w->net->read_ns + (uint64_t)(w->cfg->churn_hold_s * 1e9);
}

void lg_churn_ended(lg_worker_t *w, lg_member_t *m)
{
    if (m->kind == LG_KIND_OBSERVER) {
        w->ghost_round_bad |= !m->admitted;
        free(m);
        if (--w->observers == 0)
            round_over(w);
        return;
    }
    pd_list_remove(&m->link);
    if (m->admitted) {
        w->rep.churn_closed++;
    } else {
        w->rep.churn_failed++;
        lg_worker_note_end(w, &m->conn);
    }
    free(m);
}
