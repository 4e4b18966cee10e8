/**
 * The OCI client on recorded exchanges: each test lists the requests a registry saw and what it
 * answered (shapes taken from docker-registry 2.8 and the distribution spec), and the client must
 * send exactly those requests.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelsealError } from '../../src/errors.js';
import { OciClient, fallbackTag } from '../../src/registry/oci/client.js';
import { retryAfterMs } from '../../src/registry/retry.js';
import { parseReference } from '../../src/registry/oci/reference.js';

interface Exchange {
  method: string;
  url: string | RegExp;
  /** Headers the request must carry (lower-case names). */
  headers?: Record<string, string | RegExp>;
  /** The body the request must carry. */
  body?: Uint8Array;
  status: number;
  resHeaders?: Record<string, string>;
  resBody?: string | Uint8Array;
}

/** A fetch that replays `script` in order and fails the test on any request it does not expect. */
function recorded(script: Exchange[]): { fetch: typeof fetch; left: () => number } {
  let i = 0;
  const f: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : input.toString();
    const method = init?.method ?? 'GET';
    const x = script[i++];
    if (!x) throw new Error(`unexpected request ${method} ${url} ${JSON.stringify(init?.headers)}`);
    expect(`${method} ${url}`).toMatch(
      typeof x.url === 'string'
        ? new RegExp(`^${x.method} ${escape(x.url)}$`)
        : new RegExp(`^${x.method} ${x.url.source}`),
    );
    const h = new Headers(init?.headers);
    for (const [k, v] of Object.entries(x.headers ?? {})) {
      if (typeof v === 'string') expect(h.get(k), k).toBe(v);
      else expect(h.get(k), k).toMatch(v);
    }
    if (x.body) {
      const sent = init?.body ? Buffer.from(await new Response(init.body).arrayBuffer()) : Buffer.alloc(0);
      expect(sent.toString('latin1')).toBe(Buffer.from(x.body).toString('latin1'));
    }
    const body = method === 'HEAD' || x.status === 204 ? null : (x.resBody ?? '');
    return new Response(body as BodyInit | null, { status: x.status, headers: x.resHeaders ?? {} });
  };
  return { fetch: f, left: () => script.length - i };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const sha = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const REF = parseReference('oci://reg.example/team/model:v1');
const BASE = 'https://reg.example/v2/team/model';
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  layers: [],
});

