// bench_update32.mjs Provides the update's heap figures on the 32-bit WebAssembly MicroPython: tools/bench_update_mpy.py driven a piece per call.
// MIT license
//
//   node tools/bench_update32.mjs <bundle> <flash dir> <folder with updater.mpy>
// This port collects garbage only between calls from JS, so each piece of the bundle is one call, and
// the collection and measurement after it another. Prints bench_update_mpy.end()'s JSON line
// (runPython gives no value back: results go through globals and print).
import path from "path";
import { fileURLToPath } from "url";
import { start } from "./mpy32.mjs";

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const [bundle, flash, mpyDir] = process.argv.slice(2);
const mp = await start({ copy: [path.dirname(path.resolve(bundle)), path.resolve(mpyDir)], cwd: path.resolve(flash) });
const script = path.join(ROOT, "tools", "bench_update_mpy.py");
mp.runPython(`import sys\nsys.path.insert(0, ${JSON.stringify(path.dirname(script))})\nimport bench_update_mpy as b`);
mp.runPython(`b.base(${JSON.stringify(path.resolve(mpyDir))})`);
mp.runPython("b.load()");
mp.runPython(`b.start(${JSON.stringify(path.resolve(bundle))})`);
for (let i = 0; i < 100000; i++) {  // a bundle of 50 MB at most: a step that never ends the loop ends here
    mp.runPython("done = b.step()");
    if (mp.globals.get("done")) break;
    mp.runPython("b.collected()");
}
mp.runPython("print(b.end())");
