// A BF16 safetensors checkpoint for the benchmarks: 64 MiB tensors [4096, 8192] of normal weights
// (sign random, exponent 2^-7..2^0, mantissa random), written tensor by tensor so that memory stays
// at one tensor whatever the size.
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

export const ROWS = 4096;
export const COLS = 8192;

/** Writes about `sizeMiB` MiB to `path` (encodeSafetensorsHeader from dist/src/index.js); returns { bytes, count }. */
export function writeBf16Checkpoint(path, sizeMiB, encodeSafetensorsHeader) {
  const tensorBytes = ROWS * COLS * 2;
  const count = Math.max(1, Math.round((sizeMiB * 2 ** 20) / tensorBytes));
  const header = encodeSafetensorsHeader(
    { format: 'pt' },
    Array.from({ length: count }, (_, i) => ({
      name: `model.layers.${i}.mlp.weight`,
      dtype: 'BF16',
      shape: [ROWS, COLS],
      begin: i * tensorBytes,
      end: (i + 1) * tensorBytes,
    })),
  );
  const fd = openSync(path, 'w');
  writeSync(fd, header);
  const buf = new Uint16Array(tensorBytes / 2);
  for (let t = 0; t < count; t++) {
    randomFillSync(buf);
    for (let i = 0; i < buf.length; i++) {
      const u = buf[i];
      buf[i] = (u & 0x807f) | ((0x78 + ((u >> 7) & 7)) << 7);
    }
    writeSync(fd, new Uint8Array(buf.buffer));
  }
  closeSync(fd);
  return { bytes: header.length + count * tensorBytes, count };
}
