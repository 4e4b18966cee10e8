/**
 * Interop with the reference OpenSSF Model Signing implementation: the `model_signing` CLI of the
 * `model-signing` PyPI package, from the venv that `bash test/peers/setup.sh` creates. A missing
 * venv fails these tests on purpose: a skipped interop test would pass silently on a machine that
 * checks nothing.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeRootDigest, signModel, verifyModelSignature, type ManifestEntry } from '../../src/provenance/oms.js';
import { open } from '../../src/package/open.js';
import { seal } from '../../src/package/seal.js';
import { localSigner } from '../../src/crypto/signer.js';
import { publisherFromSigner } from '../../src/keystore/keystore.js';
import { makeKeys } from '../support/fixtures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL_SIGNING = join(ROOT, '.peers/venv/bin/model_signing');

/** Fails (never skips) when the Python peers are not installed. */
function requireModelSigning(): void {
  if (!existsSync(MODEL_SIGNING)) {
    throw new Error(`${MODEL_SIGNING} does not exist: run \`bash test/peers/setup.sh\` to install the Python peers`);
  }
}

/** Runs the reference CLI; returns its exit status and output (never throws on a non-zero exit). */
function cli(args: string[]): { status: number | null; output: string } {
  requireModelSigning();
  const r = spawnSync(MODEL_SIGNING, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const verifyCli = (dir: string, pub: string) =>
  cli(['verify', 'key', dir, '--signature', join(dir, 'model.sig'), '--public_key', pub]);

/** Deterministic pseudo-random bytes (SHA-256 in counter mode). */
function detBytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0, at = 0; at < n; i++) at += createHash('sha256').update(`${seed}:${i}`).digest().copy(out, at);
  return out;
}

/** Model files, chosen so that a plain string sort and a path-component sort disagree ("a/b" vs "a.txt"). */
const FILES: Record<string, Buffer> = {
  'config.json': Buffer.from('{"architectures":["Demo"]}\n'),
  'a.txt': Buffer.from('readme\n'),
  'a/b.bin': detBytes(1000, 'ab'),
  'a-b/c.bin': detBytes(10, 'a-b'),
  'weights/model-00001.safetensors': detBytes(3 * 1024 * 1024 + 17, 'weights'),
  'weights/nested/tokenizer.model': detBytes(4096, 'tok'),
};

function writeModel(dir: string): void {
  for (const [p, data] of Object.entries(FILES)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), data);
  }
}

/** Hashes every regular file under `dir` except `skip`, with POSIX paths relative to `dir`. */
function hashModel(dir: string, skip: string[] = []): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  for (const d of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!d.isFile()) continue;
    const full = join(d.parentPath, d.name);
    const path = relative(dir, full).split(sep).join('/');
    if (skip.includes(path)) continue;
    const data = readFileSync(full);
    out.push({ path, size: data.length, sha256: new Uint8Array(createHash('sha256').update(data).digest()) });
  }
  return out;
}

