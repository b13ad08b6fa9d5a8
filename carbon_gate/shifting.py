"""Time and location shifting: the lowest-carbon start within a deadline, the same job elsewhere, and
whether a heavy job should wait (issue 17). Pure functions over forecast points; no I/O.

A job is modelled as its energy drawn evenly over its duration. Starting at `s`, its intensity is the
time-weighted average of the forecast over [s, s + duration); the candidate starts are now and the
start of every forecast period after now, as long as the job ends by the deadline and the forecast
covers the whole span (a window the forecast does not cover is never guessed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .intensity import Point, iso


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    g_per_kwh: float  # the job's average intensity over the window

    def co2e_g(self, energy_wh: float, pue: float = 1.0) -> float:
        return energy_wh * pue / 1000.0 * self.g_per_kwh

    def to_dict(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), "g_per_kwh": round(self.g_per_kwh, 3)}


@dataclass(frozen=True)
class TimeShift:
    """Starting now against the best start before the deadline; `note` says why either is missing."""

    now: Window | None
    best: Window | None
    deadline: dt.datetime
    note: str | None = None

    @property
    def saving(self) -> float | None:
        """The fraction of CO2e saved by starting at the best window instead of now."""
        if self.now is None or self.best is None or self.now.g_per_kwh <= 0:
            return None
        return max(0.0, 1 - self.best.g_per_kwh / self.now.g_per_kwh)

    def to_dict(self, energy_wh: float | None = None, pue: float = 1.0) -> dict[str, Any]:
        d: dict[str, Any] = {
            "now": self.now.to_dict() if self.now else None,
            "best": self.best.to_dict() if self.best else None,
            "deadline": iso(self.deadline),
            "saving_pct": None if self.saving is None else round(self.saving * 100, 2),
            "note": self.note,
        }
        if energy_wh is not None:
            d["now_co2e_g"] = round(self.now.co2e_g(energy_wh, pue), 6) if self.now else None
            d["best_co2e_g"] = round(self.best.co2e_g(energy_wh, pue), 6) if self.best else None
        return d


def average(points: Sequence[Point], start: dt.datetime, end: dt.datetime) -> float | None:
    """The time-weighted intensity over [start, end), or None where the points leave part of it uncovered."""
    span = (end - start).total_seconds()
    if span <= 0:
        return None
    covered = weighted = 0.0
    for p in points:
        a, b = max(p.start, start), min(p.end, end)
        seconds = (b - a).total_seconds()
        if seconds > 0:
            covered += seconds
            weighted += seconds * p.g_per_kwh
    if covered < span - 1e-6:  # overlapping points never come from one provider answer; gaps do
        return None
    return weighted / covered


def window_at(points: Sequence[Point], start: dt.datetime, duration: dt.timedelta) -> Window | None:
    g = average(points, start, start + duration)
    return None if g is None else Window(start, start + duration, g)


def best_start(points: Sequence[Point], now: dt.datetime, duration: dt.timedelta, deadline: dt.datetime) -> TimeShift:
    """The lowest-intensity start for a job of `duration` that ends by `deadline` (the earliest on a tie)."""
    if not points:
        return TimeShift(None, None, deadline, "no forecast available")
    if now + duration > deadline:
        return TimeShift(
            window_at(points, now, duration), None, deadline, "the job does not fit between now and the deadline"
        )
    starts = [now] + sorted({p.start for p in points if now < p.start and p.start + duration <= deadline})
    windows = [w for w in (window_at(points, s, duration) for s in starts) if w is not None]
    now_window = windows[0] if windows and windows[0].start == now else None
    if not windows:
        return TimeShift(None, None, deadline, "the forecast does not cover the job before the deadline")
    best = min(windows, key=lambda w: (round(w.g_per_kwh, 9), w.start))
    note = None if now_window else "the forecast does not cover a start now"
    return TimeShift(now_window, best, deadline, note)


@dataclass(frozen=True)
class Region:
    """The same job under another zone's intensity."""

    zone: str
    g_per_kwh: float | None
    source: str  # live provider, or the annual dataset
    note: str | None = None

    def to_dict(
        self, energy_wh: float | None = None, pue: float = 1.0, reference: float | None = None
    ) -> dict[str, Any]:
        d: dict[str, Any] = {"zone": self.zone, "g_per_kwh": self.g_per_kwh, "source": self.source, "note": self.note}
        if energy_wh is not None and self.g_per_kwh is not None:
            d["co2e_g"] = round(energy_wh * pue / 1000.0 * self.g_per_kwh, 6)
        if reference and self.g_per_kwh is not None:
            d["saving_pct"] = round((1 - self.g_per_kwh / reference) * 100, 2)
        return d


def best_region(regions: Sequence[Region]) -> Region | None:
    """The zone with the lowest known intensity (the first on a tie), or None when none is known."""
    known = [(r.g_per_kwh, i, r) for i, r in enumerate(regions) if r.g_per_kwh is not None]
    return min(known)[2] if known else None


def should_defer(now_g: float | None, threshold: float, shift: TimeShift) -> tuple[bool, str]:
    """Defer when the grid is above `threshold` now and a cleaner start exists before the deadline."""
    if now_g is None:
        return False, "no current intensity: run now"
    if now_g <= threshold:
        return False, f"the grid is at {now_g:.0f} g/kWh, not above {threshold:g}: run now"
    if shift.best is None:
        why = shift.note or "there is no forecast"
        return False, f"the grid is at {now_g:.0f} g/kWh (above {threshold:g}) but {why}: run now"
    if (shift.now is not None and shift.best.start == shift.now.start) or shift.best.g_per_kwh >= now_g:
        return False, (
            f"the grid is at {now_g:.0f} g/kWh (above {threshold:g}) but no cleaner window comes before "
            "the deadline: run now"
        )
    return True, (
        f"the grid is at {now_g:.0f} g/kWh (above {threshold:g}); starting at {iso(shift.best.start)} "
        f"averages {shift.best.g_per_kwh:.0f} g/kWh: defer"
    )
