// mpy32.mjs Provides a 32-bit `micropython` command: npm's MicroPython WebAssembly port run by node.
// MIT license
//
//   node tools/mpy32.mjs [-X heapsize=96K] [--net] [--copy DIR]... script.py [args...]
//   node tools/mpy32.mjs [-X heapsize=96K] -c "code"
//
// The port is 32-bit like an ESP32: 31-bit small ints, 4-byte pointers, ticks that wrap at 2**30 ms,
// heap_lock and gc.mem_alloc. It has no socket module and no viper. Its files live in memory
// (emscripten MEMFS), so the repo's files are copied in at their own absolute paths, the working
// directory is the caller's, and what a script writes is gone when it ends. Its GC heap grows
// when full instead of raising MemoryError (only heap_lock raises), so a heap cap is checked with
// `import mpy32; mpy32.heap_total()`: the heap's size in bytes, which must stay what -X gave.
//
// Other scripts: `const mp = await start({heapsize, net})` then `run(mp, script, args)`.

import fs from "fs";
import path from "path";
import { fileURLToPath, pathToFileURL } from "url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PACKAGE = "@micropython/micropython-webassembly-pyscript"; // the version is pinned in the Makefile
const MODULE = path.join(ROOT, "build", "npm", "node_modules", PACKAGE, "micropython.mjs");
// its release with ROMFS (the Makefile's MPY32_ROMFS_NPM): start({romfs}) runs on it
const ROMFS_MODULE = path.join(ROOT, "build", "npm-romfs", "node_modules", PACKAGE, "micropython.mjs");
// what scripts and tests read, relative to the repo; copied in at the same absolute paths
const COPIED = ["lib", "firmware", "host_tests", "tools", "boards", "docs", "build/host-lib"];
const SKIPPED = new Set(["__pycache__", ".pytest_cache", "node_modules", ".git"]);
const DEFAULT_HEAP = 1024 * 1024;

// stdout and stderr: bytes go straight to the file descriptor a line at a time (synchronously, so
// nothing is lost at exit); while capture is set they are collected instead (for mem_info)
let capture = null;

function writeAll(fd, bytes) {
    let off = 0;
    while (off < bytes.length) {
        try {
            off += fs.writeSync(fd, bytes, off, bytes.length - off);
        } catch (e) {
            if (e.code !== "EAGAIN") throw e;
        }
    }
}

function sink(fd) {
    let pending = [];
    const flush = () => {
        if (pending.length) {
            writeAll(fd, Uint8Array.from(pending));
            pending = [];
        }
    };
    const put = (chunk) => {
        for (const c of chunk) {
            if (capture !== null && fd === 1) {
                capture.push(c);
                continue;
            }
            pending.push(c);
            if (c === 10 || pending.length >= 4096) flush();
        }
    };
    return { put, flush };
}

const out = sink(1);
const err = sink(2);

function mkdirs(FS, dir) {
    let at = "";
    for (const part of dir.split("/").filter(Boolean)) {
        at += "/" + part;
        try {
            FS.mkdir(at);
        } catch (e) {
            // exists
        }
    }
}

function copyTree(FS, dir) {
    // dir and every file below it, into MEMFS at the same path
    mkdirs(FS, dir);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (SKIPPED.has(entry.name) || entry.name.endsWith(".pyc")) continue;
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) copyTree(FS, p);
        else if (entry.isFile() || (entry.isSymbolicLink() && fs.statSync(p).isFile())) FS.writeFile(p, fs.readFileSync(p));
    }
}

function heapTotal(mp) {
    // micropython.mem_info()'s "GC: total: N": the heap's size now, including what it grew by
    const memInfo = mp.pyimport("micropython").mem_info;
    return () => {
        capture = [];
        let text;
        try {
            memInfo();
        } finally {
            text = Buffer.from(capture).toString();
            capture = null;
        }
        const m = /GC: total: (\d+)/.exec(text);
        if (!m) throw new Error("mem_info gave no GC total: " + JSON.stringify(text));
        return Number(m[1]);
    };
}

