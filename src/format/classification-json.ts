/**
 * The classification record as the header holds it (docs/FORMAT.md §Classification): canonical JSON
 * (the key order below IS the canonical order), parsed strictly so a signed header re-encodes to its
 * own bytes, and the summary a release stanza binds into its wrap (docs/FORMAT.md §5).
 */
import { ModelsealError } from '../errors.js';
import type { ClassificationRecord, Determination, ModelFacts, TrainingCompute } from './classification.js';

/** What a release stanza binds of the record: its digest and the fields the release policy reads. */
export interface ClassificationSummary {
  /** "sha256:<hex>" of the record's canonical JSON. */
  record: string;
  /** The US-EAR classification ("4E091", "not-listed", …), "" when no US-EAR determination was made. */
  usEar: string;
  /** The rule packs consulted, "<id>@<date>". */
  rulePacks: string[];
}

type Json = Record<string, unknown>;
const bad = (m: string) => new ModelsealError('MALFORMED_PACKAGE', `header: classification: ${m}`);

function obj(v: unknown, what: string, keys: readonly string[]): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what} must be an object`);
  const got = Object.keys(v);
  if (got.length !== keys.length || !keys.every((k) => k in v))
    throw bad(`${what} must have exactly ${keys.join(', ')}`);
  return v as Json;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length > 4096) throw bad(`${what} must be a string of at most 4096 characters`);
  return v;
}
function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${what} must be a non-negative integer`);
  return v;
}
function strs(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length > 256) throw bad(`${what} must be a list of at most 256 strings`);
  return v.map((x, i) => str(x, `${what}[${i}]`));
}
function oneOf<T extends string>(v: unknown, what: string, values: readonly T[]): T {
  if (!values.includes(v as T)) throw bad(`${what} must be one of ${values.join(', ')}`);
  return v as T;
}

/** The canonical JSON value of a record, with every field in its fixed order. */
export function classificationJson(c: ClassificationRecord): Json {
  const f = c.facts;
  const t = f.trainingCompute;
  return {
    v: c.v,
    time: c.time,
    facts: {
      parameters: f.parameters,
      tensors: f.tensors,
      dtypes: Object.fromEntries(
        Object.keys(f.dtypes)
          .sort()
          .map((k) => [k, f.dtypes[k]]),
      ),
      format: f.format,
      architecture: f.architecture,
      configParameters: f.configParameters,
      trainingCompute: t ? { flops: t.flops, method: t.method, tokens: t.tokens } : null,
      weights: f.weights,
    },
    destination: c.destination,
    rulePacks: [...c.rulePacks],
    determinations: c.determinations.map((d) => ({
      regime: d.regime,
      rulePack: d.rulePack,
      classification: d.classification,
      status: d.status,
      citations: [...d.citations],
      reasons: [...d.reasons],
      licenseRequired: d.licenseRequired,
      licenseExceptions: [...d.licenseExceptions],
    })),
  };
}

function computeFromJson(v: unknown): TrainingCompute | null {
  if (v === null) return null;
  const t = obj(v, 'facts.trainingCompute', ['flops', 'method', 'tokens']);
  return {
    flops: str(t.flops, 'trainingCompute.flops'),
    method: oneOf(t.method, 'trainingCompute.method', ['declared', '6ND'] as const),
    tokens: t.tokens === null ? null : str(t.tokens, 'trainingCompute.tokens'),
  };
}

function factsFromJson(v: unknown): ModelFacts {
  const f = obj(v, 'facts', [
    'parameters',
    'tensors',
    'dtypes',
    'format',
    'architecture',
    'configParameters',
    'trainingCompute',
    'weights',
  ]);
  const dtypes = obj(f.dtypes, 'facts.dtypes', Object.keys(f.dtypes ?? {}));
  const arch = f.architecture;
  if (arch !== null && (typeof arch !== 'object' || Array.isArray(arch)))
    throw bad('facts.architecture: object or null');
  return {
    parameters: int(f.parameters, 'facts.parameters'),
    tensors: int(f.tensors, 'facts.tensors'),
    dtypes: Object.fromEntries(Object.entries(dtypes).map(([k, n]) => [str(k, 'dtype'), int(n, `facts.dtypes.${k}`)])),
    format: oneOf(f.format, 'facts.format', ['safetensors', 'gguf'] as const),
    architecture: arch as Record<string, unknown> | null,
    configParameters: f.configParameters === null ? null : int(f.configParameters, 'facts.configParameters'),
    trainingCompute: computeFromJson(f.trainingCompute),
    weights: oneOf(f.weights, 'facts.weights', ['open', 'closed', 'unknown'] as const),
  };
}

function determinationFromJson(v: unknown, i: number): Determination {
  const w = `determinations[${i}]`;
  const d = obj(v, w, [
    'regime',
    'rulePack',
    'classification',
    'status',
    'citations',
    'reasons',
    'licenseRequired',
    'licenseExceptions',
  ]);
  if (d.licenseRequired !== null && typeof d.licenseRequired !== 'boolean') throw bad(`${w}.licenseRequired`);
  return {
    regime: oneOf(d.regime, `${w}.regime`, ['US-EAR', 'EU-dual-use', 'EU-AI-Act'] as const),
    rulePack: str(d.rulePack, `${w}.rulePack`),
    classification: str(d.classification, `${w}.classification`),
    status: str(d.status, `${w}.status`),
    citations: strs(d.citations, `${w}.citations`),
    reasons: strs(d.reasons, `${w}.reasons`),
    licenseRequired: d.licenseRequired,
    licenseExceptions: strs(d.licenseExceptions, `${w}.licenseExceptions`),
  };
}

/** Parses the header's `classification` (MALFORMED_PACKAGE on any stray or missing field). */
export function classificationFromJson(v: unknown): ClassificationRecord {
  const c = obj(v, 'classification', ['v', 'time', 'facts', 'destination', 'rulePacks', 'determinations']);
  if (c.v !== 1 && c.v !== 2) throw bad('v must be 2 (or 1, for records sealed before version 2)');
  const dets = c.determinations;
  if (!Array.isArray(dets) || dets.length > 64) throw bad('determinations must be a list of at most 64');
  return {
    v: c.v,
    time: str(c.time, 'time'),
    facts: factsFromJson(c.facts),
    destination: c.destination === null ? null : str(c.destination, 'destination'),
    rulePacks: strs(c.rulePacks, 'rulePacks'),
    determinations: dets.map(determinationFromJson),
  };
}

/** What a well-formed classification summary is, for error messages. */
export const SUMMARY_RULE =
  'expected {record: "sha256:<64 hex>", usEar: at most 64 printable characters, rulePacks: at most 16 ids of ' +
  '1-128 printable characters without spaces or commas}';

/** A classification summary (a stanza's, or a request's) checked field by field; null when ill-formed. */
export function summaryFromUnknown(v: unknown): ClassificationSummary | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const c = v as Record<string, unknown>;
  const keys = Object.keys(c);
  if (keys.length !== 3 || !['record', 'usEar', 'rulePacks'].every((k) => k in c)) return null;
  if (typeof c.record !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(c.record)) return null;
  if (typeof c.usEar !== 'string' || !/^[\x20-\x7e]{0,64}$/.test(c.usEar)) return null;
  const packs = c.rulePacks;
  if (!Array.isArray(packs) || packs.length > 16) return null;
  if (!packs.every((p) => typeof p === 'string' && /^[\x21-\x2b\x2d-\x7e]{1,128}$/.test(p))) return null;
  return { record: c.record, usEar: c.usEar, rulePacks: [...(packs as string[])] };
}
