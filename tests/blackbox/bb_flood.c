/*
 * A room of 1,000 readers that read as fast as they can, and one user
 * flooding it from 16 tabs with updates of about 1.3 KB, within the
 * per-connection limits: no reader may be resynchronised or closed.
 *
 * The test asks nothing of the machine's speed. Readers are read between
 * every round of sends, and each burst ends with a marker that the test
 * waits for at every reader before the next burst begins, so the kernel's
 * buffers (4 MB per reader) always hold a whole burst: any resync or
 * eviction is the server misjudging a reader that keeps up.
 *
 * Arguments: the updates each tab sends per burst, then arguments added to
 * the server's. ctest runs it with the defaults and 40 per tab (the case
 * the per-user limit exists for), and with the per-user limit off and 10
 * per tab, so that the 160 messages of a burst (208 KB) reach each reader:
 * more than one writev's 64 iovecs, and, with --max-send-buffer 16384,
 * more than the eight times the bound that may be queued for a socket
 * between two of its writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdt_http.h"
#include "pdt_suite.h"
#include "pdt_token.h"
#include "pdt_ws.h"

#define N_READERS 1000
#define N_TABS 16
#define N_BURSTS 3
#define ROOM "flood"
#define READER_RCVBUF (4 << 20)
#define PATH_PAD 1000
#define ID_PAD 250

static pdt_server_t srv;
/* Liveness is not under test: a loaded machine may take more than the 25 s
 * idle timeout to open 1,000 readers before it reads the first one. */
static const char *server_args[20] = {"--linger",        "0",  "--idle-timeout", "600",
                                      "--ping-interval", "300"};
static int per_tab = 40;

typedef struct {
    pdt_ws_t *c;
    int burst_seen; /* the last burst marker this reader got, -1 none */
    int snapshots;  /* the first, then one per resync */
} reader_t;

static reader_t readers[N_READERS];
static pdt_ws_t *tabs[N_TABS];

static int starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* The burst number of an end marker in a presence_changed, or -1. */
static int marker_of(const char *text)
{
    const char *p = strstr(text, "\"currentPath\":\"/end/");
    int b = -1;
    if (p == NULL || sscanf(p, "\"currentPath\":\"/end/%d\"", &b) != 1)
        return -1;
    return b;
}

static void reader_take(reader_t *r)
{
    char *text;
    while ((text = pdt_take_text(r->c)) != NULL) {
        if (starts_with(text, "{\"type\":\"presence_snapshot\""))
            r->snapshots++;
        else if (starts_with(text, "{\"type\":\"presence_changed\"")) {
            int b = marker_of(text);
            if (b > r->burst_seen)
                r->burst_seen = b;
        }
        free(text);
    }
}

static void discard(pdt_ws_t *c)
{
    char *text;
    while ((text = pdt_take_text(c)) != NULL)
        free(text);
}

static void take_all(void)
{
    for (int i = 0; i < N_READERS; i++)
        if (readers[i].c != NULL)
            reader_take(&readers[i]);
    for (int t = 0; t < N_TABS; t++)
        if (tabs[t] != NULL)
            discard(tabs[t]);
}

static int all_have_snapshots(void *arg)
{
    int done = 1;
    take_all();
    for (int i = 0; i < N_READERS; i++)
        done &= readers[i].snapshots == 1;
    return done;
}

/*
 * Opens every reader before reading any: each upgrade is answered at once,
 * and what the others receive meanwhile (user_joined) waits in their
 * socket buffers, so joining costs no round of reading per reader.
 */
static void join_readers(void)
{
    for (int i = 0; i < N_READERS; i++) {
        const char *user = pdt_fmt("r%04d", i);
        pdt_ws_opts_t o = {.workspace = ROOM, .label = user, .rcvbuf = READER_RCVBUF};
        o.token = pdt_token(user, pdt_name(user), ROOM, 3600);
        readers[i] = (reader_t){pdt_ws_open(srv.port, &o), -1, 0};
    }
    if (!pdt_wait(all_have_snapshots, NULL, 120000))
        fail_msg("not every reader got its snapshot");
}

static void join_tabs(void)
{
    for (int t = 0; t < N_TABS; t++)
        tabs[t] = pdt_join(srv.port, ROOM, "flood");
    take_all();
}

static const char *pad(char ch, size_t n)
{
    static char buf[2][PATH_PAD + 1];
    char *b = buf[ch == 'p'];
    memset(b, ch, n);
    b[n] = '\0';
    return b;
}

