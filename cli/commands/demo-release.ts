/**
 * `modelseal demo`, steps 4 and 5: the release service in this process on a loopback port, one
 * allowed release and two denied ones, each logged; then the audit of the whole log, the decisions,
 * the evidence pack and the report.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  auditLog,
  buildReport,
  decodeEvent,
  exportEvidence,
  isModelsealError,
  loadLogSigner,
  loadReleaseIdentity,
  noPassphrase,
  open,
  openDataRecords,
  openReleaseService,
  queryEvents,
  readPublisherPublicKey,
  ReleaseIdentity,
  renderReportHtml,
  startServer,
  verifyEvidence,
  verifyProof,
  type ReleaseEvent,
  type ReleaseServiceSetup,
  type RunningServer,
} from '../../src/index.js';
import { ACME, DARYA, tell, type DemoContext } from './demo-steps.js';

/** The service, started as `serve` starts it: loopback, any free port, no geolocation database. */
export async function startService(c: DemoContext): Promise<{ setup: ReleaseServiceSetup; server: RunningServer }> {
  const setup = await openReleaseService(c.data, c.keys, { passphrase: noPassphrase, geoip: null });
  try {
    const server = await startServer(setup.service, setup.log, { host: '127.0.0.1', port: 0 });
    return { setup, server };
  } catch (e) {
    await setup.close();
    throw e;
  }
}

interface Attempt {
  recipient: string;
  identity: string;
  package: string;
  destination: string;
  output: string;
}

/** Asks the service for `a`'s key and opens the package; the receipt is checked offline before the key is used. */
async function attempt(c: DemoContext, a: Attempt) {
  const { name, key } = await loadReleaseIdentity(a.identity);
  let receipt: string | undefined;
  const identity = new ReleaseIdentity({
    name,
    key,
    destination: a.destination,
    logKey: c.logKey,
    onReceipt: (r) => (receipt = r),
  });
  const trustedPublishers = [await readPublisherPublicKey(join(c.keys, 'publisher.pub'))];
  try {
    const opened = await open({ input: a.package, output: a.output, identities: [identity], trustedPublishers });
    return { decision: 'allow' as const, opened, receipt: receipt! };
  } catch (e) {
    if (!isModelsealError(e, 'RELEASE_DENIED')) throw e;
    const d = e.details as { requestId: string; reason: string; policies: string[] };
    return { decision: 'deny' as const, request: d.requestId, reason: d.reason, policies: d.policies };
  }
}

/** The receipt checked offline as `receipt verify` checks it: the log's signature and the inclusion proof. */
function checkReceipt(c: DemoContext, receipt: string) {
  const { index, entry, checkpoint } = verifyProof(receipt, undefined, c.logKey);
  const event = decodeEvent(entry) as ReleaseEvent | null;
  if (event?.type !== 'release' || event.decision !== 'allow')
    throw new Error('the receipt does not prove an allowed release');
  return {
    verified: true,
    index,
    checkpointSize: checkpoint.size,
    decision: event.decision,
    policySet: event.policySet,
  };
}

