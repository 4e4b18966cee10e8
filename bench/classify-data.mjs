// A sharded Hugging Face checkpoint for the classify test and bench: `shards` tiny safetensors
// shards (F16 tensors of zeros) and the model.safetensors.index.json naming them, as transformers
// lays out a large checkpoint. Written with the library's own header encoder, so 1,000 shards take
// well under a second to write.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TENSORS_PER_SHARD = 3;
export const SHAPE = [8, 16];

/** Writes the index and its shards into `dir` (encodeSafetensorsHeader from the library); returns the counts. */
export function writeShardedIndex(dir, shards, encodeSafetensorsHeader) {
  const pad = (i) => String(i).padStart(5, '0');
  const bytes = SHAPE[0] * SHAPE[1] * 2;
  const weightMap = {};
  for (let s = 0; s < shards; s++) {
    const file = `model-${pad(s + 1)}-of-${pad(shards)}.safetensors`;
    const tensors = Array.from({ length: TENSORS_PER_SHARD }, (_, i) => ({
      name: `model.layers.${s}.mlp.w${i}.weight`,
      dtype: 'F16',
      shape: SHAPE,
      begin: i * bytes,
      end: (i + 1) * bytes,
    }));
    for (const t of tensors) weightMap[t.name] = file;
    const header = encodeSafetensorsHeader({ format: 'pt' }, tensors);
    writeFileSync(join(dir, file), Buffer.concat([header, Buffer.alloc(TENSORS_PER_SHARD * bytes)]));
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return { tensors: shards * TENSORS_PER_SHARD, parameters: shards * TENSORS_PER_SHARD * SHAPE[0] * SHAPE[1] };
}
