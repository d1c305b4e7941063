// mpy32_net.mjs Provides install(mp): real TCP sockets for the 32-bit WebAssembly MicroPython, blocking from Python's side.
// MIT license
//
// The wasm MicroPython runs on node's main thread and never gives it back while a script runs, so
// node's own sockets (which need the event loop) cannot serve it directly. A worker thread owns the
// real `net` sockets; the main thread asks it through a SharedArrayBuffer and sleeps in Atomics.wait
// until the answer is there. Python sees host_tests/mpy32_net/socket.py and select.py, which call
// the functions registered here as the module `_mpy32net` (ints in, ints out; bytes move straight
// between the wasm memory and the shared buffer, so a call allocates almost nothing in Python's heap).
//
// The semantics are the ESP32's (ports/esp32/modsocket.c on lwIP), not node's or Linux's:
// - a timeout of -1 waits forever (setblocking(True) and settimeout(None)), 0 never waits;
// - errors are the ESP32's errno numbers (newlib's): EAGAIN 11, ECONNRESET 104, ECONNREFUSED 111,
//   EADDRINUSE 112, ETIMEDOUT 116, EHOSTUNREACH 118, EINPROGRESS 119, ENOTCONN 128; a name that does
//   not resolve is -202 (lwIP's EAI_FAIL);
// - send buffer and receive window of 5744 bytes (lwIP's TCP_SND_BUF and TCP_WND on the ESP32);
// - an error is reported once, later calls get ENOTCONN; a peer's FIN makes recv return b"" for good;
// - poll reports POLLHUP only when asked for, and never POLLERR (lwIP's select has no such state).
// install() also makes time.sleep/sleep_ms/sleep_us sleep for real (the port spins the CPU instead).

import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const PY_DIR = path.join(ROOT, "host_tests", "mpy32_net"); // socket.py and select.py, first on sys.path
const DATA = 65536; // bytes moved per call at most (send and recv loop in Python beyond it)
const CTL = 16; // int32 slots: [0] the number of the request answered, [1] result, [2] and [3] the accepted peer's port and address length

