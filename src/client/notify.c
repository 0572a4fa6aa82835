#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "internal.h"

typedef enum {
    NOTICE_EVENT = 1,
    NOTICE_FOLLOW_END,
    NOTICE_FOLLOW_START,
} notice_kind_t;

/* A callback waiting for the next loop turn, with copies of what it reports. */
typedef struct {
    pd_list_t link;
    notice_kind_t kind;
    presence_event_t ev; /* EVENT: detail and code point at the copies below */
    char *detail;
    char *code;
    presence_follow_cb cb; /* FOLLOW_END */
    void *data;
    presence_follow_status_t status;
    presence_user_t *user; /* FOLLOW_END: a copy, or NULL */
    unsigned gen;          /* FOLLOW_START */
} notice_t;

static char *dup_or_null(const char *s)
{
    return s ? pd_strndup(s, strlen(s)) : NULL;
}

static void notice_free(notice_t *n)
{
    free(n->detail);
    free(n->code);
    pd_pmap_entry_free(n->user);
    free(n);
}

static notice_t *notice_push(presence_client_t *c, notice_kind_t kind)
{
    notice_t *n = pd_calloc(1, sizeof *n);
    n->kind = kind;
    pd_list_push_back(&c->notices, &n->link);
    uv_timer_start(&c->defer, pd_notify_run, 0, 0);
    return n;
}

static void deliver_event(presence_client_t *c, const presence_event_t *ev)
{
    if (c->opts.event_cb)
        c->opts.event_cb(c, ev, c->opts.data);
}

void pd_notify_event(presence_client_t *c, const presence_event_t *ev)
{
    if (c->closing)
        return;
    if (c->api_depth == 0) {
        deliver_event(c, ev);
        return;
    }
    /* Only lifecycle events can start inside a call; they carry no user. */
    notice_t *n = notice_push(c, NOTICE_EVENT);
    n->ev = *ev;
    n->ev.user = NULL;
    n->ev.detail = n->detail = dup_or_null(ev->detail);
    n->ev.code = n->code = dup_or_null(ev->code);
}

void pd_notify_follow_end(presence_client_t *c, presence_follow_cb cb, void *data,
                          presence_follow_status_t status, const presence_user_t *u)
{
    if (c->closing)
        return;
    if (c->api_depth == 0) {
        cb(c, status, u, data);
        return;
    }
    notice_t *n = notice_push(c, NOTICE_FOLLOW_END);
    n->cb = cb;
    n->data = data;
    n->status = status;
    n->user = pd_pmap_entry_copy(u);
}

void pd_notify_follow_start(presence_client_t *c, unsigned gen)
{
    notice_push(c, NOTICE_FOLLOW_START)->gen = gen;
}

void pd_notify_drop(presence_client_t *c)
{
    pd_list_foreach_safe(it, tmp, &c->notices)
    {
        pd_list_remove(it);
        notice_free(pd_container_of(it, notice_t, link));
    }
}

static void notice_run(presence_client_t *c, notice_t *n)
{
    switch (n->kind) {
    case NOTICE_EVENT: deliver_event(c, &n->ev); break;
    case NOTICE_FOLLOW_END: n->cb(c, n->status, n->user, n->data); break;
    case NOTICE_FOLLOW_START: pd_follow_start_check(c, n->gen); break;
    }
}

/*
 * Runs the notices queued before this turn; those their callbacks queue
 * wait for the next one, so a callback that keeps queueing cannot starve
 * the loop.
 */
void pd_notify_run(uv_timer_t *t)
{
    presence_client_t *c = t->data;
    pd_list_t batch;
    pd_list_init(&batch);
    if (!pd_list_empty(&c->notices)) {
        batch.next = c->notices.next;
        batch.prev = c->notices.prev;
        batch.next->prev = batch.prev->next = &batch;
        pd_list_init(&c->notices);
    }
    while (!pd_list_empty(&batch) && !c->closing) {
        pd_list_t *it = batch.next;
        pd_list_remove(it);
        notice_t *n = pd_container_of(it, notice_t, link);
        notice_run(c, n);
        notice_free(n);
    }
    pd_list_foreach_safe(it, tmp, &batch)
    {
        pd_list_remove(it);
        notice_free(pd_container_of(it, notice_t, link));
    }
}
