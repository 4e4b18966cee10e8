/**
 * The MLflow client's transport, against an in-process HTTP server scripted per test: the
 * credentials MLflow's clients send (Bearer token, else Basic), retries on 429 and 5xx, refusals
 * (4xx) not retried, and no credential in any message.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient, mlflowAuthorization } from '../../src/registry/mlflow/client.js';
import { isModelsealError } from '../../src/errors.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server;
let url: string;
let script: Handler[] = [];
const seen: { auth: string | undefined; path: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ auth: req.headers.authorization, path: req.url ?? '' });
    const next = script.shift() ?? ((_q, r) => r.writeHead(500).end());
    req.resume().on('end', () => next(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const json =
  (status: number, body: object, headers: Record<string, string> = {}): Handler =>
  (_q, r) =>
    r.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
const client = (env: NodeJS.ProcessEnv) => new MlflowClient({ trackingUri: url, env, backoffMs: 1 });
const SECRET = 'tok-3c1f0e-secret';

describe('MLflow credentials', () => {
  it('sends MLFLOW_TRACKING_TOKEN as a Bearer token, before any username and password', async () => {
    script = [json(200, { ok: 1 })];
    seen.length = 0;
    const env = { MLFLOW_TRACKING_TOKEN: SECRET, MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' };
    expect(await client(env).call('GET', 'registered-models/get', { name: 'm' })).toEqual({ ok: 1 });
    expect(seen).toEqual([{ auth: `Bearer ${SECRET}`, path: '/api/2.0/mlflow/registered-models/get?name=m' }]);
  });

  it('sends MLFLOW_TRACKING_USERNAME and _PASSWORD as Basic, and nothing when none is set', () => {
    expect(mlflowAuthorization({ MLFLOW_TRACKING_USERNAME: 'ann', MLFLOW_TRACKING_PASSWORD: 'pw:1' })).toBe(
      `Basic ${Buffer.from('ann:pw:1').toString('base64')}`,
    );
    expect(mlflowAuthorization({})).toBeUndefined();
  });

  it('refuses credentials in the tracking URI', () => {
    expect(() => new MlflowClient({ trackingUri: 'http://u:p@127.0.0.1:1' })).toThrow(/put no credentials in the URL/);
    expect(() => new MlflowClient({ trackingUri: 'file:///tmp/mlruns' })).toThrow(/run `mlflow server`/);
  });
});

describe('MLflow retries and refusals', () => {
  it('retries 503 and 429 (Retry-After honoured) until the answer comes', async () => {
    script = [json(503, {}), json(429, {}, { 'retry-after': '0' }), json(200, { done: true })];
    seen.length = 0;
    expect(await client({}).call('POST', 'model-versions/create', { name: 'm' })).toEqual({ done: true });
    expect(seen).toHaveLength(3);
  });

  it('gives up after the attempts with MLFLOW_UNAVAILABLE (exit 28)', async () => {
    script = Array.from({ length: 5 }, () => json(502, { message: 'bad gateway' }));
    seen.length = 0;
    const e: unknown = await client({ MLFLOW_TRACKING_TOKEN: SECRET })
      .call('GET', 'x', {})
      .catch((x: unknown) => x);
    expect(isModelsealError(e, 'MLFLOW_UNAVAILABLE') && e.exitCode).toBe(28);
    expect(seen).toHaveLength(5);
    expect((e as Error).message).not.toContain(SECRET);
  });

  it("does not retry a refusal: MLFLOW_REJECTED (exit 29) with MLflow's error code, no credential in it", async () => {
    script = [json(403, { error_code: 'PERMISSION_DENIED', message: 'no' })];
    seen.length = 0;
    const e: unknown = await client({ MLFLOW_TRACKING_TOKEN: SECRET })
      .call('POST', 'registered-models/create', { name: 'm' })
      .catch((x: unknown) => x);
    expect(seen).toHaveLength(1);
    expect(isModelsealError(e, 'MLFLOW_REJECTED') && e.exitCode).toBe(29);
    const err = e as Error & { details: object };
    expect(err.details).toEqual({ status: 403, errorCode: 'PERMISSION_DENIED' });
    expect(err.message).toMatch(/HTTP 403 PERMISSION_DENIED: no; set MLFLOW_TRACKING_TOKEN/);
    expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain(SECRET);
  });
});
