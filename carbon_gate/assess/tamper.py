"""A pull request cannot loosen its own gate (docs/github.md, "Threat model"). Pure functions.

The limits in force come from the base commit's budget file; the PR's own file only adds new
workloads. Every difference in anything that can change a number or a decision is reported; a
loosened one (higher budget or tolerance, removed budget or workload, fewer repeats, fewer failing
verdicts, lower grid intensity or PUE, a changed command, unit, cwd, env, setup, extrapolation,
machine setting or profile file, a raised or edited baseline, a weaker baseline mode or another
baseline file, and any setting without a rule here) fails the gate unless the PR carries the
approval label.
"""

from __future__ import annotations

import shlex
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from ..config import Config, Workload
from ..units import format_energy, format_mass

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass(frozen=True)
class LimitChange:
    what: str
    before: str
    after: str
    loosened: bool

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "before": self.before, "after": self.after, "loosened": self.loosened}


def _fmt(limit: str, value: float | None) -> str:
    if value is None:
        return "none"
    return format_energy(value) if limit.endswith("energy") else format_mass(value)


def diff_configs(
    base: Config, head: Config, files: dict[str, tuple[str | None, str | None]] | None = None
) -> list[LimitChange]:
    """Differences in everything that can change a number or a decision, from the base's budget file to the
    PR's. `files` maps each file the configs name (a profile, a CodeCarbon CSV) to its content digests at
    the base and in the PR (read by the caller); an edited file counts like an edited setting. A setting
    this function has no rule for counts as loosened when it differs: an unknown effect is not a safe one."""
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
            out.append(
                LimitChange(f"{name}: tolerance", f"{b.tolerance:.1%}", f"{h.tolerance:.1%}", h.tolerance > b.tolerance)
            )
        if h.repeats != b.repeats:  # fewer runs: a wider interval, so a real regression reads as inconclusive
            out.append(LimitChange(f"{name}: repeats", f"{b.repeats}", f"{h.repeats}", h.repeats < b.repeats))
        if h.command != b.command or h.estimate != b.estimate or h.codecarbon_csv != b.codecarbon_csv:
            out.append(LimitChange(f"{name}: command", b.command_text(), h.command_text(), True))
        if (h.unit_name, h.unit_count) != (b.unit_name, b.unit_count):
            out.append(LimitChange(f"{name}: unit", _unit(b), _unit(h), _more_units(b, h)))
        if h.extrapolate_to != b.extrapolate_to:  # a shorter projected run lowers every projected figure
            out.append(
                LimitChange(
                    f"{name}: extrapolate.to",
                    _num(b.extrapolate_to),
                    _num(h.extrapolate_to),
                    h.extrapolate_to is None or (b.extrapolate_to is not None and h.extrapolate_to < b.extrapolate_to),
                )
            )
        if h.timeout_s != b.timeout_s:  # a shorter timeout turns a slow run into `error`, which may not fail
            out.append(
                LimitChange(f"{name}: timeout", f"{b.timeout_s:g} s", f"{h.timeout_s:g} s", h.timeout_s < b.timeout_s)
            )
        # Fewer rounds or less time for the sequential gate: fewer regressions can be decided.
        if h.max_rounds != b.max_rounds:
            out.append(
                LimitChange(f"{name}: max_rounds", f"{b.max_rounds}", f"{h.max_rounds}", h.max_rounds < b.max_rounds)
            )
        if h.max_time_s != b.max_time_s:
            out.append(
                LimitChange(
                    f"{name}: max_time", f"{b.max_time_s:g} s", f"{h.max_time_s:g} s", h.max_time_s < b.max_time_s
                )
            )
        # Where and how it runs: a new cwd the base lacks makes the base fail (no comparison), env and
        # warm-ups change what is measured on both sides.
        for what, was, now in (
            (f"{name}: cwd", b.cwd, h.cwd),
            (f"{name}: env", _env(b.env), _env(h.env)),
            (f"{name}: warmup", f"{b.warmup}", f"{h.warmup}"),
        ):
            if was != now:
                out.append(LimitChange(what, was, now, True))
        out += _unknown(f"{name}: ", b, h, _WORKLOAD_RULES)
    for name in head_w.keys() - base_w.keys():
        out.append(LimitChange(f"workload {name}", "absent", "added", False))
    removed = set(base.gate.fail_on) - set(head.gate.fail_on)
    if set(base.gate.fail_on) != set(head.gate.fail_on):
        out.append(
            LimitChange("gate.fail_on", ", ".join(base.gate.fail_on), ", ".join(head.gate.fail_on), bool(removed))
        )
    if head.gate.confidence != base.gate.confidence:
        out.append(
            LimitChange(
                "gate.confidence",
                f"{base.gate.confidence:g}",
                f"{head.gate.confidence:g}",
                head.gate.confidence > base.gate.confidence,
            )
        )
    if head.gate.family != base.gate.family:
        out.append(LimitChange("gate.family", base.gate.family, head.gate.family, head.gate.family == "holm"))
    out += _unknown("gate.", base.gate, head.gate, {"fail_on", "confidence", "family"})
    bg, hg = base.grid, head.grid
    if (bg.country, bg.intensity) != (hg.country, hg.intensity):
        out.append(
            LimitChange(
                "grid",
                f"{bg.intensity or bg.country or 'world average'}",
                f"{hg.intensity or hg.country or 'world average'}",
                True,
            )
        )
    if hg.pue != bg.pue:  # listed either way; only a lower PUE lowers the CO2e
        out.append(LimitChange("grid.pue", f"{bg.pue:g}", f"{hg.pue:g}", hg.pue < bg.pue))
    out += _unknown("grid.", bg, hg, {"country", "intensity", "pue", "lines"})
    # The machine section decides how energy is measured or modelled (a profile's curve, embodied
    # emissions, which meters are read): any change can lower every figure.
    out += _unknown("machine.", base.machine, head.machine, set())
    out += _environment(base, head)
    bb, hb = base.baseline, head.baseline
    if hb.mode != bb.mode:
        out.append(
            LimitChange(
                "baseline.mode", bb.mode, hb.mode, _MODE_STRENGTH.get(hb.mode, -1) < _MODE_STRENGTH.get(bb.mode, -1)
            )
        )
    if hb.file.as_posix() != bb.file.as_posix():
        # The file decides the verdict whenever either side may compare with it (stored, or auto without a base);
        # pointing it elsewhere (a missing or hand-made file) can hide a regression.
        used = bool({bb.mode, hb.mode} & {"stored", "auto"})
        out.append(LimitChange("baseline.file", bb.file.as_posix(), hb.file.as_posix(), used))
    if hb.setup != bb.setup:  # setup runs in the base tree too: it can break or slow the base's side
        out.append(LimitChange("baseline.setup", _command(bb.setup), _command(hb.setup), True))
    out += _unknown("baseline.", bb, hb, {"mode", "file", "setup", "history"})
    out += _unknown(
        "",
        base,
        head,
        {"path", "version", "grid", "machine", "baseline", "gate", "workloads", "prepush", "environment"},
    )
    for what, (was_digest, now_digest) in sorted((files or {}).items()):
        if was_digest != now_digest:
            out.append(LimitChange(what, _digest(was_digest), _digest(now_digest), True))
    return out


