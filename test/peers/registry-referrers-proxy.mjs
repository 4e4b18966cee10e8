// The OCI referrers API (distribution-spec v1.1 "Listing Referrers") in front of docker-registry
// 2.8, which lacks it: test/support/registry.ts starts this proxy for `referrers: 'api'`, so that
// the OCI client's referrers-API path meets a registry that has one, while storage, auth and every
// other endpoint stay the real registry's. A child process, like the token server, so that tests
// running the CLI with spawnSync do not block it.
//
// Everything is passed through to UPSTREAM unchanged (the Host header too, so the registry's
// Location URLs name the proxy). A manifest PUT the registry accepts with a `subject` is indexed
// and answered with `OCI-Subject`; a manifest DELETE removes it. GET /v2/<name>/referrers/<digest>
// answers the image index of the indexed referrers, filtered by `artifactType`, after the registry
// has agreed (GET tags/list with the client's Authorization) that the client may pull <name>.
// Prints {"port": N} on stdout once listening on 127.0.0.1.
import { request } from 'node:http';
import { createServer } from 'node:http';
import { URL } from 'node:url';

const upstream = new URL(process.env.UPSTREAM ?? '');
const INDEX = 'application/vnd.oci.image.index.v1+json';
const MAX_MANIFEST = 4 << 20;
/** `<name>@<subject digest>` → the referrers' descriptors, by digest. */
const referrers = new Map();

function forward(req, body) {
  return new Promise((ok, fail) => {
    const up = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      ok,
    );
    up.on('error', fail);
    if (body === undefined) req.pipe(up);
    else up.end(body);
  });
}

function relay(upRes, res, extraHeaders = {}) {
  res.writeHead(upRes.statusCode ?? 502, { ...upRes.headers, ...extraHeaders });
  upRes.pipe(res);
}

function readAll(stream, cap) {
  return new Promise((ok, fail) => {
    const parts = [];
    let size = 0;
    stream.on('data', (c) => {
      size += c.length;
      if (size > cap) stream.destroy(new Error(`more than ${cap} bytes`));
      else parts.push(c);
    });
    stream.on('end', () => ok(Buffer.concat(parts)));
    stream.on('error', fail);
  });
}

async function putManifest(req, res, name) {
  const body = await readAll(req, MAX_MANIFEST);
  const upRes = await forward(req, body);
  let manifest;
  try {
    manifest = JSON.parse(body.toString('utf8'));
  } catch {
    manifest = {};
  }
  const digest = upRes.headers['docker-content-digest'];
  if (upRes.statusCode !== 201 || !manifest.subject?.digest || typeof digest !== 'string') return relay(upRes, res);
  const key = `${name}@${manifest.subject.digest}`;
  const entry = referrers.get(key) ?? new Map();
  entry.set(digest, {
    mediaType: manifest.mediaType ?? req.headers['content-type'],
    digest,
    size: body.length,
    artifactType: manifest.artifactType ?? manifest.config?.mediaType,
    ...(manifest.annotations && { annotations: manifest.annotations }),
  });
  referrers.set(key, entry);
  relay(upRes, res, { 'oci-subject': manifest.subject.digest });
}

async function deleteManifest(req, res, name, ref) {
  const upRes = await forward(req);
  if (upRes.statusCode === 202) for (const [key, entry] of referrers) if (key.startsWith(`${name}@`)) entry.delete(ref);
  relay(upRes, res);
}

async function listReferrers(req, res, name, subject, query) {
  // Ask the registry whether this client may pull the repository; its refusal is the answer.
  const check = await forward({ method: 'GET', url: `/v2/${name}/tags/list`, headers: req.headers }, Buffer.alloc(0));
  if (check.statusCode === 401 || check.statusCode === 403) return relay(check, res);
  check.resume();
  if (!/^sha256:[a-f0-9]{64}$/.test(subject)) {
    res.writeHead(400, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'invalid subject digest' }] }));
  }
  let manifests = [...(referrers.get(`${name}@${subject}`)?.values() ?? [])];
  const headers = { 'content-type': INDEX };
  const wanted = query.get('artifactType');
  if (wanted !== null) {
    manifests = manifests.filter((m) => m.artifactType === wanted);
    headers['oci-filters-applied'] = 'artifactType';
  }
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests }));
  headers['content-length'] = String(body.length);
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const ref = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(url.pathname);
  if (ref && (req.method === 'GET' || req.method === 'HEAD'))
    return listReferrers(req, res, ref[1], ref[2], url.searchParams);
  const man = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
  if (man && req.method === 'PUT') return putManifest(req, res, man[1]);
  if (man && req.method === 'DELETE') return deleteManifest(req, res, man[1], man[2]);
  relay(await forward(req), res);
}

const server = createServer((req, res) => {
  handle(req, res).catch((e) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`registry-referrers-proxy: ${e}`);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
// Stop with the parent: the harness closes stdin on stop, and a dead parent closes it too.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
