/*
 * The harness of the client tests: presenced and other processes come from
 * tests/support (pdt_proc, pdt_server: started and killed by PID under a
 * watchdog, shared with the black-box tests); this adds what only a
 * libpresence test needs: a libuv loop set up for each test and pumped
 * until a condition holds, presenced stopped while that loop runs, tokens,
 * and a recording client that keeps every event libpresence reports so
 * tests can assert on them afterwards.
 *
 * A client test's main() is PDT_SUITE() (one presenced for the program,
 * expected to drain and exit 0 at the end) or pdt_watchdog() and
 * cmocka_run_group_tests(); each test is CT_TEST(f, &loop).
 */
#ifndef CT_HARNESS_H
#define CT_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>
#include <presence/client.h>
#include <uv.h>

#include "pdt_proc.h"
#include "pdt_server.h"
#include "pdt_suite.h"
#include "pdt_token.h"

/* ---- Each test's loop. ---- */

/*
 * A test run on *loop (a uv_loop_t *): the loop is initialised before the
 * test, pumped briefly after it and closed, which fails the test when a
 * handle was left open.
 */
#define CT_TEST(f, loop) \
    cmocka_unit_test_prestate_setup_teardown(f, ct_loop_setup, ct_loop_teardown, (loop))
int ct_loop_setup(void **state);
int ct_loop_teardown(void **state);

/* ---- presenced. ---- */

/*
 * pdt_server_start_on(), failing the test when presenced does not start:
 * port 0 is a free port, or, for a server started before, the port it had.
 */
void ct_server_start(pdt_server_t *s, int port, const char *const *extra);
/*
 * Sends sig (SIGKILL: a crash; SIGTERM: a drain) and waits for the exit,
 * running loop meanwhile (when not NULL) so that its clients take part in
 * the shutdown as they would in life. Fails the test after 10 s.
 */
void ct_server_kill(pdt_server_t *s, uv_loop_t *loop, int sig);
/* "ws://127.0.0.1:PORT" in a static buffer. */
const char *ct_server_url(const pdt_server_t *s);

/* ---- Tokens. ---- */

/*
 * A token for user (display name name) in presence-{workspace}, valid ttl_s
 * from now, signed with PDT_SECRET; the caller frees it.
 */
char *ct_token(const char *user, const char *name, const char *workspace, int64_t ttl_s);

/* ---- The loop. ---- */

/* Runs loop for up to ms (returns early once something happened). */
void ct_pump(uv_loop_t *loop, int ms);
/* Runs loop for ms, whatever happens meanwhile. */
void ct_run_for(uv_loop_t *loop, int ms);
/*
 * Pumps loop until it has nothing left to do (no active timer, socket or
 * request): from then on nothing can happen on it, so a stopped client
 * that does not retry is shown without watching for a while. Fails the
 * test after ms.
 */
void ct_wait_idle(uv_loop_t *loop, int ms);

/* Pumps loop until cond holds; fails the test after ms. */
/* How long an awaited event may take on a loaded machine before it counts as
 * never: a bound for failures, reached only when something is wrong. */
#define CT_WAIT_MS 20000

#define CT_WAIT(loop, cond, ms)                                                             \
    do {                                                                                    \
        uint64_t ct_deadline_ = pdt_now_ms() + (uint64_t)(ms);                              \
        while (!(cond)) {                                                                   \
            if (pdt_now_ms() > ct_deadline_)                                                \
                fail_msg("%s:%d: timed out after %d ms waiting for %s", __FILE__, __LINE__, \
                         (int)(ms), #cond);                                                 \
            ct_pump((loop), 20);                                                            \
        }                                                                                   \
    } while (0)

/* ---- A recording client. ---- */

#define CT_MAX_EVENTS 512

typedef struct {
    presence_event_type_t type;
    int reason;
    uint64_t retry_ms;
    uint64_t at_ms;
    char user_id[64];
    char path[256];
    char detail[256];
    char code[64];
} ct_event_t;

typedef struct {
    presence_follow_status_t status;
    char path[256];
    char user_id[64];
} ct_follow_t;

typedef struct ct_client ct_client_t;

#define CT_TOKEN_LATER ((char *)1)

struct ct_client {
    presence_client_t *c;
    uv_loop_t *loop;
    char user[64], name[64], workspace[64];
    int64_t ttl_s; /* lifetime of the tokens it mints */
    /*
     * Tokens: when set, called for each request (return a malloc'd token,
     * NULL for none, or CT_TOKEN_LATER to answer later with
     * presence_client_token()) instead of minting one.
     */
    char *(*token_fn)(ct_client_t *cc, presence_token_reason_t why);
    int no_answer; /* leave token requests unanswered */
    int token_calls;
    int refresh_calls;
    ct_event_t events[CT_MAX_EVENTS];
    size_t n_events;
    ct_follow_t follows[CT_MAX_EVENTS];
    size_t n_follows;
    int closed;
    void *data; /* for the test */
};

/*
 * Creates and starts a client for user in workspace at url; tweak (may be
 * NULL) adjusts the options first. Fails the test on error.
 */
ct_client_t *ct_client_new(uv_loop_t *loop, const char *url, const char *workspace,
                           const char *user, void (*tweak)(presence_options_t *o, void *arg),
                           void *arg);
/* Closes the client, pumps until its close callback ran, frees it. */
void ct_client_close(ct_client_t *cc);
/* Counts the events of type. */
int ct_count(const ct_client_t *cc, presence_event_type_t type);
/* The last event of type, or NULL. */
const ct_event_t *ct_last(const ct_client_t *cc, presence_event_type_t type);
/* The location of user in cc's map as "path|type|id", or "-" when absent. */
const char *ct_where(const ct_client_t *cc, const char *user);
/* Starts following user, recording into cc->follows; returns what follow returned. */
int ct_follow_try(ct_client_t *cc, const char *user);
/* The same, failing the test unless it returns 0. */
void ct_follow(ct_client_t *cc, const char *user);
/* The options every test starts from: fast pings, short back-off. */
void ct_fast_options(presence_options_t *o);

#endif
