/*
 * Runs the real presenced binary for a black-box or client test: started
 * through pdt_proc (so the watchdog kills it), with a secret file and a
 * port file in a private temporary directory and the server's stderr
 * captured to a log there.
 */
#ifndef PDT_SERVER_H
#define PDT_SERVER_H

#include <sys/types.h>

#include "pdt_proc.h"

typedef struct {
    pid_t pid; /* 0 once reaped */
    int port;
    int status;   /* exit code once reaped (128 + signal if killed) */
    char dir[64]; /* temporary directory holding the files below */
    char log_path[96];
    char port_path[96];
    char secret_path[96];
} pdt_server_t;

/*
 * Starts presenced on 127.0.0.1 with a free port, the test secret, and the
 * NULL-terminated extra_args (may be NULL). Waits up to 10 s for the port
 * file. Returns 0, or -1 after printing why and the server's log.
 */
int pdt_server_start(pdt_server_t *s, const char *const *extra_args);

/*
 * The same on port (0: a free one). s is zeroed, or a server that ran and
 * exited: one started again keeps its files, and port 0 then means the
 * port it had (a restart in place).
 */
int pdt_server_start_on(pdt_server_t *s, int port, const char *const *extra_args);

/*
 * Runs presenced with exactly args (NULL-terminated, without argv[0]), waits
 * for it to exit (at most timeout_ms) and returns its exit code, or -1 if it
 * had to be killed. Its stderr is kept in s->log_path.
 */
int pdt_server_run(pdt_server_t *s, const char *const *args, int timeout_ms);

/* Non-zero while the process has not exited. */
int pdt_server_alive(pdt_server_t *s);

/* Sends sig to the server. */
void pdt_server_signal(const pdt_server_t *s, int sig);

/*
 * Waits up to timeout_ms for the server to exit; returns its exit code
 * (128 + signal number when a signal ended it), or -1 on timeout.
 */
int pdt_server_wait(pdt_server_t *s, int timeout_ms);

/*
 * SIGTERM, then waits up to 10 s (SIGKILL after that). Returns the exit
 * code, or -1 when it had to be killed.
 */
int pdt_server_stop(pdt_server_t *s);

/* Prints the server's log to stderr. */
void pdt_server_dump_log(const pdt_server_t *s);

/*
 * The first line of the server's log so far that starts with prefix (when
 * at_start) or contains it, copied into out (cap bytes, without the '\n').
 * Returns 1 when found, 0 when not, -1 when the log cannot be read.
 */
int pdt_server_log_find(const pdt_server_t *s, const char *needle, int at_start, char *out,
                        size_t cap);

/*
 * Ends a test program: stops the server if it still runs, prints its log
 * when anything failed (failed > 0 or a non-zero exit), removes the
 * temporary files and returns the program's exit status.
 */
int pdt_server_finish(pdt_server_t *s, int failed);

/*
 * Ends a server whose exit code the test has already judged: kills it if it
 * still runs, prints its log when dump_log is set, removes its files.
 */
void pdt_server_discard(pdt_server_t *s, int dump_log);

#endif
