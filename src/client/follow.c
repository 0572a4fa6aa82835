#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "internal.h"

/* Forgets the follow and returns its callback and data through the out-parameters. */
static void follow_clear(presence_client_t *c, presence_follow_cb *cb, void **data)
{
    uv_timer_stop(&c->follow_grace);
    *cb = c->follow_cb;
    *data = c->follow_data;
    free(c->follow_id);
    pd_pmap_entry_free(c->follow_last);
    c->follow_id = NULL;
    c->follow_cb = NULL;
    c->follow_data = NULL;
    c->follow_last = NULL;
}

void pd_follow_end(presence_client_t *c, presence_follow_status_t status, const presence_user_t *u)
{
    presence_follow_cb cb;
    void *data;
    if (!c->follow_id)
        return;
    follow_clear(c, &cb, &data);
    pd_notify_follow_end(c, cb, data, status, u);
}

void pd_follow_free(presence_client_t *c)
{
    presence_follow_cb cb;
    void *data;
    follow_clear(c, &cb, &data);
}

/* Reports u's location when it is known and differs from the last one reported. */
static void follow_report(presence_client_t *c, const presence_user_t *u)
{
    if (u->current_path[0] == '\0')
        return; /* unknown: a follower does not navigate to it */
    if (c->follow_last && pd_pmap_same_location(c->follow_last, u))
        return;
    pd_pmap_entry_free(c->follow_last);
    c->follow_last = pd_pmap_entry_copy(u);
    c->follow_cb(c, PRESENCE_FOLLOW_MOVED, u, c->follow_data);
}

/* Reports the last entry seen, which the end frees. */
static void went_offline(presence_client_t *c)
{
    presence_user_t *last = c->follow_last;
    c->follow_last = NULL;
    pd_follow_end(c, PRESENCE_FOLLOW_WENT_OFFLINE, last);
    pd_pmap_entry_free(last);
}

static void on_follow_grace(uv_timer_t *t)
{
    went_offline(t->data);
}

void pd_follow_check(presence_client_t *c)
{
    if (!c->follow_id || c->closing)
        return;
    const presence_user_t *u = pd_pmap_get(&c->map, pd_slice_cstr(c->follow_id));
    if (u) {
        uv_timer_stop(&c->follow_grace);
        follow_report(c, u);
    } else if (c->opts.follow_grace_ms == 0) {
        went_offline(c);
    } else if (!uv_is_active((uv_handle_t *)&c->follow_grace)) {
        uv_timer_start(&c->follow_grace, on_follow_grace, c->opts.follow_grace_ms, 0);
    }
}

void pd_follow_left(presence_client_t *c, const presence_user_t *u)
{
    if (c->follow_id && strcmp(c->follow_id, u->user_id) == 0)
        pd_follow_end(c, PRESENCE_FOLLOW_WENT_OFFLINE, u);
}

void pd_follow_start_check(presence_client_t *c, unsigned gen)
{
    if (c->follow_id && c->follow_gen == gen)
        pd_follow_check(c);
}

static int follow_begin(presence_client_t *c, const char *user_id, presence_follow_cb cb,
                        void *data)
{
    if (!user_id || !cb)
        return PRESENCE_ERR_INVALID;
    if (c->closing)
        return PRESENCE_ERR_STATE;
    if (!pd_pmap_get(&c->map, pd_slice_cstr(user_id)))
        return PRESENCE_ERR_NOT_FOUND;
    if (c->follow_id)
        pd_follow_end(c, PRESENCE_FOLLOW_UNFOLLOWED,
                      pd_pmap_get(&c->map, pd_slice_cstr(c->follow_id)));
    c->follow_id = pd_strndup(user_id, strlen(user_id));
    c->follow_cb = cb;
    c->follow_data = data;
    pd_notify_follow_start(c, ++c->follow_gen);
    return 0;
}

int presence_client_follow(presence_client_t *c, const char *user_id, presence_follow_cb cb,
                           void *data)
{
    c->api_depth++;
    int r = follow_begin(c, user_id, cb, data);
    c->api_depth--;
    return r;
}

int presence_client_unfollow(presence_client_t *c)
{
    if (!c->follow_id || c->closing)
        return PRESENCE_ERR_STATE;
    c->api_depth++;
    const presence_user_t *u = pd_pmap_get(&c->map, pd_slice_cstr(c->follow_id));
    pd_follow_end(c, PRESENCE_FOLLOW_UNFOLLOWED, u);
    c->api_depth--;
    return 0;
}

const char *presence_client_following(const presence_client_t *c)
{
    return c->follow_id;
}
