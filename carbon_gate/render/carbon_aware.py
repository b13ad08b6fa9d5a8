"""Words for the results' `carbon_aware` block (issue 17): the live grid figure beside the pinned one,
and the "greener if" lines. Pure. The block may come from an edited results file, so every value is
type-checked and every string goes through `escape` before it reaches Markdown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..units import format_energy, format_mass


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def live_line(ca: Any, escape: Callable[[Any], str] = str) -> str | None:
    """'At run time the grid was 212 gCO2e/kWh (...); pinned 380 — the gate uses the pinned figure.'
    `ca` is the results' `carbon_aware` block (None when there is none)."""
    live = ca.get("live") if isinstance(ca, dict) else None
    if not isinstance(live, dict):
        return None
    reading = r if isinstance(r := live.get("reading"), dict) else {}
    provider, zone = escape(reading.get("provider", "?")), escape(reading.get("zone", "?"))
    pinned = _num(live.get("pinned_g_per_kwh"))
    g = _num(live.get("g_per_kwh"))
    pinned_text = f"pinned {pinned:g} gCO2e/kWh" if pinned is not None else "the pinned figure"
    if g is None:
        why = escape(reading.get("error") or "no answer")
        return (
            f"live grid intensity unavailable ({provider}, zone {zone}: {why}); {pinned_text} was used, "
            "so the verdict is the one the pinned figure gives"
        )
    when = escape(reading.get("fetched_at", ""))
    basis = escape(reading.get("basis", ""))
    gated = live.get("gated") == "live"
    tail = (
        "CO2e uses the live figure (grid.gate_on: live)"
        if gated
        else "the gate uses the pinned figure; the live one is reported only"
    )
    return (
        f"at run time the grid was {g:.0f} gCO2e/kWh ({provider}, zone {zone}, {when}"
        + (f"; {basis}" if basis else "")
        + f"); {pinned_text} — {tail}"
    )


def greener_lines(ca: Any, escape: Callable[[Any], str] = str) -> list[str]:
    """One line per big workload: its best start (saving against now) and best zone (against pinned),
    from the results' `carbon_aware` block `ca`."""
    items = ca.get("advice") if isinstance(ca, dict) else None
    if not isinstance(items, list):
        return []
    out = []
    for a in items[:20]:
        if not isinstance(a, dict):
            continue
        wh = _num(a.get("energy_wh"))
        parts = []
        ts = t if isinstance(t := a.get("time_shift"), dict) else {}
        best = b if isinstance(b := ts.get("best"), dict) else None
        saving = _num(ts.get("saving_pct"))
        if best and saving is not None and saving > 0:
            now, then = _num(ts.get("now_co2e_g")), _num(ts.get("best_co2e_g"))
            grams = f", {format_mass(now - then)} less" if now is not None and then is not None else ""
            parts.append(f"started at {escape(best.get('start'))} ({saving:.0f} % less than starting now{grams})")
        elif best:
            parts.append("starting now is already the cleanest start before the deadline")
        else:
            note = str(ts.get("note") or "no forecast available")
            parts.append(escape(note if note.startswith("no forecast") else f"no forecast: {note}"))
        region = g if isinstance(g := a.get("best_region"), dict) else None
        r_saving = _num(region.get("saving_pct")) if region else None
        if region and r_saving is not None and r_saving > 0:
            co2 = _num(region.get("co2e_g"))
            parts.append(
                f"run in {escape(region.get('zone'))} ({_num(region.get('g_per_kwh')) or 0:.0f} gCO2e/kWh, "
                f"{r_saving:.0f} % less than pinned" + (f": {format_mass(co2)} CO2e" if co2 is not None else "") + ")"
            )
        size = f" ({format_energy(wh)})" if wh is not None else ""
        out.append(f"{escape(a.get('workload', '?'))}{size}: " + "; ".join(parts))
    return out
