#include "hist.h"

#include <string.h>

void lg_hist_reset(lg_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

/* Bucket of v: values below LG_HIST_SUB are exact, above it the top six bits count. */
static unsigned bucket_of(uint64_t v)
{
    if (v < LG_HIST_SUB)
        return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - LG_HIST_SUB_BITS;
    return (shift + 1) * LG_HIST_SUB + (unsigned)((v >> shift) - LG_HIST_SUB);
}

/* The highest value that falls in bucket i. */
static uint64_t bucket_high(unsigned i)
{
    if (i < LG_HIST_SUB)
        return i;
    unsigned shift = i / LG_HIST_SUB - 1;
    uint64_t top = LG_HIST_SUB + i % LG_HIST_SUB;
    return ((top + 1) << shift) - 1;
}

void lg_hist_record(lg_hist_t *h, uint64_t value)
{
    h->buckets[bucket_of(value)]++;
    h->count++;
    h->sum += value;
    if (value > h->max)
        h->max = value;
}

void lg_hist_merge(lg_hist_t *dst, const lg_hist_t *src)
{
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t lg_hist_quantile(const lg_hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = bucket_high(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
