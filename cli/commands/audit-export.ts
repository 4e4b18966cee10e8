/** `audit export` and `audit verify-export`: the evidence pack for an auditor (docs/AUDIT.md). */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  exportEvidence,
  KEYSTORE_FILES,
  loadLogSigner,
  loadPseudonymizer,
  logSignerFromVerifierKey,
  ModelsealError,
  openDataRecords,
  readLogVerifier,
  remoteRecords,
  verifyEvidence,
  type EvidenceRecords,
  type EvidenceSelection,
  type LogSource,
  type NoteSigner,
} from '../../src/index.js';
import {
  collect,
  emitJson,
  keysDir,
  passphraseSource,
  publisherKey,
  say,
  signerFrom,
  withProgress,
  type GlobalOptions,
} from '../util.js';
import {
  countries,
  logFlag,
  logKey,
  logOptions,
  timeOption,
  withLog,
  LOG_KEY_HELP,
  type LogFlags,
} from './log-flags.js';

interface ExportFlags extends LogFlags {
  data?: string;
  since?: string;
  until?: string;
  model?: string;
  recipient?: string;
  destination: string[];
  pseudonymKey?: string;
  logKey?: string;
  logSigner?: string;
  allowMissing?: boolean;
  output: string;
  force?: boolean;
}

/** The selection the flags make, checked. */
function selection(o: ExportFlags): EvidenceSelection {
  const destinations = countries('destination', o.destination);
  if (o.model !== undefined && !/^(sha256:)?[0-9a-f]{64}$/.test(o.model))
    throw new ModelsealError('INVALID_ARGUMENT', `--model ${o.model}: expected a root digest sha256:<64 hex>`);
  const since = timeOption('since', o.since);
  const until = timeOption('until', o.until);
  return {
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(o.model !== undefined ? { model: o.model.startsWith('sha256:') ? o.model : `sha256:${o.model}` } : {}),
    ...(o.recipient !== undefined ? { recipient: o.recipient } : {}),
    ...(destinations.length ? { destinations } : {}),
  };
}

/** The log key that signs the manifest: --log-signer (HSM or KMS) over the key store's log.vkey, else log.key. */
async function manifestSigner(g: GlobalOptions, o: ExportFlags): Promise<NoteSigner> {
  const keys = keysDir(g);
  if (o.logSigner !== undefined)
    return logSignerFromVerifierKey(join(keys, KEYSTORE_FILES.logPub), await signerFrom(g, o.logSigner, 'log'));
  return loadLogSigner(join(keys, KEYSTORE_FILES.log), passphraseSource(g));
}

/**
 * Where the records come from: --data, or the data directory a `--log <data>/log` sits in when it
 * holds policy/ and recipients/; for a service, its POST /v1/records as the key store's publisher.
 */
async function recordsFor(g: GlobalOptions, o: ExportFlags, src: LogSource): Promise<EvidenceRecords> {
  const pseudonyms = o.pseudonymKey ? await loadPseudonymizer(o.pseudonymKey) : undefined;
  const opts = pseudonyms ? { pseudonyms } : {};
  if (o.data !== undefined) return openDataRecords(resolve(o.data), opts);
  if (src.remote) return remoteRecords(src.name, await publisherKey(g));
  const log = logFlag(o)!.spec;
  const parent = dirname(resolve(log));
  if (basename(resolve(log)) === 'log' && ['policy', 'recipients'].every((d) => existsSync(join(parent, d))))
    return openDataRecords(parent, opts);
  throw new ModelsealError(
    'INVALID_ARGUMENT',
    `${src.name} is not the log/ folder of a data directory: give --data <dir>, the release service's data ` +
      'directory whose policy sets, list snapshots and recipients the decisions rest on',
  );
}

async function auditExport(o: ExportFlags, cmd: Command): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const verifier = await logKey(g, o.logKey);
  const signer = await manifestSigner(g, o);
  const sel = selection(o);
  const pseudonyms = o.pseudonymKey ? await loadPseudonymizer(o.pseudonymKey) : undefined;
  await withLog(o, async (source) => {
    const records = await recordsFor(g, o, source);
    try {
      const s = await withProgress(g, (progress) => {
        const onProgress = progress.counting('audit');
        return exportEvidence({
          source,
          records,
          signer,
          verifier,
          selection: sel,
          output: resolve(o.output),
          ...(pseudonyms ? { pseudonyms } : {}),
          ...(o.allowMissing ? { allowMissing: true } : {}),
          ...(o.force ? { overwrite: true } : {}),
          ...(onProgress ? { onProgress } : {}),
        });
      });
      emitJson(g, 'audit export', s);
      const gaps = s.gaps.length ? `; ${s.gaps.length} record(s) missing, declared in decisions.json` : '';
      say(
        g,
        `wrote ${s.output}: ${s.entries} of ${s.size} entries, proven against the checkpoint of size ` +
          `${s.checkpoint.size}, consistent with the latest (${s.latest.size}); ${s.files} files${gaps}`,
      );
    } finally {
      await records.close();
    }
  });
}

