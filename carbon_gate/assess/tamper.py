"""A pull request cannot loosen its own gate (DESIGN §1.5, §9). Pure functions.

The limits in force come from the base commit's budget file; the PR's own file only adds new
workloads. Every difference is reported; a loosened limit (higher budget or tolerance, removed
budget or workload, fewer repeats, fewer failing verdicts, lower grid intensity or PUE, a changed
command or unit, a raised or edited baseline, a weaker baseline mode or another baseline file) fails
the gate unless the PR carries the approval label.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

from ..config import Config, Workload
from ..units import format_energy, format_mass


@dataclass(frozen=True)
class LimitChange:
    what: str
    before: str
    after: str
    loosened: bool

    def to_dict(self) -> dict:
        return {"what": self.what, "before": self.before, "after": self.after, "loosened": self.loosened}


def _fmt(limit: str, value: float | None) -> str:
    if value is None:
        return "none"
    return format_energy(value) if limit.endswith("energy") else format_mass(value)


def diff_configs(base: Config, head: Config) -> list[LimitChange]:
    """Differences in gate-relevant settings from the base's budget file to the PR's."""
    out: list[LimitChange] = []
    base_w = {w.name: w for w in base.workloads}
    head_w = {w.name: w for w in head.workloads}
    for name, b in base_w.items():
        h = head_w.get(name)
        if h is None:
            out.append(LimitChange(f"workload {name}", "present", "removed", True))
            continue
        b_lim, h_lim = b.budget.limits(), h.budget.limits()
        for limit in sorted(set(b_lim) | set(h_lim)):
            before, after = b_lim.get(limit), h_lim.get(limit)
            if before != after:
                loosened = before is not None and (after is None or after > before)
                out.append(LimitChange(f"{name}: budget.{limit}", _fmt(limit, before), _fmt(limit, after), loosened))
        if h.tolerance != b.tolerance:
            out.append(LimitChange(f"{name}: tolerance", f"{b.tolerance:.1%}", f"{h.tolerance:.1%}", h.tolerance > b.tolerance))
        if h.repeats != b.repeats:  # fewer runs: a wider interval, so a real regression reads as inconclusive
            out.append(LimitChange(f"{name}: repeats", f"{b.repeats}", f"{h.repeats}", h.repeats < b.repeats))
        if h.command != b.command:
            out.append(LimitChange(f"{name}: command", b.command_text(), h.command_text(), True))
        if (h.unit_name, h.unit_count) != (b.unit_name, b.unit_count):
            out.append(LimitChange(f"{name}: unit", _unit(b), _unit(h), _more_units(b, h)))
    for name in head_w.keys() - base_w.keys():
        out.append(LimitChange(f"workload {name}", "absent", "added", False))
    removed = set(base.gate.fail_on) - set(head.gate.fail_on)
    if set(base.gate.fail_on) != set(head.gate.fail_on):
        out.append(LimitChange("gate.fail_on", ", ".join(base.gate.fail_on), ", ".join(head.gate.fail_on), bool(removed)))
    if head.gate.confidence != base.gate.confidence:
        out.append(LimitChange("gate.confidence", f"{base.gate.confidence:g}", f"{head.gate.confidence:g}",
                               head.gate.confidence > base.gate.confidence))
    if head.gate.family != base.gate.family:
        out.append(LimitChange("gate.family", base.gate.family, head.gate.family, head.gate.family == "holm"))
    bg, hg = base.grid, head.grid
    if (bg.country, bg.intensity) != (hg.country, hg.intensity):
        out.append(LimitChange("grid", f"{bg.intensity or bg.country or 'world average'}",
                               f"{hg.intensity or hg.country or 'world average'}", True))
    if hg.pue < bg.pue:
        out.append(LimitChange("grid.pue", f"{bg.pue:g}", f"{hg.pue:g}", True))
    bb, hb = base.baseline, head.baseline
    if hb.mode != bb.mode:
        out.append(LimitChange("baseline.mode", bb.mode, hb.mode,
                               _MODE_STRENGTH.get(hb.mode, -1) < _MODE_STRENGTH.get(bb.mode, -1)))
    if hb.file.as_posix() != bb.file.as_posix():
        # The file decides the verdict whenever either side may compare with it (stored, or auto without a base);
        # pointing it elsewhere (a missing or hand-made file) can hide a regression.
        used = bool({bb.mode, hb.mode} & {"stored", "auto"})
        out.append(LimitChange("baseline.file", bb.file.as_posix(), hb.file.as_posix(), used))
    return out


# In a pull request the base commit is known, so `auto` compares paired, like `paired`; `stored` compares with
# a recorded file instead, which a PR can make miss (or point elsewhere): switching to it weakens the check;
# `none` (budgets only) and any other mode weaken it most.
_MODE_STRENGTH = {"paired": 2, "auto": 2, "stored": 1, "none": 0}


def _unit(w: Workload) -> str:
    if w.unit_count is None:
        return f"{w.unit_name} (count reported by the workload)"
    return f"{w.unit_count:g} {w.unit_name}"


def _more_units(b: Workload, h: Workload) -> bool:
    """More units per run divides the per-unit footprint; a count the workload reports itself is the
    workload's (the PR's) to choose, so switching to or from it counts as loosened either way."""
    if b.unit_count is None or h.unit_count is None:
        return True
    return h.unit_count > b.unit_count


def diff_baselines(base_doc: dict | None, head_doc: dict | None) -> list[LimitChange]:
    """A PR that raises a stored baseline's median (or drops an entry) makes regressions harder to see; so does
    one that edits the recorded samples (a wider spread) or the fingerprint (a mismatch is only inconclusive)
    while leaving the median alone. The median is that of `samples_wh`, which stored mode compares with."""
    out: list[LimitChange] = []
    before, after = _entries(base_doc), _entries(head_doc)
    for name, b in before.items():
        a = after.get(name)
        b_med = _median(b)
        if a is None:
            out.append(LimitChange(f"baseline {name}", format_energy(b_med) if b_med else "present", "removed", True))
            continue
        a_med = _median(a)
        moved = b_med is not None and a_med is not None and a_med != b_med
        if moved:
            out.append(LimitChange(f"baseline {name}", format_energy(b_med), format_energy(a_med), a_med > b_med))
        # Checked whatever the median did: a slightly lower median with a much wider spread still hides a
        # regression (the wider interval makes it inconclusive). A uniformly rescaled set keeps its spread.
        if a.get("samples_wh") != b.get("samples_wh") and (not moved or _spread(a) > _spread(b)):
            edit = "a wider spread" if moved else "same median"
            out.append(LimitChange(f"baseline {name}: samples", _count(b), f"{_count(a)}, edited ({edit})", True))
        if a.get("fingerprint") != b.get("fingerprint"):
            out.append(LimitChange(f"baseline {name}: fingerprint", "recorded", "edited", True))
    return out


def _entries(doc: dict | None) -> dict:
    workloads = doc.get("workloads") if isinstance(doc, dict) else None
    return {n: e for n, e in workloads.items() if isinstance(e, dict)} if isinstance(workloads, dict) else {}


def _numbers(value) -> list[float]:
    if not isinstance(value, list):
        return []
    return [float(x) for x in value if isinstance(x, (int, float)) and not isinstance(x, bool)]


def _median(entry: dict) -> float | None:
    samples = _numbers(entry.get("samples_wh"))
    if samples:
        return statistics.median(samples)
    summary = entry.get("summary")
    value = summary.get("median_wh") if isinstance(summary, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _spread(entry: dict) -> float:
    """(max - min) / median of the recorded samples: what a comparison's interval width follows."""
    samples = _numbers(entry.get("samples_wh"))
    median = statistics.median(samples) if samples else 0.0
    return (max(samples) - min(samples)) / median if median > 0 else 0.0


def _count(entry: dict) -> str:
    n = len(_numbers(entry.get("samples_wh")))
    return f"{n} sample{'s' if n != 1 else ''}"


def effective_config(base: Config, head: Config) -> Config:
    """The config to gate with: the PR's workloads and commands, but the base's limits for every workload
    the base knows, and the base's gate, grid and baseline (mode, file) settings."""
    base_w = {w.name: w for w in base.workloads}

    def guarded(w: Workload) -> Workload:
        b = base_w.get(w.name)
        if b is None:
            return w
        return replace(w, budget=b.budget, tolerance=b.tolerance, unit_name=b.unit_name, unit_count=b.unit_count,
                       repeats=max(w.repeats, b.repeats))

    # What to compare with is the base's too (mode and file); `setup` stays the PR's, like its commands.
    baseline = replace(head.baseline, mode=base.baseline.mode, file=base.baseline.file)
    return replace(head, workloads=tuple(guarded(w) for w in head.workloads), gate=base.gate, grid=base.grid,
                   baseline=baseline)
