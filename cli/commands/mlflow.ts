import type { Command } from 'commander';
import { DEFAULT_MLFLOW_ALIAS, ModelsealError, registerInMlflow, type MlflowRegistration } from '../../src/index.js';
import { emitJson, say, warn, type GlobalOptions } from '../util.js';

interface RegisterFlags {
  trackingUri?: string;
  name: string;
  alias?: string;
  source?: string;
  logIndex?: string;
  log?: string;
  experimentId?: string;
  plainHttp?: boolean;
}

/** `--log-index 12` or `12,13`: the export entries `seal --log` printed. */
function parseIndexes(v: string): number[] {
  const out = v.split(',').map((s) => s.trim());
  if (out.some((s) => !/^\d{1,15}$/.test(s)))
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--log-index ${JSON.stringify(v)}: expected entry indexes, e.g. 12 or 12,13`,
    );
  return out.map(Number);
}

/** `mlflow register`: a sealed package as a version of an MLflow registered model. */
export function registerMlflow(program: Command): void {
  const m = program.command('mlflow').description('the MLflow model registry (docs/REGISTRY.md)');
  m.command('register')
    .description(
      'register a sealed package (a file, or oci://… resolved to its digest) as a new version of an MLflow model, ' +
        'tagged with its digests, classification, release service and export log entry, and set an alias on it',
    )
    .argument('<package>', 'package file, or an OCI reference oci://<registry>/<repo>[:<tag>|@sha256:…]')
    .option(
      '--tracking-uri <url>',
      'the MLflow tracking server, e.g. http://127.0.0.1:5000 (default: $MLFLOW_TRACKING_URI)',
    )
    .requiredOption('--name <model>', 'the registered model (created if missing)')
    .option('--alias <name>', `alias to point at the new version (default ${DEFAULT_MLFLOW_ALIAS})`)
    .option(
      '--source <uri>',
      "the version's source; default: the OCI reference, or for a package file an artifact of a new run " +
        '(runs:/<run>/<file>) the package is uploaded to',
    )
    .option('--log-index <n[,n]>', 'the export log entry index(es) that `seal --log` printed')
    .option('--log <dir|postgres-url|url>', 'find the export entries of a package file in this log (seal --log)')
    .option('--experiment-id <id>', 'the experiment of the upload run (default 0, MLflow\'s "Default")')
    .option('--plain-http', 'with oci://: speak plain HTTP to a registry that is not on a loopback address')
    .addHelpText(
      'after',
      '\nCredentials, as MLflow clients take them: MLFLOW_TRACKING_TOKEN (Bearer), or MLFLOW_TRACKING_USERNAME and ' +
        'MLFLOW_TRACKING_PASSWORD (Basic).',
    )
    .action(async (target: string, o: RegisterFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (o.logIndex !== undefined && o.log !== undefined)
        throw new ModelsealError('INVALID_ARGUMENT', '--log-index and --log both name the export entry: give one');
      const trackingUri = o.trackingUri ?? process.env.MLFLOW_TRACKING_URI;
      if (!trackingUri)
        throw new ModelsealError(
          'INVALID_ARGUMENT',
          "give the tracking server as --tracking-uri <url> or in MLFLOW_TRACKING_URI, as for MLflow's own clients",
        );
      const r = await registerInMlflow({
        trackingUri,
        name: o.name,
        target,
        ...(o.alias !== undefined ? { alias: o.alias } : {}),
        ...(o.source !== undefined ? { source: o.source } : {}),
        ...(o.logIndex !== undefined ? { logIndexes: parseIndexes(o.logIndex) } : {}),
        ...(o.log !== undefined ? { log: o.log } : {}),
        ...(o.experimentId !== undefined ? { experimentId: o.experimentId } : {}),
        ...(o.plainHttp ? { oci: { plainHttp: true } } : {}),
      });
      emitJson(g, 'mlflow register', { registration: r });
      printRegistration(g, r);
    });
}

function printRegistration(g: GlobalOptions, r: MlflowRegistration): void {
  say(g, `registered ${r.name} version ${r.version}${r.createdModel ? ' (new registered model)' : ''}`);
  say(g, `  source  ${r.source}`);
  say(g, `  alias   ${r.alias} -> version ${r.version}`);
  for (const [k, v] of Object.entries(r.tags)) say(g, `  tag     ${k} = ${v}`);
  if (!('modelseal.log_index' in r.tags) && !g.json && !g.quiet)
    warn('no export log entry is known: give --log-index or --log to tag where the export was logged');
}
