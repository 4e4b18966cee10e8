/**
 * The release service's checkpoints signed by an Ed25519 key in an HSM (SoftHSM2, CKM_EDDSA) instead
 * of the key store's log.key: in process (openReleaseService's logSigner) and through the built CLI
 * (`serve --log-signer`). The log's name and verifier come from keys/log.vkey; what the service signs
 * is checked under it here and by Go's golang.org/x/mod/sumdb/note; a log.vkey that does not name
 * the signer's key, or none, refuses the start. log.key is removed: it is not read.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  initKeystore,
  loadPublisherKey,
  NoteSigner,
  openCheckpoint,
  openExportLog,
  openReleaseService,
  parseVerifierKey,
  Pkcs11Signer,
  seal,
  startServer,
  type Signer,
} from '../../src/index.js';
import { startSoftHsm, type SoftHsm } from '../support/softhsm.js';
import { goCheck } from '../support/tlogcheck.js';
import { makeKeys, tempDir } from '../support/fixtures.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const ORIGIN = 'releases.test/hsm-log';
const CHECKPOINT = resolve('samples/checkpoint');
const dir = tempDir('modelseal-log-signer-');
const fixtures = makeKeys();
let hsm: SoftHsm;
let logKey: Signer;
let otherKey: Signer;
let p256Key: Signer;

beforeAll(() => {
  hsm = startSoftHsm(join(dir, 'hsm'), 'log-signer');
  hsm.generateSigningKey('log', 'ed25519');
  hsm.generateSigningKey('other-log', 'ed25519');
  hsm.generateSigningKey('publisher', 'p256');
}, 60_000);

beforeAll(async () => {
  const opts = { module: hsm.module, pin: hsm.pin };
  logKey = await Pkcs11Signer.open(hsm.token, 'log', opts);
  otherKey = await Pkcs11Signer.open(hsm.token, 'other-log', opts);
  p256Key = await Pkcs11Signer.open(hsm.token, 'publisher', opts);
});

/** A key store whose log.vkey names `signer` under ORIGIN, and without log.key. */
async function keyStore(name: string, signer: Signer | undefined): Promise<string> {
  const keys = join(dir, name);
  await initKeystore(keys, { logOrigin: ORIGIN });
  rmSync(join(keys, 'log.key'));
  if (signer) writeFileSync(join(keys, 'log.vkey'), NoteSigner.fromSigner(ORIGIN, signer).verifierKey + '\n');
  else rmSync(join(keys, 'log.vkey'));
  return keys;
}

async function sealLogged(keys: string, url: string, name: string) {
  const publisher = await loadPublisherKey(join(keys, 'publisher.key'));
  const src = join(dir, `${name}.bin`);
  writeFileSync(src, randomBytes(4096));
  const log = await openExportLog(url, { keysDir: keys }); // receipts are checked under keys/log.vkey
  let logged: Awaited<ReturnType<typeof log.record>> = [];
  try {
    await seal({
      input: src,
      output: join(dir, `${name}.mseal`),
      recipients: [fixtures.local],
      publisher,
      beforeCommit: async (r) => {
        logged = await log.record(r, publisher);
      },
    });
  } finally {
    await log.close();
  }
  return logged;
}

describe('openReleaseService with an HSM log signer', () => {
  it("records an export under a checkpoint the HSM signed, verified under log.vkey here and by Go's sumdb/note", async () => {
    const keys = await keyStore('keys-ok', logKey);
    const vkey = readFileSync(join(keys, 'log.vkey'), 'utf8').trim();
    const setup = await openReleaseService(join(dir, 'data-ok'), keys, { commitIntervalMs: 0, logSigner: logKey });
    const server = await startServer(setup.service, setup.log, { port: 0 });
    try {
      expect(setup.log.origin).toBe(ORIGIN);
      expect(setup.service.info()).toMatchObject({ origin: ORIGIN, logKey: vkey });
      expect(await sealLogged(keys, server.url, 'ok')).toEqual([{ index: 0, recipient: fixtures.local.id }]);
      const note = await (await fetch(`${server.url}/checkpoint`)).text();
      expect(openCheckpoint(note, parseVerifierKey(vkey)).size).toBe(1);
      const forged = note.replace(`${ORIGIN}\n1\n`, `${ORIGIN}\n2\n`);
      expect(forged).not.toBe(note);
      const go = goCheck([note, forged].map((n) => ({ kind: 'checkpoint', vkey, note: n })));
      expect(go.map((v) => v.ok)).toEqual([true, false]);
    } finally {
      await server.close();
      await setup.close();
    }
    expect(existsSync(join(keys, 'log.key'))).toBe(false);
  });

  it('refuses to start when log.vkey is missing, is not an Ed25519 verifier key, or names another key', async () => {
    const missing = await keyStore('keys-missing', undefined);
    await expect(openReleaseService(join(dir, 'data-missing'), missing, { logSigner: logKey })).rejects.toMatchObject({
      code: 'KEYSTORE',
      message: expect.stringContaining(`signer pubkey <spec> --log-name <origin> -o ${join(missing, 'log.vkey')}`),
    });
    const pem = await keyStore('keys-pem', undefined);
    cpSync(join(pem, 'publisher.pub'), join(pem, 'log.vkey'));
    await expect(openReleaseService(join(dir, 'data-pem'), pem, { logSigner: logKey })).rejects.toMatchObject({
      code: 'KEYSTORE',
      message: expect.stringMatching(/PEM public key, not a log verifier key.*signer pubkey/),
    });
    const other = await keyStore('keys-other', otherKey);
    await expect(openReleaseService(join(dir, 'data-other'), other, { logSigner: logKey })).rejects.toMatchObject({
      code: 'KEYSTORE',
      message: expect.stringContaining('another public key than pkcs11:log-signer/log'),
    });
    const ok = await keyStore('keys-p256', logKey);
    await expect(openReleaseService(join(dir, 'data-p256'), ok, { logSigner: p256Key })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('Ed25519'),
    });
    // Nothing was started: no log was created for any of them.
    for (const d of ['missing', 'pem', 'other', 'p256']) expect(existsSync(join(dir, `data-${d}`, 'log'))).toBe(false);
  });
});

