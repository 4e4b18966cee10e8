/**
 * `open`: package → checkpoint. The output is built under a temporary sibling name and renamed
 * into place only after every chunk authenticated, the key commitment and header MAC checked,
 * every file matched the signed manifest, and the publisher signature verified against a trusted
 * key. On any failure the temporary output is removed: nothing ever appears at the output path.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { createReadStream, closeSync, mkdirSync, openSync, writeSync, fsyncSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { ModelsealError } from '../errors.js';
import { CryptoPool } from '../crypto/pool.js';
import { KeySchedule } from '../crypto/keyschedule.js';
import type { ParsedHeader, Stanza } from '../format/header.js';
import { decodeUtf8, toHex } from '../format/encoding.js';
import { verifyModelSignature } from '../provenance/oms.js';
import { contextFor, type Identity } from '../providers/types.js';
import { commitOutput, type Progress } from './common.js';
import { checkTrusted, signerId, walkPackage } from './walk.js';
import { ioError, tempSibling, writeFileAtomic } from '../io/atomic.js';
import { readHead } from './head.js';

export interface OpenOptions {
  /** Package path, or a stream of it (stdin). */
  input: string | Readable;
  /** Folder for a folder package, file path for a single-file package. */
  output: string;
  identities: readonly Identity[];
  /** Publisher keys (SPKI DER) whose signature is accepted. */
  trustedPublishers: readonly Uint8Array[];
  force?: boolean;
  threads?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** Receives the detail of an authentication failure (never secret); the thrown error stays uniform. */
  debug?: (message: string) => void;
}

export interface OpenResult {
  output: string;
  kind: 'file' | 'folder';
  packageId: string;
  model: { name: string; rootDigest: string };
  files: { path: string; size: number; sha256: string }[];
  openedWith: { type: string; recipient: string; license: string; identity: string };
  signer: string;
  provenance: string;
  plaintextBytes: number;
}

const failed = () => new ModelsealError('DECRYPTION_FAILED', 'the package failed authentication: it is damaged or was tampered with; nothing was written');

/** Finds a stanza one of `identities` opens and checks the key commitment. Public so that random access shares it. */
export async function unlockPackage(parsed: ParsedHeader, identities: readonly Identity[], debug?: (m: string) => void): Promise<{ keys: KeySchedule; stanza: Stanza; identity: Identity }> {
  const { header } = parsed;
  let broken = false;
  for (const stanza of header.stanzas) {
    for (const identity of identities) {
      let dek: Uint8Array | null;
      try {
        dek = await identity.unwrapDataKey(stanza, contextFor(header, stanza));
      } catch (e) {
        if (e instanceof ModelsealError && e.code === 'DECRYPTION_FAILED') {
          debug?.(`stanza for ${stanza.recipient} did not unwrap with ${identity.description}`);
          broken = true;
          continue;
        }
        throw e;
      }
      if (!dek) continue;
      const keys = new KeySchedule(dek, header.packageId);
      dek.fill(0);
      if (!keys.commits(header.commitment)) {
        debug?.(`key commitment mismatch for the stanza of ${stanza.recipient}`);
        broken = true;
        continue;
      }
      if (!keys.checkHeaderMac(parsed.macInput, parsed.mac)) {
        debug?.('header MAC mismatch');
        throw failed();
      }
      return { keys, stanza, identity };
    }
  }
  if (broken) throw failed();
  const names = header.stanzas.map((s) => s.recipient).join(', ');
  throw new ModelsealError(
    'NO_MATCHING_IDENTITY',
    identities.length === 0
      ? `no identity to open this package with: run \`modelseal init\` or pass --identity <key file> (it is sealed to ${names})`
      : `none of your identities (${identities.map((i) => i.description).join('; ')}) opens this package; it is sealed to ${names}`,
    { details: { recipients: header.stanzas.map((s) => s.recipient) } },
  );
}

