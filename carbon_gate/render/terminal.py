"""Compact plain-text summaries for the terminal and CI logs. Pure: data in, text out."""

from __future__ import annotations

from ..account import Footprint
from ..domain import Sample
from ..grid import GridFactor
from ..units import format_energy, format_mass

MARKS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR"}


def grid_line(grid: GridFactor) -> str:
    year = f" {grid.year}" if grid.year else ""
    flag = " — DEFAULTED: set grid.country or grid.intensity" if grid.method == "defaulted" else ""
    return f"{grid.g_per_kwh:g} g/kWh, {grid.location}, {grid.source}{year}; PUE {grid.pue:g}{flag}"


def measure_table(command: str, sample: Sample, fp: Footprint, grid: GridFactor) -> str:
    """The `measure` command's table: times, energy per component with method, CO2e, overhead."""
    rows = [
        ("command", command),
        ("exit code", f"{sample.exit_code}" + (f" ({sample.error})" if sample.error else "")),
        ("wall time", f"{sample.wall_s:.3f} s"),
        ("CPU time", f"{sample.cpu_s:.3f} s (process tree, exact)"),
        ("peak RSS", f"{sample.rss_peak_mb:.1f} MB"),
    ]
    for e in sample.energy:
        rows.append((e.component, f"{format_energy(e.wh):>10}  {e.method:<9}  {e.reason}"))
    rows.append(("energy", f"{format_energy(sample.energy_wh):>10}  total" + (f", × PUE {grid.pue:g} = {format_energy(fp.facility_wh)}" if grid.pue != 1 else "")))
    rows.append(("CO2e", f"{format_mass(fp.co2e_g):>10}  operational {format_mass(fp.operational_g)} + embodied {format_mass(fp.embodied_g)}"))
    rows.append(("intensity", grid_line(grid)))
    rows.append(("overhead", f"{sample.overhead_cpu_s * 1000:.1f} ms CPU of carbon-gate's own (not billed)"))
    for note in sample.notes:
        rows.append(("note", note))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def run_summary(results: dict) -> str:
    """The `run` summary from a results document: one row per workload, then the reasons that matter."""
    header = ("workload", "runs", "median", "spread", "Δ vs base [CI]", "MDE", "CO2e", "SCI", "budget", "verdict")
    rows = [header]
    for w in results["workloads"]:
        s = w.get("summary") or {}
        fp = w.get("footprint") or {}
        change = w.get("change") or {}
        use = w["budget"]["max_use_pct"]
        rows.append((
            w["name"],
            str(s.get("n", 0)),
            format_energy(s["median_wh"]) if s else "—",
            f"{s['spread']:.1%}" if s else "—",
            _delta(change) if change else "—",
            _mde(change),
            format_mass(fp["co2e_g"]) if fp else "—",
            f"{format_mass(fp['sci_g_per_unit'])}/{fp['unit']}" if fp else "—",
            ("<1%" if use < 1 else f"{use:.0f}%") if use is not None else "—",
            w["verdict"],
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    for w in results["workloads"]:
        if w["verdict"] in ("error", "over-budget", "regression", "inconclusive", "improvement"):
            for reason in w["reasons"]:
                lines.append(f"  {w['name']}: {reason}")
        if w["verdict"] == "error":
            tail = next((s["stderr_tail"] for s in w["samples"] if s.get("error") and s.get("stderr_tail")), "")
            if tail:
                lines.extend(f"    | {line}" for line in tail.strip().splitlines()[-5:])
    grid = results["grid"]
    lines.append(f"  grid: {grid_line(GridFactor.from_dict(grid))}")
    from .carbon_aware import greener_lines, live_line

    live = live_line(results)
    if live:
        lines.append(f"  live: {live}")
    lines.extend(f"  greener if: {line}" for line in greener_lines(results))
    lines.append(f"  CPU: {results['machine']['cpu']['method']} — {results['machine']['cpu']['reason']}")
    counts = ", ".join(f"{n} {v}" for v, n in results["counts"].items())
    lines.append(f"carbon-gate: {MARKS.get(results['verdict'], results['verdict'].upper())} ({counts})"
                 + (" — interrupted, partial results" if results.get("interrupted") else ""))
    return "\n".join(lines)


def _mde(change: dict) -> str:
    if not change:
        return "—"
    mde = change.get("mde")
    return "∞" if mde is None else f"{mde:.1%}"


def _delta(change: dict) -> str:
    ratio, low, high = change.get("ratio"), change.get("low"), change.get("high")
    if ratio is None:
        return "—"
    text = f"{(ratio - 1) * 100:+.1f}%"
    if low is not None and high is not None:
        text += f" [{(low - 1) * 100:+.1f}, {(high - 1) * 100:+.1f}]"
    elif low is not None or high is not None:
        text += " [unbounded]"
    return text
