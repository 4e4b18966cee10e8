/**
 * The classification record bound into a package (issue 20, "Bound into the package and the log"):
 * signed in the header and read back without a key, summarised in the release stanzas and bound
 * into their release context, carried by the export events (integers only), and decided on by the
 * default policies (license-required, with the license's authorization).
 */
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError } from '../../src/errors.js';
import { encodeHeader, parseHeader, type Header } from '../../src/format/header.js';
import { initKeystore, loadPublisherKey, readPublisherPublicKey } from '../../src/keystore/keystore.js';
import { canonicalJson, encodeEvent, exportEvents, type ExportEvent } from '../../src/log/events.js';
import { classificationJson } from '../../src/format/classification-json.js';
import {
  checkClassificationBinding,
  classificationDigest,
  classificationSummary,
} from '../../src/package/classification.js';
import { readHead } from '../../src/package/head.js';
import { inspect, readClassification } from '../../src/package/inspect.js';
import { seal } from '../../src/package/seal.js';
import { rewrap } from '../../src/package/rewrap.js';
import { reseal } from '../../src/package/reseal.js';
import { POLICIES, SCHEMA } from '../../src/policy/defaults.js';
import { initPolicyDir, PolicyEngine, POLICY_FILES, type ReleaseQuestion } from '../../src/policy/engine.js';
import { loadLocalKey } from '../../src/providers/local.js';
import { contextFor, releaseContextBytes } from '../../src/providers/types.js';
import { ReleaseRecipient } from '../../src/providers/release.js';
import { newX25519Key } from '../../src/providers/x25519.js';
import { classificationAnswer } from '../../src/server/classification.js';
import { wellFormedExports } from '../../src/server/shapes.js';
import { classificationRecord } from '../support/classification.js';
import { ARTIFACT, releaseHeader, testLicense } from '../support/policy.js';
import { detBytes, tempDir } from '../support/fixtures.js';

const dir = tempDir('modelseal-classbind-');
const keys = join(dir, 'keys');
const src = join(dir, 'weights.bin');
const record = classificationRecord();

const header = (over: Partial<Header> = {}): Header =>
  releaseHeader({ classification: classificationSummary(record) }, { classification: record, ...over });

