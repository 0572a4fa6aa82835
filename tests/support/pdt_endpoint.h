/*
 * A real HTTP verify endpoint for black-box tests: tests/support/
 * verify-endpoint.mjs run on Node.js, listening on 127.0.0.1 with a free
 * port. The token's text scripts each answer (see the script's header:
 * "ok:USER:NAME", "401", "slow:MS:ok:USER:NAME", "hang", ...), so one
 * endpoint serves every case of a test program. It counts the requests
 * each token caused and keeps the newest one, which tests read back.
 *
 * The process is started through pdt_proc: killed by pdt_endpoint_stop(),
 * by the watchdog, or by the kernel if the test program dies first.
 */
#ifndef PDT_ENDPOINT_H
#define PDT_ENDPOINT_H

#include <sys/types.h>

#include <cjson/cJSON.h>

typedef struct {
    pid_t pid; /* 0 once stopped */
    int port;
    char url[64]; /* http://127.0.0.1:PORT/verify, for --verify-url */
    char dir[64]; /* temporary directory holding the files below */
    char port_path[96];
    char log_path[96]; /* the script's stdout and stderr */
} pdt_endpoint_t;

/*
 * Starts the endpoint and waits up to 10 s for its port. Returns 0, or -1
 * after printing why (Node.js missing, or the script failed).
 */
int pdt_endpoint_start(pdt_endpoint_t *ep);

/* Kills the endpoint (SIGKILL), reaps it and removes its files. */
void pdt_endpoint_stop(pdt_endpoint_t *ep);

/* Prints the script's output to stderr. */
void pdt_endpoint_dump_log(const pdt_endpoint_t *ep);

/* The number of verify requests that carried token, or -1 when the endpoint did not answer. */
int pdt_endpoint_count(const pdt_endpoint_t *ep, const char *token);

/*
 * The newest verify request that carried token, as
 * {"method","url","headers":{lower-case name: value},"body"}, or NULL when
 * there is none. The caller frees it with cJSON_Delete().
 */
cJSON *pdt_endpoint_last(const pdt_endpoint_t *ep, const char *token);

/*
 * {"requests","inflight","maxInflight","connections"} (see the script), or
 * NULL. reset != 0 restarts maxInflight and connections after answering.
 * The caller frees it with cJSON_Delete().
 */
cJSON *pdt_endpoint_stats(const pdt_endpoint_t *ep, int reset);

/* The integer field key of j, or -1 when absent or not a number. */
long pdt_json_int(const cJSON *j, const char *key);

/* A loopback TCP port on which nothing listens: pdt_free_port(). */
int pdt_closed_port(void);

#endif
