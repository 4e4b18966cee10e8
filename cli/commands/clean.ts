import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { findStalePartials, fsReason, ModelsealError, removeStalePartials } from '../../src/index.js';
import { emitJson, say, type GlobalOptions } from '../util.js';

/** `clean [dir]`: removes the partial outputs killed runs left behind. */
export function registerClean(program: Command): void {
  program
    .command('clean')
    .description(
      'remove the partial outputs (.<name>.mseal-partial-*) that a killed seal, open or rewrap left in a folder',
    )
    .argument('[dir]', 'the folder to clean', '.')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .addHelpText(
      'after',
      '\nOnly our own naming is touched, and only a partial whose process (its id is in the name) no longer ' +
        'runs on this host. seal and open also do this for their output path at every run.',
    )
    .action(async (dir: string, o: { dryRun?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const folder = resolve(dir);
      const st = await stat(folder).catch((cause: unknown) => {
        throw new ModelsealError('INVALID_ARGUMENT', `clean ${dir}: ${fsReason(cause)}; give a folder`, { cause });
      });
      if (!st.isDirectory())
        throw new ModelsealError(
          'INVALID_ARGUMENT',
          `clean ${dir}: not a folder; give the folder that holds the outputs`,
        );
      const found = o.dryRun ? await findStalePartials(folder) : await removeStalePartials(folder);
      emitJson(g, 'clean', {
        dir: folder,
        dryRun: o.dryRun ?? false,
        removed: o.dryRun ? [] : found.map((s) => s.path),
        stale: found.map((s) => ({ path: s.path, target: s.target, pid: s.pid })),
      });
      if (!found.length) say(g, `nothing to clean in ${folder}`);
      for (const s of found)
        say(
          g,
          `${o.dryRun ? 'would remove' : 'removed'} ${s.path} (partial ${s.target}, process ${s.pid} no longer runs)`,
        );
    });
}