/*
 * Every tab sends per_tab updates of about 1.3 KB, as fast as the sockets
 * take them, so that the server reads the burst within a loop turn or two
 * and each reader's queue gets all of it before its next write.
 */
static void send_burst(int burst)
{
    for (int k = 0; k < per_tab; k++)
        for (int t = 0; t < N_TABS; t++)
            pdt_sendf(tabs[t],
                      "{\"type\":\"presence_update\",\"currentPath\":\"/f/%d/%02d/%02d/%s\","
                      "\"resourceType\":\"document\",\"resourceId\":\"%s\"}",
                      burst, t, k, pad('p', PATH_PAD), pad('i', ID_PAD));
}

typedef struct {
    pdt_ws_t *c;
    int pong, snapshot;
} tab_wait_t;

/* Done at the tab's pong, or at a snapshot: a resynced tab's pong was dropped with its backlog. */
static int got_pong(void *arg)
{
    tab_wait_t *w = arg;
    char *text;
    while (!w->pong && !w->snapshot && (text = pdt_take_text(w->c)) != NULL) {
        w->pong = starts_with(text, "{\"type\":\"pong\"");
        w->snapshot = starts_with(text, "{\"type\":\"presence_snapshot\"");
        free(text);
    }
    return w->pong || w->snapshot || w->c->close_code != 0;
}

static void check_metrics(void);

/* A pong on every tab: the server has applied each tab's updates of the burst. */
static void sync_tabs(void)
{
    for (int t = 0; t < N_TABS; t++)
        pdt_sendf(tabs[t], "{\"type\":\"ping\",\"id\":%d}", t);
    for (int t = 0; t < N_TABS; t++) {
        tab_wait_t w = {tabs[t], 0, 0};
        pdt_wait(got_pong, &w, 60000);
        if (w.pong)
            continue;
        print_message("tab %d: no pong (%s, close %d)\n", t,
                      w.snapshot ? "resynchronised" : "nothing", tabs[t]->close_code);
        check_metrics();
        fail_msg("tab %d got no pong", t);
    }
}

static int caught_up(void *arg)
{
    int burst = *(const int *)arg, done = 1;
    take_all();
    for (int i = 0; i < N_READERS; i++) {
        const reader_t *r = &readers[i];
        if (r->snapshots > 1 || r->c->close_code != 0)
            return 1; /* judged by check_readers() */
        done &= r->burst_seen >= burst;
    }
    return done;
}

static void check_readers(int burst)
{
    for (int i = 0; i < N_READERS; i++) {
        const reader_t *r = &readers[i];
        if (r->snapshots > 1 || r->c->close_code != 0)
            fail_msg("burst %d: reader %d was resynchronised %d times, close %d \"%s\"", burst, i,
                     r->snapshots - 1, r->c->close_code, r->c->close_reason);
        if (r->burst_seen < burst)
            fail_msg("burst %d: reader %d never got the burst's last update", burst, i);
    }
}

static double metric(const char *text, const char *name)
{
    double v = pdt_metric(text, name);
    print_message("%s %.0f\n", name, v);
    return v;
}

static void check_metrics(void)
{
    pd_buf_t resp = PD_BUF_INIT;
    assert_int_equal(pdt_http_get(srv.port, "/metrics", &resp), 200);
    const char *body = pdt_http_body(resp.base);
    double resyncs = metric(body, "presenced_resyncs_total");
    double slow = metric(body, "presenced_evictions_total{reason=\"slow\"}");
    metric(body, "presenced_messages_out_total");
    metric(body, "presenced_writes_total");
    metric(body, "presenced_superseded_total");
    metric(body, "presenced_connections");
    pd_buf_free(&resp);
    assert_true(resyncs == 0);
    assert_true(slow == 0);
}

static void test_thousand_readers_keep_up(void **state)
{
    join_readers();
    join_tabs();
    for (int b = 0; b < N_BURSTS; b++) {
        send_burst(b);
        sync_tabs();
        pdt_sendf(tabs[0], "{\"type\":\"presence_update\",\"currentPath\":\"/end/%d\"}", b);
        pdt_wait(caught_up, &b, 120000);
        check_readers(b);
        print_message("burst %d: %d readers have its last update\n", b, N_READERS);
    }
    check_metrics();
}

int main(int argc, char **argv)
{
    if (argc > 1)
        per_tab = atoi(argv[1]);
    for (int i = 2, n = 6; i < argc && n < 19; i++, n++)
        server_args[n] = argv[i];
    const struct CMUnitTest tests[] = {
        PDT_TEST(test_thousand_readers_keep_up),
    };
    return PDT_SUITE(tests, &srv, server_args, 280);
}
