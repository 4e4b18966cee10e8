import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import {
  dataPaths,
  screenedParty,
  importLists,
  LIST_FORMATS,
  listsStatus,
  migrateDeniedParties,
  ModelsealError,
  newlyFlagged,
  RecipientRegistry,
  type ImportResult,
  type ListFormat,
  type RecipientRecord,
  type ScreenedParty,
  type SourceStatus,
} from '../../src/index.js';
import { emitJson, say, warn, type GlobalOptions } from '../util.js';
import { dataDir, DATA_HELP } from './policy.js';

interface ImportFlags {
  data?: string;
  source?: string;
  format: ListFormat | 'auto';
  maxAge?: string;
}

/** A registered recipient as the release service screens it, with its name to report. */
function partyOf(r: RecipientRecord): ScreenedParty & { recipient: string } {
  return { recipient: r.name, ...screenedParty(r) };
}

function days(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--max-age ${JSON.stringify(text)}: expected a whole number of days, at least 1`,
    );
  return Number(text);
}

/** Says what `lists import` migrated, imported and newly flagged. */
function reportImport(g: GlobalOptions, r: ImportResult, migrated: ImportResult | null, flagged: Flagged[]): void {
  if (migrated)
    say(g, `migrated policy/denied-parties.json: ${migrated.entries} parties, now the list source denied-parties`);
  say(
    g,
    r.unchanged
      ? `${r.source}: unchanged, ${r.digest} is already active (${r.entries} entries); marked as current`
      : `${r.source}: ${r.entries} entries, ${r.names} names` +
          (r.skipped ? ` (${r.skipped} non-party records skipped)` : '') +
          ` → snapshot ${r.digest}, now active`,
  );
  for (const f of flagged)
    warn(
      `recipient ${f.recipient} is now screened ${f.decision.toUpperCase()}` +
        (f.best ? `: ${f.best.name} (${f.best.source} ${f.best.entity}, score ${f.best.score})` : ''),
    );
}

type Flagged = {
  recipient: string;
  decision: 'review' | 'hit';
  best: { entity: string; source: string; name: string; score: string } | null;
};

/**
 * The registered, unrevoked recipients the import newly flags. The import is done whatever happens
 * here: a recipient file that cannot be read is reported (`rescreenError`), not the import's failure.
 */
async function rescreen(data: string, r: ImportResult): Promise<{ flagged: Flagged[]; rescreenError?: string }> {
  try {
    const recipients = (await new RecipientRegistry(dataPaths(data).recipients).list()).filter((x) => !x.revoked);
    const found = await newlyFlagged(data, r.previous, r.active, recipients.map(partyOf));
    return { flagged: found.map((f) => ({ recipient: f.party.recipient, decision: f.decision, best: f.best })) };
  } catch (e) {
    const rescreenError = e instanceof Error ? e.message : String(e);
    warn(`imported, but the registered recipients could not be re-screened: ${rescreenError}`);
    return { flagged: [], rescreenError };
  }
}

async function runImport(files: string[], o: ImportFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const data = dataDir(o);
  const migrated = await migrateDeniedParties(data);
  const r = await importLists(
    data,
    files.map((f) => resolve(f)),
    {
      format: o.format,
      ...(o.source !== undefined && { source: o.source }),
      ...(o.maxAge !== undefined && { maxAgeDays: days(o.maxAge) }),
    },
  );
  const { flagged, rescreenError } = await rescreen(data, r);
  emitJson(g, 'lists import', {
    source: r.source,
    digest: r.digest,
    entries: r.entries,
    names: r.names,
    skipped: r.skipped,
    unchanged: r.unchanged,
    files: r.files,
    maxAgeDays: r.active.sources[r.source]!.maxAgeDays,
    flagged,
    ...(rescreenError !== undefined && { rescreenError }),
    migrated: migrated ? { source: migrated.source, digest: migrated.digest, entries: migrated.entries } : null,
  });
  reportImport(g, r, migrated, flagged);
}

function ageText(s: SourceStatus): string {
  const d = s.ageSeconds / 86_400;
  return d >= 1 ? `${d.toFixed(1)} days` : `${(s.ageSeconds / 3600).toFixed(1)} hours`;
}

/** `lists import | status`: the screening lists and their snapshots (docs/SCREENING.md). */
export function registerLists(program: Command): void {
  const lists = program
    .command('lists')
    .description('screening lists: import the CSL, OpenSanctions or your own list as snapshots; their status');
  lists
    .command('import')
    .description(
      'read list files into one content-addressed snapshot of a source and make it active (the release ' +
        'service picks it up without a restart); re-screens every registered recipient',
    )
    .argument('<file...>', 'consolidated.json|.csv|.tsv, an OpenSanctions/FollowTheMoney .jsonl, or an own CSV')
    .option('--data <dir>', DATA_HELP)
    .option('--source <name>', 'the source these files make up (default: csl, opensanctions, or the CSV file stem)')
    .addOption(new Option('--format <format>', "the files' format").choices(['auto', ...LIST_FORMATS]).default('auto'))
    .option('--max-age <days>', 'days after which the source is stale (default: as before, or 7)')
    .addHelpText(
      'after',
      '\nExit 0 when imported; 15 (LIST_INVALID) naming the file and record otherwise (nothing changes).',
    )
    .action(runImport);
  lists
    .command('status')
    .description('per source: the active snapshot digest, entries, names, import time, age, and whether it is stale')
    .option('--data <dir>', DATA_HELP)
    .addHelpText('after', '\nExit 0, stale sources included (they are reported as stale).')
    .action(async (o: { data?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const data = dataDir(o);
      const migrated = await migrateDeniedParties(data);
      const sources = await listsStatus(data);
      emitJson(g, 'lists status', {
        sources,
        stale: sources.filter((s) => s.stale).map((s) => s.source),
        migrated: migrated !== null,
      });
      if (migrated) say(g, `migrated policy/denied-parties.json into the list source denied-parties`);
      if (!sources.length) say(g, `no lists imported in ${data}: screening clears everyone (modelseal lists import)`);
      for (const s of sources) {
        say(g, `${s.source}: ${s.digest}`);
        say(g, `  ${s.entries} entries, ${s.names} names; imported ${s.imported}, current as of ${s.refreshed}`);
        say(g, `  age ${ageText(s)}, max ${s.maxAgeDays} days${s.stale ? ' — STALE: import a fresh copy' : ''}`);
      }
      for (const s of sources.filter((x) => x.stale))
        warn(`list ${s.source} is stale (${ageText(s)} old, max ${s.maxAgeDays} days)`);
    });
}
