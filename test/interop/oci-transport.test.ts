/**
 * The OCI client's transport against docker-registry through the test harness's options: faults
 * injected by its proxy (429 with Retry-After, 503, a connection cut mid-blob) that push and pull
 * ride out; the referrers API (the proxy's) used instead of the tag schema; HTTPS with a private CA
 * (NODE_EXTRA_CA_CERTS), and no fallback to plain HTTP when the certificate is not trusted; the
 * credentials through a Docker credential helper.
 */
import { readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';

const dir = tempDir('modelseal-oci-transport-');
const keys = join(dir, 'keys');
const ms = cli(keys, dir);
const pkg = join(dir, 'model.mseal');

beforeAll(() => {
  for (const args of [
    ['--json', 'init'],
    ['--json', 'seal', resolve('samples/checkpoint'), '--to', 'local', '-o', pkg],
    ['open', pkg, '-o', join(dir, 'opened')],
  ]) {
    const r = ms(args);
    expect(r.code, r.stderr).toBe(0);
  }
});

/** Runs `f` with these environment variables set, then puts them back. */
function withEnv<T>(env: Record<string, string>, f: () => T): T {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return f();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- how an environment variable is unset
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('faults injected by the proxy (auth basic)', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'basic', proxy: true });
  }, 30_000);
  afterAll(async () => {
    await reg.stop();
  });

  it('push rides out a 429 with Retry-After on a PATCH and a 503 on the manifest PUT', () => {
    reg.inject({ method: 'PATCH', path: '/blobs/uploads/', status: 429, retryAfter: 1 });
    reg.inject({ method: 'PUT', path: '/manifests/v1', status: 503 });
    const r = withEnv({ DOCKER_CONFIG: reg.dockerConfig }, () => ms(['push', pkg, `oci://${reg.host}/m/faults:v1`]));
    expect(r.code, r.stderr).toBe(0);
    const seen = reg.requests().map((q) => `${q.method} ${q.status}${q.fault ? ' fault' : ''}`);
    expect(seen).toContain('PATCH 429 fault');
    expect(seen).toContain('PUT 503 fault');
    const patches = reg.requests().filter((q) => q.method === 'PATCH');
    expect(patches.at(-1)!.status).toBe(202);
  });

  it('pull resumes with Range after the connection is cut mid-blob, and the package is identical', () => {
    const whole = readFileSync(pkg);
    reg.inject({ method: 'GET', path: '/blobs/sha256:', cutAfter: 200_000 });
    const out = join(dir, 'cut.mseal');
    const r = withEnv({ DOCKER_CONFIG: reg.dockerConfig }, () =>
      ms(['pull', `oci://${reg.host}/m/faults:v1`, '-o', out]),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).equals(whole)).toBe(true);
    const gets = reg.requests().filter((q) => q.method === 'GET' && q.path.includes('/blobs/sha256:'));
    expect(gets.some((q) => q.fault)).toBe(true);
    const resumed = gets.filter((q) => q.range);
    expect(resumed.length).toBeGreaterThan(0);
    expect(Number(/^bytes=(\d+)-$/.exec(resumed.at(-1)!.range!)![1])).toBeGreaterThan(0);
    expect(resumed.at(-1)!.status).toBe(206);
  });
});

describe('with the referrers API', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none', referrers: 'api' });
  }, 30_000);
  afterAll(async () => {
    await reg.stop();
  });

  it('the referrer is taken by the API (OCI-Subject): no sha256-<hex> fallback tag is written', async () => {
    const r = withEnv({ DOCKER_CONFIG: reg.dockerConfig }, () =>
      ms(['--json', 'push', pkg, `oci://${reg.host}/m/api:v1`, '--signature', join(dir, 'opened', 'model.sig')]),
    );
    expect(r.code, r.stderr).toBe(0);
    const { manifestDigest, referrers } = r.json() as { manifestDigest: string; referrers: { digest: string }[] };
    const listed = (await (await fetch(`${reg.url}/v2/m/api/referrers/${manifestDigest}`)).json()) as {
      manifests: { digest: string }[];
    };
    expect(listed.manifests.map((m) => m.digest)).toEqual([referrers[0]!.digest]);
    const tags = (await (await fetch(`${reg.url}/v2/m/api/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(['v1']);
  });
});

describe('HTTPS with a private CA', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'basic', tls: true });
  }, 30_000);
  afterAll(async () => {
    await reg.stop();
  });

  it('push and pull over TLS with the CA in NODE_EXTRA_CA_CERTS', () => {
    withEnv({ DOCKER_CONFIG: reg.dockerConfig, NODE_EXTRA_CA_CERTS: reg.caFile! }, () => {
      const pushed = ms(['push', pkg, `oci://${reg.host}/m/tls:v1`]);
      expect(pushed.code, pushed.stderr).toBe(0);
      const out = join(dir, 'tls.mseal');
      const pulled = ms(['pull', `oci://${reg.host}/m/tls:v1`, '-o', out]);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(readFileSync(out).equals(readFileSync(pkg))).toBe(true);
    });
  });

  it('an untrusted certificate is REGISTRY_ERROR, never a fallback to plain HTTP', () => {
    const r = withEnv({ DOCKER_CONFIG: reg.dockerConfig }, () => ms(['push', pkg, `oci://${reg.host}/m/tls:v2`]));
    expect(r.code, r.stderr).toBe(25);
    expect(r.stderr).toMatch(/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/);
    expect(r.stderr).toContain('NODE_EXTRA_CA_CERTS');
  });
});

describe('credentials through a Docker credential helper', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
  }, 30_000);
  afterAll(async () => {
    await reg.stop();
  });

  it('push and pull ask docker-credential-<helper> get and go through', () => {
    const helper = reg.credentialHelper!;
    const env = { DOCKER_CONFIG: helper.dockerConfig, PATH: `${helper.path}${delimiter}${process.env.PATH}` };
    withEnv(env, () => {
      const pushed = ms(['push', pkg, `oci://${reg.host}/m/helper:v1`]);
      expect(pushed.code, pushed.stderr).toBe(0);
      const out = join(dir, 'helper.mseal');
      expect(ms(['pull', `oci://${reg.host}/m/helper:v1`, '-o', out]).code).toBe(0);
      expect(readFileSync(out).equals(readFileSync(pkg))).toBe(true);
    });
    expect(helper.calls()).toContain('get');
    expect(reg.token!.issued().length).toBeGreaterThan(0);
  });

  it('--mount-from mounts across repositories with a token that names both (the challenge asks for it)', () => {
    const r = withEnv({ DOCKER_CONFIG: reg.dockerConfig }, () =>
      ms(['--json', 'push', pkg, `oci://${reg.host}/m/mirror:v1`, '--mount-from', 'm/helper']),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().blob).toBe('mounted');
  });
});