// The worker: every request is answered once, now or when an event makes it answerable, or at its deadline.
const WORKER = String.raw`
const { workerData } = require("node:worker_threads");
const { parentPort } = require("node:worker_threads");
const net = require("node:net");
const dns = require("node:dns");
const ctl = new Int32Array(workerData.sab, 0, ${CTL});
const data = new Uint8Array(workerData.sab, ${CTL * 4});
const i32 = new Int32Array(workerData.sab, ${CTL * 4});
const EAGAIN = 11, EBADF = 9, EINVAL = 22, ECONNRESET = 104, ECONNREFUSED = 111, EADDRINUSE = 112,
  ECONNABORTED = 113, ETIMEDOUT = 116, EHOSTUNREACH = 118, EINPROGRESS = 119, ENOTCONN = 128, EAI_FAIL = 202;
const WINDOW = 5744; // lwIP TCP_WND and TCP_SND_BUF on the ESP32
const POLLIN = 1, POLLOUT = 4, POLLHUP = 16, POLLNVAL = 32;
const ERRNO = { ECONNREFUSED, ECONNRESET, EPIPE: ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH: EHOSTUNREACH,
  EADDRINUSE, ECONNABORTED, EADDRNOTAVAIL: EADDRINUSE, EACCES: EADDRINUSE };
const sockets = new Map();
let nextFd = 3;
let waiting = null; // the one request not answered yet: {test, timer}
let current = 0; // the number of the request being served, and of the last one answered
let answered = 0;

function answer(result) {
  if (waiting) { clearTimeout(waiting.timer); waiting = null; }
  if (answered === current) throw new Error("mpy32_net: request " + current + " answered twice");
  answered = current;
  ctl[1] = result;
  Atomics.store(ctl, 0, current); // the main thread waits for its own request's number
  Atomics.notify(ctl, 0);
}

// test() returns undefined while the request must wait; onTimeout() gives the answer at the deadline
function wait(test, timeoutMs, onTimeout) {
  const now = test();
  if (now !== undefined) return answer(now);
  if (timeoutMs === 0) return answer(onTimeout());
  waiting = { test, timer: timeoutMs > 0 ? setTimeout(() => answer(onTimeout()), timeoutMs) : null };
}

function kick() {
  if (!waiting) return;
  const now = waiting.test();
  if (now !== undefined) answer(now);
}

function errnoOf(e) {
  return ERRNO[e && e.code] || ECONNABORTED;
}

function attach(s, sock) {
  s.sock = sock;
  sock.on("data", (b) => {
    s.rx.push(b);
    s.rxLen += b.length;
    if (s.rxLen >= WINDOW) sock.pause(); // the window is full: the peer has to wait, as with lwIP
    kick();
  });
  sock.on("end", () => { s.eof = true; kick(); });
  sock.on("error", (e) => { if (!s.err && !s.dead) s.err = errnoOf(e); s.hup = true; kick(); });
  sock.on("close", () => { s.closed = true; kick(); });
  sock.on("drain", kick);
}

function newSocket() {
  const s = { fd: nextFd++, state: "new", sock: null, server: null, rx: [], rxLen: 0, eof: false, err: 0,
    dead: false, hup: false, closed: false, pending: [], bound: null };
  sockets.set(s.fd, s);
  return s;
}

function resolve(host, then) {
  if (host === "") host = "0.0.0.0";
  if (net.isIPv4(host)) return then(host);
  dns.lookup(host, { family: 4 }, (err, address) => then(err ? null : address));
}

function putText(text) {
  const b = Buffer.from(text);
  data.set(b);
  return b.length;
}

// the error a failed socket reports, once; after that it is not connected
function takeError(s) {
  if (s.err) { const e = s.err; s.err = 0; s.dead = true; return -e; }
  return s.dead ? -ENOTCONN : 0;
}

function ready(s, mask) {
  if (!s || s.state === "closed") return POLLNVAL;
  let r = 0;
  if (s.state === "listening") {
    if (s.pending.length) r |= POLLIN;
  } else {
    if (s.rxLen || s.eof || s.err || s.dead) r |= POLLIN;
    if ((s.state === "connected" && s.sock.writableLength < WINDOW) || s.err || s.dead) r |= POLLOUT;
    if (s.hup) r |= POLLHUP;
  }
  return r & mask;
}

const ops = {
  socket() { answer(newSocket().fd); },

  getaddrinfo(host) { resolve(host, (ip) => answer(ip ? putText(ip) : -EAI_FAIL)); },

  bind(fd, host, port) {
    // the listening socket is made here so that a port in use fails at bind(), as on the ESP32
    const s = sockets.get(fd);
    if (!s || s.state !== "new") return answer(-EINVAL);
    resolve(host, (ip) => {
      if (!ip) return answer(-EAI_FAIL);
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false });
      server.on("connection", (sock) => {
        const c = newSocket();
        c.state = "connected";
        attach(c, sock);
        s.pending.push(c);
        kick();
      });
      server.once("error", (e) => answer(-errnoOf(e)));
      server.listen(port, ip, 8, () => {
        server.removeAllListeners("error");
        s.server = server;
        s.state = "bound";
        answer(0);
      });
    });
  },

  listen(fd) {
    const s = sockets.get(fd);
    if (!s || !s.server) return answer(-EINVAL);
    s.state = "listening";
    answer(0);
  },

  accept(fd, timeoutMs) {
    const s = sockets.get(fd);
    if (!s || s.state !== "listening") return answer(-EINVAL);
    wait(() => {
      const c = s.pending.shift();
      if (!c) return undefined;
      ctl[2] = c.sock.remotePort || 0;
      ctl[3] = putText((c.sock.remoteAddress || "0.0.0.0").replace(/^::ffff:/, ""));
      return c.fd;
    }, timeoutMs, () => -(timeoutMs === 0 ? EAGAIN : ETIMEDOUT));
  },

  connect(fd, host, port, timeoutMs) {
    const s = sockets.get(fd);
    if (!s) return answer(-EBADF);
    if (s.state !== "new") return answer(-EINVAL);
    resolve(host, (ip) => {
      if (!ip) return answer(-EAI_FAIL);
      s.state = "connecting";
      const sock = net.connect({ host: ip, port, allowHalfOpen: true });
      attach(s, sock);
      sock.once("connect", () => { s.state = "connected"; kick(); });
      if (timeoutMs === 0) return answer(-EINPROGRESS); // non-blocking: poll for POLLOUT
      wait(() => (s.state === "connected" ? 0 : s.err ? takeError(s) : undefined), timeoutMs, () => -ETIMEDOUT);
    });
  },

  send(fd, n, timeoutMs, once) {
    // bytes are in data[0..n]; blocking sends go on until all is written or the timeout passes
    const s = sockets.get(fd);
    if (!s || s.state === "closed") return answer(-EBADF);
    if (s.state === "new" || s.state === "listening" || s.state === "bound") return answer(-ENOTCONN);
    let sent = 0;
    const step = () => {
      const e = takeError(s);
      if (e) return sent ? sent : e;
      if (s.state !== "connected") return undefined;
      const room = WINDOW - s.sock.writableLength;
      if (room > 0) {
        const k = Math.min(room, n - sent);
        s.sock.write(Buffer.from(data.subarray(sent, sent + k)), kick); // flushed: room again
        sent += k;
      }
      if (sent === n || (once && sent)) return sent;
      return undefined;
    };
    wait(step, timeoutMs, () => (sent ? sent : -(timeoutMs === 0 ? EAGAIN : ETIMEDOUT)));
  },

  recv(fd, n, timeoutMs) {
    const s = sockets.get(fd);
    if (!s || s.state === "closed") return answer(-EBADF);
    if (s.state === "new" || s.state === "listening" || s.state === "bound") return answer(-ENOTCONN);
    wait(() => {
      if (s.rxLen) {
        let k = 0;
        while (k < n && s.rx.length) {
          const b = s.rx[0];
          const take = Math.min(b.length, n - k);
          data.set(b.subarray(0, take), k);
          k += take;
          if (take === b.length) s.rx.shift(); else s.rx[0] = b.subarray(take);
        }
        s.rxLen -= k;
        if (s.rxLen < WINDOW && s.sock.isPaused()) s.sock.resume();
        return k;
      }
      const e = takeError(s);
      if (e) return e;
      if (s.eof) return 0;
      return undefined;
    }, timeoutMs, () => -(timeoutMs === 0 ? EAGAIN : ETIMEDOUT));
  },

  close(fd) {
    const s = sockets.get(fd);
    if (s && s.state !== "closed") {
      s.state = "closed";
      if (s.sock) {
        s.sock.end(); // FIN after what is still buffered, as lwip_close does
        setTimeout(() => s.sock.destroy(), 10000).unref();
      }
      if (s.server) s.server.close();
      for (const c of s.pending) { c.sock.destroy(); sockets.delete(c.fd); }
      sockets.delete(fd);
    }
    answer(0);
  },

  poll(n, timeoutMs) {
    // data holds n triples (fd, events, revents): the answer is the count ready, and their revents
    wait(() => {
      let k = 0;
      for (let i = 0; i < n; i++) {
        const r = ready(sockets.get(i32[3 * i]), i32[3 * i + 1] | POLLNVAL);
        i32[3 * i + 2] = r;
        if (r) k++;
      }
      return k ? k : undefined;
    }, timeoutMs, () => 0);
  },
};

// a bug here must not leave the main thread waiting forever: say so on stderr (directly: the worker's
// process.stderr goes through the main thread's event loop, which never runs) and answer EIO
process.on("uncaughtException", (e) => {
  require("node:fs").writeSync(2, "mpy32_net worker: " + (e && e.stack || e) + "\n");
  if (answered !== current) answer(-5);
});

parentPort.on("message", (m) => {
  current = m[0];
  ops[m[1]](...m.slice(2));
});
`;