export async function open(opts: OpenOptions): Promise<OpenResult> {
  if (opts.trustedPublishers.length === 0) {
    throw new ModelsealError('UNTRUSTED_SIGNER', 'no trusted publisher key: pass --publisher <publisher.pub> or open inside a key store that trusts the publisher');
  }
  const debug = opts.debug;
  let input: Readable;
  if (typeof opts.input === 'string') {
    // Fail fast on a file: check the structure, the signature and the signer before decrypting anything.
    const head = await readHead(opts.input);
    checkTrusted(head.trailer, opts.trustedPublishers);
    input = createReadStream(opts.input, { highWaterMark: 1 << 20 });
  } else {
    input = opts.input;
  }

  const pool = new CryptoPool(opts.threads);
  let tmp: string | undefined;
  let kind = 'folder' as 'file' | 'folder';
  let keys: KeySchedule | undefined;
  let opened: { stanza: Stanza; identity: Identity } | undefined;
  let bundleText = '';
  let provenanceParts: Uint8Array[] = [];
  let expected: Map<string, Uint8Array> | undefined;
  let signedBy: KeyObject | undefined;
  let total = 0;
  let done = 0;
  let fd: number | undefined;
  let hash = createHash('sha256');
  const files: OpenResult['files'] = [];
  let parsedHeader: ParsedHeader | undefined;

  try {
    const walk = await walkPackage<Uint8Array | null>(input, pool.threads, {
      header: async (parsed) => {
        parsedHeader = parsed;
        const u = await unlockPackage(parsed, opts.identities, debug);
        keys = u.keys;
        opened = u;
        const h = parsed.header;
        kind = h.model.kind;
        total = h.files.reduce((a, f) => a + f.size, 0);
        tmp = tempSibling(opts.output);
        if (kind === 'folder') await mkdir(tmp, { mode: 0o755 });
      },
      chunk: (ref, sealed) => pool.open(keys!.payloadKey(ref.stream.index, ref.segment), ref.counter, ref.final, sealed),
      consume: (ref, plain) => {
        if (!plain) {
          debug?.(`chunk ${ref.counter} of stream ${ref.stream.index} failed authentication`);
          throw failed();
        }
        if (ref.stream.index === 0) {
          provenanceParts.push(plain);
          return undefined;
        }
        if (ref.counter === 0) {
          const f = parsedHeader!.header.files[ref.stream.index - 1]!;
          const path = kind === 'file' ? tmp! : join(tmp!, ...f.path.split('/'));
          // Paths were checked (relative, no ".."): every folder below tmp is one we create now.
          if (kind === 'folder') mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
          try {
            fd = openSync(path, 'wx', f.mode);
          } catch (cause) {
            throw ioError(`cannot write ${path}`, cause);
          }
          hash = createHash('sha256');
        }
        hash.update(plain);
        try {
          for (let at = 0; at < plain.length; ) at += writeSync(fd!, plain, at, plain.length - at);
        } catch (cause) {
          throw ioError(`cannot write to ${opts.output}`, cause);
        }
        done += plain.length;
        opts.onProgress?.({ phase: 'decrypt', done, total });
        return undefined;
      },
      streamEnd: (stream) => {
        if (stream.index === 0) {
          bundleText = decodeUtf8(Buffer.concat(provenanceParts), 'provenance');
          provenanceParts = [];
          const v = verifyProvenance(bundleText, parsedHeader!, opts.trustedPublishers);
          expected = v.expected;
          signedBy = v.key;
          return;
        }
        const f = parsedHeader!.header.files[stream.index - 1]!;
        const digest = hash.digest();
        fsyncSync(fd!);
        closeSync(fd!);
        fd = undefined;
        if (!digest.equals(expected!.get(f.path)!)) {
          debug?.(`${f.path} does not match the signed manifest`);
          throw failed();
        }
        files.push({ path: f.path, size: f.size, sha256: digest.toString('hex') });
      },
    }, opts.signal);
    checkTrusted(walk.trailer, opts.trustedPublishers);
    if (!createPublicKey({ key: Buffer.from(walk.trailer.publicKey), format: 'der', type: 'spki' }).equals(signedBy!)) {
      throw new ModelsealError('SIGNATURE_INVALID', 'the provenance and the package are signed by different publishers');
    }
    const h = walk.parsed.header;
    const provenance = kind === 'folder' ? join(opts.output, 'model.sig') : `${opts.output}.sig`;
    if (kind === 'folder') await writeFileAtomic(join(tmp!, 'model.sig'), bundleText);
    await commitOutput(tmp!, opts.output, opts.force ?? false, kind === 'folder');
    tmp = undefined;
    if (kind === 'file') await writeFileAtomic(provenance, bundleText, { overwrite: opts.force ?? false });
    return {
      output: opts.output,
      kind,
      packageId: toHex(h.packageId),
      model: { name: h.model.name, rootDigest: `sha256:${toHex(h.model.rootDigest)}` },
      files,
      openedWith: { type: opened!.stanza.type, recipient: opened!.stanza.recipient, license: opened!.stanza.license, identity: opened!.identity.description },
      signer: signerId(walk.trailer.publicKey),
      provenance,
      plaintextBytes: total,
    };
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (tmp) await rm(tmp, { recursive: true, force: true });
    await pool.close();
  }
}

/** Checks the OMS bundle against a trusted key and the header; returns the expected digest of every file. */
function verifyProvenance(bundleText: string, parsed: ParsedHeader, trusted: readonly Uint8Array[]): { expected: Map<string, Uint8Array>; key: KeyObject } {
  const h = parsed.header;
  for (const spki of trusted) {
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    let v: ReturnType<typeof verifyModelSignature>;
    try {
      v = verifyModelSignature(bundleText, key);
    } catch {
      continue;
    }
    if (!Buffer.from(v.rootDigest).equals(h.model.rootDigest)) {
      throw new ModelsealError('SIGNATURE_INVALID', 'the signed provenance is for another model than this package header');
    }
    const expected = new Map(v.entries.map((e) => [e.path, e.sha256]));
    if (expected.size !== h.files.length || !h.files.every((f) => expected.has(f.path))) {
      throw new ModelsealError('SIGNATURE_INVALID', 'the signed provenance lists other files than this package');
    }
    return { expected, key };
  }
  throw new ModelsealError('SIGNATURE_INVALID', 'the provenance (model.sig) is not signed by any trusted publisher key');
}
