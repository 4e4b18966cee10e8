#!/usr/bin/env node
/** The modelseal command line: parse options, call the library (src/index.ts), print. Only this layer exits. */
import { tuneMemoryForBulkCrypto } from '../src/index.js';
import { run } from './program.js';

// A reader that stops early (`modelseal --help | head`) closes the pipe: stop quietly, as Unix tools do.
for (const out of [process.stdout, process.stderr])
  out.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(process.exitCode ?? 0);
  });
tuneMemoryForBulkCrypto(); // takes effect when a command first starts bulk crypto (seal, open, verify, audit)
process.exitCode = await run(process.argv);
