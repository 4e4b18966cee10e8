/**
 * `modelseal demo`, steps 1 to 3: classify the sample checkpoint, screen and register recipients
 * against the sample list, issue licenses and seal for acme-labs through the release service.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  addLicense,
  checkpointRootDigest,
  classifyPath,
  importLists,
  isModelsealError,
  loadFingerprintKey,
  loadOrCreateCa,
  noPassphrase,
  openExportLog,
  openPartyScreening,
  parseX25519Recipient,
  RecipientRegistry,
  ReleaseRecipient,
  requireLicense,
  screenRegistration,
  seal,
  serviceInfo,
  writeKeyFile,
  X25519Recipient,
  type ClassificationRecord,
  type License,
  type LoggedExport,
  type NoteVerifier,
  type Publisher,
} from '../../src/index.js';
import { fmtBytes, say, type GlobalOptions } from '../util.js';

/** The fictional parties of the demo. */
export const ACME = { name: 'acme-labs', org: 'Acme Labs', country: 'DE', nationalities: ['DE'] };
/** A registrant writing a listed entity's name in Cyrillic (samples/lists: VOLKOV DYNAMICS JSC). */
export const VOLKOV = { name: 'new-registrant-7', org: 'Волков Динамикс', country: 'RU', nationalities: ['RU'] };
/** A recipient in Germany of an embargoed nationality (a deemed export). */
export const DARYA = { name: 'darya-labs', org: 'Darya Research', country: 'DE', nationalities: ['IR'] };

/** What every step needs: where things are, the keys, and how to tell the user. */
export interface DemoContext {
  g: GlobalOptions;
  /** The bundled sample checkpoint and screening list. */
  sample: string;
  list: string;
  /** The work folder (--dir or a temporary one), its key store and the service's data directory. */
  work: string;
  keys: string;
  data: string;
  publisher: Publisher;
  logKey: NoteVerifier;
  /** The fingerprint registry the seals record their marked copies in. */
  registry: string;
  /** The classification of step 1, which the seals bind. */
  classification?: ClassificationRecord;
}

/** The folder holding package.json, found upwards from this file (works from src via tsx and from dist). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the modelseal installation folder');
    dir = up;
  }
  return dir;
}

/** One plain-words line on stderr (not with --json or --quiet). */
export const tell = (c: DemoContext, text: string): void => say(c.g, text);

/** The training compute the demo declares for the sample (operations): a frontier model's, as a sample figure. */
const DEMO_TRAINING_FLOPS = 2e26;

/** Step 1: the sample checkpoint's exact parameters, format, and determinations under the shipped rule packs. */
export async function classifyStep(c: DemoContext) {
  // A sample declaration, as a publisher makes it for a frontier model: training compute and closed weights.
  const r = await classifyPath(c.sample, { destination: 'DE', trainingFlops: DEMO_TRAINING_FLOPS, weights: 'closed' });
  c.classification = r;
  const determinations = r.determinations.map((d) => ({
    regime: d.regime,
    rulePack: d.rulePack,
    classification: d.classification,
    status: d.status,
    licenseRequired: d.licenseRequired,
  }));
  tell(
    c,
    `1. Classify: the sample checkpoint has exactly ${r.facts.parameters.toLocaleString('en-US')} parameters ` +
      `in ${r.facts.tensors} ${r.facts.format} tensors (${Object.keys(r.facts.dtypes).join(', ')}); the publisher ` +
      `declares ${DEMO_TRAINING_FLOPS.toExponential()} training operations and closed weights (sample figures).`,
  );
  const license = (d: (typeof determinations)[number]) =>
    d.licenseRequired === null ? '' : d.licenseRequired ? '; a license is required to DE' : '; no license to DE';
  for (const d of determinations)
    tell(c, `   ${d.regime}: ${d.classification} (${d.status}) under rule pack ${d.rulePack}${license(d)}`);
  return {
    parameters: r.facts.parameters,
    tensors: r.facts.tensors,
    format: r.facts.format,
    dtypes: r.facts.dtypes,
    rulePacks: r.rulePacks,
    determinations,
  };
}

/** Registers `who` after screening it, as `recipient issue` does; returns its identity file. */
async function register(c: DemoContext, who: typeof ACME): Promise<string> {
  const attrs = { org: who.org, country: who.country, nationalities: who.nationalities, citizenships: [] };
  await screenRegistration(who.name, attrs, { screening: await openPartyScreening(c.data), publisher: '' });
  const ca = await loadOrCreateCa(c.keys, noPassphrase);
  const { identity } = await new RecipientRegistry(join(c.data, 'recipients')).issue(who.name, attrs, ca);
  const file = join(c.work, `${who.name}.identity`);
  await writeKeyFile(file, identity);
  return file;
}

/** The best match a refused registration names, from its error's details. */
function refusal(e: unknown) {
  if (!isModelsealError(e) || (e.code !== 'SCREENING_HIT' && e.code !== 'SCREENING_REVIEW')) throw e;
  const details = e.details as {
    screening: { decision: string; best: { entity: string; source: string; name: string; score: string } | null };
    results: { matches: { explanation: { matched: string; tokens: { query: string; entity: string }[] } }[] }[];
  };
  const best = details.screening.best;
  const top = details.results.flatMap((r) => r.matches)[0];
  return {
    decision: details.screening.decision,
    code: e.code,
    entity: best?.entity ?? null,
    name: best?.name ?? null,
    score: best?.score ?? null,
    matched: top?.explanation.matched ?? null,
    tokens: (top?.explanation.tokens ?? []).filter((t) => t.query && t.entity).map((t) => `${t.query}~${t.entity}`),
  };
}

