"""Self-calibration on a host with RAPL counters: run a load ladder, measure package power at each step
and write a runner profile, so later runs on similar hosts without counters are modelled from this
host's own measurements (`carbon-gate machine calibrate`, docs/methodology.md §2)."""

from __future__ import annotations

import datetime as _dt
import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import rapl

DEFAULT_LEVELS = (0, 10, 25, 50, 75, 100)
PERIOD_S = 0.05  # one busy/sleep cycle of a worker: short enough to look like a steady load


@dataclass(frozen=True)
class Step:
    """One rung of the ladder: the load asked for, the machine utilisation seen, and package power."""

    target_pct: int
    utilisation: float  # 0..1, all CPUs, from /proc/stat
    watts: float  # mean package power over the step
    spread: float  # relative standard deviation of the step's sub-interval powers


class CalibrationError(Exception):
    """The ladder could not be measured (no counters, a counter failed)."""


def _worker(duty: float, stop_at: float) -> None:
    """Busy for `duty` of every period, asleep for the rest, until `stop_at` (time.monotonic)."""
    while (now := time.monotonic()) < stop_at:
        busy_until = now + duty * PERIOD_S
        while time.monotonic() < busy_until:
            pass
        time.sleep(max(PERIOD_S - (time.monotonic() - now), 0.0))


def run_ladder(
    domains: Sequence[rapl.RaplDomain],
    cpus: int,
    levels: Sequence[int] = DEFAULT_LEVELS,
    seconds: float = 3.0,
    busy_cpu_s: Callable[[], tuple[float, float]] | None = None,
) -> list[Step]:
    """Load every CPU at each level in turn (one duty-cycle process per CPU) and measure package power."""
    busy_cpu_s = busy_cpu_s or _machine_cpu_s
    ctx = multiprocessing.get_context("fork")
    steps = []
    for level in levels:
        settle = 0.3
        stop_at = time.monotonic() + settle + seconds
        workers = [
            ctx.Process(target=_worker, args=(level / 100, stop_at), daemon=True)
            for _ in range(cpus if level > 0 else 0)
        ]
        for w in workers:
            w.start()
        try:
            time.sleep(settle)  # let the workers reach their duty cycle before the window opens
            steps.append(_measure(domains, level, seconds, busy_cpu_s))
        finally:
            for w in workers:
                w.join(timeout=seconds + 5)
                if w.is_alive():
                    w.kill()
    return steps


def _measure(
    domains: Sequence[rapl.RaplDomain], level: int, seconds: float, busy_cpu_s: Callable[[], tuple[float, float]]
) -> Step:
    meter = rapl.RaplMeter(list(domains))
    meter.start()
    busy0, total0 = busy_cpu_s()
    t0 = last_t = time.monotonic()
    last_j, powers = 0.0, []
    while (now := time.monotonic()) - t0 < seconds:
        time.sleep(min(0.25, seconds - (now - t0)))
        meter.tick()
        t = time.monotonic()
        j = sum(d.total_uj for d in meter.domains) / 1e6
        if t > last_t:
            powers.append((j - last_j) / (t - last_t))
        last_t, last_j = t, j
    reading = meter.stop()
    if reading.error:
        raise CalibrationError(reading.error)
    elapsed = time.monotonic() - t0
    busy1, total1 = busy_cpu_s()
    util = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    watts = sum(reading.joules.values()) / elapsed
    spread = statistics.pstdev(powers) / watts if len(powers) > 1 and watts > 0 else 0.0
    return Step(level, min(max(util, 0.0), 1.0), watts, spread)


def _machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU-seconds of the whole machine so far, from /proc/stat via psutil."""
    import psutil

    t = psutil.cpu_times()
    fields = t._asdict()
    idle = sum(fields.get(k, 0.0) for k in ("idle", "iowait", "steal"))
    total = sum(v for k, v in fields.items() if k not in ("guest", "guest_nice"))  # guest is inside user
    return total - idle, total


def profile_document(
    steps: Sequence[Step], *, name: str, cpu_model: str, vcpus: int, host: str, domains: Sequence[str]
) -> dict[str, Any]:
    """The profile file's content: the measured points as the curve, extended flat to 0 and 100 %."""
    points: dict[int, float] = {}
    for s in sorted(steps, key=lambda s: s.utilisation):
        pct = round(s.utilisation * 100)
        points[pct] = round(max(s.watts, points.get(pct, 0.0)), 3)  # two steps on one percent: the larger
    ordered = sorted(points.items())
    # Power does not fall as load rises: a later rung that reads lower (noise, turbo ending) is held level.
    curve: dict[int, float] = {}
    for pct, w in ordered:
        curve[pct] = max(w, max(curve.values(), default=0.0))
    curve.setdefault(0, ordered[0][1])
    curve.setdefault(100, max(curve.values()))
    spreads = [s.spread for s in steps]
    band = max(5, int(-(-max(spreads, default=0.0) * 100 // 5) * 5))
    return {
        "name": name,
        "description": f"calibrated on {host}: RAPL package power at a load ladder",
        "match": {"cpu": cpu_model, "vcpus": vcpus},
        "curve": dict(sorted(curve.items())),
        "error_band_pct": band,
        "source": (
            f"measured by carbon-gate machine calibrate on {host}, "
            f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} (RAPL {', '.join(domains)})"
        ),
        "calibration": [
            {
                "target_pct": s.target_pct,
                "utilisation_pct": round(s.utilisation * 100, 1),
                "watts": round(s.watts, 3),
                "spread_pct": round(s.spread * 100, 1),
            }
            for s in steps
        ],
    }
