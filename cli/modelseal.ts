#!/usr/bin/env node
/** The modelseal command line: parse options, call the library (src/index.ts), print. Only this layer exits. */
import { tuneMemoryForBulkCrypto } from '../src/index.js';
import { run } from './program.js';

tuneMemoryForBulkCrypto(); // takes effect when a command first starts bulk crypto (seal, open, verify, audit)
process.exitCode = await run(process.argv);
