/**
 * `modelseal gate review`: usage and extraction risk per caller of the inference gateway, from the
 * log, with the evidence. It advises; a person decides whether to revoke (docs/GATE.md, "`gate review`").
 */
import type { Command } from 'commander';
import {
  loadPseudonymizer,
  openNote,
  reviewGate,
  type CallerReview,
  type GateReview,
  type Pseudonymizer,
} from '../../src/index.js';
import { LOG_HELP, LOG_KEY_HELP, logKey, logOptions, timeOption, withLog, type LogFlags } from './log-flags.js';
import { emitJson, say, type GlobalOptions } from '../util.js';

/** The score at or above which `gate review` advises a person to look at revoking (two signals: docs/GATE.md). */
export const REVIEW_ALARM = 0.5;

interface ReviewFlags extends LogFlags {
  logKey?: string;
  since?: string;
  until?: string;
  recipient?: string;
  pseudonymKey?: string;
  data?: string;
}

/** Adds `review` to the `gate` command (brief G's): `program.commands` holds it once `registerGate` ran. */
export function registerGateReview(gate: Command): void {
  const review = gate
    .command('review')
    .description('usage and extraction risk per caller of the gateway, from the log, with the evidence');
  logOptions(review, LOG_HELP)
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .option('--since <time>', 'count use from this time on (ISO 8601); the risk also weighs earlier calls')
    .option('--until <time>', 'only before this time (ISO 8601): the review as it stood then')
    .option('--recipient <name>', 'only this caller (with --pseudonym-key, also where it was logged as a pseudonym)')
    .option('--pseudonym-key <file>', "the service's pseudonym key, to match --recipient against logged pseudonyms")
    .option('--data <dir>', "the service's data directory, named in the revocation advice")
    .addHelpText(
      'after',
      `
Reads the log's infer-admit and infer-settle entries (the latest checkpoint's signature is checked),
replays them through the extraction monitor, and prints per caller: calls allowed and denied,
denials by reason, tokens, FLOPs, its share of the tokens, how many calls had estimated tokens, the
risk score and each signal with its evidence, and its most used prompt templates (as digests, never
content). For a caller scoring ${REVIEW_ALARM} or more it prints the commands that would revoke its
keys: advice only, nothing is revoked. With --json: { callers: [...] }.

Examples:
  modelseal gate review --log modelseal-data/log --since 2026-12-01
  modelseal gate review --log http://127.0.0.1:7411 --recipient acme-labs --json`,
    )
    .action(gateReview);
}

async function gateReview(_own: ReviewFlags, cmd: Command): Promise<void> {
  // The flags review shares with `gate` (--data, --pseudonym-key) are parsed as the gateway's: read both.
  const o = cmd.optsWithGlobals<ReviewFlags>();
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const since = timeOption('since', o.since);
  const until = timeOption('until', o.until);
  const verifier = await logKey(g, o.logKey);
  const pseudonyms = o.pseudonymKey ? await loadPseudonymizer(o.pseudonymKey) : undefined;
  const want = o.recipient;
  const caller = want === undefined ? undefined : (logged: string) => matches(pseudonyms, logged, want);
  const review = await withLog(o, async ({ store }) => {
    if (store.checkpoint !== null) openNote(store.checkpoint, [verifier]);
    return reviewGate(store, { ...(since !== undefined && { since }), ...(until !== undefined && { until }), caller });
  });
  const advice = review.callers.filter((c) => c.risk.score >= REVIEW_ALARM).map((c) => revokeAdvice(c, o, want));
  emitJson(g, 'gate review', { ...review, alarm: REVIEW_ALARM, advice });
  if (g.json || g.quiet) return;
  process.stdout.write(reviewText(review, advice));
  say(g, `${review.callers.length} caller(s), ${review.entries} inference entries of ${review.size} in the log`);
}

function matches(pseudonyms: Pseudonymizer | undefined, logged: string, want: string): boolean {
  return pseudonyms ? pseudonyms.matches(logged, want) : logged === want;
}

/** What a person could run to revoke a flagged caller: its keys, then the recipient itself. */
function revokeAdvice(c: CallerReview, o: ReviewFlags, name: string | undefined) {
  const data = o.data ? ` --data ${o.data}` : '';
  const recipient = name ?? c.caller;
  return {
    caller: c.caller,
    score: c.risk.score,
    commands: [
      ...c.keys.map((k) => `modelseal recipient key revoke ${k}${data}`),
      `modelseal recipient revoke ${recipient}${data}`,
    ],
  };
}

const num = (n: number) => n.toLocaleString('en-US');

/** One caller's block of the human report. */
function callerText(c: CallerReview): string {
  const lines = [
    `${c.caller}: risk ${c.risk.score.toFixed(2)}, ${num(c.calls.allowed)} allowed, ${num(c.calls.denied)} denied`,
    `  tokens ${num(c.tokens.prompt)} in, ${num(c.tokens.completion)} out (${(100 * c.tokenShare).toFixed(1)} % of ` +
      `all; ${(100 * c.estimatedShare).toFixed(0)} % of calls estimated); FLOPs ${c.flops}`,
  ];
  const denials = Object.entries(c.denials).map(([r, n]) => `${r} ${n}`);
  if (denials.length > 0) lines.push(`  denials: ${denials.join(', ')}`);
  const outcomes = Object.entries(c.outcomes).map(([r, n]) => `${r} ${n}`);
  if (outcomes.length > 0) lines.push(`  outcomes: ${outcomes.join(', ')}`);
  for (const s of c.risk.signals) {
    const mark = s.fired ? 'FIRED' : 'quiet';
    lines.push(`  ${mark} ${s.name} ${s.value.toFixed(2)} (threshold ${s.threshold}): ${s.evidence}`);
  }
  if (c.templates.length > 0)
    lines.push(`  top templates: ${c.templates.map((t) => `${t.id} × ${t.calls}`).join(', ')}`);
  if (c.keys.length > 0) lines.push(`  API keys: ${c.keys.join(', ')}`);
  return lines.join('\n');
}

/** The human report: each caller, then the advice for flagged ones. */
function reviewText(r: GateReview, advice: ReturnType<typeof revokeAdvice>[]): string {
  const period = `${r.since ?? 'the start'} to ${r.until ?? 'now'}`;
  const out = [`gate review, ${period}:`, ...r.callers.flatMap((c) => ['', callerText(c)])];
  if (r.unauthenticated > 0) out.push('', `${num(r.unauthenticated)} call(s) from no recipient (refused unidentified)`);
  if (advice.length > 0) {
    out.push('', `Advice (score ≥ ${REVIEW_ALARM}; a person decides, nothing was revoked). To revoke, run:`);
    for (const a of advice) for (const c of a.commands) out.push(`  ${c}`);
  }
  return out.join('\n') + '\n';
}
