// `node --import` this: every V8 flag the process then sets at run time (node:v8's
// setFlagsFromString, on any thread that loads it) is reported on stderr as "v8-flags-set: <flags>".
import { createRequire, syncBuiltinESMExports } from 'node:module';

const v8 = createRequire(import.meta.url)('node:v8');
const setFlags = v8.setFlagsFromString;
v8.setFlagsFromString = (flags) => {
  process.stderr.write(`v8-flags-set: ${flags}\n`);
  setFlags(flags);
};
syncBuiltinESMExports();
