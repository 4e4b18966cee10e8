/**
 * `mlflow register`: a sealed package (a file, or an OCI reference) as a version of an MLflow
 * registered model, tagged with what it is and where its releases are logged, under an alias.
 * docs/REGISTRY.md, "MLflow".
 */
import { basename } from 'node:path';
import { ModelsealError } from '../../errors.js';
import { openLogSource } from '../../log/open.js';
import { queryEvents } from '../../log/query.js';
import { ociPackageInfo, type OciOptions } from '../oci/index.js';
import { sealedPackageFacts } from '../package-facts.js';
import { isAlreadyExists, isNotFound, MlflowClient, type MlflowClientOptions } from './client.js';

/** The alias a registration sets unless told otherwise. */
export const DEFAULT_MLFLOW_ALIAS = 'sealed';

/** The tag names a registration sets (docs/REGISTRY.md). */
export const MLFLOW_TAGS = {
  packageDigest: 'modelseal.package_digest',
  modelDigest: 'modelseal.model_digest',
  classification: 'modelseal.classification',
  releaseUrl: 'modelseal.release_url',
  logIndex: 'modelseal.log_index',
} as const;

/** What to register, where, and how to find its export entry. */
export interface MlflowRegisterOptions extends MlflowClientOptions {
  /** The registered model's name. */
  name: string;
  /** A package file, or an OCI reference `oci://…` (resolved to its digest). */
  target: string;
  /** The alias to set on the new version (default "sealed"). */
  alias?: string;
  /** The version's source URI; for a package file, given instead of uploading it as a run artifact. */
  source?: string;
  /** The export's log entry indexes, when known from `seal --log`'s output. */
  logIndexes?: readonly number[];
  /** A log to find the export entries of the package in (a store or a release service URL), when not given. */
  log?: string;
  /** The experiment of the run a package file is uploaded to (default "0", MLflow's Default). */
  experimentId?: string;
  /** Options of the OCI client, for an `oci://` target. */
  oci?: OciOptions;
}

/** What a registration made: the version, its source, alias and tags. */
export interface MlflowRegistration {
  name: string;
  version: string;
  source: string;
  /** The run the package was uploaded to, when it was. */
  runId: string | null;
  alias: string;
  /** Whether the registered model was created by this registration. */
  createdModel: boolean;
  tags: Record<string, string>;
}

/** What the registration records of the package, from the file or the registry. */
interface Described {
  packageDigest: string;
  modelDigest: string;
  /** The US-EAR classification ("" when none). */
  classification: string;
  /** Whether the package binds a classification record (unknown, taken as no, for a registry's package without one). */
  classified: boolean;
  releaseUrl: string | null;
  /** The OCI reference resolved to its digest, or null for a file. */
  reference: string | null;
  /** The package id, to find its export in a log (files only). */
  packageId: string | null;
  file: { path: string; bytes: number } | null;
}

