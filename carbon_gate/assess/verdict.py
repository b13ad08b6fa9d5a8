"""Verdicts per workload and for the suite (docs/statistics.md, "Verdicts").

Pure functions: samples in, verdicts out."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from ..account import Footprint, footprint
from ..config import GateSettings, Workload
from ..domain import Baseline, Change, Embodied, Sample
from ..errors import EXIT_GATE_FAILED, EXIT_PASS, EXIT_WORKLOAD
from ..grid import GridFactor
from ..results import WorkloadResult
from .budget import check_budget
from .compare import compare
from .stats import holm, min_head_runs, min_repeats, smallest_p, survives_holm
from .summary import summarise

# Most severe first: a workload shows the first of these that applies.
SEVERITY = ("error", "over-budget", "regression", "inconclusive", "new", "improvement", "unchanged")
SuiteOutcome = Literal["pass", "warn", "fail", "error"]
PASS: Final = "pass"
WARN: Final = "warn"
FAIL: Final = "fail"
ERROR: Final = "error"


def assess_workload(
    workload: Workload,
    samples: list[Sample],
    grid: GridFactor,
    embodied: Embodied | None,
    baseline: Baseline | None = None,
    *,
    confidence: float = 0.95,
    fingerprint: dict[str, Any] | None = None,
    base_samples: list[Sample] | None = None,
) -> WorkloadResult:
    """Summarise counted runs, account the median run, check budgets, compare with the baseline."""
    result = WorkloadResult(
        name=workload.name,
        command=workload.command_text(),
        verdict="new",
        reasons=[],
        samples=samples,
        line=workload.line,
        tolerance=workload.tolerance,
        base_samples=list(base_samples or []),
        energy_per_point=workload.energy_per_point,
    )
    if baseline is not None:
        result.baseline = baseline.info()
    failed = [s for s in samples if not s.ok]
    counted = [s for s in samples if not s.warmup and s.ok]
    missing_units = workload.unit_count is None and any(s.units is None for s in counted)
    # A run that reports 0 units (an empty data loader) did no work to divide by: SCI is undefined.
    no_work = [s for s in counted if s.units is not None and s.units <= 0]
    if counted:
        summary = summarise([s.energy_wh for s in counted], [s.wall_s for s in counted], [s.cpu_s for s in counted])
        assert summary is not None  # counted is not empty
        result.summary = summary
        if no_work:  # still show what was measured, per run
            result.footprint = footprint(summary.median_wh, summary.median_wall_s, grid, embodied)
        else:
            units = _units(workload, counted)
            result.footprint = footprint(
                summary.median_wh, summary.median_wall_s, grid, embodied, units, workload.unit_name
            )
            projected = None
            if workload.extrapolate_to is not None and not missing_units:
                result.projection, projected = _project(workload, counted, grid, embodied)
            result.budget = check_budget(workload.budget, result.footprint, projected)
    if failed:
        first = failed[0]
        result.verdict = "error"
        result.reasons.append(f"run {samples.index(first) + 1} failed: {first.error}")
        return result
    if no_work:
        result.verdict = "error"
        result.reasons.append(
            f"run {samples.index(no_work[0]) + 1} reported {no_work[0].units:g} units of "
            f"{workload.unit_name!r}: SCI per unit is undefined, so budgets were not checked; "
            "report the units the run processed (or leave `unit` out to count runs)"
        )
        return result
    if missing_units:
        result.verdict = "error"
        result.reasons.append(
            f"declares the unit {workload.unit_name!r} without a count but reported no units: call "
            "carbon_gate.report_units() or write a number to $CARBON_GATE_UNITS_FILE"
        )
        return result
    comparison = compare([s.energy_wh for s in counted], baseline, workload.tolerance, confidence, fingerprint)
    if comparison.change is not None:
        result.change = comparison.change
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
    compared = [(w, w.change) for w in results if w.change is not None and math.isfinite(w.change.p_value)]
    if len(compared) < 2:
        return
    k = len(compared)
    rejected = holm([change.p_value for _, change in compared], 1.0 - confidence)
    for (w, change), ok in zip(compared, rejected):
        if w.verdict == "regression" and not ok:
            w.verdict = "inconclusive"
            w.reasons.insert(
                0,
                f"not significant after Holm correction across {k} workloads "
                f"(p = {change.p_value:.3g}){_too_few(change, confidence, k)}",
            )


def _too_few(change: Change, confidence: float, k: int) -> str:
    """Why no regression could have survived Holm at this sample size, or ''."""
    m, n, paired = change.n_head, change.n_base, change.paired
    if survives_holm(m, n, paired, k, confidence):
        return ""
    best = smallest_p(m, n, paired)
    runs = f"{m} paired rounds" if paired else f"{m} + {n} runs"
    if paired:
        need = f"at least {min_repeats(confidence, True, k)} paired rounds"
    else:
        head = min_head_runs(n, confidence, k)
        need = f"at least {head} head runs against these {n} base runs" if head else "more base runs"
    return f"; {runs} can give at best p = {best:.3g}, too large for {k} workloads: needs {need}"


def _units(workload: Workload, counted: Sequence[Sample]) -> float:
    """Reported units override the configured count (median over the counted runs)."""
    reported = [s.units for s in counted if s.units is not None]
    if reported:
        return statistics.median(reported)
    return workload.unit_count if workload.unit_count is not None else 1.0


def _project(
    workload: Workload, counted: Sequence[Sample], grid: GridFactor, embodied: Embodied | None
) -> tuple[dict[str, Any], Footprint]:
    """Measured energy per unit (median over runs) × planned units; the runs' min/max per-unit energy
    give the range carried into the projection."""
    static = workload.unit_count if workload.unit_count is not None else 1.0
    per_unit = [s.energy_wh / (s.units if s.units else static) for s in counted]
    wall_per_unit = [s.wall_s / (s.units if s.units else static) for s in counted]
    to = workload.extrapolate_to or 0.0
    energy = statistics.median(per_unit) * to
    wall = statistics.median(wall_per_unit) * to
    fp = footprint(energy, wall, grid, embodied, to, workload.unit_name)
    low, high = min(per_unit) * to, max(per_unit) * to
    info = {
        "to": to,
        "unit": workload.unit_name,
        "energy_wh": round(energy, 9),
        "low_wh": round(low, 9),
        "high_wh": round(high, 9),
        "co2e_g": round(fp.co2e_g, 9),
        "wall_s": round(wall, 3),
        "per_unit_wh": round(statistics.median(per_unit), 12),
        "n": len(per_unit),
        "method": "median measured energy per unit × planned units; range from the runs' min and max per unit",
    }
    return info, fp


@dataclass(frozen=True)
class SuiteVerdict:
    verdict: SuiteOutcome
    exit_code: int
    failing: tuple[str, ...]


def suite_verdict(workloads: Sequence[WorkloadResult], gate: GateSettings) -> SuiteVerdict:
    """pass / warn (inconclusive, not configured to fail) / fail (a `fail_on` verdict) /
    error (a workload could not run)."""
    failing = tuple(w.name for w in workloads if w.verdict in gate.fail_on and w.verdict != "error")
    errors = [w for w in workloads if w.verdict == "error"]
    if errors:
        return SuiteVerdict(ERROR, EXIT_WORKLOAD, failing + tuple(w.name for w in errors))
    if failing:
        return SuiteVerdict(FAIL, EXIT_GATE_FAILED, failing)
    if any(w.verdict in ("inconclusive",) for w in workloads):
        return SuiteVerdict(WARN, EXIT_PASS, ())
    return SuiteVerdict(PASS, EXIT_PASS, ())


def assess_estimate(workload: Workload, grid: GridFactor) -> WorkloadResult:
    """A forecast workload: nothing runs; the forecast is checked against `energy`/`co2e` and
    `projected` budgets alike (it *is* the full run)."""
    from ..estimate import EstimateInput, estimate

    e = workload.estimate or {}
    result = WorkloadResult(
        name=workload.name,
        command=workload.command_text(),
        verdict="new",
        reasons=[],
        samples=[],
        line=workload.line,
        tolerance=workload.tolerance,
    )
    try:
        est = estimate(
            EstimateInput.from_spec(
                e,
                pue=grid.pue,
                intensity_g_per_kwh=grid.g_per_kwh,
                intensity_source=f"{grid.location}, {grid.source}",
            )
        )
    except (ValueError, KeyError) as exc:
        result.verdict = "error"
        result.reasons.append(f"cannot forecast: {exc}")
        return result
    energy_wh = est.energy_kwh * 1000.0 / grid.pue  # IT energy; footprint() applies PUE again
    fp = Footprint(
        energy_wh,
        est.energy_kwh * 1000.0,
        est.co2e_kg * 1000.0,
        est.embodied_kg * 1000.0,
        est.total_kg * 1000.0,
        1.0,
        "run",
        est.total_kg * 1000.0,
    )
    result.footprint = fp
    result.estimate = est.to_dict()
    result.projection = {
        "to": 1,
        "unit": "full run",
        "energy_wh": round(energy_wh, 6),
        "co2e_g": round(fp.co2e_g, 6),
        "wall_s": round(est.hours * 3600, 1),
        "method": "forecast (carbon-gate estimate)",
    }
    result.budget = check_budget(workload.budget, fp, fp)
    over = [c for c in result.budget if c.exceeded]
    result.verdict = "over-budget" if over else "new"
    result.reasons.extend(c.describe() for c in over)
    result.reasons.append(f"forecast, not measured: {est.days:,.1f} days on {int(e['count'])} × {e['accelerator']}")
    result.reasons.extend(c.describe() for c in result.budget if not c.exceeded)
    return result
