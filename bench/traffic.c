/*
 * The steady members' traffic: updates sent on a schedule, each carrying
 * its sender's member number and sequence number in currentPath and its
 * send time in resourceId; and the accounting of what arrives: latency of
 * every delivery sent in the measured time, and the last sequence number
 * seen from every other member, which the final check compares with what
 * each member really sent last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "procstat.h"
#include "proto/proto.h"
#include "worker.h"

#define PATH_KEY "\"currentPath\":\"/w/bench/d/"
#define TS_KEY "\"resourceId\":\""
#define QUIET_NS 300000000ull /* no delivery for this long: the step is over */
#define STEP_DRAIN_MAX_NS 5000000000ull
#define CHECK_QUIET_NS 1000000000ull
#define CHECK_MAX_NS 30000000000ull

/* Reads decimal digits at *p; returns 0 when there are none. */
static int scan_uint(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    if (s == *p)
        return 0;
    *p = s;
    *out = v;
    return 1;
}

/*
 * Finds the next "/w/bench/d/<member>/<seq>" path from *p. Returns 1 with
 * *p after it, 0 when there is none.
 */
static int next_path(const char **p, const char *end, uint64_t *member, uint64_t *seq)
{
    const char *s = memmem(*p, (size_t)(end - *p), PATH_KEY, sizeof(PATH_KEY) - 1);
    if (!s)
        return 0;
    s += sizeof(PATH_KEY) - 1;
    *p = s;
    *member = *seq = UINT64_MAX;
    if (scan_uint(p, end, member) && *p < end && **p == '/') {
        (*p)++;
        scan_uint(p, end, seq);
    }
    return 1;
}

static void note_seen(lg_worker_t *w, lg_member_t *m, uint64_t member, uint64_t seq)
{
    if (m->seen && member < w->cfg->members && seq <= UINT16_MAX)
        m->seen[member] = (uint16_t)seq;
}

static void on_changed(lg_worker_t *w, lg_member_t *m, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    uint64_t member, seq, ts;
    uint64_t now = w->net->read_ns;
    w->rep.changed_total++;
    w->last_changed_ns = now;
    if (!next_path(&p, end, &member, &seq))
        return;
    note_seen(w, m, member, seq);
    const char *t = memmem(p, (size_t)(end - p), TS_KEY, sizeof(TS_KEY) - 1);
    if (!t)
        return;
    t += sizeof(TS_KEY) - 1;
    if (!scan_uint(&t, end, &ts) || ts < w->step.t_measure || ts >= w->step.t_end)
        return;
    w->rep.deliveries++;
    lg_hist_record(&w->rep.latency, now > ts ? now - ts : 0);
}

/* A snapshot replaces what the member knew (a resync after falling behind). */
static void on_snapshot(lg_worker_t *w, lg_member_t *m, const char *data, size_t len)
{
    if (!m->admitted)
        lg_worker_admitted(w, m);
    else
        w->rep.resyncs++;
    if (!m->seen)
        return;
    const char *p = data, *end = data + len;
    uint64_t member, seq;
    while (next_path(&p, end, &member, &seq))
        note_seen(w, m, member, seq);
}

void lg_traffic_text(lg_worker_t *w, lg_member_t *m, const char *data, size_t len)
{
    if (lg_has_prefix(data, len, "{\"type\":\"presence_changed\""))
        on_changed(w, m, data, len);
    else if (lg_has_prefix(data, len, "{\"type\":\"presence_snapshot\""))
        on_snapshot(w, m, data, len);
    else if (lg_has_prefix(data, len, "{\"type\":\"user_joined\""))
        w->rep.joined++;
    else if (lg_has_prefix(data, len, "{\"type\":\"user_left\""))
        w->rep.left++;
    /* presenced's second form of the same leave (--leave-messages): not a second one. */
    else if (!lg_has_prefix(data, len, "{\"type\":\"pong\"") &&
             !lg_has_prefix(data, len, "{\"type\":\"user_left_presence\""))
        lg_worker_note_error(w, data, len);
}

/* ---- sending --------------------------------------------------------- */

static void send_update(lg_worker_t *w, lg_member_t *m)
{
    char path[64], ts[32];
    uint16_t seq = m->seq == UINT16_MAX ? 1 : (uint16_t)(m->seq + 1);
    snprintf(path, sizeof(path), "/w/bench/d/%u/%u", m->index, seq);
    uint64_t now = uv_hrtime();
    snprintf(ts, sizeof(ts), "%llu", (unsigned long long)now);
    pd_proto_location_t loc = {pd_slice_cstr(path), PD_SLICE_LIT("document"), pd_slice_cstr(ts)};
    pd_buf_reset(&w->scratch);
    pd_proto_enc_presence_update(&w->scratch, &loc);
    if (lg_conn_send_text(&m->conn, w->scratch.base, w->scratch.len) != 0)
        return;
    m->seq = seq;
    w->rep.sent++;
    if (now >= w->step.t_measure && now < w->step.t_end)
        w->rep.sent_window++;
}

/* The next open member, round robin; NULL when none is open. */
static lg_member_t *next_sender(lg_worker_t *w)
{
    for (uint32_t i = 0; i < w->n_members; i++) {
        lg_member_t *m = &w->members[w->cursor];
        w->cursor = (w->cursor + 1) % w->n_members;
        if (m->admitted && m->conn.state == LG_OPEN)
            return m;
    }
    return NULL;
}

