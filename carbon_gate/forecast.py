"""`carbon-gate forecast`: read the job's size, ask for advice, print it, map defer to exit 75."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .advice import Advice, advise, job_size
from .errors import EXIT_DEFER, UsageError
from .intensity import PROVIDERS, CarbonAware, is_provider, iso
from .shifting import best_region, should_defer
from .units import format_energy, format_mass, parse_duration, parse_energy, parse_intensity

if TYPE_CHECKING:
    from .config import Config


def parse_deadline(text: str, now: dt.datetime) -> dt.datetime:
    """'12h' from now, or an ISO time (UTC unless it says otherwise)."""
    if re.match(r"^\d{4}-\d{2}-\d{2}", text.strip()):
        try:
            t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"--deadline {text!r}: expected a duration such as 12h or a time such as 2026-12-03T06:00Z"
            ) from None
        t = t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
        if t <= now:
            raise UsageError(f"--deadline {text!r} is in the past")
        return t
    try:
        return now + dt.timedelta(seconds=parse_duration(text))
    except ValueError as exc:
        raise UsageError(f"--deadline: {exc}") from None


def run_forecast(
    *,
    config_path: str,
    provider: str | None,
    zone: str | None,
    energy: str | None,
    duration: str | None,
    results_path: str | None,
    names: Sequence[str],
    deadline: str,
    regions: str | None,
    defer_above: str | None,
    api_url: str | None,
    as_json: bool,
    github_output: bool,
    echo: Callable[..., None] = print,
    config_given: bool = True,
    now: dt.datetime | None = None,
) -> int:
    """Returns the exit code: 0, or EXIT_DEFER when --defer-above says wait."""
    from . import config as config_mod
    from .pipeline import resolve_grid

    now = now or dt.datetime.now(dt.timezone.utc)
    settings, country, pinned_g, pue, config = CarbonAware(), None, None, 1.0, None
    if config_given or Path(config_path).exists():
        config = config_mod.load(config_path)
        settings, country, pue = config.grid.carbon_aware, config.grid.country, config.grid.pue
        pinned_g = resolve_grid(config).g_per_kwh
    else:
        from .grid import resolve

        pinned_g = resolve().g_per_kwh
    if provider:
        if not is_provider(provider):  # the command line offers only these
            raise UsageError(f"unknown grid provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
        settings = replace(settings, provider=provider)
    if zone:
        settings = replace(settings, zone=zone)
    try:
        threshold = parse_intensity(defer_above) if defer_above else None
        energy_wh = parse_energy(energy) if energy else None
        duration_s = parse_duration(duration) if duration else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if results_path:
        from . import results as results_mod

        wh, seconds = job_size(results_mod.load(results_path), names)
        energy_wh = energy_wh if energy_wh is not None else wh
        duration_s = duration_s if duration_s is not None else (seconds or None)
    elif names and config is not None:
        energy_wh, est_s = _estimate_size(config, names)
        duration_s = duration_s if duration_s is not None else est_s
    if duration_s is not None and duration_s <= 0:
        raise UsageError("--duration must be more than zero")
    end = parse_deadline(deadline, now)
    zones = [z for z in (regions or "").split(",") if z.strip()] + list(settings.candidates)
    advice = advise(
        settings,
        country=country,
        pinned_g=pinned_g,
        energy_wh=energy_wh,
        duration_s=duration_s or 3600.0,
        deadline=end,
        zones=zones,
        pue=pue,
        env=os.environ,
        now=now,
        api_url=api_url,
    )
    defer, why = (False, "")
    if threshold is not None:
        defer, why = should_defer(advice.now_g, threshold, advice.shift)
    if github_output:
        from .publish.actions import write_outputs

        best = advice.shift.best
        write_outputs(
            {
                "defer": "true" if defer else "false",
                "defer-until": iso(best.start) if defer and best else "",
                "grid-intensity": f"{advice.now_g:g}" if advice.now_g is not None else "",
                "saving-pct": f"{advice.shift.saving * 100:.1f}" if advice.shift.saving is not None else "",
            }
        )
    if as_json:
        import json

        doc = advice.to_dict()
        if threshold is not None:
            doc["defer"] = {"threshold_g_per_kwh": threshold, "defer": defer, "reason": why}
        echo(json.dumps(doc, indent=2))
    else:
        for line in render(advice, settings, duration_given=duration_s is not None):
            echo(line)
        if threshold is not None:
            echo(f"defer        {'yes' if defer else 'no'}: {why}" + (f" (exit {EXIT_DEFER})" if defer else ""))
    return EXIT_DEFER if defer else 0


def _estimate_size(config: Config, names: Sequence[str]) -> tuple[float, float]:
    """Energy and hours of the config's `estimate:` workloads (a command workload must be measured first)."""
    from .estimate import EstimateInput, estimate
    from .pipeline import select

    wh = seconds = 0.0
    for w in select(config, names):
        if w.kind != "estimate" or w.estimate is None:
            raise UsageError(f"workload {w.name!r} is not an estimate: measure it first and pass --results")
        e = dict(w.estimate)
        try:
            est = estimate(
                EstimateInput.from_spec(e, pue=config.grid.pue, intensity_g_per_kwh=0.0, intensity_source="")
            )
        except ValueError as exc:
            raise UsageError(f"workload {w.name!r}: {exc}") from None
        wh += est.energy_kwh * 1000 / config.grid.pue  # advice applies the PUE itself
        seconds += est.hours * 3600
    return wh, seconds


