"""A pull request cannot loosen its own gate (DESIGN §1.5, §9). Pure functions.

The limits in force come from the base commit's budget file; the PR's own file only adds new
workloads. Every difference is reported; a loosened limit (higher budget or tolerance, removed
budget or workload, fewer failing verdicts, lower grid intensity or PUE, a changed command, a raised
baseline) fails the gate unless the PR carries the approval label.
"""

from __future__ import annotations

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
        if h.command != b.command:
            out.append(LimitChange(f"{name}: command", b.command_text(), h.command_text(), True))
        if (h.unit_name, h.unit_count) != (b.unit_name, b.unit_count):
            out.append(LimitChange(f"{name}: unit", f"{b.unit_count:g} {b.unit_name}", f"{h.unit_count:g} {h.unit_name}",
                                   h.unit_count > b.unit_count))
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
    return out


def diff_baselines(base_doc: dict | None, head_doc: dict | None) -> list[LimitChange]:
    """A PR that raises a stored baseline's median (or drops an entry) makes regressions harder to see."""
    out: list[LimitChange] = []
    before = (base_doc or {}).get("workloads", {})
    after = (head_doc or {}).get("workloads", {})
    for name, b in before.items():
        a = after.get(name)
        b_med = (b.get("summary") or {}).get("median_wh")
        if a is None:
            out.append(LimitChange(f"baseline {name}", format_energy(b_med) if b_med else "present", "removed", True))
            continue
        a_med = (a.get("summary") or {}).get("median_wh")
        if b_med is not None and a_med is not None and a_med != b_med:
            out.append(LimitChange(f"baseline {name}", format_energy(b_med), format_energy(a_med), a_med > b_med))
    return out


def effective_config(base: Config, head: Config) -> Config:
    """The config to gate with: the PR's workloads and commands, but the base's limits for every workload
    the base knows, and the base's gate and grid settings."""
    base_w = {w.name: w for w in base.workloads}

    def guarded(w: Workload) -> Workload:
        b = base_w.get(w.name)
        if b is None:
            return w
        return replace(w, budget=b.budget, tolerance=b.tolerance, unit_name=b.unit_name, unit_count=b.unit_count)

    return replace(head, workloads=tuple(guarded(w) for w in head.workloads), gate=base.gate, grid=base.grid)
