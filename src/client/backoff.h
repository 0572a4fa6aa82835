/*
 * Reconnect delays: exponential growth with full jitter, reset once a
 * connection has stayed up long enough. Pure arithmetic: the caller passes
 * the time and the random numbers, so tests can drive it exactly.
 */
#ifndef PD_CLIENT_BACKOFF_H
#define PD_CLIENT_BACKOFF_H

#include <stdint.h>

typedef struct {
    uint32_t min_ms;   /* no delay is shorter */
    uint32_t first_ms; /* the ceiling of the first delay */
    double growth;     /* the ceiling grows by this per attempt */
    uint32_t max_ms;   /* the ceiling never exceeds this */
    uint32_t reset_ms; /* uptime after which the attempt count restarts */
} pd_backoff_config_t;

typedef struct {
    pd_backoff_config_t cfg;
    unsigned attempt;  /* delays handed out since the last reset */
    uint64_t up_since; /* when the current connection was accepted */
    int up;            /* a connection is up */
} pd_backoff_t;

/* Starts with attempt 0. A max below first, or a first below min, is raised. */
void pd_backoff_init(pd_backoff_t *b, const pd_backoff_config_t *cfg);

/*
 * The ceiling of the next delay: min(max_ms, first_ms * growth^attempt),
 * never below min_ms.
 */
uint64_t pd_backoff_ceiling(const pd_backoff_t *b);

/*
 * Returns the next delay, min_ms + random * (ceiling - min_ms) rounded
 * down, for random in [0, 1] (values outside are clamped), and counts the
 * attempt.
 */
uint64_t pd_backoff_next(pd_backoff_t *b, double random);

/* A connection was accepted at now_ms. */
void pd_backoff_up(pd_backoff_t *b, uint64_t now_ms);

/*
 * The connection that was up ended at now_ms: when it lasted at least
 * reset_ms, the attempt count restarts at 0. Without a connection up, does
 * nothing.
 */
void pd_backoff_down(pd_backoff_t *b, uint64_t now_ms);

#endif
