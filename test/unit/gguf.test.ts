import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test as fcTest } from '@fast-check/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import {
  dequantizeQ8_0,
  encodeGgufHeader,
  GGML_TYPE,
  ggmlTensorBytes,
  GGUF_LIMITS,
  GGUF_VALUE_TYPE as V,
  parseGgufHeader,
  readGgufHeader,
  writeGguf,
  type GgufValue,
} from '../../src/formats/gguf.js';

const runs = process.env.SLOW ? 2000 : 50;
const dir = mkdtempSync(join(tmpdir(), 'modelseal-gguf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A raw little-endian builder, for files the encoder refuses to write.
const enc = new TextEncoder();
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};
const u32 = (n: number) => new Uint8Array(Uint32Array.of(n).buffer);
const u64 = (n: number | bigint) => new Uint8Array(BigUint64Array.of(BigInt(n)).buffer);
const str = (s: string | Uint8Array) => {
  const b = typeof s === 'string' ? enc.encode(s) : s;
  return cat(u64(b.length), b);
};
const kv = (key: string, type: number, payload: Uint8Array) => cat(str(key), u32(type), payload);
const ti = (name: string, ne: (number | bigint)[], type: number, offset: number | bigint) =>
  cat(str(name), u32(ne.length), ...ne.map(u64), u32(type), u64(offset));

function raw(o: {
  magic?: string;
  version?: number;
  kvs?: Uint8Array[];
  tis?: Uint8Array[];
  data?: number;
  align?: number;
  counts?: [bigint, bigint];
}): Uint8Array {
  const kvs = o.kvs ?? [];
  const tis = o.tis ?? [];
  const [nt, nkv] = o.counts ?? [BigInt(tis.length), BigInt(kvs.length)];
  const head = cat(enc.encode(o.magic ?? 'GGUF'), u32(o.version ?? 3), u64(nt), u64(nkv), ...kvs, ...tis);
  const align = o.align ?? 32;
  return cat(head, new Uint8Array(Math.ceil(head.length / align) * align - head.length + (o.data ?? 0)));
}

function rejects(f: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a throw').toBeDefined();
  expect(isModelsealError(thrown, 'INVALID_ARGUMENT'), String(thrown)).toBe(true);
  expect((thrown as Error).message).toMatch(message);
}
const parseRejects = (bytes: Uint8Array, message: RegExp, fileSize = bytes.length) =>
  rejects(() => parseGgufHeader(bytes, fileSize), message);

/** Metadata holding every value type, arrays of each kind included. */
function everyType(): Map<string, GgufValue> {
  return new Map<string, GgufValue>([
    ['general.architecture', { type: V.STRING, value: 'llama' }],
    ['test.u8', { type: V.UINT8, value: 255 }],
    ['test.i8', { type: V.INT8, value: -128 }],
    ['test.u16', { type: V.UINT16, value: 65535 }],
    ['test.i16', { type: V.INT16, value: -32768 }],
    ['test.u32', { type: V.UINT32, value: 4294967295 }],
    ['test.i32', { type: V.INT32, value: -2147483648 }],
    ['test.f32', { type: V.FLOAT32, value: Math.fround(1e-5) }],
    ['test.bool', { type: V.BOOL, value: true }],
    ['test.string', { type: V.STRING, value: 'héllo, 世界 🦙\n' }],
    ['test.u64', { type: V.UINT64, value: 2n ** 64n - 1n }],
    ['test.i64', { type: V.INT64, value: -(2n ** 63n) }],
    ['test.f64', { type: V.FLOAT64, value: Math.PI }],
    ['tokenizer.ggml.tokens', { type: V.ARRAY, value: { itemType: V.STRING, items: ['<s>', '</s>', '▁the', ''] } }],
    [
      'tokenizer.ggml.scores',
      { type: V.ARRAY, value: { itemType: V.FLOAT32, items: Float32Array.of(0, -1.5, NaN, -Infinity) } },
    ],
    ['tokenizer.ggml.token_type', { type: V.ARRAY, value: { itemType: V.INT32, items: Int32Array.of(1, 3, 3, 1) } }],
    ['test.u64s', { type: V.ARRAY, value: { itemType: V.UINT64, items: BigUint64Array.of(0n, 2n ** 64n - 1n) } }],
    ['test.bools', { type: V.ARRAY, value: { itemType: V.BOOL, items: [true, false] } }],
    ['test.empty', { type: V.ARRAY, value: { itemType: V.INT64, items: new BigInt64Array(0) } }],
    [
      'test.nested',
      {
        type: V.ARRAY,
        value: {
          itemType: V.ARRAY,
          items: [
            { itemType: V.UINT8, items: Uint8Array.of(1, 2) },
            { itemType: V.STRING, items: ['x'] },
          ],
        },
      },
    ],
  ]);
}

/** Tensors of the four common types, with deterministic data of the right length. */
function sampleTensors() {
  const t = (name: string, ggmlType: number, ne: number[]) => {
    const data = new Uint8Array(
      ggmlTensorBytes(
        ggmlType,
        ne.reduce((a, b) => a * b, 1),
      ),
    );
    data.forEach((_, i) => (data[i] = (i * 31 + name.length) & 0xff));
    return { name, ggmlType, ne, data };
  };
  return [
    t('token_embd.weight', GGML_TYPE.Q8_0, [64, 3]),
    t('blk.0.attn_norm.weight', GGML_TYPE.F32, [5]),
    t('blk.0.ffn_up.weight', GGML_TYPE.F16, [7, 2]),
    t('output.weight', GGML_TYPE.BF16, [4, 3, 2]),
  ];
}

function fileOf(
  metadata: Map<string, GgufValue>,
  tensors: ReturnType<typeof sampleTensors>,
  alignment?: number,
): Uint8Array {
  const h = encodeGgufHeader(
    metadata,
    tensors.map((t) => ({ ...t, size: t.data.length })),
    alignment,
  );
  const out = new Uint8Array(h.bytes.length + h.dataSize);
  out.set(h.bytes);
  tensors.forEach((t, i) => out.set(t.data, h.bytes.length + h.offsets[i]!));
  return out;
}

describe('round trips', () => {
  it('parse(encode(x)) = x for every value type and F32/F16/BF16/Q8_0 tensors, and re-encoding gives the same bytes', () => {
    const tensors = sampleTensors();
    const file = fileOf(everyType(), tensors);
    const g = parseGgufHeader(file, file.length);
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(32);
    expect(g.metadata).toEqual(everyType());
    expect([...g.metadata.keys()]).toEqual([...everyType().keys()]);
    expect(g.dataOffset % 32).toBe(0);
    expect(g.tensors.map((t) => [t.name, t.typeName, t.ne, t.shape])).toEqual([
      ['token_embd.weight', 'Q8_0', [64, 3], [3, 64]],
      ['blk.0.attn_norm.weight', 'F32', [5], [5]],
      ['blk.0.ffn_up.weight', 'F16', [7, 2], [2, 7]],
      ['output.weight', 'BF16', [4, 3, 2], [2, 3, 4]],
    ]);
    g.tensors.forEach((t, i) => {
      expect(t.start % 32).toBe(0);
      expect(file.subarray(t.start, t.end)).toEqual(tensors[i]?.data);
    });
    const again = encodeGgufHeader(
      g.metadata,
      g.tensors.map((t) => ({ ...t, size: t.end - t.start })),
    );
    expect(again.bytes).toEqual(file.subarray(0, g.dataOffset));
    expect(g.dataOffset + again.dataSize).toBe(file.length);
  });

  it('writes general.alignment when asked for another alignment, and refuses a contradiction', () => {
    const file = fileOf(new Map(), sampleTensors(), 64);
    const g = parseGgufHeader(file, file.length);
    expect(g.alignment).toBe(64);
    expect(g.metadata.get('general.alignment')).toEqual({ type: V.UINT32, value: 64 });
    for (const t of g.tensors) expect(t.start % 64).toBe(0);
    rejects(() => encodeGgufHeader(g.metadata, [], 32), /disagrees with general.alignment 64/);
    rejects(() => encodeGgufHeader(new Map(), [], 48), /power of two/);
  });

  it('reads version 2 files, and a file without tensors whose last padding is missing', () => {
    const v2 = raw({ version: 2, kvs: [kv('a.b', V.UINT8, Uint8Array.of(7))] });
    expect(parseGgufHeader(v2, v2.length).version).toBe(2);
    const bare = cat(enc.encode('GGUF'), u32(3), u64(0), u64(0));
    expect(parseGgufHeader(bare, bare.length)).toMatchObject({ tensors: [], dataOffset: 32 });
  });

  const key = fc.stringMatching(/^[a-z][a-z0-9_.]{0,30}$/);
  const value: fc.Arbitrary<GgufValue> = fc.oneof(
    fc.integer({ min: 0, max: 255 }).map((v) => ({ type: V.UINT8, value: v })),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((v) => ({ type: V.INT32, value: v })),
    fc.float().map((v) => ({ type: V.FLOAT32, value: v })),
    fc.double().map((v) => ({ type: V.FLOAT64, value: v })),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ type: V.UINT64, value: v })),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v) => ({ type: V.INT64, value: v })),
    fc.boolean().map((v) => ({ type: V.BOOL, value: v })),
    fc.string({ unit: 'binary', maxLength: 20 }).map((v) => ({ type: V.STRING, value: v })),
    fc
      .array(fc.string({ unit: 'binary', maxLength: 8 }), { maxLength: 5 })
      .map((items) => ({ type: V.ARRAY, value: { itemType: V.STRING, items } })),
    fc
      .array(fc.float(), { maxLength: 5 })
      .map((v) => ({ type: V.ARRAY, value: { itemType: V.FLOAT32, items: Float32Array.from(v) } })),
  );
  const tensor = fc.record({
    type: fc.constantFrom(GGML_TYPE.F32, GGML_TYPE.F16, GGML_TYPE.BF16, GGML_TYPE.Q8_0, GGML_TYPE.Q4_K),
    ne: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 }),
  });
  fcTest.prop(
    [
      fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 8 }),
      fc.uniqueArray(fc.tuple(key, tensor), { selector: ([k]) => k, maxLength: 5 }),
      fc.constantFrom(undefined, 8, 32, 64),
    ],
    { numRuns: runs },
  )('parse(encode(x)) = x and re-encoding gives the same bytes', (kvs, ts, alignment) => {
    const metadata = new Map(kvs);
    const tensors = ts.map(([name, { type, ne }]) => {
      const shape = [ne[0]! * (type === GGML_TYPE.Q8_0 ? 32 : type === GGML_TYPE.Q4_K ? 256 : 1), ...ne.slice(1)];
      return {
        name,
        ggmlType: type,
        ne: shape,
        size: ggmlTensorBytes(
          type,
          shape.reduce((a, b) => a * b, 1),
        ),
      };
    });
    const h = encodeGgufHeader(metadata, tensors, alignment);
    const size = h.bytes.length + h.dataSize;
    const g = parseGgufHeader(h.bytes, size);
    if (alignment !== undefined && alignment !== 32)
      metadata.set('general.alignment', { type: V.UINT32, value: alignment });
    expect(g.metadata).toEqual(metadata);
    expect(g.tensors.map((t) => ({ name: t.name, ggmlType: t.ggmlType, ne: t.ne, size: t.end - t.start }))).toEqual(
      tensors,
    );
    expect(g.tensors.map((t) => t.start - g.dataOffset)).toEqual(h.offsets);
    expect(
      encodeGgufHeader(
        g.metadata,
        g.tensors.map((t) => ({ ...t, size: t.end - t.start })),
      ).bytes,
    ).toEqual(h.bytes);
  });
});

