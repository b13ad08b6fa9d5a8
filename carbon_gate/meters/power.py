"""Power curves P(u) and the integration of a process tree's utilisation into energy (docs/methodology.md §2)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from .process import Tick

# Teads' generic server curve: P(u)/TDP at 0, 10, 50 and 100 % load, linear between. No longer the
# model (see docs/methodology.md §2); its idle point still splits RAPL energy under `process` attribution.
TEADS_CURVE = ((0.0, 0.12), (0.10, 0.32), (0.50, 0.75), (1.00, 1.02))


@dataclass(frozen=True)
class PowerCurve:
    """Watts drawn by the vCPUs a job holds, as a function of their utilisation (0..1)."""

    points: tuple[tuple[float, float], ...]  # (utilisation fraction, watts), sorted by utilisation

    def watts(self, u: float) -> float:
        """Power at utilisation `u`, linear between points and clamped to the curve's ends."""
        pts = self.points
        u = min(max(u, pts[0][0]), pts[-1][0])
        i = bisect_right([p[0] for p in pts], u)
        if i >= len(pts):
            return pts[-1][1]
        (u0, w0), (u1, w1) = pts[i - 1], pts[i]
        return w0 + (w1 - w0) * (u - u0) / (u1 - u0)

    def at_percent(self, steps: Sequence[int] = tuple(range(0, 101, 10))) -> list[tuple[int, float]]:
        """The curve tabulated at whole percentages, for display."""
        return [(p, self.watts(p / 100)) for p in steps]

    @staticmethod
    def linear(idle_w: float, max_w: float) -> PowerCurve:
        """A straight line from idle to full load."""
        return PowerCurve(((0.0, idle_w), (1.0, max_w)))


@dataclass(frozen=True)
class Interval:
    """A stretch of the run with its mean utilisation of the held vCPUs."""

    seconds: float
    utilisation: float


def utilisation_intervals(ticks: Sequence[Tick], wall_s: float, cpu_s: float, vcpus: int) -> list[Interval]:
    """Split the run at the samples; the last interval is closed with the exact CPU-second total.

    Sampled CPU time can lag or (with orphaned children) exceed the kernel's exact total, so
    each interval's CPU is clamped at zero and the closing interval takes what is left.
    """
    intervals: list[Interval] = []
    t_prev, cpu_prev = 0.0, 0.0
    for tick in ticks:
        if tick.t <= t_prev:
            continue
        cpu = min(max(tick.cpu_s, cpu_prev), cpu_s)
        intervals.append(_interval(tick.t - t_prev, cpu - cpu_prev, vcpus))
        t_prev, cpu_prev = tick.t, cpu
    if wall_s > t_prev:
        intervals.append(_interval(wall_s - t_prev, max(cpu_s - cpu_prev, 0.0), vcpus))
    return intervals


def _interval(seconds: float, cpu: float, vcpus: int) -> Interval:
    return Interval(seconds, min(max(cpu / (seconds * max(vcpus, 1)), 0.0), 1.0))


def integrate(curve: PowerCurve, intervals: Sequence[Interval]) -> float:
    """Energy in joules: Σ P(u_i)·Δt_i."""
    return sum(curve.watts(iv.utilisation) * iv.seconds for iv in intervals)
