# virtual_meter.py Provides VirtualMeter: one coherent Norwegian smart meter's HAN frames over simulated days; and a CLI serving them.
# MIT license
#
#   python3 tools/virtual_meter.py kaifa --tcp 127.0.0.1:7700 --start 2026-03-29T00:00 --speed 60 --solar
#   python3 tools/virtual_meter.py kamstrup --hanlog day.hanlog --seconds 86400   # a capture file, at once
#
# In code (CPython and MicroPython alike; the CLI at the end is CPython only):
#   vm = VirtualMeter("aidon", "2026-03-29T00:00", seed=1, solar=False)
#   for ms, frame in vm.frames(86400): ...      # a day of frames at once, no real time involved
#   vm.hours[oslo_time.parse_local("2026-03-29T05:00")]   # A+, A-, R+, R- (Wh) frozen at 05:00
#
# One meter identity per run (list id, meter id, type), the maker's real layouts and scalers
# (han_encode.py), its push intervals (../shared/docs/protocol.md §1.2) and a household's load
# (household.py). Power holds from one push to the next, and the energy registers are exactly its
# integral, kept in W x 0.1 s (Aidon's list 1 comes every 2.5 s): A+ is the integral of the P+ the
# frames carry, A-, R+ and R- of the list 2 values. A list 1 changes P+ only while the meter
# imports, so what a dongle receives always adds up to the registers. The clock is Norwegian
# local time, with the date-time fields each maker sends.

import household
import oslo_time
from han_encode import UNITS, datetime, encode

MAKERS = ("aidon", "kaifa", "kamstrup", "landisgyr")

# maker: list id, meter type, meter id prefix, list 1 interval (0.1 s; 0 = no list 1), list 3 at hh:00:ss
_PROFILE = {
    "aidon": (b"AIDON_V0001", b"6534", "7359992", 25, 10),  # 3-phase 4-wire; list 1 every 2.5 s
    "kaifa": (b"KFM_001", b"MA304H4", "6970631", 20, 10),  # 3-phase 4-wire; list 1 every 2 s
    "kamstrup": (b"Kamstrup_V0001", b"6841131BN243101040", "5706567", 0, 5),  # list 2 only, list 3 at :05
    "landisgyr": (b"EMBRIQ_V1_1", b"ZFF1", "", 25, 10),  # as Aidon; 8-digit id padded with NULs
}
_HOUR = 36000  # in 0.1 s
_WDS_PER_WH = 36000  # W x 0.1 s in a Wh


