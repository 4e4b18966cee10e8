/**
 * The release wire protocol (src/release/, docs/API.md): request bytes, ids and signatures, the
 * data key wrapped to the requester's ephemeral key, signed export batches and receipt checks.
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyMessage } from '../../src/crypto/signer.js';
import { isModelsealError } from '../../src/errors.js';
import { newPublisherKey } from '../../src/keystore/keystore.js';
import { encodeEvent, exportEvents, type ExportEvent, type ReleaseEvent } from '../../src/log/events.js';
import { FileStore } from '../../src/log/filestore.js';
import { TransparencyLog } from '../../src/log/log.js';
import { NoteSigner, parseVerifierKey } from '../../src/log/note.js';
import { exportBytes, signExports } from '../../src/release/exports.js';
import { checkExportReceipts, checkReleaseReceipt } from '../../src/release/receipt.js';
import { requestBytes, requestId, signRequest, verifyRequest, type ReleaseRequest } from '../../src/release/request.js';
import { newEphemeral, unwrapFromService, wrapForRequester } from '../../src/release/response.js';
import { innerStanza, releaseStanzaArgs, stanzaFromJson, stanzaToJson } from '../../src/release/stanza.js';
import type { Stanza } from '../../src/format/header.js';
import { tempDir } from '../support/fixtures.js';

const stanza: Stanza = {
  type: 'release',
  recipient: 'acme-labs',
  license: 'EAR-1',
  policy: 'none',
  args: releaseStanzaArgs('http://127.0.0.1:7411', 'x25519', 'x25519:abc', ['eph']),
  body: new Uint8Array([1, 2, 3]),
};

const request = (over: Partial<ReleaseRequest> = {}): ReleaseRequest => ({
  v: 1,
  package: '00'.repeat(32),
  artifact: `sha256:${'11'.repeat(32)}`,
  stanza: stanzaToJson(stanza),
  ephemeral: newEphemeral().public,
  nonce: 'AAAAAAAAAAAAAAAAAAAAAA',
  time: '2026-12-05T10:00:00.000Z',
  destination: 'DE',
  recipient: 'acme-labs',
  ...over,
});

describe('release stanzas', () => {
  it('round-trip through JSON, and the inner stanza is the one the service key wrote', () => {
    expect(stanzaFromJson(stanzaToJson(stanza))).toEqual(stanza);
    expect(stanzaToJson(stanza).body).toBe('AQID');
    expect(innerStanza(stanza)).toEqual({ ...stanza, type: 'x25519', recipient: 'x25519:abc', args: ['eph'] });
    expect(innerStanza({ ...stanza, type: 'x25519' })).toBeNull();
  });
});

describe('release requests', () => {
  it('sign canonical bytes: a domain line, then the request with its keys sorted', () => {
    const r = request();
    const text = requestBytes(r).toString('utf8');
    expect(text.startsWith('modelseal/v1 release-request\n{"artifact":')).toBe(true);
    expect(requestBytes({ ...r })).toEqual(requestBytes(Object.fromEntries(Object.entries(r).reverse()) as never));
    expect(requestId(r)).toMatch(/^[0-9a-f]{32}$/);
    expect(requestId(request({ destination: 'FR' }))).not.toBe(requestId(r));
  });

  for (const type of ['ed25519', 'ec', 'rsa'] as const) {
    it(`verify under the signer's ${type} key only, and not once changed`, () => {
      const { privateKey, publicKey } =
        type === 'ec'
          ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
          : type === 'rsa'
            ? generateKeyPairSync('rsa', { modulusLength: 2048 })
            : generateKeyPairSync('ed25519');
      const other = generateKeyPairSync('ed25519').publicKey;
      const r = request();
      const sig = signRequest(r, privateKey);
      expect(verifyRequest(r, sig, publicKey)).toBe(true);
      expect(verifyRequest(request({ destination: 'FR' }), sig, publicKey)).toBe(false);
      expect(verifyRequest(r, sig, other)).toBe(false);
      expect(verifyRequest(r, 'not base64 at all', publicKey)).toBe(false);
    });
  }
});

describe('the released key', () => {
  it('reaches the requester that made the ephemeral key, for that request id only', () => {
    const dek = new Uint8Array(32).fill(7);
    const eph = newEphemeral();
    const answer = wrapForRequester(dek, eph.public, 'request-1');
    expect(unwrapFromService(answer, eph, 'request-1')).toEqual(dek);
    expect(unwrapFromService(answer, eph, 'request-2')).toBeNull();
    expect(unwrapFromService(answer, newEphemeral(), 'request-1')).toBeNull();
    expect(unwrapFromService({ ...answer, wrapped: answer.wrapped.slice(4) }, eph, 'request-1')).toBeNull();
  });
});

describe('export batches', () => {
  it('are signed by the publisher over their canonical bytes', async () => {
    const { publisher } = newPublisherKey();
    const events = exportEvents({
      packageId: 'ab'.repeat(32),
      model: { name: 'm', rootDigest: `sha256:${'22'.repeat(32)}` },
      recipients: [{ recipient: 'local:0011223344556677', type: 'local', license: 'L', policy: 'none' }],
      signer: 'sha256:x',
    });
    const sub = await signExports(events, publisher.signer);
    expect(Buffer.from(sub.publisher, 'base64')).toEqual(Buffer.from(publisher.spki));
    const sig = Buffer.from(sub.signature, 'base64');
    expect(verifyMessage(publisher.spki, exportBytes(events), sig)).toBe(true);
    expect(verifyMessage(publisher.spki, exportBytes([{ ...events[0]!, license: 'M' }]), sig)).toBe(false);
    expect(exportBytes(events).toString('utf8')).toMatch(/^modelseal\/v1 export\n\[\{"artifact":/);
  });
});

describe('receipts', () => {
  const dir = tempDir('modelseal-release-receipt-');
  const signer = NoteSigner.generate('receipt.test/log');
  const logKey = parseVerifierKey(signer.verifierKey);
  const log = new TransparencyLog(FileStore.open(join(dir, 'log')), signer, { commitIntervalMs: 0 });
  afterAll(() => log.close());
  const release = (request: string, decision: 'allow' | 'deny') =>
    ({ v: 1, type: 'release', time: 't', request, decision }) as unknown as ReleaseEvent;
  const code = (f: () => unknown) => {
    try {
      f();
      return 'none';
    } catch (e) {
      return isModelsealError(e) ? e.code : String(e);
    }
  };

  it('count for the logged request and decision only', async () => {
    const { proof } = await log.append(encodeEvent(release('r1', 'allow')));
    expect(code(() => checkReleaseReceipt(proof, 'r1', 'allow', logKey))).toBe('none');
    expect(code(() => checkReleaseReceipt(proof, 'r2', 'allow', logKey))).toBe('LOG_INVALID');
    expect(code(() => checkReleaseReceipt(proof, 'r1', 'deny', logKey))).toBe('LOG_INVALID');
    const stranger = parseVerifierKey(NoteSigner.generate('receipt.test/log').verifierKey);
    expect(code(() => checkReleaseReceipt(proof, 'r1', 'allow', stranger))).toBe('LOG_INVALID');
  });

  it('of an export batch give the entries, each for its own event', async () => {
    const e = (license: string) => ({ v: 1, type: 'export', license }) as unknown as ExportEvent;
    const events = [e('A'), e('B')];
    const receipts: string[] = [];
    for (const ev of events) receipts.push((await log.append(encodeEvent(ev))).proof);
    const indexes = checkExportReceipts(receipts, events, logKey);
    expect(indexes).toEqual([indexes[0], indexes[0]! + 1]);
    expect(code(() => checkExportReceipts([...receipts].reverse(), events, logKey))).toBe('LOG_INVALID');
  });
});
