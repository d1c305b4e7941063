// run_wasm.mjs Provides a `micropython`-like command for the 32-bit WebAssembly MicroPython, for the network and heap tests.
// MIT license
//
// A stand-in for tools/mpy32.mjs (written elsewhere) with what the firmware runs need on top:
//   node host_tests/mpy32_net/run_wasm.mjs [-X heapsize=96K] [--net] [--copy PATH]... [--romfs IMAGE]
//        [--mem-log FILE] [--control FILE] script.py [args]
// - MICROPYPATH is sys.path, as for the unix port; its directories, the script's own and every
//   --copy file or directory are copied into the in-memory filesystem at the same absolute paths;
//   the working directory exists there too, so relative paths resolve as on the host;
// - --romfs IMAGE: a ROMFS image (mpremote romfs build) that the port maps outside its GC heap and
//   mounts at /rom, /rom and /rom/lib first on sys.path, as a board with a ROMFS partition does: .mpy
//   files there run in place, their bytecode and constant data are not copied into the heap;
// - os.getenv reads node's environment (the unix port has it; the firmware's host runs are set up by it);
// - --net installs tools/mpy32_net.mjs (sockets, select, sleeps that do not spin);
// - a script may hand a function to `_mpy32loop.hold(fn, loop_ms)`: once the script returns, it is
//   called every loop_ms from here, each call on its own. This port collects garbage only when a call
//   from JS returns (ports/webassembly/main.c: gc_collect() inside Python just marks it pending and
//   the heap grows instead), so a loop that never returns would grow its heap without end. A full
//   collection follows every call. See host_tests/mpy32_net/firmware32.py.
// - --mem-log FILE: once a second (after that collection) a JSON line with micropython.mem_info()'s
//   figures; --control FILE: commands read once a second ("fragment <bytes>": see fragment() below).
// Exit status: the script's (SystemExit), 1 on an uncaught exception.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const PKG = process.env.MPY32_PKG ||
  path.join(ROOT, "build", "npm", "node_modules", "@micropython", "micropython-webassembly-pyscript", "micropython.mjs");

function parseArgs(argv) {
  const o = { heap: 128 * 1024, net: false, copy: [], romfs: null, memLog: null, control: null, script: null, args: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (o.script) o.args.push(a);
    else if (a === "-X") {
      const m = /^heapsize=(\d+)([kKmM]?)$/.exec(argv[++i] || "");
      if (!m) throw new Error("-X heapsize=N[K|M] expected");
      o.heap = parseInt(m[1], 10) * ({ k: 1024, m: 1048576 }[m[2].toLowerCase()] || 1);
    } else if (a === "--net") o.net = true;
    else if (a === "--copy") o.copy.push(path.resolve(argv[++i]));
    else if (a === "--romfs") o.romfs = path.resolve(argv[++i]);
    else if (a === "--mem-log") o.memLog = path.resolve(argv[++i]);
    else if (a === "--control") o.control = path.resolve(argv[++i]);
    else o.script = path.resolve(a);
  }
  if (!o.script) throw new Error("usage: run_wasm.mjs [-X heapsize=N] [--net] [--copy PATH] [--mem-log F] [--control F] script.py");
  return o;
}

function mkdirs(FS, dir) {
  let at = "";
  for (const part of dir.split("/").filter(Boolean)) {
    at += "/" + part;
    try { FS.mkdir(at); } catch (e) { /* exists */ }
  }
}

function copyIn(FS, p) {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory()) {
    mkdirs(FS, p);
    for (const name of fs.readdirSync(p)) {
      if (name !== "__pycache__" && !name.startsWith(".")) copyIn(FS, path.join(p, name));
    }
  } else if (st.isFile()) {
    mkdirs(FS, path.dirname(p));
    FS.writeFile(p, fs.readFileSync(p));
  }
}

