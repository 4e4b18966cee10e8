/** The reference GGUF implementation for the interop tests: the `gguf` package in the test venv. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PYTHON = join(fileURLToPath(new URL('../../', import.meta.url)), '.peers/venv/bin/python');

/** Fails (never skips) when the Python peers are not installed. */
export function requireGguf(): void {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} does not exist: run \`bash test/peers/setup.sh\` to install the Python peers`);
  const r = spawnSync(PYTHON, ['-c', 'import gguf, numpy'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`the venv at ${PYTHON} cannot import gguf: run \`bash test/peers/setup.sh\`\n${r.stderr}`);
}
