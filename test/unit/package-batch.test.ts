/** Rewrap over many packages as library calls: findPackages, rewrapAll, recoverAll. */
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPackages, inspect, recoverAll, rewrapAll, seal } from '../../src/index.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir('modelseal-batch-');

async function sealedAt(pkg: string): Promise<string> {
  const src = `${pkg}.src`;
  writeFileSync(src, detBytes(70_000, pkg));
  await seal({ input: src, output: pkg, recipients: [keys.local], publisher: keys.publisher, chunkSize: 1 << 16 });
  return pkg;
}

const change = () => ({
  identities: [keys.local],
  trustedPublishers: keys.trusted,
  publisher: keys.publisher,
  add: [keys.bob.recipient],
});

describe('findPackages', () => {
  it('takes files as given and searches folders recursively for *.mseal, skipping hidden files; sorted', async () => {
    const root = join(dir, 'find');
    mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
    for (const f of ['b.mseal', 'sub/a.mseal', 'sub/deeper/c.mseal', 'sub/.hidden.mseal', 'sub/notes.txt'])
      writeFileSync(join(root, f), 'x');
    const given = join(dir, 'given.bin');
    writeFileSync(given, 'x');
    expect(await findPackages([root, given])).toEqual(
      [join(root, 'b.mseal'), join(root, 'sub/a.mseal'), join(root, 'sub/deeper/c.mseal'), given].sort(),
    );
    expect(await findPackages([join(root, 'sub', 'deeper')])).toEqual([join(root, 'sub/deeper/c.mseal')]);
  });

  it('a path that does not exist is an IO error naming it', async () => {
    const missing = join(dir, 'missing');
    await expect(findPackages([missing])).rejects.toMatchObject({
      code: 'IO',
      message: expect.stringContaining(missing),
    });
  });
});

describe('rewrapAll', () => {
  it('rewraps every package with the same change and reports each as it goes', async () => {
    const pkgs = [await sealedAt(join(dir, 'r1.mseal')), await sealedAt(join(dir, 'r2.mseal'))];
    const seen: string[] = [];
    const results = await rewrapAll(pkgs, change(), { onRewrapped: (i, p) => seen.push(`${i}:${p}`) });
    expect(seen).toEqual([`0:${pkgs[0]}`, `1:${pkgs[1]}`]);
    expect(results.map((r) => r.added)).toEqual([[keys.bob.recipient.id], [keys.bob.recipient.id]]);
    for (const p of pkgs) expect((await inspect(p)).recipients).toHaveLength(2);
  });

  it('stops between packages once the signal is aborted: the ones done stay done, the rest untouched', async () => {
    const pkgs = [await sealedAt(join(dir, 's1.mseal')), await sealedAt(join(dir, 's2.mseal'))];
    const ac = new AbortController();
    const run = rewrapAll(pkgs, change(), { signal: ac.signal, onRewrapped: () => ac.abort() });
    await expect(run).rejects.toMatchObject({
      code: 'INTERRUPTED',
      message: expect.stringContaining('after 1 of 2 packages'),
    });
    expect((await inspect(pkgs[0]!)).recipients).toHaveLength(2);
    expect((await inspect(pkgs[1]!)).recipients).toHaveLength(1);
  });
});

describe('recoverAll', () => {
  it('says which packages it restored: none when no rewrap was interrupted', async () => {
    const pkg = await sealedAt(join(dir, 'rec.mseal'));
    expect(await recoverAll([pkg])).toEqual([]);
  });
});
