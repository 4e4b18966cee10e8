/**
 * The distribution spec's operations on one repository: blobs (HEAD, cross-repository mount,
 * chunked upload, resumable download), manifests by tag and digest, and referrers (the API, or the
 * `sha256-<hex>` tag-schema fallback). Everything is checked against its digest.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, stat, truncate, unlink } from 'node:fs/promises';
import { ModelsealError } from '../../errors.js';
import { droppedBuffers } from '../../crypto/bulk.js';
import { RegistryHttp, type OciOptions } from './http.js';
import type { OciReference } from './reference.js';

export const MEDIA_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MANIFEST_ACCEPT = [MEDIA_MANIFEST, MEDIA_INDEX, 'application/vnd.docker.distribution.manifest.v2+json'].join(
  ', ',
);
/** Manifests larger than this are refused (the distribution spec lets registries cap them at 4 MiB). */
const MAX_MANIFEST_BYTES = 4 << 20;

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** A manifest as fetched: its bytes, digest (of the bytes) and parsed JSON. */
export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
  json: {
    mediaType?: string;
    artifactType?: string;
    config?: Descriptor;
    layers?: Descriptor[];
    manifests?: Descriptor[];
    subject?: Descriptor;
    annotations?: Record<string, string>;
  };
}

/** "sha256:<hex>" of bytes. */
export function sha256Digest(b: Uint8Array): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** Progress of a transfer, in bytes of the blob. */
export type TransferProgress = (done: number, total: number) => void;

/** The distribution-spec client of one repository. */
export class OciClient {
  readonly http: RegistryHttp;
  readonly #chunk: number;

  constructor(ref: OciReference, o: OciOptions = {}) {
    this.http = new RegistryHttp(ref, o);
    this.#chunk = o.chunkBytes ?? 8 << 20;
  }

  get ref(): OciReference {
    return this.http.ref;
  }

