/*
 * A latency histogram in the manner of HdrHistogram: log-linear buckets
 * with 64 sub-buckets per power of two, so every recorded value is known
 * to within 1/64 (1.6 %) whatever its size. It has a fixed size and no
 * pointers, so a worker process can send it whole through a pipe and the
 * parent can merge them exactly.
 */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

#define LG_HIST_SUB_BITS 6
#define LG_HIST_SUB (1u << LG_HIST_SUB_BITS)
#define LG_HIST_BUCKETS ((64 - LG_HIST_SUB_BITS + 1) * LG_HIST_SUB)

typedef struct {
    uint64_t count;
    uint64_t max;
    uint64_t sum; /* for the mean; wraps only after ~584 years of ns */
    uint64_t buckets[LG_HIST_BUCKETS];
} lg_hist_t;

void lg_hist_reset(lg_hist_t *h);
void lg_hist_record(lg_hist_t *h, uint64_t value);
/* Adds every sample of src to dst. */
void lg_hist_merge(lg_hist_t *dst, const lg_hist_t *src);
/*
 * The value at quantile q (0..1): the highest value of the bucket that holds
 * it, capped at the largest sample, so a percentile is never understated by
 * more than the true value's own bucket width. 0 for an empty histogram.
 */
uint64_t lg_hist_quantile(const lg_hist_t *h, double q);

#endif