describe('the header field', () => {
  it('round-trips byte for byte, after the stanzas, with the summary in the release stanza after its policy', () => {
    const bytes = encodeHeader(header(), new Uint8Array(32));
    const parsed = parseHeader(bytes);
    expect(parsed.header.classification).toEqual(record);
    expect(parsed.header.stanzas[0]!.classification).toEqual(classificationSummary(record));
    expect(Buffer.from(encodeHeader(parsed.header, parsed.mac)).equals(Buffer.from(bytes))).toBe(true);
    const body = Buffer.from(bytes).toString().split('\n')[1]!;
    expect(body).toMatch(/"stanzas":\[.*"policy":"none","classification":\{"record":"sha256:[0-9a-f]{64}",/);
    expect(body).toMatch(/\],"classification":\{"v":2,"time":"2026-12-05T12:00:00Z","facts":\{"parameters":50000,/);
    // Without one, the header is as before: no field at all.
    const plain = header({
      classification: undefined,
      stanzas: [{ ...header().stanzas[0]!, classification: undefined }],
    });
    delete plain.classification;
    delete plain.stanzas[0]!.classification;
    expect(Buffer.from(encodeHeader(plain, new Uint8Array(32))).toString()).not.toContain('classification');
  });

  it('refuses a record with a stray or missing field, a fractional count, or an ill-formed stanza summary', () => {
    const body = (h: Header) =>
      JSON.parse(
        Buffer.from(encodeHeader(h, new Uint8Array(32)))
          .toString()
          .split('\n')[1]!,
      );
    const reencode = (b: unknown) => Buffer.from(`modelseal/v1\n${JSON.stringify(b)}\n--- ${'A'.repeat(43)}\n`);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- edits reach into parsed JSON
    const edits: ((b: Record<string, any>) => void)[] = [
      (b) => (b.classification.extra = 1),
      (b) => delete b.classification.rulePacks,
      (b) => (b.classification.facts.parameters = 1.5),
      (b) => (b.classification.facts.dtypes.F32 = -1),
      (b) => (b.classification.determinations[0].regime = 'UK'),
      (b) => (b.stanzas[0].classification.record = 'sha256:zz'),
      (b) => (b.stanzas[0].classification.rulePacks = ['a,b']),
    ];
    for (const edit of edits) {
      const b = body(header());
      edit(b);
      let err: unknown;
      try {
        parseHeader(reencode(b));
      } catch (e) {
        err = e;
      }
      expect(isModelsealError(err, 'MALFORMED_PACKAGE'), String(edit)).toBe(true);
    }
  });

  it('a package reader refuses stanzas whose summary is not that of the header record (or missing, or stray)', () => {
    const ok = header();
    expect(() => checkClassificationBinding(ok)).not.toThrow();
    expect(() => checkClassificationBinding(releaseHeader())).not.toThrow();
    const other = classificationSummary(classificationRecord('not-listed'));
    const local = { ...ok.stanzas[0]!, type: 'local', args: ['00'.repeat(8)] };
    for (const bad of [
      header({ stanzas: [{ ...ok.stanzas[0]!, classification: other }] }),
      header({ stanzas: [{ ...ok.stanzas[0]!, classification: undefined }] }),
      header({ stanzas: [ok.stanzas[0]!, local] }),
      releaseHeader({ classification: classificationSummary(record) }),
    ]) {
      expect(() => checkClassificationBinding(bad)).toThrow(/does not summarise the header's classification record/);
    }
  });

  it('binds the summary into the release context after "policy"; an empty US-EAR classification is left out', () => {
    const plain = releaseHeader();
    const ctx = contextFor(plain, plain.stanzas[0]!);
    const c = { record: `sha256:${'cc'.repeat(32)}`, usEar: '4E091', rulePacks: ['us-ear@2025-01-15', 'eu@2024'] };
    const text = (x?: typeof c) =>
      Buffer.from(releaseContextBytes({ ...ctx, ...(x ? { classification: x } : {}) })).toString();
    const tail = '"recipient":"acme-labs","license":"EAR-1","policy":"none"';
    expect(text()).toMatch(new RegExp(`${tail}\\}$`));
    expect(text(c)).toMatch(
      new RegExp(
        `${tail},"classification":"sha256:${'cc'.repeat(32)}","classificationUsEar":"4E091",` +
          `"classificationRulePacks":"us-ear@2025-01-15,eu@2024"\\}$`,
      ),
    );
    expect(text({ ...c, usEar: '', rulePacks: [] })).toMatch(
      new RegExp(`${tail},"classification":"sha256:${'cc'.repeat(32)}"\\}$`),
    );
  });
});

describe('seal binds it', () => {
  beforeAll(async () => {
    await initKeystore(keys, { logOrigin: 'classbind.test/log' });
    writeFileSync(src, detBytes(100_000));
  });

  async function sealed(classification = record) {
    const out = join(dir, `p-${Math.random().toString(36).slice(2)}.mseal`);
    const service = newX25519Key().identity;
    const r = await seal({
      input: src,
      output: out,
      recipients: [
        await loadLocalKey(join(keys, 'local.kek')),
        new ReleaseRecipient('https://release.example', 'acme-labs', service.recipient),
      ],
      publisher: await loadPublisherKey(join(keys, 'publisher.key')),
      license: 'EAR-1',
      classification,
    });
    return { out, r };
  }

  it('in the signed header, read back without a key; release stanzas carry its summary, others not', async () => {
    const { out, r } = await sealed();
    expect(r.classification).toEqual(record);
    await expect(readClassification(out)).resolves.toEqual(record);
    expect((await inspect(out)).classification).toEqual(record);
    const h = (await readHead(out)).parsed.header;
    const byType = Object.fromEntries(h.stanzas.map((s) => [s.type, s.classification]));
    expect(byType).toEqual({
      local: undefined,
      release: { record: classificationDigest(record), usEar: '4E091', rulePacks: record.rulePacks },
    });
  });

  it('a changed byte of the record fails the header check: the record is what the publisher signed', async () => {
    const { out } = await sealed();
    const bytes = readFileSync(out);
    const at = bytes.indexOf('"weights":"closed"');
    expect(at).toBeGreaterThan(0);
    bytes.write('"weights":"open"  ', at); // same length, still JSON-ish; the MAC and signature no longer match
    const forged = join(dir, 'forged.mseal');
    writeFileSync(forged, bytes);
    await expect(readClassification(forged)).rejects.toSatisfy((e) => isModelsealError(e));
  });

  it('rewrap gives an added release stanza the summary; reseal keeps the record for the same weights', async () => {
    const { out } = await sealed();
    const publisher = await loadPublisherKey(join(keys, 'publisher.key'));
    const local = await loadLocalKey(join(keys, 'local.kek'));
    const trustedPublishers = [await readPublisherPublicKey(join(keys, 'publisher.pub'))];
    const inner = newX25519Key().identity.recipient;
    const add = [new ReleaseRecipient('https://release.example', 'beta-labs', inner)];
    await rewrap(out, { identities: [local], trustedPublishers, publisher, add, license: 'EAR-2' });
    const h = (await readHead(out)).parsed.header;
    const beta = h.stanzas.find((s) => s.recipient === 'beta-labs');
    expect(beta?.classification).toEqual(classificationSummary(record));
    const again = join(dir, 'resealed.mseal');
    // Kept for the local key and a new release recipient: the new release stanza gets the summary too.
    const gamma = new ReleaseRecipient('https://release.example', 'gamma-labs', inner);
    const remove = ['acme-labs', 'beta-labs'];
    await reseal(out, { identities: [local], trustedPublishers, publisher, output: again, remove, add: [gamma] });
    await expect(readClassification(again)).resolves.toEqual(record);
    const resealed = (await readHead(again)).parsed.header.stanzas;
    expect(resealed.find((s) => s.recipient === 'gamma-labs')?.classification).toEqual(classificationSummary(record));
  });

  it('a package sealed without one reads as null', async () => {
    const out = join(dir, 'plain.mseal');
    await seal({
      input: src,
      output: out,
      recipients: [await loadLocalKey(join(keys, 'local.kek'))],
      publisher: await loadPublisherKey(join(keys, 'publisher.key')),
    });
    await expect(readClassification(out)).resolves.toBeNull();
  });

  it('each export event carries the record, its non-integer numbers as decimal strings (the log holds integers)', async () => {
    const { r } = await sealed();
    const events = exportEvents(r, new Date('2026-12-05T12:00:00Z'));
    expect(events).toHaveLength(2);
    for (const e of events) {
      expect(e.classification!.facts.architecture).toEqual({
        model_type: 'llama',
        hidden_size: 64,
        rms_norm_eps: '0.00001',
      });
      expect(e.classification!.determinations).toEqual(record.determinations);
      expect(() => encodeEvent(e)).not.toThrow();
    }
    // As the record is, it could not be logged.
    expect(() => canonicalJson(record)).toThrow(/integers only/);
  });

  it('the logged record rehashes to the digest every release stanza names (v2); a v1 record keeps its own digest', async () => {
    const { r } = await sealed();
    const [event] = exportEvents(r);
    const logged = JSON.parse(encodeEvent(event!).toString()) as ExportEvent;
    // What an auditor holds, years later: only the log. Its record is the one the stanzas name.
    expect(classificationDigest(logged.classification!)).toBe(classificationSummary(record).record);
    // A v1 record (sealed before) is named by the digest of the header's JSON, as it was sealed:
    // its logged form (keys sorted, 1e-5 as "0.00001") no longer hashes to it.
    const v1 = { ...record, v: 1 as const };
    const v1Digest = `sha256:${createHash('sha256')
      .update(JSON.stringify(classificationJson(v1)))
      .digest('hex')}`;
    expect(classificationDigest(v1)).toBe(v1Digest);
    expect(classificationDigest({ ...logged.classification!, v: 1 })).not.toBe(v1Digest);
    // And a header with a v1 record still reads, its stanzas bound to that digest.
    const old = releaseHeader({ classification: classificationSummary(v1) }, { classification: v1 });
    const parsed = parseHeader(encodeHeader(old, new Uint8Array(32)));
    expect(parsed.header.classification).toEqual(v1);
    expect(() => checkClassificationBinding(parsed.header)).not.toThrow();
  });

  it('a release service takes such export events (POST /v1/export) only with a well-formed, integers-only record', async () => {
    const { r } = await sealed();
    const [event] = exportEvents(r);
    const submission = (e: object) => ({ publisher: 'p', signature: 's', events: [e] });
    expect(wellFormedExports(submission(event!))).toBe(true);
    expect(wellFormedExports(submission({ ...event, classification: record }))).toBe(false); // a fraction
    const stray = { ...event!.classification!, extra: 1 };
    expect(wellFormedExports(submission({ ...event, classification: stray }))).toBe(false);
    const { classification: _, ...plain } = event!;
    expect(wellFormedExports(submission(plain))).toBe(true);
  });
});

describe('the release policy decides on it', () => {
  const root = tempDir('modelseal-classpol-');
  let n = 0;

  async function engine(authorization?: string, from = ''): Promise<PolicyEngine> {
    const d = join(root, `d${n++}`);
    if (from) cpSync(from, d, { recursive: true });
    else await initPolicyDir(d);
    const license = testLicense(authorization !== undefined ? { authorization } : {});
    writeFileSync(join(d, POLICY_FILES.licenses), JSON.stringify({ licenses: [license] }));
    return PolicyEngine.load(d);
  }

  // A 4E091 item needs a license for DE, not for FR.
  const required = (c: string, cc: string) => c === '4E091' && cc === 'DE';
  const question = (e: PolicyEngine, destination: string, observed = ''): ReleaseQuestion => ({
    recipient: { name: 'acme-labs', org: 'Acme', country: 'DE', nationality: 'DE', nationalities: ['DE'] },
    artifact: ARTIFACT,
    license: e.license('L')!,
    used: 0,
    destination,
    time: new Date('2026-06-01T00:00:00Z'),
    package: 'p'.repeat(64),
    classification: classificationAnswer(classificationSummary(record), destination, observed, required),
  });

  it('license-required: denied for a destination that needs a license unless the license cites an authorization', async () => {
    const bare = await engine();
    expect(bare.decide(question(bare, 'DE'))).toMatchObject({ decision: 'deny', policies: ['license-required'] });
    expect(bare.decide(question(bare, 'FR'))).toMatchObject({ decision: 'allow' });
    const cited = await engine('BIS license D123456');
    expect(cited.decide(question(cited, 'DE'))).toMatchObject({ decision: 'allow' });
  });

  it('and for the observed country: declared FR, seen from DE, is licenseRequiredObserved', async () => {
    const bare = await engine();
    const q = question(bare, 'FR', 'DE');
    expect(q.classification).toMatchObject({ licenseRequired: false, licenseRequiredObserved: true });
    // observed-destination-mismatch denies it too; license-required is among the reasons.
    expect(bare.decide(q).policies).toContain('license-required');
    const cited = await engine('AIA');
    expect(cited.decide(question(cited, 'FR', 'DE')).policies).not.toContain('license-required');
  });

  it('by the shipped rule packs when nothing is injected: 4E091 needs a license to CN and DE, none within the US', async () => {
    const summary = { ...classificationSummary(record), rulePacks: ['us-ear-ai-diffusion@2025-01-15'] };
    expect(classificationAnswer(summary, 'CN', '')).toMatchObject({ licenseRequired: true });
    expect(classificationAnswer(summary, 'US', 'DE')).toMatchObject({
      licenseRequired: false,
      licenseRequiredObserved: true,
    });
    const bare = await engine();
    const q = { ...question(bare, 'DE'), classification: classificationAnswer(summary, 'DE', '') };
    expect(bare.decide(q)).toMatchObject({ decision: 'deny', policies: ['license-required'] });
  });

  it('an unclassified package needs no license, and Cedar sees classification "" and no rule packs', async () => {
    const e = await engine();
    const q = { ...question(e, 'DE'), classification: classificationAnswer(undefined, 'DE', 'DE', () => true) };
    expect(q.classification).toEqual({
      usEar: '',
      rulePacks: [],
      licenseRequired: false,
      licenseRequiredObserved: false,
    });
    expect(e.decide(q)).toMatchObject({ decision: 'allow' });
    const { classification: _, ...old } = q;
    const ctx = e.request(old).context as Record<string, unknown>;
    expect(ctx).toMatchObject({
      classification: '',
      licenseRequired: false,
      licenseRequiredObserved: false,
      rulePacks: [],
    });
  });

  it('refuses an authorization that is not a short printable citation', async () => {
    await expect(engine('')).rejects.toSatisfy((e) => isModelsealError(e, 'POLICY_INVALID'));
  });

  it('upgrades the issue 19 default schema and policies (test/fixtures/policy-b6f636b) to the current ones', async () => {
    const e = await engine(undefined, 'test/fixtures/policy-b6f636b');
    expect(readFileSync(join(e.dir, POLICY_FILES.schema), 'utf8')).toBe(SCHEMA);
    expect(readFileSync(join(e.dir, POLICY_FILES.policies), 'utf8')).toBe(POLICIES);
    expect(e.policyIds).toContain('license-required');
    expect(e.decide(question(e, 'DE'))).toMatchObject({ decision: 'deny', policies: ['license-required'] });
  });
});