describe('modelseal serve --log-signer', () => {
  const keys = join(dir, 'cli-keys');
  const data = join(dir, 'cli-data');
  let server: ChildProcess | undefined;
  const hsmEnv = () => ({ MODELSEAL_PKCS11_PIN: hsm.pin, MODELSEAL_PKCS11_MODULE: hsm.module });
  function ms(args: string[], env: Record<string, string> = {}) {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
    const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    expect(`${r.stdout}${r.stderr}`).not.toContain(hsm.pin);
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
  }
  afterAll(() => {
    server?.kill('SIGTERM');
  });

  it('serves a log whose checkpoints the HSM key signs; the key store log.vkey checks receipts and the audit', async () => {
    expect(ms(['init', '--log-origin', 'cli.test/old-log']).code).toBe(0);
    rmSync(join(keys, 'log.key'));
    const spec = `pkcs11:${hsm.token}/log`;
    const vkeyFile = join(keys, 'log.vkey');
    const pub = ms(['--json', 'signer', 'pubkey', spec, '--log-name', ORIGIN, '-o', vkeyFile, '--force'], hsmEnv());
    expect(pub.code, pub.stderr).toBe(0);
    const vkey = NoteSigner.fromSigner(ORIGIN, logKey).verifierKey;
    expect(pub.json()).toMatchObject({ logVerifierKey: vkey, logVerifierKeyFile: vkeyFile });
    expect(readFileSync(vkeyFile, 'utf8')).toBe(vkey + '\n');

    const args = [BIN, '--keys', keys, '--json', 'serve', '--data', data, '--port', '0', '--log-signer', spec];
    server = spawn(process.execPath, args, { env: { ...process.env, ...hsmEnv() } });
    let output = '';
    server.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    const first = await new Promise<string>((res, rej) => {
      createInterface({ input: server!.stdout! }).once('line', res);
      server!.once('exit', (code) => rej(new Error(`serve exited ${code}: ${output}`)));
    });
    output += first;
    const ready = JSON.parse(first) as { url: string; origin: string; logKey: string };
    expect(ready).toMatchObject({ origin: ORIGIN, logKey: vkey });

    const pkg = join(dir, 'cli.mseal');
    const sealed = ms(['--json', 'seal', CHECKPOINT, '--to', 'local', '-o', pkg, '--log', ready.url]);
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.json().log).toMatchObject({ origin: ORIGIN, entries: [{ index: 0 }] });
    const audit = ms(['--json', 'audit', 'verify', '--server', ready.url]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.json()).toMatchObject({ ok: true, origin: ORIGIN, size: 1 });
    const note = await (await fetch(`${ready.url}/checkpoint`)).text();
    expect(goCheck([{ kind: 'checkpoint', vkey, note }]).map((v) => v.ok)).toEqual([true]);

    server.kill('SIGTERM');
    await new Promise((r) => server!.once('exit', r));
    server = undefined;
    expect(output).not.toContain(hsm.pin);
  });

  it('refuses to start with a log.vkey of another key, a P-256 key, or an AWS KMS key', () => {
    const other = ms(
      [
        'signer',
        'pubkey',
        `pkcs11:${hsm.token}/other-log`,
        '--log-name',
        ORIGIN,
        '-o',
        join(keys, 'log.vkey'),
        '--force',
      ],
      hsmEnv(),
    );
    expect(other.code, other.stderr).toBe(0);
    const serve = (spec: string) =>
      ms(['--json', 'serve', '--data', data, '--port', '0', '--log-signer', spec], hsmEnv());
    const mismatch = serve(`pkcs11:${hsm.token}/log`);
    expect(mismatch.code).toBe(8);
    expect(mismatch.json().error).toMatchObject({ code: 'KEYSTORE', message: expect.stringContaining('another') });
    const p256 = serve(`pkcs11:${hsm.token}/publisher`);
    expect(p256.code).toBe(2);
    expect(p256.json().error.message).toMatch(/--log-signer .*ecdsa-p256-sha256.*Ed25519/);
    const kms = serve('aws-kms:alias/log?endpoint=http%3A%2F%2F127.0.0.1%3A9');
    expect(kms.code).toBe(2);
    expect(kms.json().error.message).toMatch(/--log-signer .*AWS KMS keys cannot sign log checkpoints/);
    // signer pubkey --log-name refuses a key that is not Ed25519 rather than write its PEM as a log.vkey.
    const notEd = ms(['signer', 'pubkey', `pkcs11:${hsm.token}/publisher`, '--log-name', ORIGIN], hsmEnv());
    expect(notEd.code).toBe(2);
    expect(notEd.stderr).toContain('Ed25519');
  });
});
