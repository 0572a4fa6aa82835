// @ts-check
/**
 * Exponential backoff with full jitter: the n-th delay (from 0) is drawn
 * uniformly from [0, min(maxDelay, minDelay * growFactor^n)].
 *
 * @param {object} options
 * @param {number} options.minDelay   ceiling of the first delay, in ms
 * @param {number} options.maxDelay   largest ceiling, in ms
 * @param {number} options.growFactor how much the ceiling grows per attempt
 * @param {() => number} options.random uniform in [0, 1)
 * @returns {{ next(): number, reset(): void }}
 */
export function createBackoff({ minDelay, maxDelay, growFactor, random }) {
  let attempts = 0;
  return {
    next() {
      const ceiling = Math.min(maxDelay, minDelay * growFactor ** attempts);
      attempts += 1;
      return Math.round(random() * ceiling);
    },
    reset() {
      attempts = 0;
    },
  };
}
