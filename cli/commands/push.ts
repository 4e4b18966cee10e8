import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { ModelsealError, pushPackage, type PushResult } from '../../src/index.js';
import { collect, emitJson, interruptSignal, say, withProgress, type GlobalOptions } from '../util.js';

interface PushFlags {
  plainHttp?: boolean;
  annotation: string[];
  signature?: string;
  receipt?: string;
  mountFrom?: string;
}

/** `--annotation k=v` values as a record; keys in modelseal's own namespace are refused. */
function annotationsFrom(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new ModelsealError('INVALID_ARGUMENT', `--annotation ${v}: expected key=value`);
    const k = v.slice(0, eq);
    if (k.startsWith('dev.modelseal.'))
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `--annotation ${k}: dev.modelseal.* is set by push from the package`,
      );
    out[k] = v.slice(eq + 1);
  }
  return out;
}

/** `push <package> oci://host/repo[:tag]`: the package as a ModelPack artifact, model.sig and receipt as referrers. */
export function registerPush(program: Command): void {
  program
    .command('push')
    .description('push a sealed package to an OCI registry as a CNCF ModelPack artifact (docs/REGISTRY.md)')
    .argument('<package>', 'the .mseal file')
    .argument('<reference>', 'oci://<registry>/<repository>[:<tag>] (tag default: latest)')
    .option('--plain-http', 'speak HTTP, not HTTPS (loopback registries fall back to it without this flag)')
    .option('--annotation <key=value>', 'an extra manifest annotation (repeatable)', collect, [])
    .option('--signature <model.sig>', 'attach this model.sig (OpenSSF bundle, from an earlier open) as a referrer')
    .option(
      '--receipt <file>',
      "attach the export's log receipt (.tlog-proof) as a referrer (default: <package>.tlog-proof when present)",
    )
    .option(
      '--mount-from <repository>',
      'mount the package blob from this repository of the same registry if it is there',
    )
    .addHelpText(
      'after',
      '\nCredentials come from the Docker config ($DOCKER_CONFIG or ~/.docker/config.json: auths, credHelpers,' +
        ' credsStore).\nPrints the manifest digest.\n\n' +
        'Example: modelseal push llama.mseal oci://registry.example/models/llama:v1',
    )
    .action(pushAction);
}

async function pushAction(pkg: string, refText: string, o: PushFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const beside = `${pkg}.tlog-proof`;
  const receipt = o.receipt ?? (existsSync(beside) ? beside : undefined);
  const r: PushResult = await withProgress(g, (progress) => {
    const bar = progress.counting('upload');
    return pushPackage(pkg, refText, {
      annotations: annotationsFrom(o.annotation),
      ...(o.plainHttp ? { plainHttp: true } : {}),
      ...(o.signature ? { signature: o.signature } : {}),
      ...(receipt ? { receipt } : {}),
      ...(o.mountFrom ? { mountFrom: o.mountFrom } : {}),
      ...(bar ? { onProgress: (done: number, total: number) => bar({ done, total }) } : {}),
      signal: interruptSignal(),
    });
  });
  emitJson(g, 'push', r);
  say(g, `pushed ${pkg} → ${r.reference} (tag ${r.tag}; package blob ${r.blob})`);
  for (const x of r.referrers) say(g, `  referrer ${x.artifactType} ${x.digest} (${x.file})`);
  if (!o.signature) say(g, '  no model.sig attached: it is sealed inside the package (give --signature <model.sig>)');
  if (!g.json) process.stdout.write(`${r.manifestDigest}\n`);
}
