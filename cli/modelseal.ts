#!/usr/bin/env node
/** The modelseal command line: parse options, call the library (src/index.ts), print. Only this layer exits. */
import { run } from './program.js';

process.exitCode = await run(process.argv);
