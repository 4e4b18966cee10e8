/**
 * Importing the library changes nothing in the process: no V8 flag, no gc() exposed, no memory
 * held, and no throw on a big-endian host. The memory tuning of bulk crypto (V8's gc(), glibc's
 * malloc thresholds) happens only in a process that opts in (tuneMemoryForBulkCrypto, as the CLI
 * does), and then when bulk crypto starts. Each case runs in a child process on the built library.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireLittleEndian } from '../../src/fingerprint/prf.js';
import { tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-import-');
const LIB = pathToFileURL(resolve('dist/src/index.js')).href;
const PRF = pathToFileURL(resolve('dist/src/fingerprint/prf.js')).href;
const FLAGS = resolve('test/support/v8-flags.mjs');

function run(name: string, script: string, importFirst?: string): { stdout: string; stderr: string } {
  const path = join(dir, name);
  writeFileSync(path, script);
  const args = [...(importFirst ? ['--import', importFirst] : []), '--import', FLAGS, path];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', cwd: dir, timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return { stdout: r.stdout, stderr: r.stderr };
}

const PROBE = `
const probe = (label) =>
  console.log(JSON.stringify({ label, gc: typeof globalThis.gc, arrayBuffers: process.memoryUsage().arrayBuffers }));
`;

describe('importing the library', () => {
  it('sets no V8 flag, exposes no gc() and holds no memory, even through seal and open; the opt-in does', () => {
    const { stdout, stderr } = run(
      'probe.mjs',
      `${PROBE}
import { writeFileSync, mkdirSync } from 'node:fs';
probe('plain');
const lib = await import(${JSON.stringify(LIB)});
probe('imported');
mkdirSync('in', { recursive: true });
writeFileSync('in/w.bin', Buffer.alloc(3 << 20, 7));
const publisher = lib.newPublisherKey().publisher;
const local = new lib.LocalKey('0123456789abcdef', new Uint8Array(32).fill(5));
const roundTrip = async (n) => {
  await lib.seal({ input: 'in', output: n + '.mseal', recipients: [local], publisher, threads: 2 });
  const opening = { identities: [local], trustedPublishers: [publisher.spki], threads: 2 };
  await lib.open({ input: n + '.mseal', output: n, ...opening });
};
await roundTrip('a');
probe('used');
process.stderr.write('opting in\\n');
lib.tuneMemoryForBulkCrypto();
await roundTrip('b');
`,
    );
    const [plain, imported, used] = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const [before, after] = stderr.split('opting in\n');
    expect(before).not.toMatch(/v8-flags-set/);
    expect([plain.gc, imported.gc, used.gc]).toEqual(['undefined', 'undefined', 'undefined']);
    expect(imported.arrayBuffers - plain.arrayBuffers).toBeLessThan(4 << 20);
    // The probe sees flags: after the opt-in, bulk crypto takes gc() (and puts the flag back).
    expect(after).toMatch(/v8-flags-set: --expose-gc/);
  });

  it('does not throw on a big-endian host; using a fingerprint there is UNSUPPORTED_PLATFORM', () => {
    // Makes the library's endianness probe, new Uint16Array([1]), see a big-endian host while it loads.
    const bigEndian = join(dir, 'big-endian.mjs');
    writeFileSync(
      bigEndian,
      `const Real = Uint16Array;
globalThis.Uint16Array = class extends Real {
  constructor(...a) { if (Array.isArray(a[0]) && a[0].length === 1 && a[0][0] === 1) super([256]); else super(...a); }
};
globalThis.__realUint16Array = Real;
`,
    );
    const { stdout } = run(
      'be.mjs',
      `const lib = await import(${JSON.stringify(LIB)});
const prf = await import(${JSON.stringify(PRF)});
globalThis.Uint16Array = globalThis.__realUint16Array;
let code = 'none';
try { prf.codeStream(new Uint8Array(32), 0, 4); } catch (e) { code = e.code; }
console.log(JSON.stringify({ imported: typeof lib.seal, code }));
`,
      pathToFileURL(bigEndian).href,
    );
    expect(JSON.parse(stdout)).toEqual({ imported: 'function', code: 'UNSUPPORTED_PLATFORM' });
  });

  it('checks the byte order at use, with a message that says what to do', () => {
    expect(() => requireLittleEndian(true)).not.toThrow();
    expect(() => requireLittleEndian(false)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_PLATFORM' }));
    expect(() => requireLittleEndian(false)).toThrow(/little-endian host/);
  });
});