/** Step 2: import the sample list; register acme-labs (clear) and darya-labs; refuse the Cyrillic registrant. */
export async function screenStep(c: DemoContext) {
  const imported = await importLists(c.data, [c.list], { source: 'sample' });
  tell(
    c,
    `2. Screen: imported the SAMPLE list (${imported.entries} fictional parties) as snapshot ` +
      `sample@${imported.digest.slice(0, 19)}…`,
  );
  const identities = { acme: await register(c, ACME), darya: await register(c, DARYA) };
  tell(c, `   registered ${ACME.name} (${ACME.org}, ${ACME.country}): screening clear`);
  tell(c, `   registered ${DARYA.name} (${DARYA.org}, ${DARYA.country}, nationality IR): screening clear`);
  const refused = await register(c, VOLKOV).then(
    () => {
      throw new Error(`the demo registered ${VOLKOV.name}, which the sample list should refuse`);
    },
    (e: unknown) => refusal(e),
  );
  tell(
    c,
    `   refused ${VOLKOV.name} ("${VOLKOV.org}"): ${refused.decision} on listed ${refused.name} ` +
      `(${refused.entity}, score ${refused.score}); matched across scripts: ${refused.tokens.join(', ')}`,
  );
  return {
    list: { source: imported.source, digest: imported.digest, entries: imported.entries },
    registered: [
      { name: ACME.name, country: ACME.country, nationalities: ACME.nationalities, screening: 'clear' },
      { name: DARYA.name, country: DARYA.country, nationalities: DARYA.nationalities, screening: 'clear' },
    ],
    refused: { registrant: VOLKOV.name, org: VOLKOV.org, ...refused },
    identities,
  };
}

/** The demo's license for `holder` on `model`, to Germany, for a year. */
function demoLicense(id: string, holder: string, model: string, nationalities?: string[]): License {
  const now = Date.now();
  return {
    id,
    holder,
    artifacts: [model],
    destinations: ['DE'],
    notBefore: new Date(now - 60_000).toISOString(),
    notAfter: new Date(now + 365 * 86_400_000).toISOString(),
    maxReleases: 5,
    ...(nationalities ? { nationalities } : {}),
    authorization: 'SAMPLE license D000001',
  };
}

/** Seals the sample for `holder` through the service at `url`, fingerprinted, its export logged there. */
async function sealFor(c: DemoContext, url: string, holder: string, license: string, model: string) {
  await requireLicense(url, { license, holder, model, destinations: ['DE'] }, c.publisher.signer);
  const info = await serviceInfo(url);
  const log = await openExportLog(url, { keysDir: c.keys });
  const logged: LoggedExport[] = [];
  try {
    const r = await seal({
      input: c.sample,
      output: join(c.work, `${holder}.mseal`),
      recipients: [new ReleaseRecipient(url, holder, new X25519Recipient(parseX25519Recipient(info.wrap)))],
      publisher: c.publisher,
      license,
      ...(c.classification ? { classification: c.classification } : {}),
      fingerprint: {
        recipient: holder,
        key: await loadFingerprintKey(c.keys, noPassphrase, { create: true }),
        registry: c.registry,
      },
      beforeCommit: async (result) => void logged.push(...(await log.record(result, c.publisher))),
    });
    return { r, logged };
  } finally {
    await log.close();
  }
}

/** Step 3: licenses (written as `license issue` writes them, picked up by the running service), and the seals. */
export async function licenseAndSealStep(
  c: DemoContext,
  url: string,
  inForce: (ids: readonly string[]) => Promise<string[]>,
) {
  const model = `sha256:${Buffer.from(await checkpointRootDigest(c.sample)).toString('hex')}`;
  const acme = await addLicense(join(c.data, 'policy'), demoLicense('DEMO-EAR-001', ACME.name, model, ['DE']));
  const darya = await addLicense(join(c.data, 'policy'), demoLicense('DEMO-EAR-002', DARYA.name, model));
  const loaded = await inForce([acme.id, darya.id]);
  tell(
    c,
    `3. License and seal: issued ${acme.id} to ${acme.holder} (model ${model.slice(0, 19)}…, to DE, ` +
      `${acme.maxReleases} releases, "${acme.authorization}") and ${darya.id} to ${darya.holder}; the running ` +
      `service picked them up`,
  );
  const sealed = [];
  for (const [holder, license] of [
    [ACME.name, acme.id],
    [DARYA.name, darya.id],
  ] as const) {
    const { r, logged } = await sealFor(c, url, holder, license, model);
    tell(
      c,
      `   sealed for ${holder}: ${r.output} (${fmtBytes(r.packageBytes)}), weights fingerprinted ` +
        `(${r.fingerprint!.record.id}), key only from the release service, export logged as entry ` +
        logged.map((l) => l.index).join(', '),
    );
    sealed.push({
      recipient: holder,
      license,
      package: r.output,
      packageId: r.packageId,
      marked: r.model.rootDigest,
      fingerprint: r.fingerprint!.record.id,
      logged: logged.map((l) => l.index),
    });
  }
  return { model, licenses: [acme, darya], inForce: loaded, sealed };
}
