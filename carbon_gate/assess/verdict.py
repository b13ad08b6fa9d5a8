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
from .summary import summarise

# Most severe first: a workload shows the first of these that applies.
SEVERITY = ("error", "over-budget", "regression", "inconclusive", "new", "improvement", "unchanged")
PASS, WARN, FAIL, ERROR = "pass", "warn", "fail", "error"


def assess_workload(workload: Workload, samples: list[Sample], grid: GridFactor, embodied: Embodied | None) -> WorkloadResult:
    """Summarise counted runs, account the median run, check budgets; baseline comparison comes later."""
    result = WorkloadResult(workload.name, workload.command_text(), "new", [], samples, line=workload.line,
                            tolerance=workload.tolerance)
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
    over = [c for c in result.budget if c.exceeded]
    if over:
        result.verdict = "over-budget"
        result.reasons.extend(c.describe() for c in over)
    else:
        result.reasons.extend(c.describe() for c in result.budget)
        result.reasons.append("no baseline to compare with")
    return result


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