def _isqrt(n):
    # floor(sqrt(n)): Newton's method from just above the float estimate (MicroPython ints have no bit_length)
    if n <= 0:
        return 0
    x = int(n**0.5) + 2
    while True:
        y = (x + n // x) // 2
        if y >= x:
            return x
        x = y


def _div(num, den):
    # num / den rounded to the nearest integer (num, den >= 0)
    return (2 * num + den) // (2 * den)


class VirtualMeter:
    def __init__(self, maker, start, seed=1, solar=False, meter_id=None, registers=None, clock_error_s=0):
        # start: Unix time (s) or Norwegian local time text ("2026-03-29T00:00"); the first push is
        # the first 10 s mark of the meter's clock from there. registers: A+, A-, R+, R- in Wh at the
        # start (default: from the seed). clock_error_s: how far the meter's clock is ahead of true time.
        if maker not in _PROFILE:
            raise ValueError("maker %r is not one of %s" % (maker, ", ".join(MAKERS)))
        if isinstance(start, str):
            start = oslo_time.parse_local(start)
        self.maker, self.seed, self.solar = maker, seed, solar
        self._args = (maker, start, seed, solar, meter_id, registers, clock_error_s)
        list_id, self.meter_type, prefix, self._l1, self._l3_at = _PROFILE[maker]
        self._l3_at *= 10
        r = household._Random(seed * 104729 + 3)
        if meter_id is None:
            meter_id = prefix + "".join(str(r.below(10)) for _ in range(16 - len(prefix) if prefix else 8))
        self.meter_id = meter_id
        pad = b"\x00" * (16 - len(meter_id)) if maker == "landisgyr" else b""
        self._ident = (list_id, meter_id.encode() + pad, self.meter_type)
        if registers is None:
            registers = (30000000 + 1000 * r.below(50000), 1000000 + 1000 * r.below(4000) if solar else 0,
                         2000000 + 1000 * r.below(3000), 500000 + 1000 * r.below(1000))
        self.start_wh = tuple(registers)
        self._acc = [w * _WDS_PER_WH for w in registers]
        self._exp_i, self._exp_u, self._exp_e = UNITS[maker]
        self._err = clock_error_s * 10
        self._t = -(-(start * 10 + self._err) // 100) * 100  # meter time of the next push, 0.1 s
        self._last = self._t
        self.start = (self._t - self._err) // 10  # true Unix time of the first push
        self._house = household.Household(seed, solar)
        self._grid = 50 if not self._l1 else self._l1  # ticks: 2.5 s, 2 s, or 5 s (Kamstrup's list 3 at :05)
        self._vu = (_mix_int(seed, 1) % 30, _mix_int(seed, 2) % 30, _mix_int(seed, 3) % 30)
        # what the last push carried: P+, P-, Q+, Q- (W, var); per-phase current and voltage as raw
        # integers in the maker's UNITS; and the household's (P, Q) per phase behind them (list 2)
        self.power = (0, 0, 0, 0)
        self.current = self.voltage = (0, 0, 0)
        self.phases = [(0, 0)] * 3
        self._frozen = None  # the registers as sent, frozen at the last hour boundary
        self._frozen_hour = None
        self.hours = {}  # meter-clock Unix time of each hour boundary passed -> (A+, A-, R+, R-) in Wh

    def energy_wh(self):
        # the registers now: A+, A-, R+, R- in whole Wh (the integral so far, rounded down)
        return tuple(a // _WDS_PER_WH for a in self._acc)

    def registers_at(self, hour):
        # A+, A-, R+, R- (Wh) at the hour boundary `hour` (meter-clock Unix time), from a twin run
        if hour in self.hours:
            return self.hours[hour]
        if hour % 3600 or hour * 10 < self._args[1] * 10 + self._err:
            raise ValueError("hour %r is not a whole hour of the meter's clock since its start" % (hour,))
        twin = VirtualMeter(*self._args)
        for _ in twin.pushes(hour - twin._t // 10 + 1, ()):
            pass
        return twin.hours[hour]

    def frames(self, seconds):
        # (true Unix time in ms, frame bytes) of every push in the next `seconds` of the meter's clock
        for ms, _, frame in self.pushes(seconds):
            yield ms, frame

    def pushes(self, seconds, lists=(1, 2, 3), frames=True):
        # (true Unix time in ms, list number, frame bytes); lists not named are integrated but not
        # encoded. frames=False: what the frame would carry instead of its bytes, as encode() takes it:
        # (P+, P-, Q+, Q-), the registers in the maker's units (list 3), stamp, clock (bytes or None)
        end = self._t + seconds * 10
        while self._t < end:
            t = self._t
            self._integrate(t)
            r = t % _HOUR
            if r == 0:
                self.hours[t // 10] = self.energy_wh()
                self._frozen = [a // (_WDS_PER_WH * 10**self._exp_e) for a in self._acc]
                self._frozen_hour = t // 10
            n = 0
            r10 = t % 100
            if r == self._l3_at and self._frozen_hour == (t - r) // 10:
                n = 3
            elif r10 == 0:
                n = 2
            elif self._l1 and r10 % self._l1 == 0:
                n = 1
            if r10 == 0:
                self._update(t // 10)
            elif n == 1:
                self._update_p(t // 10)
            self._t = t + self._grid
            if n and n in lists:
                c = self._content(n, t // 10)
                yield (t - self._err) * 100, n, self._frame(n, c) if frames else c

    def _integrate(self, t):
        dt = t - self._last
        self._last = t
        for k in range(4):
            self._acc[k] += self.power[k] * dt

    def _update(self, s):
        # everything a list 2 carries, from the household's per-phase load at second s
        ph = self.phases = self._house.phases(s)
        net = sum(p for p, _ in ph)
        var = sum(q for _, q in ph)
        self.power = (max(net, 0), max(-net, 0), max(var, 0), max(-var, 0))
        base = 2300 + _mix_int(self.seed, s // 900) % 60  # 0.1 V, wandering each quarter hour
        u, i = [], []
        for k in range(3):
            p, q = ph[k]
            dv = base + self._vu[k] - p // 75  # the line drops with load, rises with export
            u.append(dv if self._exp_u == -1 else _div(dv, 10))
            i.append(_div(_isqrt(p * p + q * q) * 10 ** (1 - self._exp_i), dv))  # I = S / U
        self.voltage, self.current = tuple(u), tuple(i)

    def _update_p(self, s):
        # a list 1: a new P+ while importing; P-, Q and the phases stay as the last list 2 sent them
        if self.power[1] == 0:
            net = sum(p for p, _ in self._house.phases(s))
            self.power = (max(net, 0),) + self.power[1:]

    def _content(self, n, s):
        y, mo, d, hh, mi, ss, wd, dst = oslo_time.local(s)
        if self.maker == "kamstrup":
            stamp = datetime(y, mo, d, wd, hh, mi, ss, 0x8000, 0x80 if dst else 0)
            clock = stamp
        elif self.maker == "kaifa":
            stamp = clock = datetime(y, mo, d, wd, hh, mi, ss, 0x8000, 0)
        else:
            # Aidon (and the L+G E350, built alike): the hour the registers were frozen, deviation 0,
            # status 0 and Sunday as weekday 0, as the captures show
            stamp = None
            clock = datetime(y, mo, d, wd % 7, hh, 0, 0, 0, 0) if n == 3 else None
        return (self.power,) + ((self._frozen, stamp, clock) if n == 3 else (None, stamp, None))

    def _frame(self, n, content):
        p, e, stamp, clock = content
        return encode(self.maker, n, p, self.current, self.voltage, e, self._ident, stamp, clock)


def _mix_int(a, b):
    return household._mix(a * 1000003 + b)


# --- the CLI: serves the frames in (scaled) real time over TCP, a pty or a serial port ---


def main(argv):
    import argparse
    import signal
    import time

    import replay

    p = argparse.ArgumentParser(prog="virtual_meter.py", description="Serve a virtual Norwegian meter's HAN frames.")
    p.add_argument("maker", choices=MAKERS)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--tcp", metavar="HOST:PORT", help="listen here and stream to one client at a time (default 127.0.0.1:7700)")
    out.add_argument("--pty", metavar="LINK", help="create a pseudo-terminal and make LINK a symlink to it")
    out.add_argument("--serial", metavar="DEVICE", help="write to this serial port (needs pyserial)")
    p.add_argument("--baud", type=int, default=2400)
    p.add_argument("--start", default="now", help="meter clock at the start, Norwegian time: 2026-03-29T00:00 (default now)")
    p.add_argument("--speed", type=float, default=1.0, metavar="N", help="run the clock N times faster (default 1)")
    p.add_argument("--seed", type=int, default=1, help="picks the meter id and the household's days (default 1)")
    p.add_argument("--solar", action="store_true", help="solar panels: export around noon on sunny days")
    p.add_argument("--hanlog", metavar="FILE", help="write --seconds of frames to FILE as a capture and exit")
    p.add_argument("--seconds", type=int, default=3600, help="with --hanlog: how much of the meter's time (default 3600)")
    p.add_argument("-v", "--verbose", action="store_true", help="print a line per frame")
    args = p.parse_args(argv)
    if not args.speed > 0:
        p.error("--speed must be more than 0")
    try:
        start = int(time.time()) if args.start == "now" else oslo_time.parse_local(args.start)
    except ValueError as e:
        p.error(str(e))
    args.parity = "N" if args.maker == "kamstrup" else "E"
    vm = VirtualMeter(args.maker, start, args.seed, args.solar)
    if args.hanlog:
        import hanlog

        records = [(ms / 1000 - vm.start, frame) for ms, frame in vm.frames(args.seconds)]
        header = ["%s, Norway, virtual meter %s (%s), seed %d%s. Meter time from %s." % (
            args.maker, vm.meter_id, vm.meter_type.decode(), args.seed, ", solar panels" if args.solar else "",
            oslo_time.iso(vm.start)), "Generated by tools/virtual_meter.py."]
        hanlog.write(args.hanlog, records, header)
        print("virtual_meter: %d frames written to %s" % (len(records), args.hanlog))
        return 0
    wait = max(0.0, vm.start - time.time()) if args.start == "now" else 0.0  # to the meter's first 10 s mark
    signal.signal(signal.SIGTERM, replay._stop)
    signal.signal(signal.SIGINT, replay._stop)
    target = replay.open_target(args)
    frames = ((ms / 1000 - vm.start, frame) for ms, frame in vm.frames(10**10))
    try:
        print("virtual_meter: %s %s (%s) from %s at %gx%s -> %s" % (
            args.maker, vm.meter_id, vm.meter_type.decode(), oslo_time.iso(vm.start), args.speed,
            ", solar" if args.solar else "", target.name), flush=True)
        replay.pace(frames, target, args.speed, wait, args.verbose)
    except replay.Stop:
        pass
    finally:
        target.close()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
