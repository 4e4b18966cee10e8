/** The pkcs11 provider against SoftHSM2: a real token, its own configuration, keys made on it. */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { inspect, open, readHead, rewrap, seal } from '../../src/index.js';
import { listTokens, Pkcs11Identity, Pkcs11Recipient } from '../../src/providers/pkcs11.js';
import { contextFor } from '../../src/providers/types.js';
import { startSoftHsm, type SoftHsm } from '../support/softhsm.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir();
let hsm: SoftHsm;

beforeAll(() => {
  hsm = startSoftHsm(join(dir, 'hsm'));
  hsm.generateAesKey('kek-1');
  hsm.generateAesKey('kek-2');
  hsm.generateAesKey('loose', { extractable: true });
});

const cfg = () => ({ module: hsm.module, pin: hsm.pin });

async function sealTo(label: string, name: string) {
  const src = join(dir, `${name}.bin`);
  writeFileSync(src, detBytes(150_000, name));
  const pkg = join(dir, `${name}.mseal`);
  await seal({
    input: src,
    output: pkg,
    recipients: [await Pkcs11Recipient.open(hsm.token, label, cfg())],
    publisher: keys.publisher,
    license: 'EAR-7',
  });
  return { src, pkg };
}

const openWith = (pkg: string, id: Pkcs11Identity) =>
  open({
    input: pkg,
    output: join(dir, `o-${Math.random().toString(36).slice(2)}`),
    identities: [id],
    trustedPublishers: keys.trusted,
  });

