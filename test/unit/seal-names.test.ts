/**
 * Issue 16 item 4: at seal, names that cannot round-trip are refused with a clear error — a name
 * that is not valid UTF-8 (it used to become U+FFFD silently), a path longer than open can create,
 * a root-level model.sig (open writes the provenance there) — and open refuses, before any key
 * request, an output path too long for the package's files.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { open, seal, type Identity } from '../../src/index.js';
import { checkRelativePath } from '../../src/format/paths.js';
import { makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir('modelseal-names-');
let n = 0;
const sealDir = (src: string) =>
  seal({
    input: src,
    output: join(dir, `p${n++}.mseal`),
    recipients: [keys.alice.recipient],
    publisher: keys.publisher,
    threads: 0,
  });
const fresh = () => {
  const d = join(dir, `src${n++}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'weights.bin'), 'w');
  return d;
};

describe('names at seal (issue 16 item 4)', () => {
  it('a file name that is not valid UTF-8 is refused, not stored as U+FFFD', async () => {
    const d = fresh();
    // an encoded lone surrogate
    writeFileSync(Buffer.concat([Buffer.from(`${d}/bad-`), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('.bin')]), 'x');
    await expect(sealDir(d)).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
      message: expect.stringContaining('not valid UTF-8'),
    });
    const e = fresh();
    writeFileSync(Buffer.concat([Buffer.from(`${e}/latin1-`), Buffer.from([0xe9]), Buffer.from('.bin')]), 'x');
    await expect(sealDir(e)).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
  });

  it('a path holding a lone surrogate is UNSAFE_PATH, in seal and in a header', () => {
    expect(() => checkRelativePath('a\uD800b.bin')).toThrow(
      expect.objectContaining({ code: 'UNSAFE_PATH', message: expect.stringContaining('lone surrogate') }),
    );
    expect(() => checkRelativePath('ok-\uDC00')).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    expect(() => checkRelativePath('emoji-😀-ok.bin')).not.toThrow();
  });

  it('Unicode names in any script still seal and open', async () => {
    const d = fresh();
    for (const name of ['Владимир.bin', '模型权重.bin', 'نموذج.bin', 'e\u0301-combining.bin', '🦙.bin'])
      writeFileSync(join(d, name), name);
    const r = await sealDir(d);
    const out = join(dir, `o${n++}`);
    await open({ input: r.output, output: out, identities: [keys.alice], trustedPublishers: keys.trusted, threads: 0 });
    expect(readFileSync(join(out, '🦙.bin'), 'utf8')).toBe('🦙.bin');
  });

  it('paths longer than 1024 bytes are refused at seal; 1024 bytes open inside a 3000-byte output folder', async () => {
    const d = fresh();
    const deep = ['a'.repeat(200), 'b'.repeat(200), 'c'.repeat(200), 'd'.repeat(200), 'e'.repeat(200)];
    mkdirSync(join(d, ...deep), { recursive: true });
    writeFileSync(join(d, ...deep, 'x'.repeat(19)), 'ok'); // 5×201 + 19 = 1024 bytes
    const r = await sealDir(d);
    let outer = dir;
    while (Buffer.byteLength(outer) < 2750)
      outer = join(outer, 'f'.repeat(Math.min(200, 2750 - Buffer.byteLength(outer))));
    mkdirSync(outer, { recursive: true });
    const out = join(outer, 'opened');
    expect(Buffer.byteLength(out)).toBeGreaterThan(2750);
    await open({ input: r.output, output: out, identities: [keys.alice], trustedPublishers: keys.trusted, threads: 0 });
    expect(readFileSync(join(out, ...deep, 'x'.repeat(19)), 'utf8')).toBe('ok');

    writeFileSync(join(d, ...deep, 'x'.repeat(20)), 'too long'); // 1025 bytes
    await expect(sealDir(d)).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
      message: expect.stringContaining('longer than 1024 bytes'),
    });
  });

  it('open refuses an output path too long for the files, before any key request', async () => {
    const d = fresh();
    const deep = Array.from({ length: 5 }, (_, i) => String.fromCharCode(97 + i).repeat(200));
    mkdirSync(join(d, ...deep), { recursive: true });
    writeFileSync(join(d, ...deep, 'w.bin'), 'x');
    const r = await sealDir(d);
    let outer = dir;
    while (Buffer.byteLength(outer) < 3300) outer = join(outer, 'g'.repeat(200));
    mkdirSync(outer, { recursive: true });
    let calls = 0;
    const counting: Identity = {
      description: 'counting',
      unwrapDataKey: (s, c) => (calls++, keys.alice.unwrapDataKey(s, c)),
    };
    const { Readable } = await import('node:stream');
    for (const input of [r.output, Readable.from([readFileSync(r.output)])]) {
      const out = join(outer, `opened${n++}`);
      await expect(
        open({ input, output: out, identities: [counting], trustedPublishers: keys.trusted, threads: 0 }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('open into a shorter output path'),
      });
      expect(existsSync(out)).toBe(false);
    }
    expect(calls).toBe(0);
  });

  it('a root-level model.sig in the input is a clear error that says what to do', async () => {
    for (const name of ['model.sig', 'MODEL.SIG']) {
      const d = fresh();
      writeFileSync(join(d, name), 'an old signature');
      await expect(sealDir(d)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/open writes the package's signed provenance.*remove it.*rename it/),
      });
    }
    // Deeper down it is an ordinary file.
    const d = fresh();
    mkdirSync(join(d, 'sub'));
    writeFileSync(join(d, 'sub', 'model.sig'), 'kept');
    const r = await sealDir(d);
    expect(r.files.map((f) => f.path)).toContain('sub/model.sig');
  });
});
