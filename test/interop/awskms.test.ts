/**
 * The aws-kms provider against a real KMS wire protocol (moto_server), through the AWS SDK.
 * moto does not refuse a disabled key on Decrypt, and answers a wrong KeyId with
 * AccessDeniedException where AWS says IncorrectKeyException; for those two AWS answers (and for
 * throttling) an in-process proxy in front of moto injects AWS's exact error responses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { CreateAliasCommand, CreateKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  AwsKmsIdentity,
  AwsKmsRecipient,
  awsKmsStatus,
  inspect,
  open,
  readHead,
  rewrap,
  seal,
} from '../../src/index.js';
import { contextFor } from '../../src/providers/types.js';
import { startMoto, type Moto } from '../support/moto.js';
import { detBytes, makeKeys, tempDir } from '../support/fixtures.js';

const keys = makeKeys();
const dir = tempDir();
let moto: Moto;
let kms: KMSClient;
let proxy: { server: Server; endpoint: string; seen: string[]; inject: { op: string; type: string; times: number }[] };

async function newKey(): Promise<string> {
  return (await kms.send(new CreateKeyCommand({ Description: 'modelseal test' }))).KeyMetadata!.Arn!;
}

beforeAll(async () => {
  moto = await startMoto();
  kms = new KMSClient({ endpoint: moto.endpoint });
  const seen: string[] = [];
  const inject: { op: string; type: string; times: number }[] = [];
  // A forward that throws is an unhandled rejection, which fails the run: right for a test proxy.
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- see the line above
  const server = createServer(async (req, res) => {
    const body = await new Promise<Buffer<ArrayBuffer>>((ok) => {
      const parts: Buffer[] = [];
      req.on('data', (b: Buffer) => parts.push(b)).on('end', () => ok(Buffer.concat(parts)));
    });
    const op = String(req.headers['x-amz-target'] ?? '').replace('TrentService.', '');
    seen.push(op);
    const rule = inject.find((r) => r.op === op && r.times > 0);
    if (rule) {
      rule.times--;
      res.writeHead(400, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': `injected-${seen.length}`,
      });
      res.end(JSON.stringify({ __type: rule.type, message: `injected ${rule.type}` }));
      return;
    }
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k)),
    ) as Record<string, string>;
    const r = await fetch(`${moto.endpoint}${req.url ?? ''}`, {
      method: req.method,
      headers,
      body: req.method === 'GET' ? undefined : body,
    });
    res.writeHead(
      r.status,
      Object.fromEntries(
        [...r.headers].filter(([k]) => !['content-length', 'transfer-encoding', 'connection'].includes(k)),
      ),
    );
    res.end(Buffer.from(await r.arrayBuffer()));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  proxy = { server, endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, inject };
}, 120_000);

afterAll(async () => {
  // Unassigned when beforeAll failed, whatever their declared types say.
  (proxy as typeof proxy | undefined)?.server.close();
  await (moto as Moto | undefined)?.stop();
});

async function sealTo(recipients: AwsKmsRecipient[], name: string) {
  const src = join(dir, `${name}.bin`);
  writeFileSync(src, detBytes(200_000, name));
  const pkg = join(dir, `${name}.mseal`);
  await seal({ input: src, output: pkg, recipients, publisher: keys.publisher, license: 'EAR-1' });
  return { src, pkg };
}

const openWith = (pkg: string, identity: AwsKmsIdentity) =>
  open({
    input: pkg,
    output: join(dir, `o-${Math.random().toString(36).slice(2)}`),
    identities: [identity],
    trustedPublishers: keys.trusted,
  });

describe('aws-kms provider (moto_server)', () => {
  it('seals to a key by alias, names the key ARN in the stanza, and opens through KMS with the release context', async () => {
    const arn = await newKey();
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/modelseal-a', TargetKeyId: arn }));
    const r = await AwsKmsRecipient.resolve('alias/modelseal-a', { endpoint: moto.endpoint });
    expect(r.id).toBe(`aws-kms:${arn}`);
    const { src, pkg } = await sealTo([r], 'alias');
    expect((await inspect(pkg)).recipients).toEqual([
      { type: 'aws-kms', recipient: `aws-kms:${arn}`, license: 'EAR-1', policy: 'none' },
    ]);
    const o = await openWith(pkg, new AwsKmsIdentity({ endpoint: moto.endpoint }));
    expect(readFileSync(o.output).equals(readFileSync(src))).toBe(true);
    expect(o.openedWith).toMatchObject({ type: 'aws-kms', recipient: `aws-kms:${arn}` });
  });

  it('KMS refuses a stanza under another release context (moved to another package, recipient or license)', async () => {
    const { pkg } = await sealTo([await AwsKmsRecipient.resolve(await newKey(), { endpoint: moto.endpoint })], 'ctx');
    const h = (await readHead(pkg)).parsed.header;
    const stanza = h.stanzas[0]!;
    const id = new AwsKmsIdentity({ endpoint: moto.endpoint });
    expect(await id.unwrapDataKey(stanza, contextFor(h, stanza))).toHaveLength(32);
    for (const moved of [
      { ...stanza, license: 'EAR-2' },
      { ...stanza, policy: 'other' },
    ]) {
      await expect(id.unwrapDataKey(moved, contextFor(h, moved))).rejects.toMatchObject({
        code: 'DECRYPTION_FAILED',
        details: { awsError: 'InvalidCiphertextException' },
      });
    }
    const otherPackage = { ...h, packageId: new Uint8Array(32).fill(1) };
    await expect(id.unwrapDataKey(stanza, contextFor(otherPackage, stanza))).rejects.toMatchObject({
      code: 'DECRYPTION_FAILED',
    });
  });

  it("Decrypt names the stanza's key: a stanza relabelled to another key does not open", async () => {
    const [a, b] = [await newKey(), await newKey()];
    const { pkg } = await sealTo([await AwsKmsRecipient.resolve(a, { endpoint: moto.endpoint })], 'relabel');
    const h = (await readHead(pkg)).parsed.header;
    const relabelled = { ...h.stanzas[0]!, recipient: `aws-kms:${b}`, args: [b] };
    proxy.seen.length = 0;
    await expect(
      new AwsKmsIdentity({ endpoint: proxy.endpoint }).unwrapDataKey(relabelled, contextFor(h, relabelled)),
    ).rejects.toMatchObject({ code: expect.stringMatching(/DECRYPTION_FAILED|PROVIDER_UNAVAILABLE/) });
    expect(proxy.seen).toEqual(['Decrypt']);
    // AWS's own answer to a wrong KeyId:
    proxy.inject.push({ op: 'Decrypt', type: 'IncorrectKeyException', times: 1 });
    await expect(
      new AwsKmsIdentity({ endpoint: proxy.endpoint }).unwrapDataKey(relabelled, contextFor(h, relabelled)),
    ).rejects.toMatchObject({
      code: 'DECRYPTION_FAILED',
      details: { awsError: 'IncorrectKeyException', requestId: expect.stringMatching(/^injected-/) },
    });
  });

  it('a disabled key: sealing to it is refused; opening reports it (with the request id) unless another key opens the package', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const ra = await AwsKmsRecipient.resolve(a, { endpoint: moto.endpoint });
    const rb = await AwsKmsRecipient.resolve(b, { endpoint: moto.endpoint });
    const { pkg: onlyA } = await sealTo([ra], 'onlyA');
    const { src, pkg: both } = await sealTo([ra, rb], 'both');
    await kms.send(new DisableKeyCommand({ KeyId: a.split('/').pop() }));
    await expect(AwsKmsRecipient.resolve(a, { endpoint: moto.endpoint })).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringContaining('Disabled'),
    });
    // moto still decrypts with a disabled key; AWS answers KMSInvalidStateException, injected here.
    proxy.inject.push({ op: 'Decrypt', type: 'KMSInvalidStateException', times: 1 });
    const e = (await openWith(onlyA, new AwsKmsIdentity({ endpoint: proxy.endpoint })).catch(
      (x: unknown) => x,
    )) as Error;
    expect(e).toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      details: { awsError: 'KMSInvalidStateException', requestId: expect.stringMatching(/^injected-/) },
    });
    expect(e.message).toMatch(/disabled or pending deletion/);
    proxy.inject.push({ op: 'Decrypt', type: 'KMSInvalidStateException', times: 1 });
    const o = await openWith(both, new AwsKmsIdentity({ endpoint: proxy.endpoint }));
    expect(readFileSync(o.output).equals(readFileSync(src))).toBe(true);
    expect(o.openedWith.recipient).toBe(`aws-kms:${b}`);
  });

  it('retries throttled calls with backoff, and says so when KMS keeps throttling', async () => {
    const r = await AwsKmsRecipient.resolve(await newKey(), { endpoint: proxy.endpoint });
    proxy.seen.length = 0;
    proxy.inject.push({ op: 'Encrypt', type: 'ThrottlingException', times: 2 });
    const { pkg } = await sealTo([r], 'throttle');
    expect(proxy.seen.filter((op) => op === 'Encrypt')).toHaveLength(3);
    proxy.inject.push({ op: 'Decrypt', type: 'ThrottlingException', times: 100 });
    await expect(openWith(pkg, new AwsKmsIdentity({ endpoint: proxy.endpoint, maxAttempts: 3 }))).rejects.toMatchObject(
      { code: 'PROVIDER_UNAVAILABLE', details: { awsError: 'ThrottlingException' } },
    );
    proxy.inject.length = 0;
  });

  it('AccessDenied is reported with the request id and what to check', async () => {
    const r = await AwsKmsRecipient.resolve(await newKey(), { endpoint: proxy.endpoint });
    proxy.inject.push({ op: 'Encrypt', type: 'AccessDeniedException', times: 1 });
    await expect(sealTo([r], 'denied')).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringMatching(/AccessDeniedException, request id injected-\d+.*key policy/),
    });
  });

  it('rewrap moves a package to another KMS key without touching the payload', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const ra = await AwsKmsRecipient.resolve(a, { endpoint: moto.endpoint });
    const { src, pkg } = await sealTo([ra], 'rotate');
    const id = new AwsKmsIdentity({ endpoint: moto.endpoint });
    await rewrap(pkg, {
      identities: [id],
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      add: [await AwsKmsRecipient.resolve(b, { endpoint: moto.endpoint })],
      remove: [ra.id],
      license: 'EAR-1',
    });
    expect((await inspect(pkg)).recipients.map((s) => s.recipient)).toEqual([`aws-kms:${b}`]);
    const o = await openWith(pkg, new AwsKmsIdentity({ endpoint: moto.endpoint }, new Set([b])));
    expect(readFileSync(o.output).equals(readFileSync(src))).toBe(true);
  });

  it('rewrap --rotate aws-kms wraps every KMS stanza again under the same key (its current version)', async () => {
    const a = await newKey();
    const { src, pkg } = await sealTo([await AwsKmsRecipient.resolve(a, { endpoint: moto.endpoint })], 'renew');
    const before = (await readHead(pkg)).parsed.header.stanzas[0]!;
    const r = await rewrap(pkg, {
      identities: [new AwsKmsIdentity({ endpoint: moto.endpoint })],
      trustedPublishers: keys.trusted,
      publisher: keys.publisher,
      renew: {
        type: 'aws-kms',
        resolve: (id) => AwsKmsRecipient.resolve(id.slice('aws-kms:'.length), { endpoint: moto.endpoint }),
      },
    });
    expect(r.rotated).toEqual([{ from: `aws-kms:${a}`, to: `aws-kms:${a}` }]);
    const after = (await readHead(pkg)).parsed.header.stanzas[0]!;
    expect(after).toMatchObject({ recipient: before.recipient, license: 'EAR-1' });
    expect(Buffer.from(after.body).equals(Buffer.from(before.body))).toBe(false);
    expect(
      readFileSync((await openWith(pkg, new AwsKmsIdentity({ endpoint: moto.endpoint }))).output).equals(
        readFileSync(src),
      ),
    ).toBe(true);
  });

  it('reports whether KMS is reachable (modelseal providers)', async () => {
    expect(await awsKmsStatus({ endpoint: moto.endpoint })).toMatchObject({ ok: true });
    expect(await awsKmsStatus({ endpoint: 'http://127.0.0.1:9' })).toMatchObject({
      ok: false,
      detail: expect.stringContaining('ListKeys'),
    });
    const r = spawnSync(
      process.execPath,
      [
        resolve('dist/cli/modelseal.bundle.mjs'),
        '--keys',
        join(dir, 'none'),
        '--kms-endpoint',
        moto.endpoint,
        '--json',
        'providers',
      ],
      { env: process.env },
    );
    expect(
      JSON.parse(r.stdout.toString()).providers.find((p: { provider: string }) => p.provider === 'aws-kms'),
    ).toMatchObject({
      configured: true,
      reachable: true,
      config: { endpoint: moto.endpoint, AWS_REGION: 'us-east-1' },
    });
  });

  it('the CLI: --to aws-kms:<alias> with --kms-endpoint, and open through KMS', () => {
    const BIN = resolve('dist/cli/modelseal.bundle.mjs');
    const ks = join(dir, 'keys');
    const run = (args: string[]) =>
      spawnSync(process.execPath, [BIN, '--keys', ks, '--kms-endpoint', moto.endpoint, ...args], { env: process.env });
    expect(run(['--quiet', 'init']).status).toBe(0);
    const src = join(dir, 'cli.bin');
    writeFileSync(src, detBytes(100_000, 'cli'));
    const s = run([
      '--json',
      'seal',
      src,
      '--no-classify',
      '--to',
      'aws-kms:alias/modelseal-a',
      '-o',
      join(dir, 'cli.mseal'),
    ]);
    expect(s.status, s.stderr.toString() + s.stdout.toString()).toBe(0);
    expect(s.stderr.toString()).toBe('');
    expect(JSON.parse(s.stdout.toString()).recipients[0]).toMatchObject({
      type: 'aws-kms',
      recipient: expect.stringMatching(/^aws-kms:arn:aws:kms:us-east-1:/),
    });
    const o = run(['--json', 'open', join(dir, 'cli.mseal'), '-o', join(dir, 'cli.out')]);
    expect(o.status, o.stderr.toString()).toBe(0);
    expect(JSON.parse(o.stdout.toString()).openedWith.type).toBe('aws-kms');
    expect(readFileSync(join(dir, 'cli.out')).equals(readFileSync(src))).toBe(true);
    // A KMS that cannot be reached: the retryable exit code, after the SDK's retries.
    const down = spawnSync(
      process.execPath,
      [
        BIN,
        '--keys',
        ks,
        '--kms-endpoint',
        'http://127.0.0.1:9',
        'seal',
        src,
        '--to',
        'aws-kms:alias/modelseal-a',
        '-o',
        join(dir, 'down.mseal'),
      ],
      { env: process.env },
    );
    expect(down.status, down.stderr.toString()).toBe(9);
  }, 60_000);
});