/** Step 4: acme-labs opens (allowed, receipt checked); acme-labs to China and darya-labs (Iranian) are denied. */
export async function releaseStep(
  c: DemoContext,
  packages: Record<string, string>,
  identities: Record<string, string>,
) {
  const allowed = await attempt(c, {
    recipient: ACME.name,
    identity: identities.acme!,
    package: packages[ACME.name]!,
    destination: 'DE',
    output: join(c.work, `${ACME.name}-opened`),
  });
  if (allowed.decision !== 'allow') throw new Error(`acme-labs was denied: ${allowed.reason}`);
  const receipt = checkReceipt(c, allowed.receipt);
  await writeFile(join(c.work, `${ACME.name}.release.tlog-proof`), allowed.receipt);
  tell(
    c,
    `4. Release: the service runs in this process; ${ACME.name} asked from DE → ALLOWED. The decision was log ` +
      `entry ${receipt.index}, covered by a signed checkpoint of size ${receipt.checkpointSize}, before the key ` +
      `left; the receipt verifies offline with the log key. Weights opened in ${allowed.opened.output}`,
  );
  const denied = [];
  for (const [who, identity, destination, why] of [
    [ACME.name, identities.acme!, 'CN', 'a destination outside its license'],
    [DARYA.name, identities.darya!, 'DE', 'a recipient of an embargoed nationality (IR)'],
  ] as const) {
    const r = await attempt(c, {
      recipient: who,
      identity,
      package: packages[who]!,
      destination,
      output: join(c.work, `${who}-${destination}-opened`),
    });
    if (r.decision !== 'deny') throw new Error(`${who} to ${destination} was allowed: the policy should deny it`);
    tell(c, `   ${who} asked for ${destination} (${why}) → DENIED: ${r.reason} (policies ${r.policies.join(', ')})`);
    denied.push({ recipient: who, destination, reason: r.reason, policies: r.policies, request: r.request });
  }
  return {
    allowed: { recipient: ACME.name, destination: 'DE', files: allowed.opened.files.length, receipt },
    denied,
  };
}

/** The log's decisions: every release event, in order. */
async function decisions(setup: ReleaseServiceSetup) {
  const { entries } = await queryEvents(setup.log.store, { type: 'release' });
  return entries.map(({ index, event }) => {
    const e = event as ReleaseEvent;
    return { index, recipient: e.recipient, destination: e.destination, decision: e.decision, reason: e.reason };
  });
}

/** Step 5a: the whole log verified, and the decisions listed. */
export async function auditStep(c: DemoContext, setup: ReleaseServiceSetup) {
  const report = await auditLog(setup.log.store, c.logKey);
  if (!report.ok) throw new Error(`the log does not verify: ${JSON.stringify(report.problem)}`);
  const list = await decisions(setup);
  tell(
    c,
    `5. Audit: the whole log verifies (${report.size} entries, ${report.checkpoints} checkpoints); ` +
      `decisions: ${list.map((d) => `#${d.index} ${d.recipient}→${d.destination} ${d.decision}`).join(', ')}`,
  );
  return { verified: report.ok, size: report.size, checkpoints: report.checkpoints, decisions: list };
}

/**
 * Step 5b: the evidence pack of the log (exported with the data directory's records, then verified
 * offline) and the report (report.html); `logVerified` is step 5a's verdict on the log (null: not checked).
 * Needs the evidence pack and report of issue 21 (src/console).
 */
export async function evidenceStep(c: DemoContext, setup: ReleaseServiceSetup, logVerified: boolean | null) {
  const output = join(c.work, 'evidence.tar');
  const records = await openDataRecords(c.data);
  try {
    const signer = await loadLogSigner(join(c.keys, 'log.key'), noPassphrase);
    const source = { store: setup.log.store, name: join(c.data, 'log'), remote: false };
    const pack = await exportEvidence({ source, records, signer, verifier: c.logKey, selection: {}, output });
    const verified = await verifyEvidence(output, [c.logKey]);
    const { entries } = await queryEvents(setup.log.store);
    const checkpoint = pack.latest;
    const data = buildReport({
      entries,
      log: { origin: setup.log.origin, size: setup.log.store.size, checkpoint, verified: logVerified },
      period: {},
      generated: new Date().toISOString(),
    });
    const report = join(c.work, 'report.html');
    await writeFile(report, renderReportHtml(data));
    tell(
      c,
      `   evidence pack ${output}: ${pack.entries} entries with proofs, ${pack.files} files, manifest signed with ` +
        `the log key; verified offline (${verified.decisions} decisions, every record present). Report: ${report}`,
    );
    return { evidence: { output, entries: pack.entries, files: pack.files, verified: verified.ok }, report };
  } finally {
    await records.close();
  }
}
