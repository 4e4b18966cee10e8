import { Option, type Command } from 'commander';
import { join, resolve } from 'node:path';
import { initPolicyDir, ModelsealError, PolicyEngine, serviceInfo } from '../../src/index.js';
import { emitJson, say, type GlobalOptions } from '../util.js';

/** The service's data directory: --data, $MODELSEAL_DATA, or ./modelseal-data. */
export function dataDir(o: { data?: string }): string {
  return resolve(o.data ?? process.env.MODELSEAL_DATA ?? 'modelseal-data');
}

export const DATA_HELP =
  "the release service's data directory (default $MODELSEAL_DATA or ./modelseal-data): log/, policy/, recipients/";

/** `policy init | check`: the release policy files. */
export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('the release policy: Cedar policies, licenses, embargoed destinations (docs/POLICY.md)');
  policy
    .command('init')
    .description('write the default policy files where they are missing (modelseal serve does this too)')
    .option('--data <dir>', DATA_HELP)
    .action(async (o: { data?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const dir = join(dataDir(o), 'policy');
      const written = await initPolicyDir(dir);
      emitJson(g, 'policy init', { dir, written });
      say(g, written.length ? `wrote ${written.join(', ')}` : `${dir} already has every policy file`);
    });
  policy
    .command('check')
    .description(
      'validate the policy files, first upgrading earlier defaults: the Cedar schema, every policy (named with @id, ' +
        'strict validation), licenses, embargoes',
    )
    .option('--data <dir>', DATA_HELP)
    .option('--policy-dir <dir>', 'a policy directory to check instead of <data>/policy')
    .addOption(new Option('--policy <dir>', 'old spelling of --policy-dir').hideHelp())
    .option(
      '--server <url>',
      'ask a running release service instead: whether its policy files validate, and the policy-set hash in force',
    )
    .addHelpText(
      'after',
      '\nExit 0 when the service would load them (with --server: when its files on disk are the ones in ' +
        'force); 13 (POLICY_INVALID) with the problem otherwise.',
    )
    .action(async (o: CheckFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const policyDir = checkedPolicyDir(o);
      if (o.server) return checkServer(g, o.server);
      const dir = policyDir ? resolve(policyDir) : join(dataDir(o), 'policy');
      const engine = await PolicyEngine.load(dir);
      const r = {
        dir,
        hash: engine.hash,
        policies: engine.policyIds,
        licenses: engine.licenses.map((l) => l.id),
        upgraded: engine.upgrade.replaced,
        missingDefaults: engine.missingDefaults,
      };
      emitJson(g, 'policy check', r);
      say(g, `${dir}: valid (policy set ${engine.hash.slice(0, 16)}…)`);
      say(g, `  policies  ${r.policies.join(', ')}`);
      say(g, `  licenses  ${r.licenses.length ? r.licenses.join(', ') : 'none yet (add them to licenses.json)'}`);
      sayPolicyUpgrade(g, engine);
    });
}

/** Says which earlier default files a load upgraded, and which default policies are not in force. */
export function sayPolicyUpgrade(g: GlobalOptions, engine: PolicyEngine): void {
  for (const { file, backup } of engine.upgrade.replaced)
    say(g, `  upgraded  ${file} to this version's default (the old one is ${backup})`);
  if (engine.missingDefaults.length)
    say(
      g,
      `  not in force: the default policies ${engine.missingDefaults.join(', ')} (policies.cedar was changed; ` +
        'copy them from docs/POLICY.md to apply them)',
    );
}

interface CheckFlags {
  data?: string;
  policyDir?: string;
  /** The old spelling of --policy-dir, kept as a hidden alias. */
  policy?: string;
  server?: string;
}

/** The folder of `policy check`: --policy-dir, or its old spelling --policy (not both). */
function checkedPolicyDir(o: CheckFlags): string | undefined {
  if (o.policy !== undefined && o.policyDir !== undefined)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      '--policy is the old spelling of --policy-dir: give the policy directory once, as --policy-dir <dir>',
    );
  return o.policyDir ?? o.policy;
}

/** `policy check --server`: the service's own view of its policy files (GET /v1/info). */
async function checkServer(g: GlobalOptions, server: string): Promise<void> {
  const info = await serviceInfo(server.replace(/\/+$/, ''));
  if (!info.policy)
    throw new ModelsealError(
      'PROVIDER_UNAVAILABLE',
      `${server} does not report its policy status (an older modelseal serve); policy set ${info.policySet}`,
    );
  const r = { server, hash: info.policySet, ...info.policy };
  if (info.policy.status !== 'ok') {
    throw new ModelsealError(
      'POLICY_INVALID',
      `${server}: the policy files on disk do not validate since ${info.policy.since}: ` +
        `${info.policy.error ?? 'no reason given'}; the service keeps deciding by the last good policy set ` +
        `${info.policySet.slice(0, 16)}…`,
      { details: r },
    );
  }
  emitJson(g, 'policy check', r);
  say(
    g,
    `${server}: policy files valid and in force since ${info.policy.since} ` +
      `(policy set ${info.policySet.slice(0, 16)}…)`,
  );
}
