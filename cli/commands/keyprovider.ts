/** `keyprovider`: ocicrypt's binary key provider, releasing image layer keys through the release service. */
import type { Command } from 'commander';
import { join } from 'node:path';
import {
  answerKeyProvider,
  loadReleaseIdentity,
  MAX_REQUEST_BYTES,
  ModelsealError,
  readLogVerifier,
} from '../../src/index.js';
import { collect, keysDir, passphraseSource, type GlobalOptions } from '../util.js';

interface KeyProviderFlags {
  to: string[];
  license?: string;
  model?: string;
  identity?: string;
  destination?: string;
  server?: string;
  logKey?: string;
  name: string;
}

/** `keyprovider`: one ocicrypt request on stdin, one answer on stdout (docs/REGISTRY.md, "Container layer keys"). */
export function registerKeyProvider(program: Command): void {
  program
    .command('keyprovider')
    .description(
      "ocicrypt's key provider (containerd/imgcrypt, CRI-O, skopeo): keywrap escrows a layer key to the release " +
        'service, keyunwrap asks the service to release it (decided by policy, logged). Reads one JSON request on ' +
        'stdin, writes one JSON answer on stdout',
    )
    .option(
      '--to <recipient>',
      'keywrap: release:<service URL>#<recipient> (repeatable), when the request names none',
      collect,
      [],
    )
    .option('--license <id>', 'keywrap: the license the key is released under, when the request names none')
    .option('--model <digest>', 'keywrap: sha256:<hex> of the model the layer carries (the license covers it)')
    .option(
      '--identity <file>',
      'keyunwrap: your recipient identity file (modelseal recipient issue); or MODELSEAL_KEYPROVIDER_IDENTITY',
    )
    .option(
      '--destination <country>',
      'keyunwrap: where the layer is decrypted (ISO 3166 alpha-2); or MODELSEAL_KEYPROVIDER_DESTINATION',
    )
    .option('--server <url>', 'keyunwrap: ask this release service instead of the one the layer names')
    .option('--log-key <file>', "keyunwrap: the release service's log key (default: the key store's log.vkey)")
    .option(
      '--name <provider>',
      "the name of this provider in ocicrypt's config (its key-providers entry)",
      'modelseal',
    )
    .addHelpText(
      'after',
      `
ocicrypt config (OCICRYPT_KEYPROVIDER_CONFIG):
  {"key-providers": {"modelseal": {"cmd": {"path": "/usr/bin/modelseal", "args": ["keyprovider"]}}}}
Encrypt:  skopeo copy --encryption-key provider:modelseal:release:https://rel.example#acme-labs \\
            --encryption-key provider:modelseal:license=EAR-1 oci:img oci:img-enc
Decrypt:  MODELSEAL_KEYPROVIDER_IDENTITY=acme.identity skopeo copy \\
            --decryption-key provider:modelseal:destination=DE oci:img-enc oci:img`,
    )
    .action(keyProvider);
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES)
      throw new ModelsealError('KEYPROVIDER_REQUEST', `keyprovider request: larger than ${MAX_REQUEST_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** The command's options as parameter values: the request's own values come first. */
function defaults(o: KeyProviderFlags): string[] {
  const destination = o.destination ?? process.env.MODELSEAL_KEYPROVIDER_DESTINATION;
  return [
    ...o.to,
    ...(o.license ? [`license=${o.license}`] : []),
    ...(o.model ? [`model=${o.model}`] : []),
    ...(destination ? [`destination=${destination}`] : []),
  ];
}

async function keyProvider(o: KeyProviderFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const identityFile = o.identity ?? process.env.MODELSEAL_KEYPROVIDER_IDENTITY;
  if (o.server !== undefined && !/^https?:\/\//.test(o.server))
    throw new ModelsealError('INVALID_ARGUMENT', `--server ${o.server}: expected an http:// or https:// URL`);
  const answer = await answerKeyProvider(await readStdin(), {
    provider: o.name,
    defaults: defaults(o),
    ...(identityFile ? { identity: () => loadReleaseIdentity(identityFile, passphraseSource(g)) } : {}),
    logKey: () => readLogVerifier(o.logKey ?? join(keysDir(g), 'log.vkey')),
    ...(o.server ? { server: o.server.replace(/\/+$/, '') } : {}),
  });
  process.stdout.write(answer + '\n');
}
