"""Compact plain-text summaries for the terminal and CI logs. Pure: data in, text out (the width and
whether to colour are decided by the caller from the stream and environment, see `screen`)."""

from __future__ import annotations

import math
import os
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from ..account import Footprint
from ..domain import Change, Sample
from ..grid import GridFactor
from ..units import format_energy, format_mass

if TYPE_CHECKING:
    from ..results import Results

MARKS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR", "interrupted": "INTERRUPTED"}
# ANSI SGR colours for suite marks and workload verdicts (green good, red bad, yellow undecided).
# fmt: off
COLOURS = {"pass": "32", "fail": "31", "error": "31", "warn": "33", "interrupted": "33", "over-budget": "31",
           "regression": "31", "inconclusive": "33", "improvement": "32", "unchanged": "32", "within-budget": "32",
           "new": "36"}
# fmt: on
# Columns of the run table left out, in this order, until it fits the width.
DROP_ORDER = ("SCI", "MDE", "spread", "runs", "CO2e", "budget")


@dataclass(frozen=True)
class Screen:
    """How to draw for one output stream: the width to fit (None: do not fit) and whether to colour."""

    width: int | None = None
    colour: bool = False


def screen(stream: TextIO, env: Mapping[str, str] | None = None) -> Screen:
    """The width is $COLUMNS, else the terminal's, else unbounded (a CI log or a file). Colour on a
    terminal, never with NO_COLOR (no-color.org), always with FORCE_COLOR (unless it is 0/false)."""
    env = os.environ if env is None else env
    isatty = getattr(stream, "isatty", None)
    tty = bool(isatty and isatty()) and env.get("TERM") != "dumb"
    width: int | None = None
    if env.get("COLUMNS", "").strip().isdigit():
        width = int(env["COLUMNS"])
    elif tty:
        try:
            width = os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            width = None
    if env.get("NO_COLOR"):
        colour = False
    elif env.get("FORCE_COLOR", "").strip().lower() not in ("", "0", "false", "no"):
        colour = True
    else:
        colour = tty
    return Screen(width if width and width >= 20 else None, colour)


def paint(text: str, key: str, colour: bool) -> str:
    """`text` in the colour for a verdict or mark `key` (unchanged when colour is off or none fits)."""
    code = COLOURS.get(key)
    return f"\033[{code}m{text}\033[0m" if colour and code else text


