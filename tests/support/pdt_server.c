#include "pdt_server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pdt_token.h"

#ifndef PRESENCED_BIN
#error "PRESENCED_BIN must name the presenced binary"
#endif

static int make_files(pdt_server_t *s)
{
    if (pdt_tmpdir(s->dir, sizeof(s->dir)) != 0)
        return -1;
    snprintf(s->log_path, sizeof(s->log_path), "%s/server.log", s->dir);
    snprintf(s->port_path, sizeof(s->port_path), "%s/port", s->dir);
    snprintf(s->secret_path, sizeof(s->secret_path), "%s/secret", s->dir);
    /* The trailing newline is part of the test: the server must strip it. */
    return pdt_write_file(s->secret_path, PDT_SECRET "\n");
}

static int spawn(pdt_server_t *s, const char *const *argv)
{
    s->status = -1;
    s->pid = pdt_spawn(argv, NULL, s->log_path);
    if (s->pid > 0)
        return 0;
    s->pid = 0;
    return -1;
}

int pdt_server_alive(pdt_server_t *s)
{
    if (s->pid == 0)
        return 0;
    int code = pdt_wait_exit(s->pid, 0);
    if (code < 0)
        return 1;
    s->pid = 0;
    s->status = code;
    return 0;
}

int pdt_server_wait(pdt_server_t *s, int timeout_ms)
{
    uint64_t deadline = pdt_now_ms() + (uint64_t)timeout_ms;
    while (pdt_server_alive(s)) {
        if (pdt_now_ms() >= deadline)
            return -1;
        usleep(5000);
    }
    return s->status;
}

static int read_port(const pdt_server_t *s)
{
    char text[32] = {0};
    FILE *f = fopen(s->port_path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    /* Only a complete line counts: the server may be half-way through writing. */
    if (n == 0 || text[n - 1] != '\n')
        return 0;
    return atoi(text);
}

static int wait_port(pdt_server_t *s)
{
    uint64_t deadline = pdt_now_ms() + 10000;
    while (pdt_now_ms() < deadline) {
        s->port = read_port(s);
        if (s->port > 0)
            return 0;
        if (!pdt_server_alive(s)) {
            fprintf(stderr, "presenced exited with %d before listening\n", s->status);
            return -1;
        }
        usleep(10000);
    }
    fprintf(stderr, "presenced wrote no port file within 10 s\n");
    return -1;
}

/*
 * The suite runs once with PRESENCED_IO_URING=on. Where the kernel forbids
 * io_uring (many containers do), the server refuses to start; that is not
 * the test failing, so the test exits 77, which ctest reports as skipped.
 */
static void skip_without_uring(pdt_server_t *s)
{
    const char *mode = getenv("PRESENCED_IO_URING");
    char text[4096] = {0};
    if (mode == NULL || strcmp(mode, "on") != 0)
        return;
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL)
        return;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    if (strstr(text, "io_uring unavailable") == NULL)
        return;
    fprintf(stderr, "SKIP: PRESENCED_IO_URING=on and this kernel refuses io_uring\n");
    pdt_server_discard(s, 1);
    exit(77);
}

static void build_argv(const pdt_server_t *s, const char *listen, const char *const *extra,
                       const char **argv, size_t cap)
{
    size_t n = 0;
    const char *fixed[] = {PRESENCED_BIN, "--listen",          listen,        "--port-file",
                           s->port_path,  "--jwt-secret-file", s->secret_path};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        argv[n++] = fixed[i];
    /*
     * One loop thread unless PDT_THREADS asks for more (tests/blackbox/CMakeLists.txt
     * runs the suite again with 4); a test's own --threads comes later and wins.
     */
    const char *threads = getenv("PDT_THREADS");
    argv[n++] = "--threads";
    argv[n++] = threads && *threads ? threads : "1";
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n + 1 < cap; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
}

int pdt_server_start(pdt_server_t *s, const char *const *extra_args)
{
    memset(s, 0, sizeof(*s));
    return pdt_server_start_on(s, 0, extra_args);
}

int pdt_server_start_on(pdt_server_t *s, int port, const char *const *extra_args)
{
    const char *argv[64];
    char listen[32];
    if (s->dir[0] == '\0' && make_files(s) != 0)
        return -1;
    unlink(s->port_path);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port != 0 ? port : s->port);
    build_argv(s, listen, extra_args, argv, 64);
    if (spawn(s, argv) != 0)
        return -1;
    if (wait_port(s) != 0) {
        skip_without_uring(s);
        pdt_server_discard(s, 1);
        return -1;
    }
    return 0;
}

int pdt_server_run(pdt_server_t *s, const char *const *args, int timeout_ms)
{
    const char *argv[64] = {PRESENCED_BIN};
    size_t n = 1;
    memset(s, 0, sizeof(*s));
    if (make_files(s) != 0)
        return -1;
    for (size_t i = 0; args[i] != NULL && n + 1 < 64; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (spawn(s, argv) != 0)
        return -1;
    int rc = pdt_server_wait(s, timeout_ms);
    if (rc < 0)
        pdt_server_stop(s);
    return rc;
}

void pdt_server_signal(const pdt_server_t *s, int sig)
{
    if (s->pid > 0)
        kill(s->pid, sig);
}

int pdt_server_stop(pdt_server_t *s)
{
    if (s->pid == 0)
        return s->status;
    kill(s->pid, SIGTERM);
    int rc = pdt_server_wait(s, 10000);
    if (rc >= 0)
        return rc;
    fprintf(stderr, "presenced ignored SIGTERM for 10 s; killing it\n");
    kill(s->pid, SIGKILL);
    pdt_server_wait(s, 10000);
    return -1;
}

void pdt_server_dump_log(const pdt_server_t *s)
{
    pdt_dump_log(s->log_path, "presenced");
}

int pdt_server_log_find(const pdt_server_t *s, const char *needle, int at_start, char *out,
                        size_t cap)
{
    char line[8192];
    int found = 0;
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL)
        return -1;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        const char *at = strstr(line, needle);
        found = at != NULL && (!at_start || at == line);
    }
    fclose(f);
    if (found && out != NULL && cap > 0) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(out, cap, "%s", line);
    }
    return found;
}

static void remove_files(pdt_server_t *s)
{
    pdt_tmpdir_remove(s->dir);
    s->dir[0] = '\0';
}

int pdt_server_finish(pdt_server_t *s, int failed)
{
    int rc = pdt_server_stop(s);
    if (rc != 0)
        fprintf(stderr, "presenced exited with status %d (expected 0)\n", rc);
    if (failed > 0 || rc != 0)
        pdt_server_dump_log(s);
    remove_files(s);
    return failed > 0 || rc != 0;
}

void pdt_server_discard(pdt_server_t *s, int dump_log)
{
    if (s->pid > 0) {
        s->status = pdt_kill(s->pid, SIGKILL, 10000);
        s->pid = 0;
    }
    if (dump_log)
        pdt_server_dump_log(s);
    remove_files(s);
}
