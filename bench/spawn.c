#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64
#define PORT_WAIT_MS 20000
#define STOP_WAIT_MS 5000

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, data, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

/* Splits cmd in place on spaces and appends the flags every server takes. */
static int make_argv(char *cmd, const lg_server_t *s, char *argv[MAX_ARGS])
{
    int n = 0;
    for (char *tok = strtok(cmd, " "); tok && n < MAX_ARGS - 9; tok = strtok(NULL, " "))
        argv[n++] = tok;
    if (n == 0)
        return -1;
    const char *extra[] = {"--listen",          "127.0.0.1:0",  "--port-file", s->port_file,
                           "--jwt-secret-file", s->secret_file, "--log-level", "warn"};
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    return 0;
}

static void exec_child(char *argv[])
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execvp(argv[0], argv);
    fprintf(stderr, "presence-bench: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int read_port(const char *path)
{
    FILE *f = fopen(path, "r");
    int port = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%d", &port) != 1)
        port = 0;
    fclose(f);
    return port;
}

static int wait_port(lg_server_t *s, char *err, size_t errlen)
{
    for (long waited = 0; waited < PORT_WAIT_MS; waited += 20) {
        s->port = read_port(s->port_file);
        if (s->port > 0)
            return 0;
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            snprintf(err, errlen, "the server exited before listening (status %d)", status);
            return -1;
        }
        sleep_ms(20);
    }
    snprintf(err, errlen, "the server wrote no port file within %d s", PORT_WAIT_MS / 1000);
    return -1;
}

static int prepare_files(lg_server_t *s, const unsigned char *secret, size_t len, char *err,
                         size_t errlen)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/presence-bench.XXXXXX");
    if (!mkdtemp(s->dir)) {
        snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
        s->dir[0] = '\0';
        return -1;
    }
    snprintf(s->port_file, sizeof(s->port_file), "%s/port", s->dir);
    snprintf(s->secret_file, sizeof(s->secret_file), "%s/secret", s->dir);
    if (write_file(s->secret_file, secret, len) != 0) {
        snprintf(err, errlen, "cannot write %s", s->secret_file);
        return -1;
    }
    return 0;
}

int lg_server_spawn(lg_server_t *s, const char *cmd, const unsigned char *secret, size_t secret_len,
                    char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    if (prepare_files(s, secret, secret_len, err, errlen) != 0) {
        lg_server_stop(s);
        return -1;
    }
    char *copy = strdup(cmd);
    char *argv[MAX_ARGS];
    int r = make_argv(copy, s, argv);
    if (r == 0 && (s->pid = fork()) == 0)
        exec_child(argv);
    free(copy);
    if (r != 0 || s->pid < 0) {
        snprintf(err, errlen, r ? "empty server command" : "fork: %s", strerror(errno));
        s->pid = 0;
    } else if (wait_port(s, err, errlen) == 0) {
        return 0;
    }
    lg_server_stop(s);
    return -1;
}

static void remove_files(const lg_server_t *s)
{
    if (!s->dir[0])
        return;
    unlink(s->port_file);
    unlink(s->secret_file);
    rmdir(s->dir);
}

void lg_server_stop(lg_server_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int status;
        long waited = 0;
        while (waitpid(s->pid, &status, WNOHANG) == 0 && waited < STOP_WAIT_MS) {
            sleep_ms(20);
            waited += 20;
        }
        if (waited >= STOP_WAIT_MS) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
        }
        s->pid = 0;
    }
    remove_files(s);
    s->dir[0] = '\0';
}

void lg_server_kill(const lg_server_t *s)
{
    if (s->pid > 0)
        kill(s->pid, SIGKILL);
    remove_files(s);
}
