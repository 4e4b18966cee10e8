/**
 * Keys and certificates for the test registry, made with openssl per registry (valid two days):
 * the token server's signing certificate, and a CA with a server certificate for 127.0.0.1 when
 * the registry serves TLS. Nothing here is a secret outside the test's temporary folder.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];

function openssl(args: string[], what: string): void {
  const made = spawnSync('openssl', args);
  if (made.status !== 0) {
    const why = made.error ? String(made.error) : made.stderr.toString();
    throw new Error(`openssl could not make ${what}: ${why}`);
  }
}

/** A P-256 key and a self-signed certificate for it, `<dir>/<name>.key` and `.crt`. */
export function selfSigned(dir: string, name: string, subject: string): { keyFile: string; certFile: string } {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  openssl(['req', '-x509', ...P256, '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${subject}`], name);
  return { keyFile, certFile };
}

/** A test CA and a server certificate it issued for 127.0.0.1 and localhost. */
export function serverCert(dir: string): { caFile: string; keyFile: string; certFile: string } {
  const ca = selfSigned(dir, 'registry-ca', 'modelseal test registry CA');
  const keyFile = join(dir, 'registry-tls.key');
  const certFile = join(dir, 'registry-tls.crt');
  const ext = ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'basicConstraints=critical,CA:FALSE'];
  openssl(
    ['req', '-x509', '-CA', ca.certFile, '-CAkey', ca.keyFile, ...P256, '-keyout', keyFile, '-out', certFile]
      .concat(['-subj', '/CN=127.0.0.1', ...ext.flatMap((e) => ['-addext', e])])
      .concat(['-addext', 'extendedKeyUsage=serverAuth']),
    'the registry TLS certificate',
  );
  return { caFile: ca.certFile, keyFile, certFile };
}
