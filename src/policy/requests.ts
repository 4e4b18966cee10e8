/**
 * The Cedar requests the service and the gateway ask (docs/POLICY.md, docs/GATE.md "Decisions"):
 * a release, and an inference call (action `Infer`), built to the schema of defaults.ts. An Infer
 * request carries every attribute of a release's context, so policies written for any action
 * validate and decide both; a call without a license runs under the empty license, held by no one
 * and never in force, so no permit can take it for a license.
 */
import type { CedarRequest } from './cedar.js';
import type { InferQuestion, License, RecipientAttributes, ReleaseQuestion } from './questions.js';

type Entity = CedarRequest['entities'][number];
const E = (type: string, id: string) => ({ type: `Modelseal::${type}`, id });
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** The empty license an Infer call without one runs under: its id and holder are names no license or recipient has. */
const NO_LICENSE: License = {
  id: '',
  holder: '',
  artifacts: [],
  destinations: [],
  notBefore: '1970-01-01T00:00:00Z',
  notAfter: '1970-01-01T00:00:00Z',
  maxReleases: 0,
};

function recipientEntity(r: Pick<RecipientAttributes, 'name' | 'org' | 'country' | 'nationality' | 'nationalities'>) {
  return {
    uid: E('Recipient', r.name),
    attrs: { org: r.org, country: r.country, nationality: r.nationality, nationalities: r.nationalities },
    parents: [],
  };
}

function licenseEntity(l: License, used: number) {
  return {
    uid: E('License', l.id),
    attrs: {
      holder: { __entity: E('Recipient', l.holder) },
      artifacts: l.artifacts,
      destinations: l.destinations,
      notBefore: seconds(l.notBefore),
      notAfter: seconds(l.notAfter),
      maxReleases: l.maxReleases,
      used,
      ...(l.nationalities && { nationalities: l.nationalities }),
      authorization: l.authorization ?? '',
      ...(l.tiers && { tiers: l.tiers }),
    },
    parents: [],
  };
}

/** What a release and an inference call share of their question. */
type Shared = Pick<ReleaseQuestion, 'recipient' | 'destination' | 'time' | 'screening' | 'observed' | 'classification'>;

/** The context attributes a release and an inference call share (their types are the same in both actions). */
function sharedContext(q: Shared, license: License, pkg: string, embargoes: ReadonlySet<string>) {
  return {
    license: { __entity: E('License', license.id) },
    destination: q.destination,
    time: Math.floor(q.time.getTime() / 1000),
    embargoed: embargoes.has(q.destination),
    screening: q.screening?.decision ?? 'clear',
    screeningLists: q.screening?.lists ?? [],
    listsStale: (q.screening?.stale.length ?? 0) > 0,
    screeningOverridden: q.screening?.overridden ?? false,
    nationalityEmbargoed: q.recipient.nationalities.some((n) => embargoes.has(n)),
    package: pkg,
    observedCountry: q.observed?.country ?? '',
    observedEmbargoed: embargoes.has(q.observed?.country ?? ''),
    observedNetwork: q.observed?.network ?? '',
    geoDatabase: q.observed?.database ?? '',
    geoAgeDays: q.observed?.ageDays ?? 0,
    geoStale: q.observed?.stale ?? false,
    classification: q.classification?.usEar ?? '',
    licenseRequired: q.classification?.licenseRequired ?? false,
    licenseRequiredObserved: q.classification?.licenseRequiredObserved ?? false,
    rulePacks: q.classification?.rulePacks ?? [],
  };
}

/** The Cedar question of a release, against the prepared policy set `prepared`. */
export function releaseRequest(q: ReleaseQuestion, embargoes: ReadonlySet<string>, prepared: string): CedarRequest {
  return {
    principal: E('Recipient', q.recipient.name),
    action: E('Action', 'release'),
    resource: E('Artifact', q.artifact),
    context: sharedContext(q, q.license, q.package, embargoes),
    preparsedSchemaName: prepared,
    preparsedPolicySetId: prepared,
    validateRequest: true,
    entities: [
      recipientEntity(q.recipient),
      { uid: E('Artifact', q.artifact), attrs: { digest: q.artifact, model: q.model ?? q.artifact }, parents: [] },
      licenseEntity(q.license, q.used),
    ],
  };
}

/** A parameter count as a Cedar Long (exact up to 2^53, which no model reaches). */
const long = (n: bigint) => Number(n > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : n);

/** The Cedar question of an inference call (action `Infer`), against the prepared policy set `prepared`. */
export function inferRequest(q: InferQuestion, embargoes: ReadonlySet<string>, prepared: string): CedarRequest {
  const license = q.license ?? NO_LICENSE;
  const entities: Entity[] = [
    recipientEntity(q.recipient),
    { uid: E('Artifact', q.model.digest), attrs: { digest: q.model.digest, model: q.model.digest }, parents: [] },
    licenseEntity(license, 0),
  ];
  if (!q.license)
    entities.push(recipientEntity({ name: '', org: '', country: '', nationality: '', nationalities: [] }));
  return {
    principal: E('Recipient', q.recipient.name),
    action: E('Action', 'Infer'),
    resource: E('Artifact', q.model.digest),
    context: {
      ...sharedContext(q, license, q.package ?? q.model.digest, embargoes),
      endpoint: q.endpoint,
      application: q.application,
      tier: q.model.tier,
      parameters: long(q.model.parameters),
      quotaUsed: Math.max(0, Math.round(q.quotaUsed)),
      risk: Math.max(0, Math.round(q.risk)),
    },
    preparsedSchemaName: prepared,
    preparsedPolicySetId: prepared,
    validateRequest: true,
    entities,
  };
}
