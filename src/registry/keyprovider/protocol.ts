/**
 * The ocicrypt keyprovider protocol (containers/ocicrypt docs/keyprovider.md and
 * keywrap/keyprovider): one JSON request on stdin, one JSON answer on stdout. Go's `[]byte` fields
 * travel as standard base64; EncryptConfig/DecryptConfig `Parameters` map a provider name to a
 * list of such byte strings. Pure functions over text: no I/O, no keys.
 */
import { ModelsealError } from '../../errors.js';

/** The largest request read: ocicrypt's configs carry a few keys and certificates at most. */
export const MAX_REQUEST_BYTES = 4 << 20;

/** A keywrap request: the layer's private options to escrow, and the parameters under our provider name. */
export interface KeyWrapRequest {
  op: 'keywrap';
  optsdata: Uint8Array;
  params: string[];
}

/** A keyunwrap request: the annotation a keywrap answered, and the parameters under our provider name. */
export interface KeyUnwrapRequest {
  op: 'keyunwrap';
  annotation: Uint8Array;
  params: string[];
}

export type KeyProviderRequest = KeyWrapRequest | KeyUnwrapRequest;

function bad(message: string): ModelsealError {
  return new ModelsealError('KEYPROVIDER_REQUEST', `keyprovider request: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Decodes a Go `[]byte` as encoding/json writes it: canonical standard base64 with padding. */
function goBytes(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string') throw bad(`${what} must be a base64 string`);
  const bytes = Buffer.from(v, 'base64');
  if (bytes.toString('base64') !== v) throw bad(`${what} is not standard base64`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The values ocicrypt passes under `provider` in a config's Parameters (null or absent: none). */
function providerParams(config: unknown, provider: string, what: string): string[] {
  if (config === null || config === undefined) return [];
  if (!isObject(config)) throw bad(`${what} must be an object`);
  const params = config.Parameters;
  if (params === null || params === undefined) return [];
  if (!isObject(params)) throw bad(`${what}.Parameters must be an object`);
  const mine = params[provider];
  if (mine === null || mine === undefined) return [];
  if (!Array.isArray(mine)) throw bad(`${what}.Parameters.${provider} must be a list of base64 strings`);
  return mine.map((v, i) => {
    const text = Buffer.from(goBytes(v, `${what}.Parameters.${provider}[${i}]`)).toString('utf8');
    if (!/^[\x20-\x7e]{1,2048}$/.test(text)) throw bad(`${what}.Parameters.${provider}[${i}] is not printable text`);
    return text;
  });
}

/**
 * Parses one request as ocicrypt sends it to a `cmd` key provider; `provider` is the name the
 * ocicrypt config gives us (the key of its `key-providers` entry). Throws KEYPROVIDER_REQUEST
 * naming the field.
 */
export function parseKeyProviderRequest(input: Uint8Array, provider: string): KeyProviderRequest {
  if (input.length > MAX_REQUEST_BYTES) throw bad(`larger than ${MAX_REQUEST_BYTES} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(input).toString('utf8'));
  } catch {
    throw bad('stdin is not JSON; ocicrypt sends {"op": "keywrap" | "keyunwrap", ...}');
  }
  if (!isObject(body)) throw bad('expected a JSON object');
  if (body.op === 'keywrap') {
    const p = body.keywrapparams;
    if (!isObject(p)) throw bad('"keywrapparams" is missing');
    const optsdata = goBytes(p.optsdata, 'keywrapparams.optsdata');
    if (optsdata.length === 0) throw bad('keywrapparams.optsdata is empty');
    // The encrypt config's own decrypt config is not ours to read: only the wrap parameters count.
    return { op: 'keywrap', optsdata, params: providerParams(p.ec, provider, 'keywrapparams.ec') };
  }
  if (body.op === 'keyunwrap') {
    const p = body.keyunwrapparams;
    if (!isObject(p)) throw bad('"keyunwrapparams" is missing');
    const annotation = goBytes(p.annotation, 'keyunwrapparams.annotation');
    if (annotation.length === 0) throw bad('keyunwrapparams.annotation is empty');
    return { op: 'keyunwrap', annotation, params: providerParams(p.dc, provider, 'keyunwrapparams.dc') };
  }
  throw bad(`"op" must be "keywrap" or "keyunwrap", got ${JSON.stringify(body.op ?? null).slice(0, 40)}`);
}

/** The answer to a keywrap: the annotation ocicrypt stores (base64 in JSON, as Go's []byte). */
export function keyWrapAnswer(annotation: Uint8Array): string {
  return JSON.stringify({ keywrapresults: { annotation: Buffer.from(annotation).toString('base64') } });
}

/** The answer to a keyunwrap: the layer's private options, back to ocicrypt. */
export function keyUnwrapAnswer(optsdata: Uint8Array): string {
  return JSON.stringify({ keyunwrapresults: { optsdata: Buffer.from(optsdata).toString('base64') } });
}

/** What the parameter values (and the command's own options) say; later values do not override earlier ones. */
export interface LayerKeyParams {
  /** `release:<service URL>#<recipient>`: who may have the layer key released. */
  recipients: string[];
  license?: string;
  /** `model=sha256:<hex>`: the model the license covers, that the layer carries. */
  model?: string;
  /** `destination=<CC>`: where the layer is decrypted, for the release request. */
  destination?: string;
}

/**
 * Reads parameter values: `release:<url>#<recipient>` (repeatable), `license=<id>`,
 * `model=sha256:<hex>`, `destination=<CC>`; "Enabled" (what ocicrypt passes for a bare
 * `provider:<name>`) is ignored. Throws KEYPROVIDER_REQUEST for anything else.
 */
export function parseLayerKeyParams(values: readonly string[]): LayerKeyParams {
  const out: LayerKeyParams = { recipients: [] };
  const once = (key: 'license' | 'model' | 'destination', v: string) => {
    if (out[key] !== undefined && out[key] !== v) throw bad(`two values for ${key}: ${out[key]} and ${v}`);
    out[key] = v;
  };
  for (const v of values) {
    if (v === 'Enabled') continue;
    if (v.startsWith('release:')) out.recipients.push(v);
    else if (/^license=[\x21-\x7e]{1,512}$/.test(v)) once('license', v.slice(8));
    else if (/^model=sha256:[0-9a-f]{64}$/.test(v)) once('model', v.slice(6));
    else if (/^destination=[A-Z]{2}$/.test(v)) once('destination', v.slice(12));
    else
      throw bad(
        `unknown parameter ${JSON.stringify(v.slice(0, 80))}; expected release:<service URL>#<recipient>, ` +
          'license=<id>, model=sha256:<hex> or destination=<CC>',
      );
  }
  return out;
}
