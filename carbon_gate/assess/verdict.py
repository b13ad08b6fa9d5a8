"""Verdicts per workload and for the suite (DESIGN §7). Pure functions: samples in, verdicts out."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ..account import footprint
from ..config import GateSettings, Workload
from ..domain import Sample
from ..grid import GridFactor
from ..meters.cpu_model import Embodied
from ..results import WorkloadResult
from .budget import check_budget
from .compare import Baseline, compare
from .stats import holm
from .summary import summarise

# Most severe first: a workload shows the first of these that applies.
SEVERITY = ("error", "over-budget", "regression", "inconclusive", "new", "improvement", "unchanged")
PASS, WARN, FAIL, ERROR = "pass", "warn", "fail", "error"


def assess_workload(workload: Workload, samples: list[Sample], grid: GridFactor, embodied: Embodied | None,
                    baseline: Baseline | None = None, *, confidence: float = 0.95, fingerprint: dict | None = None,
                    base_samples: list[Sample] | None = None) -> WorkloadResult:
    """Summarise counted runs, account the median run, check budgets, compare with the baseline."""
    result = WorkloadResult(workload.name, workload.command_text(), "new", [], samples, line=workload.line,
                            tolerance=workload.tolerance, base_samples=list(base_samples or []))
    if baseline is not None:
        result.baseline = baseline.info()
    failed = [s for s in samples if not s.ok]
    counted = [s for s in samples if not s.warmup and s.ok]
    if counted:
        result.summary = summarise([s.energy_wh for s in counted], [s.wall_s for s in counted], [s.cpu_s for s in counted])
        units = _units(workload, counted)
        result.footprint = footprint(result.summary.median_wh, result.summary.median_wall_s, grid, embodied,
                                     units, workload.unit_name)
        result.budget = check_budget(workload.budget, result.footprint)
    if failed:
        first = failed[0]
        result.verdict = "error"
        result.reasons.append(f"run {samples.index(first) + 1} failed: {first.error}")
        return result
    comparison = compare([s.energy_wh for s in counted], baseline, workload.tolerance, confidence, fingerprint)
    if comparison.change is not None:
        result.change = comparison.change.to_dict()
    if comparison.fingerprint_diff and result.baseline is not None:
        result.baseline["fingerprint_diff"] = list(comparison.fingerprint_diff)
    over = [c for c in result.budget if c.exceeded]
    result.verdict = "over-budget" if over else comparison.verdict
    result.reasons.extend(c.describe() for c in over)
    result.reasons.append(comparison.reason)
    result.reasons.extend(c.describe() for c in result.budget if not c.exceeded)
    return result


def family_control(results: Sequence[WorkloadResult], confidence: float) -> None:
    """Holm across all compared workloads: a regression whose p-value does not survive the family-wise
    correction becomes `inconclusive` (many workloads would otherwise multiply false alarms)."""
    compared = [w for w in results if w.change is not None and w.change.get("p_value") is not None]
    if len(compared) < 2:
        return
    rejected = holm([w.change["p_value"] for w in compared], 1.0 - confidence)
    for w, ok in zip(compared, rejected):
        if w.verdict == "regression" and not ok:
            w.verdict = "inconclusive"
            w.reasons.insert(0, f"not significant after Holm correction across {len(compared)} workloads "
                                f"(p = {w.change['p_value']:.3g})")


def _units(workload: Workload, counted: Sequence[Sample]) -> float:
    reported = [s.units for s in counted if s.units is not None]
    return statistics.median(reported) if reported else workload.unit_count


@dataclass(frozen=True)
class SuiteVerdict:
    verdict: str  # pass | warn | fail | error
    exit_code: int
    failing: tuple[str, ...]


def suite_verdict(workloads: Sequence[WorkloadResult], gate: GateSettings) -> SuiteVerdict:
    """pass / warn (inconclusive, not configured to fail) / fail (a `fail_on` verdict) / error (a workload could not run)."""
    failing = tuple(w.name for w in workloads if w.verdict in gate.fail_on and w.verdict != "error")
    errors = [w for w in workloads if w.verdict == "error"]
    if errors:
        return SuiteVerdict(ERROR, 3, failing + tuple(w.name for w in errors))
    if failing:
        return SuiteVerdict(FAIL, 1, failing)
    if any(w.verdict in ("inconclusive",) for w in workloads):
        return SuiteVerdict(WARN, 0, ())
    return SuiteVerdict(PASS, 0, ())