/** A registered-model name or alias as MLflow takes them: non-empty, no slash in an alias. */
function checkNames(o: MlflowRegisterOptions): string {
  if (!o.name.trim()) throw new ModelsealError('INVALID_ARGUMENT', '--name: expected the registered model name');
  const alias = o.alias ?? DEFAULT_MLFLOW_ALIAS;
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(alias) || /^v\d+$/i.test(alias) || alias.toLowerCase() === 'latest')
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--alias ${JSON.stringify(alias)}: expected letters, digits, _ and - (not "latest" nor v<number>, which MLflow ` +
        'reserves)',
    );
  return alias;
}

/** The package a target names, described for the registry. */
async function describe(o: MlflowRegisterOptions): Promise<Described> {
  if (o.target.startsWith('oci://')) {
    const info = await ociPackageInfo(o.target, o.oci);
    return { ...info, classified: info.classification !== '', packageId: null, file: null };
  }
  const f = await sealedPackageFacts(o.target);
  return { ...f, reference: null, file: { path: o.target, bytes: f.packageBytes } };
}

/** The indexes of the export entries the log `where` holds for package `packageId`. */
export async function exportLogIndexes(where: string, packageId: string): Promise<number[]> {
  const src = await openLogSource(where);
  try {
    const { entries } = await queryEvents(src.store, { type: 'export' });
    return entries.filter((e) => e.event.type === 'export' && e.event.package === packageId).map((e) => e.index);
  } finally {
    await src.store.close();
  }
}

/** The log entry indexes to tag: given, else found in `log`; empty when neither is known. */
async function logIndexes(o: MlflowRegisterOptions, d: Described): Promise<number[]> {
  if (o.logIndexes?.length) return [...o.logIndexes];
  if (!o.log) return [];
  if (!d.packageId)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      '--log finds the export of a package file; for an OCI reference give --log-index (as `seal --log` printed it)',
    );
  const found = await exportLogIndexes(o.log, d.packageId);
  if (found.length === 0)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `the log ${o.log} records no export of package ${d.packageId}: name the log it was sealed with (seal --log), ` +
        'or give --log-index',
    );
  return found;
}

/** The tags of the version: unknown facts (no release service, no log entry) are left out, not set empty. */
function tagsOf(d: Described, indexes: readonly number[]): Record<string, string> {
  return {
    [MLFLOW_TAGS.packageDigest]: d.packageDigest,
    [MLFLOW_TAGS.modelDigest]: d.modelDigest,
    [MLFLOW_TAGS.classification]: d.classification || (d.classified ? 'none' : 'unclassified'),
    ...(d.releaseUrl ? { [MLFLOW_TAGS.releaseUrl]: d.releaseUrl } : {}),
    ...(indexes.length ? { [MLFLOW_TAGS.logIndex]: indexes.join(',') } : {}),
  };
}

/** Creates the registered model unless it exists; returns whether it was created. */
async function ensureModel(c: MlflowClient, name: string): Promise<boolean> {
  try {
    await c.call('GET', 'registered-models/get', { name });
    return false;
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  try {
    await c.call('POST', 'registered-models/create', {
      name,
      tags: [{ key: 'modelseal.sealed', value: 'true' }],
    });
    return true;
  } catch (e) {
    if (isAlreadyExists(e)) return false; // another registration made it meanwhile
    throw e;
  }
}

/** Uploads a package file as an artifact of a new run; returns the run id and the version source (runs:/…). */
async function uploadAsRun(
  c: MlflowClient,
  file: { path: string; bytes: number },
  experimentId: string,
): Promise<{ runId: string; source: string }> {
  const name = basename(file.path);
  const run = await c.call<{ run: { info: { run_id: string; artifact_uri: string } } }>('POST', 'runs/create', {
    experiment_id: experimentId,
    run_name: `modelseal ${name}`,
    start_time: Date.now(),
    tags: [{ key: 'mlflow.source.name', value: 'modelseal' }],
  });
  const { run_id: runId, artifact_uri: uri } = run.run.info;
  if (!uri.startsWith('mlflow-artifacts:'))
    throw new ModelsealError(
      'MLFLOW_REJECTED',
      `the tracking server does not proxy artifacts (the run's artifact location is ${uri}): give the package's ` +
        'location as --source, or run `mlflow server` with artifact serving (the default)',
    );
  const root = new URL(uri).pathname.replace(/^\/+|\/+$/g, '');
  await c.uploadArtifact(`${root}/${name}`, file.path, file.bytes);
  await c.call('POST', 'runs/update', { run_id: runId, status: 'FINISHED', end_time: Date.now() });
  return { runId, source: `runs:/${runId}/${name}` };
}

/** Registers the package `o.target` as a new version of model `o.name`, tags it, and points the alias at it. */
export async function registerInMlflow(o: MlflowRegisterOptions): Promise<MlflowRegistration> {
  const alias = checkNames(o);
  const c = new MlflowClient(o);
  const d = await describe(o);
  const indexes = await logIndexes(o, d);
  const tags = tagsOf(d, indexes);
  const createdModel = await ensureModel(c, o.name);
  let runId: string | null = null;
  let source = o.source ?? d.reference;
  if (source === null) {
    const up = await uploadAsRun(c, d.file!, o.experimentId ?? '0');
    ({ runId, source } = up);
  }
  const mv = await c.call<{ model_version: { version: string } }>('POST', 'model-versions/create', {
    name: o.name,
    source,
    ...(runId ? { run_id: runId } : {}),
    description: `Sealed by modelseal: model ${d.modelDigest}, package ${d.packageDigest}`,
    tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
  });
  const version = mv.model_version.version;
  await c.call('POST', 'registered-models/alias', { name: o.name, alias, version });
  return { name: o.name, version, source, runId, alias, createdModel, tags };
}
