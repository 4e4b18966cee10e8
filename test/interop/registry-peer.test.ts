/**
 * The registry test harness itself (test/support/registry.ts) against its real peers: Debian's
 * docker-registry in each auth mode, driven by the `oras` CLI. With the right credentials a push
 * and a pull work; without them the registry refuses (401); in token mode the tokens really come
 * from the harness's token server. The registry has no referrers API, which the referrers tag
 * schema tests of the OCI client rely on.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detBytes, tempDir } from '../support/fixtures.js';
import { orasBin, startRegistry, type RegistryAuth, type TestRegistry } from '../support/registry.js';

const dir = tempDir('modelseal-registry-peer-');
const payload = detBytes(100_000, 'registry-peer');

/** Runs oras with DOCKER_CONFIG set to `dockerConfig` (an empty folder: no credentials). */
function oras(args: string[], dockerConfig: string, cwd = dir) {
  const r = spawnSync(orasBin(), args, {
    cwd,
    env: { PATH: process.env.PATH, HOME: dir, DOCKER_CONFIG: dockerConfig },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A token from the registry's token server for `scope`, with the account's credentials or anonymously. */
async function bearer(reg: TestRegistry, scope: string, withCredentials: boolean): Promise<string> {
  const url = new URL(reg.token!.realm);
  url.searchParams.set('service', reg.token!.service);
  url.searchParams.set('scope', scope);
  const basic = { authorization: `Basic ${btoa(`${reg.username}:${reg.password}`)}` };
  const r = await fetch(url, withCredentials ? { headers: basic } : {});
  expect(r.status).toBe(200);
  return ((await r.json()) as { token: string }).token;
}

const noCredentials = join(dir, 'no-credentials');
mkdirSync(noCredentials);
writeFileSync(join(noCredentials, 'config.json'), '{"auths":{}}\n');
writeFileSync(join(dir, 'weights.bin'), payload);

describe.each<RegistryAuth>(['none', 'basic', 'token'])('docker-registry, auth %s', (auth) => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth });
  });
  afterAll(async () => {
    await (reg as TestRegistry | undefined)?.stop();
  });

  it('answers GET /v2/ as its auth mode says', async () => {
    const r = await fetch(`${reg.url}/v2/`);
    expect(r.status).toBe(auth === 'none' ? 200 : 401);
    const challenge = r.headers.get('www-authenticate') ?? '';
    if (auth === 'basic') expect(challenge).toMatch(/^Basic realm="modelseal-test"/);
    if (auth === 'token') expect(challenge).toContain(`Bearer realm="${reg.token!.realm}"`);
    expect(r.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('takes an oras push with the credentials and gives it back to oras pull', () => {
    const ref = `${reg.host}/models/peer:v1`;
    const pushed = oras(['push', '--plain-http', ref, 'weights.bin:application/octet-stream'], reg.dockerConfig);
    expect(pushed.status, pushed.out).toBe(0);
    const out = join(dir, `pulled-${auth}`);
    const pulled = oras(['pull', '--plain-http', '-o', out, ref], reg.dockerConfig);
    expect(pulled.status, pulled.out).toBe(0);
    expect(readFileSync(join(out, 'weights.bin')).equals(payload)).toBe(true);
    if (auth === 'token') {
      // Every token came from the harness's token server, to the configured account.
      expect(reg.token!.issued().length).toBeGreaterThanOrEqual(2);
      expect(reg.token!.issued().every((t) => t.account === reg.username)).toBe(true);
      expect(reg.token!.issued().some((t) => t.access.some((a) => a.actions.includes('push')))).toBe(true);
    }
  });

  it('without auth takes anyone; with auth refuses a push and a pull without credentials (401)', async () => {
    const before = reg.token?.issued().length ?? 0;
    const ref = `${reg.host}/models/peer:v1`;
    const pushed = oras(['push', '--plain-http', `${reg.host}/models/other:v1`, 'weights.bin'], noCredentials);
    const pulled = oras(['pull', '--plain-http', '-o', join(dir, `anyone-${auth}`), ref], noCredentials);
    const manifest = `${reg.url}/v2/models/peer/manifests/v1`;
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    if (auth === 'none') {
      expect(pushed.status, pushed.out).toBe(0);
      expect(pulled.status, pulled.out).toBe(0);
      expect(readFileSync(join(dir, `anyone-${auth}`, 'weights.bin')).equals(payload)).toBe(true);
      expect((await fetch(manifest, { headers: accept })).status).toBe(200);
      return;
    }
    // oras gives up on a Basic challenge it has no credential for, or reports the registry's 401.
    for (const r of [pushed, pulled]) {
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(/401|unauthorized|basic credential not found/i);
    }
    expect((await fetch(manifest, { headers: accept })).status).toBe(401);
    if (auth === 'token') {
      // oras fetched anonymous tokens, which grant nothing; the registry refused them.
      const anonymous = reg.token!.issued().slice(before);
      expect(anonymous.length).toBeGreaterThan(0);
      expect(anonymous.every((t) => t.account === '' && t.access.length === 0)).toBe(true);
      const token = await bearer(reg, 'repository:models/peer:pull', false);
      const r = await fetch(manifest, { headers: { ...accept, authorization: `Bearer ${token}` } });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    }
  });

  if (auth !== 'none')
    it('refuses a wrong password', () => {
      const wrong = join(dir, `wrong-${auth}`);
      mkdirSync(wrong);
      const auths = { [reg.host]: { auth: Buffer.from(`${reg.username}:not-the-password`).toString('base64') } };
      writeFileSync(join(wrong, 'config.json'), JSON.stringify({ auths }));
      const refusedBefore = reg.token?.refused() ?? 0;
      const r = oras(['pull', '--plain-http', '-o', join(dir, 'wrong'), `${reg.host}/models/peer:v1`], wrong);
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(/401|unauthorized/i);
      if (auth === 'token') expect(reg.token!.refused()).toBeGreaterThan(refusedBefore);
    });

  it('has no referrers API (404): clients fall back to the tag schema', async () => {
    const digest = `sha256:${'0'.repeat(64)}`;
    const headers: Record<string, string> = {};
    if (auth === 'basic') headers.authorization = `Basic ${btoa(`${reg.username}:${reg.password}`)}`;
    if (auth === 'token') headers.authorization = `Bearer ${await bearer(reg, 'repository:models/peer:pull', true)}`;
    const r = await fetch(`${reg.url}/v2/models/peer/referrers/${digest}`, { headers });
    expect(r.status).toBe(404);
    // The same credentials do reach the repository: the 404 is the missing API, not a refusal.
    const tags = await fetch(`${reg.url}/v2/models/peer/tags/list`, { headers });
    expect(tags.status).toBe(200);
    expect(await tags.json()).toEqual({ name: 'models/peer', tags: ['v1'] });
  });
});
