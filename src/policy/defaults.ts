/**
 * The policy files `modelseal serve` writes into a new data directory: the Cedar schema (fixed by
 * modelseal: it is what the service puts in each request), the named policies, and empty lists of
 * licenses and embargoed destinations for the operator to fill. docs/POLICY.md. Screening lists
 * live apart, under <data>/lists (src/compliance/lists).
 */

/** The release context's attributes, which Infer's context has too (docs/GATE.md, "Decisions"). */
const RELEASE_CONTEXT = `      license: License,
      destination: String,
      time: Long,
      embargoed: Bool,
      screening: String,
      screeningLists: Set<String>,
      listsStale: Bool,
      screeningOverridden: Bool,
      nationalityEmbargoed: Bool,
      package: String,
      observedCountry: String,
      observedEmbargoed: Bool,
      observedNetwork: String,
      geoDatabase: String,
      geoAgeDays: Long,
      geoStale: Bool,
      classification: String,
      licenseRequired: Bool,
      licenseRequiredObserved: Bool,
      rulePacks: Set<String>,
`;

export const SCHEMA = `// modelseal release schema (docs/POLICY.md). The service builds every request to this shape;
// policies are validated against it (strict mode) when loaded and by \`modelseal policy check\`.
// Two actions: release (a data key, src/server) and Infer (a call through \`modelseal gate\`,
// docs/GATE.md "Decisions"). Infer's context has every attribute of release's, with the same
// types, so a policy written for any action validates and applies to both.
namespace Modelseal {
  entity Recipient = { org: String, country: String, nationality: String, nationalities: Set<String> };
  entity Artifact = { digest: String, model: String };
  entity License = {
    holder: Recipient,
    artifacts: Set<String>,
    destinations: Set<String>,
    notBefore: Long,
    notAfter: Long,
    maxReleases: Long,
    used: Long,
    nationalities?: Set<String>,
    authorization: String,
    tiers?: Set<String>,
  };
  action release appliesTo {
    principal: Recipient,
    resource: Artifact,
    context: {
${RELEASE_CONTEXT}    },
  };
  action Infer appliesTo {
    principal: Recipient,
    resource: Artifact,
    context: {
${RELEASE_CONTEXT}      endpoint: String,
      application: String,
      tier: String,
      parameters: Long,
      quotaUsed: Long,
      risk: Long,
    },
  };
}
`;

// eslint-disable-next-line max-len -- the policy text is data (its bytes are its hash): not re-wrapped
export const POLICIES = `// Release policies (Cedar). Every policy needs an @id: the ids that decide a request are logged
// and returned as the reason. A request is released only when a permit applies and no forbid does.

@id("licensed-release")
permit (principal, action == Modelseal::Action::"release", resource)
when {
  context.license.holder == principal &&
  (context.license.artifacts.contains(resource.digest) || context.license.artifacts.contains(resource.model))
};

// Inference (docs/GATE.md, "Decisions"): a call through the gateway is allowed under a license in force
// that the caller holds for the served model; the forbids below apply to it as to a release.
@id("licensed-inference")
permit (principal, action == Modelseal::Action::"Infer", resource)
when {
  context.license.holder == principal &&
  (context.license.artifacts.contains(resource.digest) || context.license.artifacts.contains(resource.model)) &&
  context.time >= context.license.notBefore &&
  context.time < context.license.notAfter
};

@id("license-not-yet-valid")
forbid (principal, action, resource)
when { context.time < context.license.notBefore };

@id("license-expired")
forbid (principal, action, resource)
when { context.time >= context.license.notAfter };

// Releases only: an inference call is metered by the gateway's quotas, not counted against maxReleases.
@id("license-quota-used")
forbid (principal, action == Modelseal::Action::"release", resource)
when { context.license.used >= context.license.maxReleases };

@id("destination-not-licensed")
forbid (principal, action, resource)
unless { context.license.destinations.contains(context.destination) };

@id("embargoed-destination")
forbid (principal, action, resource)
when { context.embargoed };

// An override recorded at registration covers the parties it named, not new ones (docs/SERVER.md, "Screening").
@id("screening-hit")
forbid (principal, action, resource)
when { context.screening == "hit" && !context.screeningOverridden };

@id("screening-review")
forbid (principal, action, resource)
when { context.screening == "review" && !context.screeningOverridden };

// Remove this policy to release on lists past their maximum age (docs/POLICY.md, "Screening").
@id("screening-list-stale")
forbid (principal, action, resource)
when { context.listsStale };

// Deemed exports: releasing to a foreign national is an export to their country, wherever the weights go.
@id("deemed-export-embargoed")
forbid (principal, action, resource)
when { context.nationalityEmbargoed };

@id("deemed-export-not-licensed")
forbid (principal, action, resource)
when {
  context.license has nationalities &&
  !context.license.nationalities.containsAll(principal.nationalities)
};

// Geofencing (docs/GEOFENCING.md): where the request came from, located offline. Unknown ("") is allowed.
@id("observed-embargoed")
forbid (principal, action, resource)
when { context.observedEmbargoed };

@id("observed-destination-mismatch")
forbid (principal, action, resource)
when { context.observedCountry != "" && context.observedCountry != context.destination && !context.observedEmbargoed };

// Classification (docs/POLICY.md, "Classification"): the package's signed US-EAR classification needs a
// license for the destination (declared or observed) and the license record cites no authorization.
@id("license-required")
forbid (principal, action, resource)
when { (context.licenseRequired || context.licenseRequiredObserved) && context.license.authorization == "" };

// A call with no license for the model runs under the empty license (held by no one, never in force).
@id("no-license")
forbid (principal, action == Modelseal::Action::"Infer", resource)
unless {
  context.license.holder == principal &&
  (context.license.artifacts.contains(resource.digest) || context.license.artifacts.contains(resource.model))
};

// A license that names capability tiers covers calls to models of those tiers only (docs/GATE.md, "Tiers").
@id("tier-not-licensed")
forbid (principal, action == Modelseal::Action::"Infer", resource)
when { context.license has tiers && !context.license.tiers.contains(context.tier) };

// Extraction risk above 800 per mille (docs/GATE.md, "Extraction monitoring"): refused until a person has
// reviewed the caller (modelseal gate review). Remove this policy to only log the score.
@id("extraction-risk")
forbid (principal, action == Modelseal::Action::"Infer", resource)
when { context.risk > 800 };
`;

export const LICENSES_EXAMPLE = {
  licenses: [] as unknown[],
  // An entry looks like this (times in ISO 8601; artifacts are model root digests, each covering
  // every fingerprinted copy sealed from that model):
  example: {
    id: 'EAR-2026-0042',
    holder: 'acme-labs',
    artifacts: ['sha256:…'],
    destinations: ['DE', 'FR'],
    notBefore: '2026-01-01T00:00:00Z',
    notAfter: '2027-01-01T00:00:00Z',
    maxReleases: 10,
    // Optional: the nationalities the license covers (deemed exports); without it, any not embargoed.
    nationalities: ['DE', 'FR'],
    // Optional: the export authorization the license rests on (a BIS license number or a license
    // exception such as "AIA"); a package whose classification needs a license is released only with one.
    authorization: 'BIS license D123456',
    // Optional: the capability tiers (docs/GATE.md, "Tiers") of the models it lets the holder call
    // through \`modelseal gate\`; without it, every tier.
    tiers: ['general'],
  },
};

/** Destinations (ISO 3166 alpha-2) to which nothing is released, whatever the license says. */
export const EMBARGOES = { destinations: ['CU', 'IR', 'KP', 'SY'] };
