/**
 * Signers against the real peers: a P-256 publisher key in AWS KMS (moto_server, KMS `Sign` over
 * the wire) and in an HSM (SoftHSM2, CKM_ECDSA), and an Ed25519 log key in the HSM (CKM_EDDSA).
 * What they sign is checked by independent verifiers: `model_signing verify key` (PyPI
 * model-signing) for model.sig, and Go's golang.org/x/mod/sumdb/note for checkpoints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  AwsKmsSigner,
  FileStore,
  NoteSigner,
  Pkcs11Signer,
  TransparencyLog,
  formatCheckpoint,
  open,
  openCheckpoint,
  parseVerifierKey,
  publisherFromSigner,
  seal,
  signNote,
  verifyPackage,
  verifyProof,
  type Signer,
} from '../../src/index.js';
import { startMoto, type Moto } from '../support/moto.js';
import { startSoftHsm, type SoftHsm } from '../support/softhsm.js';
import { goCheck } from '../support/tlogcheck.js';
import { makeKeys, tempDir } from '../support/fixtures.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const MODEL_SIGNING = resolve('.peers/venv/bin/model_signing');
const CHECKPOINT = resolve('samples/checkpoint');
const keys = makeKeys();
const dir = tempDir();
let moto: Moto;
let hsm: SoftHsm;
let kmsKey: string;

beforeAll(async () => {
  moto = await startMoto();
  const kms = new KMSClient({ endpoint: moto.endpoint });
  const created = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }));
  kmsKey = created.KeyMetadata!.Arn!;
  hsm = startSoftHsm(join(dir, 'hsm'), 'signers');
  hsm.generateSigningKey('publisher', 'p256');
  hsm.generateSigningKey('log', 'ed25519');
  hsm.generateSigningKey('loose', 'p256', { extractable: true });
}, 60_000);

afterAll(async () => {
  await (moto as Moto | undefined)?.stop(); // unset when beforeAll failed
});

const hsmOpts = () => ({ module: hsm.module, pin: hsm.pin });
const pemOf = (s: Signer) =>
  createPublicKey({ key: Buffer.from(s.publicKey), format: 'der', type: 'spki' }).export({
    format: 'pem',
    type: 'spki',
  });

function modelSigningVerify(folder: string, pem: string): { status: number | null; output: string } {
  if (!existsSync(MODEL_SIGNING))
    throw new Error(`${MODEL_SIGNING} does not exist: run \`bash test/peers/setup.sh\` to install the Python peers`);
  const r = spawnSync(
    MODEL_SIGNING,
    ['verify', 'key', folder, '--signature', join(folder, 'model.sig'), '--public_key', pem],
    { encoding: 'utf8', timeout: 120_000 },
  );
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Seals the sample checkpoint with `signer`, checks it like a recipient and an auditor would. */
async function sealVerifyOpen(name: string, signer: Signer) {
  const publisher = publisherFromSigner(signer);
  const pkg = join(dir, `${name}.mseal`);
  await seal({ input: CHECKPOINT, output: pkg, recipients: [keys.local], publisher });
  const v = await verifyPackage(pkg, { trustedPublishers: [publisher.spki] });
  expect(v.kind).toBe('package');
  await expect(verifyPackage(pkg, { trustedPublishers: keys.trusted })).rejects.toMatchObject({
    code: 'UNTRUSTED_SIGNER',
  });
  const out = join(dir, `${name}-out`);
  await open({ input: pkg, output: out, identities: [keys.local], trustedPublishers: [publisher.spki] });
  expect(readFileSync(join(out, 'config.json'))).toEqual(readFileSync(join(CHECKPOINT, 'config.json')));
  const pem = join(dir, `${name}.pub`);
  writeFileSync(pem, pemOf(signer));
  const r = modelSigningVerify(out, pem);
  expect(r.status, r.output).toBe(0);
  expect(r.output).toContain('Verification succeeded');
  const other = join(dir, `${name}-other.pub`);
  writeFileSync(other, keys.publisher.publicKeyPem);
  expect(modelSigningVerify(out, other).status).not.toBe(0);
  return { pkg, pem };
}

describe('AWS KMS signer (moto)', () => {
  it('signs a checkpoint package (header, trailer, model.sig) that verifies with the KMS public key', async () => {
    const signer = await AwsKmsSigner.resolve(kmsKey, { endpoint: moto.endpoint });
    expect(kmsKey.endsWith(signer.keyId)).toBe(true); // AWS answers the ARN, moto the key id
    await sealVerifyOpen('kms', signer);
  });

  it('refuses a symmetric key, and names a missing one', async () => {
    const kms = new KMSClient({ endpoint: moto.endpoint });
    const sym = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
    await expect(AwsKmsSigner.resolve(sym, { endpoint: moto.endpoint })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(AwsKmsSigner.resolve('alias/none', { endpoint: moto.endpoint })).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      details: { awsError: 'NotFoundException' },
    });
  });
});

