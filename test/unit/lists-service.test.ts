/**
 * The release service's setup migrates the old denied-party list (issue 19 §1): opening the
 * service over a data directory with a non-empty policy/denied-parties.json makes it the list
 * source denied-parties and renames the file, before the policy or the lists are read.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readActive } from '../../src/compliance/lists/index.js';
import { initKeystore } from '../../src/keystore/keystore.js';
import { openReleaseService } from '../../src/server/setup.js';
import { tempDir } from '../support/fixtures.js';

describe('openReleaseService', () => {
  it('migrates policy/denied-parties.json into the list source denied-parties', async () => {
    const dir = tempDir('modelseal-lists-service-');
    const keys = join(dir, 'keys');
    const data = join(dir, 'data');
    await initKeystore(keys, { logOrigin: 'lists-service.test/log' });
    mkdirSync(join(data, 'policy'), { recursive: true });
    const file = join(data, 'policy', 'denied-parties.json');
    writeFileSync(file, JSON.stringify({ parties: ['Shady Trading LLC'] }));
    const setup = await openReleaseService(data, keys, { commitIntervalMs: 0 });
    try {
      expect(existsSync(`${file}.migrated`)).toBe(true);
      expect((await readActive(data)).sources['denied-parties']).toMatchObject({ entries: 1 });
    } finally {
      await setup.close();
    }
  });
});
