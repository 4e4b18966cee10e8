import type { Command } from 'commander';
import { listProviders } from '../../src/index.js';
import { emitJson, providerSettings, type GlobalOptions } from '../util.js';

/** `providers`: every key provider, configured and reachable or not. */
export function registerProviders(program: Command): void {
  program
    .command('providers')
    .description('list the key providers, their configuration, and whether each is reachable now')
    .addHelpText(
      'after',
      `
Recipient strings name a provider by their scheme: local, x25519:<public key>, aws-kms:<key>,
pkcs11:<token>/<key>. More providers can be added: MODELSEAL_PROVIDERS=<module>[,<module>…] names
modules that call registerProvider() from the modelseal library (docs/PROVIDERS.md).`,
    )
    .action(async (_o: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const settings = providerSettings(g);
      const providers = await Promise.all(listProviders().map((p) => p.status(settings)));
      emitJson(g, 'providers', { providers });
      if (g.json || g.quiet) return;
      const mark = (s: (typeof providers)[number]) =>
        !s.configured ? 'not configured' : s.reachable === false ? 'UNREACHABLE' : s.reachable ? 'reachable' : 'ready';
      for (const s of providers) {
        process.stdout.write(`${s.provider.padEnd(8)} ${mark(s).padEnd(14)} ${s.summary}\n         ${s.detail}\n`);
        for (const [k, v] of Object.entries(s.config)) process.stdout.write(`         ${k} = ${v}\n`);
      }
    });
}