describe('writeGguf and readGgufHeader', () => {
  it('write a file that reads back, refuse to replace it unless asked', async () => {
    const path = join(dir, 'model.gguf');
    const tensors = sampleTensors();
    await writeGguf(path, everyType(), tensors);
    const file = new Uint8Array(readFileSync(path));
    expect(file).toEqual(fileOf(everyType(), tensors));
    const g = await readGgufHeader(path);
    expect(g.metadata).toEqual(everyType());
    g.tensors.forEach((t, i) => expect(file.subarray(t.start, t.end)).toEqual(tensors[i]?.data));
    await expect(writeGguf(path, new Map(), [])).rejects.toMatchObject({ code: 'OUTPUT_EXISTS' });
    await writeGguf(path, new Map(), [], undefined, { overwrite: true });
    expect((await readGgufHeader(path)).tensors).toEqual([]);
    await expect(
      writeGguf(path, new Map(), [{ ...tensors[0]!, data: new Uint8Array(5) }], undefined, { overwrite: true }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('reads a header larger than its first read (1 MiB) in steps, and reports a missing file as IO', async () => {
    const path = join(dir, 'big-header.gguf');
    const tokens = Array.from({ length: 40_000 }, (_, i) => `token-${i}-${'x'.repeat(30)}`);
    const metadata = new Map<string, GgufValue>([
      ['tokenizer.ggml.tokens', { type: V.ARRAY, value: { itemType: V.STRING, items: tokens } }],
    ]);
    await writeGguf(path, metadata, sampleTensors());
    const g = await readGgufHeader(path);
    expect(g.dataOffset).toBeGreaterThan(1 << 20);
    expect(g.metadata).toEqual(metadata);
    await expect(readGgufHeader(join(dir, 'missing.gguf'))).rejects.toMatchObject({ code: 'IO' });
  });

  it('reports a truncated file on disk', async () => {
    const path = join(dir, 'truncated.gguf');
    writeFileSync(path, fileOf(everyType(), sampleTensors()).subarray(0, 100));
    await expect(readGgufHeader(path)).rejects.toThrow(/truncated/);
  });
});

describe('ggml types and Q8_0', () => {
  it('knows block sizes and refuses what is not whole blocks or unknown', () => {
    expect(ggmlTensorBytes(GGML_TYPE.F32, 10)).toBe(40);
    expect(ggmlTensorBytes(GGML_TYPE.BF16, 10)).toBe(20);
    expect(ggmlTensorBytes(GGML_TYPE.Q8_0, 64)).toBe(68);
    expect(ggmlTensorBytes(GGML_TYPE.Q4_K, 512)).toBe(288);
    expect(ggmlTensorBytes(GGML_TYPE.Q6_K, 256)).toBe(210);
    expect(ggmlTensorBytes(GGML_TYPE.MXFP4, 32)).toBe(17);
    rejects(() => ggmlTensorBytes(GGML_TYPE.Q8_0, 31), /not whole blocks of 32/);
    rejects(() => ggmlTensorBytes(4, 32), /unknown ggml type 4/);
    rejects(() => ggmlTensorBytes(GGML_TYPE.F32, 2 ** 52), /2\^53/);
  });

  it('dequantizes hand-built Q8_0 blocks', () => {
    const block = (scaleF16: number, q: (j: number) => number) => {
      const b = new Uint8Array(34);
      new DataView(b.buffer).setUint16(0, scaleF16, true);
      for (let j = 0; j < 32; j++) b[2 + j] = q(j) & 0xff;
      return b;
    };
    // 0x3800 = 0.5, 0xc400 = -4, 0x0001 = 2^-24 (the smallest subnormal)
    const data = cat(
      block(0x3800, (j) => j - 16),
      block(0xc400, (j) => (j === 0 ? -128 : j === 1 ? 127 : 0)),
      block(0x0001, () => 3),
    );
    const out = dequantizeQ8_0(data, 96);
    expect(Array.from(out.subarray(0, 32))).toEqual(Array.from({ length: 32 }, (_, j) => (j - 16) / 2));
    expect(Array.from(out.subarray(32, 35))).toEqual([512, -508, -0]);
    expect(out[64]).toBe(Math.fround(3 * 2 ** -24));
    rejects(() => dequantizeQ8_0(data, 64), /take 68 bytes, got 102/);
    rejects(() => dequantizeQ8_0(data, 100), /not whole blocks/);
  });
});

describe('hostile or malformed input', () => {
  const ok = raw({ kvs: [kv('a.b', V.UINT32, u32(1))], tis: [ti('t', [8], GGML_TYPE.F32, 0)], data: 32 });

  it('accepts the baseline file used below', () => {
    expect(parseGgufHeader(ok, ok.length).tensors[0]).toMatchObject({ name: 't', start: 96, end: 128 });
  });

  it('refuses a bad magic, an unsupported version, big-endian files', () => {
    parseRejects(raw({ magic: 'GGML' }), /not a GGUF file/);
    parseRejects(raw({ version: 1 }), /version 1 is not supported/);
    parseRejects(raw({ version: 4 }), /version 4 is not supported/);
    parseRejects(raw({ version: 0x03000000 }), /big-endian/);
  });

  it('refuses counts, strings, arrays and headers over the limits, before allocating', () => {
    parseRejects(raw({ counts: [BigInt(GGUF_LIMITS.tensors + 1), 0n] }), /tensor count is 65537, over the limit/);
    parseRejects(raw({ counts: [0n, 2n ** 64n - 1n] }), /metadata count is 18446744073709551615, over the limit/);
    parseRejects(
      raw({ kvs: [kv('s', V.STRING, u64(GGUF_LIMITS.stringBytes + 1))] }),
      /length of the value of "s" is 1048577, over the limit/,
    );
    parseRejects(
      raw({ kvs: [kv('a', V.ARRAY, cat(u32(V.UINT8), u64(2 ** 24 + 1)))] }),
      /length of the value of "a" is 16777217, over the limit/,
    );
    parseRejects(
      raw({ kvs: [kv('a', V.ARRAY, cat(u32(V.UINT64), u64(2 ** 24)))] }),
      /header exceeds the limit of 104857600 bytes/,
    );
    parseRejects(raw({ kvs: [kv('a', V.ARRAY, cat(u32(V.STRING), u64(2 ** 24)))] }), /header exceeds the limit/);
    parseRejects(raw({ kvs: [kv('a', V.ARRAY, cat(u32(V.STRING), u64(1000)))] }), /truncated/);
    parseRejects(
      raw({ tis: [ti('x'.repeat(64), [8], GGML_TYPE.F32, 0)], data: 32 }),
      /length of the name of tensor 0 is 64, over the limit of 63/,
    );
    const deep = (n: number): Uint8Array =>
      n === 0 ? cat(u32(V.UINT8), u64(0)) : cat(u32(V.ARRAY), u64(1), deep(n - 1));
    const four = raw({ kvs: [kv('d', V.ARRAY, deep(3))] }); // deep(n) is n + 1 levels
    expect(parseGgufHeader(four, four.length).metadata.get('d')).toBeDefined();
    parseRejects(raw({ kvs: [kv('d', V.ARRAY, deep(4))] }), /nests arrays deeper than 4/);
    rejects(
      () => encodeGgufHeader(new Map([['s', { type: V.STRING, value: 'x'.repeat(GGUF_LIMITS.stringBytes + 1) }]]), []),
      /over the limit of 1048576/,
    );
  });

  it('refuses bad dimensions and types', () => {
    const tensor = (ne: (number | bigint)[], type: number = GGML_TYPE.F32) =>
      raw({ tis: [ti('t', ne, type, 0)], data: 4096 });
    parseRejects(tensor([]), /has 0 dimensions; 1 to 4/);
    parseRejects(tensor([1, 1, 1, 1, 1]), /has 5 dimensions/);
    parseRejects(tensor([8, 0]), /dimension 0; each must be an integer ≥ 1/);
    parseRejects(tensor([2n ** 63n]), /dimension 9223372036854776000/);
    parseRejects(tensor([2 ** 32, 2 ** 32]), /more than 2\^53/);
    parseRejects(tensor([8], 4), /unknown ggml type 4/);
    parseRejects(tensor([16, 2], GGML_TYPE.Q8_0), /rows of 16 elements, not a multiple of the block size 32/);
    rejects(
      () => encodeGgufHeader(new Map(), [{ name: 't', ggmlType: GGML_TYPE.F32, ne: [2, 2], size: 15 }]),
      /has 15 bytes but 2 × 2 F32 take 16/,
    );
  });

  it('refuses repeated keys and tensor names, bad names and keys', () => {
    parseRejects(
      raw({ kvs: [kv('a', V.UINT8, u32(1).subarray(0, 1)), kv('a', V.UINT8, Uint8Array.of(2))] }),
      /repeats the key "a"/,
    );
    parseRejects(
      raw({ tis: [ti('t', [8], GGML_TYPE.F32, 0), ti('t', [8], GGML_TYPE.F32, 32)], data: 64 }),
      /tensor name "t" appears twice/,
    );
    parseRejects(raw({ tis: [ti('a\0b', [8], GGML_TYPE.F32, 0)], data: 32 }), /hold no NUL/);
    parseRejects(raw({ kvs: [kv('clé', V.UINT8, Uint8Array.of(1))] }), /printable ASCII/);
    parseRejects(raw({ kvs: [kv('s', V.STRING, str(Uint8Array.of(0xc3, 0x28)))] }), /not valid UTF-8/);
    parseRejects(raw({ kvs: [kv('b', V.BOOL, Uint8Array.of(2))] }), /bool of byte 2/);
    parseRejects(raw({ kvs: [kv('u', 13, Uint8Array.of(0))] }), /unknown value type 13/);
    rejects(
      () =>
        encodeGgufHeader(new Map(), [
          { name: 't', ggmlType: 0, ne: [1], size: 4 },
          { name: 't', ggmlType: 0, ne: [1], size: 4 },
        ]),
      /appears twice/,
    );
  });

  it('refuses a bad alignment', () => {
    parseRejects(
      raw({ kvs: [kv('general.alignment', V.UINT32, u32(48))] }),
      /general.alignment must be a power of two/,
    );
    parseRejects(raw({ kvs: [kv('general.alignment', V.UINT32, u32(0))] }), /power of two/);
    parseRejects(
      raw({ kvs: [kv('general.alignment', V.UINT64, u64(32))] }),
      /general.alignment must be a UINT32, got a UINT64/,
    );
  });

  it('refuses tensor data outside the file, overlapping, misaligned, with gaps or trailing bytes', () => {
    const two = (second: number, data: number) =>
      raw({ tis: [ti('a', [16], GGML_TYPE.F32, 0), ti('b', [8], GGML_TYPE.F32, second)], data });
    expect(parseGgufHeader(two(64, 96), two(64, 96).length).tensors[1]?.start).toBe(96 + 64);
    parseRejects(two(64, 95), /"b" \(32 bytes at data offset 64\) lies outside the file/);
    parseRejects(raw({ tis: [ti('a', [8], GGML_TYPE.F32, 2n ** 64n - 32n)], data: 32 }), /lies outside the file/);
    parseRejects(two(32, 96), /"b" at data offset 32 overlaps the tensor before it, which ends \(padded\) at 64/);
    parseRejects(two(0, 96), /overlaps/);
    parseRejects(two(80, 128), /offset 80, not a multiple of the alignment 32/);
    parseRejects(two(96, 128), /"b" is at data offset 96, but the packed layout ggml requires puts it at 64/);
    parseRejects(two(64, 128), /32 trailing bytes after the last tensor/);
    const padded = two(64, 96);
    padded[padded.length - 97] = 1; // the last byte of the header padding
    parseRejects(padded, /padding after the tensor table is not all zero/);
  });

  it('refuses every truncation of a valid file, and asks for more bytes when only a prefix is given', () => {
    const tensors = sampleTensors().map((t) => ({ ...t, ne: t.ggmlType === GGML_TYPE.Q8_0 ? [32, 2] : [16] }));
    tensors.forEach(
      (t) =>
        (t.data = new Uint8Array(
          ggmlTensorBytes(
            t.ggmlType,
            t.ne.reduce((a, b) => a * b, 1),
          ),
        )),
    );
    const file = fileOf(everyType(), tensors.slice(0, 2)); // 68 then 64 bytes: the file ends exactly at the last tensor
    expect(parseGgufHeader(file, file.length).tensors.at(-1)?.end).toBe(file.length);
    for (let n = 0; n < file.length; n++) parseRejects(file.subarray(0, n), /truncated|lies outside the file/);
    let thrown: unknown;
    try {
      parseGgufHeader(file.subarray(0, 40), file.length);
    } catch (e) {
      thrown = e;
    }
    expect(isModelsealError(thrown, 'INVALID_ARGUMENT') && (thrown.details?.needed as number) > 40).toBe(true);
    rejects(() => parseGgufHeader(file, file.length - 1), /file size must be an integer no smaller/);
  });

  it('refuses values the encoder could not write back exactly', () => {
    const one = (v: GgufValue) => () => encodeGgufHeader(new Map([['k', v]]), []);
    rejects(one({ type: V.UINT8, value: 256 }), /256 is not exactly a UINT8/);
    rejects(one({ type: V.INT32, value: 1.5 }), /not exactly a INT32/);
    rejects(one({ type: V.FLOAT32, value: 0.1 }), /not exactly a FLOAT32/);
    rejects(one({ type: V.UINT64, value: 1 }), /must be a bigint/);
    rejects(one({ type: V.UINT64, value: -1n }), /not exactly a UINT64/);
    rejects(one({ type: V.STRING, value: 'a\uD800' }), /lone surrogate/);
    rejects(one({ type: V.ARRAY, value: { itemType: V.INT32, items: [1, 2] } }), /must be a Int32Array/);
    const nest = (n: number): unknown =>
      n === 1 ? { itemType: V.UINT8, items: new Uint8Array(0) } : { itemType: V.ARRAY, items: [nest(n - 1)] };
    expect(() => one({ type: V.ARRAY, value: nest(4) })()).not.toThrow();
    rejects(one({ type: V.ARRAY, value: nest(5) }), /deeper than 4/);
    rejects(() => encodeGgufHeader(new Map([['', { type: V.UINT8, value: 1 }]]), []), /printable ASCII/);
    rejects(one({ type: 13, value: 0 }), /with a known type/);
  });
});
