/**
 * The policy files `modelseal serve` writes into a new data directory: the Cedar schema (fixed by
 * modelseal: it is what the service puts in each request), the named policies, and empty lists of
 * licenses, embargoed destinations and denied parties for the operator to fill. docs/POLICY.md.
 */

export const SCHEMA = `// modelseal release schema (docs/POLICY.md). The service builds every request to this shape;
// policies are validated against it (strict mode) when loaded and by \`modelseal policy check\`.
namespace Modelseal {
  entity Recipient = { org: String, country: String, nationality: String };
  entity Artifact = { digest: String, model: String };
  entity License = {
    holder: Recipient,
    artifacts: Set<String>,
    destinations: Set<String>,
    notBefore: Long,
    notAfter: Long,
    maxReleases: Long,
    used: Long,
  };
  action release appliesTo {
    principal: Recipient,
    resource: Artifact,
    context: {
      license: License,
      destination: String,
      time: Long,
      embargoed: Bool,
      screening: String,
      package: String,
      observedCountry: String,
      observedEmbargoed: Bool,
      observedNetwork: String,
      geoDatabase: String,
      geoAgeDays: Long,
      geoStale: Bool,
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

@id("license-not-yet-valid")
forbid (principal, action, resource)
when { context.time < context.license.notBefore };

@id("license-expired")
forbid (principal, action, resource)
when { context.time >= context.license.notAfter };

@id("license-quota-used")
forbid (principal, action, resource)
when { context.license.used >= context.license.maxReleases };

@id("destination-not-licensed")
forbid (principal, action, resource)
unless { context.license.destinations.contains(context.destination) };

@id("embargoed-destination")
forbid (principal, action, resource)
when { context.embargoed };

@id("screening-hit")
forbid (principal, action, resource)
when { context.screening != "clear" };

// Geofencing (docs/GEOFENCING.md): where the request came from, located offline. Unknown ("") is allowed.
@id("observed-embargoed")
forbid (principal, action, resource)
when { context.observedEmbargoed };

@id("observed-destination-mismatch")
forbid (principal, action, resource)
when { context.observedCountry != "" && context.observedCountry != context.destination && !context.observedEmbargoed };
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
  },
};

/** Destinations (ISO 3166 alpha-2) to which nothing is released, whatever the license says. */
export const EMBARGOES = { destinations: ['CU', 'IR', 'KP', 'SY'] };

/** Denied parties: a recipient whose name or organisation matches one (case-insensitive) fails screening. */
export const DENIED_PARTIES = { parties: [] as string[] };
