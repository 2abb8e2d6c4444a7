// Runs a WASI preview 1 command under Node.js's WASI, as a reference for
// Truce's engine: node wasi-node.js PROG.wasm GUESTDIR=HOSTDIR [ARGS...]
// Environment variables named CONFORM_* are passed on; stdin is passed on.
'use strict';
const { WASI } = require('wasi');
const fs = require('fs');
const [prog, pre, ...args] = process.argv.slice(2);
const eq = pre.indexOf('=');
const env = {};
for (const [k, v] of Object.entries(process.env)) {
  if (k.startsWith('CONFORM_')) env[k] = v;
}
const wasi = new WASI({
  version: 'preview1',
  args: [prog, ...args],
  env,
  preopens: { [pre.slice(0, eq)]: pre.slice(eq + 1) },
  returnOnExit: true,
});
(async () => {
  const mod = await WebAssembly.compile(fs.readFileSync(prog));
  const inst = await WebAssembly.instantiate(mod, wasi.getImportObject());
  const code = wasi.start(inst);
  process.exitCode = code;
})().catch((e) => { console.error(e); process.exitCode = 70; });
