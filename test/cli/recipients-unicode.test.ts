/**
 * Recipients named in any script (issue 16, item 8): Cyrillic, CJK, Arabic (RTL), combining marks
 * and emoji register through the CLI, are certified as UTF8String (read back by node:crypto and by
 * `openssl x509 -nameopt utf8`), round-trip through `recipient list --json`, and appear as given in
 * the log entry of a real release. Controls, bidi overrides and over-long names are usage errors.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  loadPublisherKey,
  loadReleaseIdentity,
  noPassphrase,
  readPublisherPublicKey,
} from '../../src/keystore/keystore.js';
import { verifyProof } from '../../src/log/checkpoint.js';
import { decodeEvent } from '../../src/log/events.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { open } from '../../src/package/open.js';
import { seal } from '../../src/package/seal.js';
import { initPolicyDir, POLICY_FILES } from '../../src/policy/engine.js';
import { recipientFrom, type ProviderSettings } from '../../src/providers/registry.js';
import { ReleaseIdentity } from '../../src/providers/release.js';
import { startServer } from '../../src/server/http.js';
import { normalizePartyName } from '../../src/server/recipients.js';
import { openReleaseService } from '../../src/server/setup.js';
import { tempDir } from '../support/fixtures.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-cli-unicode-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');

function ms(args: string[]) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd: dir, maxBuffer: 64 << 20 });
  return {
    code: r.status,
    stdout: r.stdout.toString(),
    stderr: r.stderr.toString(),
    json: () => JSON.parse(r.stdout.toString()),
  };
}

// name → [organisation as typed, as stored (NFC)]
const PARTIES: [string, string, string][] = [
  ['ru-party', 'Владимир Путин', 'Владимир Путин'],
  ['cn-party', '中国科学院自动化研究所', '中国科学院自动化研究所'],
  ['ar-party', 'شركة الاتصالات السعودية', 'شركة الاتصالات السعودية'],
  // "Crème Brûlée Café" typed decomposed (e + U+0300 ...): stored precomposed.
  ['nfd-party', 'Cre\u0300me Bru\u0302le\u0301e Cafe\u0301', 'Crème Brûlée Café'],
  ['emoji-party', 'Rocket 🚀 Labs 👩‍🔬', 'Rocket 🚀 Labs 👩‍🔬'],
  // 64 CJK characters: the RFC 5280 bound exactly, 192 UTF-8 bytes (a long-form DER length).
  ['long-party', '研'.repeat(64), '研'.repeat(64)],
];

/** The DER of a UTF8String holding `text`. */
function utf8StringDer(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const len =
    body.length < 128
      ? Buffer.from([body.length])
      : body.length < 256
        ? Buffer.from([0x81, body.length])
        : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([0x0c]), len, body]);
}