describe('PKCS#11 signer (SoftHSM2)', () => {
  it('signs a checkpoint package with CKM_ECDSA that verifies with the token public key', async () => {
    const signer = await Pkcs11Signer.open(hsm.token, 'publisher', hsmOpts());
    expect(signer.algorithm).toBe('ecdsa-p256-sha256');
    expect(signer.keyId).toBe(`pkcs11:${hsm.token}/publisher`);
    await sealVerifyOpen('hsm', signer);
  });

  it('refuses an extractable key and names a missing one', async () => {
    await expect(Pkcs11Signer.open(hsm.token, 'loose', hsmOpts())).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('CKA_EXTRACTABLE'),
    });
    await expect(Pkcs11Signer.open(hsm.token, 'nope', hsmOpts())).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringContaining('nope'),
    });
  });

  it('an Ed25519 token key (CKM_EDDSA) signs log checkpoints that Go sumdb/note accepts', async () => {
    const signer = await Pkcs11Signer.open(hsm.token, 'log', hsmOpts());
    expect(signer.algorithm).toBe('ed25519');
    const noteSigner = NoteSigner.fromSigner('modelseal.test/hsm-log', signer);
    const log = new TransparencyLog(FileStore.open(join(dir, 'hsm-log')), noteSigner);
    const entries = ['a', 'b', 'c'].map((s) => Buffer.from(`entry ${s}`));
    const receipts = await Promise.all(entries.map((e) => log.append(e)));
    const verifier = parseVerifierKey(noteSigner.verifierKey);
    const latest = await log.checkpoint;
    expect(openCheckpoint(latest, verifier).size).toBe(3);
    for (const [i, r] of receipts.entries())
      expect(verifyProof((await log.receipt(r.index)).proof, entries[i], verifier).index).toBe(r.index);
    const other = await signNote(
      formatCheckpoint({ origin: noteSigner.name, size: 3, root: Buffer.alloc(32), extensions: [] }),
      [noteSigner],
    );
    const cases = [
      { note: latest, good: true },
      { note: other, good: true },
      { note: latest.replace('\n3\n', '\n4\n'), good: false },
    ];
    const go = goCheck(cases.map(({ note }) => ({ kind: 'checkpoint', vkey: noteSigner.verifierKey, note })));
    expect(go.map((v) => v.ok)).toEqual(cases.map((c) => c.good));
    await log.close();
  });
});

describe('the CLI: seal --signer, signer pubkey, verify --publisher, trusted/', () => {
  const cliKeys = join(dir, 'cli-keys');
  function ms(args: string[], env: Record<string, string> = {}) {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
    const r = spawnSync(process.execPath, [BIN, '--keys', cliKeys, ...args], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
  }
  const hsmEnv = () => ({ MODELSEAL_PKCS11_PIN: hsm.pin, MODELSEAL_PKCS11_MODULE: hsm.module });

  it('a KMS-signed package verifies with the exported key, and once it is in trusted/', () => {
    expect(ms(['init']).code).toBe(0);
    const spec = `aws-kms:${kmsKey}?endpoint=${encodeURIComponent(moto.endpoint)}`;
    const pkg = join(dir, 'cli-kms.mseal');
    const s = ms(['--json', 'seal', CHECKPOINT, '--to', 'local', '--signer', spec, '-o', pkg]);
    expect(s.code, s.stderr).toBe(0);
    const pem = join(dir, 'cli-kms.pub');
    const p = ms(['--json', 'signer', 'pubkey', spec, '-o', pem]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.json()).toMatchObject({ command: 'signer', algorithm: 'ecdsa-p256-sha256' });
    expect(kmsKey.endsWith(p.json().keyId)).toBe(true);
    expect(s.json().signer).toBe(ms(['--json', 'inspect', pkg]).json().signer);
    expect(ms(['verify', pkg]).code).not.toBe(0); // the key store's own publisher key did not sign it
    expect(ms(['verify', pkg, '--publisher', pem]).code).toBe(0);
    cpSync(pem, join(cliKeys, 'trusted', 'kms-publisher.pub'));
    const v = ms(['--json', 'verify', pkg]);
    expect(v.code, v.stderr).toBe(0);
    // --signer and --signing-key together are two publishers: refused.
    const both = ms(['seal', CHECKPOINT, '--to', 'local', '--signer', spec, '--signing-key', 'x', '-o', pkg + '2']);
    expect(both.code).toBe(2);
  });

  it('an HSM-signed package (PIN from the environment), rewrapped by the same HSM key', () => {
    const pkg = join(dir, 'cli-hsm.mseal');
    const spec = `pkcs11:token=${hsm.token};object=publisher`;
    const s = ms(['seal', CHECKPOINT, '--to', 'local', '--signer', spec, '-o', pkg], hsmEnv());
    expect(s.code, s.stderr).toBe(0);
    const pem = join(dir, 'cli-hsm.pub');
    expect(ms(['signer', 'pubkey', `pkcs11:${hsm.token}/publisher`, '-o', pem], hsmEnv()).code).toBe(0);
    expect(ms(['verify', pkg, '--publisher', pem]).code).toBe(0);
    const bob = join(dir, 'bob.x25519');
    expect(ms(['keygen', '-o', bob]).code).toBe(0);
    const rw = ms(['rewrap', pkg, '--add', `x25519:${bob}.pub`, '--publisher', pem, '--signer', spec], hsmEnv());
    expect(rw.code, rw.stderr).toBe(0);
    expect(ms(['verify', pkg, '--publisher', pem]).code).toBe(0);
    // Without a PIN the token is not opened, and the error says where a PIN comes from.
    const noPin = ms(['seal', CHECKPOINT, '--to', 'local', '--signer', spec, '-o', pkg + '3'], {
      MODELSEAL_PKCS11_MODULE: hsm.module,
    });
    expect(noPin.code).not.toBe(0);
    expect(noPin.stderr).toContain('MODELSEAL_PKCS11_PIN');
  });

  it('signer pubkey gives an Ed25519 token key as a log verifier key', () => {
    const r = ms(
      ['--json', 'signer', 'pubkey', `pkcs11:${hsm.token}/log`, '--log-name', 'modelseal.test/hsm-log'],
      hsmEnv(),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      algorithm: 'ed25519',
      logVerifierKey: expect.stringMatching(/^modelseal\.test\/hsm-log\+[0-9a-f]{8}\+/),
    });
    expect(r.stdout).not.toContain(hsm.pin);
  });
});
