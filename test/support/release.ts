/** Hand-made release requests, for tests that need what a well-behaved client never sends (or many of them). */
import { randomBytes, type KeyObject } from 'node:crypto';
import { toB64 } from '../../src/format/encoding.js';
import { readHead } from '../../src/package/head.js';
import { signRequest, type ReleaseRequest } from '../../src/release/request.js';
import { newEphemeral } from '../../src/release/response.js';
import { stanzaToJson } from '../../src/release/stanza.js';

/** A signed request for the first stanza of `pkg`, as recipient `name`, signed with `key`. */
export async function signedRequest(
  pkg: string,
  name: string,
  key: KeyObject,
  edit: (r: ReleaseRequest) => void = () => {},
) {
  const h = (await readHead(pkg)).parsed.header;
  const eph = newEphemeral();
  const request: ReleaseRequest = {
    v: 1,
    package: Buffer.from(h.packageId).toString('hex'),
    artifact: `sha256:${Buffer.from(h.model.rootDigest).toString('hex')}`,
    stanza: stanzaToJson(h.stanzas[0]!),
    ephemeral: eph.public,
    nonce: toB64(randomBytes(16)),
    time: new Date().toISOString(),
    destination: 'DE',
    recipient: name,
  };
  edit(request);
  return { body: { request, signature: signRequest(request, key) }, ephemeral: eph };
}
