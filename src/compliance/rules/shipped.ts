/**
 * The rule packs and country-group files shipped with modelseal: every JSON file in rules/ at the
 * package root (published with it), read once. A new pack is a new file there, not new code.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelsealError } from '../../errors.js';

/**
 * Where this module runs from, the package root is two levels up (the CLI bundle, dist/cli/),
 * three (the sources, src/compliance/rules/) or four (the compiled library, dist/src/compliance/rules/).
 */
const ROOTS = ['../../', '../../../', '../../../../'];

/** The package's rules/ folder: the one beside modelseal's own package.json. */
export function shippedRulesDir(): string {
  for (const rel of ROOTS) {
    const root = fileURLToPath(new URL(rel, import.meta.url));
    try {
      const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'modelseal') return join(root, 'rules');
    } catch {
      // not the package root: try the next level
    }
  }
  throw new ModelsealError(
    'INTERNAL',
    'the shipped rules/ folder was not found beside modelseal/package.json: reinstall',
  );
}

/** Every shipped JSON file, by name, parsed. Throws RULES_INVALID for a file that is not JSON. */
export function readShippedFiles(): { file: string; raw: unknown }[] {
  const dir = shippedRulesDir();
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .sort();
  } catch (e) {
    throw new ModelsealError('INTERNAL', `cannot read the shipped rule packs in ${dir}: reinstall modelseal`, {
      cause: e,
    });
  }
  return names.map((file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    try {
      return { file: `rules/${file}`, raw: JSON.parse(text) as unknown };
    } catch (e) {
      throw new ModelsealError('RULES_INVALID', `rules/${file}: not JSON (${(e as Error).message}); fix the file`, {
        cause: e,
        details: { file: `rules/${file}`, field: null },
      });
    }
  });
}
