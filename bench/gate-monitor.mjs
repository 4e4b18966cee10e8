// The extraction monitor's speed (docs/GATE.md, "Extraction monitoring"): promptFeatures on a 2 KB
// prompt (Latin and CJK), and the monitor's observe() and assess() on a caller's full window.
// Targets: < 50 µs per call for each. Runs the built code: `npm run build && node bench/gate-monitor.mjs`.
import os from 'node:os';

const features = await import('../dist/src/gate/monitor/features.js');

const WORDS =
  'the model weights export control review license summary translate classify answer question data report policy ' +
  'network system user request response value table chart city river mountain history science music language';
const words = WORDS.split(' ');
let seed = 7;
const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const latin = () => {
  let s = '';
  while (s.length < 2048) s += words[Math.floor(rand() * words.length)] + (rand() < 0.1 ? '. ' : ' ');
  return s.slice(0, 2048);
};
const cjk = () => {
  let s = '';
  while (s.length < 700) s += String.fromCodePoint(0x4e00 + Math.floor(rand() * 2000)); // ≈ 2 KB of UTF-8
  return s;
};

/**
 * Median CPU µs (user + system, this process) per call of fn over `inputs`, in rounds after a
 * warm-up: CPU time, so other processes on a shared machine inflate it less than wall time.
 */
function time(label, inputs, fn) {
  for (const x of inputs) fn(x);
  const rounds = [];
  for (let r = 0; r < 7; r++) {
    const t = process.cpuUsage();
    for (const x of inputs) fn(x);
    const { user, system } = process.cpuUsage(t);
    rounds.push((user + system) / inputs.length);
  }
  rounds.sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} ${rounds[3].toFixed(1).padStart(7)} µs (best ${rounds[0].toFixed(1)})`);
  return rounds[3];
}

const prompts = Array.from({ length: 2000 }, latin);
const cjkPrompts = Array.from({ length: 2000 }, cjk);
console.log(
  `node ${process.version}, ${process.arch}, load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs`,
);
time('promptFeatures, 2 KB English-like', prompts, (p) => features.promptFeatures(p, 400));
time('promptFeatures, 2 KB Chinese characters', cjkPrompts, (p) => features.promptFeatures(p, 700));

// The monitor: callers with a full window; observe() of an admit entry and assess() of a caller.
const { createExtractionMonitor } = await import('../dist/src/gate/monitor/monitor.js');
const monitor = createExtractionMonitor();
const callers = Array.from({ length: 200 }, (_, i) => `caller-${i}`);
const admit = (caller, p, i) => ({
  type: 'infer-admit',
  id: `id-${i}`,
  recipient: caller,
  application: 'chat',
  decision: 'allow',
  features: features.promptFeatures(p, 400),
});
const entries = prompts.map((p, i) => admit(callers[i % callers.length], p, i));
let index = 0;
for (let round = 0; round < 20; round++)
  for (const e of entries) monitor.observe(index++, { ...e, id: `${e.id}-${round}` });
const fresh = prompts.map((p, i) => admit(callers[i % callers.length], p, i + 1e6));
time('observe(), admit entry, window full', fresh, (e) => monitor.observe(index++, e));
time('assess(), a caller with a full window', callers, (c) => monitor.assess(c));
