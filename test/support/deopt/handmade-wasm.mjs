// Run by test/unit/wasm-deopt.test.ts with --allow-natives-syntax: the smallest form of the V8 bug
// that killed the release service on Node 20 and 22. A Wasm module built here byte by byte imports a
// JavaScript function and exports a function of type () -> argv[2] (i32, i64, f32, f64 or
// externref) that just calls it. An optimised JavaScript caller calls the export, and the import
// deoptimises that caller while the Wasm call runs, so the deopt happens lazily on return.
// Prints one JSON line and exits 0 when it survived.
const kinds = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, externref: 0x6f };
const kind = process.argv[2];
if (!(kind in kinds)) throw new Error(`usage: handmade-wasm.mjs ${Object.keys(kinds).join('|')}`);
const leb = (n) => {
  const out = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n);
  return out;
};
const section = (id, body) => [id, ...leb(body.length), ...body];
const name = (s) => [s.length, ...Buffer.from(s)];
const body = [0, 0x10, 0, 0x0b]; // no locals; call function 0 (the import); end
const bytes = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0], // "\0asm", version 1
  ...section(1, [1, 0x60, 0, 1, kinds[kind]]), // one type: () -> kind
  ...section(2, [1, ...name('e'), ...name('f'), 0x00, 0]), // import e.f: function of type 0
  ...section(3, [1, 0]), // one function of type 0
  ...section(7, [1, ...name('g'), 0x00, 1]), // export it as g
  ...section(10, [1, ...leb(body.length), ...body]),
]);
const value = { i32: 7, i64: 7n, f32: 1.5, f64: 1.5, externref: { an: 'object' } }[kind];
let deoptimise = false;
let optimisedAtDeopt = false;
function imported() {
  if (deoptimise) {
    deoptimise = false;
    optimisedAtDeopt = %ActiveTierIsTurbofan(caller);
    %DeoptimizeFunction(caller);
  }
  return value;
}
const g = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { f: imported } }).exports.g;
function caller(x) {
  return [g(), x + 1];
}
%PrepareFunctionForOptimization(caller);
caller(1);
caller(2);
%OptimizeFunctionOnNextCall(caller);
caller(3);
deoptimise = true;
const [got] = caller(4);
console.log(JSON.stringify({ kind, optimisedAtDeopt, same: got === value || (kind === 'f32' && got === 1.5) }));
