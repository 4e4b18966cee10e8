// The token server of the distribution token-auth spec (distribution/distribution
// docs/spec/auth/token.md and oauth.md), for the test registry in token mode
// (test/support/registry-token.ts starts it). A child process, not in-process: tests that run the
// CLI with spawnSync block their own event loop while the CLI asks for a token.
//
// It checks basic credentials and issues ES256 JWTs whose `access` claim grants what was asked;
// the signing certificate goes in the JWT's `x5c` header, which docker-registry 2.8 verifies against
// its `rootcertbundle` (2.8 has no JWKS option). Anonymous requests get a token granting nothing, as
// public registries do, so that the registry, not the token server, answers 401.
//
// Environment: TOKEN_USERNAME, TOKEN_PASSWORD (never argv), TOKEN_KEY and TOKEN_CERT (PEM files),
// TOKEN_ISSUER, TOKEN_EVENTS (a file: one JSON line per token issued or request refused).
// Prints {"port": N} on stdout once listening on 127.0.0.1.
import { createPrivateKey, randomBytes, sign, timingSafeEqual, X509Certificate } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { URL, URLSearchParams } from 'node:url';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`registry-token-server: ${name} is not set`);
  return v;
};
const username = env('TOKEN_USERNAME');
const password = env('TOKEN_PASSWORD');
const issuer = env('TOKEN_ISSUER');
const events = env('TOKEN_EVENTS');
const key = createPrivateKey(readFileSync(env('TOKEN_KEY')));
const x5c = [new X509Certificate(readFileSync(env('TOKEN_CERT'))).raw.toString('base64')];
const refreshToken = randomBytes(24).toString('hex');
const TTL_S = 300;

const b64url = (b) => Buffer.from(b).toString('base64url');
const record = (event) => appendFileSync(events, JSON.stringify(event) + '\n');

function sameSecret(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// `repository:name:pull,push`, several per parameter separated by spaces; a name may hold a colon.
function parseScopes(params) {
  const out = [];
  for (const s of params.flatMap((p) => p.split(' ')).filter(Boolean)) {
    const first = s.indexOf(':');
    const last = s.lastIndexOf(':');
    if (first < 0 || last === first) continue;
    out.push({ type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',') });
  }
  return out;
}

function jwt(account, service, access) {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'ES256', x5c };
  const claims = { iss: issuer, sub: account, aud: service, exp: now + TTL_S, nbf: now - 5, iat: now };
  const body = { ...claims, jti: randomBytes(12).toString('hex'), access };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(body))}`;
  // JOSE wants the raw r||s signature, not DER.
  const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

// '' when anonymous (no credentials), null when they are wrong.
function account(user, pass) {
  if (user === undefined) return '';
  return sameSecret(user, username) && sameSecret(pass ?? '', password) ? user : null;
}

// The account gets every action it asks for on repositories (and the catalog); anonymous, nothing.
const grant = (who, wanted) =>
  who === '' ? [] : wanted.filter((a) => a.type === 'repository' || a.type === 'registry');

function answer(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function issue(res, who, service, scopes, flow, extra = {}) {
  const access = grant(who, parseScopes(scopes));
  record({ kind: 'issued', account: who, service, access, flow });
  const token = jwt(who, service, access);
  const body = flow === 'get' ? { token, access_token: token } : { access_token: token };
  answer(res, 200, { ...body, expires_in: TTL_S, issued_at: new Date().toISOString(), ...extra });
}

function handleGet(req, res, url) {
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
  let user;
  let pass;
  if (basic) {
    const s = Buffer.from(basic[1], 'base64').toString('utf8');
    const at = s.indexOf(':');
    [user, pass] = at < 0 ? [s, ''] : [s.slice(0, at), s.slice(at + 1)];
  }
  const who = account(user, pass);
  if (who === null) {
    record({ kind: 'refused', flow: 'get' });
    const body = { errors: [{ code: 'UNAUTHORIZED', message: 'wrong username or password' }] };
    return answer(res, 401, body, { 'www-authenticate': `Basic realm="${issuer}"` });
  }
  issue(res, who, url.searchParams.get('service') ?? '', url.searchParams.getAll('scope'), 'get');
}

// The OAuth2 flow: grant_type password or refresh_token, form-encoded.
function handlePost(req, res) {
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    const form = new URLSearchParams(raw);
    const grantType = form.get('grant_type');
    let who = null;
    if (grantType === 'password') who = account(form.get('username') ?? '', form.get('password') ?? '');
    if (grantType === 'refresh_token' && sameSecret(form.get('refresh_token') ?? '', refreshToken)) who = username;
    if (who === null || who === '') {
      record({ kind: 'refused', flow: 'post' });
      return answer(res, 401, { error: 'invalid_grant' });
    }
    const extra = form.get('access_type') === 'offline' ? { refresh_token: refreshToken } : {};
    issue(res, who, form.get('service') ?? '', form.getAll('scope'), 'post', extra);
  });
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== '/token') return answer(res, 404, { error: 'not found' });
  if (req.method === 'GET') return handleGet(req, res, url);
  if (req.method === 'POST') return handlePost(req, res);
  answer(res, 405, { error: 'method not allowed' });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
// Stop with the parent: the harness closes stdin on stop, and a dead parent closes it too.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