// micropython.mem_info() as numbers: bytes total/used/free, and the largest used and free runs in bytes
function parseMemInfo(text) {
  const num = (re) => { const m = re.exec(text); return m ? parseInt(m[1], 10) : null; };
  return { total: num(/total: (\d+)/), used: num(/used: (\d+)/), free: num(/free: (\d+)/),
    max_used_bytes: num(/max blk sz: (\d+)/) * 16, max_free_bytes: num(/max free sz: (\d+)/) * 16 };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const { loadMicroPython } = await import(PKG);
  let captured = null;
  const write = (line) => { if (captured !== null) captured += line + "\n"; else process.stdout.write(line + "\n"); };
  const options = { heapsize: o.heap, stdout: write, stderr: (l) => process.stderr.write(l + "\n") };
  if (o.romfs) options.romfs = fs.readFileSync(o.romfs); // copied by the package into memory outside the GC heap
  const mp = await loadMicroPython(options);
  const FS = mp.FS;
  const sysPath = (process.env.MICROPYPATH || ".frozen").split(":").filter(Boolean);
  for (const p of sysPath) if (p.startsWith("/")) copyIn(FS, p);
  for (const p of o.copy) copyIn(FS, p);
  copyIn(FS, o.script);
  mkdirs(FS, process.cwd());

  let held = null;
  let loopMs = 20;
  mp.registerJsModule("_mpy32env", { get: (name) => (name in process.env ? process.env[name] : null) });
  mp.registerJsModule("_mpy32loop", { hold: (fn, ms) => { held = fn; loopMs = ms; } });
  mp.runPython(`
import os, sys, _mpy32env
os.chdir(${JSON.stringify(process.cwd())})
sys.path[:] = ${JSON.stringify(sysPath)}
sys.path.insert(0, ${JSON.stringify(path.dirname(o.script))})
sys.argv[:] = ${JSON.stringify([o.script, ...o.args])}
def _getenv(name, default=None, _get=_mpy32env.get):
    v = _get(name)
    return default if v is None else v
os.getenv = _getenv
del _getenv
`);
  if (o.net) (await import(path.join(ROOT, "tools", "mpy32_net.mjs"))).install(mp);

  const exitWith = (e) => {
    if (e && e.name === "PythonError") {
      if (e.type === "SystemExit") {
        const m = /SystemExit: (\d+)/.exec(e.message);
        return m ? parseInt(m[1], 10) : 0;
      }
      if (e.type === "KeyboardInterrupt") return 130;
      process.stderr.write(e.message);
      return 1;
    }
    throw e;
  };
  try {
    mp.runPython(`exec(open(${JSON.stringify(o.script)}).read(), {"__name__": "__main__", "__file__": ${JSON.stringify(o.script)}})`);
  } catch (e) {
    process.exitCode = exitWith(e);
    return;
  }
  if (!held) return;

  const gc = mp.pyimport("gc");
  const micropython = mp.pyimport("micropython");
  const memInfo = () => {
    captured = "";
    micropython.mem_info();
    const text = captured;
    captured = null;
    return parseMemInfo(text);
  };
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const started = Date.now();
  let nextSecond = started + 1000;
  let controlSeen = "";
  for (;;) {
    try {
      held();
    } catch (e) {
      process.exitCode = exitWith(e);
      return;
    }
    gc.collect(); // only marks it pending; the collection runs as this call returns
    const now = Date.now();
    if (now >= nextSecond) {
      nextSecond = now + 1000;
      if (o.memLog) fs.appendFileSync(o.memLog, JSON.stringify({ t: (now - started) / 1000, ...memInfo() }) + "\n");
      if (o.control && fs.existsSync(o.control)) {
        const text = fs.readFileSync(o.control, "utf8");
        if (text !== controlSeen) {
          controlSeen = text;
          const m = /^fragment (\d+)/m.exec(text);
          if (m) fragment(mp, parseInt(m[1], 10), o.memLog, memInfo);
        }
      }
    }
    Atomics.wait(pause, 0, 0, loopMs);
  }
}

// Leave no free run longer than `bytes` in the heap, without changing what is in it: fill the free
// blocks in address order with one-block objects, keep every (bytes/16 + 1)-th of them and drop the
// rest. From then on an allocation larger than `bytes` cannot be placed and grows the heap, which the
// growth check reports: that proves the largest single allocation stays within `bytes`. The kept
// objects cost 16 bytes per `bytes` of free heap.
function fragment(mp, bytes, memLog, memInfo) {
  mp.runPython("_mpy32_pins = None\nimport gc\ngc.collect()"); // earlier pins go, and the garbage with them
  // the bytes of the areas the heap has now, from mem_info (gc.mem_free() adds what the heap could
  // still grow by). The free blocks are counted inside the filling call, once this code is compiled:
  // compiling it allocates (its parse tree and bytecode, and the names it interns, which can take a
  // new qstr pool), so a count taken before it overfilled the heap now and then and grew it, which
  // the tests took for the firmware's doing.
  const total = memInfo().total;
  mp.runPython(`
import gc
def _fill(every):
    # 2-tuples, one 16-byte block each on a 32-bit port: the kept ones chained, the others not (a
    # stale reference to one, left in the Python stack, would keep a whole chain of them alive). Every
    # free block but 4, which the range, its iterator and this call's state may take
    keep = None
    for i in range((${total} - gc.mem_alloc()) // 16 - 4):
        if i % every == every - 1:
            keep = (keep, None)
        else:
            (None, i)
    return keep
_mpy32_pins = _fill(${Math.floor(bytes / 16) + 1})
del _fill
gc.collect()
`);
  if (memInfo().total !== total) process.stdout.write("mpy32: the cut itself grew the heap: its count of the free blocks is wrong\n");
  if (memLog) fs.appendFileSync(memLog, JSON.stringify({ fragmented: bytes }) + "\n");
}

main();