export function install(mp) {
  const M = mp._module;
  const sab = new SharedArrayBuffer(CTL * 4 + DATA);
  const ctl = new Int32Array(sab, 0, CTL);
  const data = new Uint8Array(sab, CTL * 4);
  const i32 = new Int32Array(sab, CTL * 4);
  const worker = new Worker(WORKER, { eval: true, workerData: { sab } });
  worker.unref(); // the process ends when the script does
  const pause = new Int32Array(new SharedArrayBuffer(4));

  let seq = 0;
  function call(...msg) {
    seq = (seq % 0x3fffffff) + 1;
    worker.postMessage([seq, ...msg]);
    for (;;) {
      const v = Atomics.load(ctl, 0);
      if (v === seq) return ctl[1];
      Atomics.wait(ctl, 0, v);
    }
  }
  const toWasm = (addr, n) => { for (let i = 0; i < n; i++) M.setValue(addr + i, data[i], "i8"); };
  const fromWasm = (addr, n) => { for (let i = 0; i < n; i++) data[i] = M.getValue(addr + i, "i8"); };
  const text = (n) => Buffer.from(data.subarray(0, n)).toString();

  mp.registerJsModule("_mpy32net", {
    DATA,
    socket: () => call("socket"),
    // -> the address as text, or None after OSError(-202) in Python
    getaddrinfo: (host) => { const n = call("getaddrinfo", host); return n < 0 ? n : text(n); },
    bind: (fd, host, port) => call("bind", fd, host, port),
    listen: (fd, backlog) => call("listen", fd, backlog),
    accept: (fd, timeoutMs) => call("accept", fd, timeoutMs), // then peer() for its address
    peer_ip: () => text(ctl[3]), // of the socket accept() returned last
    peer_port: () => ctl[2],
    connect: (fd, host, port, timeoutMs) => call("connect", fd, host, port, timeoutMs),
    send: (fd, addr, n, timeoutMs, once) => {
      n = Math.min(n, DATA);
      fromWasm(addr, n);
      return call("send", fd, n, timeoutMs, once);
    },
    // addr 0: keep the bytes in the shared buffer until take() copies them into a Python object
    recv: (fd, addr, n, timeoutMs) => {
      const k = call("recv", fd, Math.min(n, DATA), timeoutMs);
      if (k > 0 && addr) toWasm(addr, k);
      return k;
    },
    take: (addr, n) => toWasm(addr, n),
    close: (fd) => call("close", fd),
    // addr: an array('i') of n (fd, events, revents) triples; the revents are filled in
    poll: (addr, n, timeoutMs) => {
      for (let i = 0; i < 3 * n; i++) i32[i] = M.getValue(addr + 4 * i, "i32");
      const k = call("poll", n, timeoutMs);
      for (let i = 0; i < n; i++) M.setValue(addr + 12 * i + 8, i32[3 * i + 2], "i32");
      return k;
    },
    sleep_ms: (ms) => { if (ms > 0) Atomics.wait(pause, 0, 0, ms); },
  });

  // the wrappers go into the in-memory filesystem at the path they have here, first on sys.path
  mkdirs(mp.FS, PY_DIR);
  for (const name of fs.readdirSync(PY_DIR)) {
    if (name.endsWith(".py")) mp.FS.writeFile(path.join(PY_DIR, name), fs.readFileSync(path.join(PY_DIR, name)));
  }
  mp.runPython(`
import sys, time, _mpy32net
sys.path.insert(0, ${JSON.stringify(PY_DIR)})
import socket, select, usocket  # loaded now: found in sys.modules whatever sys.path becomes later
def _sleep(s, _ms=_mpy32net.sleep_ms):
    _ms(int(s * 1000))
def _sleep_us(us, _ms=_mpy32net.sleep_ms):
    _ms(us // 1000)
time.sleep = _sleep
time.sleep_ms = _mpy32net.sleep_ms
time.sleep_us = _sleep_us
del _sleep, _sleep_us
`);
  return worker;
}

function mkdirs(FS, dir) {
  let at = "";
  for (const part of dir.split("/").filter(Boolean)) {
    at += "/" + part;
    try { FS.mkdir(at); } catch (e) { /* exists */ }
  }
}