# Workload fields with a rule above, or no effect on a number or a decision (`paths` only picks pre-push work,
# `energy_per_point` only adds columns to the report).
_WORKLOAD_RULES = {
    "name",
    "command",
    "estimate",
    "codecarbon_csv",
    "budget",
    "tolerance",
    "repeats",
    "unit_name",
    "unit_count",
    "extrapolate_to",
    "timeout_s",
    "max_rounds",
    "max_time_s",
    "cwd",
    "env",
    "warmup",
    "paths",
    "line",
    "energy_per_point",
}


def _unknown(prefix: str, base: DataclassInstance, head: DataclassInstance, handled: set[str]) -> list[LimitChange]:
    """Every other field of two dataclasses that differs, as loosened."""
    out = []
    for f in fields(base):
        if f.name in handled:
            continue
        before, after = getattr(base, f.name), getattr(head, f.name)
        if before != after:
            out.append(LimitChange(f"{prefix}{f.name}", _show(before), _show(after), True))
    return out


def _environment(base: Config, head: Config) -> list[LimitChange]:
    """Passing more of the runner's environment, or calling fewer names secret, lets more through."""
    out = []
    be, he = base.environment, head.environment
    if set(he.passes) != set(be.passes):
        out.append(
            LimitChange("environment.pass", _show(be.passes), _show(he.passes), bool(set(he.passes) - set(be.passes)))
        )
    if set(he.secrets) != set(be.secrets):
        out.append(
            LimitChange(
                "environment.secrets", _show(be.secrets), _show(he.secrets), bool(set(be.secrets) - set(he.secrets))
            )
        )
    return out


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def _num(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _env(env: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "none"


def _command(cmd: str | Sequence[str] | None) -> str:
    if cmd is None:
        return "none"
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


def _digest(digest: str | None) -> str:
    return "absent" if digest is None else f"sha256 {digest[:12]}"


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


def diff_baselines(base_doc: dict[str, Any] | None, head_doc: dict[str, Any] | None) -> list[LimitChange]:
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
        moved = False
        if b_med is not None and a_med is not None and a_med != b_med:
            moved = True
            out.append(LimitChange(f"baseline {name}", format_energy(b_med), format_energy(a_med), a_med > b_med))
        # Checked whatever the median did: a slightly lower median with a much wider spread still hides a
        # regression (the wider interval makes it inconclusive). A uniformly rescaled set keeps its spread.
        if a.get("samples_wh") != b.get("samples_wh") and (not moved or _spread(a) > _spread(b)):
            edit = "a wider spread" if moved else "same median"
            out.append(LimitChange(f"baseline {name}: samples", _count(b), f"{_count(a)}, edited ({edit})", True))
        if a.get("fingerprint") != b.get("fingerprint"):
            out.append(LimitChange(f"baseline {name}: fingerprint", "recorded", "edited", True))
    return out


def _entries(doc: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    workloads = doc.get("workloads") if isinstance(doc, dict) else None
    return {n: e for n, e in workloads.items() if isinstance(e, dict)} if isinstance(workloads, dict) else {}


def _numbers(value: object) -> list[float]:
    if not isinstance(value, list):
        return []
    return [float(x) for x in value if isinstance(x, (int, float)) and not isinstance(x, bool)]


def _median(entry: dict[str, Any]) -> float | None:
    samples = _numbers(entry.get("samples_wh"))
    if samples:
        return statistics.median(samples)
    summary = entry.get("summary")
    value = summary.get("median_wh") if isinstance(summary, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _spread(entry: dict[str, Any]) -> float:
    """(max - min) / median of the recorded samples: what a comparison's interval width follows."""
    samples = _numbers(entry.get("samples_wh"))
    median = statistics.median(samples) if samples else 0.0
    return (max(samples) - min(samples)) / median if median > 0 else 0.0


def _count(entry: dict[str, Any]) -> str:
    n = len(_numbers(entry.get("samples_wh")))
    return f"{n} sample{'s' if n != 1 else ''}"


def effective_config(base: Config, head: Config) -> Config:
    """The config to gate with: the PR's workloads and commands, but for every workload the base knows the
    base's limits and how it runs (cwd, env, timeout, warm-ups, extrapolation), and the base's gate, grid,
    machine, environment and baseline settings (mode, file, setup, seed): nothing the PR loosened applies."""
    base_w = {w.name: w for w in base.workloads}

    def guarded(w: Workload) -> Workload:
        b = base_w.get(w.name)
        if b is None:
            return w
        return replace(
            w,
            budget=b.budget,
            tolerance=b.tolerance,
            unit_name=b.unit_name,
            unit_count=b.unit_count,
            repeats=max(w.repeats, b.repeats),
            extrapolate_to=b.extrapolate_to,
            cwd=b.cwd,
            env=b.env,
            timeout_s=b.timeout_s,
            warmup=b.warmup,
            max_rounds=max(w.max_rounds, b.max_rounds),
            max_time_s=max(w.max_time_s, b.max_time_s),
            estimate=b.estimate,
        )

    # What to compare with, and the setup that prepares both trees, are the base's: the PR's setup never
    # runs in the base tree without the label.
    baseline = replace(
        head.baseline,
        mode=base.baseline.mode,
        file=base.baseline.file,
        setup=base.baseline.setup,
        seed=base.baseline.seed,
    )
    return replace(
        head,
        workloads=tuple(guarded(w) for w in head.workloads),
        gate=base.gate,
        grid=base.grid,
        baseline=baseline,
        machine=base.machine,
        environment=base.environment,
    )
