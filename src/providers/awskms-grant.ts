/**
 * KMS grants bound to one aws-kms stanza: the grantee may use the key only with exactly that
 * stanza's EncryptionContext (package, artifact, recipient, license, policy), which KMS enforces
 * (`Constraints.EncryptionContextEquals`) and CloudTrail records. docs/PROVIDERS.md, "Grants".
 */
import { ModelsealError } from '../errors.js';
import type { Stanza } from '../format/header.js';
import { AWS_KMS, kmsClient, kmsError, type AwsKmsOptions, type KmsClient } from './awskms-client.js';
import { contextFor, releaseContextFields } from './types.js';

export { KMS_GRANT_OPERATIONS, type KmsGrantOperation } from './awskms-client.js';
import type { KmsGrantOperation } from './awskms-client.js';

/** What a grant is made for: one stanza's key and the exact EncryptionContext its ciphertext is bound to. */
export interface StanzaGrantTarget {
  keyArn: string;
  recipient: string;
  license: string;
  context: Record<string, string>;
}

/** A grant KMS made. */
export interface KmsGrant extends StanzaGrantTarget {
  grantId: string;
  grantee: string;
  operations: KmsGrantOperation[];
  name: string;
}

/** The aws-kms stanzas of a package header with their key and EncryptionContext (optionally only `recipient`'s). */
export function grantTargets(
  header: { packageId: Uint8Array; model: { rootDigest: Uint8Array }; stanzas: readonly Stanza[] },
  recipient?: string,
): StanzaGrantTarget[] {
  const prefix = `${AWS_KMS}:`;
  return header.stanzas
    .filter((s) => s.type === AWS_KMS && s.recipient.startsWith(prefix))
    .filter((s) => recipient === undefined || s.recipient === recipient || s.recipient === prefix + recipient)
    .map((s) => ({
      keyArn: s.recipient.slice(prefix.length),
      recipient: s.recipient,
      license: s.license,
      context: releaseContextFields(contextFor(header, s)),
    }));
}

/** KMS grant names: 1–256 of [a-zA-Z0-9:/_-]. Names the package (hex id prefix) and the license. */
export function grantName(packageHex: string, license: string): string {
  return `modelseal-${packageHex.slice(0, 32)}-${license.replace(/[^a-zA-Z0-9:/_-]/g, '_')}`.slice(0, 256);
}

/** A grant as ListGrants returns it. */
export type ListedGrant = NonNullable<Awaited<ReturnType<NonNullable<KmsClient['listGrants']>>>['Grants']>[number];

type GrantClient = KmsClient & Required<Pick<KmsClient, 'createGrant' | 'listGrants' | 'revokeGrant'>>;

/** `client`, checked to make grants. */
function grantCalls(client: KmsClient): GrantClient {
  if (!client.createGrant || !client.listGrants || !client.revokeGrant)
    throw new ModelsealError(
      'PROVIDER_UNAVAILABLE',
      'the KMS client given cannot create, list or revoke grants; ' +
        'pass one with createGrant, listGrants and revokeGrant',
    );
  return client as GrantClient;
}

/** Creates a grant on `target`'s key for `grantee`, constrained to exactly its EncryptionContext. */
export async function createStanzaGrant(
  target: StanzaGrantTarget,
  grantee: string,
  operations: KmsGrantOperation[],
  name: string,
  opts: AwsKmsOptions = {},
): Promise<KmsGrant> {
  const calls = grantCalls(await kmsClient(opts));
  let grantId: string | undefined;
  try {
    grantId = (
      await calls.createGrant({
        KeyId: target.keyArn,
        GranteePrincipal: grantee,
        Operations: operations,
        Constraints: { EncryptionContextEquals: target.context },
        Name: name,
      })
    ).GrantId;
  } catch (e) {
    throw kmsError(e, 'CreateGrant', target.keyArn);
  }
  if (!grantId)
    throw new ModelsealError('PROVIDER_UNAVAILABLE', `AWS KMS CreateGrant on ${target.keyArn}: no grant id`);
  return { ...target, grantId, grantee, operations, name };
}

/** Revokes a grant: it stops working (within KMS's eventual consistency). */
export async function revokeStanzaGrant(keyArn: string, grantId: string, opts: AwsKmsOptions = {}): Promise<void> {
  try {
    await grantCalls(await kmsClient(opts)).revokeGrant({ KeyId: keyArn, GrantId: grantId });
  } catch (e) {
    throw kmsError(e, 'RevokeGrant', keyArn);
  }
}

/** The grants on `keyArn` as KMS lists them (every page). */
export async function listKeyGrants(keyArn: string, opts: AwsKmsOptions = {}): Promise<ListedGrant[]> {
  const calls = grantCalls(await kmsClient(opts));
  const out = [];
  let marker: string | undefined;
  try {
    do {
      const r = await calls.listGrants({ KeyId: keyArn, ...(marker ? { Marker: marker } : {}) });
      out.push(...(r.Grants ?? []));
      marker = r.Truncated ? r.NextMarker : undefined;
    } while (marker);
  } catch (e) {
    throw kmsError(e, 'ListGrants', keyArn);
  }
  return out;
}
