/*
 * A verify endpoint that keeps every byte it receives: a thread of the test
 * program listening on 127.0.0.1, reading HTTP/1.1 requests on kept-alive
 * connections as a plain backend would (request line, headers up to the
 * empty line, a Content-Length body), so that a request smuggled inside
 * another one is read, answered and counted as a request of its own.
 *
 * Answers: a request whose Authorization is "Bearer ok-USER" (USER ends at
 * the first '.' or at the end of the line) gets 200 with
 * {"userId":USER,"userName":USER,"userImage":"https://img.test/USER"};
 * any other request gets 401.
 */
#ifndef PDT_RECORDER_H
#define PDT_RECORDER_H

#include <pthread.h>
#include <stddef.h>

typedef struct {
    int listen_fd;
    int port;
    char url[64]; /* http://127.0.0.1:PORT/verify, for --verify-url */
    int stop_pipe[2];
    pthread_t thread;
    pthread_mutex_t lock;
    char *raw; /* every byte received, on every connection, in order */
    size_t raw_len, raw_cap;
    unsigned requests; /* requests read (a smuggled one counts) */
} pdt_recorder_t;

/* Starts listening and the thread. Returns 0, or -1 after printing why. */
int pdt_recorder_start(pdt_recorder_t *r);

/* Stops the thread, closes every socket and frees the log. */
void pdt_recorder_stop(pdt_recorder_t *r);

/* A NUL-terminated copy of every byte received so far (NUL bytes become '?'); free() it. */
char *pdt_recorder_raw(pdt_recorder_t *r);

/* The number of requests read so far. */
unsigned pdt_recorder_requests(pdt_recorder_t *r);

#endif
