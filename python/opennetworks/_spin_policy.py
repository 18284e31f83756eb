"""Adaptive waiting for a rank (docs/performance.md, "Adaptive waiting"): how long to spin before
sleeping on the done futex, and whether to yield while spinning. The same policy as the engine's
(native/shm/spin_policy.h; python/tests/test_spin_policy.py checks both against one table).

- Mode from the host's runnable tasks (/proc/loadavg's 4th field, which counts spinners too)
  against this process's cores, sampled at most every 5 ms: busy-spin while runnable <= cores,
  yield between polls while runnable <= cores + 1, sleep at once beyond (spinning would only take
  a time slice from the process we wait for).
- Budget from recent waits: caught while spinning -> +1/4; slept but shorter than the cap ->
  1.5x that wait; longer than the cap -> halved; kept within [2 us, ONET_SPIN_MAX_US].
- ONET_SPIN_MAX_US=0 turns both off: spin ONET_SPIN_US, yielding per ONET_YIELD, as before.
"""

from __future__ import annotations

import os

from . import _env

BUSY, YIELD, SLEEP = 0, 1, 2
MIN_US = 2
SAMPLE_S = 0.005


def spin_mode(runnable: int, cores: int) -> int:
    cores = max(cores, 1)
    if runnable <= cores:
        return BUSY
    if runnable <= cores + 1:
        return YIELD
    return SLEEP


def spin_update(budget_us: int, waited_us: int, caught: bool, min_us: int = MIN_US, max_us: int = 1000) -> int:
    """The next budget after a wait of ``waited_us`` (``caught``: it ended while spinning)."""
    if max_us <= 0:
        return budget_us
    b = budget_us
    if caught:
        b = b + b // 4 + 1
    elif waited_us <= max_us:
        b = max(waited_us + waited_us // 2, b + b // 4 + 1)
    else:
        b = b // 2
    return min(max(b, min_us), max_us)


def parse_runnable(line: str) -> int:
    """Runnable tasks from a /proc/loadavg line, -1 when malformed."""
    parts = line.split()
    if len(parts) < 4 or "/" not in parts[3]:
        return -1
    r = parts[3].split("/", 1)[0]
    return int(r) if r.isdigit() else -1


def read_runnable() -> int:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return parse_runnable(f.read())
    except OSError:
        return -1


def _cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Spin:
    """One process's waiting state: the budget and the sampled load."""

    __slots__ = ("budget_us", "max_us", "cores", "runnable", "_prev", "_last")

    def __init__(self, budget_us: float, max_us: int | None = None):
        self.max_us = int(_env.value("ONET_SPIN_MAX_US") if max_us is None else max_us)
        self.budget_us = int(budget_us)
        self.cores = _cores()
        self.runnable = 0
        self._prev = -1
        self._last = -1e9

    def plan(self, now: float) -> tuple[int, float]:
        """(mode, seconds to spin) for a wait starting at ``now`` (perf_counter seconds)."""
        if self.max_us <= 0:  # adaptation off: the fixed spin of earlier releases (yielding per ONET_YIELD)
            return YIELD, self.budget_us * 1e-6
        if now - self._last >= SAMPLE_S:
            self._last = now
            r = read_runnable()
            if r < 0:
                r = self.cores + 2  # no /proc: behave as crowded
            self.runnable = r if self._prev < 0 else (r + self._prev + 1) // 2
            self._prev = r
        mode = spin_mode(self.runnable, self.cores)
        return mode, (0.0 if mode == SLEEP else self.budget_us * 1e-6)

    def update(self, waited_s: float, caught: bool) -> None:
        self.budget_us = spin_update(self.budget_us, int(waited_s * 1e6), caught, MIN_US, self.max_us)


# ---- the rank-side fast lane (native/rank/fastlane.cc wait_all) ----------------------------------
LANE_YIELD_US = 200  # how long a lane call on a crowded host polls with sched_yield() before it sleeps


def lane_spin_us(spin_us: float, ranks_here: int, cores: int, runnable: int, adaptive: bool = True) -> float:
    """The ``spin_us`` a fast-lane call passes to the C lane: ``spin_us`` (busy-poll that long, then sleep on
    the futex) while every rank and every runnable task has a core; else ``-max(spin_us, LANE_YIELD_US)``:
    poll between sched_yield() calls that long, then sleep. On a crowded host (more ranks than cores, or a
    loaded one) yielding beats both busy polling, which takes the slice the awaited peer needs, and sleeping
    at once, which costs a futex wake and two context switches per call (notes/readme-small-latency.md).
    ``adaptive`` False (ONET_SPIN_MAX_US=0 or ONET_YIELD=0): the fixed policy of earlier releases, busy-poll
    ``spin_us``, or not at all when crowded."""
    cores = max(cores, 1)
    crowded = ranks_here > cores
    if not adaptive:
        return 0.0 if crowded else float(spin_us)
    if not crowded and 0 <= runnable and spin_mode(runnable, cores) == BUSY:
        return float(spin_us)
    return -float(max(spin_us, LANE_YIELD_US))


class LaneSampler:
    """The host's runnable tasks for lane_spin_us, read from /proc/loadavg at most every SAMPLE_S and
    averaged with the previous reading (the count is instantaneous and noisy)."""

    __slots__ = ("cores", "adaptive", "_prev", "_last", "runnable")

    def __init__(self):
        self.cores = _cores()
        self.adaptive = int(_env.value("ONET_SPIN_MAX_US")) > 0 and bool(_env.value("ONET_YIELD"))
        self._prev = -1
        self._last = -1e9
        self.runnable = -1

    def spin_us(self, spin_us: float, ranks_here: int, now: float) -> float:
        if self.adaptive and now - self._last >= SAMPLE_S:
            self._last = now
            r = read_runnable()
            self.runnable = r if r < 0 or self._prev < 0 else (r + self._prev + 1) // 2
            self._prev = r
        return lane_spin_us(spin_us, ranks_here, self.cores, self.runnable, self.adaptive)
