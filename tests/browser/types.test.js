/**
 * The package's TypeScript declarations compile, and reject misuse: the
 * React example and types-usage.ts under `tsc --strict`.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

it('index.d.ts and react.d.ts type-check the examples', () => {
  const run = spawnSync(process.execPath, [tsc, '-p', path.join(here, 'tsconfig.types.json')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