def render(advice: Advice, settings: CarbonAware, duration_given: bool = True) -> list[str]:
    """The human lines of `carbon-gate forecast`."""
    e, pue = advice.energy_wh, advice.pue

    def co2(g: float) -> str:
        return f" → {format_mass(e * pue / 1000 * g)} CO2e" if e else ""

    lines = []
    latest = advice.latest
    if latest is not None and latest.ok:
        p = latest.points[-1]
        lines.append(
            f"grid now     {p.g_per_kwh:.0f} g/kWh — {latest.provider}, zone {latest.zone}, {iso(p.start)}"
            + (" (cached)" if latest.cached else "")
            + f"; {latest.basis}"
        )
    elif latest is not None:
        lines.append(
            f"grid now     live figure unavailable ({latest.provider}: {latest.error}); using the pinned figure"
        )
    if advice.pinned_g is not None:
        lines.append(f"pinned       {advice.pinned_g:g} g/kWh (what the gate uses)")
    hours = advice.duration_s / 3600
    job = (
        (f"{format_energy(e)} over " if e else "")
        + f"{hours:g} h"
        + ("" if duration_given else " (assumed; pass --duration)")
    )
    lines.append(f"job          {job}, deadline {iso(advice.shift.deadline)}")
    shift = advice.shift
    if shift.now is not None:
        lines.append(f"start now    {shift.now.g_per_kwh:.0f} g/kWh average{co2(shift.now.g_per_kwh)}")
    if shift.best is not None:
        saving = f" (saves {shift.saving:.0%})" if shift.saving is not None else ""
        lines.append(
            f"best start   {iso(shift.best.start)}: {shift.best.g_per_kwh:.0f} g/kWh average"
            f"{co2(shift.best.g_per_kwh)}{saving}"
        )
    if shift.note:
        lines.append(f"             {shift.note}" if shift.best else f"best start   {shift.note}; nothing invented")
    reference = shift.now.g_per_kwh if shift.now else advice.now_g
    for i, r in enumerate(advice.regions):
        head = "regions      " if i == 0 else "             "
        if r.g_per_kwh is None:
            lines.append(f"{head}{r.zone}: unavailable ({r.note})")
            continue
        delta = f", {(r.g_per_kwh / reference - 1):+.0%} vs here now" if reference else ""
        lines.append(f"{head}{r.zone}: {r.g_per_kwh:.0f} g/kWh ({r.source}){co2(r.g_per_kwh)}{delta}")
    best = best_region(advice.regions)
    if best is not None and reference and best.g_per_kwh is not None and best.g_per_kwh < reference:
        lines.append(f"greenest     {best.zone} ({1 - best.g_per_kwh / reference:.0%} less than here now)")
    return lines
