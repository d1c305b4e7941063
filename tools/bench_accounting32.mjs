// bench_accounting32.mjs Provides the accounting's bench figures on the 32-bit WebAssembly MicroPython: tools/bench_accounting.py driven a step per call.
// MIT license
//
//   node tools/bench_accounting32.mjs
// This port collects garbage only when a call from JS returns (gc.collect() inside Python just marks
// a collection as due), so each measured step is one call, a gc.collect() another, and the
// measurement after it a third. Prints bench_accounting.result()'s JSON line
// (runPython gives no value back: results go through print).
import path from "path";
import { fileURLToPath } from "url";
import { start } from "./mpy32.mjs";

const TOOLS = path.dirname(fileURLToPath(import.meta.url));
const mp = await start();
mp.runPython(`import sys\nsys.path.insert(0, ${JSON.stringify(TOOLS)})\nimport bench_accounting as b`);
const COLLECT = "import gc\ngc.collect()";
for (const step of ["b.prepare()", COLLECT, "b.mark()", "b.load()", COLLECT, "b.since_mark('code')"]) mp.runPython(step);
mp.runPython("rounds = b.ROUNDS");
for (let i = 0; i < mp.globals.get("rounds"); i++) {
    for (const step of ["b.decode_alone()", COLLECT, "b.mark()", "b.decode_into_a_ledger()", COLLECT, "b.since_mark('state')"]) {
        mp.runPython(step);
    }
}
mp.runPython("b.live()");
mp.runPython("print(b.result())");
