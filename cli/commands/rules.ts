import type { Command } from 'commander';
import { loadRulePackFile, shippedRulePacks, summarizeRulePack, type RulePack } from '../../src/index.js';
import { emitJson, type GlobalOptions } from '../util.js';

/** One line per pack: name, regime, effective–end, status, title. */
function line(p: RulePack): string {
  const s = summarizeRulePack(p);
  const dates = `${s.effective} – ${(s.end ?? '').padEnd(10)}`;
  return `${s.name.padEnd(34)} ${s.regime.padEnd(12)} ${dates} ${s.status.padEnd(20)} ${s.title}`;
}

/** `rules list [--rules <file>...]`: the shipped rule packs (or the given files), their dates and status. */
export function registerRules(program: Command): void {
  const rules = program.command('rules').description('the rule packs classifications are determined under');
  rules
    .command('list')
    .description('list the rule packs: id@date, regime, effective and end dates, enforcement status, title')
    .option(
      '--rules <file>',
      'validate and list this rule pack file too (repeatable)',
      (v: string, a: string[]) => [...a, v],
      [],
    )
    .addHelpText(
      'after',
      '\nA determination names its pack as <id>@<date>; `classify --rules <id>@<date>` re-runs it under exactly ' +
        'that pack. docs/CLASSIFICATION.md, "Rule packs".',
    )
    .action(async (o: { rules: string[] }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const packs = [...shippedRulePacks()];
      for (const file of o.rules) packs.push(await loadRulePackFile(file));
      emitJson(g, 'rules list', { packs: packs.map(summarizeRulePack) });
      if (!g.json && !g.quiet) process.stdout.write(packs.map(line).join('\n') + '\n');
    });
}