describe('pkcs11 provider (SoftHSM2)', () => {
  // First: the token keeps one login per application, so a wrong PIN is only seen before a good one.
  it('a wrong PIN, a missing key and a missing token are clear errors', async () => {
    const wrong = (await Pkcs11Recipient.open(hsm.token, 'kek-1', { ...cfg(), pin: '000000' }).catch(
      (e: unknown) => e,
    )) as { message?: string; details?: unknown };
    expect(wrong).toMatchObject({ code: 'KEYSTORE', details: { ckr: 'CKR_PIN_INCORRECT' } });
    expect(JSON.stringify({ m: wrong.message, d: wrong.details })).not.toContain('000000'); // never the PIN
    await expect(Pkcs11Recipient.open(hsm.token, 'no-such-key', cfg())).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringContaining('no-such-key'),
    });
    await expect(Pkcs11Recipient.open('no-such-token', 'kek-1', cfg())).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringContaining('no-such-token'),
    });
  });

  it('wraps inside the token and unwraps there; the stanza names token and key', async () => {
    const { src, pkg } = await sealTo('kek-1', 'wrap');
    expect((await inspect(pkg)).recipients).toEqual([
      { type: 'pkcs11', recipient: `pkcs11:${hsm.token}/kek-1`, license: 'EAR-7', policy: 'none' },
    ]);
    const o = await openWith(pkg, new Pkcs11Identity(cfg()));
    expect(readFileSync(o.output).equals(readFileSync(src))).toBe(true);
  });

  it('lists the initialised tokens of the module (modelseal providers)', async () => {
    expect(await listTokens(hsm.module)).toContain(hsm.token);
  });

  it('refuses a key that could leave the HSM', async () => {
    await expect(Pkcs11Recipient.open(hsm.token, 'loose', cfg())).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('CKA_EXTRACTABLE'),
    });
  });

  it('a stanza under another release context (the AAD) does not unwrap', async () => {
    const { pkg } = await sealTo('kek-1', 'aad');
    const h = (await readHead(pkg)).parsed.header;
    const s = h.stanzas[0]!;
    const id = new Pkcs11Identity(cfg());
    expect(await id.unwrapDataKey(s, contextFor(h, s))).toHaveLength(32);
    const moved = { ...s, license: 'EAR-8' };
    await expect(id.unwrapDataKey(moved, contextFor(h, moved))).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    const otherKey = { ...s, recipient: `pkcs11:${hsm.token}/kek-2` };
    await expect(id.unwrapDataKey(otherKey, contextFor(h, otherKey))).rejects.toMatchObject({
      code: 'DECRYPTION_FAILED',
    });
    for (const hostile of [
      { ...s, recipient: 'pkcs11:no-slash' },
      { ...s, args: [] },
      { ...s, body: s.body.subarray(1) },
    ]) {
      await expect(id.unwrapDataKey(hostile, contextFor(h, hostile))).rejects.toMatchObject({
        code: 'DECRYPTION_FAILED',
      });
    }
  });

  it('logs in again when the token closes the session', async () => {
    const { src, pkg } = await sealTo('kek-2', 'session');
    const id = new Pkcs11Identity(cfg());
    await openWith(pkg, id);
    hsm.p.C_CloseAllSessions(hsm.slot); // the token (or another application) drops every session
    const o = await openWith(pkg, id);
    expect(readFileSync(o.output).equals(readFileSync(src))).toBe(true);
  });

  it('rewrap moves a package to a replacement HSM key without the data key leaving the process', async () => {
    const { src, pkg } = await sealTo('kek-1', 'replace');
    await rewrap(pkg, {
      identities: [new Pkcs11Identity(cfg())],
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      rotate: [{ from: `pkcs11:${hsm.token}/kek-1`, to: await Pkcs11Recipient.open(hsm.token, 'kek-2', cfg()) }],
    });
    expect((await inspect(pkg)).recipients).toEqual([
      { type: 'pkcs11', recipient: `pkcs11:${hsm.token}/kek-2`, license: 'EAR-7', policy: 'none' },
    ]);
    const o = await openWith(pkg, new Pkcs11Identity(cfg()));
    expect(readFileSync(o.output).equals(readFileSync(src))).toBe(true);
  });

  it('the CLI: --to pkcs11:<token>/<key> with the module and a PIN file; open finds the token', () => {
    const BIN = resolve('dist/cli/modelseal.bundle.mjs');
    const ks = join(dir, 'keys');
    const pinFile = join(dir, 'pin');
    writeFileSync(pinFile, `${hsm.pin}\n`, { mode: 0o600 });
    const run = (args: string[]) =>
      spawnSync(
        process.execPath,
        [BIN, '--keys', ks, '--pkcs11-module', hsm.module, '--pkcs11-pin-file', pinFile, ...args],
        { env: process.env },
      );
    expect(run(['--quiet', 'init']).status).toBe(0);
    const src = join(dir, 'cli.bin');
    writeFileSync(src, detBytes(90_000, 'cli'));
    const s = run(['--json', 'seal', src, '--to', `pkcs11:${hsm.token}/kek-1`, '-o', join(dir, 'cli.mseal')]);
    expect(s.status, s.stderr.toString()).toBe(0);
    expect(JSON.parse(s.stdout.toString()).recipients[0]).toMatchObject({
      type: 'pkcs11',
      recipient: `pkcs11:${hsm.token}/kek-1`,
    });
    const o = run(['--json', 'open', join(dir, 'cli.mseal'), '-o', join(dir, 'cli.out')]);
    expect(o.status, o.stderr.toString()).toBe(0);
    expect(JSON.parse(o.stdout.toString()).openedWith.type).toBe('pkcs11');
    expect(readFileSync(join(dir, 'cli.out')).equals(readFileSync(src))).toBe(true);
    const noPin = spawnSync(
      process.execPath,
      [
        BIN,
        '--keys',
        ks,
        '--json',
        '--pkcs11-module',
        hsm.module,
        'seal',
        src,
        '--to',
        `pkcs11:${hsm.token}/kek-1`,
        '-o',
        join(dir, 'x.mseal'),
      ],
      { env: { ...process.env, MODELSEAL_PKCS11_PIN: '' } },
    );
    expect(noPin.status).toBe(8); // KEYSTORE: a refused PIN
  });
});
