/*
 * What a process has cost so far, from /proc: CPU time (user + system, all
 * threads) and resident memory. The load generator reads it for the server
 * it measures, and getrusage() for itself, so that a result can say which
 * side ran out of CPU.
 */
#ifndef LG_PROCSTAT_H
#define LG_PROCSTAT_H

#include <sys/types.h>

typedef struct {
    double cpu_s; /* utime + stime */
    double sys_s; /* stime: the kernel's share (system calls, and on loopback the peer's receive) */
    long rss_kib; /* VmRSS */
    long hwm_kib; /* VmHWM, the peak RSS */
    int threads;
} lg_proc_t;

/* Reads /proc/PID/stat and /proc/PID/status. Returns 0, or -1 when pid is gone. */
int lg_proc_read(pid_t pid, lg_proc_t *out);
/*
 * Busy CPU seconds of the whole machine since boot, all cores together
 * (/proc/stat: everything but idle and iowait), to tell how much of a
 * window went to other programs on a shared machine.
 */
double lg_machine_busy_s(void);
/* CPU seconds (user + system) this process has used. */
double lg_self_cpu(void);
/* CPU seconds used by the waited-for children of this process. */
double lg_children_cpu(void);

#endif
