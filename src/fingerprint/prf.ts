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
 * Imports only node built-ins and sibling modules that do too: worker threads load it.
 */
import { createCipheriv, createHmac } from 'node:crypto';
import { BLOCK, biasTable, gapTable, type CodeParams } from './params.js';

const SUPPORT_LABEL = 'modelseal/fingerprint/v1/support';
const CODE_LABEL = 'modelseal/fingerprint/v1/code';

/** The support key of a tensor. */
export function supportKey(fingerprintKey: Uint8Array, tensor: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', fingerprintKey).update(`${SUPPORT_LABEL}\0${tensor}`, 'utf8').digest());
}

/** The code key of one recipient for one tensor. */
export function codeKey(fingerprintKey: Uint8Array, recipient: string, tensor: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', fingerprintKey).update(`${CODE_LABEL}\0${recipient}\0${tensor}`, 'utf8').digest());
}

function ctr(key: Uint8Array, counter: number) {
  const iv = Buffer.alloc(16);
  iv.writeUIntBE(counter, 10, 6);
  return createCipheriv('aes-256-ctr', key, iv);
}

const ZEROS = new Uint8Array(BLOCK * 2);

/** The candidates of one block: offsets within the block and quantised biases, `count` of each. */
export interface BlockCandidates {
  count: number;
  /** Offsets from the block's first element (block b starts at element b·65536), ascending. */
  at: Uint16Array;
  /** k of each candidate: its bias is k / 65536. */
  k: Uint16Array;
}

/** Fills `into` (sized for a whole block) with the candidates of block `b` of a tensor of `elements` elements. */
export function blockCandidates(key: Uint8Array, params: CodeParams, b: number, elements: number, into: BlockCandidates): BlockCandidates {
  const gaps = gapTable(params.support);
  const biases = biasTable(params.c);
  const limit = Math.min(BLOCK, elements - b * BLOCK);
  const c = ctr(key, b * ((BLOCK * 2) / 16));
  // The expected need is support · 2 bytes an element; a block that needs more reads on.
  let step = Math.min(ZEROS.length, (Math.ceil(params.support * limit * 1.25) + 64) * 2);
  let ks: Uint8Array = c.update(ZEROS.subarray(0, step));
  let q = 0;
  let pos = -1;
  let n = 0;
  const at = into.at;
  const k = into.k;
  for (;;) {
    if (q + 2 > ks.length) {
      step = Math.min(ZEROS.length, step * 2);
      ks = c.update(ZEROS.subarray(0, step));
      q = 0;
    }
    pos += 1 + gaps[ks[q]!]!;
    if (pos >= limit) break;
    at[n] = pos;
    k[n] = biases[ks[q + 1]!]!;
    n++;
    q += 2;
  }
  into.count = n;
  return into;
}

// Keystreams and 16-bit weights are little-endian; typed-array views read them natively only on
// a little-endian host (every platform Node ships for but s390x).
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('modelseal fingerprints need a little-endian host');

/** Little-endian u16 view of a keystream buffer (copied when it is not 2-byte aligned). */
function u16(b: Buffer): Uint16Array {
  const a = b.byteOffset % 2 === 0 ? b : Buffer.from(b);
  return new Uint16Array(a.buffer, a.byteOffset, a.length >> 1);
}

export function newBlockCandidates(): BlockCandidates {
  return { count: 0, at: new Uint16Array(BLOCK), k: new Uint16Array(BLOCK) };
}

/** The code keystream of block `b` for its first `candidates` candidates, as u16 (j-th: candidate j's draw). */
export function codeStream(key: Uint8Array, b: number, candidates: number): Uint16Array {
  return u16(ctr(key, b * ((BLOCK * 2) / 16)).update(ZEROS.subarray(0, 2 * candidates)));
}

/** One recipient's symbols (0 or 1) for the `count` candidates of block `b`, written to `into`. */
export function blockSymbols(key: Uint8Array, b: number, cand: BlockCandidates, into: Uint8Array): Uint8Array {
  const n = cand.count;
  const ks = codeStream(key, b, n);
  const k = cand.k;
  for (let j = 0; j < n; j++) into[j] = ks[j]! < k[j]! ? 1 : 0;
  return into;
}
