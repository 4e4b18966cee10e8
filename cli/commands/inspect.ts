import type { Command } from 'commander';
import { inspect, type InspectResult } from '../../src/index.js';
import { emitJson, fmtBytes, type GlobalOptions } from '../util.js';
import { classificationLines } from './seal-classify.js';

/** `inspect <package>`: what a package holds, without a key. */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show what a package holds: recipients, licenses, files, sizes, chunking, signer (no key needed)')
    .argument('<package>', 'package file')
    .action(async (pkg: string, _o: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const r = await inspect(pkg);
      emitJson(g, 'inspect', r);
      if (g.json || g.quiet) return;
      process.stdout.write(describe(pkg, r).join('\n') + '\n');
    });
}

/** The human description of an inspected package, one line per item. */
function describe(pkg: string, r: InspectResult): string[] {
  const groups = r.keyGroups
    ? `; opening needs one recipient from each of ${r.keyGroups.threshold} of the ${r.keyGroups.groups} key groups`
    : '';
  const fp = r.fingerprint;
  return [
    `${pkg}: ${r.format} package ${r.packageId}`,
    `  created     ${r.created}`,
    `  model       ${r.model.name} (${r.model.kind}) ${r.model.rootDigest}`,
    `  size        ${fmtBytes(r.plaintextBytes)} of weights in ${fmtBytes(r.packageBytes)}; ` +
      `${fmtBytes(r.chunkSize)} chunks; header region ${fmtBytes(r.headerRegionBytes)}`,
    `  signer      ${r.signer} (signature covers header and chunk list; trust it with verify --publisher)`,
    `  recipients  ${r.recipients.length}${groups}`,
    ...r.recipients.map((s) => {
      const group = s.group !== undefined ? `[group ${s.group}] ` : '';
      const model = s.model ? `  model ${s.model}` : '';
      return `    ${group}${s.type.padEnd(7)} ${s.recipient}  license ${s.license}  policy ${s.policy}${model}`;
    }),
    ...(fp
      ? [
          `  fingerprint ${fp.id} for ${fp.recipient} (key ${fp.keyId}, ${fp.scheme}, c = ${fp.params.c}); ` +
            `original ${fp.original}`,
        ]
      : []),
    ...(r.classification
      ? [`  classification (signed with the header)`, ...classificationLines(r.classification).map((l) => `    ${l}`)]
      : [`  classification none (sealed without one)`]),
    `  files       ${r.files.length}`,
    ...r.files.map((f) => `    ${f.mode} ${fmtBytes(f.size).padStart(10)}  ${f.path}`),
  ];
}
