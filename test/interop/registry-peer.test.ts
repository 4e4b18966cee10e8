/**
 * The registry test harness itself (test/support/registry.ts) against its real peers: Debian's
 * docker-registry in each auth mode, driven by the `oras` CLI. With the right credentials (inline
 * or through a credential helper) a push and a pull work; without them the registry refuses (401);
 * in token mode the tokens really come from the harness's token server. docker-registry 2.8 has no
 * referrers API, so referrers live under the tag schema; the harness's proxy adds the API, injects
 * faults (a 503, a connection cut mid-blob) and records requests; `tls: true` serves HTTPS.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detBytes, tempDir } from '../support/fixtures.js';
import { orasBin, startRegistry, type RegistryAuth, type TestRegistry } from '../support/registry.js';
import { within } from '../support/wait.js';

const dir = tempDir('modelseal-registry-peer-');
const payload = detBytes(100_000, 'registry-peer');

/** Runs oras with DOCKER_CONFIG set to `dockerConfig`, and `pathFirst` (a credential helper's folder) first on PATH. */
function oras(args: string[], dockerConfig: string, pathFirst?: string) {
  const r = spawnSync(orasBin(), args, {
    cwd: dir,
    env: { PATH: [pathFirst, process.env.PATH].filter(Boolean).join(':'), HOME: dir, DOCKER_CONFIG: dockerConfig },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A token from the registry's token server for `scopes`, with the account's credentials or anonymously. */
async function bearer(reg: TestRegistry, scopes: string[], withCredentials: boolean): Promise<string> {
  const url = new URL(reg.token!.realm);
  url.searchParams.set('service', reg.token!.service);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  const basic = { authorization: `Basic ${btoa(`${reg.username}:${reg.password}`)}` };
  const r = await fetch(url, withCredentials ? { headers: basic } : {});
  expect(r.status).toBe(200);
  return ((await r.json()) as { token: string }).token;
}

/** The headers that authorize the account for `scopes` in the registry's auth mode. */
async function authorized(reg: TestRegistry, scopes: string[]): Promise<Record<string, string>> {
  if (reg.auth === 'none') return {};
  if (reg.auth === 'basic') return { authorization: `Basic ${btoa(`${reg.username}:${reg.password}`)}` };
  return { authorization: `Bearer ${await bearer(reg, scopes, true)}` };
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
      const token = await bearer(reg, ['repository:models/peer:pull'], false);
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
    const headers = await authorized(reg, ['repository:models/peer:pull']);
    const r = await fetch(`${reg.url}/v2/models/peer/referrers/${digest}`, { headers });
    expect(r.status).toBe(404);
    // The same credentials do reach the repository: the 404 is the missing API, not a refusal.
    const tags = await fetch(`${reg.url}/v2/models/peer/tags/list`, { headers });
    expect(tags.status).toBe(200);
    expect(((await tags.json()) as { tags: string[] }).tags).toContain('v1');
  });

  if (auth !== 'none')
    it('finds the credentials through a credential helper (credHelpers) as well', () => {
      const helper = reg.credentialHelper!;
      const out = join(dir, `helper-${auth}`);
      const ref = `${reg.host}/models/peer:v1`;
      const pulled = oras(['pull', '--plain-http', '-o', out, ref], helper.dockerConfig, helper.path);
      expect(pulled.status, pulled.out).toBe(0);
      expect(readFileSync(join(out, 'weights.bin')).equals(payload)).toBe(true);
      expect(helper.calls()).toContain('get');
      // Without the helper on PATH the same config yields no credentials.
      const without = oras(['pull', '--plain-http', '-o', join(dir, `nohelper-${auth}`), ref], helper.dockerConfig);
      expect(without.status).not.toBe(0);
    });

  if (auth === 'token')
    it('issues tokens by the OAuth2 flow too (POST: password, then refresh_token)', async () => {
      const post = (form: Record<string, string>) =>
        fetch(reg.token!.realm, { method: 'POST', body: new URLSearchParams(form) });
      const scope = 'repository:models/peer:pull';
      const common = { service: reg.token!.service, scope, client_id: 'modelseal-test' };
      const wrong = await post({ ...common, grant_type: 'password', username: reg.username!, password: 'wrong' });
      expect(wrong.status).toBe(401);
      const first = await post({
        ...common,
        grant_type: 'password',
        username: reg.username!,
        password: reg.password!,
        access_type: 'offline',
      });
      expect(first.status).toBe(200);
      const { access_token, refresh_token } = (await first.json()) as { access_token: string; refresh_token: string };
      const again = await post({ ...common, grant_type: 'refresh_token', refresh_token });
      expect(again.status).toBe(200);
      for (const token of [access_token, ((await again.json()) as { access_token: string }).access_token]) {
        const r = await fetch(`${reg.url}/v2/models/peer/tags/list`, { headers: { authorization: `Bearer ${token}` } });
        expect(r.status).toBe(200);
      }
      expect(reg.token!.issued().filter((t) => t.flow === 'post')).toHaveLength(2);
    });

  it('mounts a blob from another repository the client may pull', async () => {
    const digest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
    const mount = `${reg.url}/v2/models/mounted/blobs/uploads/?mount=${digest}&from=models/peer`;
    if (auth === 'token') {
      // A token for the target repository only: the registry wants pull on the source too.
      const headers = await authorized(reg, ['repository:models/mounted:pull,push']);
      const r = await fetch(mount, { method: 'POST', headers });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toContain('repository:models/peer:pull');
    }
    const headers = await authorized(reg, ['repository:models/peer:pull', 'repository:models/mounted:pull,push']);
    const r = await fetch(mount, { method: 'POST', headers });
    expect(r.status).toBe(201);
    expect(r.headers.get('docker-content-digest')).toBe(digest);
    const head = await fetch(`${reg.url}/v2/models/mounted/blobs/${digest}`, { method: 'HEAD', headers });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(payload.length));
  });

  it('keeps a referrer oras attaches under the tag schema, and oras discover lists it', () => {
    const ref = `${reg.host}/models/peer:v1`;
    writeFileSync(join(dir, 'bundle.json'), '{"test":"a referrer"}\n');
    const type = 'application/vnd.dev.sigstore.bundle.v0.3+json';
    const attached = oras(['attach', '--plain-http', '--artifact-type', type, ref, 'bundle.json'], reg.dockerConfig);
    expect(attached.status, attached.out).toBe(0);
    const found = oras(['discover', '--plain-http', '--format', 'json', ref], reg.dockerConfig);
    expect(found.status, found.out).toBe(0);
    const tree = JSON.parse(found.out) as { digest: string; referrers: { artifactType: string }[] };
    expect(tree.referrers.map((r) => r.artifactType)).toEqual([type]);
    // No referrers API: oras kept the referrers index under the tag sha256-<hex of the subject>.
    const tags = oras(['repo', 'tags', '--plain-http', `${reg.host}/models/peer`], reg.dockerConfig);
    expect(tags.out.split('\n')).toContain(tree.digest.replace(':', '-'));
  });
});

