/*
 * The threads, the hash that places a room on one of them, and the inboxes
 * through which they talk. An inbox's mutex is held only to link or unlink
 * messages; uv_async_send() coalesces wake-ups, so a wake drains the whole
 * list rather than expecting one callback per message.
 */
#include "shard.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../base/mem.h"
#include "conn.h"
#include "server_state.h"

unsigned pd_shard_default_count(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 1;
    int n = CPU_COUNT(&set);
    return n < 1 ? 1 : n > PD_MAX_THREADS ? PD_MAX_THREADS : (unsigned)n;
}

/* FNV-1a: stable across runs and builds, so a room's owner never depends on a seed. */
unsigned pd_shard_of(const pd_proc_t *proc, pd_slice_t room_id)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < room_id.len; i++) {
        h ^= (unsigned char)room_id.base[i];
        h *= 1099511628211ull;
    }
    return proc->n > 1 ? (unsigned)(h % proc->n) : 0;
}

/* ---- asks -------------------------------------------------------------- */

static void ask_free(pd_ask_t *ask)
{
    for (unsigned i = 0; i < ask->n; i++)
        pd_buf_free(&ask->reports[i].text);
    free(ask);
}

static void ask_answer(pd_ask_t *ask)
{
    pd_conn_t *c = ask->conn;
    if (c) {
        c->ask = NULL;
        ask->done(c, ask->reports, ask->n);
    }
    ask_free(ask);
}

/*
 * One more report is in (or a shard could not be asked). The last one sends
 * the answer to the asker's thread; the atomic's acquire-release order
 * makes every shard's report visible there.
 */
static void ask_one_done(pd_server_t *srv, pd_ask_t *ask)
{
    if (atomic_fetch_sub_explicit(&ask->pending, 1, memory_order_acq_rel) != 1)
        return;
    if (srv == ask->origin) {
        ask_answer(ask);
        return;
    }
    pd_shard_msg_t *m = pd_calloc(1, sizeof(*m));
    m->type = PD_SHARD_ANSWER;
    m->ask = ask;
    if (pd_shard_post(srv->proc, ask->origin->shard, m) != 0) {
        free(m);
        ask_free(ask); /* the asker has closed, and its connection with it */
    }
}

static void ask_fill(pd_server_t *srv, pd_ask_t *ask)
{
    ask->fill(srv, &ask->reports[srv->shard]);
    ask_one_done(srv, ask);
}

void pd_shard_ask(pd_conn_t *c, pd_ask_fill_cb fill, pd_ask_done_cb done)
{
    pd_server_t *srv = c->srv;
    pd_proc_t *proc = srv->proc;
    pd_ask_t *ask = pd_calloc(1, sizeof(*ask) + proc->n * sizeof(pd_shard_report_t));
    ask->origin = srv;
    ask->conn = c;
    ask->fill = fill;
    ask->done = done;
    ask->n = proc->n;
    atomic_init(&ask->pending, proc->n);
    c->ask = ask;
    for (unsigned i = 0; i < proc->n; i++) {
        if (i == srv->shard)
            continue;
        pd_shard_msg_t *m = pd_calloc(1, sizeof(*m));
        m->type = PD_SHARD_ASK;
        m->ask = ask;
        if (pd_shard_post(proc, i, m) != 0) {
            free(m);
            ask_one_done(srv, ask); /* a shard that has stopped reports nothing */
        }
    }
    ask_fill(srv, ask); /* last, so that with one shard the answer comes at once */
}

void pd_shard_ask_cancel(pd_conn_t *c)
{
    if (c->ask) {
        c->ask->conn = NULL;
        c->ask = NULL;
    }
}

/* ---- inboxes ----------------------------------------------------------- */

static void settle(pd_server_t *srv, pd_shard_msg_t *m, int closing)
{
    switch (m->type) {
    case PD_SHARD_HANDOVER:
        if (closing)
            close(m->fd);
        else
            pd_conn_adopt(srv, m->fd, pd_buf_slice(&m->bytes));
        break;
    case PD_SHARD_DRAIN:
        if (!closing)
            pd_server_drain_shard(srv);
        break;
    case PD_SHARD_ASK:
        if (closing)
            ask_one_done(srv, m->ask);
        else
            ask_fill(srv, m->ask);
        break;
    case PD_SHARD_ANSWER: ask_answer(m->ask); break;
    }
    pd_buf_free(&m->bytes);
    free(m);
}

static pd_shard_msg_t *take_all(pd_inbox_t *in, int close_it)
{
    uv_mutex_lock(&in->lock);
    pd_shard_msg_t *list = in->head;
    in->head = NULL;
    in->tail = &in->head;
    if (close_it)
        in->closed = 1;
    uv_mutex_unlock(&in->lock);
    return list;
}

static void settle_all(pd_server_t *srv, int close_it)
{
    pd_shard_msg_t *m = take_all(&srv->inbox, close_it), *next;
    for (; m; m = next) {
        next = m->next;
        settle(srv, m, close_it);
    }
}

static void on_wake(uv_async_t *a)
{
    settle_all(a->data, 0);
}

void pd_shard_inbox_init(pd_server_t *srv)
{
    pd_inbox_t *in = &srv->inbox;
    uv_mutex_init(&in->lock);
    in->head = NULL;
    in->tail = &in->head;
    uv_async_init(srv->loop, &in->wake, on_wake);
    in->wake.data = srv;
}

void pd_shard_inbox_close(pd_server_t *srv)
{
    pd_inbox_t *in = &srv->inbox;
    if (uv_is_closing((uv_handle_t *)&in->wake))
        return;
    settle_all(srv, 1);
    uv_close((uv_handle_t *)&in->wake, NULL);
}

int pd_shard_post(pd_proc_t *proc, unsigned to, pd_shard_msg_t *m)
{
    pd_inbox_t *in = &proc->shards[to]->inbox;
    m->next = NULL;
    uv_mutex_lock(&in->lock);
    int closed = in->closed;
    if (!closed) {
        *in->tail = m;
        in->tail = &m->next;
        /* Under the lock: once closed is set, the handle may be closing. */
        uv_async_send(&in->wake);
    }
    uv_mutex_unlock(&in->lock);
    return closed ? -1 : 0;
}

/* ---- threads ----------------------------------------------------------- */

static void run_shard(void *arg)
{
    pd_server_t *srv = arg;
    uv_run(srv->loop, UV_RUN_DEFAULT);
}

int pd_shard_start(pd_proc_t *proc, char *err, size_t errlen)
{
    for (unsigned i = 1; i < proc->n; i++) {
        int rc = uv_thread_create(&proc->threads[i], run_shard, proc->shards[i]);
        if (rc) {
            snprintf(err, errlen, "cannot start thread %u: %s", i, uv_strerror(rc));
            return rc;
        }
        proc->started = i;
    }
    return 0;
}

void pd_shard_drain_others(pd_proc_t *proc, unsigned from)
{
    for (unsigned i = 0; i < proc->n; i++) {
        if (i == from)
            continue;
        pd_shard_msg_t *m = pd_calloc(1, sizeof(*m));
        m->type = PD_SHARD_DRAIN;
        if (pd_shard_post(proc, i, m) != 0)
            free(m);
    }
}

void pd_shard_join(pd_proc_t *proc)
{
    for (unsigned i = 1; i <= proc->started; i++)
        uv_thread_join(&proc->threads[i]);
    proc->started = 0;
}
