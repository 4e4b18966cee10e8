/**
 * `open`: package → checkpoint. The output is built under a temporary sibling name and renamed
 * into place only after every chunk authenticated, the key commitment and header MAC checked,
 * every file matched the signed manifest, and the publisher signature verified against a trusted
 * key. On any failure the temporary output is removed: nothing ever appears at the output path.
 * A file (open-file.ts) and a stream (open-stream.ts) run the same checks in the same order
 * (docs/FORMAT.md §9, "Check order") and feed one PayloadSink (open-payload.ts).
 */
import { createPublicKey } from 'node:crypto';
import { ModelsealError } from '../errors.js';
import { CryptoPool } from '../crypto/pool.js';
import { toHex } from '../format/encoding.js';
import { openFile } from './open-file.js';
import { OutputTree } from './open-output.js';
import type { Opened, OpenOptions, OpenResult } from './open-payload.js';
import { openStream } from './open-stream.js';
import { authFailed } from './unlock.js';
import { signerId } from './walk.js';

export type { OpenOptions, OpenResult } from './open-payload.js';

/** Opens a package (a file or a stream) into `opts.output`; throws, writing nothing there, on any failed check. */
export async function open(opts: OpenOptions): Promise<OpenResult> {
  if (opts.trustedPublishers.length === 0) {
    throw new ModelsealError(
      'UNTRUSTED_SIGNER',
      'no trusted publisher key: pass --publisher <publisher.pub> or open inside a key store that trusts the publisher',
    );
  }
  const out = new OutputTree(opts.output, opts.force ?? false, opts.fsync ?? false);
  // Started once the payload's size is known (openFile), or at once for a stream.
  const pool = new CryptoPool(opts.threads);
  try {
    const r =
      typeof opts.input === 'string'
        ? await openFile(opts, opts.input, out, pool)
        : await openStream(opts, opts.input, out, pool);
    return await commitOpened(opts, out, r);
  } finally {
    await pool.drain().catch(() => {});
    await out.closeAll();
    await out.discard();
    await pool.close();
  }
}

/** The checks that need both the provenance and the payload (same publisher, every file as signed), then the commit. */
async function commitOpened(opts: OpenOptions, out: OutputTree, r: Opened): Promise<OpenResult> {
  const h = r.parsed.header;
  const trailerKey = createPublicKey({ key: Buffer.from(r.trailer.publicKey), format: 'der', type: 'spki' });
  if (!trailerKey.equals(r.provenance.key)) {
    throw new ModelsealError('SIGNATURE_INVALID', 'the provenance and the package are signed by different publishers');
  }
  for (const f of r.files) {
    if (!Buffer.from(f.sha256, 'hex').equals(r.provenance.expected.get(f.path)!)) {
      opts.debug?.(`${f.path} does not match the signed manifest`);
      throw authFailed();
    }
  }
  const provenance = await out.commit(h.model.kind, r.provenance.text);
  return {
    output: opts.output,
    kind: h.model.kind,
    packageId: toHex(h.packageId),
    model: { name: h.model.name, rootDigest: `sha256:${toHex(h.model.rootDigest)}` },
    files: r.files,
    openedWith: {
      type: r.stanza.type,
      recipient: r.stanza.recipient,
      license: r.stanza.license,
      identity: r.identity.description,
    },
    signer: signerId(r.trailer.publicKey),
    provenance,
    plaintextBytes: h.files.reduce((a, f) => a + f.size, 0),
  };
}