describe('auth', () => {
  it('answers a bearer challenge: the token from the realm with basic credentials, then the retry', async () => {
    const r = recorded([
      {
        method: 'GET',
        url: `${BASE}/manifests/v1`,
        status: 401,
        resHeaders: {
          'www-authenticate':
            'Bearer realm="https://auth.example/token",service="reg.example",scope="repository:team/model:pull"',
        },
      },
      {
        method: 'GET',
        url: 'https://auth.example/token?service=reg.example&scope=repository%3Ateam%2Fmodel%3Apull',
        headers: { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` },
        status: 200,
        resBody: JSON.stringify({ token: 'tok-123' }),
      },
      {
        method: 'GET',
        url: `${BASE}/manifests/v1`,
        headers: { authorization: 'Bearer tok-123' },
        status: 200,
        resHeaders: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        resBody: MANIFEST,
      },
    ]);
    const c = new OciClient(REF, { fetch: r.fetch, credential: { username: 'alice', password: 's3cret' } });
    const m = await c.getManifest('v1');
    expect(m.digest).toBe(sha(MANIFEST));
    expect(r.left()).toBe(0);
  });

  it('trades an identity token (docker login to an OAuth2 registry) by the OAuth2 POST', async () => {
    const r = recorded([
      {
        method: 'GET',
        url: `${BASE}/manifests/v1`,
        status: 401,
        resHeaders: { 'www-authenticate': 'Bearer realm="https://auth.example/oauth2/token",service="reg.example"' },
      },
      {
        method: 'POST',
        url: 'https://auth.example/oauth2/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new TextEncoder().encode(
          'grant_type=refresh_token&refresh_token=rt-1&client_id=modelseal&service=reg.example',
        ),
        status: 200,
        resBody: JSON.stringify({ access_token: 'acc-9' }),
      },
      {
        method: 'GET',
        url: `${BASE}/manifests/v1`,
        headers: { authorization: 'Bearer acc-9' },
        status: 200,
        resBody: MANIFEST,
      },
    ]);
    const c = new OciClient(REF, { fetch: r.fetch, credential: { username: '<token>', password: 'rt-1' } });
    await c.getManifest('v1');
    expect(r.left()).toBe(0);
  });

  it('answers a basic challenge with the credentials', async () => {
    const r = recorded([
      {
        method: 'HEAD',
        url: `${BASE}/blobs/${sha('x')}`,
        status: 401,
        resHeaders: { 'www-authenticate': 'Basic realm="r"' },
      },
      {
        method: 'HEAD',
        url: `${BASE}/blobs/${sha('x')}`,
        headers: { authorization: `Basic ${Buffer.from('bob:pw').toString('base64')}` },
        status: 200,
      },
    ]);
    const c = new OciClient(REF, { fetch: r.fetch, credential: { username: 'bob', password: 'pw' } });
    expect(await c.hasBlob(sha('x'))).toBe(true);
  });

  it('a refused token is REGISTRY_AUTH, and the message holds no secret', async () => {
    const r = recorded([
      {
        method: 'GET',
        url: `${BASE}/manifests/v1`,
        status: 401,
        resHeaders: { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="reg.example"' },
      },
      { method: 'GET', url: 'https://auth.example/token?service=reg.example', status: 401 },
    ]);
    const c = new OciClient(REF, { fetch: r.fetch, credential: { username: 'alice', password: 'hunter2-secret' } });
    const e = await c.getManifest('v1').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelsealError);
    expect((e as ModelsealError).code).toBe('REGISTRY_AUTH');
    expect(JSON.stringify({ m: (e as Error).message, d: (e as ModelsealError).details })).not.toContain('hunter2');
  });

  it('a second 401 after the challenge was answered is REGISTRY_AUTH', async () => {
    const challenge = { 'www-authenticate': 'Basic realm="r"' };
    const r = recorded([
      { method: 'GET', url: `${BASE}/manifests/v1`, status: 401, resHeaders: challenge },
      { method: 'GET', url: `${BASE}/manifests/v1`, status: 401, resHeaders: challenge },
    ]);
    const c = new OciClient(REF, { fetch: r.fetch, credential: { username: 'u', password: 'p' } });
    await expect(c.getManifest('v1')).rejects.toMatchObject({ code: 'REGISTRY_AUTH' });
  });
});

describe('retries', () => {
  it('waits what Retry-After asks on 429, backs off on 503, then succeeds', async () => {
    const waits: number[] = [];
    const r = recorded([
      { method: 'GET', url: `${BASE}/manifests/v1`, status: 429, resHeaders: { 'retry-after': '3' } },
      { method: 'GET', url: `${BASE}/manifests/v1`, status: 503 },
      { method: 'GET', url: `${BASE}/manifests/v1`, status: 200, resBody: MANIFEST },
    ]);
    const c = new OciClient(REF, { fetch: r.fetch, sleep: (ms) => (waits.push(ms), Promise.resolve()) });
    await c.getManifest('v1');
    expect(waits).toEqual([3000, 500]);
  });

  it('gives up after the retries with REGISTRY_ERROR naming the status', async () => {
    const r = recorded(Array.from({ length: 3 }, () => ({ method: 'GET', url: `${BASE}/manifests/v1`, status: 502 })));
    const c = new OciClient(REF, { fetch: r.fetch, retries: 2, sleep: () => Promise.resolve() });
    await expect(c.getManifest('v1')).rejects.toMatchObject({ code: 'REGISTRY_ERROR', details: { status: 502 } });
  });

  it('reads Retry-After as seconds or an HTTP date, capped', () => {
    expect(retryAfterMs('7')).toBe(7000);
    expect(retryAfterMs('Sat, 05 Dec 2026 16:00:10 GMT', Date.parse('2026-12-05T16:00:00Z'))).toBe(10_000);
    expect(retryAfterMs('99999')).toBe(60_000);
    expect(retryAfterMs('soon')).toBeNull();
  });
});

describe('blobs', () => {
  it('uploads in chunks: POST (mount asked), PATCH with Content-Range following each Location, PUT ?digest', async () => {
    const data = new Uint8Array(10).map((_, i) => i);
    const d = sha(data);
    const r = recorded([
      { method: 'HEAD', url: `${BASE}/blobs/${d}`, status: 404 },
      {
        method: 'POST',
        url: `${BASE}/blobs/uploads/?mount=${encodeURIComponent(d)}`,
        status: 202,
        resHeaders: { location: '/v2/team/model/blobs/uploads/u1?_state=a' },
      },
      {
        method: 'PATCH',
        url: 'https://reg.example/v2/team/model/blobs/uploads/u1?_state=a',
        headers: { 'content-range': '0-3', 'content-length': '4' },
        body: data.subarray(0, 4),
        status: 202,
        resHeaders: { location: '/v2/team/model/blobs/uploads/u1?_state=b', range: '0-3' },
      },
      {
        method: 'PATCH',
        url: 'https://reg.example/v2/team/model/blobs/uploads/u1?_state=b',
        headers: { 'content-range': '4-7' },
        body: data.subarray(4, 8),
        status: 202,
        resHeaders: { location: '/v2/team/model/blobs/uploads/u1?_state=c' },
      },
      {
        method: 'PATCH',
        url: 'https://reg.example/v2/team/model/blobs/uploads/u1?_state=c',
        headers: { 'content-range': '8-9' },
        body: data.subarray(8),
        status: 202,
        resHeaders: { location: '/v2/team/model/blobs/uploads/u1?_state=d' },
      },
      {
        method: 'PUT',
        url: `https://reg.example/v2/team/model/blobs/uploads/u1?_state=d&digest=${encodeURIComponent(d)}`,
        status: 201,
      },
    ]);
    const c = new OciClient(REF, { fetch: r.fetch, chunkBytes: 4 });
    const read = (pos: number, buf: Uint8Array) => {
      const n = Math.min(buf.length, data.length - pos);
      buf.set(data.subarray(pos, pos + n));
      return Promise.resolve(n);
    };
    const progress: number[] = [];
    expect(await c.putBlob(d, data.length, read, { onProgress: (n) => progress.push(n) })).toBe('uploaded');
    expect(progress).toEqual([4, 8, 10]);
    expect(r.left()).toBe(0);
  });

  it('skips a blob the repository has (HEAD 200), and takes a cross-repository mount (201)', async () => {
    const d = sha('abc');
    const r = recorded([
      { method: 'HEAD', url: `${BASE}/blobs/${d}`, status: 200 },
      { method: 'HEAD', url: `${BASE}/blobs/${d}`, status: 404 },
      {
        method: 'POST',
        url: `${BASE}/blobs/uploads/?mount=${encodeURIComponent(d)}&from=team%2Fother`,
        status: 201,
        resHeaders: { location: `/v2/team/model/blobs/${d}` },
      },
    ]);
    const c = new OciClient(REF, { fetch: r.fetch });
    const read = () => Promise.reject(new Error('must not read'));
    expect(await c.putBlob(d, 3, read)).toBe('exists');
    expect(await c.putBlob(d, 3, read, { mountFrom: 'team/other' })).toBe('mounted');
  });

  it('resumes a download with Range from what is on disk, and checks the digest of the whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oci-'));
    const data = Buffer.from('0123456789abcdef');
    const d = sha(data);
    const path = join(dir, 'part');
    writeFileSync(path, data.subarray(0, 6));
    const r = recorded([
      {
        method: 'GET',
        url: `${BASE}/blobs/${d}`,
        headers: { range: 'bytes=6-' },
        status: 206,
        resBody: data.subarray(6),
      },
    ]);
    await new OciClient(REF, { fetch: r.fetch }).downloadBlob({ mediaType: 'x', digest: d, size: data.length }, path);
    expect(readFileSync(path).equals(data)).toBe(true);
  });

  it('a connection dropped mid-body is resumed in the same run with Range from what was written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oci-'));
    const data = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const d = sha(data);
    let pulls = 0;
    const dropping = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulls++ === 0) c.enqueue(data.subarray(0, 10));
        else c.error(new Error('socket hang up'));
      },
    });
    const r = recorded([
      { method: 'GET', url: `${BASE}/blobs/${d}`, status: 200, resBody: dropping as unknown as Uint8Array },
      {
        method: 'GET',
        url: `${BASE}/blobs/${d}`,
        headers: { range: 'bytes=10-' },
        status: 206,
        resBody: data.subarray(10),
      },
    ]);
    const path = join(dir, 'part');
    await new OciClient(REF, { fetch: r.fetch }).downloadBlob({ mediaType: 'x', digest: d, size: data.length }, path);
    expect(readFileSync(path).equals(data)).toBe(true);
    expect(r.left()).toBe(0);
  });

  it('removes a download whose bytes do not hash to the digest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oci-'));
    const d = sha('the real bytes');
    const path = join(dir, 'part');
    const r = recorded([{ method: 'GET', url: `${BASE}/blobs/${d}`, status: 200, resBody: 'other bytes 14' }]);
    await expect(
      new OciClient(REF, { fetch: r.fetch }).downloadBlob({ mediaType: 'x', digest: d, size: 14 }, path),
    ).rejects.toMatchObject({ code: 'REGISTRY_ERROR' });
    expect(() => readFileSync(path)).toThrow();
  });
});