static void mark_window(lg_worker_t *w, uint64_t now)
{
    if (w->measuring == 0 && now >= w->step.t_measure) {
        w->measuring = 1;
        w->cpu_mark = lg_self_cpu();
    }
    if (w->measuring == 1 && now >= w->step.t_end) {
        w->measuring = 2;
        w->rep.cpu_window_s = lg_self_cpu() - w->cpu_mark;
    }
}

static void on_drain_check(uv_timer_t *t)
{
    lg_worker_t *w = t->data;
    uint64_t now = uv_hrtime();
    uint64_t last = w->last_changed_ns > w->step.t_end ? w->last_changed_ns : w->step.t_end;
    int quiet = now - last >= QUIET_NS && pd_list_empty(&w->churners);
    if (!quiet && now < w->step.t_end + STEP_DRAIN_MAX_NS)
        return;
    uv_timer_stop(t);
    lg_worker_report(w, LG_CMD_STEP);
}

static void on_send_tick(uv_timer_t *t)
{
    lg_worker_t *w = t->data;
    uint64_t now = uv_hrtime();
    if (now < w->step.t_start)
        return;
    mark_window(w, now);
    if (now >= w->step.t_end) {
        uv_timer_stop(t);
        uv_timer_start(&w->wait_timer, on_drain_check, 50, 50);
        return;
    }
    double total = w->step.rate * (double)w->n_members;
    uint64_t due = (uint64_t)((double)(now - w->step.t_start) * total / 1e9);
    if (due <= w->step_sent)
        return;
    uint64_t scheduled = w->step.t_start + (uint64_t)((double)(w->step_sent + 1) * 1e9 / total);
    if (now > scheduled && now - scheduled > w->rep.max_lag_ns)
        w->rep.max_lag_ns = now - scheduled;
    while (w->step_sent < due) {
        lg_member_t *m = next_sender(w);
        w->step_sent++;
        if (m)
            send_update(w, m);
    }
}

void lg_traffic_step(lg_worker_t *w, const lg_cmd_t *cmd)
{
    w->step = *cmd;
    w->step_sent = 0;
    w->measuring = 0;
    w->last_changed_ns = 0;
    uv_timer_start(&w->send_timer, on_send_tick, 1, 1);
    if (w->cfg->scenario == LG_CHURN)
        lg_churn_start(w);
}

/* ---- the final check ------------------------------------------------- */

static size_t table_len(const lg_cfg_t *cfg)
{
    return (size_t)cfg->rooms * cfg->members;
}

void lg_traffic_report_last(lg_worker_t *w)
{
    size_t n = table_len(w->cfg);
    uint16_t *table = pd_calloc(n, sizeof(*table));
    for (uint32_t k = 0; k < w->n_members; k++) {
        const lg_member_t *m = &w->members[k];
        table[(size_t)m->room * w->cfg->members + m->index] = m->seq;
    }
    lg_worker_report(w, LG_CMD_LAST);
    if (lg_write_full(w->rep_fd, table, n * sizeof(*table)) != 0)
        _exit(1);
    free(table);
}

/* Counts (receiver, sender) pairs whose last seen update is not the last sent. */
static uint64_t count_lost(const lg_worker_t *w, const uint16_t *table, uint64_t *checked)
{
    uint64_t lost = 0, pairs = 0;
    uint32_t mc = w->cfg->members;
    for (uint32_t k = 0; k < w->n_members; k++) {
        const lg_member_t *m = &w->members[k];
        const uint16_t *want = table + (size_t)m->room * mc;
        if (!m->admitted)
            continue;
        for (uint32_t s = 0; s < mc; s++)
            lost += s != m->index && m->seen[s] != want[s];
        pairs += mc - 1;
    }
    *checked = pairs;
    return lost;
}

static void on_check_tick(uv_timer_t *t)
{
    lg_worker_t *w = t->data;
    uint64_t now = uv_hrtime();
    uint64_t checked;
    uint64_t lost = count_lost(w, w->last_table, &checked);
    uint64_t last = w->last_changed_ns > w->check_t0 ? w->last_changed_ns : w->check_t0;
    int settled = lost == 0 || now - last >= CHECK_QUIET_NS;
    if (!settled && now - w->check_t0 < CHECK_MAX_NS)
        return;
    uv_timer_stop(t);
    w->rep.lost = lost;
    w->rep.checked = checked;
    w->rep.settle_ms = (now - w->check_t0) / 1000000;
    free(w->last_table);
    w->last_table = NULL;
    lg_worker_report(w, LG_CMD_CHECK);
}

/*
 * The table follows the command on the pipe. Updates may still be on their
 * way, so the check is repeated until everything matches or nothing has
 * arrived for a while.
 */
void lg_traffic_check(lg_worker_t *w)
{
    size_t n = table_len(w->cfg);
    w->last_table = pd_malloc(n * sizeof(*w->last_table));
    if (lg_read_full(w->cmd_fd, w->last_table, n * sizeof(*w->last_table)) != 0)
        _exit(0);
    w->check_t0 = uv_hrtime();
    uv_timer_start(&w->wait_timer, on_check_tick, 0, 100);
}
