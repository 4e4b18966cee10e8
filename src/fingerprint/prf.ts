/**
 * The keyed pseudo-random functions behind a fingerprint. Per tensor, two AES-256-CTR keystreams
 * indexed by the tensor's flat element index (never by file offsets), so any range of a tensor can
 * be marked or read on its own:
 *
 * - support, key HMAC-SHA-256(K, "modelseal/fingerprint/v1/support" ‖ 0 ‖ name), shared by all
 *   recipients: block b (elements b·65536 …) reads 2 bytes per candidate from keystream byte
 *   b·2^17 on: a byte for the gap to the next candidate and a byte that picks its bias.
 * - code, key HMAC-SHA-256(K, "modelseal/fingerprint/v1/code" ‖ 0 ‖ recipient ‖ 0 ‖ name): the
 *   j-th candidate of block b reads a u16 u at keystream byte b·2^17 + 2j; the recipient's symbol
 *   there is 1 when u < k (the candidate's quantised bias).
 *
 * Imports only node built-ins, errors.ts and sibling modules that do too: worker threads load it.
 */
import { createCipheriv, createHmac, type Cipher } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { BLOCK, biasTable, gapTable, type CodeParams } from './params.js';

const SUPPORT_LABEL = 'modelseal/fingerprint/v1/support';
const CODE_LABEL = 'modelseal/fingerprint/v1/code';

/** The support key of a tensor. */
export function supportKey(fingerprintKey: Uint8Array, tensor: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', fingerprintKey).update(`${SUPPORT_LABEL}\0${tensor}`, 'utf8').digest());
}

/** The code key of one recipient for one tensor. */
export function codeKey(fingerprintKey: Uint8Array, recipient: string, tensor: string): Uint8Array {
  return new Uint8Array(
    createHmac('sha256', fingerprintKey).update(`${CODE_LABEL}\0${recipient}\0${tensor}`, 'utf8').digest(),
  );
}

// Keystreams and 16-bit weights are little-endian; typed-array views read them natively only on
// a little-endian host (every platform Node ships for but s390x). Checked at use, not at import, so
// a big-endian host can still import the library and use everything but fingerprints.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Throws UNSUPPORTED_PLATFORM unless the host is little-endian (`littleEndian` is for tests). */
export function requireLittleEndian(littleEndian = LITTLE_ENDIAN_HOST): void {
  if (!littleEndian)
    throw new ModelsealError(
      'UNSUPPORTED_PLATFORM',
      'fingerprints need a little-endian host (x86-64 or ARM64); run this on one of those',
    );
}

const ZEROS = new Uint8Array(BLOCK * 2);

/** Little-endian u16 view of a keystream buffer (copied when it is not 2-byte aligned). */
function u16(b: Buffer): Uint16Array {
  const a = b.byteOffset % 2 === 0 ? b : Buffer.from(b);
  return new Uint16Array(a.buffer, a.byteOffset, a.length >> 1);
}

/** A keystream of block `b`, from its byte b·2^17 on, read `bytes` at a time as little-endian u16. */
class BlockKeystream {
  readonly #cipher: Cipher;
  constructor(key: Uint8Array, b: number) {
    requireLittleEndian();
    const iv = Buffer.alloc(16);
    iv.writeUIntBE(b * ((BLOCK * 2) / 16), 10, 6);
    this.#cipher = createCipheriv('aes-256-ctr', key, iv);
  }
  next(bytes: number): Uint16Array {
    return u16(this.#cipher.update(ZEROS.subarray(0, bytes)));
  }
}

/**
 * The support keystream of a block, and optionally a code keystream, read in step: candidate j reads
 * u16 j of each (low byte: the gap before it, high byte: its bias; code: its draw). `support` and
 * `code` start with what a block of `limit` elements needs in expectation plus a wide margin;
 * {@link BlockStreams.more} replaces both with the next stretch when a walk runs past the end.
 */
export class BlockStreams {
  support: Uint16Array;
  code: Uint16Array;
  readonly #support: BlockKeystream;
  readonly #code: BlockKeystream | null;
  #bytes: number;
  constructor(supportKey: Uint8Array, codeKey: Uint8Array | null, params: CodeParams, b: number, limit: number) {
    this.#support = new BlockKeystream(supportKey, b);
    this.#code = codeKey ? new BlockKeystream(codeKey, b) : null;
    this.#bytes = Math.min(ZEROS.length, (Math.ceil(params.support * limit * 1.25) + 64) * 2);
    this.support = this.#support.next(this.#bytes);
    this.code = this.#code ? this.#code.next(this.#bytes) : new Uint16Array(0);
  }
  more(): void {
    this.#bytes = Math.min(ZEROS.length, this.#bytes * 2);
    this.support = this.#support.next(this.#bytes);
    if (this.#code) this.code = this.#code.next(this.#bytes);
  }
}

/** The candidates of one block: offsets within the block and quantised biases, `count` of each. */
export interface BlockCandidates {
  count: number;
  /** Offsets from the block's first element (block b starts at element b·65536), ascending. */
  at: Uint16Array;
  /** k of each candidate: its bias is k / 65536. */
  k: Uint16Array;
}

/** Fills `into` (sized for a whole block) with the candidates of block `b` of a tensor of `elements` elements. */
export function blockCandidates(
  key: Uint8Array,
  params: CodeParams,
  b: number,
  elements: number,
  into: BlockCandidates,
): BlockCandidates {
  const gaps = gapTable(params.support);
  const biases = biasTable(params.c);
  const limit = Math.min(BLOCK, elements - b * BLOCK);
  const s = new BlockStreams(key, null, params, b, limit);
  let ks = s.support;
  const at = into.at;
  const k = into.k;
  let n = 0;
  for (let pos = -1, q = 0; ; q++) {
    if (q === ks.length) {
      s.more();
      ks = s.support;
      q = 0;
    }
    const x = ks[q]!;
    pos += 1 + gaps[x & 0xff]!;
    if (pos >= limit) break;
    at[n] = pos;
    k[n] = biases[x >> 8]!;
    n++;
  }
  into.count = n;
  return into;
}

export function newBlockCandidates(): BlockCandidates {
  return { count: 0, at: new Uint16Array(BLOCK), k: new Uint16Array(BLOCK) };
}

/** The code keystream of block `b` for its first `candidates` candidates, as u16 (j-th: candidate j's draw). */
export function codeStream(key: Uint8Array, b: number, candidates: number): Uint16Array {
  return new BlockKeystream(key, b).next(2 * candidates);
}

/** One recipient's symbols (0 or 1) for the `count` candidates of block `b`, written to `into`. */
export function blockSymbols(key: Uint8Array, b: number, cand: BlockCandidates, into: Uint8Array): Uint8Array {
  const n = cand.count;
  const ks = codeStream(key, b, n);
  const k = cand.k;
  for (let j = 0; j < n; j++) into[j] = ks[j]! < k[j]! ? 1 : 0;
  return into;
}
