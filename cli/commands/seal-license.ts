/**
 * `seal --license X` for recipients of a release service: the service is asked whether license X
 * covers each of them, the destinations (--destination) and, once its root digest is known, the
 * model, before the package is written (docs/POLICY.md "Licenses", docs/API.md).
 */
import {
  isModelsealError,
  ModelsealError,
  ReleaseRecipient,
  requireLicense,
  type Publisher,
  type Recipient,
  type SealResult,
} from '../../src/index.js';
import { say, warn, type GlobalOptions } from '../util.js';

/** What seal's flags say about the license check. */
export interface LicenseCheckFlags {
  license: string;
  destination: string[];
  /** false with --no-license-check. */
  licenseCheck: boolean;
}

/** The checks a seal makes: one before sealing, one with the model before the package is written. */
export interface LicenseChecks {
  /** Before sealing: the license exists, covers each recipient and destination, and is in force. */
  before(): Promise<void>;
  /** Once the root digest is known (seal's beforeCommit): the license names the model too. */
  model(result: SealResult): Promise<void>;
}

/** --destination values as ISO 3166 alpha-2 codes. */
export function parseDestinations(values: readonly string[]): string[] {
  const out = values.flatMap((v) => v.split(',')).map((d) => d.trim().toUpperCase());
  const bad = out.find((d) => !/^[A-Z]{2}$/.test(d));
  if (bad !== undefined)
    throw new ModelsealError('INVALID_ARGUMENT', `--destination ${bad}: expected an ISO 3166 alpha-2 code such as DE`);
  return [...new Set(out)];
}

/**
 * The license checks for the release-service recipients among `recipients`; none when there are
 * none, the license is "none", or --no-license-check (then with a warning on stderr).
 */
export function licenseChecks(
  g: GlobalOptions,
  o: LicenseCheckFlags,
  recipients: readonly Recipient[],
  publisher: Publisher,
): LicenseChecks | undefined {
  const destinations = parseDestinations(o.destination);
  const released = recipients.filter((r): r is ReleaseRecipient => r instanceof ReleaseRecipient);
  if (released.length === 0 || o.license === 'none') {
    if (destinations.length > 0)
      throw new ModelsealError(
        'INVALID_ARGUMENT',
        '--destination is checked against the license of a release service: give --license and a release: recipient',
      );
    return undefined;
  }
  if (!o.licenseCheck) {
    warn(
      `--no-license-check: license ${o.license} was not checked with ${released[0]!.service}; ` +
        'the recipient cannot open the package until the service holds a license that covers it',
    );
    return undefined;
  }
  const ask = async (model?: string) => {
    for (const r of released) {
      const check = { license: o.license, holder: r.id, destinations, ...(model ? { model } : {}) };
      const answer = await requireLicense(r.service, check, publisher.signer).catch((e: unknown) => {
        if (!isModelsealError(e, 'PROVIDER_UNAVAILABLE')) throw e;
        throw new ModelsealError(
          'PROVIDER_UNAVAILABLE',
          `${e.message}; license ${o.license} could not be checked: retry, or seal ahead of it with --no-license-check`,
          { cause: e },
        );
      });
      // The quota is informational: releases are counted when the recipient asks, not now.
      const t = answer.terms;
      if (model && t)
        say(
          g,
          `license ${o.license} covers ${r.id} (${t.used} of ${t.maxReleases} releases used, until ${t.notAfter})`,
        );
    }
  };
  return {
    before: () => ask(),
    // A fingerprinted copy is covered by a license naming the model it was marked from.
    model: (result) => ask(result.fingerprint?.record.original ?? result.model.rootDigest),
  };
}
