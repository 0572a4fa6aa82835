#include "procstat.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends comm. */
static int read_stat(pid_t pid, lg_proc_t *out)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    out->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    out->sys_s = (double)st / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

static int read_status(pid_t pid, lg_proc_t *out)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        sscanf(line, "VmRSS: %ld", &out->rss_kib);
        sscanf(line, "VmHWM: %ld", &out->hwm_kib);
        sscanf(line, "Threads: %d", &out->threads);
    }
    fclose(f);
    return 0;
}

int lg_proc_read(pid_t pid, lg_proc_t *out)
{
    memset(out, 0, sizeof(*out));
    if (read_stat(pid, out) != 0)
        return -1;
    return read_status(pid, out);
}

double lg_machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    if (!f)
        return 0;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8)
        return 0;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* not idle, iowait */
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static double rusage_cpu(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double lg_self_cpu(void)
{
    return rusage_cpu(RUSAGE_SELF);
}

double lg_children_cpu(void)
{
    return rusage_cpu(RUSAGE_CHILDREN);
}
