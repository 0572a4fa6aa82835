/*
 * Processes for test programs (presenced, the verify endpoint, nginx, the
 * `presence` command): started with fork/exec, killed and reaped by PID, and
 * remembered so that a watchdog can kill them all when a test program hangs.
 * Also the small things every such program needs: a monotonic clock in
 * milliseconds, temporary directories and a free loopback port.
 *
 * Each child gets PR_SET_PDEATHSIG: it dies with the test program, however
 * that ends.
 */
#ifndef PDT_PROC_H
#define PDT_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Installs an alarm() watchdog: after seconds, every process started with
 * pdt_spawn() and not yet reaped is killed and the program exits with
 * status 1. Also ignores SIGPIPE and line-buffers stdout. Call first thing
 * in main().
 */
void pdt_watchdog(unsigned seconds);

/*
 * Starts argv[0] with argv (NULL-terminated). stdin is /dev/null; stdout
 * goes to a pipe whose reading end is stored in *out_fd when out_fd is
 * set, else to log_path (appended; /dev/null when NULL), and stderr to
 * log_path. Returns the PID, or -1 after printing why.
 */
pid_t pdt_spawn(const char *const *argv, int *out_fd, const char *log_path);

/*
 * Waits up to timeout_ms (0: just looks) for pid to exit and reaps it.
 * Returns its exit code (128 + the signal's number when a signal ended
 * it), or -1 when it is still running.
 */
int pdt_wait_exit(pid_t pid, int timeout_ms);

/*
 * Sends sig and waits up to timeout_ms for the exit; returns the exit code,
 * or -1 when it had to be killed with SIGKILL after that.
 */
int pdt_kill(pid_t pid, int sig, int timeout_ms);

/* Milliseconds on the monotonic clock. */
uint64_t pdt_now_ms(void);

/* A new directory /tmp/pdt-XXXXXX in out (cap bytes). Returns 0, or -1 after printing why. */
int pdt_tmpdir(char *out, size_t cap);

/* Removes dir and everything in it; nothing when dir is "". */
void pdt_tmpdir_remove(const char *dir);

/* Writes text to path. Returns 0 or -1. */
int pdt_write_file(const char *path, const char *text);

/* Copies the log at path to stderr between lines naming what ("presenced", "redis-server"). */
void pdt_dump_log(const char *path, const char *what);

/* A loopback TCP port on which nothing listens (bound, then closed), or -1. */
int pdt_free_port(void);

#endif
