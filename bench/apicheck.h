/*
 * The churn scenario's second ghost check, for a cluster: every node's
 * /api/rooms and /api/rooms/{roomId} (which answer for the whole cluster)
 * must list exactly the steady members once the churn is over. Plain
 * blocking HTTP/1.1 from the parent process, with the API's Bearer secret.
 */
#ifndef LG_APICHECK_H
#define LG_APICHECK_H

#include <stdint.h>

#include "bench.h"

typedef struct {
    uint64_t ghosts;      /* churners still listed, summed over nodes and rooms */
    uint64_t missing;     /* steady members not listed */
    uint64_t rooms_wrong; /* /api/rooms entries absent, extra, or with another user count */
    uint64_t errors;      /* requests that failed or did not answer 200 */
    uint64_t settle_ms;   /* until every node answered exactly (or the check gave up) */
    uint64_t requests;
    int clean;
} lg_api_check_t;

/* Asks every node of cfg until all answer exactly, for at most 15 s. */
void lg_api_check(const lg_cfg_t *cfg, const char *secret, lg_api_check_t *out);

#endif
