/*
 * A real redis-server for cluster tests: started through pdt_proc (so the
 * watchdog kills it and it dies with the test program), bound to 127.0.0.1
 * on a free port, with its config and log in a private temporary directory
 * and nothing persisted (no RDB snapshots, no AOF): a restart comes back
 * empty. Also a small blocking RESP client for tests to look into Redis or
 * change it.
 *
 * Not thread-safe: one test thread drives a pdt_redis_t.
 */
#ifndef PDT_REDIS_H
#define PDT_REDIS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;    /* 0 when not running */
    int port;     /* kept across kill, stop and restart */
    char dir[64]; /* private temp dir: its config, log and nothing persisted */
    char log_path[96];
} pdt_redis_t;

/* Non-zero when the redis-server binary found at configure time is there to run. */
int pdt_redis_available(void);

/*
 * Starts redis-server on 127.0.0.1 and a free port, in a new directory
 * (r is overwritten). Its config: save "", appendonly no, protected-mode
 * no, enable-debug-command local (so a test may DEBUG SLEEP), logging to
 * log_path. Waits up to 10 s for it to answer PING, waking on each write to
 * its log and on its exit. Returns 0, or -1 after printing why and its log
 * (nothing is left running then; r->dir is removed).
 */
int pdt_redis_start(pdt_redis_t *r);

/*
 * Starts it again on the same port and directory after pdt_redis_kill() or
 * pdt_redis_stop() (the directory is made again if stop removed it). It
 * comes back empty. Returns 0, or -1 after printing why and its log (also
 * when it is still running).
 */
int pdt_redis_restart(pdt_redis_t *r);

/* SIGKILL and reap; keeps the directory and port for a restart. Nothing when not running. */
void pdt_redis_kill(pdt_redis_t *r);

/*
 * SIGTERM (SIGKILL after 10 s), reap, remove its directory. The port and
 * the directory's name are kept, so pdt_redis_restart() still works; safe
 * to call again.
 */
void pdt_redis_stop(pdt_redis_t *r);

/* "redis://127.0.0.1:PORT" into buf (cap bytes). */
void pdt_redis_url(const pdt_redis_t *r, char *buf, size_t cap);

/*
 * Sends one command (argv: NULL-terminated, each a binary-safe C string)
 * on a new connection, waits up to 5 s for the reply and writes it
 * flattened as text into out (cap bytes, always NUL-terminated, truncated
 * to fit): a status or bulk string as is, an integer in decimal, a nil
 * bulk or array as "(nil)", an array's elements (flattened the same way,
 * nested arrays too) joined by '\n', an error as "ERR:" followed by its
 * message (e.g. "ERR:ERR unknown command ..."; status and error lines are
 * cut to 1023 bytes, bulk strings are whole). Only for commands that
 * answer once (not SUBSCRIBE or MONITOR). Returns 0, or -1 on an I/O error,
 * a timeout or a malformed reply (out is then "", and why is printed).
 */
int pdt_redis_cmd(const pdt_redis_t *r, char *out, size_t cap, const char *const *argv);

/* Prints its log to stderr. */
void pdt_redis_dump_log(const pdt_redis_t *r);

#endif
