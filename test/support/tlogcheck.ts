/** The Go peer (golang.org/x/mod/sumdb/note and tlog, test/peers/tlogcheck): checks cases in one process. */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

// Built by test/peers/setup.sh under a name from the hash of its source (go.mod, go.sum, main.go).
const TLOGCHECK = join(
  import.meta.dirname,
  '../../.peers',
  `tlogcheck-${createHash('sha256')
    .update(
      Buffer.concat(
        ['go.mod', 'go.sum', 'main.go'].map((f) => readFileSync(join(import.meta.dirname, '../peers/tlogcheck', f))),
      ),
    )
    .digest('hex')
    .slice(0, 16)}`,
);

export interface Verdict {
  ok: boolean;
  error?: string;
  values?: string[];
}

/** Runs every case through the Go program in one process. */
export function goCheck(cases: object[]): Verdict[] {
  if (!existsSync(TLOGCHECK))
    throw new Error(
      `${TLOGCHECK} is missing: run \`bash test/peers/setup.sh\` (npm test does), which builds it with Go`,
    );
  const r = spawnSync(TLOGCHECK, [], {
    input: cases.map((c) => JSON.stringify(c)).join('\n') + '\n',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`tlogcheck failed: ${r.stderr.toString()}`);
  const out = r.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Verdict);
  expect(out.length).toBe(cases.length);
  return out;
}

/** goCheck for cases that call back into this process (a server on its event loop): not synchronous. */
export async function goCheckAsync(cases: object[]): Promise<Verdict[]> {
  if (!existsSync(TLOGCHECK))
    throw new Error(
      `${TLOGCHECK} is missing: run \`bash test/peers/setup.sh\` (npm test does), which builds it with Go`,
    );
  const child = spawn(TLOGCHECK, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.end(cases.map((c) => JSON.stringify(c)).join('\n') + '\n');
  const code = await new Promise<number | null>((r) => child.once('close', r));
  if (code !== 0) throw new Error(`tlogcheck failed: ${Buffer.concat(err).toString()}`);
  const verdicts = Buffer.concat(out)
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Verdict);
  expect(verdicts.length).toBe(cases.length);
  return verdicts;
}