describe('manifests and referrers', () => {
  it('refuses a manifest fetched by digest whose bytes have another digest', async () => {
    const asked = sha('something else');
    const r = recorded([{ method: 'GET', url: `${BASE}/manifests/${asked}`, status: 200, resBody: MANIFEST }]);
    await expect(new OciClient(REF, { fetch: r.fetch }).getManifest(asked)).rejects.toMatchObject({
      code: 'REGISTRY_ERROR',
    });
  });

  it('a missing tag is REGISTRY_NOT_FOUND with the registry code', async () => {
    const r = recorded([
      {
        method: 'GET',
        url: `${BASE}/manifests/v9`,
        status: 404,
        resBody: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}',
      },
    ]);
    await expect(new OciClient(REF, { fetch: r.fetch }).getManifest('v9')).rejects.toMatchObject({
      code: 'REGISTRY_NOT_FOUND',
      details: { registryCode: 'MANIFEST_UNKNOWN' },
    });
  });

  it('without the referrers API: the referrer goes into the sha256-<hex> index, and is listed from it', async () => {
    const subject = sha(MANIFEST);
    const referrer = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, subject: { digest: subject } }));
    const rd = sha(referrer);
    const index = (manifests: object[]) =>
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
    const entry = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: rd,
      size: referrer.length,
      artifactType: 'a/b',
    };
    const notFound = { status: 404, resBody: '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}' };
    const r = recorded([
      { method: 'PUT', url: `${BASE}/manifests/${rd}`, body: referrer, status: 201 }, // no OCI-Subject header
      { method: 'GET', url: `${BASE}/manifests/${fallbackTag(subject)}`, ...notFound },
      {
        method: 'PUT',
        url: `${BASE}/manifests/${fallbackTag(subject)}`,
        headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
        body: new TextEncoder().encode(index([entry])),
        status: 201,
      },
      { method: 'GET', url: `${BASE}/referrers/${subject}`, ...notFound },
      { method: 'GET', url: `${BASE}/manifests/${fallbackTag(subject)}`, status: 200, resBody: index([entry]) },
    ]);
    const c = new OciClient(REF, { fetch: r.fetch });
    expect(await c.putReferrer(referrer, entry, subject)).toBe(rd);
    expect(await c.referrers(subject)).toEqual([entry]);
    expect(r.left()).toBe(0);
  });

  it('with the referrers API (OCI-Subject answered): no fallback tag is written', async () => {
    const subject = sha(MANIFEST);
    const referrer = new TextEncoder().encode('{"schemaVersion":2}');
    const r = recorded([
      { method: 'PUT', url: `${BASE}/manifests/${sha(referrer)}`, status: 201, resHeaders: { 'oci-subject': subject } },
    ]);
    const c = new OciClient(REF, { fetch: r.fetch });
    await c.putReferrer(referrer, { mediaType: 'm', digest: sha(referrer), size: referrer.length }, subject);
    expect(r.left()).toBe(0);
  });
});