def wrap(text: str, width: int | None, hang: str | None = None) -> list[str]:
    """A line fitted to `width`, broken at spaces; continuation lines start with `hang` (default: the
    line's own indent and two spaces more)."""
    if width is None or len(text) <= width:
        return [text]
    if hang is None:
        hang = text[: len(text) - len(text.lstrip())] + "  "
    glued = re.sub(
        r"(?<=\d) (?=[µ%a-zA-Z/]{1,6}(\W|$))", "\0", text
    )  # a number stays with its unit: never "5" / "% tol…"
    return [
        line.replace("\0", " ") for line in textwrap.wrap(glued, width, subsequent_indent=hang, break_on_hyphens=False)
    ] or [text]


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
    rows.append(
        (
            "energy",
            f"{format_energy(sample.energy_wh):>10}  total"
            + (f", × PUE {grid.pue:g} = {format_energy(fp.facility_wh)}" if grid.pue != 1 else ""),
        )
    )
    rows.append(
        (
            "CO2e",
            f"{format_mass(fp.co2e_g):>10}  operational {format_mass(fp.operational_g)}"
            f" + embodied {format_mass(fp.embodied_g)}",
        )
    )
    rows.append(("intensity", grid_line(grid)))
    rows.append(("overhead", f"{sample.overhead_cpu_s * 1000:.1f} ms CPU of carbon-gate's own (not billed)"))
    for note in sample.notes:
        rows.append(("note", note))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def run_summary(results: Results | dict[str, Any], width: int | None = None, colour: bool = False) -> str:
    """The `run` summary from a results document (or the document read back with `results.from_dict`): one
    row per workload, then the reasons that matter.

    With `width`, the table leaves out its least needed columns (DROP_ORDER) and shortens workload
    names until it fits, and the other lines wrap; with `colour`, verdicts and the mark are coloured."""
    if isinstance(results, dict):
        from ..results import from_dict

        results = from_dict(results)
    header = ("workload", "runs", "median", "spread", "Δ vs base [CI]", "MDE", "CO2e", "SCI", "budget", "verdict")
    rows: list[tuple[str, ...]] = [header]
    for w in results.workloads:
        s, fp, change = w.summary, w.footprint, w.change
        use = w.max_use_pct()
        rows.append(
            (
                w.name,
                str(s.n if s else 0),
                format_energy(s.median_wh) if s else "—",
                f"{s.spread:.1%}" if s else "—",
                _delta(change) if change else "—",
                _mde(change),
                format_mass(fp.co2e_g) if fp else "—",
                f"{format_mass(fp.sci_g_per_unit)}/{fp.unit}" if fp else "—",
                ("<1%" if use < 1 else f"{use:.0f}%") if use is not None else "—",
                w.verdict,
            )
        )
    lines = _table(_fit(rows, width), colour)
    notes: list[str] = []
    for w in results.workloads:
        if w.verdict in ("error", "over-budget", "regression", "inconclusive", "improvement"):
            notes.extend(f"  {w.name}: {reason}" for reason in w.reasons)
        if w.verdict == "error":
            tail = next((x.stderr_tail for x in w.samples if x.error and x.stderr_tail), "")
            if tail:
                notes.extend(f"    | {line}"[: width or None] for line in tail.strip().splitlines()[-5:])
    notes.append(f"  grid: {grid_line(results.grid)}")
    from .carbon_aware import greener_lines, live_line

    live = live_line(results.carbon_aware)
    if live:
        notes.append(f"  live: {live}")
    notes.extend(f"  greener if: {line}" for line in greener_lines(results.carbon_aware))
    cpu = results.machine["cpu"]
    notes.append(f"  CPU: {cpu['method']} — {cpu['reason']}")
    lines += [part for note in notes for part in (wrap(note, width) if not note.startswith("    | ") else [note])]
    counts = ", ".join(f"{n} {v}" for v, n in results.counts().items())
    verdict = "interrupted" if results.interrupted else results.verdict
    mark = MARKS.get(verdict, verdict.upper())
    # Interrupted is its own outcome: never a PASS, whatever was measured before the signal.
    last = wrap(
        f"carbon-gate: {mark} — partial results ({counts or 'nothing measured'}), no verdict"
        if verdict == "interrupted"
        else f"carbon-gate: {mark} ({counts})",
        width,
        hang="  ",
    )
    last[0] = last[0].replace(mark, paint(mark, verdict, colour), 1)
    return "\n".join(lines + last)


def _fit(rows: list[tuple[str, ...]], width: int | None) -> list[tuple[str, ...]]:
    """Leave out columns in DROP_ORDER, then shorten the first column with '…', until the table fits."""

    def size(table: list[tuple[str, ...]]) -> int:
        return 2 + sum(max(len(r[i]) for r in table) for i in range(len(table[0]))) + 2 * (len(table[0]) - 1)

    if width is None:
        return rows
    for name in DROP_ORDER:
        if size(rows) <= width:
            return rows
        i = rows[0].index(name)
        rows = [r[:i] + r[i + 1 :] for r in rows]
    if size(rows) > width:  # the change without its interval
        i = rows[0].index("Δ vs base [CI]")
        rows = [r[:i] + (r[i].split(" [")[0],) + r[i + 1 :] for r in rows]
    excess = size(rows) - width
    if excess > 0:
        longest = max(len(r[0]) for r in rows)
        keep = max(8, longest - excess)
        rows = [(r[0] if len(r[0]) <= keep else r[0][: keep - 1] + "…",) + r[1:] for r in rows]
    return rows


def _table(rows: list[tuple[str, ...]], colour: bool) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    verdict = rows[0].index("verdict")
    lines = []
    for n, r in enumerate(rows):
        cells = [c.ljust(widths[i]) for i, c in enumerate(r)]
        if n:  # colour the word, not its padding
            cells[verdict] = paint(r[verdict], r[verdict], colour) + " " * (widths[verdict] - len(r[verdict]))
        lines.append(("  " + "  ".join(cells)).rstrip())
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return lines


def _mde(change: Change | None) -> str:
    if change is None:
        return "—"
    return "∞" if not math.isfinite(change.mde) else f"{change.mde:.1%}"


def _delta(change: Change) -> str:
    """'+4.2% [+1.0, +7.5]': the change with its interval (JSON's nulls are non-finite in the record)."""
    ratio, low, high = change.ratio, change.low, change.high
    if not math.isfinite(ratio):
        return "—"
    text = f"{(ratio - 1) * 100:+.1f}%"
    if math.isfinite(low) and math.isfinite(high):
        text += f" [{(low - 1) * 100:+.1f}, {(high - 1) * 100:+.1f}]"
    elif math.isfinite(low) or math.isfinite(high):
        text += " [unbounded]"
    return text
