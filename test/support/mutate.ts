/**
 * Seeded mutations of valid packages for the differential test and the format fuzzer: every kind
 * of defect the canonical encoding must catch (tar fields, checksums, padding, BOMs, entry order,
 * sizes, truncation, trailing bytes, header JSON, signatures, ciphertext). Deterministic for a seed.
 */
import { ENTRY, padded, segmentsOf, TAR_BLOCK } from '../../src/format/layout.js';
import type { Header } from '../../src/format/header.js';
import { rng } from './checkpoints.js';
import { fixChecksum, regionOf, reheader, replaceEntry, type Signer } from './packages.js';

export interface Rand {
  int(n: number): number;
  pick<T>(a: readonly T[]): T;
  bytes(n: number): Buffer;
}

export function rand(seed: number): Rand {
  const u = rng(seed).uniform;
  const int = (n: number) => Math.floor(u() * n);
  return { int, pick: (a) => a[int(a.length)]!, bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))) };
}

/** Every tar entry of a valid package: where its block is, its name and data size. */
export interface EntryAt {
  name: string;
  at: number;
  size: number;
}

export function entriesOf(pkg: Uint8Array): EntryAt[] {
  const { headerBytes, headerSigAt, headerSigSize, reserveAt, regionBytes, layout } = regionOf(pkg);
  const sizeAt = (at: number) => parseInt(Buffer.from(pkg.subarray(at + 124, at + 135)).toString('latin1'), 8);
  const out: EntryAt[] = [
    { name: ENTRY.header, at: 0, size: headerBytes.length },
    { name: ENTRY.headerSignature, at: headerSigAt, size: headerSigSize },
    { name: ENTRY.reserve, at: reserveAt, size: regionBytes - reserveAt - TAR_BLOCK },
  ];
  for (const s of layout.streams)
    for (const seg of segmentsOf(s)) out.push({ name: seg.entryName, at: seg.offset, size: seg.size });
  out.push({ name: ENTRY.chunks, at: layout.chunksEntry.offset, size: layout.chunksEntry.size });
  out.push({ name: ENTRY.signature, at: layout.signatureOffset, size: sizeAt(layout.signatureOffset) });
  return out;
}

export interface MutationContext {
  /** The trusted publisher (a header it signs again with a stale MAC), and another key. */
  publisher: Signer;
  stranger: Signer;
}

type Mutation = (b: Buffer, r: Rand, c: MutationContext) => Buffer;

/** `b[at] ^= mask`, typed: an index past the end changes nothing, as a typed-array store there does. */
function xorAt(b: Buffer, at: number, mask: number): void {
  b[at] = (b[at] ?? 0) ^ mask;
}

const headerEdits: ((h: Header, r: Rand) => void)[] = [
  (h, r) => void (h.stanzas[0]!.license = `L-${r.int(1000)}`),
  (h, r) => void (h.files[r.int(h.files.length)]!.size += r.pick([1, -1, 65536, 2 ** 32])),
  (h) => void (h.files = h.files.slice(1).length ? h.files.slice(1) : h.files),
  (h, r) => void (h.chunkSize = r.pick([65536, 131072, 1 << 20])),
  (h, r) => void (h.provenanceSize += r.pick([1, -1, 512])),
  (h) => void h.files.reverse(),
  (h, r) => void (h.files[0]!.mode = r.pick([0o644, 0o755])),
  (h) => void (h.created = '2030-01-01T00:00:00Z'),
];