describe.each<RegistryAuth>(['none', 'token'])('docker-registry with the referrers API proxy, auth %s', (auth) => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth, referrers: 'api' });
  });
  afterAll(async () => {
    await (reg as TestRegistry | undefined)?.stop();
  });

  it('lists what oras attaches through the API, with no sha256-<hex> tag, filtered by artifactType', async () => {
    const ref = `${reg.host}/models/api:v1`;
    const pushed = oras(['push', '--plain-http', ref, 'weights.bin'], reg.dockerConfig);
    expect(pushed.status, pushed.out).toBe(0);
    writeFileSync(join(dir, 'bundle.json'), '{"test":"a referrer"}\n');
    const types = [
      'application/vnd.dev.sigstore.bundle.v0.3+json',
      'application/vnd.dev.modelseal.receipt.v1+json',
    ] as const;
    for (const type of types) {
      const r = oras(['attach', '--plain-http', '--artifact-type', type, ref, 'bundle.json'], reg.dockerConfig);
      expect(r.status, r.out).toBe(0);
    }
    const found = oras(['discover', '--plain-http', '--format', 'json', ref], reg.dockerConfig);
    expect(found.status, found.out).toBe(0);
    const tree = JSON.parse(found.out) as { digest: string; referrers: { artifactType: string }[] };
    expect(tree.referrers.map((r) => r.artifactType).sort()).toEqual([...types].sort());
    // oras saw OCI-Subject on its manifest PUTs and kept no referrers index under the tag schema.
    const tags = oras(['repo', 'tags', '--plain-http', `${reg.host}/models/api`], reg.dockerConfig);
    expect(tags.out.trim().split('\n')).toEqual(['v1']);

    const listing = `${reg.url}/v2/models/api/referrers/${tree.digest}`;
    // The proxy answers only whom the registry lets pull the repository.
    if (auth === 'token') expect((await fetch(listing)).status).toBe(401);
    const headers = await authorized(reg, ['repository:models/api:pull']);
    const filtered = await fetch(`${listing}?artifactType=${encodeURIComponent(types[1])}`, { headers });
    expect(filtered.status).toBe(200);
    expect(filtered.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    const index = (await filtered.json()) as { manifests: { artifactType: string }[] };
    expect(index.manifests.map((m) => m.artifactType)).toEqual([types[1]]);
  });
});

