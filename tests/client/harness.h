/*
 * The harness of the client tests: processes (presenced, nginx, the CLI)
 * started and killed by PID under a watchdog, tokens, a libuv loop pumped
 * until a condition holds, and a recording client that keeps every event
 * libpresence reports so tests can assert on them afterwards.
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

#define CT_SECRET "client-test-secret"

/* ---- Processes. ---- */

/*
 * Kills every process started through this harness and exits 1 after
 * seconds. Call first thing in main().
 */
void ct_watchdog(unsigned seconds);

/* Starts argv[0] with argv; stdout goes to *out_fd (a pipe) when out_fd is set, else to log. */
pid_t ct_spawn(const char *const *argv, int *out_fd, const char *log_path);

/* Sends sig and waits up to timeout_ms for the exit; returns the exit code (128+sig), -1 on timeout. */
int ct_kill(pid_t pid, int sig, int timeout_ms);

/* Waits for pid's exit; returns its code (128+signal), or -1 after timeout_ms. */
int ct_wait_exit(pid_t pid, int timeout_ms);

/* A temporary directory for a test's files; removed (recursively) by ct_tmpdir_remove. */
void ct_tmpdir(char *out, size_t cap);
void ct_tmpdir_remove(const char *dir);

/* Writes text to path; fails the test on error. */
void ct_write_file(const char *path, const char *text);

/* A free TCP port on 127.0.0.1 (nothing listens on it when this returns). */
int ct_free_port(void);

/* ---- presenced. ---- */

typedef struct {
    pid_t pid;
    int port;
    char dir[96];
    char log_path[160];
    char port_path[160];
    char secret_path[160];
} ct_server_t;

/*
 * Starts presenced on 127.0.0.1:port (0: any free port), with the test
 * secret and the NULL-terminated extra arguments. A server started again
 * with the same struct reuses its directory, so port 0 then means "the
 * port it had". Fails the test if it does not listen within 10 s.
 */
void ct_server_start(ct_server_t *s, int port, const char *const *extra);
/*
 * Sends sig (SIGKILL: a crash; SIGTERM: a drain) and waits for the exit,
 * running loop meanwhile (when not NULL) so that its clients take part in
 * the shutdown as they would in life. Fails the test after 10 s.
 */
void ct_server_kill(ct_server_t *s, uv_loop_t *loop, int sig);
/* Kills it if running, prints its log when dump is set, removes its files. */
void ct_server_cleanup(ct_server_t *s, int dump);
/* "ws://127.0.0.1:PORT" in a static buffer. */
const char *ct_server_url(const ct_server_t *s);

/* ---- Tokens. ---- */

/* A token for user (display name name) in presence-{workspace}, valid ttl_s from now. */
char *ct_token(const char *user, const char *name, const char *workspace, int64_t ttl_s);

/* ---- The loop. ---- */

uint64_t ct_now_ms(void);
/* Runs loop for up to ms (returns early once something happened). */
void ct_pump(uv_loop_t *loop, int ms);
/* Runs loop for ms, whatever happens meanwhile. */
void ct_run_for(uv_loop_t *loop, int ms);

/* Pumps loop until cond holds; fails the test after ms. */
#define CT_WAIT(loop, cond, ms)                                                        \
    do {                                                                               \
        uint64_t ct_deadline_ = ct_now_ms() + (uint64_t)(ms);                          \
        while (!(cond)) {                                                              \
            if (ct_now_ms() > ct_deadline_)                                            \
                fail_msg("%s:%d: timed out after %d ms waiting for %s", __FILE__,      \
                         __LINE__, (int)(ms), #cond);                                  \
            ct_pump((loop), 20);                                                       \
        }                                                                              \
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
    int64_t ttl_s;              /* lifetime of the tokens it mints */
    /*
     * Tokens: when set, called for each request (return a malloc'd token,
     * NULL for none, or CT_TOKEN_LATER to answer later with
     * presence_client_token()) instead of minting one.
     */
    char *(*token_fn)(ct_client_t *cc, presence_token_reason_t why);
    int no_answer;              /* leave token requests unanswered */
    int token_calls;
    int refresh_calls;
    ct_event_t events[CT_MAX_EVENTS];
    size_t n_events;
    ct_follow_t follows[CT_MAX_EVENTS];
    size_t n_follows;
    int closed;
    void *data;                 /* for the test */
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
