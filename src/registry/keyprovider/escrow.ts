/**
 * Escrow of an ocicrypt layer's private options (which hold the layer key) to the release service
 * (docs/REGISTRY.md, "Container layer keys"). Wrapping is the release protocol as it is
 * (src/providers/release.ts): a fresh data key encrypts the options (AES-256-GCM) and is wrapped
 * into one release stanza per recipient, bound to a layer "package" id (32 random bytes) and the
 * "artifact" digest SHA-256(options). Unwrapping is a release request, decided by the service's
 * policy and logged before the key leaves; the key must then decrypt the options to that digest.
 */
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../../errors.js';
import { aeadUnwrap, aeadWrap } from '../../crypto/aead.js';
import { fromHex, toHex, utf8 } from '../../format/encoding.js';
import type { Stanza } from '../../format/header.js';
import type { NoteVerifier } from '../../log/note.js';
import { parseReleaseRecipient, ReleaseIdentity, ReleaseRecipient, serviceInfo } from '../../providers/release.js';
import type { ReleaseContext } from '../../providers/types.js';
import { parseX25519Recipient, X25519Recipient } from '../../providers/x25519.js';
import { RELEASE, stanzaFromJson, stanzaToJson, type StanzaJson } from '../../release/stanza.js';

/** The `type` of every annotation modelseal writes. */
export const LAYER_ANNOTATION_TYPE = 'modelseal/v1 ocicrypt-layer';

/** The annotation ocicrypt stores for the layer (JSON, then base64 in the image manifest). */
export interface LayerAnnotation {
  v: 1;
  type: typeof LAYER_ANNOTATION_TYPE;
  /** 32 random bytes, hex: the layer's "package id" in the release context and in the log. */
  package: string;
  /** "sha256:<hex>" of the private options: the "artifact" the service logs. */
  artifact: string;
  /** One release stanza per recipient, each wrapping the same data key for the service. */
  stanzas: StanzaJson[];
  /** The private options under the data key: nonce ‖ ciphertext ‖ tag, base64. */
  options: string;
}

/** What keywrap needs: who may have the key released, under which license, for which model. */
export interface LayerWrapOptions {
  recipients: readonly string[];
  license: string;
  /** "sha256:<hex>" the license covers; default: the artifact digest SHA-256(options). */
  model?: string;
}

/** What keyunwrap needs: a release identity, where the layer goes, and the log the receipt must verify under. */
export interface LayerUnwrapOptions {
  name: string;
  key: KeyObject;
  destination: string;
  logKey: NoteVerifier;
  /** Ask this service instead of the one recorded in the stanza. */
  server?: string;
  onReceipt?: (receipt: string, requestId: string) => void;
}

const POLICY = 'none';

function optionsAad(pkg: string, artifact: string): Uint8Array {
  return utf8.encode(`${LAYER_ANNOTATION_TYPE} options\n${pkg}\n${artifact}`);
}

function context(pkg: string, artifact: string, s: Pick<Stanza, 'recipient' | 'license' | 'model'>): ReleaseContext {
  return {
    packageId: fromHex(pkg, 'layer package id', 32),
    artifactDigest: fromHex(artifact.slice(7), 'layer artifact digest', 32),
    recipient: s.recipient,
    license: s.license,
    policy: POLICY,
    ...(s.model ? { model: s.model } : {}),
  };
}

/** Escrows `optsdata` to the release service for each recipient; returns the annotation's bytes. */
export async function wrapLayerOptions(optsdata: Uint8Array, o: LayerWrapOptions): Promise<Uint8Array> {
  const pkg = toHex(randomBytes(32));
  const artifact = `sha256:${createHash('sha256').update(optsdata).digest('hex')}`;
  const model = o.model && o.model !== artifact ? fromHex(o.model.slice(7), 'model digest', 32) : undefined;
  const dek = new Uint8Array(randomBytes(32));
  try {
    const stanzas: StanzaJson[] = [];
    for (const value of o.recipients) {
      const { service, recipient } = parseReleaseRecipient(value);
      const info = await serviceInfo(service);
      const r = new ReleaseRecipient(service, recipient, new X25519Recipient(parseX25519Recipient(info.wrap)));
      const terms = { recipient, license: o.license, ...(model ? { model } : {}) };
      const w = await r.wrapDataKey(dek, context(pkg, artifact, terms));
      stanzas.push(stanzaToJson({ type: RELEASE, ...terms, policy: POLICY, args: w.args, body: w.body }));
    }
    const options = Buffer.from(aeadWrap(dek, optsdata, optionsAad(pkg, artifact))).toString('base64');
    const annotation: LayerAnnotation = { v: 1, type: LAYER_ANNOTATION_TYPE, package: pkg, artifact, stanzas, options };
    return utf8.encode(JSON.stringify(annotation));
  } finally {
    dek.fill(0);
  }
}

