/**
 * The release stanza (docs/FORMAT.md, docs/SERVER.md): type "release", recipient = the registered
 * recipient, args [service URL, inner type, inner recipient id, ...inner args], body = the inner
 * wrap made for the service's own key; and a stanza as JSON, as it travels in a request.
 */
import { fromHex, toHex } from '../format/encoding.js';
import type { ClassificationSummary } from '../format/classification-json.js';
import type { Stanza } from '../format/header.js';

/** The stanza type of the release provider. */
export const RELEASE = 'release';

/** A stanza as JSON: the body in base64. */
export interface StanzaJson {
  type: string;
  recipient: string;
  license: string;
  policy: string;
  /** The original model ("sha256:…") a fingerprinted copy was marked from, when the stanza names it. */
  model?: string;
  /** The package's classification summary, when its release stanza binds one (docs/FORMAT.md §5). */
  classification?: ClassificationSummary;
  args: string[];
  body: string;
}

/** The fields a stanza has in both forms, picked one by one: the JSON form is signed, so no stray field may slip in. */
function common(s: Stanza | StanzaJson) {
  const c = s.classification;
  return {
    type: s.type,
    recipient: s.recipient,
    license: s.license,
    policy: s.policy,
    ...(c ? { classification: { record: c.record, usEar: c.usEar, rulePacks: [...c.rulePacks] } } : {}),
    args: [...s.args],
  };
}

/** A stanza as it travels in a release request. */
export function stanzaToJson(s: Stanza): StanzaJson {
  const model = s.model ? { model: `sha256:${toHex(s.model)}` } : {};
  return { ...common(s), ...model, body: Buffer.from(s.body).toString('base64') };
}

/** The stanza of a release request (its `model`, when given, checked well formed by the caller). */
export function stanzaFromJson(s: StanzaJson): Stanza {
  const model = s.model !== undefined ? { model: fromHex(s.model.slice(7), 'stanza model', 32) } : {};
  return { ...common(s), ...model, body: new Uint8Array(Buffer.from(s.body, 'base64')) };
}

/** The args of a release stanza around the inner wrap for the service's key. */
export function releaseStanzaArgs(service: string, innerType: string, innerId: string, innerArgs: string[]): string[] {
  return [service, innerType, innerId, ...innerArgs];
}

/** The stanza the service's own key wrote, inside a release stanza (for the service to unwrap). */
export function innerStanza(s: Stanza): Stanza | null {
  if (s.type !== RELEASE || s.args.length < 3) return null;
  return {
    type: s.args[1]!,
    recipient: s.args[2]!,
    license: s.license,
    policy: s.policy,
    ...(s.model ? { model: s.model } : {}),
    ...(s.classification ? { classification: s.classification } : {}),
    args: s.args.slice(3),
    body: s.body,
  };
}