describe('recipients with names in any script', () => {
  it('register through the CLI, are certified as UTF8String, and round-trip through recipient list --json', () => {
    expect(ms(['init', '--log-origin', 'unicode.test/log']).code).toBe(0);
    for (const [name, typed, stored] of PARTIES) {
      const r = ms([
        '--json',
        'recipient',
        'issue',
        name,
        '--data',
        data,
        '--org',
        typed,
        '--country',
        'AE',
        '--nationality',
        'AE',
        '-o',
        join(dir, `${name}.identity`),
      ]);
      expect(r.code, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
      const record = r.json().recipient;
      expect(record.org).toBe(stored);
      const cert = new X509Certificate(record.certificate);
      expect(cert.subject.split('\n')).toEqual([`CN=${name}`, `O=${stored}`, 'C=AE']);
      // UTF8String (tag 12), not a PrintableString or a Latin-1 T61String.
      expect(
        cert.raw.includes(utf8StringDer(stored)),
        `${name}: organizationName is not a UTF8String of the NFC text`,
      ).toBe(true);
      const pem = join(dir, `${name}.pem`);
      writeFileSync(pem, record.certificate);
      const o = spawnSync('openssl', ['x509', '-noout', '-subject', '-nameopt', 'utf8', '-in', pem]);
      expect(o.status, `openssl x509 failed: ${o.stderr.toString()}`).toBe(0);
      expect(o.stdout.toString('utf8').trim()).toBe(`subject=CN=${name}, O=${stored}, C=AE`);
    }
    const list = ms(['--json', 'recipient', 'list', '--data', data]);
    expect(list.code, list.stderr).toBe(0);
    expect(
      Object.fromEntries(list.json().recipients.map((x: { name: string; org: string }) => [x.name, x.org])),
    ).toEqual(Object.fromEntries(PARTIES.map(([n, , s]) => [n, s])));
  }, 120_000);

  it('refuses controls, bidi overrides, unpaired surrogates and over-long names with a usage error that says why', () => {
    const cases: [string, RegExp][] = [
      ['Acme\u202Egnp.exe', /U\+202E, a control or bidi-override character/],
      ['Acme\u2066Labs', /U\+2066/],
      ['Acme\nLabs', /U\+000A/],
      ['Acme\u0007', /U\+0007/],
      ['研'.repeat(65), /65 characters, at most 64/],
      ['   ', /organisation is required/],
    ];
    for (const [org, why] of cases) {
      const r = ms([
        '--json',
        'recipient',
        'issue',
        `bad-${randomBytes(3).toString('hex')}`,
        '--data',
        data,
        '--org',
        org,
        '--country',
        'DE',
        '--nationality',
        'DE',
      ]);
      expect({ org, code: r.code }).toEqual({ org, code: 2 });
      expect(r.json().error.code).toBe('INVALID_ARGUMENT');
      expect(r.json().error.message).toMatch(why);
    }
    // argv cannot carry an unpaired surrogate; the library entry point refuses one.
    expect(() => normalizePartyName('Acme \uD800 Labs')).toThrow(/unpaired UTF-16 surrogate/);
  }, 60_000);

  it('a real release to a recipient with a non-Latin organisation logs it as registered', async () => {
    const logKey = parseVerifierKey(readFileSync(join(keys, 'log.vkey'), 'utf8'));
    const src = join(dir, 'weights.bin');
    writeFileSync(src, randomBytes(100_000));
    mkdirSync(join(data, 'policy'), { recursive: true });
    await initPolicyDir(join(data, 'policy'));
    const setup = await openReleaseService(data, keys, { commitIntervalMs: 0, skewSeconds: 120 });
    const server = await startServer(setup.service, setup.log, { port: 0 });
    try {
      const settings = { keysDir: keys, passphrase: noPassphrase, identityFiles: [], kms: {} } as ProviderSettings;
      const publisher = await loadPublisherKey(join(keys, 'publisher.key'));
      const trustedPublishers = [await readPublisherPublicKey(join(keys, 'publisher.pub'))];
      const licenses = [];
      const pkgs: Record<string, string> = {};
      for (const [name] of PARTIES) {
        const out = join(dir, `${name}.mseal`);
        const r = await seal({
          input: src,
          output: out,
          recipients: [await recipientFrom(`release:${server.url}#${name}`, settings)],
          publisher,
          license: `L-${name}`,
          force: true,
        });
        licenses.push({
          id: `L-${name}`,
          holder: name,
          artifacts: [r.model.rootDigest],
          destinations: ['AE'],
          notBefore: '2020-01-01T00:00:00Z',
          notAfter: '2100-01-01T00:00:00Z',
          maxReleases: 5,
        });
        pkgs[name] = out;
      }
      writeFileSync(join(data, 'policy', POLICY_FILES.licenses), JSON.stringify({ licenses }));
      // Look now rather than wait for the watcher; a look it had under way is joined, then one more runs.
      await setup.policy.check();
      expect((await setup.policy.current()).licenses.map((l) => l.id)).toEqual(licenses.map((l) => l.id));
      for (const [name, , stored] of PARTIES) {
        const { key } = await loadReleaseIdentity(join(dir, `${name}.identity`));
        const receipts: string[] = [];
        const identity = new ReleaseIdentity({
          name,
          key,
          destination: 'AE',
          logKey,
          onReceipt: (r) => receipts.push(r),
        });
        const r = await open({
          input: pkgs[name]!,
          output: join(dir, `out-${name}`),
          identities: [identity],
          trustedPublishers,
        });
        expect(readFileSync(r.output).equals(readFileSync(src))).toBe(true);
        expect(receipts).toHaveLength(1);
        const entry = decodeEvent(verifyProof(receipts[0]!, undefined, logKey).entry);
        expect(entry).toMatchObject({
          type: 'release',
          decision: 'allow',
          recipient: name,
          org: stored,
          country: 'AE',
        });
      }
    } finally {
      await server.close();
      await setup.close();
    }
  }, 120_000);
});