function invalid(what: string): ModelsealError {
  return new ModelsealError(
    'LAYER_ANNOTATION_INVALID',
    `the layer's key annotation ${what}; it was not written by modelseal keyprovider, or was altered`,
  );
}

/** Parses an annotation modelseal wrote; LAYER_ANNOTATION_INVALID names what is wrong. */
export function parseLayerAnnotation(bytes: Uint8Array): LayerAnnotation {
  let a: Partial<LayerAnnotation> | null;
  try {
    a = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<LayerAnnotation> | null;
  } catch {
    throw invalid('is not JSON');
  }
  // A number or a string has no `type` either.
  if (a?.type !== LAYER_ANNOTATION_TYPE) throw invalid(`has no "type": ${LAYER_ANNOTATION_TYPE}`);
  if (a.v !== 1) throw invalid(`has version ${JSON.stringify(a.v)}, this build reads 1`);
  if (typeof a.package !== 'string' || !/^[0-9a-f]{64}$/.test(a.package)) throw invalid('has no package id');
  if (typeof a.artifact !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(a.artifact))
    throw invalid('has no artifact digest');
  if (typeof a.options !== 'string' || Buffer.from(a.options, 'base64').toString('base64') !== a.options)
    throw invalid('has no sealed options');
  if (!Array.isArray(a.stanzas) || a.stanzas.length === 0 || !a.stanzas.every(wellFormedStanza))
    throw invalid('has no well-formed release stanza');
  return a as LayerAnnotation;
}

function wellFormedStanza(s: unknown): s is StanzaJson {
  const j = s as Partial<StanzaJson> | null;
  return (
    typeof j === 'object' &&
    j !== null &&
    j.type === RELEASE &&
    typeof j.recipient === 'string' &&
    typeof j.license === 'string' &&
    j.policy === POLICY &&
    (j.model === undefined || (typeof j.model === 'string' && /^sha256:[0-9a-f]{64}$/.test(j.model))) &&
    j.classification === undefined &&
    Array.isArray(j.args) &&
    j.args.every((x) => typeof x === 'string') &&
    typeof j.body === 'string'
  );
}

/**
 * Asks the release service for the layer key as `o.name` and returns the private options.
 * Throws NO_MATCHING_IDENTITY when the layer was not escrowed for that recipient, RELEASE_DENIED
 * (logged by the service) when policy says no, DECRYPTION_FAILED when the released key does not
 * open the options to their digest.
 */
export async function unwrapLayerOptions(annotation: LayerAnnotation, o: LayerUnwrapOptions): Promise<Uint8Array> {
  const json = annotation.stanzas.find((s) => s.recipient === o.name);
  if (!json)
    throw new ModelsealError(
      'NO_MATCHING_IDENTITY',
      `this layer's key was escrowed for ${annotation.stanzas.map((s) => s.recipient).join(', ')}, ` +
        `not for ${o.name}; give that recipient's identity`,
    );
  const stanza = stanzaFromJson(json);
  const identity = new ReleaseIdentity(o);
  const dek = await identity.unwrapDataKey(stanza, context(annotation.package, annotation.artifact, stanza));
  if (!dek) throw new ModelsealError('NO_MATCHING_IDENTITY', `the stanza for ${o.name} is not a release stanza`);
  try {
    const sealed = new Uint8Array(Buffer.from(annotation.options, 'base64'));
    const opts = aeadUnwrap(dek, sealed, optionsAad(annotation.package, annotation.artifact));
    const digest = opts && `sha256:${createHash('sha256').update(opts).digest('hex')}`;
    if (!opts || digest !== annotation.artifact)
      throw new ModelsealError('DECRYPTION_FAILED', "the released key does not open the layer's key options");
    return opts;
  } finally {
    dek.fill(0);
  }
}
