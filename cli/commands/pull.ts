import type { Command } from 'commander';
import { pullPackage, type PullResult } from '../../src/index.js';
import {
  collect,
  emitJson,
  fmtBytes,
  interruptSignal,
  removeStaleAt,
  say,
  threads,
  trusted,
  withProgress,
  type GlobalOptions,
} from '../util.js';

interface PullFlags {
  output: string;
  plainHttp?: boolean;
  publisher: string[];
  force?: boolean;
}

/** `pull oci://…[:tag|@sha256:…] -o pkg.mseal`: streamed, digest-checked, verified, then renamed into place. */
export function registerPull(program: Command): void {
  program
    .command('pull')
    .description('pull a sealed package from an OCI registry, verify it, and write it (docs/REGISTRY.md)')
    .argument('<reference>', 'oci://<registry>/<repository>[:<tag>|@sha256:<hex>]')
    .requiredOption('-o, --output <file>', 'the package file to write')
    .option('--plain-http', 'speak HTTP, not HTTPS (loopback registries fall back to it without this flag)')
    .option(
      '--publisher <pem>',
      "trusted publisher public key (repeatable; the key store's publisher.pub and trusted/ are always trusted)",
      collect,
      [],
    )
    .option('--force', 'replace the output if it exists')
    .addHelpText(
      'after',
      '\nAn interrupted pull resumes from what it wrote (a hidden .<output>.<digest>.oci-partial file).' +
        '\nPrints the manifest digest (a tag is resolved).\n\n' +
        'Example: modelseal pull oci://registry.example/models/llama:v1 -o llama.mseal',
    )
    .action(pullAction);
}

async function pullAction(refText: string, o: PullFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  await removeStaleAt(o.output);
  const t = threads(g);
  const r: PullResult = await withProgress(g, async (progress) => {
    const down = progress.counting('download');
    const check = progress.counting('verify');
    return pullPackage(refText, o.output, {
      trustedPublishers: await trusted(g, o.publisher),
      force: o.force ?? false,
      ...(o.plainHttp ? { plainHttp: true } : {}),
      ...(t !== undefined ? { threads: t } : {}),
      ...(down ? { onProgress: (done: number, total: number) => down({ done, total }) } : {}),
      ...(check ? { onVerifyProgress: (done: number, total: number) => check({ done, total }) } : {}),
      signal: interruptSignal(),
    });
  });
  emitJson(g, 'pull', r);
  const resumed = r.resumedFrom > 0 ? `, resumed at ${fmtBytes(r.resumedFrom)}` : '';
  say(g, `pulled ${r.reference} → ${r.output} (${fmtBytes(r.packageBytes)}${resumed}), digest and signature verified`);
  if (r.verified) say(g, `  signer ${r.verified.signer} (trusted)`);
  if (!g.json) process.stdout.write(`${r.manifestDigest}\n`);
}
