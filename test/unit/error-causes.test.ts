/**
 * Issue 16 item 7 (package part): errors swallowed in open and verify now surface with their cause.
 * The DECRYPTION_FAILED message stays uniform; the detail goes to the debug callback and `cause`.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { newPublisherKey, open, seal, verifyFolder } from '../../src/index.js';
import { ModelsealError } from '../../src/errors.js';
import { makeKeys, tempDir } from '../support/fixtures.js';
import { reheader } from '../support/packages.js';

const keys = makeKeys();
const other = newPublisherKey().publisher;
const dir = tempDir('modelseal-causes-');

describe('swallowed errors surface with their cause (issue 16 item 7)', async () => {
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'w.bin'), 'weights');
  const pkg = join(dir, 'p.mseal');
  await seal({ input: src, output: pkg, recipients: [keys.alice.recipient], publisher: keys.publisher, threads: 0 });

  it('open: why another trusted key rejected the provenance goes to the debug callback', async () => {
    const debug: string[] = [];
    await open({
      input: pkg,
      output: join(dir, 'o1'),
      identities: [keys.alice],
      trustedPublishers: [other.spki, keys.publisher.spki],
      threads: 0,
      debug: (m) => debug.push(m),
    });
    expect(debug.some((m) => /provenance .*does not verify with trusted key/.test(m))).toBe(true);
  });

  it('verify folder: a broken model.sig keeps its cause and tells the debug callback', async () => {
    const out = join(dir, 'o2');
    await open({ input: pkg, output: out, identities: [keys.alice], trustedPublishers: keys.trusted, threads: 0 });
    writeFileSync(
      join(out, 'model.sig'),
      readFileSync(join(out, 'model.sig'), 'utf8').replace('"dsseEnvelope"', '"dsseEnvelop"'),
    );
    const debug: string[] = [];
    const err = await verifyFolder(out, { trustedPublishers: keys.trusted, debug: (m) => debug.push(m) }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'SIGNATURE_INVALID' });
    expect((err as Error).cause).toBeInstanceOf(Error);
    expect(debug).toHaveLength(1);
  });

  it('open: a stanza that is ours but does not unwrap fails uniformly, with the provider error as cause', async () => {
    // The publisher signs a header whose stanza body is damaged: the identity's AEAD fails.
    const bad = reheader(readFileSync(pkg), (h) => void (h.stanzas[0]!.body[5]! ^= 1), keys.publisher);
    for (const input of [
      () => {
        const p = join(dir, 'bad.mseal');
        writeFileSync(p, bad);
        return p;
      },
      () => Readable.from([bad]),
    ]) {
      const debug: string[] = [];
      const err = await open({
        input: input(),
        output: join(dir, `o3${debug.length}${Math.random()}`),
        identities: [keys.alice],
        trustedPublishers: keys.trusted,
        threads: 0,
        debug: (m) => debug.push(m),
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: 'DECRYPTION_FAILED',
        message: 'the package failed authentication: it is damaged or was tampered with; nothing was written',
      });
      expect((err as Error).cause).toBeInstanceOf(ModelsealError);
      expect(debug.join('\n')).toMatch(/did not unwrap with .*: /);
    }
  });
});
