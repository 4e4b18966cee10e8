/**
 * The denied-party list of older releases (`<data>/policy/denied-parties.json`, `{"parties":
 * [...]}`, matched case-insensitively against the recipient's name or organisation) becomes the
 * own-list source `denied-parties`, screened like any other list; the file is then renamed
 * `denied-parties.json.migrated`. docs/SCREENING.md, "Migrating denied-parties.json".
 */
import { createHash } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelsealError } from '../../errors.js';
import { ioError } from '../../io/atomic.js';
import type { ListEntity } from '../types.js';
import { makeEntity } from './entity.js';
import { importEntities, type ImportResult } from './import.js';

export const DENIED_PARTIES_SOURCE = 'denied-parties';

/** The entity of one denied party: a slug ("evil-corp") also as words ("evil corp"), as releases screen slugs. */
function deniedParty(file: string, name: string, index: number): ListEntity {
  const words = name.replace(/[-_.]+/g, ' ').trim();
  const raw = {
    id: `dp-${index + 1}`,
    schema: 'LegalEntity' as const,
    names: [name],
    aliases: [words],
    list: DENIED_PARTIES_SOURCE,
  };
  return makeEntity(raw, { file, index });
}

/**
 * Migrates `<data>/policy/denied-parties.json` into the source `denied-parties`, then renames it
 * `.migrated`. Idempotent: a no-op (null) when the file is absent or lists no party.
 */
export async function migrateDeniedParties(data: string): Promise<ImportResult | null> {
  const path = join(data, 'policy', 'denied-parties.json');
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError(`cannot read ${path}`, e);
  }
  let parties: unknown;
  try {
    parties = (JSON.parse(bytes.toString('utf8')) as { parties?: unknown }).parties;
  } catch (cause) {
    throw new ModelsealError('LIST_INVALID', `${path} is not JSON; fix it or remove it, then retry`, { cause });
  }
  if (!Array.isArray(parties) || parties.some((p) => typeof p !== 'string'))
    throw new ModelsealError('LIST_INVALID', `${path}: expected {"parties": ["name", ...]}; fix it, then retry`);
  const names = [...new Set((parties as string[]).map((p) => p.normalize('NFC').trim()).filter(Boolean))];
  if (!names.length) return null;
  const file = {
    name: path,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes: bytes.length,
    format: 'denied-parties.json',
  };
  const result = await importEntities(
    data,
    DENIED_PARTIES_SOURCE,
    names.map((n, i) => deniedParty(path, n, i)),
    [file],
  );
  try {
    await rename(path, `${path}.migrated`);
  } catch (e) {
    throw ioError(`migrated ${path} into the list source ${DENIED_PARTIES_SOURCE}, but cannot rename it`, e);
  }
  return result;
}
