#include "pdt_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * The processes this program started and has not reaped, so the
 * watchdog's signal handler can kill them; a handler cannot be handed a
 * context, hence the global (test programs only).
 */
#define MAX_PROCS 32
static volatile pid_t procs[MAX_PROCS];

/* Replaces the slot holding from with to (0 is a free slot). */
static void swap_pid(pid_t from, pid_t to)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        if (procs[i] == from) {
            procs[i] = to;
            return;
        }
    }
}

static void on_alarm(int sig)
{
    static const char msg[] = "\n*** test program timed out; killing its processes ***\n";
    (void)sig;
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i] > 0)
            kill(procs[i], SIGKILL);
    ssize_t rc = write(2, msg, sizeof(msg) - 1);
    (void)rc;
    _exit(1);
}

void pdt_watchdog(unsigned seconds)
{
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(seconds);
}

uint64_t pdt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* In the child: never returns. */
static void exec_child(const char *const *argv, int out, const char *log_path)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int log = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null = open("/dev/null", O_RDONLY);
    if (log < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out >= 0 ? out : log, 1) < 0 ||
        dup2(log, 2) < 0)
        _exit(126);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

pid_t pdt_spawn(const char *const *argv, int *out_fd, const char *log_path)
{
    int fds[2] = {-1, -1};
    if (out_fd != NULL && pipe2(fds, O_CLOEXEC) != 0) {
        perror("pipe2");
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        if (out_fd != NULL) {
            close(fds[0]);
            close(fds[1]);
        }
        return -1;
    }
    if (pid == 0)
        exec_child(argv, fds[1], log_path);
    swap_pid(0, pid);
    if (out_fd != NULL) {
        close(fds[1]);
        *out_fd = fds[0];
    }
    return pid;
}

int pdt_wait_exit(pid_t pid, int timeout_ms)
{
    uint64_t deadline = pdt_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int wstatus;
        pid_t r = waitpid(pid, &wstatus, WNOHANG);
        if (r == pid) {
            swap_pid(pid, 0);
            return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
        }
        if (r < 0 || pdt_now_ms() >= deadline)
            return -1;
        usleep(2000);
    }
}

int pdt_kill(pid_t pid, int sig, int timeout_ms)
{
    kill(pid, sig);
    int code = pdt_wait_exit(pid, timeout_ms);
    if (code < 0) {
        kill(pid, SIGKILL);
        pdt_wait_exit(pid, 5000);
    }
    return code;
}

int pdt_tmpdir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/pdt-XXXXXX");
    if (mkdtemp(out) != NULL)
        return 0;
    perror("mkdtemp");
    out[0] = '\0';
    return -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

void pdt_tmpdir_remove(const char *dir)
{
    if (dir[0] != '\0')
        nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int pdt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int bad = fputs(text, f) < 0;
    return fclose(f) != 0 || bad ? -1 : 0;
}

int pdt_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

void pdt_dump_log(const char *path, const char *what)
{
    char line[4096];
    FILE *f = fopen(path, "r");
    fprintf(stderr, "----- %s log (%s) -----\n", what, path);
    if (f == NULL) {
        fprintf(stderr, "(no log: %s)\n", strerror(errno));
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
    fprintf(stderr, "----- end of %s log -----\n", what);
}
