/*
 * The server under test, started by the load generator: any program that
 * takes presenced's flags --listen, --port-file, --jwt-secret-file and
 * --log-level (presenced itself, and the Node.js peer). It runs with a
 * parent-death signal, so it cannot outlive the generator.
 */
#ifndef LG_SPAWN_H
#define LG_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    char dir[64]; /* a private temporary directory */
    char port_file[128];
    char secret_file[128];
} lg_server_t;

/*
 * Starts cmd (a program and its arguments, separated by spaces; no quoting)
 * with the HS256 secret and waits up to 20 s for its port file. Returns 0,
 * or -1 with a message in err (the server is then stopped).
 */
int lg_server_spawn(lg_server_t *s, const char *cmd, const unsigned char *secret, size_t secret_len,
                    char *err, size_t errlen);

/* SIGTERM, then SIGKILL after 5 s; removes the temporary files. */
void lg_server_stop(lg_server_t *s);

/* Async-signal-safe: kills the server at once and removes its files. */
void lg_server_kill(const lg_server_t *s);

#endif
