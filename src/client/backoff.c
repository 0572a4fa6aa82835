#include "backoff.h"

void pd_backoff_init(pd_backoff_t *b, const pd_backoff_config_t *cfg)
{
    b->cfg = *cfg;
    if (b->cfg.first_ms < b->cfg.min_ms)
        b->cfg.first_ms = b->cfg.min_ms;
    if (b->cfg.max_ms < b->cfg.first_ms)
        b->cfg.max_ms = b->cfg.first_ms;
    if (!(b->cfg.growth >= 1.0))
        b->cfg.growth = 1.0;
    b->attempt = 0;
    b->up = 0;
    b->up_since = 0;
}

uint64_t pd_backoff_ceiling(const pd_backoff_t *b)
{
    double ceiling = b->cfg.first_ms;
    /* Stop multiplying once past the cap, so a long outage cannot overflow. */
    for (unsigned i = 0; i < b->attempt && ceiling < b->cfg.max_ms; i++)
        ceiling *= b->cfg.growth;
    if (ceiling > b->cfg.max_ms)
        ceiling = b->cfg.max_ms;
    return ceiling < b->cfg.min_ms ? b->cfg.min_ms : (uint64_t)ceiling;
}

uint64_t pd_backoff_next(pd_backoff_t *b, double random)
{
    if (!(random >= 0.0))
        random = 0.0;
    if (random > 1.0)
        random = 1.0;
    uint64_t ceiling = pd_backoff_ceiling(b);
    uint64_t delay = b->cfg.min_ms + (uint64_t)(random * (double)(ceiling - b->cfg.min_ms));
    b->attempt++;
    return delay;
}

void pd_backoff_up(pd_backoff_t *b, uint64_t now_ms)
{
    b->up = 1;
    b->up_since = now_ms;
}

void pd_backoff_down(pd_backoff_t *b, uint64_t now_ms)
{
    if (!b->up)
        return;
    b->up = 0;
    if (now_ms >= b->up_since && now_ms - b->up_since >= b->cfg.reset_ms)
        b->attempt = 0;
}
