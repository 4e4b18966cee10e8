// Runs a command (argv) as a child and ends it when this process's stdin closes: when the test
// that started it calls stop(), or when that test process dies without calling it (a killed
// vitest worker), so a peer such as docker-registry is never left running. Its output passes
// through; this process exits with the command.
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2);
if (!command) throw new Error('usage: node tied-to-parent.mjs <command> [args…]');
const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
child.on('error', (e) => {
  process.stderr.write(`tied-to-parent: ${command}: ${e.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
process.stdin.on('end', () => child.kill('SIGTERM'));
process.stdin.resume();
