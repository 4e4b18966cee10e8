import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  inspect,
  loadPublisherKey,
  loadX25519Identity,
  open,
  parseX25519Recipient,
  readPublisherPublicKey,
  readRange,
  type RangeOptions,
  readSafetensorsHeader,
  seal,
  verifyFolder,
  verifyPackage,
  X25519Recipient,
} from '../../src/index.js';
import { emitJson, fmtBytes, say, threads, type GlobalOptions } from '../util.js';

/** The folder holding package.json, found upwards from this file (works from src via tsx and from dist). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the modelseal installation folder');
    dir = up;
  }
  return dir;
}

/** Reads one tensor of the sample back from the package, decrypting only the chunks that cover it. */
async function readTensorBack(pkg: string, sample: string, opening: RangeOptions) {
  const st = join(sample, 'model.safetensors');
  const bytes = await readFile(st);
  const header = await readSafetensorsHeader(st);
  const tensor = header.tensors.find((x) => x.dtype === 'BF16') ?? header.tensors[0]!;
  const slice = await readRange(pkg, 'model.safetensors', tensor.start, tensor.end - tensor.start, opening);
  return { tensor, slice, same: Buffer.from(slice).equals(bytes.subarray(tensor.start, tensor.end)) };
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'seal the bundled sample checkpoint for the sample recipient, open it, verify it, and say what happened (uses ' +
        'the embedded demo keys; no setup)',
    )
    .option(
      '--dir <dir>',
      'keep the package and the opened checkpoint in this folder (default: a temporary folder, removed afterwards)',
    )
    .action(async (o: { dir?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const root = projectRoot();
      const fixtures = join(root, 'keys', 'fixtures');
      const sample = join(root, 'samples', 'checkpoint');
      const work = o.dir ? resolve(o.dir) : await mkdtemp(join(tmpdir(), 'modelseal-demo-'));
      if (o.dir) await mkdir(work, { recursive: true });
      const t = threads(g);
      const th = t !== undefined ? { threads: t } : {};
      const steps: { step: string; detail: string }[] = [];
      const step = (s: string, detail: string) => {
        steps.push({ step: s, detail });
        say(g, `• ${s}: ${detail}`);
      };
      try {
        const publisher = await loadPublisherKey(join(fixtures, 'demo-publisher.key'));
        const recipientPub = (await readFile(join(root, 'samples', 'keys', 'recipient.x25519.pub'), 'utf8')).trim();
        const identity = await loadX25519Identity(join(fixtures, 'demo-recipient.x25519'));
        const trustedPublishers = [await readPublisherPublicKey(join(root, 'samples', 'keys', 'publisher.pub'))];
        const pkg = join(work, 'sample.mseal');
        const out = join(work, 'opened');
        await rm(pkg, { force: true });
        await rm(out, { recursive: true, force: true });

        const sealed = await seal({
          input: sample,
          output: pkg,
          recipients: [new X25519Recipient(parseX25519Recipient(recipientPub))],
          publisher,
          license: 'DEMO-LICENSE-1',
          ...th,
        });
        step(
          'seal',
          `${sealed.files.length} files, ${fmtBytes(sealed.plaintextBytes)} → ${pkg} ` +
            `(${fmtBytes(sealed.packageBytes)}), AES-256-GCM in ${fmtBytes(sealed.chunkSize)} chunks, data key ` +
            `wrapped for ${recipientPub.slice(0, 20)}…, signed by ${sealed.signer.slice(0, 23)}…`,
        );
        const info = await inspect(pkg);
        step(
          'inspect',
          `without any key: ${info.recipients.length} recipient (${info.recipients[0]!.type}, license ` +
            `${info.recipients[0]!.license}), ${info.files.length} files, model ${info.model.rootDigest.slice(0, 23)}…`,
        );
        const v = await verifyPackage(pkg, { trustedPublishers, ...th });
        step(
          'verify package',
          `without any key: ${v.chunks} ciphertext chunks match the signed chunk list; publisher signature valid`,
        );
        const opened = await open({ input: pkg, output: out, identities: [identity], trustedPublishers, ...th });
        step(
          'open',
          `the recipient's identity unwrapped the data key; every chunk authenticated and every file matched the ` +
            `signed manifest before ${out} appeared (+ model.sig)`,
        );
        const vf = await verifyFolder(out, { trustedPublishers });
        step(
          'verify checkpoint',
          `${vf.files} files match model.sig (OpenSSF Model Signing, verifiable with \`model_signing verify key\`)`,
        );
        const { tensor, slice, same } = await readTensorBack(pkg, sample, {
          identities: [identity],
          trustedPublishers,
        });
        step(
          'random access',
          `read tensor ${tensor.name} (${tensor.dtype} ${JSON.stringify(tensor.shape)}, ${fmtBytes(slice.length)}) ` +
            `from the package by decrypting only the chunks covering it: ` +
            (same ? 'identical to the original' : 'MISMATCH'),
        );
        if (!same) throw new Error('random access read differs from the original');
        emitJson(g, 'demo', {
          dir: o.dir ? work : null,
          package: sealed,
          opened,
          verified: { package: v, folder: vf },
          randomAccess: { tensor: tensor.name, bytes: slice.length, identical: same },
          steps,
        });
        say(g, o.dir ? `kept everything in ${work}` : 'done (temporary files removed; use --dir to keep them)');
      } finally {
        if (!o.dir) await rm(work, { recursive: true, force: true });
      }
    });
}