export async function start({ heapsize = DEFAULT_HEAP, net = false, copy = [], cwd = process.cwd(), romfs = null } = {}) {
    // the runtime loaded, the repo (and `copy` dirs) in its MEMFS, chdir'd to cwd; --net's socket if asked;
    // romfs: a ROMFS image (bytes) mounted at /rom outside the GC heap, as a board's partition
    const module = romfs ? ROMFS_MODULE : MODULE;
    if (!fs.existsSync(module)) {
        throw new Error(`${module} is missing: run \`make node-deps\` (it installs ${PACKAGE} with npm)`);
    }
    const { loadMicroPython } = await import(pathToFileURL(module).href);
    const options = { heapsize, linebuffer: false, stdout: out.put, stderr: err.put };
    if (romfs) options.romfs = romfs;
    const mp = await loadMicroPython(options);
    for (const dir of COPIED) copyTree(mp.FS, path.join(ROOT, dir));
    for (const name of fs.readdirSync(ROOT)) {
        const p = path.join(ROOT, name);
        if (fs.statSync(p).isFile()) mp.FS.writeFile(p, fs.readFileSync(p));
    }
    for (const dir of copy) copyTree(mp.FS, path.resolve(dir));
    mkdirs(mp.FS, cwd);
    mp.registerJsModule("mpy32", { heap_total: heapTotal(mp) });
    mp.runPython(`import os\nos.chdir(${JSON.stringify(cwd)})\ndel os`);
    mp.runPython(RUNNER);
    if (net) {
        const netModule = path.join(ROOT, "tools", "mpy32_net.mjs");
        if (!fs.existsSync(netModule)) throw new Error(`--net needs ${netModule}, which is missing`);
        await (await import(pathToFileURL(netModule).href)).install(mp);
    }
    return mp;
}

// Runs as the unix port runs a file: sys.argv, sys.path[0] the script's folder then MICROPYPATH,
// __name__ "__main__"; the exit code is SystemExit's, or 1 after the traceback of an uncaught error.
const RUNNER = `
def _mpy32_run(request):
    import sys, io, json
    path, argv, code, micropypath = json.loads(request)
    sys.argv[:] = argv
    d = path.rsplit("/", 1)[0] if "/" in path else ""
    sys.path[:] = [d] + [p for p in (micropypath or ".frozen:/lib").split(":") if p]
    try:
        if code is None:
            with open(path) as f:
                code = f.read()
        exec(compile(code, path, "exec"), {"__name__": "__main__", "__file__": path})
        return 0
    except SystemExit as e:
        c = e.args[0] if e.args else None
        if c is None:
            return 0
        if isinstance(c, int):
            return c & 0xFF
        print(c, file=sys.stderr)
        return 1
    except BaseException as e:
        s = io.StringIO()
        sys.print_exception(e, s)
        lines = s.getvalue().split("\\n")
        print("\\n".join(l for l in lines if not l.startswith('  File "<stdin>"')), end="", file=sys.stderr)
        return 1
`;

export function run(mp, script, args = [], code = null) {
    // run the file `script` (or `code`, named script) with sys.argv = [script, ...args]; returns the exit code
    const abs = code === null ? path.resolve(script) : script;
    if (code === null) {
        if (!fs.existsSync(abs)) {
            err.put(Buffer.from(`mpy32: can't open file '${script}'\n`));
            err.flush();
            return 2;
        }
        mkdirs(mp.FS, path.dirname(abs));
        mp.FS.writeFile(abs, fs.readFileSync(abs));
    }
    const rc = mp.globals.get("_mpy32_run")(
        JSON.stringify([abs, [code === null ? script : "", ...args], code, process.env.MICROPYPATH || null]),
    );
    out.flush();
    err.flush();
    return rc;
}

function parseSize(text) {
    // 96K, 1M, 65536: as the unix port's -X heapsize=
    const m = /^(\d+)([kKmM]?)$/.exec(text);
    if (!m) throw new Error(`bad heap size ${text}`);
    return Number(m[1]) * (m[2] ? (/[kK]/.test(m[2]) ? 1024 : 1024 * 1024) : 1);
}

async function main(argv) {
    const options = { heapsize: DEFAULT_HEAP, net: false, copy: [] };
    let i = 0;
    let code = null;
    for (; i < argv.length; i++) {
        const a = argv[i];
        if (a === "-X" && i + 1 < argv.length) {
            const [key, value] = argv[++i].split("=");
            if (key !== "heapsize") throw new Error(`unknown -X option ${key}`);
            options.heapsize = parseSize(value);
        } else if (a === "--net") options.net = true;
        else if (a === "--copy" && i + 1 < argv.length) options.copy.push(argv[++i]);
        else if (a === "-c" && i + 1 < argv.length) {
            code = argv[++i];
            i++;
            break;
        } else break;
    }
    if (code === null && i >= argv.length) {
        err.put(Buffer.from("usage: node tools/mpy32.mjs [-X heapsize=96K] [--net] [--copy DIR]... script.py [args...] | -c code\n"));
        err.flush();
        return 2;
    }
    const mp = await start(options);
    return code === null ? run(mp, argv[i], argv.slice(i + 1)) : run(mp, "<string>", argv.slice(i), code);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    main(process.argv.slice(2)).then(
        (rc) => process.exit(rc),
        (e) => {
            out.flush();
            err.flush();
            process.stderr.write("mpy32: " + (e && e.name === "Error" ? e.message : e && e.stack ? e.stack : e) + "\n");
            process.exit(1);
        },
    );
}
