/** Reading an evidence pack's ustar entries in tests, without the library's checks. */

/** Each entry of a ustar archive in order: its name, where its header and data start, and its size. */
export function packEntries(pack: Buffer): { name: string; header: number; at: number; size: number }[] {
  const out: { name: string; header: number; at: number; size: number }[] = [];
  for (let header = 0; pack.subarray(header, header + 512).some((b) => b !== 0);) {
    const name = pack
      .subarray(header, header + 100)
      .toString('latin1')
      .replace(/\0.*$/s, '');
    const size = parseInt(pack.subarray(header + 124, header + 135).toString('latin1'), 8);
    out.push({ name, header, at: header + 512, size });
    header += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** The files of a pack by name (the manifest included). */
export function packFiles(pack: Buffer): Map<string, Buffer> {
  return new Map(packEntries(pack).map((e) => [e.name, pack.subarray(e.at, e.at + e.size)]));
}
