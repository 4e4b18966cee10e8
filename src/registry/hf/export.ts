/**
 * `hf export`: a folder ready for `huggingface-cli upload` — the sealed package, its model card
 * (README.md) and, when given, model.sig — built under a temporary name and renamed when complete
 * and checked. docs/REGISTRY.md, "Hugging Face".
 */
import { createPublicKey } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, chmod } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ModelsealError } from '../../errors.js';
import { finalMode, ioError, PARTIAL_DIR_MODE, tempSibling, writeFileAtomic } from '../../io/atomic.js';
import { commitOutput } from '../../package/common.js';
import { verifyModelSignature } from '../../provenance/oms.js';
import { toHex } from '../../format/encoding.js';
import { fileDigest, sealedPackageFacts, type SealedPackageFacts } from '../package-facts.js';
import { renderModelCard } from './card.js';

/** The package to export, the folder to write, and what the card says beyond the package. */
export interface HfExportOptions {
  /** The package file. */
  package: string;
  /** The folder to create. */
  output: string;
  /** The Hub license id or name (default: "other", the modelseal release license). */
  license?: string;
  /** The Hub id of the base model. */
  baseModel?: string;
  /** The release service URL the card names (default: the package's). */
  releaseUrl?: string;
  /** A model.sig of the package's model (from an opened copy) to include; checked against the package first. */
  signature?: string;
  /** Replace the output folder if it exists. */
  force?: boolean;
}

/** The folder written, its files, and the facts the card was made from. */
export interface HfExportResult {
  output: string;
  files: string[];
  /** Whether model.sig is in the folder. */
  signature: boolean;
  facts: Omit<SealedPackageFacts, 'publisherSpki'>;
}

/** Reads `path` (a model.sig) and checks it is the package signer's signature of the package's model. */
async function checkedSignature(path: string, facts: SealedPackageFacts): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw ioError(`cannot read ${path}`, cause);
  }
  const key = createPublicKey({ key: Buffer.from(facts.publisherSpki), format: 'der', type: 'spki' });
  const signed = verifyModelSignature(text, key);
  if (`sha256:${toHex(signed.rootDigest)}` !== facts.modelDigest)
    throw new ModelsealError(
      'SIGNATURE_INVALID',
      `--signature ${path} signs model ${toHex(signed.rootDigest)}, not this package's ${facts.modelDigest}: give ` +
        'the model.sig that `modelseal open` wrote for this package',
    );
  return text;
}

/** Checks the release URL the card will name is an http(s) URL. */
function checkUrl(url: string | undefined): void {
  if (url === undefined) return;
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    // u stays undefined
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:'))
    throw new ModelsealError('INVALID_ARGUMENT', `--release-url ${JSON.stringify(url)}: expected an http(s) URL`);
}

/** Writes the Hugging Face folder of a sealed package; returns what it holds. */
export async function exportForHuggingFace(o: HfExportOptions): Promise<HfExportResult> {
  checkUrl(o.releaseUrl);
  const facts = await sealedPackageFacts(o.package);
  const sig = o.signature !== undefined ? await checkedSignature(o.signature, facts) : undefined;
  const target = resolve(o.output);
  const packageFile = basename(o.package);
  if (packageFile === 'README.md' || packageFile === 'model.sig')
    throw new ModelsealError('INVALID_ARGUMENT', `${o.package}: rename the package (its name is taken by the card)`);
  const tmp = tempSibling(target);
  try {
    await mkdir(tmp, { mode: PARTIAL_DIR_MODE });
    await copyFile(o.package, join(tmp, packageFile));
    // The copy is what gets uploaded: check it is the package that was read.
    if ((await fileDigest(join(tmp, packageFile))) !== facts.packageDigest)
      throw new ModelsealError('IO', `${o.package} changed while it was exported; export it again`);
    await chmod(join(tmp, packageFile), finalMode(0o644));
    if (sig !== undefined) await writeFileAtomic(join(tmp, 'model.sig'), sig);
    const card = renderModelCard({
      facts,
      packageFile,
      signature: sig !== undefined,
      ...(o.license !== undefined ? { license: o.license } : {}),
      ...(o.baseModel !== undefined ? { baseModel: o.baseModel } : {}),
      ...(o.releaseUrl !== undefined ? { releaseUrl: o.releaseUrl } : {}),
    });
    await writeFileAtomic(join(tmp, 'README.md'), card);
    await chmod(tmp, finalMode(0o755));
    await commitOutput(tmp, target, o.force ?? false, true);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (e instanceof ModelsealError) throw e;
    throw ioError(`cannot write ${target}`, e);
  }
  const { publisherSpki: _spki, ...shown } = facts;
  return {
    output: target,
    files: [packageFile, ...(sig !== undefined ? ['model.sig'] : []), 'README.md'],
    signature: sig !== undefined,
    facts: shown,
  };
}