function newKey(): { privateKey: KeyObject; publicKey: KeyObject; publicKeyPem: string; privateKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

describe('interop with model_signing (OpenSSF Model Signing reference CLI)', () => {
  let work: string;
  const key = newKey();
  const other = newKey();
  let pub: string;
  let otherPub: string;

  beforeAll(() => {
    requireModelSigning();
    work = mkdtempSync(join(tmpdir(), 'modelseal-oms-'));
    pub = join(work, 'pub.pem');
    otherPub = join(work, 'other.pem');
    writeFileSync(pub, key.publicKeyPem);
    writeFileSync(otherPub, other.publicKeyPem);
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the CLI is model-signing 1.1.1', () => {
    expect(cli(['--version']).output).toContain('1.1.1');
  });

  describe('model_signing verify key accepts what signModel writes', () => {
    let dir: string;
    beforeAll(async () => {
      dir = join(work, 'ours');
      writeModel(dir);
      const sig = await signModel({
        modelName: 'ours',
        entries: hashModel(dir),
        ignorePaths: ['model.sig'],
        signer: localSigner(key.privateKey),
      });
      writeFileSync(join(dir, 'model.sig'), sig);
    });

    it('verifies (model.sig inside the model directory)', () => {
      const r = verifyCli(dir, pub);
      expect(r.status, r.output).toBe(0);
      expect(r.output).toContain('Verification succeeded');
    });

    it('verifies through the library API too, which only skips model.sig because ignore_paths lists it', () => {
      // The CLI adds --signature to the ignored paths itself; verifying.Config().verify() does not.
      const script =
        'import sys, model_signing\n' +
        'model_signing.verifying.Config().use_elliptic_key_verifier(public_key=sys.argv[2])' +
        '.verify(sys.argv[1], sys.argv[1] + "/model.sig")\nprint("ok")';
      const r = spawnSync(join(dirname(MODEL_SIGNING), 'python'), ['-c', script, dir, pub], { encoding: 'utf8' });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout.trim()).toBe('ok');
    });

    it('rejects a flipped byte in a weight file', () => {
      const p = join(dir, 'weights/model-00001.safetensors');
      const data = readFileSync(p);
      data[1_500_000]! ^= 0x01;
      writeFileSync(p, data);
      try {
        const r = verifyCli(dir, pub);
        expect(r.status, r.output).not.toBe(0);
        expect(r.output).toContain('Hash mismatch');
      } finally {
        data[1_500_000]! ^= 0x01;
        writeFileSync(p, data);
      }
      expect(verifyCli(dir, pub).status).toBe(0);
    });

    it('rejects an extra file', () => {
      const p = join(dir, 'weights/extra.bin');
      writeFileSync(p, 'surprise');
      try {
        const r = verifyCli(dir, pub);
        expect(r.status, r.output).not.toBe(0);
        expect(r.output).toContain('Extra files');
      } finally {
        rmSync(p);
      }
    });

    it('rejects another public key', () => {
      const r = verifyCli(dir, otherPub);
      expect(r.status, r.output).not.toBe(0);
    });
  });

  it('verifyModelSignature accepts what model_signing sign key writes', () => {
    const dir = join(work, 'theirs');
    writeModel(dir);
    const priv = join(work, 'priv.pem');
    writeFileSync(priv, key.privateKeyPem, { mode: 0o600 });
    const r = cli(['sign', 'key', dir, '--signature', join(dir, 'model.sig'), '--private_key', priv]);
    expect(r.status, r.output).toBe(0);

    const bundle = readFileSync(join(dir, 'model.sig'), 'utf8');
    const v = verifyModelSignature(bundle, key.publicKey);
    const ours = hashModel(dir, ['model.sig']);
    expect(v.modelName).toBe('theirs');
    expect(Buffer.from(v.rootDigest).toString('hex')).toBe(Buffer.from(computeRootDigest(ours)).toString('hex'));
    // Python lists resources by path components: "a/b.bin" before "a-b/c.bin" and "a.txt".
    expect(v.entries.map((e) => e.path)).toEqual([
      'a/b.bin',
      'a-b/c.bin',
      'a.txt',
      'config.json',
      'weights/model-00001.safetensors',
      'weights/nested/tokenizer.model',
    ]);
    const byPath = new Map(ours.map((e) => [e.path, Buffer.from(e.sha256).toString('hex')]));
    for (const e of v.entries) expect(Buffer.from(e.sha256).toString('hex')).toBe(byPath.get(e.path));
    expect(v.ignorePaths).toContain('model.sig');

    expect(() => verifyModelSignature(bundle, other.publicKey)).toThrow(/key hint/);
  });

  describe("a single-file package's <file>.sig is what model_signing sign key writes for that file", () => {
    // A publisher whose private key the reference signer can read too.
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const k = { ...makeKeys(), publisher: publisherFromSigner(localSigner(pair.privateKey)) };
    k.trusted = [k.publisher.spki];
    let out: string;
    let pubPem: string;
    const statement = (sigFile: string) => {
      const b = JSON.parse(readFileSync(sigFile, 'utf8')) as { dsseEnvelope: { payload: string } };
      const st = JSON.parse(Buffer.from(b.dsseEnvelope.payload, 'base64').toString('utf8'));
      st.predicate.serialization.ignore_paths?.sort(); // the reference lists a frozenset: any order
      return st;
    };
    beforeAll(async () => {
      const dir = join(work, 'single');
      mkdirSync(dir);
      const input = join(dir, 'model.safetensors');
      writeFileSync(input, FILES['weights/model-00001.safetensors']!);
      pubPem = join(dir, 'publisher.pub');
      writeFileSync(pubPem, k.publisher.publicKeyPem);
      await seal({ input, output: join(dir, 'm.mseal'), recipients: [k.local], publisher: k.publisher });
      out = join(dir, 'opened', 'model.safetensors');
      mkdirSync(dirname(out));
      const r = await open({
        input: join(dir, 'm.mseal'),
        output: out,
        identities: [k.local],
        trustedPublishers: k.trusted,
      });
      expect(r.provenance).toBe(`${out}.sig`);
    });

    it('model_signing verify key accepts the opened file with its .sig', () => {
      const r = cli(['verify', 'key', out, '--signature', `${out}.sig`, '--public_key', pubPem]);
      expect(r.status, r.output).toBe(0);
      expect(r.output).toMatch(/succeeded/i);
    });

    it('and rejects it once a byte of the file changed', () => {
      const copy = join(work, 'single', 'tampered.safetensors');
      const data = readFileSync(out);
      data[12345]! ^= 1;
      writeFileSync(copy, data);
      const r = cli(['verify', 'key', copy, '--signature', `${out}.sig`, '--public_key', pubPem]);
      expect(r.status, r.output).not.toBe(0);
    });

    it('the signed statement equals the one model_signing sign key makes for the same file', () => {
      const priv = join(work, 'single', 'publisher.pem');
      writeFileSync(priv, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      const ref = join(work, 'single', 'reference.sig');
      const r = cli(['sign', 'key', out, '--signature', ref, '--private_key', priv]);
      expect(r.status, r.output).toBe(0);
      const theirs = statement(ref);
      expect(theirs.predicate.resources).toEqual([expect.objectContaining({ name: '.' })]);
      expect(statement(`${out}.sig`)).toEqual(theirs);
      // Our verifier reads the reference's single-file signature under the file's name.
      const v = verifyModelSignature(readFileSync(ref, 'utf8'), createPublicKey(k.publisher.publicKeyPem));
      expect(v.modelName).toBe('model.safetensors');
      expect(v.entries.map((e) => e.path)).toEqual(['model.safetensors']);
    });
  });
});
