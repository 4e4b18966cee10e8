/**
 * `fingerprint embed`, `seal --fingerprint`, `inspect`, `trace` through the built binary, with --json
 * shapes and exit codes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/fixtures.js';
import { makeModel, writeSafetensors } from '../support/checkpoints.js';
import { computeRootDigest } from '../../src/provenance/oms.js';
import { GGML_TYPE, GGUF_VALUE_TYPE, writeGguf } from '../../src/formats/gguf.js';
import { readCheckpoint, readRange } from '../../src/fingerprint/model.js';
import { createHash } from 'node:crypto';
import { encodeEvent, loadLogSigner, openLogStore, TransparencyLog } from '../../src/index.js';
import { basename } from 'node:path';

/** The root digest a package gives a single file. */
function rootDigestHex(file: string): string {
  const data = readFileSync(file);
  return Buffer.from(
    computeRootDigest([
      { path: basename(file), size: data.length, sha256: new Uint8Array(createHash('sha256').update(data).digest()) },
    ]),
  ).toString('hex');
}

const BIN = resolve('dist/cli/modelseal.bundle.mjs');
const dir = tempDir('modelseal-fp-cli-');
const keys = join(dir, 'keys');
const registry = join(dir, 'registry.jsonl');
const logDir = join(dir, 'log');

function ms(args: string[]) {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, '--keys', keys, ...args], { cwd: dir, maxBuffer: 64 << 20 });
  return {
    code: r.status,
    stderr: r.stderr.toString(),
    stdout: r.stdout.toString(),
    json: () => JSON.parse(r.stdout.toString()),
  };
}

beforeAll(() => {
  expect(ms(['init']).code).toBe(0);
});

