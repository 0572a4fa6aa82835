#include "pdt_flood.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pdt_token.h"

/* Bytes of pad in each update: with PDT_FLOOD_ROUND, the size of a round. */
#define PAD 1000

/* How long a slow member may take to read a round: a bound for failures only. */
#define SLOW_WAIT_MS 30000

static int flood_number(const char *path)
{
    int k = -1;
    if (path == NULL || sscanf(path, "/f/%d/", &k) != 1)
        return -1;
    return k;
}

/* A snapshot may repeat the newest update seen; a presence_changed must be newer. */
static void apply(pdt_flood_view_t *v, const cJSON *m)
{
    const char *type = pdt_str(m, "type") ? pdt_str(m, "type") : "";
    const char *user = pdt_str(m, "userId");
    int k;
    if (strcmp(type, "presence_snapshot") == 0) {
        v->snapshots++;
        k = flood_number(pdt_str(pdt_snapshot_user(m, "flood"), "currentPath"));
        if (k < v->seen)
            fail_msg("%s: a snapshot at update %d after update %d", v->c->label, k, v->seen);
    } else if (strcmp(type, "presence_changed") == 0 && user && strcmp(user, "flood") == 0) {
        k = flood_number(pdt_str(m, "currentPath"));
        if (k <= v->seen)
            fail_msg("%s: update %d after update %d", v->c->label, k, v->seen);
    } else {
        return;
    }
    v->seen = k;
}

pdt_flood_view_t pdt_flood_view(pdt_ws_t *c)
{
    pdt_flood_view_t v = {.c = c, .seen = -1};
    apply(&v, pdt_last(c));
    return v;
}

pdt_flood_view_t pdt_flood_slow_member(int port, const char *workspace)
{
    pdt_ws_opts_t o = {.workspace = workspace, .label = "slow", .rcvbuf = 4096};
    o.token = pdt_token("slow", "Slow", workspace, 3600);
    pdt_ws_t *c = pdt_ws_open(port, &o);
    pdt_expect(c, "presence_snapshot");
    pdt_flood_view_t v = pdt_flood_view(c);
    pdt_ws_pause(c, 1);
    return v;
}

static int caught_up(void *arg)
{
    pdt_flood_view_t *v = arg;
    const cJSON *m;
    while ((m = pdt_next(v->c, 0)) != NULL)
        apply(v, m);
    return v->seen >= v->want || v->c->close_code != 0;
}

static void wait_all(pdt_flood_view_t *views, int n, int k)
{
    for (int i = 0; i < n; i++) {
        pdt_flood_view_t *v = &views[i];
        v->want = k;
        if (!pdt_wait(caught_up, v, PDT_WAIT_MS) || v->c->close_code != 0)
            fail_msg("%s stalled at update %d of %d (%d snapshots, close %d)", v->c->label, v->seen,
                     k, v->snapshots, v->c->close_code);
    }
}

void pdt_flood_round(pdt_ws_t *f, pdt_flood_view_t *views, int n, int first, int step)
{
    char pad[PAD + 1];
    memset(pad, 'z', PAD);
    pad[PAD] = '\0';
    int end = first + PDT_FLOOD_ROUND;
    for (int k = first; k < end; k++) {
        pdt_sendf(f, "{\"type\":\"presence_update\",\"currentPath\":\"/f/%d/%s\"}", k, pad);
        if ((k - first + 1) % step == 0)
            wait_all(views, n, k);
    }
    wait_all(views, n, end - 1);
}

int pdt_flood_slow_catches_up(pdt_flood_view_t *slow, int last)
{
    int before = slow->snapshots;
    pdt_ws_pause(slow->c, 0);
    slow->want = last;
    pdt_wait(caught_up, slow, SLOW_WAIT_MS);
    print_message("%s: %d new snapshots, at update %d of %d, close %d\n", slow->c->label,
                  slow->snapshots - before, slow->seen, last, slow->c->close_code);
    if (slow->c->close_code != 0)
        return 0;
    if (slow->seen != last)
        fail_msg("%s is open but stuck at update %d of %d", slow->c->label, slow->seen, last);
    if (slow->snapshots == before)
        fail_msg("%s was neither resynchronised nor closed: the server buffered more than "
                 "--max-send-buffer for it",
                 slow->c->label);
    pdt_ws_pause(slow->c, 1);
    return 1;
}
