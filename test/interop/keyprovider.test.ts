/**
 * `modelseal keyprovider` under ocicrypt itself: test/peers/ocicryptcheck (github.com/containers/ocicrypt)
 * encrypts a layer with a keyprovider config naming the built CLI, and decrypts it again. The layer
 * key is released by a real `modelseal serve`: allowed for the licensed recipient (and logged),
 * denied for one the license does not cover and after revocation (and logged).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, serveCli, type ServedCli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { policyInForce } from '../support/wait.js';

// Built by test/peers/setup.sh under a name from the hash of its source (go.mod, go.sum, main.go).
const PEER_SRC = join(import.meta.dirname, '../peers/ocicryptcheck');
const OCICRYPTCHECK = join(
  import.meta.dirname,
  '../../.peers',
  `ocicryptcheck-${createHash('sha256')
    .update(Buffer.concat(['go.mod', 'go.sum', 'main.go'].map((f) => readFileSync(join(PEER_SRC, f)))))
    .digest('hex')
    .slice(0, 16)}`,
);
const ANNOTATION = 'org.opencontainers.image.enc.keys.provider.modelseal';

const dir = tempDir('modelseal-keyprovider-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const ms = cli(keys, dir);
const layer = randomBytes(6 * 1024 + 123);
const model = `sha256:${createHash('sha256').update('the model the image serves').digest('hex')}`;
const config = join(dir, 'ocicrypt.json');
let served: ServedCli | undefined;

/** Runs the ocicrypt peer with the keyprovider config; `env` adds to the environment. */
function ocicrypt(args: string[], env: Record<string, string> = {}) {
  if (!existsSync(OCICRYPTCHECK))
    throw new Error(
      `${OCICRYPTCHECK} is missing: run \`bash test/peers/setup.sh\` (npm test does), which builds it with Go ` +
        'and github.com/containers/ocicrypt',
    );
  const r = spawnSync(OCICRYPTCHECK, args, {
    env: { ...process.env, OCICRYPT_KEYPROVIDER_CONFIG: config, ...env },
    cwd: dir,
  });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function issue(name: string): string {
  const file = join(dir, `${name}.identity`);
  const r = ms(['recipient', 'issue', name, '--data', data, '--org', `${name} GmbH`, '--country', 'DE', '-o', file]);
  expect(r.code, r.stderr).toBe(0);
  return file;
}

/** The release events of the running service's log, as `audit list` reads them over HTTP. */
function releases(): Record<string, unknown>[] {
  const r = ms(['--json', 'audit', 'list', '--log', served!.url, '--type', 'release']);
  expect(r.code, r.stderr).toBe(0);
  return r.json().entries;
}

beforeAll(async () => {
  expect(ms(['init', '--log-origin', 'keyprovider.test/log']).code).toBe(0);
  issue('acme-labs');
  issue('globex');
  served = await serveCli(keys, dir, data);
  writeFileSync(
    join(data, 'policy', 'licenses.json'),
    JSON.stringify({
      licenses: [
        {
          id: 'EAR-1',
          holder: 'acme-labs',
          artifacts: [model],
          destinations: ['DE'],
          notBefore: '2020-01-01T00:00:00Z',
          notAfter: '2100-01-01T00:00:00Z',
          maxReleases: 10,
        },
      ],
    }),
  );
  const checked = ms(['--json', 'policy', 'check', '--data', data]);
  expect(checked.code, checked.stderr).toBe(0);
  await policyInForce(served.url, checked.json().hash);
  // What containerd/imgcrypt or CRI-O would be given: the CLI as the command, no secret in its args.
  const cmd = { path: process.execPath, args: [BIN, '--keys', keys, 'keyprovider'] };
  writeFileSync(config, JSON.stringify({ 'key-providers': { modelseal: { cmd } } }));
  writeFileSync(join(dir, 'layer.tar'), layer);
}, 60_000);

afterAll(() => served?.stop());

describe('modelseal keyprovider with ocicrypt', () => {
  it('escrows the layer key to the service, releases it to the licensed recipient, denies the others', () => {
    mkdirSync(join(dir, 'enc'));
    const url = served!.url;
    const enc = ocicrypt([
      'encrypt',
      'modelseal',
      join(dir, 'layer.tar'),
      join(dir, 'enc'),
      `release:${url}#acme-labs`,
      `release:${url}#globex`,
      'license=EAR-1',
      `model=${model}`,
    ]);
    expect(enc.code, enc.stderr).toBe(0);
    const annotations = JSON.parse(enc.stdout).annotations as Record<string, string>;
    const escrow = JSON.parse(Buffer.from(annotations[ANNOTATION]!, 'base64').toString('utf8'));
    expect(escrow).toMatchObject({ v: 1, type: 'modelseal/v1 ocicrypt-layer' });
    expect(escrow.stanzas.map((s: { recipient: string }) => s.recipient)).toEqual(['acme-labs', 'globex']);
    expect(escrow.stanzas[0]).toMatchObject({ type: 'release', license: 'EAR-1', model });
    // The layer's key options (ocicrypt's JSON with "symkey") are not in the clear anywhere in the annotation.
    expect(Buffer.from(annotations[ANNOTATION]!, 'base64').toString('utf8')).not.toContain('symkey');
    expect(readFileSync(join(dir, 'enc', 'layer.enc')).includes(layer.subarray(0, 64))).toBe(false);

    // Allowed: the licensed recipient decrypts the layer to the same bytes, and the log has the release.
    const acme = { MODELSEAL_KEYPROVIDER_IDENTITY: join(dir, 'acme-labs.identity') };
    const out = ocicrypt(['decrypt', 'modelseal', join(dir, 'enc'), join(dir, 'acme.tar'), 'destination=DE'], acme);
    expect(out.code, out.stderr).toBe(0);
    expect(readFileSync(join(dir, 'acme.tar')).equals(layer)).toBe(true);
    expect(releases()).toEqual([
      expect.objectContaining({
        decision: 'allow',
        recipient: 'acme-labs',
        license: 'EAR-1',
        model,
        artifact: escrow.artifact,
        package: escrow.package,
        destination: 'DE',
      }),
    ]);

    // A recipient the license does not cover: ocicrypt fails, the log has the denial.
    const globex = { MODELSEAL_KEYPROVIDER_IDENTITY: join(dir, 'globex.identity') };
    const denied = ocicrypt(
      ['decrypt', 'modelseal', join(dir, 'enc'), join(dir, 'globex.tar'), 'destination=DE'],
      globex,
    );
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('RELEASE_DENIED');
    expect(existsSync(join(dir, 'globex.tar'))).toBe(false);
    expect(releases()[1]).toMatchObject({ decision: 'deny', recipient: 'globex', license: 'EAR-1', model });

    for (const r of [denied, out]) expect(r.stderr).not.toMatch(/PRIVATE KEY|symkey/);
  }, 120_000);

  it('refuses an altered annotation: another artifact is denied by the service, altered options do not open', () => {
    const escrow = JSON.parse(
      Buffer.from(
        JSON.parse(readFileSync(join(dir, 'enc', 'descriptor.json'), 'utf8')).annotations[ANNOTATION],
        'base64',
      ).toString('utf8'),
    );
    const unwrap = (annotation: object) =>
      spawnSync(process.execPath, [BIN, '--keys', keys, 'keyprovider', '--identity', join(dir, 'acme-labs.identity')], {
        cwd: dir,
        input: JSON.stringify({
          op: 'keyunwrap',
          keyunwrapparams: {
            dc: { Parameters: { modelseal: [Buffer.from('destination=DE').toString('base64')] } },
            annotation: Buffer.from(JSON.stringify(annotation)).toString('base64'),
          },
        }),
      });
    const before = releases().length;
    const other = unwrap({ ...escrow, artifact: `sha256:${'00'.repeat(32)}` });
    expect(other.status, other.stderr.toString()).toBe(14);
    expect(other.stdout.toString()).toBe('');
    expect(releases()[before]).toMatchObject({ decision: 'deny', reason: 'stanza-not-for-package' });
    const opts = Buffer.from(escrow.options, 'base64');
    opts[20]! ^= 1;
    const altered = unwrap({ ...escrow, options: opts.toString('base64') });
    expect(altered.status, altered.stderr.toString()).toBe(6);
    expect(altered.stderr.toString()).toMatch(/DECRYPTION_FAILED/);
    expect(altered.stdout.toString()).toBe('');
  });

  it('takes what the request does not say from the options in the ocicrypt config', () => {
    // containerd's ctd-decoder passes no provider values: recipient, license, identity and destination in `args`.
    const args = [BIN, '--keys', keys, 'keyprovider', '--to', `release:${served!.url}#acme-labs`, '--license', 'EAR-1'];
    args.push('--model', model, '--identity', join(dir, 'acme-labs.identity'), '--destination', 'DE');
    const byArgs = join(dir, 'ocicrypt-args.json');
    writeFileSync(
      byArgs,
      JSON.stringify({ 'key-providers': { modelseal: { cmd: { path: process.execPath, args } } } }),
    );
    mkdirSync(join(dir, 'enc-args'));
    const env = { OCICRYPT_KEYPROVIDER_CONFIG: byArgs };
    const enc = ocicrypt(['encrypt', 'modelseal', join(dir, 'layer.tar'), join(dir, 'enc-args')], env);
    expect(enc.code, enc.stderr).toBe(0);
    const out = ocicrypt(['decrypt', 'modelseal', join(dir, 'enc-args'), join(dir, 'args.tar')], env);
    expect(out.code, out.stderr).toBe(0);
    expect(readFileSync(join(dir, 'args.tar')).equals(layer)).toBe(true);
    expect(releases().at(-1)).toMatchObject({ decision: 'allow', recipient: 'acme-labs', model, destination: 'DE' });
  }, 60_000);

  it('denies a revoked recipient, and the log has the denial', () => {
    const acme = { MODELSEAL_KEYPROVIDER_IDENTITY: join(dir, 'acme-labs.identity') };
    expect(ms(['recipient', 'revoke', 'acme-labs', '--data', data]).code).toBe(0);
    const revoked = ocicrypt(
      ['decrypt', 'modelseal', join(dir, 'enc'), join(dir, 'again.tar'), 'destination=DE'],
      acme,
    );
    expect(revoked.code).not.toBe(0);
    expect(revoked.stderr).toContain('RELEASE_DENIED');
    expect(releases().at(-1)).toMatchObject({ decision: 'deny', recipient: 'acme-labs', reason: 'revoked-identity' });
    expect(revoked.stderr).not.toMatch(/PRIVATE KEY|symkey/);
  }, 60_000);

  it('answers a malformed request with a clear error on stderr, nothing on stdout and exit 30', () => {
    for (const [input, message] of [
      ['not json', /stdin is not JSON/],
      ['{"op":"encrypt"}', /"op" must be "keywrap" or "keyunwrap"/],
      ['{"op":"keywrap","keywrapparams":{"ec":null,"optsdata":"%%%"}}', /optsdata is not standard base64/],
      ['{"op":"keywrap","keywrapparams":{"ec":null,"optsdata":"eyJ9"}}', /no release:<service URL>#<recipient>/],
      ['{"op":"keyunwrap","keyunwrapparams":{"dc":null}}', /annotation must be a base64 string/],
    ] as const) {
      const r = spawnSync(process.execPath, [BIN, '--keys', keys, 'keyprovider'], { input, cwd: dir });
      expect(r.status, input).toBe(30);
      expect(r.stdout.toString()).toBe('');
      expect(r.stderr.toString()).toMatch(message);
    }
  });
});