describe('fingerprint and trace on the command line', () => {
  let carolPackage = '';
  it('embeds into a folder: tag, registry record, bounded change, other files untouched', () => {
    const r = ms([
      '--json',
      'fingerprint',
      'embed',
      resolve('samples/checkpoint'),
      '--recipient',
      'acme',
      '--registry',
      registry,
      '-o',
      join(dir, 'acme'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json();
    expect(j).toMatchObject({
      ok: true,
      command: 'fingerprint embed',
      record: {
        recipient: 'acme',
        scheme: 'modelseal-tardos-symmetric/v1',
        params: { support: 0.1, c: 8 },
        package: null,
      },
    });
    expect(j.record.id).toMatch(/^fp-[0-9a-f]{16}$/);
    for (const t of j.tensors) expect(t.relativeRms).toBeLessThan(2 ** -7);
    expect(j.record.positions).toBeGreaterThan(50_000);
    expect(readFileSync(join(dir, 'acme/config.json')).equals(readFileSync('samples/checkpoint/config.json'))).toBe(
      true,
    );
    expect(readFileSync(join(dir, 'acme/model.safetensors')).subarray(0, 4096).toString()).toContain(
      `"modelseal.fingerprint":"${j.record.id}"`,
    );
    expect(readFileSync(registry, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(
      ms([
        'fingerprint',
        'embed',
        resolve('samples/checkpoint'),
        '--recipient',
        'bob',
        '--registry',
        registry,
        '-o',
        join(dir, 'bob'),
      ]).code,
    ).toBe(0);
  });

  it('seals with a fingerprint: the signed header names it, the export event carries its id, open verifies', () => {
    const pkg = join(dir, 'carol.mseal');
    const r = ms([
      '--json',
      'seal',
      resolve('samples/checkpoint'),
      '--to',
      'local',
      '--fingerprint',
      'carol',
      '--registry',
      registry,
      '--log',
      logDir,
      '-o',
      pkg,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const s = r.json();
    expect(s.fingerprint.record).toMatchObject({
      recipient: 'carol',
      package: s.packageId,
      marked: s.model.rootDigest,
    });
    carolPackage = s.packageId;
    const insp = ms(['--json', 'inspect', pkg]).json();
    expect(insp.fingerprint).toMatchObject({
      id: s.fingerprint.record.id,
      recipient: 'carol',
      original: s.fingerprint.record.original,
    });
    expect(ms(['open', pkg, '-o', join(dir, 'carol')]).code).toBe(0);
    expect(ms(['verify', join(dir, 'carol')]).code).toBe(0);
    const list = ms(['--json', 'audit', 'list', '--store', logDir]).json();
    expect(list.entries[0]).toMatchObject({ type: 'export', fingerprint: s.fingerprint.record.id });
  });

  it('traces each copy to its recipient, with the log events of an accused one', () => {
    const carol = ms([
      '--json',
      'trace',
      join(dir, 'carol/model.safetensors'),
      '--original',
      resolve('samples/checkpoint'),
      '--registry',
      registry,
      '--store',
      logDir,
    ]);
    expect(carol.code, carol.stderr).toBe(0);
    const c = carol.json();
    expect(c).toMatchObject({
      ok: true,
      command: 'trace',
      derived: true,
      originalInRegistry: true,
      n: 3,
      traces: 1000,
      epsilon: 1e-9,
    });
    expect(c.accused.map((a: { recipient: string }) => a.recipient)).toEqual(['carol']);
    expect(c.accused[0].z).toBeGreaterThan(c.threshold);
    expect(c.accused[0].threshold).toBeCloseTo(Math.sqrt(2 * Math.log((3 * 1000) / 1e-9)), 10);
    expect(c.accused[0].events).toEqual([expect.objectContaining({ type: 'export', package: carolPackage })]);
    expect(c.scores).toHaveLength(3);
    const acme = ms([
      '--json',
      'trace',
      join(dir, 'acme'),
      '--original',
      resolve('samples/checkpoint'),
      '--recipients',
      registry,
    ]).json();
    expect(acme.accused.map((a: { recipient: string }) => a.recipient)).toEqual(['acme']);
    const human = ms([
      'trace',
      join(dir, 'bob'),
      '--original',
      resolve('samples/checkpoint'),
      '--recipients',
      registry,
    ]);
    expect(human.stderr).toMatch(/ACCUSED bob: z = [\d.]+ ≥ τ = [\d.]+/);
  });

  it('trace names the registry --registry, as seal and fingerprint embed do; --recipients stays a hidden alias', () => {
    const help = ms(['trace', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--registry <file>/);
    expect(help.stdout).not.toMatch(/--recipients/);
    const leak = join(dir, 'acme');
    const original = resolve('samples/checkpoint');
    const byName = ms(['--json', 'trace', leak, '--original', original, '--registry', registry]);
    const byAlias = ms(['--json', 'trace', leak, '--original', original, '--recipients', registry]);
    expect(byName.code, byName.stderr).toBe(0);
    expect(byAlias.code, byAlias.stderr).toBe(0);
    expect(byName.json().accused.map((a: { recipient: string }) => a.recipient)).toEqual(['acme']);
    expect(byAlias.json().scores).toEqual(byName.json().scores);
    const both = ms([
      '--json',
      'trace',
      leak,
      '--original',
      original,
      '--registry',
      registry,
      '--recipients',
      registry,
    ]);
    expect(both.code).toBe(2);
    expect(both.json().error.message).toMatch(/--recipients is the old spelling of --registry/);
  });

  it('trace --log (or --store) gives an unsealed copy the releases of its weights, never a request that named no package', async () => {
    const acmeCopy = ms(['--json', 'fingerprint', 'list', '--registry', registry])
      .json()
      .records.find((r: { recipient: string }) => r.recipient === 'acme');
    expect(acmeCopy.package).toBeNull(); // made by fingerprint embed: in no package
    const store = join(dir, 'log-acme');
    const log = new TransparencyLog(await openLogStore(store), await loadLogSigner(join(keys, 'log.key')));
    const release = (over: object) =>
      encodeEvent({
        v: 1,
        type: 'release',
        time: '2026-11-02T10:00:00.000Z',
        request: '0'.repeat(32),
        recipient: null,
        org: null,
        country: null,
        certificate: null,
        artifact: null,
        package: null,
        license: null,
        decision: 'deny',
        reason: 'malformed-json',
        policies: [],
        policySet: 'c'.repeat(64),
        ip: '192.0.2.1',
        destination: null,
        nonce: null,
        ...over,
      });
    await log.append(release({})); // a body that never parsed: no package, no artifact
    await log.append(release({ artifact: acmeCopy.marked, decision: 'allow', reason: 'policy', destination: 'DE' }));
    await log.close();
    // --log names the log, as on audit; --store is its old spelling.
    const leak = join(dir, 'acme');
    const trace = (flag: string) =>
      ms(['--json', 'trace', leak, '--original', resolve('samples/checkpoint'), '--registry', registry, flag, store]);
    const byLog = trace('--log');
    const byStore = trace('--store');
    for (const t of [byLog, byStore]) {
      expect(t.code, t.stderr).toBe(0);
      const [acme] = t.json().accused;
      expect(acme.recipient).toBe('acme');
      expect(acme.events.map((e: { index: number }) => e.index)).toEqual([1]);
    }
    expect(byLog.stdout).toBe(byStore.stdout);
  });

  it('accuses nobody for the original itself or an unrelated model, and says when the leak is not derived', () => {
    const clean = ms([
      '--json',
      'trace',
      resolve('samples/checkpoint'),
      '--original',
      resolve('samples/checkpoint'),
      '--recipients',
      registry,
    ]).json();
    expect(clean).toMatchObject({ derived: true, accused: [] });
    const other = join(dir, 'other.safetensors');
    writeSafetensors(other, makeModel(5, 2, 64, 64));
    const r = ms(['trace', other, '--original', resolve('samples/checkpoint'), '--recipients', registry]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/is not derived from .*Nobody is accused/);
  });

  it('says a leak whose tensors it cannot read is not traced, naming the types, never "not derived"', async () => {
    const leak = join(dir, 'unreadable.gguf');
    const blocks = (n: number) => new Uint8Array(n).map((_, i) => (i * 131) & 255);
    await writeGguf(leak, new Map([['general.architecture', { type: GGUF_VALUE_TYPE.STRING, value: 'llama' }]]), [
      { name: 'blk.0.attn_q.weight', ggmlType: GGML_TYPE.Q8_K, ne: [256, 8], data: blocks(8 * 292) },
      { name: 'blk.0.ffn_up.weight', ggmlType: GGML_TYPE.NVFP4, ne: [64, 8], data: blocks(8 * 36) },
      { name: 'blk.0.attn_norm.weight', ggmlType: GGML_TYPE.F32, ne: [4], data: new Uint8Array(16) },
    ]);
    const human = ms(['trace', leak, '--original', resolve('samples/checkpoint'), '--recipients', registry]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toMatch(
      /cannot tell whether .*unreadable\.gguf is derived from .*: 2 tensors of .* cannot be read \(types: NVFP4, Q8_K\) and were not compared\. Nobody is accused/,
    );
    expect(human.stderr).not.toMatch(/not derived|0 compared/);
    const json = ms([
      '--json',
      'trace',
      leak,
      '--original',
      resolve('samples/checkpoint'),
      '--recipients',
      registry,
    ]).json();
    expect(json).toMatchObject({
      derived: false,
      accused: [],
      unread: { tensors: ['blk.0.attn_q.weight', 'blk.0.ffn_up.weight'], types: ['NVFP4', 'Q8_K'] },
    });
  });

  it('traces a GGUF leak with some tensors it cannot read, and warns that the verdict rests on the others', async () => {
    const bob = await readCheckpoint(join(dir, 'bob'));
    const file = bob.weights[0]!;
    const type = { F32: GGML_TYPE.F32, F16: GGML_TYPE.F16, BF16: GGML_TYPE.BF16 } as Record<string, number>;
    const leak = join(dir, 'bob-mixed.gguf');
    await writeGguf(leak, new Map(), [
      ...file.tensors.map((t) => ({
        name: t.name,
        ggmlType: type[t.dtype]!,
        ne: [...t.shape].reverse(),
        data: readRange(file.source, t.start, t.end),
      })),
      { name: 'blk.9.extra.weight', ggmlType: GGML_TYPE.Q8_K, ne: [256, 2], data: new Uint8Array(2 * 292) },
    ]);
    const r = ms(['trace', leak, '--original', resolve('samples/checkpoint'), '--recipients', registry]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /warning: 1 tensors of .*bob-mixed\.gguf cannot be read \(types: Q8_K\) and were not compared; the verdict rests on the others/,
    );
    expect(r.stderr).toMatch(/ACCUSED bob: z = /);
  });

  it('refuses a tampered registry, bad arguments and existing outputs with their exit codes', () => {
    const tampered = join(dir, 'tampered.jsonl');
    writeFileSync(tampered, readFileSync(registry, 'utf8').replace('"recipient":"bob"', '"recipient":"eve"'));
    const t = ms(['trace', join(dir, 'bob'), '--original', resolve('samples/checkpoint'), '--recipients', tampered]);
    expect(t.code, t.stderr).toBe(7);
    expect(t.stderr).toMatch(/not signed by a trusted publisher/);
    expect(
      ms([
        'fingerprint',
        'embed',
        resolve('samples/checkpoint/config.json'),
        '--recipient',
        'x',
        '--registry',
        registry,
        '-o',
        join(dir, 'x.json'),
      ]).code,
    ).toBe(2);
    expect(
      ms([
        'fingerprint',
        'embed',
        resolve('samples/checkpoint'),
        '--recipient',
        'acme',
        '--registry',
        registry,
        '-o',
        join(dir, 'acme'),
      ]).code,
    ).toBe(10);
    expect(
      ms([
        'fingerprint',
        'embed',
        resolve('samples/checkpoint'),
        '--recipient',
        'a',
        '--coalition',
        '0',
        '--registry',
        registry,
        '-o',
        join(dir, 'y'),
      ]).code,
    ).toBe(2);
    const two = ms([
      'seal',
      resolve('samples/checkpoint'),
      '--to',
      'local',
      '--to',
      'x25519:' + resolve('samples/keys/recipient.x25519.pub'),
      '--fingerprint',
      '--registry',
      registry,
      '-o',
      join(dir, 'two.mseal'),
    ]);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/exactly one --to/);
    expect(
      ms([
        'trace',
        join(dir, 'bob'),
        '--original',
        resolve('samples/checkpoint'),
        '--recipients',
        registry,
        '--epsilon',
        '2',
      ]).code,
    ).toBe(2);
    expect(readFileSync(registry, 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it("remembers an original's digest only while the file is unchanged", () => {
    const model = join(dir, 'own.safetensors');
    writeFileSync(model, readFileSync('samples/checkpoint/model.safetensors'));
    const sealOnce = (n: number) => {
      const r = ms([
        '--json',
        'seal',
        model,
        '--to',
        'local',
        '--fingerprint',
        `r${n}`,
        '--registry',
        registry,
        '-o',
        join(dir, `own${n}.mseal`),
      ]);
      expect(r.code, r.stderr).toBe(0);
      return r.json().fingerprint.record.original as string;
    };
    const first = sealOnce(1);
    expect(first).toBe(`sha256:${rootDigestHex(model)}`);
    expect(JSON.parse(readFileSync(join(dir, 'originals.json'), 'utf8'))[model]).toMatchObject({
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(sealOnce(2)).toBe(first); // from the cache
    const bytes = readFileSync(model);
    bytes[bytes.length - 3]! ^= 1; // same size, new content: ctime moves
    writeFileSync(model, bytes);
    const third = sealOnce(3);
    expect(third).not.toBe(first);
    expect(third).toBe(`sha256:${rootDigestHex(model)}`);
  });

  it("keeps a marked package to its recipient: rewrap and reseal cannot add another; reseal keeps the header's fingerprint", () => {
    const pkg = join(dir, 'carol.mseal');
    const add = ms(['rewrap', pkg, '--add', 'x25519:' + resolve('samples/keys/recipient.x25519.pub')]);
    expect(add.code).toBe(2);
    expect(add.stderr).toMatch(/carry carol's fingerprint/);
    expect(
      ms([
        'reseal',
        pkg,
        '--add',
        'x25519:' + resolve('samples/keys/recipient.x25519.pub'),
        '-o',
        join(dir, 'v2.mseal'),
      ]).code,
    ).toBe(2);
    const r = ms(['reseal', pkg, '-o', join(dir, 'v3.mseal')]);
    expect(r.code, r.stderr).toBe(0);
    expect(ms(['--json', 'inspect', join(dir, 'v3.mseal')]).json().fingerprint).toEqual(
      ms(['--json', 'inspect', pkg]).json().fingerprint,
    );
  });
});
