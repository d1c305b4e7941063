// bench_setup32.mjs Provides the settings page's heap figures on the 32-bit WebAssembly MicroPython: tools/bench_setup_mpy.py's web step driven a pass per call.
// MIT license
//
//   node tools/bench_setup32.mjs <folder with lib compiled to .mpy> <flash dir with config.json> <port> [<ROMFS image>]
// With a ROMFS image (the same lib under lib/), lib runs from it, mounted at /rom outside the heap.
// This port collects garbage only between calls from JS, so each pass of the web step is one call, its
// block table (with the pass's garbage) another, and the collection a third. After GET /bench-end, the
// heap each module of a request takes (its code: bytecode and constants, in RAM as a device loads an .mpy).
import fs from "fs";
import path from "path";
import { fileURLToPath } from "url";
import { start } from "./mpy32.mjs";

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const [mpyDir, flash, port, image] = process.argv.slice(2);
const romfs = image ? fs.readFileSync(image) : null;
const mp = await start({ net: true, copy: romfs ? [path.resolve(flash)] : [path.resolve(mpyDir), path.resolve(flash)],
    cwd: path.resolve(flash), romfs });
const lib = romfs ? "/rom/lib" : path.resolve(mpyDir);
mp.runPython(`import sys, gc
sys.path[:0] = [${JSON.stringify(lib)}, ${JSON.stringify(path.join(ROOT, "tools"))}]
import bench_setup_mpy as b
b.setup(${Number(port)}, ${JSON.stringify(path.join(ROOT, "boards"))})
gc.collect()`);
mp.runPython("b.base()");
const b = mp.pyimport("bench_setup_mpy");
const gc = mp.pyimport("gc");
const pause = new Int32Array(new SharedArrayBuffer(4));
const deadline = Date.now() + 300000; // the clients give up long before
for (;;) {
    const r = b.step();
    if (r === 2 || Date.now() > deadline) break;
    if (r === 1) b.dump();
    gc.collect(); // marks it pending: the collection runs as this call returns
    Atomics.wait(pause, 0, 0, r ? 0 : 5);
}
for (const name of ["form_req", "setup_form", "config"]) {
    gc.collect();
    b.code_start(name);
    gc.collect();
    b.code_end(name);
}