/** name → mutation. Several may apply to one package (inputs with several defects). */
export const MUTATIONS: Record<string, Mutation> = {
  'tar field': (b, r) => {
    const e = r.pick(entriesOf(b));
    const f = r.pick([
      'mode',
      'uid',
      'gid',
      'mtime',
      'typeflag',
      'uname',
      'prefix',
      'magic',
      'linkname',
      'devmajor',
      'size-base256',
      'size-spaces',
      'size-off',
      'name-prefix',
    ]);
    const at = e.at;
    if (f === 'mode') b.write(r.pick(['000755 \0', '0000644\0', '000644\0\0', '100644 \0']), at + 100, 'latin1');
    if (f === 'uid') b.write('001750 \0', at + 108, 'latin1');
    if (f === 'gid') b.write('000001 \0', at + 116, 'latin1');
    if (f === 'mtime')
      b.write(
        r
          .int(2 ** 31)
          .toString(8)
          .padStart(11, '0') + ' ',
        at + 136,
        'latin1',
      );
    if (f === 'typeflag') b[at + 156] = r.pick([0, 0x41, 0x56, 0x35, 0x31, 0x78, 0x67, 0x37]);
    if (f === 'uname') b.write(r.pick(['root', 'мир', 'x']), at + 265, 'utf8');
    if (f === 'prefix') b.write('p', at + 345, 'latin1');
    if (f === 'magic') b.write(r.pick(['ustar  \0', 'ustar\0\0\0', 'USTAR\x0000']), at + 257, 'latin1');
    if (f === 'linkname') b.write('x', at + 157, 'latin1');
    if (f === 'devmajor') b.write('000001 \0', at + 329, 'latin1');
    if (f === 'size-base256') {
      b.fill(0, at + 124, at + 136);
      b[at + 124] = 0x80;
      b.writeUIntBE(e.size, at + 130, 6);
    }
    if (f === 'size-spaces') b.write(('  ' + e.size.toString(8)).padStart(11, ' ') + ' ', at + 124, 'latin1');
    if (f === 'size-off')
      b.write(
        Math.max(0, e.size + r.pick([1, -1, 512, -512, 16]))
          .toString(8)
          .padStart(11, '0') + ' ',
        at + 124,
        'latin1',
      );
    if (f === 'name-prefix' && e.name.includes('/')) {
      const cut = e.name.lastIndexOf('/');
      b.fill(0, at, at + 100);
      b.write(e.name.slice(cut + 1), at, 'latin1');
      b.fill(0, at + 345, at + 500);
      b.write(e.name.slice(0, cut), at + 345, 'latin1');
    }
    if (r.int(10) > 0) fixChecksum(b, at);
    return b;
  },
  checksum: (b, r) => {
    const e = r.pick(entriesOf(b));
    if (r.int(2)) {
      xorAt(b, e.at + 148 + r.int(6), 1);
    } else {
      fixChecksum(b, e.at);
      const v = b.subarray(e.at + 148, e.at + 154).toString('latin1');
      b.write(r.pick([`${v}\0 `, ` ${v}\0`, `0${v} `.slice(0, 7) + '\0']), e.at + 148, 'latin1');
    }
    return b;
  },
  padding: (b, r) => {
    // Undefined when no entry has padding (pick of an empty list).
    const e = r.pick<EntryAt | undefined>(entriesOf(b).filter((x) => padded(x.size) > x.size));
    if (e) b[e.at + TAR_BLOCK + e.size + r.int(padded(e.size) - e.size)] = 1 + r.int(255);
    return b;
  },
  bom: (b, r) => {
    const e = r.pick(
      entriesOf(b).filter(
        (x) => x.name === ENTRY.header || x.name === ENTRY.headerSignature || x.name === ENTRY.signature,
      ),
    );
    const data = b.subarray(e.at + TAR_BLOCK, e.at + TAR_BLOCK + e.size);
    return replaceEntry(b, e.at, e.name, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), data]));
  },
  order: (b, r) => {
    const es = entriesOf(b);
    const whole = (e: EntryAt) => b.subarray(e.at, e.at + TAR_BLOCK + padded(e.size));
    const i = r.int(es.length - 1);
    const how = r.int(3);
    const parts = es.map(whole);
    if (how === 0) [parts[i], parts[i + 1]] = [parts[i + 1]!, parts[i]!];
    if (how === 1) parts.splice(i, 1);
    if (how === 2) parts.splice(i, 0, parts[i]!);
    return Buffer.concat([...parts, b.subarray(b.length - 2 * TAR_BLOCK)]);
  },
  truncate: (b, r) => {
    const es = entriesOf(b);
    const at = r.int(3) === 0 ? r.pick(es).at + r.pick([0, 1, 511, 512, 513]) : r.int(b.length);
    return b.subarray(0, Math.min(at, b.length - 1));
  },
  trailing: (b, r) =>
    Buffer.concat([b, r.pick([Buffer.alloc(1), Buffer.alloc(512), Buffer.alloc(1024), r.bytes(1 + r.int(700))])]),
  'end blocks': (b, r) => {
    b[b.length - 1 - r.int(1024)] = 1 + r.int(255);
    return b;
  },
  reserve: (b, r) => {
    const e = entriesOf(b)[2]!;
    if (e.size > 0) b[e.at + TAR_BLOCK + r.int(e.size)] = 1 + r.int(255);
    return b;
  },
  // The publisher itself (or its stolen key) signs an edited header again: the MAC it keeps is stale.
  'header re-signed by the publisher': (b, r, c) => reheader(b, (h) => r.pick(headerEdits)(h, r), c.publisher),
  'header json': (b, r, c) => {
    const edit = r.pick(headerEdits);
    const how = r.int(3);
    try {
      if (how === 0) return reheader(b, (h) => edit(h, r));
      if (how === 1) return reheader(b, (h) => edit(h, r), c.stranger);
    } catch {
      // An edit the header encoder refuses (e.g. a negative size): flip a byte instead.
    }
    const e = entriesOf(b)[0]!;
    xorAt(b, e.at + TAR_BLOCK + r.int(e.size), 1 << r.int(8));
    return b;
  },
  signature: (b, r) => {
    const e = r.pick(entriesOf(b).filter((x) => x.name === ENTRY.headerSignature || x.name === ENTRY.signature));
    xorAt(b, e.at + TAR_BLOCK + r.int(e.size), 1 << r.int(8));
    return b;
  },
  ciphertext: (b, r) => {
    const e = r.pick(
      entriesOf(b).filter(
        (x) => x.name.startsWith('payload/') || x.name === ENTRY.provenance || x.name === ENTRY.chunks,
      ),
    );
    if (e.size > 0) xorAt(b, e.at + TAR_BLOCK + r.int(e.size), 1 << r.int(8));
    return b;
  },
  'random byte': (b, r) => {
    xorAt(b, r.int(b.length), 1 + r.int(255));
    return b;
  },
};

