# household.py Provides Household: a Norwegian home's per-phase power over the day, deterministic from a seed.
# MIT license
#
# A few hundred W at night (standby, fridge, freezer, a heat pump turned down), peaks of several kW
# at breakfast (kettle, coffee, toaster, the water heater after showers) and dinner (oven, hobs,
# later the dishwasher), lights and TV in the evening, more heating in winter; with solar panels,
# export around noon on a sunny day. Integers only, so MicroPython (32-bit floats) gives the same
# watts as CPython. The appliances of a day depend on the seed and the date only, not on when a run
# started.

import oslo_time

_DAY = 86400
_M = 0xFFFFFFFF

# heating (W, mean over the day) by month; a heat pump and some panel heaters
_HEATING = (700, 650, 500, 300, 120, 0, 0, 0, 120, 300, 550, 700)
# Oslo daylight by month, minutes after midnight in winter time: sunrise, sunset; and the sun's
# strength at noon in percent of the panels' rating
_SUN = ((550, 930, 25), (470, 1040, 45), (385, 1110, 65), (290, 1180, 80), (210, 1250, 90), (160, 1310, 95),
        (185, 1290, 95), (265, 1215, 85), (350, 1120, 70), (430, 1025, 50), (515, 935, 30), (570, 905, 20))


def _mix(x):
    # a 32-bit integer hash (the finaliser of MurmurHash3)
    x &= _M
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & _M
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & _M
    return x ^ (x >> 16)


class _Random:
    # xorshift32: the same numbers on every runtime
    def __init__(self, seed):
        self.x = _mix(seed) or 1

    def below(self, n):
        x = self.x
        x ^= (x << 13) & _M
        x ^= x >> 17
        x ^= (x << 5) & _M
        self.x = x
        return x % n

    def chance(self, percent):
        return self.below(100) < percent


class Household:
    def __init__(self, seed=1, solar=False):
        self.seed = seed
        self.solar = solar
        r = _Random(seed * 7919 + 17)
        self.panels_w = 4000 + 500 * r.below(9) if solar else 0  # rated 4-8 kWp
        self.fridge_phase = r.below(3000)
        self.freezer_phase = r.below(4200)
        self._day = None
        self._events = ()
        self._cloud = 100
        self._month = 0

    def _plan(self, day):
        # the day's appliance runs: (start, end, phase, W, var, cycle s, on s), seconds of wall-clock time
        r = _Random(self.seed * 1000003 + day)
        ev = []

        def run(start, minutes, phase, w, var=0, cycle=0, on=0):
            ev.append((start, start + 60 * minutes, phase, w, var, cycle, on))

        weekend = oslo_time.weekday(day) >= 6
        wake = (8 * 3600 + 60 * r.below(60)) if weekend else (6 * 3600 + 15 * 60 + 60 * r.below(35))
        run(wake + 300, 6, 0, 1000)  # coffee maker
        run(wake + 600 + 60 * r.below(10), 3, 0, 2000)  # kettle
        if r.chance(70):
            run(wake + 900, 3, 1, 900)  # toaster
        if weekend:
            run(wake + 1200, 10, 1, 1500, 0, 120, 80)  # eggs on the hob
        if r.chance(50):
            run(wake + 1500, 6, 1, 1600, 80)  # hair dryer
        run(wake + 1500, 40 + r.below(25), 2, 2000)  # water heater after the showers
        run(12 * 3600 + 60 * r.below(40), 3, 1, 1200, 300)  # microwave
        dinner = 16 * 3600 + 2700 + 60 * r.below(45)
        run(dinner, 12, 0, 2500)  # oven heating up, then keeping its temperature
        run(dinner + 720, 40, 0, 2500, 0, 300, 170)
        run(dinner + 1500, 25, 1, 1800, 0, 120, 85)  # hobs
        run(dinner + 2100, 15, 2, 1400, 0, 180, 120)
        if r.chance(60):
            run(dinner - 600, 3, 0, 2000)  # kettle again
        dish = dinner + 5400 + 60 * r.below(30)
        run(dish, 18, 2, 2000)  # dishwasher: heat, wash, heat the rinse
        run(dish + 1080, 60, 2, 150, 60)
        run(dish + 4680, 12, 2, 2000)
        if r.chance(40):
            wash = (10 * 3600 if weekend else 19 * 3600) + 60 * r.below(60)
            run(wash, 15, 0, 2100, 100)  # washing machine
            run(wash + 900, 60, 0, 250, 150)
        run(20 * 3600 + 60 * r.below(60), 30 + r.below(20), 2, 2000)  # water heater again
        self._cloud = 40 + r.below(61) if r.chance(30) else 90 + r.below(11)  # percent of clear sky
        return ev

    def phases(self, t):
        # [(P W, Q var) for L1, L2, L3] at Unix time t (seconds): positive is drawn from the grid
        off = oslo_time.utc_offset(t)
        wall = t + off
        day, sod = wall // _DAY, wall % _DAY
        if day != self._day:
            self._day, self._events = day, self._plan(day)
            self._month = oslo_time.civil_from_days(day)[1] - 1
        month = self._month
        noise = _mix(self.seed * 31 + t // 60)  # slow wander, changes each minute
        p = [60, 45, 35]  # standby: routers, chargers, clocks; slightly capacitive
        q = [-15, -10, -10]
        if (t + self.fridge_phase) % 3000 < 1080:  # fridge: 18 minutes in 50
            p[0] += 90
            q[0] += 70
        if (t + self.freezer_phase) % 4200 < 1500:  # freezer: 25 minutes in 70
            p[1] += 110
            q[1] += 80
        heat = _HEATING[month] * (6 if sod < 6 * 3600 or sod >= 23 * 3600 else 11) // 10  # turned down at night
        heat = heat * (90 + noise % 21) // 100
        p[1] += heat // 2
        p[2] += heat - heat // 2
        q[1] += heat // 10
        q[2] += heat // 10
        light = 350 if month < 2 or month > 9 else 150
        if 6 * 3600 + 1800 <= sod < 8 * 3600 + 1800 or 16 * 3600 <= sod < 23 * 3600:
            p[2] += light
            q[2] -= light // 10
        if 18 * 3600 <= sod < 23 * 3600:
            p[1] += 120  # TV
            q[1] -= 25
        for start, end, phase, w, var, cycle, on in self._events:
            if start <= sod < end and (cycle == 0 or (sod - start) % cycle < on):
                p[phase] += w
                q[phase] += var
        for k in range(3):
            p[k] = p[k] * (980 + _mix(t * 3 + k + self.seed) % 41) // 1000  # +-2 % from one second to the next
        if self.panels_w:
            pv = self._sun((t + 3600) % _DAY, month, t) // 3  # the inverter feeds all three phases
            for k in range(3):
                p[k] -= pv
        return [(p[k], q[k]) for k in range(3)]

    def _sun(self, sod, month, t):
        # W from the panels at winter-time second of day sod: (1 - x^2)^2 around the middle of daylight
        rise, set_, peak = _SUN[month]
        half = (set_ - rise) * 30
        d = sod - (rise + set_) * 30
        if d <= -half or d >= half:
            return 0
        h2, d2 = half * half, d * d
        shape = (h2 - d2) * 1000 // h2
        shape = shape * shape // 1000  # per mille
        clouds = self._cloud if self._cloud >= 90 else self._cloud + _mix(t // 300 + self.seed) % (101 - self._cloud)
        return self.panels_w * peak * shape * clouds // 10000000
