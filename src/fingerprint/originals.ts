/**
 * The SHA-256 of original weight files, remembered beside the registry (`originals.json`) so that
 * sealing one original for many recipients hashes it once. An entry is used only while the file's
 * device, inode, size, mtime and ctime (nanoseconds) are all unchanged: any write through the
 * file system moves ctime, which no program can set back — the assumption git's index makes.
 */
import { fstatSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fromHex, toHex } from '../format/encoding.js';
import { writeFileAtomic } from '../io/atomic.js';

export class OriginalDigests {
  private changed = false;
  private constructor(
    private readonly path: string,
    private readonly entries: Record<string, { stat: string; sha256: string }>,
  ) {}

  /** Loads the cache; a missing or unreadable one is empty (it is only a cache). */
  static async load(path: string): Promise<OriginalDigests> {
    try {
      const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        return new OriginalDigests(path, parsed as Record<string, { stat: string; sha256: string }>);
    } catch {
      // Missing or damaged: start afresh.
    }
    return new OriginalDigests(path, Object.create(null) as Record<string, { stat: string; sha256: string }>);
  }

  /** The identity of an open file's current content, as far as the file system can tell. */
  static statKey(fd: number): string {
    const s = fstatSync(fd, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  }

  lookup(source: string, statKey: string): Uint8Array | undefined {
    const e = this.entries[source];
    if (e?.stat !== statKey || !/^[0-9a-f]{64}$/.test(e.sha256)) return undefined;
    return fromHex(e.sha256, 'sha256', 32);
  }

  remember(source: string, statKey: string, sha256: Uint8Array): void {
    this.entries[source] = { stat: statKey, sha256: toHex(sha256) };
    this.changed = true;
  }

  /** Writes the cache back if it changed; a failure costs only a re-hash next time. */
  async save(): Promise<void> {
    if (!this.changed) return;
    await writeFileAtomic(this.path, JSON.stringify(this.entries, null, 1) + '\n', { overwrite: true }).catch(() => {});
  }
}
