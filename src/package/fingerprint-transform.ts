/**
 * `seal --fingerprint` as a transform of the seal pipeline (./seal-transform.ts): plans the tensors
 * to mark, has the workers mark each piece (./fingerprint-piece.ts), hashes the unmarked original as
 * it goes (or takes its digest from the OriginalDigests cache), and once the package is complete
 * appends the signed embedding record to the registry (docs/FINGERPRINT.md).
 */
import { createHash, type Hash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { ModelsealError } from '../errors.js';
import type { FingerprintTag, Header } from '../format/header.js';
import type { Inputs } from '../formats/checkpoint.js';
import { workerUrl } from '../io/workers.js';
import { computeRootDigest, type ManifestEntry } from '../provenance/oms.js';
import {
  checkRecipientId,
  embeddingRecord,
  MarkTally,
  planFile,
  type FingerprintKey,
  type TensorReport,
} from '../fingerprint/embed.js';
import type { MarkStats, TensorPlan } from '../fingerprint/mark.js';
import { readWeightFile, weightFormat } from '../fingerprint/model.js';
import { OriginalDigests } from '../fingerprint/originals.js';
import { checkParams, DEFAULT_PARAMS, SCHEME, type CodeParams } from '../fingerprint/params.js';
import { requireLittleEndian } from '../fingerprint/prf.js';
import { appendRecord, newFingerprintId, type SignedRecord } from '../fingerprint/registry.js';
import type { Signer } from '../crypto/signer.js';
import { FINGERPRINT_PIECE, registerFingerprintPiece, type FingerprintPieceParams } from './fingerprint-piece.js';
import type { PieceTransformCall, SealTransform, TransformedPiece } from './seal-transform.js';

/** What `seal` needs to fingerprint a recipient's copy. */
export interface SealFingerprint {
  recipient: string;
  key: FingerprintKey;
  params?: CodeParams;
  /** The registry file the embedding is appended to; the originals cache sits beside it. */
  registry: string;
}

/** What a fingerprinted seal adds to its result. */
export interface FingerprintSealed {
  fingerprint: { record: SignedRecord; tensors: TensorReport[] };
}

/** The fingerprint as a seal transform; `input` names the checkpoint in errors. */
export class FingerprintTransform implements SealTransform {
  readonly workerScript = workerUrl(import.meta.url, './seal-worker.js');
  readonly #fp: SealFingerprint;
  readonly #params: CodeParams;
  readonly #tag: FingerprintTag;
  #inputs: Inputs | undefined;
  /** Per input file, the tensors to mark (none: not a weight file). */
  #plans: TensorPlan[][] = [];
  #originals: OriginalDigests | undefined;
  /** Per input file: the original's digest when the cache knows it (then it is not hashed again). */
  readonly #known: (Uint8Array | undefined)[] = [];
  readonly #statKeys: string[] = [];
  readonly #tally = new MarkTally();
  readonly #originalManifest: ManifestEntry[] = [];
  #originalHash: Hash = createHash('sha256');

  constructor(
    fp: SealFingerprint,
    private readonly publisher: { signer: Signer },
    private readonly input: string,
  ) {
    this.#fp = fp;
    this.#params = fp.params ?? DEFAULT_PARAMS;
    this.#tag = {
      id: newFingerprintId(),
      recipient: fp.recipient,
      keyId: fp.key.id,
      scheme: SCHEME,
      params: { ...this.#params },
      original: new Uint8Array(32),
    };
  }

  async plan(inputs: Inputs): Promise<void> {
    requireLittleEndian();
    checkRecipientId(this.#fp.recipient);
    checkParams(this.#params);
    this.#inputs = inputs;
    for (const f of inputs.files)
      this.#plans.push(
        weightFormat(f.path)
          ? planFile(await readWeightFile(f.source, f.path), this.#fp.key.key, this.#fp.recipient)
          : [],
      );
    if (!this.#plans.some((p) => p.length > 0))
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        `${this.input}: no F32, F16 or BF16 tensor of two or more dimensions to fingerprint`,
      );
    this.#originals = await OriginalDigests.load(join(dirname(this.#fp.registry), 'originals.json'));
    registerFingerprintPiece(); // for the pieces this thread runs
  }

  headerFields(): Partial<Header> {
    return { fingerprint: this.#tag };
  }

  openedFile(file: number, fd: number): void {
    this.#statKeys[file] = OriginalDigests.statKey(fd);
    this.#known[file] = this.#originals!.lookup(this.#source(file), this.#statKeys[file]);
  }

  piece(file: number, from: number, to: number): PieceTransformCall | undefined {
    const plans = this.#plans[file]!.filter((p) => p.start < to && p.end > from);
    if (plans.length === 0) return undefined;
    const params: FingerprintPieceParams = { plans, params: this.#params };
    return { kind: FINGERPRINT_PIECE, params, keepOriginal: !this.#known[file] };
  }

  consumePiece({ file, original, output }: TransformedPiece): void {
    if (!this.#known[file]) this.#originalHash.update(original!);
    if (output) this.#tally.add(this.#inputs!.files[file]!.path, output as MarkStats[]);
  }

  endFile(file: number): void {
    const f = this.#inputs!.files[file]!;
    const known = this.#known[file];
    const sha256 = known ?? new Uint8Array(this.#originalHash.digest());
    if (!known) this.#originals!.remember(this.#source(file), this.#statKeys[file]!, sha256);
    this.#originalManifest.push({ path: f.path, size: f.size, sha256 });
    this.#originalHash = createHash('sha256');
  }

  finishHeader(header: Header): void {
    if (header.fingerprint) header.fingerprint.original = computeRootDigest(this.#originalManifest);
  }

  async record({ packageId, header }: { packageId: string; header: Header }): Promise<FingerprintSealed> {
    const tensors = this.#tally.reports();
    const record = await embeddingRecord(
      { ...this.#tag, params: this.#params, marked: header.model.rootDigest, package: packageId, tensors },
      this.publisher,
    );
    // Recorded before the package appears: a marked copy the registry does not know could never be traced.
    await appendRecord(this.#fp.registry, record);
    await this.#originals!.save();
    return { fingerprint: { record, tensors } };
  }

  #source(file: number): string {
    return resolve(this.#inputs!.files[file]!.source);
  }
}
