/**
 * `seal --fingerprint` on worker threads through the built CLI: the bundled seal worker
 * (dist/cli/seal-worker.js) registers the fingerprint's piece transform, and the weights it marks
 * are the ones a single-threaded seal marks.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeModel, writeSafetensors } from '../support/checkpoints.js';
import { tempDir } from '../support/fixtures.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-seal-worker-');
const keys = join(dir, 'keys');
const ckpt = join(dir, 'ckpt');

function ms(args: string[]) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd: dir, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(() => {
  ms(['init']);
  mkdirSync(ckpt);
  writeSafetensors(join(ckpt, 'model.safetensors'), makeModel(3, 4, 1024, 2048, 'BF16')); // 32 MiB
});

describe('seal --fingerprint on worker threads', () => {
  it('marks the weights as one thread does', () => {
    const opened = (threads: number) => {
      const pkg = join(dir, `t${threads}.mseal`);
      const reg = join(dir, `reg${threads}`, 'registry.jsonl');
      ms([
        'seal',
        ckpt,
        '--to',
        'local',
        '--fingerprint',
        'carol',
        '--registry',
        reg,
        '--threads',
        `${threads}`,
        '-o',
        pkg,
      ]);
      ms(['open', pkg, '-o', join(dir, `out${threads}`)]);
      return readFileSync(join(dir, `out${threads}`, 'model.safetensors'));
    };
    const one = opened(1);
    const two = opened(2);
    expect(one.equals(readFileSync(join(ckpt, 'model.safetensors')))).toBe(false);
    expect(two.equals(one)).toBe(true);
  });
});