export const MUTATION_KINDS = Object.keys(MUTATIONS);

/** Applies 1-3 random mutations (the first of kind `first` when given); returns the bytes and the kinds applied. */
export function mutate(
  pkg: Uint8Array,
  r: Rand,
  c: MutationContext,
  first?: string,
): { bytes: Buffer; kinds: string[] } {
  let b: Buffer = Buffer.from(pkg);
  const kinds: string[] = [];
  const n = 1 + (r.int(4) === 0 ? 1 + r.int(2) : 0);
  for (let i = 0; i < n; i++) {
    const kind = i === 0 && first ? first : r.pick(MUTATION_KINDS);
    try {
      b = MUTATIONS[kind]!(b, r, c);
    } catch {
      // A later mutation may not find the structure an earlier one broke: apply a byte flip instead.
      xorAt(b, r.int(b.length), 0xff);
    }
    kinds.push(kind);
  }
  return { bytes: b, kinds };
}

/** A stream of `bytes` cut at random places (1 byte to 100 KiB pieces). */
export function* randomPieces(bytes: Uint8Array, r: Rand): Generator<Buffer> {
  for (let at = 0; at < bytes.length;) {
    const n = Math.min(bytes.length - at, r.pick([1, 7, 512, 4096, 65536, 100_000]));
    yield Buffer.from(bytes.subarray(at, at + n));
    at += n;
  }
}