describe("docker-registry over TLS (a CA of the test's own), auth basic", () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'basic', tls: true });
  });
  afterAll(async () => {
    await (reg as TestRegistry | undefined)?.stop();
  });

  it('serves https with a certificate from caFile: oras trusts it with --ca-file, not without', () => {
    expect(reg.url).toBe(`https://${reg.host}`);
    const ref = `${reg.host}/models/tls:v1`;
    const untrusted = oras(['push', ref, 'weights.bin'], reg.dockerConfig);
    expect(untrusted.status).not.toBe(0);
    expect(untrusted.out).toMatch(/certificate signed by unknown authority/);
    const pushed = oras(['push', '--ca-file', reg.caFile!, ref, 'weights.bin'], reg.dockerConfig);
    expect(pushed.status, pushed.out).toBe(0);
    const out = join(dir, 'pulled-tls');
    const pulled = oras(['pull', '--ca-file', reg.caFile!, '-o', out, ref], reg.dockerConfig);
    expect(pulled.status, pulled.out).toBe(0);
    expect(readFileSync(join(out, 'weights.bin')).equals(payload)).toBe(true);
    // Plain HTTP to it is refused, as with any TLS registry.
    const plain = oras(['pull', '--plain-http', '-o', join(dir, 'plain'), ref], reg.dockerConfig);
    expect(plain.status).not.toBe(0);
  });
});

describe('docker-registry behind the fault-injecting proxy, auth basic', () => {
  let reg: TestRegistry;
  const digest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'basic', proxy: true });
    const pushed = oras(['push', '--plain-http', `${reg.host}/models/faults:v1`, 'weights.bin'], reg.dockerConfig);
    expect(pushed.status, pushed.out).toBe(0);
  });
  afterAll(async () => {
    await (reg as TestRegistry | undefined)?.stop();
  });

  it('answers an injected 503 once, which oras retries, and records both requests', () => {
    reg.inject({ method: 'GET', path: `/blobs/${digest}`, status: 503, retryAfter: 1 });
    const pulled = oras(
      ['pull', '--plain-http', '-o', join(dir, 'retried'), `${reg.host}/models/faults:v1`],
      reg.dockerConfig,
    );
    expect(pulled.status, pulled.out).toBe(0);
    expect(readFileSync(join(dir, 'retried', 'weights.bin')).equals(payload)).toBe(true);
    const blobGets = reg.requests().filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`));
    expect(blobGets.map((r) => [r.status, r.fault])).toEqual([
      [503, true],
      [200, false],
    ]);
  });

  it('cuts a blob download after cutAfter bytes; a Range request gets the rest (206)', async () => {
    reg.inject({ method: 'GET', path: `/blobs/${digest}`, cutAfter: 30_000 });
    const headers = await authorized(reg, []);
    const blob = `${reg.url}/v2/models/faults/blobs/${digest}`;
    const got: Buffer[] = [];
    const cut = await fetch(blob, { headers });
    expect(cut.status).toBe(200);
    await expect(
      (async () => {
        for await (const chunk of cut.body!) got.push(Buffer.from(chunk as Uint8Array));
      })(),
    ).rejects.toThrow();
    const have = Buffer.concat(got);
    expect(have.length).toBe(30_000);
    const rest = await fetch(blob, { headers: { ...headers, range: `bytes=${have.length}-` } });
    expect(rest.status).toBe(206);
    expect(Buffer.concat([have, Buffer.from(await rest.arrayBuffer())]).equals(payload)).toBe(true);
    // The proxy records each answer in its own process: the cut one may be written after the 206.
    const range = `bytes=${have.length}-`;
    const ranged = await within(5_000, 'the proxy to record the Range request', () =>
      reg.requests().find((r) => r.range === range),
    );
    expect(ranged).toMatchObject({ status: 206, fault: false });
    await within(5_000, 'the proxy to record the cut request', () =>
      reg.requests().some((r) => r.fault && r.status === 200 && !r.range && r.path.endsWith(`/blobs/${digest}`)),
    );
  });

  it('refuses inject and requests on a registry started without the proxy', async () => {
    const plain = await startRegistry({ auth: 'none' });
    try {
      expect(() => plain.requests()).toThrow(/proxy: true/);
      expect(() => plain.inject({ path: '.' })).toThrow(/proxy: true/);
    } finally {
      await plain.stop();
    }
  });
});
