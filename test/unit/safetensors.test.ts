import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import {
  parseSafetensorsHeader,
  SAFETENSORS_MAX_HEADER_LENGTH,
  safetensorsHeaderLength,
} from '../../src/formats/safetensors.js';

const SAMPLE = fileURLToPath(new URL('../../samples/checkpoint/model.safetensors', import.meta.url));

/** A safetensors file from a header text (padded with spaces to a multiple of 8 unless pad=false). */
function file(header: string, dataLength: number, opts: { pad?: boolean; declaredLength?: bigint } = {}): Uint8Array {
  let h = Buffer.from(header, 'utf8');
  if (opts.pad !== false) h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const out = new Uint8Array(8 + h.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, opts.declaredLength ?? BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

function entry(dtype: string, shape: number[], begin: number, end: number): string {
  return JSON.stringify({ dtype, shape, data_offsets: [begin, end] });
}

function rejects(bytes: Uint8Array, message: RegExp, fileSize = bytes.length): void {
  let thrown: unknown;
  try {
    parseSafetensorsHeader(bytes, fileSize);
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected parseSafetensorsHeader to throw').toBeDefined();
  expect(isModelsealError(thrown, 'INVALID_ARGUMENT'), String(thrown)).toBe(true);
  expect((thrown as Error).message).toMatch(message);
}

describe('parseSafetensorsHeader on the committed sample', () => {
  const bytes = new Uint8Array(readFileSync(SAMPLE));
  const size = statSync(SAMPLE).size;

  it('reads every tensor with absolute offsets that tile the data section', () => {
    const h = parseSafetensorsHeader(bytes, size);
    expect(h.headerLength % 8).toBe(0);
    expect(h.dataOffset).toBe(8 + h.headerLength);
    expect({ ...h.metadata }).toEqual({ format: 'pt' });
    expect(h.tensors).toHaveLength(21);
    expect(h.tensors[0]?.start).toBe(h.dataOffset);
    expect(h.tensors.at(-1)?.end).toBe(size);
    for (let i = 1; i < h.tensors.length; i++) expect(h.tensors[i]?.start).toBe(h.tensors[i - 1]?.end);
    // The generator writes tensors sorted by name, so file order is name order.
    const names = h.tensors.map((t) => t.name);
    expect(names).toEqual([...names].sort());
    expect(new Set(h.tensors.map((t) => t.dtype))).toEqual(new Set(['F32', 'F16', 'BF16']));

    const byName = new Map(h.tensors.map((t) => [t.name, t]));
    expect(byName.get('model.embed_tokens.weight')).toMatchObject({ dtype: 'BF16', shape: [512, 64] });
    expect(byName.get('lm_head.weight')).toMatchObject({ dtype: 'F32', shape: [512, 64] });
    expect(byName.get('model.norm.weight')).toMatchObject({ dtype: 'F32', shape: [64] });
    expect(byName.get('model.layers.1.self_attn.k_proj.weight')).toMatchObject({ dtype: 'F16', shape: [32, 64] });
    expect(byName.get('model.layers.0.mlp.down_proj.weight')).toMatchObject({ dtype: 'BF16', shape: [64, 2048] });
    const lm = byName.get('lm_head.weight');
    expect(lm && lm.end - lm.start).toBe(512 * 64 * 4);
  });

  it('needs only the first 8 + N bytes', () => {
    const n = safetensorsHeaderLength(bytes.subarray(0, 8));
    const full = parseSafetensorsHeader(bytes, size);
    expect(parseSafetensorsHeader(bytes.subarray(0, 8 + n), size)).toEqual(full);
  });

  it('asks for more bytes when given only the prefix', () => {
    rejects(bytes.subarray(0, 8), /needs the first \d+ bytes/, size);
    rejects(bytes.subarray(0, 4), /only 4 bytes/, size);
  });

  it('notices a file size that does not match the data section', () => {
    rejects(bytes, /trailing|outside the data section/, size + 1);
    rejects(bytes.subarray(0, size - 2), /outside the data section/, size - 2);
  });
});

describe('safetensorsHeaderLength', () => {
  it('reads the little-endian u64', () => {
    expect(safetensorsHeaderLength(Uint8Array.of(0x10, 0x01, 0, 0, 0, 0, 0, 0, 0xff))).toBe(0x110);
  });
  it('refuses headers above 100 MiB, including u64 values beyond 2^53', () => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(SAFETENSORS_MAX_HEADER_LENGTH), true);
    expect(safetensorsHeaderLength(b)).toBe(SAFETENSORS_MAX_HEADER_LENGTH);
    new DataView(b.buffer).setBigUint64(0, BigInt(SAFETENSORS_MAX_HEADER_LENGTH) + 1n, true);
    expect(() => safetensorsHeaderLength(b)).toThrow(/exceeds the limit/);
    new DataView(b.buffer).setBigUint64(0, 0xffff_ffff_ffff_ffffn, true);
    expect(() => safetensorsHeaderLength(b)).toThrow(/exceeds the limit/);
  });
  it('refuses fewer than 8 bytes and lengths too small for "{}"', () => {
    expect(() => safetensorsHeaderLength(new Uint8Array(7))).toThrow(/only 7 bytes/);
    expect(() => safetensorsHeaderLength(new Uint8Array(8))).toThrow(/too small/);
  });
});

describe('parseSafetensorsHeader accepts', () => {
  it('an empty header with no data', () => {
    const h = parseSafetensorsHeader(file('{}', 0), 16);
    expect(h.tensors).toEqual([]);
    expect({ ...h.metadata }).toEqual({});
  });

  it('tensors listed out of file order, scalars, zero-size tensors and unpadded headers', () => {
    const header = `{"b":${entry('U8', [2], 4, 6)},"a":${entry('F32', [], 0, 4)},"z":${entry('BF16', [0, 3], 4, 4)}}`;
    const h = parseSafetensorsHeader(file(header, 6, { pad: false }), 8 + header.length + 6);
    const d = 8 + header.length;
    expect(h.tensors).toEqual([
      { name: 'a', dtype: 'F32', shape: [], start: d, end: d + 4 },
      { name: 'z', dtype: 'BF16', shape: [0, 3], start: d + 4, end: d + 4 },
      { name: 'b', dtype: 'U8', shape: [2], start: d + 4, end: d + 6 },
    ]);
  });

  it('sub-byte dtypes that fill whole bytes, and every listed dtype', () => {
    const f4 = file(`{"t":${entry('F4', [2, 3], 0, 3)}}`, 3);
    expect(parseSafetensorsHeader(f4, f4.length).tensors[0]).toMatchObject({ dtype: 'F4', shape: [2, 3] });
    const f6 = file(`{"t":${entry('F6_E2M3', [4], 0, 3)}}`, 3);
    expect(parseSafetensorsHeader(f6, f6.length).tensors[0]).toMatchObject({ dtype: 'F6_E2M3', shape: [4] });
    for (const [dtype, size] of [
      ['F64', 8],
      ['C64', 8],
      ['I16', 2],
      ['BOOL', 1],
      ['F8_E4M3', 1],
      ['U64', 8],
    ] as const) {
      const f = file(`{"t":${entry(dtype, [3], 0, 3 * size)}}`, 3 * size);
      expect(parseSafetensorsHeader(f, f.length).tensors[0]).toMatchObject({ dtype, shape: [3] });
    }
  });

  it('"__proto__" as a tensor name or metadata key without touching prototypes', () => {
    const header = `{"__metadata__":{"__proto__":"x"},"__proto__":${entry('U8', [1], 0, 1)}}`;
    const f = file(header, 1);
    const h = parseSafetensorsHeader(f, f.length);
    expect(Object.getPrototypeOf(h.metadata)).toBe(null);
    expect(h.metadata.__proto__).toBe('x');
    expect(h.tensors.map((t) => t.name)).toEqual(['__proto__']);
  });
});

describe('parseSafetensorsHeader rejects', () => {
  const ok = `{"a":${entry('U8', [2], 0, 2)}}`;

  it('a header length beyond the end of the file', () => {
    rejects(file(ok, 0, { declaredLength: 4096n }), /runs past the end of the file/);
    const f = file(ok, 2);
    rejects(f.subarray(0, 20), /runs past the end of the file/);
    rejects(f.subarray(0, 6), /shorter than its 8-byte header length/);
  });

  it('bad JSON, a header that is not an object, invalid UTF-8', () => {
    rejects(file('{"a": {"dtype": "U8",', 2), /end with "}"|not valid JSON/);
    rejects(file('{"a" {}}', 2), /not valid JSON/);
    rejects(file('{"a":1,}', 0), /not valid JSON/);
    rejects(file('[1,2]', 0), /does not start with "\{"/);
    rejects(file(' {}', 0), /does not start with "\{"/);
    rejects(file('\ufeff{}', 0), /does not start with "\{"/);
    const bad = file('{"\u00e9":1}', 0);
    bad[10] = 0xff; // break the UTF-8 of "é"
    rejects(bad, /not valid UTF-8/);
  });

  it('padding other than spaces', () => {
    rejects(file(`${ok}\n`, 2), /followed only by space padding/);
    rejects(file(`${ok}\u0000\u0000`, 2), /followed only by space padding/);
  });

  it('repeated keys and non-integer numbers', () => {
    rejects(file(`{"a":${entry('U8', [1], 0, 1)},"a":${entry('U8', [2], 0, 2)}}`, 2), /repeats the key "a"/);
    rejects(file(`{"\\u0061":${entry('U8', [1], 0, 1)},"a":${entry('U8', [2], 0, 2)}}`, 2), /repeats the key "a"/);
    rejects(file('{"a":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}}', 2), /number 2\.0/);
    rejects(file('{"a":{"dtype":"U8","shape":[2],"data_offsets":[-0,2]}}', 2), /number -0/);
    rejects(file('{"a":{"dtype":"U8","shape":[2e0],"data_offsets":[0,2]}}', 2), /number 2e0/);
  });

  it('bad __metadata__', () => {
    rejects(
      file(`{"__metadata__":{"format":1},"a":${entry('U8', [2], 0, 2)}}`, 2),
      /__metadata__ value of "format" must be a string/,
    );
    rejects(file(`{"__metadata__":null,"a":${entry('U8', [2], 0, 2)}}`, 2), /__metadata__ must be an object/);
    rejects(file(`{"__metadata__":["pt"],"a":${entry('U8', [2], 0, 2)}}`, 2), /__metadata__ must be an object/);
  });

  it('malformed tensor entries', () => {
    rejects(file('{"a":[1]}', 0), /tensor "a" must be an object/);
    rejects(file('{"a":{"dtype":"U8","shape":[2]}}', 2), /tensor "a" has no data_offsets/);
    rejects(file('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"extra":"x"}}', 2), /unknown field "extra"/);
    rejects(file(`{"a":${entry('F128', [2], 0, 2)}}`, 2), /unknown dtype "F128"/);
    rejects(file(`{"a":${entry('f32', [2], 0, 8)}}`, 8), /unknown dtype "f32"/);
    rejects(file('{"a":{"dtype":"U8","shape":2,"data_offsets":[0,2]}}', 2), /invalid shape 2/);
    rejects(file('{"a":{"dtype":"U8","shape":["2"],"data_offsets":[0,2]}}', 2), /invalid shape/);
    rejects(file('{"a":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,2]}}', 2), /invalid shape/);
    rejects(file('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2,4]}}', 4), /invalid data_offsets/);
    rejects(file('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0]}}', 2), /invalid data_offsets/);
    rejects(file(`{"a":${entry('U8', [0], 2, 0)}}`, 2), /end before they begin/);
  });

  it('byte counts that do not match shape × dtype', () => {
    rejects(file(`{"a":${entry('F32', [2, 3], 0, 12)}}`, 12), /has 12 bytes but shape \[2, 3\] of F32 needs 24/);
    rejects(file(`{"a":${entry('BF16', [5], 0, 12)}}`, 12), /has 12 bytes but shape \[5\] of BF16 needs 10/);
    rejects(file(`{"a":${entry('F4', [3], 0, 2)}}`, 2), /does not fill whole bytes/);
    rejects(file(`{"a":${entry('F64', [2 ** 40, 2 ** 40], 0, 8)}}`, 8), /needs 9671406556917033397649408/);
  });

  it('offsets outside the data section', () => {
    rejects(file(`{"a":${entry('U8', [4], 0, 4)}}`, 2), /data_offsets \[0, 4\] outside the data section \(2 bytes\)/);
    rejects(file(`{"a":${entry('U8', [1], 9, 10)}}`, 2), /outside the data section/);
  });

  it('overlapping tensors, gaps and uncovered trailing bytes', () => {
    rejects(file(`{"a":${entry('U8', [2], 0, 2)},"b":${entry('U8', [2], 1, 3)}}`, 3), /tensor "b" overlaps tensor "a"/);
    rejects(file(`{"a":${entry('U8', [2], 0, 2)},"b":${entry('U8', [2], 0, 2)}}`, 2), /overlaps/);
    rejects(
      file(`{"a":${entry('U8', [1], 0, 1)},"b":${entry('U8', [1], 2, 3)}}`, 3),
      /data bytes 1\.\.2 belong to no tensor/,
    );
    rejects(file(`{"a":${entry('U8', [1], 1, 2)}}`, 2), /data bytes 0\.\.1 belong to no tensor/);
    rejects(file(`{"a":${entry('U8', [2], 0, 2)}}`, 5), /3 trailing bytes belong to no tensor/);
  });

  it('non-Uint8Array input and bad file sizes', () => {
    expect(() => parseSafetensorsHeader('x' as unknown as Uint8Array, 8)).toThrow(/expected a Uint8Array/);
    rejects(file(ok, 2), /file size must be a non-negative integer/, -1);
    rejects(file(ok, 2), /file size must be a non-negative integer/, 1.5);
    rejects(file(ok, 2), /bytes were given but the file size/, 10);
  });
});

describe('parseSafetensorsHeader under random corruption', () => {
  const sample = new Uint8Array(readFileSync(SAMPLE));
  const n = safetensorsHeaderLength(sample);
  const prefix = sample.slice(0, 8 + n);

  it('either parses or throws INVALID_ARGUMENT, never anything else', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(8 + n - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (edits) => {
          const bytes = prefix.slice();
          for (const [at, value] of edits) bytes[at] = value;
          try {
            const h = parseSafetensorsHeader(bytes, sample.length);
            // Whatever is accepted still tiles the data section exactly.
            let pos = h.dataOffset;
            for (const t of h.tensors) {
              expect(t.start).toBe(pos);
              pos = t.end;
            }
            expect(pos).toBe(sample.length);
          } catch (e) {
            if (!isModelsealError(e, 'INVALID_ARGUMENT')) throw e;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
