"""Carbon-aware advice: ask the provider (edge), then let `shifting` decide (pure) — for
`carbon-gate forecast`, the defer check, the live figure recorded by `run`, and the report's
"greener if" line. A provider that fails only ever costs a note.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import intensity
from .domain import Summary
from .intensity import CarbonAware, Reading
from .shifting import Region, TimeShift, best_region, best_start, window_at

if TYPE_CHECKING:
    from .grid import GridFactor


@dataclass
class Advice:
    """Everything `carbon-gate forecast` prints, also serialisable for --json and the results."""

    now: dt.datetime
    latest: Reading | None
    forecast: Reading | None
    shift: TimeShift
    regions: list[Region] = field(default_factory=list)
    pinned_g: float | None = None
    energy_wh: float | None = None
    duration_s: float = 3600.0
    pue: float = 1.0

    @property
    def now_g(self) -> float | None:
        """The grid now: the live figure, else the forecast's first period, else the pinned figure."""
        if self.latest is not None and self.latest.ok:
            return self.latest.points[-1].g_per_kwh
        if self.forecast is not None and self.forecast.ok:
            w = window_at(self.forecast.points, self.now, dt.timedelta(seconds=1))
            if w is not None:
                return w.g_per_kwh
        return self.pinned_g

    def to_dict(self) -> dict[str, Any]:
        reference = self.shift.now.g_per_kwh if self.shift.now else self.now_g
        best = best_region(self.regions)
        return {
            "now": intensity.iso_seconds(self.now),
            "grid_now_g_per_kwh": self.now_g,
            "pinned_g_per_kwh": self.pinned_g,
            "latest": self.latest.to_dict(with_points=True) if self.latest else None,
            "forecast": self.forecast.to_dict(with_points=False) if self.forecast else None,
            "job": {"energy_wh": self.energy_wh, "duration_s": self.duration_s, "pue": self.pue},
            "time_shift": self.shift.to_dict(self.energy_wh, self.pue),
            "regions": [r.to_dict(self.energy_wh, self.pue, reference) for r in self.regions],
            "best_region": best.to_dict(self.energy_wh, self.pue, reference) if best else None,
        }


def read_regions(
    settings: CarbonAware, zones: Sequence[str], env: Mapping[str, str], now: dt.datetime, api_url: str | None = None
) -> list[Region]:
    """Each candidate zone: live from the provider where it knows the zone, else the annual dataset."""
    from .intensity.dataset import DatasetProvider

    out: list[Region] = []
    for zone in dict.fromkeys(z.strip() for z in zones if z and z.strip()):
        note = None
        if settings.provider not in ("none", "dataset"):
            r = intensity.read(settings, "latest", zone=zone, env=env, now=now, api_url=api_url)
            if r.ok:
                out.append(Region(zone, r.points[-1].g_per_kwh, f"{settings.provider} (live)"))
                continue
            note = f"live figure unavailable: {r.error}"
        try:
            p = DatasetProvider().latest(zone)
            out.append(Region(zone, p.g_per_kwh, f"annual dataset {p.start.year}", note))
        except intensity.ProviderError as exc:
            out.append(Region(zone, None, "none", note or str(exc)))
    return out


def advise(
    settings: CarbonAware,
    *,
    country: str | None,
    pinned_g: float | None,
    energy_wh: float | None,
    duration_s: float,
    deadline: dt.datetime,
    zones: Sequence[str] = (),
    pue: float = 1.0,
    env: Mapping[str, str],
    now: dt.datetime | None = None,
    api_url: str | None = None,
) -> Advice:
    """The grid now, the best start before `deadline`, and the job in other zones."""
    now = now or dt.datetime.now(dt.timezone.utc)
    latest = forecast = None
    if settings.provider not in ("none",):
        latest = intensity.read(settings, "latest", country=country, env=env, now=now, api_url=api_url)
    if settings.provider not in ("none", "dataset"):
        hours = max(1.0, (deadline - now).total_seconds() / 3600)
        forecast = intensity.read(settings, "forecast", country=country, env=env, now=now, hours=hours, api_url=api_url)
    duration = dt.timedelta(seconds=duration_s)
    if forecast is not None and forecast.ok:
        shift = best_start(forecast.points, now, duration, deadline)
    else:
        why = (
            f"no forecast available ({forecast.error})"
            if forecast is not None
            else f"no forecast available: grid.provider is {settings.provider}"
        )
        shift = TimeShift(None, None, deadline, why)
    regions = read_regions(settings, zones, env, now, api_url)
    return Advice(now, latest, forecast, shift, regions, pinned_g, energy_wh, duration_s, pue)


