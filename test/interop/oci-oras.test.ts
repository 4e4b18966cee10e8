/**
 * Cross-checks with the `oras` CLI (oras.land, built by test/peers/setup.sh) against a real
 * docker-registry: what modelseal pushes, `oras pull` fetches identically and `oras discover` lists
 * its referrers (model.sig, the log receipt; through the tag schema, distribution 2.8 having no
 * referrers API); what `oras push` pushes as a file, `modelseal pull` fetches.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { orasBin, startRegistry, type TestRegistry } from '../support/registry.js';

const dir = tempDir('modelseal-oras-');
const keys = join(dir, 'keys');
const ms = cli(keys, dir);
const pkg = join(dir, 'model.mseal');
let reg: TestRegistry;

function oras(args: string[], cwd = dir): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(orasBin(), [...args, '--plain-http'], { cwd, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

beforeAll(async () => {
  reg = await startRegistry({ auth: 'none' });
  const log = join(dir, 'log');
  for (const args of [
    ['--json', 'init', '--log-origin', 'oras.test/log'],
    ['--json', 'seal', resolve('samples/checkpoint'), '--to', 'local', '-o', pkg, '--log', log],
    ['open', pkg, '-o', join(dir, 'opened')],
  ]) {
    const r = ms(args);
    expect(r.code, r.stderr).toBe(0);
  }
  const proof = ms(['audit', 'proof', '0', '--log', log]);
  expect(proof.code, proof.stderr).toBe(0);
  writeFileSync(`${pkg}.tlog-proof`, proof.stdout); // beside the package: push finds it
}, 60_000);
afterAll(async () => {
  await reg.stop();
});

describe('oras reads what modelseal pushes', () => {
  it('oras pull fetches the package byte for byte; oras discover lists model.sig and the receipt', () => {
    const ref = `${reg.host}/models/sample:v1`;
    const pushed = ms(['--json', 'push', pkg, `oci://${ref}`, '--signature', join(dir, 'opened', 'model.sig')]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const { manifestDigest, referrers } = pushed.json() as {
      manifestDigest: string;
      referrers: { artifactType: string; digest: string }[];
    };
    expect(referrers.map((r) => r.artifactType).sort()).toEqual([
      'application/vnd.dev.modelseal.receipt.v1',
      'application/vnd.dev.sigstore.bundle.v0.3+json',
    ]);
    const into = join(dir, 'oras-pulled');
    const pulled = oras(['pull', ref, '-o', into]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(readFileSync(join(into, 'model.mseal')).equals(readFileSync(pkg))).toBe(true);
    const fetched = oras(['manifest', 'fetch', ref]);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(JSON.parse(fetched.stdout)).toMatchObject({
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.model.config.v1+json' },
      layers: [{ mediaType: 'application/vnd.cncf.model.weight.v1.raw+encrypted' }],
    });
    const found = oras(['discover', ref, '--format', 'json']);
    expect(found.code, found.stderr).toBe(0);
    const listed = JSON.stringify(JSON.parse(found.stdout));
    expect(listed).toContain(manifestDigest);
    for (const r of referrers) {
      expect(listed).toContain(r.digest);
      expect(listed).toContain(r.artifactType);
    }
  });
});

describe('modelseal reads what oras pushes', () => {
  it('oras push of the .mseal file → modelseal pull: identical and verified', () => {
    const pushed = oras(['push', `${reg.host}/plain/file:v1`, 'model.mseal']);
    expect(pushed.code, pushed.stderr).toBe(0);
    const out = join(dir, 'from-oras.mseal');
    const r = ms(['pull', `oci://${reg.host}/plain/file:v1`, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('signature verified');
    expect(readFileSync(out).equals(readFileSync(pkg))).toBe(true);
  });
});
