// Runs a WASI preview 1 command under Node.js's WASI (V8) for truce's
// bench: node wasi-bench.js PROG.wasm DIR, with DIR preopened as "/".
// Compilation is done first and not timed; the last line on stderr is
// "exec-ns N", the nanoseconds of instantiation and the run.
'use strict';
const { WASI } = require('wasi');
const fs = require('fs');
const [prog, dir] = process.argv.slice(2);
(async () => {
  const mod = await WebAssembly.compile(fs.readFileSync(prog));
  const wasi = new WASI({ version: 'preview1', args: [prog], env: {}, preopens: { '/': dir }, returnOnExit: true });
  const t0 = process.hrtime.bigint();
  const inst = await WebAssembly.instantiate(mod, wasi.getImportObject());
  const code = wasi.start(inst);
  const t1 = process.hrtime.bigint();
  if (code !== 0) { console.error(`exit code ${code}`); process.exitCode = code; return; }
  console.error(`exec-ns ${t1 - t0}`);
})().catch((e) => { console.error(e); process.exitCode = 70; });