  /** Whether the repository holds the blob (HEAD). */
  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.http.send(`blobs/${digest}`, { method: 'HEAD' }, `HEAD blob ${digest}`);
    await res.body?.cancel();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw new ModelsealError('REGISTRY_ERROR', `HEAD blob ${digest}: ${this.ref.registry} answered ${res.status}`);
  }

  /**
   * Puts a blob unless it is there: HEAD, then a POST that asks to mount it (from `mountFrom`, or any
   * repository the registry picks), else a chunked upload of `read`'s bytes (PATCH … PUT ?digest=).
   * Returns how the blob got there.
   */
  async putBlob(
    digest: string,
    size: number,
    read: (pos: number, buf: Uint8Array) => Promise<number>,
    o: { mountFrom?: string; onProgress?: TransferProgress } = {},
  ): Promise<'exists' | 'mounted' | 'uploaded'> {
    if (await this.hasBlob(digest)) return 'exists';
    const q = new URLSearchParams({ mount: digest, ...(o.mountFrom ? { from: o.mountFrom } : {}) });
    const started = await this.http.expect(`blobs/uploads/?${q}`, { method: 'POST' }, [201, 202], 'start upload');
    await started.body?.cancel();
    if (started.status === 201) return 'mounted';
    let location = this.#location(started, 'start upload');
    // One buffer, reused: a second one read ahead while a piece is on the wire measured no faster.
    const buf = new Uint8Array(Math.min(this.#chunk, Math.max(size, 1)));
    for (let pos = 0; pos < size;) {
      const n = await read(pos, buf.subarray(0, Math.min(buf.length, size - pos)));
      if (n <= 0) throw new ModelsealError('IO', `the blob ${digest} ended at ${pos} of ${size} bytes while uploading`);
      location = await this.#patch(location, buf.subarray(0, n), pos, digest);
      pos += n;
      o.onProgress?.(pos, size);
    }
    const done = await this.http.expect(
      withQuery(location, 'digest', digest),
      { method: 'PUT', headers: { 'content-length': '0' } },
      [201],
      `finish upload of ${digest}`,
    );
    await done.body?.cancel();
    return 'uploaded';
  }

  /** One PATCH of a chunked upload; returns the Location of the next. */
  async #patch(location: string, piece: Uint8Array, pos: number, digest: string): Promise<string> {
    const end = pos + piece.length - 1;
    const res = await this.http.expect(
      location,
      {
        method: 'PATCH',
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${pos}-${end}`,
          'content-length': String(piece.length),
        },
        body: piece,
      },
      [202],
      `upload ${digest} bytes ${pos}-${end}`,
    );
    await res.body?.cancel();
    droppedBuffers(piece.length);
    return this.#location(res, 'upload');
  }

  /** Puts a small blob held in memory (config, receipt, signature). */
  putBytes(bytes: Uint8Array): Promise<Descriptor & { how: string }> {
    const digest = sha256Digest(bytes);
    const read = (pos: number, buf: Uint8Array) => {
      const n = Math.min(buf.length, bytes.length - pos);
      buf.set(bytes.subarray(pos, pos + n));
      return Promise.resolve(n);
    };
    return this.putBlob(digest, bytes.length, read).then((how) => ({
      mediaType: 'application/octet-stream',
      digest,
      size: bytes.length,
      how,
    }));
  }

  #location(res: Response, what: string): string {
    const l = res.headers.get('location');
    if (!l) throw new ModelsealError('REGISTRY_ERROR', `${what}: ${this.ref.registry} sent no Location`);
    return new URL(l, this.http.url('/')).toString();
  }

  /** Puts a manifest under a tag or its digest; returns its digest. Tells whether the registry took its subject. */
  async putManifest(
    reference: string,
    bytes: Uint8Array,
    mediaType = MEDIA_MANIFEST,
  ): Promise<{ digest: string; subjectTaken: boolean }> {
    const digest = sha256Digest(bytes);
    const res = await this.http.expect(
      `manifests/${reference}`,
      { method: 'PUT', headers: { 'content-type': mediaType }, body: bytes },
      [201],
      `PUT manifest ${reference}`,
    );
    await res.body?.cancel();
    const said = res.headers.get('docker-content-digest');
    if (said && said !== digest)
      throw new ModelsealError('REGISTRY_ERROR', `PUT manifest: the registry stored ${said}, not ${digest}`);
    return { digest, subjectTaken: res.headers.has('oci-subject') };
  }

  /** Gets a manifest by tag or digest; a digest reference is checked byte for byte. */
  async getManifest(reference: string): Promise<FetchedManifest> {
    const res = await this.http.expect(
      `manifests/${reference}`,
      { headers: { accept: MANIFEST_ACCEPT } },
      [200],
      `GET manifest ${reference}`,
    );
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length > MAX_MANIFEST_BYTES)
      throw new ModelsealError('REGISTRY_ERROR', `the manifest ${reference} is over ${MAX_MANIFEST_BYTES} bytes`);
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference)
      throw new ModelsealError(
        'REGISTRY_ERROR',
        `the registry sent a manifest whose digest is ${digest}, not the ${reference} asked for; do not use it`,
      );
    let json: FetchedManifest['json'];
    try {
      json = JSON.parse(new TextDecoder().decode(bytes)) as FetchedManifest['json'];
    } catch (cause) {
      throw new ModelsealError('REGISTRY_ERROR', `the manifest ${reference} is not JSON`, { cause });
    }
    const mediaType = json.mediaType ?? res.headers.get('content-type') ?? MEDIA_MANIFEST;
    return { digest, mediaType, bytes, json };
  }

  /** Gets a small blob into memory, checked against its digest. */
  async getBytes(d: Descriptor, max = MAX_MANIFEST_BYTES): Promise<Uint8Array> {
    if (d.size > max) throw new ModelsealError('REGISTRY_ERROR', `the blob ${d.digest} is over ${max} bytes`);
    const res = await this.http.expect(`blobs/${d.digest}`, {}, [200], `GET blob ${d.digest}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (bytes.length !== d.size || sha256Digest(bytes) !== d.digest)
      throw new ModelsealError('REGISTRY_ERROR', `the blob ${d.digest} sent by the registry does not match its digest`);
    return bytes;
  }

  /**
   * Downloads a blob to `path` in constant memory, resuming from what `path` already holds (Range),
   * hashing as it goes; on a digest or size mismatch the file is removed and REGISTRY_ERROR thrown.
   */
  async downloadBlob(d: Descriptor, path: string, onProgress?: TransferProgress): Promise<void> {
    let hash = createHash('sha256');
    let have = await sizeOf(path);
    if (have > d.size) {
      await truncate(path, 0);
      have = 0;
    }
    if (have > 0) await hashPrefix(path, have, hash);
    for (let attempt = 0; have < d.size; attempt++) {
      const res = await this.http.expect(
        `blobs/${d.digest}`,
        { headers: have > 0 ? { range: `bytes=${have}-` } : {} },
        [200, 206],
        `GET blob ${d.digest}`,
      );
      if (res.status === 200 && have > 0) {
        // The registry ignored the Range: the body is the whole blob, so start over.
        hash = createHash('sha256');
        have = 0;
      }
      try {
        have = await appendBody(res, path, hash, have, d.size, onProgress);
      } catch (e) {
        if (e instanceof ModelsealError || attempt >= 5) throw e;
        have = await sizeOf(path); // dropped mid-body: what was written was hashed; ask for the rest
      }
    }
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== d.digest) {
      await unlink(path).catch(() => {});
      throw new ModelsealError(
        'REGISTRY_ERROR',
        `the registry sent bytes whose digest is ${got}, not ${d.digest}; the download was removed, do not use it`,
      );
    }
  }

  /** The manifests that name `digest` as their subject: the referrers API, else the tag-schema fallback. */
  async referrers(digest: string): Promise<Descriptor[]> {
    const res = await this.http.send(`referrers/${digest}`, { headers: { accept: MEDIA_INDEX } }, 'GET referrers');
    if (res.status === 200 && (res.headers.get('content-type') ?? '').startsWith(MEDIA_INDEX)) {
      const j = (await res.json()) as { manifests?: Descriptor[] };
      return j.manifests ?? [];
    }
    await res.body?.cancel();
    return (await this.#fallbackIndex(digest)).manifests;
  }

  async #fallbackIndex(digest: string): Promise<{ manifests: Descriptor[] }> {
    try {
      const m = await this.getManifest(fallbackTag(digest));
      return { manifests: m.json.manifests ?? [] };
    } catch (e) {
      if (e instanceof ModelsealError && e.code === 'REGISTRY_NOT_FOUND') return { manifests: [] };
      throw e;
    }
  }

  /**
   * Pushes a manifest that names a subject; when the registry did not take the subject (no OCI-Subject
   * header: no referrers API), adds it to the `sha256-<hex>` fallback index, as the spec asks of clients.
   */
  async putReferrer(bytes: Uint8Array, d: Descriptor, subject: string): Promise<string> {
    const { digest, subjectTaken } = await this.putManifest(sha256Digest(bytes), bytes);
    if (subjectTaken) return digest;
    const index = await this.#fallbackIndex(subject);
    if (!index.manifests.some((m) => m.digest === digest)) index.manifests.push({ ...d, digest, size: bytes.length });
    const indexBytes = new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_INDEX, manifests: index.manifests }),
    );
    await this.putManifest(fallbackTag(subject), indexBytes, MEDIA_INDEX);
    return digest;
  }
}

