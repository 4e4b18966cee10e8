/**
 * A real PKCS#11 token for the tests: SoftHSM2 (Debian `softhsm2`, installed by test/peers/setup.sh)
 * with its own configuration and token folder in a temporary directory, a fresh token, and AES
 * keys generated on it through pkcs11js. Must run before the provider first loads the module.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface SoftHsm {
  module: string;
  token: string;
  pin: string;
  /** A second handle on the module, as another application on the token would have. */
  p: pkcs11js.PKCS11;
  slot: Buffer;
  generateAesKey(label: string, opts?: { extractable?: boolean }): void;
  /** A signing key pair on the token (private and public objects both labelled `label`). */
  generateSigningKey(label: string, curve: 'p256' | 'ed25519', opts?: { extractable?: boolean }): void;
}

// PKCS#11 3.0 values pkcs11js does not name.
const CKK_EC_EDWARDS = 0x40;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CURVES = {
  p256: { keyType: pkcs11js.CKK_EC, mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN, oid: '06082a8648ce3d030107' },
  ed25519: { keyType: CKK_EC_EDWARDS, mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN, oid: '06032b6570' },
};

export function startSoftHsm(dir: string, token = 'modelseal-test'): SoftHsm {
  if (!existsSync(SOFTHSM_MODULE) || spawnSync('softhsm2-util', ['--version']).error) {
    throw new Error(
      `SoftHSM2 is missing (${SOFTHSM_MODULE}, softhsm2-util): run \`bash test/peers/setup.sh\` (npm test does)`,
    );
  }
  mkdirSync(join(dir, 'tokens'), { recursive: true });
  writeFileSync(
    join(dir, 'softhsm2.conf'),
    `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
  const pin = '271828';
  const init = spawnSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', token, '--pin', pin, '--so-pin', '314159'],
    { env: process.env },
  );
  if (init.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${init.stderr.toString()}`);
  const p = new pkcs11js.PKCS11();
  p.load(SOFTHSM_MODULE);
  p.C_Initialize();
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token)!;
  const generateAesKey = (label: string, opts: { extractable?: boolean } = {}) => {
    const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      p.C_Login(s, pkcs11js.CKU_USER, pin);
      p.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: !opts.extractable },
        { type: pkcs11js.CKA_EXTRACTABLE, value: opts.extractable ?? false },
      ]);
    } finally {
      p.C_CloseSession(s);
    }
  };
  const generateSigningKey = (label: string, curve: 'p256' | 'ed25519', opts: { extractable?: boolean } = {}) => {
    const c = CURVES[curve];
    const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      p.C_Login(s, pkcs11js.CKU_USER, pin);
      const common = [
        { type: pkcs11js.CKA_KEY_TYPE, value: c.keyType },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_TOKEN, value: true },
      ];
      p.C_GenerateKeyPair(
        s,
        { mechanism: c.mechanism },
        [
          ...common,
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
          { type: pkcs11js.CKA_VERIFY, value: true },
          { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(c.oid, 'hex') },
        ],
        [
          ...common,
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: !opts.extractable },
          { type: pkcs11js.CKA_EXTRACTABLE, value: opts.extractable ?? false },
        ],
      );
    } finally {
      p.C_CloseSession(s);
    }
  };
  return { module: SOFTHSM_MODULE, token, pin, p, slot, generateAesKey, generateSigningKey };
}