def job_size(doc: Mapping[str, Any], names: Sequence[str] = ()) -> tuple[float, float]:
    """(energy Wh, duration s) of the selected workloads in a results file, run one after the other:
    a projected full run where there is one, else the median run."""
    total_wh = total_s = 0.0
    for w in doc.get("workloads") or []:
        if names and w.get("name") not in names:
            continue
        proj, summary = w.get("projection") or {}, w.get("summary") or {}
        if proj.get("energy_wh") is not None:
            total_wh += float(proj["energy_wh"])
            total_s += float(proj.get("wall_s") or 0.0)
        elif w.get("energy_wh") is not None:
            total_wh += float(w["energy_wh"])
            total_s += float(summary.get("median_wall_s") or 0.0)
    return total_wh, total_s


def live_at_run(
    settings: CarbonAware, country: str | None, env: Mapping[str, str] | None = None, now: dt.datetime | None = None
) -> Reading | None:
    """The live figure recorded beside the pinned one by `run` (None when no provider is configured)."""
    if settings.provider in ("none", "dataset"):
        return None
    import os

    return intensity.read(settings, "latest", country=country, env=os.environ if env is None else env, now=now)


# What the advice reads of the config and the results: both sit above this module, so it names the fields
# it needs instead of importing the types (config.Config, results.WorkloadResult, account.Footprint).
class GridView(Protocol):
    @property
    def country(self) -> str | None: ...
    @property
    def pue(self) -> float: ...
    @property
    def carbon_aware(self) -> CarbonAware: ...


class ConfigView(Protocol):
    @property
    def grid(self) -> GridView: ...


class FootprintView(Protocol):
    @property
    def energy_wh(self) -> float: ...


class WorkloadView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def projection(self) -> Mapping[str, Any] | None: ...
    @property
    def footprint(self) -> FootprintView | None: ...
    @property
    def summary(self) -> Summary | None: ...


def workload_size(result: WorkloadView) -> tuple[float, float]:
    """(energy Wh, duration s) of a workload result: its projected full run, else its median run."""
    if result.projection and result.projection.get("energy_wh") is not None:
        return float(result.projection["energy_wh"]), float(result.projection.get("wall_s") or 0.0)
    if result.footprint is not None:
        return result.footprint.energy_wh, result.summary.median_wall_s if result.summary else 0.0
    return 0.0, 0.0


class LiveFigure(Protocol):
    """What the results' carbon_aware block takes of `pipeline.LiveGrid` (which sits above this module)."""

    @property
    def section(self) -> dict[str, Any] | None: ...

    @property
    def pinned(self) -> GridFactor: ...


def carbon_aware_section(config: ConfigView, live: LiveFigure, results: Sequence[WorkloadView]) -> dict[str, Any]:
    """The results' `carbon_aware` block: the live figure (from `pipeline.live_grid`) and, for each
    workload at least `grid.advice.above` big, the best start within `grid.advice.window` and the best
    candidate zone. Savings of a zone are against the pinned figure (what the report's CO2e uses);
    savings in time are against starting now."""
    import os

    settings = config.grid.carbon_aware
    section: dict[str, Any] = {"live": live.section, "advice": [], "window_s": settings.window_s, "forecast": None}
    now = dt.datetime.now(dt.timezone.utc)
    pinned = live.pinned.g_per_kwh
    for r in results:
        wh, seconds = workload_size(r)
        if wh < settings.advise_above_wh or wh <= 0:
            continue
        a = advise(
            settings,
            country=config.grid.country,
            pinned_g=pinned,
            energy_wh=wh,
            duration_s=max(seconds, 60.0),
            deadline=now + dt.timedelta(seconds=settings.window_s),
            zones=settings.candidates,
            pue=config.grid.pue,
            env=os.environ,
            now=now,
        )
        best = best_region(a.regions)
        section["advice"].append(
            {
                "workload": r.name,
                "energy_wh": round(wh, 6),
                "duration_s": round(seconds, 1),
                "time_shift": a.shift.to_dict(wh, config.grid.pue),
                "best_region": best.to_dict(wh, config.grid.pue, pinned) if best else None,
                "regions": [x.to_dict(wh, config.grid.pue, pinned) for x in a.regions],
            }
        )
        if a.forecast is not None:
            section["forecast"] = a.forecast.to_dict(with_points=False)
    return section
