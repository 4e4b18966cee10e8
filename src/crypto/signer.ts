/** ECDSA P-256 publisher signatures (DER, SHA-256) over modelseal/v1 signed messages. */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { ModelsealError } from '../errors.js';

export function signMessage(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  checkP256(privateKey, 'publisher private key');
  return new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'der' }));
}

export function verifyMessage(spkiDer: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  } catch {
    return false;
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return false;
  try {
    return verify('sha256', message, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

export function checkP256(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new ModelsealError('INVALID_ARGUMENT', `${what}: expected an ECDSA P-256 key`);
  }
}

export function spkiDer(key: KeyObject): Uint8Array {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  return new Uint8Array(pub.export({ format: 'der', type: 'spki' }));
}
