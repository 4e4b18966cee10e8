/** Runs the built `modelseal` binary (npm test builds first) and checks exit codes and --json shapes. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync, appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../support/fixtures.js';

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const PY = resolve('.peers/venv/bin/model_signing');
const dir = tempDir('modelseal-cli-');
const keys = join(dir, 'keys');

function ms(args: string[], opts: { input?: Buffer; env?: Record<string, string> } = {}) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], {
    input: opts.input,
    env: { ...process.env, ...opts.env },
    maxBuffer: 64 << 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString(), json: () => JSON.parse(r.stdout.toString()) };
}

describe('modelseal CLI', () => {
  it('init, seal, inspect, verify, open, verify folder — with --json shapes', () => {
    const init = ms(['--json', 'init']);
    expect(init.code).toBe(0);
    expect(init.json()).toMatchObject({
      ok: true,
      command: 'init',
      localRecipient: expect.stringMatching(/^local:[0-9a-f]{16}$/),
    });
    expect(ms(['init']).code).toBe(10); // OUTPUT_EXISTS: never overwrite keys silently

    const pkg = join(dir, 'sample.mseal');
    const seal = ms([
      '--json',
      'seal',
      'samples/checkpoint',
      '--to',
      'local',
      '--to',
      'x25519:samples/keys/recipient.x25519.pub',
      '--license',
      'L-1',
      '-o',
      pkg,
    ]);
    expect(seal.code, seal.stdout.toString()).toBe(0);
    const s = seal.json();
    expect(s).toMatchObject({ ok: true, command: 'seal', chunkSize: 1048576, model: { name: 'checkpoint' } });
    expect(s.recipients).toHaveLength(2);
    expect(seal.stderr).toBe('');

    const insp = ms(['--json', 'inspect', pkg]).json();
    expect(insp).toMatchObject({ format: 'modelseal/v1', packageId: s.packageId, signatureValid: true });
    expect(insp.files.map((f: { path: string }) => f.path)).toEqual([
      'config.json',
      'model.safetensors',
      'tokenizer.json',
    ]);
    expect(insp.recipients[1]).toMatchObject({ type: 'x25519', license: 'L-1' });

    expect(ms(['--json', 'verify', pkg]).json()).toMatchObject({ ok: true, kind: 'package', signer: s.signer });
    const out = join(dir, 'opened');
    const op = ms(['--json', 'open', pkg, '-o', out]);
    expect(op.code, op.stdout.toString()).toBe(0);
    expect(op.json()).toMatchObject({ ok: true, kind: 'folder', openedWith: { type: 'local' } });
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
      expect(readFileSync(join(out, f)).equals(readFileSync(join('samples/checkpoint', f)))).toBe(true);
    }
    expect(ms(['--json', 'verify', out]).json()).toMatchObject({ ok: true, kind: 'folder', files: 3 });
    expect(ms(['open', pkg, '-o', out]).code).toBe(10);

    // The opened checkpoint verifies with the reference OpenSSF Model Signing verifier…
    if (!existsSync(PY)) throw new Error(`${PY} is missing: run \`bash test/peers/setup.sh\` (npm test does)`);
    const verifyRef = () =>
      spawnSync(PY, [
        'verify',
        'key',
        out,
        '--signature',
        join(out, 'model.sig'),
        '--public_key',
        join(keys, 'publisher.pub'),
      ]);
    const ok = verifyRef();
    expect(ok.status, ok.stderr.toString()).toBe(0);
    // …and is rejected by it after one weight byte changes; our own folder verify agrees.
    const w = join(out, 'model.safetensors');
    const bytes = readFileSync(w);
    bytes[bytes.length - 5]! ^= 1;
    writeFileSync(w, bytes);
    expect(verifyRef().status).not.toBe(0);
    expect(ms(['verify', out]).code).toBe(7);
  });

  it('opens with --identity from stdin to stdout, and a single file round trips', () => {
    const pkg = join(dir, 'single.mseal');
    const sealed = spawnSync(
      process.execPath,
      [
        BIN,
        '--keys',
        keys,
        'seal',
        'samples/checkpoint/model.safetensors',
        '--to',
        'x25519:samples/keys/recipient.x25519.pub',
        '-o',
        '-',
      ],
      { maxBuffer: 64 << 20 },
    );
    expect(sealed.status, sealed.stderr.toString()).toBe(0);
    writeFileSync(pkg, sealed.stdout);
    const opened = ms(['open', '-', '-o', '-', '--identity', 'keys/fixtures/demo-recipient.x25519'], {
      input: sealed.stdout,
    });
    expect(opened.code, opened.stderr).toBe(0);
    expect(opened.stdout.equals(readFileSync('samples/checkpoint/model.safetensors'))).toBe(true);
  });

  it('maps failures to documented exit codes and one JSON error object', () => {
    const pkg = join(dir, 'sample.mseal');
    const other = join(dir, 'other-keys');
    const noId = spawnSync(process.execPath, [
      BIN,
      '--keys',
      other,
      '--json',
      'open',
      pkg,
      '-o',
      join(dir, 'x'),
      '--publisher',
      join(keys, 'publisher.pub'),
    ]);
    expect(noId.status).toBe(5);
    expect(JSON.parse(noId.stdout.toString())).toMatchObject({
      ok: false,
      error: { code: 'NO_MATCHING_IDENTITY', exitCode: 5 },
    });
    const untrusted = spawnSync(process.execPath, [BIN, '--keys', other, '--json', 'verify', pkg]);
    expect(untrusted.status).toBe(7);
    const bad = join(dir, 'bad.mseal');
    const b = readFileSync(pkg);
    b[Math.floor(b.length / 2)]! ^= 1; // inside a ciphertext chunk
    writeFileSync(bad, b);
    const r = ms(['--json', 'open', bad, '-o', join(dir, 'bad-out')]);
    expect([6, 7]).toContain(r.code);
    expect(existsSync(join(dir, 'bad-out'))).toBe(false);
    const trunc = join(dir, 'trunc.mseal');
    writeFileSync(trunc, readFileSync(pkg).subarray(0, 700_000));
    expect(ms(['open', trunc, '-o', join(dir, 'trunc-out')]).code).toBe(4);
    appendFileSync(join(dir, 'junk'), 'not a package');
    expect(ms(['inspect', join(dir, 'junk')]).code).toBe(4);
    expect(ms(['seal', 'samples/checkpoint', '-o', join(dir, 'y')]).code).toBe(2); // missing --to
    expect(ms(['seal', 'samples/checkpoint', '--to', 'bogus', '-o', join(dir, 'y')]).code).toBe(2);
    expect(ms(['open', join(dir, 'nope.mseal'), '-o', join(dir, 'z')]).code).toBe(3);
    expect(readdirSync(dir).filter((f) => f.includes('mseal-partial'))).toEqual([]);
  });

  it('rewrap adds and removes recipients of every package in a folder; reseal makes a fresh one', () => {
    const folder = join(dir, 'exports');
    mkdirSync(join(folder, 'sub'), { recursive: true });
    for (const p of ['a.mseal', 'sub/b.mseal'])
      expect(
        ms(['--quiet', 'seal', 'samples/checkpoint/config.json', '--to', 'local', '-o', join(folder, p)]).code,
      ).toBe(0);
    const bobPub = 'x25519:samples/keys/recipient.x25519.pub';
    const add = ms(['--json', 'rewrap', folder, '--add', bobPub, '--license', 'L-9']);
    expect(add.code, add.stderr).toBe(0);
    const r = add.json();
    expect(r).toMatchObject({ ok: true, command: 'rewrap' });
    expect(r.packages).toHaveLength(2);
    const bob = r.packages[0].added[0] as string;
    expect(r.packages[1]).toMatchObject({
      recipients: [{ type: 'local' }, { type: 'x25519', recipient: bob, license: 'L-9' }],
    });
    expect(
      ms(['--json', 'rewrap', join(folder, 'a.mseal'), '--remove', bob]).json().packages[0].recipients,
    ).toHaveLength(1);
    expect(ms(['rewrap', join(folder, 'a.mseal'), '--remove', bob]).code).toBe(2); // no longer there
    expect(ms(['--quiet', 'keygen', '-o', join(dir, 'carol.x25519')]).code).toBe(0);
    const rot = ms([
      '--json',
      'rewrap',
      join(folder, 'sub/b.mseal'),
      '--rotate',
      `${bob}=x25519:${join(dir, 'carol.x25519.pub')}`,
    ]);
    expect(rot.code, rot.stderr).toBe(0);
    expect(rot.json().packages[0]).toMatchObject({
      rotated: [{ from: bob }],
      recipients: [{ type: 'local' }, { type: 'x25519', license: 'L-9' }],
    });
    expect(ms(['rewrap', join(folder, 'sub/b.mseal'), '--rotate', 'no-equals-sign']).code).toBe(2);
    expect(ms(['--json', 'rewrap', '--recover', folder]).json()).toMatchObject({ ok: true, recovered: [] });
    const carol = rot.json().packages[0].rotated[0].to as string;
    const fresh = ms(['--json', 'reseal', join(folder, 'sub/b.mseal'), '--remove', carol, '-o', join(dir, 'b2.mseal')]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.json()).toMatchObject({
      ok: true,
      command: 'reseal',
      removed: [carol],
      recipients: [{ type: 'local' }],
    });
    expect(ms(['verify', join(dir, 'b2.mseal')]).code).toBe(0);
  });

  it('tar tvf lists a package, entries in format order, before and after rewrap', () => {
    const pkg = join(dir, 'tar.mseal');
    expect(ms(['--quiet', 'seal', 'samples/checkpoint', '--to', 'local', '-o', pkg]).code).toBe(0);
    const names = () => {
      const t = spawnSync('tar', ['tvf', pkg]);
      expect(t.status, t.stderr.toString()).toBe(0);
      expect(t.stderr.toString()).toBe('');
      return t.stdout
        .toString()
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/).pop());
    };
    const want = [
      'modelseal.header',
      'modelseal.header.sig',
      'modelseal.reserve',
      'payload/0/0',
      'payload/1/0',
      'payload/2/0',
      'modelseal.provenance',
      'modelseal.chunks',
      'modelseal.sig',
    ];
    expect(names()).toEqual(want);
    expect(ms(['--quiet', 'rewrap', pkg, '--add', 'x25519:samples/keys/recipient.x25519.pub']).code).toBe(0);
    expect(names()).toEqual(want);
  });

  it('seal --group … --threshold: k-of-n key groups, shown by inspect', () => {
    const pkg = join(dir, 'groups.mseal');
    const r = ms([
      '--json',
      'seal',
      'samples/checkpoint/config.json',
      '--group',
      'local',
      '--group',
      'x25519:samples/keys/recipient.x25519.pub,local',
      '--threshold',
      '2',
      '-o',
      pkg,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      keyGroups: { threshold: 2, groups: 2 },
      recipients: [
        { type: 'local', group: 0 },
        { type: 'x25519', group: 1 },
        { type: 'local', group: 1 },
      ],
    });
    expect(ms(['--json', 'inspect', pkg]).json()).toMatchObject({ keyGroups: { threshold: 2, groups: 2 } });
    const o = ms(['--json', 'open', pkg, '-o', join(dir, 'groups.out')]);
    expect(o.code, o.stderr).toBe(0);
    expect(
      ms([
        'seal',
        'samples/checkpoint/config.json',
        '--group',
        'local',
        '--group',
        'local',
        '--threshold',
        '3',
        '-o',
        join(dir, 'g3.mseal'),
      ]).code,
    ).toBe(2);
    expect(
      ms(['seal', 'samples/checkpoint/config.json', '--to', 'local', '--group', 'local', '-o', join(dir, 'g4.mseal')])
        .code,
    ).toBe(2);
  });

  it('providers lists every provider; a plugin named in MODELSEAL_PROVIDERS adds one without touching the format code', () => {
    const list = ms(['--json', 'providers']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json().providers.map((p: { provider: string }) => p.provider)).toEqual([
      'local',
      'x25519',
      'pkcs11',
      'aws-kms',
      'release',
    ]);
    const env = { MODELSEAL_PROVIDERS: 'test/support/plugin-provider.mjs' };
    expect(ms(['--json', 'providers'], { env }).json().providers.at(-1)).toMatchObject({
      provider: 'fixture',
      reachable: true,
    });
    const pkg = join(dir, 'plugin.mseal');
    expect(ms(['--quiet', 'seal', 'samples/checkpoint/config.json', '--to', 'fixture', '-o', pkg], { env }).code).toBe(
      0,
    );
    const empty = join(dir, 'empty-keys');
    const o = spawnSync(
      process.execPath,
      [
        BIN,
        '--keys',
        empty,
        '--json',
        'open',
        pkg,
        '-o',
        join(dir, 'plugin.out'),
        '--publisher',
        join(keys, 'publisher.pub'),
      ],
      { env: { ...process.env, ...env } },
    );
    expect(o.status, o.stderr.toString()).toBe(0);
    expect(JSON.parse(o.stdout.toString()).openedWith.recipient).toBe('local:00112233445566ff');
    expect(ms(['seal', 'samples/checkpoint/config.json', '--to', 'nosuch:x', '-o', join(dir, 'n.mseal')]).code).toBe(2);
    expect(ms(['providers'], { env: { MODELSEAL_PROVIDERS: './no/such/module.mjs' } }).code).toBe(2);
  });

  it('seals and opens a folder of more files than the process may hold open at once', () => {
    const src = join(dir, 'many');
    mkdirSync(src);
    for (let i = 0; i < 300; i++)
      writeFileSync(join(src, `shard-${String(i).padStart(4, '0')}.bin`), Buffer.alloc(100 + i, i));
    const run = (args: string) =>
      spawnSync('bash', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${BIN}" --keys "${keys}" --quiet ${args}`]);
    const pkg = join(dir, 'many.mseal');
    expect(run(`seal "${src}" --to local -o "${pkg}"`).status).toBe(0);
    expect(run(`open "${pkg}" -o "${join(dir, 'many-out')}"`).status).toBe(0);
    expect(readFileSync(join(dir, 'many-out', 'shard-0299.bin')).equals(Buffer.alloc(399, 299 & 0xff))).toBe(true);
  });
});
