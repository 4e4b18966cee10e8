/**
 * A small MaxMind DB (MMDB 2.0) writer for tests: an IPv6 search tree (24-bit records; IPv4 networks
 * under ::/96, as MaxMind's own databases store them), a data section of maps, strings and unsigned
 * integers, and the metadata. No real ASN database ships in an npm package (the
 * @ip-location-db/asn package holds CSV files only), so the ASN tests build theirs with this; the
 * country tests use the real CC0 database. Spec: https://maxmind.github.io/MaxMind-DB/
 */
import { isIP } from 'node:net';

export type MmdbValue = string | number | boolean | MmdbValue[] | { [k: string]: MmdbValue };

/** The control bytes of a field of `type` (MMDB numbering; > 7 are extended) and `size`. */
function control(type: number, size: number): Buffer {
  const head = (type > 7 ? 0 : type) << 5;
  const ext = type > 7 ? [type - 7] : [];
  if (size < 29) return Buffer.from([head | size, ...ext]);
  if (size < 285) return Buffer.from([head | 29, ...ext, size - 29]);
  if (size < 65821) return Buffer.from([head | 30, ...ext, (size - 285) >> 8, (size - 285) & 255]);
  const n = size - 65821;
  return Buffer.from([head | 31, ...ext, (n >> 16) & 255, (n >> 8) & 255, n & 255]);
}

function uint(type: number, n: number): Buffer {
  const bytes: number[] = [];
  for (let v = BigInt(n); v > 0n; v >>= 8n) bytes.unshift(Number(v & 255n));
  return Buffer.concat([control(type, bytes.length), Buffer.from(bytes)]);
}

/** One value in the data section's encoding. */
export function encodeValue(v: MmdbValue): Buffer {
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([control(2, b.length), b]);
  }
  if (typeof v === 'boolean') return control(14, v ? 1 : 0);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`mmdb writer: unsigned integers only, not ${v}`);
    return v < 65536 ? uint(5, v) : v < 2 ** 32 ? uint(6, v) : uint(9, v);
  }
  if (Array.isArray(v)) return Buffer.concat([control(11, v.length), ...v.map(encodeValue)]);
  const entries = Object.entries(v);
  return Buffer.concat([control(7, entries.length), ...entries.flatMap(([k, x]) => [encodeValue(k), encodeValue(x)])]);
}

/** The 128 bits of a network's address in the IPv6 tree, and its prefix length there. */
function bits(cidr: string): { bits: number[]; prefix: number } {
  const [addr = '', len] = cidr.split('/');
  const out: number[] = [];
  if (isIP(addr) === 4) {
    out.push(...Array<number>(96).fill(0));
    for (const part of addr.split('.')) for (let i = 7; i >= 0; i--) out.push((Number(part) >> i) & 1);
    return { bits: out, prefix: 96 + Number(len ?? 32) };
  }
  const [head = '', tail = ''] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = addr.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  for (const g of groups) for (let i = 15; i >= 0; i--) out.push((parseInt(g, 16) >> i) & 1);
  return { bits: out, prefix: Number(len ?? 128) };
}

interface Node {
  kids: [Node | number | null, Node | number | null];
}

/** An MMDB file holding `networks` (CIDR → record); later networks must not overlap earlier ones. */
export function writeMmdb(o: {
  networks: Record<string, MmdbValue>;
  databaseType: string;
  buildEpoch: number;
  /** Extra bytes in place of the metadata marker, for a damaged file. */
  metadataMarker?: Buffer;
}): Buffer {
  const root: Node = { kids: [null, null] };
  const data: Buffer[] = [];
  let dataSize = 0;
  for (const [cidr, record] of Object.entries(o.networks)) {
    const { bits: b, prefix } = bits(cidr);
    let node = root;
    for (let depth = 0; depth < prefix - 1; depth++) {
      const next = node.kids[b[depth]!];
      if (typeof next === 'object' && next !== null) node = next;
      else node = node.kids[b[depth]!] = { kids: [null, null] };
    }
    node.kids[b[prefix - 1]!] = dataSize;
    const bytes = encodeValue(record);
    data.push(bytes);
    dataSize += bytes.length;
  }
  const order: Node[] = [];
  const number = new Map<Node, number>();
  const visit = (n: Node) => {
    number.set(n, order.length);
    order.push(n);
    for (const k of n.kids) if (typeof k === 'object' && k !== null) visit(k);
  };
  visit(root);
  const nodeCount = order.length;
  const tree = Buffer.alloc(nodeCount * 6);
  order.forEach((n, i) => {
    n.kids.forEach((k, side) => {
      const value = k === null ? nodeCount : typeof k === 'number' ? nodeCount + 16 + k : number.get(k)!;
      tree.writeUIntBE(value, i * 6 + side * 3, 3);
    });
  });
  const metadata = encodeValue({
    binary_format_major_version: 2,
    binary_format_minor_version: 0,
    build_epoch: o.buildEpoch,
    database_type: o.databaseType,
    description: { en: 'modelseal test database' },
    ip_version: 6,
    languages: ['en'],
    node_count: nodeCount,
    record_size: 24,
  });
  const marker = o.metadataMarker ?? Buffer.concat([Buffer.from([0xab, 0xcd, 0xef]), Buffer.from('MaxMind.com')]);
  return Buffer.concat([tree, Buffer.alloc(16), ...data, marker, metadata]);
}
