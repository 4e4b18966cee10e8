// A proxy of our own in front of docker-registry 2.8 (test/support/registry.ts starts it for
// `referrers: 'api'` or `proxy: true`): storage, auth and every endpoint stay the real registry's,
// and the proxy adds what the tests need around it. A child process, like the token server, so
// that tests running the CLI with spawnSync do not block it.
//
// - Everything is passed through to UPSTREAM unchanged (the Host header too, so the registry's
//   Location URLs name the proxy).
// - REFERRERS=api: the OCI referrers API (distribution-spec v1.1 "Listing Referrers"), which 2.8
//   lacks. A manifest PUT the registry accepts with a `subject` is indexed and answered with
//   `OCI-Subject`; a manifest DELETE removes it. GET /v2/<name>/referrers/<digest> answers the image
//   index of the indexed referrers, filtered by `artifactType`, once the registry has agreed (GET
//   tags/list with the client's Authorization) that the client may pull <name>.
// - FAULTS (a file, one JSON fault a line, appended by the test at any time): the first matching
//   fault with uses left answers `status` (with Retry-After) instead of the registry, or passes the
//   request on and cuts the connection after `cutAfter` bytes of the response body.
// - REQUESTS (a file): one JSON line per request answered: method, path, status, Range, fault.
// Prints {"port": N} on stdout once listening on 127.0.0.1.
import { request } from 'node:http';
import { createServer } from 'node:http';
import { URL } from 'node:url';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

const upstream = new URL(process.env.UPSTREAM ?? '');
const referrersApi = process.env.REFERRERS === 'api';
const faultsFile = process.env.FAULTS ?? '';
const requestsFile = process.env.REQUESTS ?? '';
/** How many times each fault (by line number) has been applied. */
const used = [];
/** The responses to cut short, and after how many body bytes. */
const cuts = new WeakMap();
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
  const cutAfter = cuts.get(res);
  if (cutAfter === undefined) return upRes.pipe(res);
  let sent = 0;
  upRes.on('data', (c) => {
    if (sent + c.length < cutAfter) {
      sent += c.length;
      return res.write(c);
    }
    // Send what is left of the allowance, then drop the connection mid-body.
    res.write(c.subarray(0, cutAfter - sent), () => res.socket?.destroy());
    upRes.destroy();
  });
  upRes.on('end', () => res.end());
}

/** The first fault in FAULTS matching this request with uses left; it counts as used. */
function takeFault(req) {
  if (!faultsFile || !existsSync(faultsFile)) return undefined;
  const lines = readFileSync(faultsFile, 'utf8').split('\n').filter(Boolean);
  for (const [i, line] of lines.entries()) {
    const f = JSON.parse(line);
    if ((used[i] ?? 0) >= (f.times ?? 1)) continue;
    if (f.method && f.method.toUpperCase() !== req.method) continue;
    if (!new RegExp(f.path).test(req.url ?? '')) continue;
    used[i] = (used[i] ?? 0) + 1;
    return f;
  }
  return undefined;
}

function recordRequest(req, res, fault) {
  if (!requestsFile) return;
  // Recorded once, as soon as the answer is all written ('finish', before the client can have read
  // its end) or, for one cut short, when its connection closes: a test that has its answer finds it.
  let recorded = false;
  const record = () => {
    if (recorded) return;
    recorded = true;
    const line = { method: req.method, path: req.url, status: res.statusCode, fault: fault !== undefined };
    if (req.headers.range) line.range = req.headers.range;
    appendFileSync(requestsFile, JSON.stringify(line) + '\n');
  };
  res.on('finish', record);
  res.on('close', record);
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
  const fault = takeFault(req);
  recordRequest(req, res, fault);
  if (fault?.status !== undefined) {
    req.resume();
    const code = fault.status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE';
    const headers = {
      'content-type': 'application/json',
      ...(fault.retryAfter !== undefined && { 'retry-after': String(fault.retryAfter) }),
    };
    res.writeHead(fault.status, headers);
    return res.end(JSON.stringify({ errors: [{ code, message: 'injected by the test proxy' }] }));
  }
  if (fault?.cutAfter !== undefined) cuts.set(res, fault.cutAfter);
  const url = new URL(req.url ?? '/', 'http://proxy');
  const ref = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(url.pathname);
  if (referrersApi && ref && (req.method === 'GET' || req.method === 'HEAD'))
    return listReferrers(req, res, ref[1], ref[2], url.searchParams);
  const man = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
  if (referrersApi && man && req.method === 'PUT') return putManifest(req, res, man[1]);
  if (referrersApi && man && req.method === 'DELETE') return deleteManifest(req, res, man[1], man[2]);
  relay(await forward(req), res);
}

const server = createServer((req, res) => {
  handle(req, res).catch((e) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`registry-proxy: ${e}`);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
// Stop with the parent: the harness closes stdin on stop, and a dead parent closes it too.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