async function auditVerifyExport(
  file: string,
  o: { logKey: string[]; acceptGaps?: boolean },
  cmd: Command,
): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const verifiers = o.logKey.length
    ? await Promise.all(o.logKey.map((k) => readLogVerifier(k)))
    : [await logKey(g, undefined)];
  const v = await verifyEvidence(resolve(file), verifiers, o.acceptGaps ? { acceptGaps: true } : {});
  emitJson(g, 'audit verify-export', v);
  const gaps = v.gaps.length ? `; ${v.gaps.length} missing record(s) accepted` : '';
  say(
    g,
    `${file}: verified: ${v.entries} entries of log ${v.origin} proven against the checkpoint of size ` +
      `${v.checkpoint.size}, consistent with size ${v.latest.size}; ${v.files} files, signed by ` +
      `${v.verifiedBy.join(', ')}${gaps}`,
  );
}

/** `audit export` and `audit verify-export`. */
export function registerAuditExport(audit: Command): void {
  const exp = audit
    .command('export')
    .description('write an evidence pack: selected log entries with proofs, the records they rest on, a report');
  logOptions(exp)
    .option(
      '--data <dir>',
      "the release service's data directory holding the records (default: the parent of --log <dir>/log)",
    )
    .option('--since <time>', 'only entries from this time on (ISO 8601)')
    .option('--until <time>', 'only entries before this time (ISO 8601)')
    .option('--model <digest>', "only this model's exports, releases (fingerprinted copies included), grants, traces")
    .option('--recipient <id>', 'only this recipient (with --pseudonym-key, also where it was logged as a pseudonym)')
    .option('--destination <CC>', 'only releases to this destination (ISO 3166 alpha-2; repeatable)', collect, [])
    .option('--pseudonym-key <file>', "the service's pseudonym key: records are looked up by the name logged")
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .option('--log-signer <spec>', 'sign the manifest with the log key in an HSM or KMS (as serve --log-signer)')
    .option('--allow-missing', 'write the pack even when records are missing; it declares them as gaps')
    .requiredOption('-o, --output <file>', 'the pack to write (a tar file)')
    .option('--force', 'replace the output file if it exists')
    .addHelpText(
      'after',
      `
The pack holds each selected entry with its inclusion proof against one signed checkpoint, a
consistency proof from it to the latest checkpoint, the records each decision rests on (policy
sets, list snapshots, recipients, classification records and datasheets), report.json and
report.html, and a manifest of every file's SHA-256 signed with the log key. It is verified
before it is renamed into place. Layout and checking by hand: docs/AUDIT.md.

Examples:
  modelseal audit export --log modelseal-data/log --since 2026-01-01 --until 2027-01-01 \\
    --model sha256:3f1b... -o model-2026.tar
  modelseal audit export --log postgres://audit@db/modelseal --data /srv/modelseal-data \\
    --destination DE --destination FR -o eu.tar
  modelseal audit export --log https://releases.example --recipient acme-labs -o acme.tar
  modelseal audit verify-export model-2026.tar --log-key log.vkey`,
    )
    .action(auditExport);
  audit
    .command('verify-export')
    .description("check an evidence pack offline: signatures, proofs, digests, and every decision's records")
    .argument('<pack>', 'the evidence pack (audit export -o)')
    .option(
      '--log-key <key|file>',
      `${LOG_KEY_HELP}; repeat it for each key the log has had (key rotation)`,
      collect,
      [],
    )
    .option('--accept-gaps', 'accept a pack that declares missing records (they are still reported)')
    .addHelpText(
      'after',
      `
Needs no access to the log or the service. Fails (exit 23) on any changed byte, naming the file in
the pack; exit 24 when the pack declares missing records and --accept-gaps is not given.

Example:
  modelseal audit verify-export evidence.tar --log-key 'releases.example/log+1a2b3c4d+AV...'`,
    )
    .action(auditVerifyExport);
}
