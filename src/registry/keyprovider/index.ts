/**
 * `modelseal keyprovider` (docs/REGISTRY.md, "Container layer keys"): ocicrypt's binary key
 * provider. keywrap escrows a layer's private options to the release service; keyunwrap is a
 * release request, decided by policy and logged before the key leaves.
 */
import type { KeyObject } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import type { NoteVerifier } from '../../log/note.js';
import { parseLayerAnnotation, unwrapLayerOptions, wrapLayerOptions } from './escrow.js';
import { keyUnwrapAnswer, keyWrapAnswer, parseKeyProviderRequest, parseLayerKeyParams } from './protocol.js';

export {
  MAX_REQUEST_BYTES,
  parseKeyProviderRequest,
  parseLayerKeyParams,
  type KeyProviderRequest,
} from './protocol.js';
export { LAYER_ANNOTATION_TYPE, parseLayerAnnotation, type LayerAnnotation } from './escrow.js';

/** What the command line and environment give the key provider; the request's parameters come first. */
export interface KeyProviderOptions {
  /** The name ocicrypt's config gives this provider (its `key-providers` key); default "modelseal". */
  provider?: string;
  /** Parameter values used when the request has none of that kind (`--to`, `--license`, ...). */
  defaults?: string[];
  /** The recipient identity for keyunwrap, loaded only then. */
  identity?: () => Promise<{ name: string; key: KeyObject }>;
  /** The log key a release receipt must verify under, loaded only for keyunwrap. */
  logKey?: () => Promise<NoteVerifier>;
  /** Ask this release service rather than the one the annotation names. */
  server?: string;
}

function missing(what: string): ModelsealError {
  return new ModelsealError('KEYPROVIDER_REQUEST', `keyprovider request: ${what}`);
}

/** Answers one ocicrypt keyprovider request (the bytes ocicrypt wrote to stdin) with the JSON for stdout. */
export async function answerKeyProvider(input: Uint8Array, o: KeyProviderOptions = {}): Promise<string> {
  const request = parseKeyProviderRequest(input, o.provider ?? 'modelseal');
  const given = parseLayerKeyParams(request.params);
  const fallback = parseLayerKeyParams(o.defaults ?? []);
  if (request.op === 'keywrap') {
    const recipients = given.recipients.length ? given.recipients : fallback.recipients;
    const license = given.license ?? fallback.license;
    const model = given.model ?? fallback.model;
    if (!recipients.length) throw missing('no release:<service URL>#<recipient> to escrow the layer key to');
    if (!license) throw missing('no license=<id> to escrow the layer key under');
    return keyWrapAnswer(
      await wrapLayerOptions(request.optsdata, { recipients, license, ...(model ? { model } : {}) }),
    );
  }
  const destination = given.destination ?? fallback.destination;
  if (!destination) throw missing('no destination=<CC> (or --destination) to ask for the layer key with');
  if (!o.identity) throw missing('no recipient identity (--identity or MODELSEAL_KEYPROVIDER_IDENTITY) to ask with');
  if (!o.logKey) throw missing('no log key to check the release receipt with');
  const annotation = parseLayerAnnotation(request.annotation);
  const { name, key } = await o.identity();
  const logKey = await o.logKey();
  const opts = await unwrapLayerOptions(annotation, {
    name,
    key,
    destination,
    logKey,
    ...(o.server ? { server: o.server } : {}),
  });
  return keyUnwrapAnswer(opts);
}
