/** Key groups: k-of-n custody of the data key (Shamir shares sealed under group keys). */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  encodeHeader,
  encodeHeaderMacInput,
  inspect,
  open,
  parseHeader,
  readHead,
  reseal,
  rewrap,
  seal,
  unlockPackage,
  type Header,
  type Identity,
} from '../../src/index.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const carol = makeKeys().alice;
const dir = tempDir();
let n = 0;

async function sealGroups(groups: (typeof keys.alice | typeof keys.local)[][], threshold: number) {
  const id = n++;
  const src = join(dir, `g${id}.bin`);
  writeFileSync(src, detBytes(120_000, `g${id}`));
  const pkg = join(dir, `g${id}.mseal`);
  const recipients = groups.map((g) => g.map((i) => ('recipient' in i ? i.recipient : i)));
  await seal({
    input: src,
    output: pkg,
    recipients: [],
    keyGroups: { threshold, groups: recipients },
    publisher: keys.publisher,
    license: 'L-G',
  });
  return { src, pkg };
}

const openWith = (pkg: string, identities: Identity[]) =>
  open({ input: pkg, output: join(dir, `o${n++}`), identities, trustedPublishers: keys.trusted });

describe('key groups', () => {
  it('2 of 2: a recipient of each group opens it, one group alone does not', async () => {
    const { src, pkg } = await sealGroups([[keys.local], [keys.alice, keys.bob]], 2);
    const info = await inspect(pkg);
    expect(info.keyGroups).toEqual({ threshold: 2, groups: 2 });
    expect(info.recipients.map((r) => [r.recipient, r.group])).toEqual([
      [keys.local.id, 0],
      [keys.alice.recipient.id, 1],
      [keys.bob.recipient.id, 1],
    ]);
    for (const ids of [
      [keys.local, keys.alice],
      [keys.bob, keys.local],
    ]) {
      expect(readFileSync((await openWith(pkg, ids)).output).equals(readFileSync(src))).toBe(true);
    }
    await expect(openWith(pkg, [keys.local])).rejects.toMatchObject({
      code: 'NO_MATCHING_IDENTITY',
      message: expect.stringContaining('needs 2 of 2 key groups'),
    });
    await expect(openWith(pkg, [keys.alice, keys.bob])).rejects.toMatchObject({
      code: 'NO_MATCHING_IDENTITY',
      details: { opened: [1] },
    });
  });

  it('2 of 3: any two groups open it', async () => {
    const { src, pkg } = await sealGroups([[keys.alice], [keys.local], [keys.bob]], 2);
    for (const ids of [
      [keys.alice, keys.bob],
      [keys.local, keys.bob],
      [keys.alice, keys.local],
    ]) {
      expect(readFileSync((await openWith(pkg, ids)).output).equals(readFileSync(src))).toBe(true);
    }
    await expect(openWith(pkg, [keys.bob])).rejects.toMatchObject({ code: 'NO_MATCHING_IDENTITY' });
  });

  it('a tampered share, or a stanza moved to another group, does not open', async () => {
    const { pkg } = await sealGroups([[keys.local], [keys.alice]], 2);
    const parsed = (await readHead(pkg)).parsed;
    const share = parsed.header.keyGroups!.shares[1]!;
    const flipped = {
      ...parsed,
      header: {
        ...parsed.header,
        keyGroups: {
          ...parsed.header.keyGroups!,
          shares: [parsed.header.keyGroups!.shares[0]!, Uint8Array.from(share, (b, i) => (i === 3 ? b ^ 1 : b))],
        },
      },
    };
    await expect(unlockPackage(flipped, [keys.local, keys.alice])).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
    const moved = {
      ...parsed,
      header: {
        ...parsed.header,
        stanzas: parsed.header.stanzas.map((s) => (s.recipient === keys.alice.recipient.id ? { ...s, group: 0 } : s)),
      },
    };
    await expect(unlockPackage(moved, [keys.alice])).rejects.toMatchObject({ code: 'DECRYPTION_FAILED' });
  });

  it('the header codec keeps the groups canonical and refuses inconsistent ones', async () => {
    const { pkg } = await sealGroups([[keys.local], [keys.alice]], 2);
    const { header } = (await readHead(pkg)).parsed;
    const mac = new Uint8Array(32);
    expect(parseHeader(encodeHeader(header, mac)).header).toEqual(header);
    const bad = (h: Header) => () => parseHeader(encodeHeader(h, mac));
    expect(bad({ ...header, keyGroups: { ...header.keyGroups!, threshold: 1 } })).toThrow(/threshold/);
    expect(bad({ ...header, keyGroups: { ...header.keyGroups!, threshold: 3 } })).toThrow(/threshold/);
    expect(bad({ ...header, stanzas: header.stanzas.map((s) => ({ ...s, group: 0 })) })).toThrow(
      /group 1 has no stanza/,
    );
    expect(bad({ ...header, stanzas: header.stanzas.map((s) => ({ ...s, group: 5 })) })).toThrow(/group/);
    const { keyGroups: _drop, ...ungrouped } = header;
    expect(bad(ungrouped)).toThrow(/stanzas\[0\] must have exactly the fields/);
    expect(() => encodeHeaderMacInput(ungrouped)).toThrow(/has a group but the package has no key groups/);
  });

  it('rewrap adds to a named group, rotates within a group, and never empties one', async () => {
    const { src, pkg } = await sealGroups([[keys.local], [keys.alice]], 2);
    const base = { identities: [keys.local, keys.alice], trustedPublishers: keys.trusted, publisher: keys.publisher };
    await expect(rewrap(pkg, { ...base, add: [keys.bob.recipient] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('--group'),
    });
    await expect(rewrap(pkg, { ...base, remove: [keys.alice.recipient.id] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('group 1 empty'),
    });
    await rewrap(pkg, { ...base, add: [keys.bob.recipient], group: 1 });
    expect(readFileSync((await openWith(pkg, [keys.local, keys.bob])).output).equals(readFileSync(src))).toBe(true);
    await rewrap(pkg, { ...base, rotate: [{ from: keys.alice.recipient.id, to: carol.recipient }] });
    expect((await inspect(pkg)).recipients.map((r) => [r.recipient, r.group])).toEqual([
      [keys.local.id, 0],
      [carol.recipient.id, 1],
      [keys.bob.recipient.id, 1],
    ]);
    expect(readFileSync((await openWith(pkg, [carol, keys.local])).output).equals(readFileSync(src))).toBe(true);
    await expect(openWith(pkg, [keys.alice, keys.local])).rejects.toMatchObject({ code: 'NO_MATCHING_IDENTITY' });
  });

  it('reseal keeps the groups and the threshold under a fresh data key', async () => {
    const { src, pkg } = await sealGroups([[keys.local], [keys.alice, keys.bob]], 2);
    const out = join(dir, 'resealed-groups.mseal');
    await reseal(pkg, {
      output: out,
      identities: [keys.local, keys.alice],
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      remove: [keys.bob.recipient.id],
      add: [carol.recipient],
      group: 0,
    });
    const info = await inspect(out);
    expect(info.keyGroups).toEqual({ threshold: 2, groups: 2 });
    expect(info.recipients.map((r) => [r.recipient, r.group])).toEqual([
      [keys.local.id, 0],
      [carol.recipient.id, 0],
      [keys.alice.recipient.id, 1],
    ]);
    expect(readFileSync((await openWith(out, [carol, keys.alice])).output).equals(readFileSync(src))).toBe(true);
  });
});