/** The tag-schema fallback tag of a digest: `sha256-<hex>`. */
export function fallbackTag(digest: string): string {
  return digest.replace(':', '-');
}

function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.toString();
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Feeds the first `n` bytes of `path` to `hash`, 1 MiB at a time. */
async function hashPrefix(path: string, n: number, hash: ReturnType<typeof createHash>): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let pos = 0; pos < n;) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, n - pos), pos);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/** Appends a response body to `path` (hashing it), honouring backpressure; returns the bytes now on disk. */
async function appendBody(
  res: Response,
  path: string,
  hash: ReturnType<typeof createHash>,
  have: number,
  size: number,
  onProgress?: TransferProgress,
): Promise<number> {
  if (!res.body) throw new ModelsealError('REGISTRY_ERROR', 'the registry sent no body');
  const out = createWriteStream(path, { flags: have > 0 ? 'a' : 'w', mode: 0o600 });
  let n = have;
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      if (n + chunk.length > size) {
        out.destroy();
        await unlink(path).catch(() => {});
        throw new ModelsealError('REGISTRY_ERROR', `the registry sent more than the ${size} bytes the manifest says`);
      }
      hash.update(chunk);
      n += chunk.length;
      droppedBuffers(chunk.length);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      onProgress?.(n, size);
    }
  } finally {
    await new Promise<void>((resolve, reject) => {
      out.end(() => resolve());
      out.once('error', reject);
    });
  }
  return n;
}
