"""The machine's load while a benchmark runs: /proc/loadavg sampled in the background.

The 1-minute load average lags by tens of seconds, so the figure kept for each run is the
range of samples taken during it plus the number of runnable tasks (/proc/loadavg's 4th field,
``running/total``), which is instantaneous. Benchmarks on a shared 2-core host are only
comparable next to the load they ran under.
"""

from __future__ import annotations

import os
import threading


def sample() -> tuple[float, int]:
    """(1-minute load average, runnable tasks now); (os.getloadavg()[0], -1) without /proc."""
    try:
        with open("/proc/loadavg") as f:
            parts = f.read().split()
        return float(parts[0]), int(parts[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0], -1


class LoadSampler:
    """``with LoadSampler() as s: ...`` then ``s.summary()``: min/mean/max of both figures."""

    def __init__(self, period_s: float = 0.5):
        self.period_s = period_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while True:
            self.samples.append(sample())
            if self._stop.wait(self.period_s):
                return

    def __enter__(self) -> LoadSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="onet-bench-load")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.samples.append(sample())

    def summary(self) -> dict:
        loads = [s[0] for s in self.samples] or [0.0]
        run = [s[1] for s in self.samples if s[1] >= 0] or [0]
        return {
            "loadavg1_min": min(loads),
            "loadavg1_mean": sum(loads) / len(loads),
            "loadavg1_max": max(loads),
            "runnable_mean": sum(run) / len(run),
            "runnable_max": max(run),
            "samples": len(self.samples),
        }


def merge(summaries: list[dict]) -> dict:
    """One figure for a whole benchmark from the per-run summaries."""
    if not summaries:
        return {}
    n = sum(s["samples"] for s in summaries) or 1
    return {
        "loadavg1_min": min(s["loadavg1_min"] for s in summaries),
        "loadavg1_mean": sum(s["loadavg1_mean"] * s["samples"] for s in summaries) / n,
        "loadavg1_max": max(s["loadavg1_max"] for s in summaries),
        "runnable_mean": sum(s["runnable_mean"] * s["samples"] for s in summaries) / n,
        "runnable_max": max(s["runnable_max"] for s in summaries),
        "samples": n,
    }
