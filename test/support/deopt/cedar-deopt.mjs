// Run by test/unit/wasm-deopt.test.ts with --allow-natives-syntax, in a child process of its own:
// it may die of a V8 fatal error, which is what the test looks for.
//
// Loads Cedar through modelseal's policy engine (dist/, so with its guard), lets TurboFan optimise
// evaluatePolicies with Cedar's statefulIsAuthorized (a Wasm export: externref -> externref) in
// it, then deoptimises evaluatePolicies from inside that Wasm call: Cedar reads the request's
// context.destination through a getter, a JavaScript callback made by the Wasm code. The deopt is
// lazy: it happens when the Wasm call returns into the optimised frame. `node:v8`'s
// setFlagsFromString is first replaced by a no-op when argv[2] is 'unguarded' (the control: the
// same run without the guard). Prints one JSON line with what it saw; exit 0 when it survived.
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const unguarded = process.argv[2] === 'unguarded';
const flagsSet = [];
const v8 = createRequire(import.meta.url)('node:v8');
const setFlags = v8.setFlagsFromString;
v8.setFlagsFromString = (f) => {
  flagsSet.push(f);
  if (!unguarded) setFlags(f);
};
syncBuiltinESMExports();

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const { preparePolicies, evaluatePolicies } = await import(join(ROOT, 'dist/src/policy/engine.js'));
const { SCHEMA } = await import(join(ROOT, 'dist/src/policy/defaults.js'));
const policy = '@id("p0") permit (principal, action, resource) when { context.destination == "DE" };';
if (!preparePolicies({ id: 'p', schema: SCHEMA, policies: { p0: policy } }))
  throw new Error('Cedar refused the test policy');

let deoptimise = false;
// Whether TurboFan code is installed, asked as %ActiveTierIsTurbofan: the bits of
// %GetOptimizationStatus moved in V8 14 (Node 26: "optimised" is bit 3 there, bit 4 before).
let optimisedAtDeopt = false;
function request() {
  const E = (type, id) => ({ type: `Modelseal::${type}`, id });
  const context = {
    license: { __entity: E('License', 'L') },
    time: 1,
    embargoed: false,
    screening: 'clear',
    screeningLists: [],
    listsStale: false,
    screeningOverridden: false,
    nationalityEmbargoed: false,
    package: 'x',
    observedCountry: '',
    observedEmbargoed: false,
    observedNetwork: '',
    geoDatabase: '',
    geoAgeDays: 0,
    geoStale: false,
    classification: '',
    licenseRequired: false,
    licenseRequiredObserved: false,
    rulePacks: [],
  };
  Object.defineProperty(context, 'destination', {
    enumerable: true,
    get() {
      if (deoptimise) {
        deoptimise = false;
        optimisedAtDeopt = %ActiveTierIsTurbofan(evaluatePolicies);
        %DeoptimizeFunction(evaluatePolicies);
      }
      return 'DE';
    },
  });
  const license = {
    holder: { __entity: E('Recipient', 'r') },
    artifacts: ['a'],
    destinations: ['DE'],
    notBefore: 0,
    notAfter: 9,
    maxReleases: 5,
    used: 0,
    authorization: '',
  };
  return {
    principal: E('Recipient', 'r'),
    action: E('Action', 'release'),
    resource: E('Artifact', 'a'),
    context,
    preparsedSchemaName: 'p',
    preparsedPolicySetId: 'p',
    validateRequest: true,
    entities: [
      {
        uid: E('Recipient', 'r'),
        attrs: { org: 'o', country: 'DE', nationality: 'DE', nationalities: ['DE'] },
        parents: [],
      },
      { uid: E('Artifact', 'a'), attrs: { digest: 'a', model: 'a' }, parents: [] },
      { uid: E('License', 'L'), attrs: license, parents: [] },
    ],
  };
}

// Until the deopt has hit optimised code: the first optimised versions may still deopt at once
// (eagerly, on a map Cedar's answers had not shown yet) before they reach the Wasm call.
let attempts = 0;
while (!optimisedAtDeopt && attempts < 20) {
  attempts++;
  %PrepareFunctionForOptimization(evaluatePolicies);
  for (let i = 0; i < 50; i++)
    if (evaluatePolicies(request()).decision !== 'allow') throw new Error('Cedar did not allow the test request');
  %OptimizeFunctionOnNextCall(evaluatePolicies);
  deoptimise = true;
  if (evaluatePolicies(request()).decision !== 'allow')
    throw new Error('Cedar did not allow the test request after the deopt');
}
console.log(JSON.stringify({ v8: process.versions.v8, unguarded, flagsSet, attempts, optimisedAtDeopt }));
