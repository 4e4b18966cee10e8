import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { verifyFolder, verifyPackage } from '../../src/index.js';
import {
  collect,
  emitJson,
  interruptSignal,
  say,
  threads,
  trusted,
  withProgress,
  type GlobalOptions,
} from '../util.js';

/** `verify <path>`: a package or opened folder against its signature, without a key. */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'check without any decryption key that a package (or an opened checkpoint folder) is exactly what ' +
        'a trusted publisher signed',
    )
    .argument('<path>', 'package file, "-" for a package on stdin, or an opened checkpoint folder with model.sig')
    .option(
      '--publisher <pem>',
      "trusted publisher public key (repeatable; the key store's are trusted too)",
      collect,
      [],
    )
    .addHelpText(
      'after',
      '\nFor a package: structure, every ciphertext chunk against the signed chunk list, and the signature.' +
        '\nFor a folder: model.sig (OpenSSF Model Signing) and every file digest.',
    )
    .action(async (path: string, o: { publisher: string[] }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const trustedKeys = await trusted(g, o.publisher);
      const isDir = path !== '-' && (await stat(path).catch(() => undefined))?.isDirectory();
      const t = threads(g);
      const r = isDir
        ? await verifyFolder(path, { trustedPublishers: trustedKeys })
        : await withProgress(g, (progress) =>
            verifyPackage(path === '-' ? process.stdin : path, {
              trustedPublishers: trustedKeys,
              ...(t !== undefined ? { threads: t } : {}),
              ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
              signal: interruptSignal(),
            }),
          );
      emitJson(g, 'verify', r);
      const what = r.kind === 'package' ? `${r.files} file(s), ${r.chunks} chunks,` : `${r.files} file(s),`;
      say(g, `verified ${path}: ${what} signed by ${r.signer} (trusted)`);
    });
}
