"""Compare a workload's head samples with its baseline (docs/statistics.md). Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..domain import Baseline, Change, fingerprint_differences
from .stats import classify, paired_change, sequential_change, unpaired_change


@dataclass(frozen=True)
class Comparison:
    verdict: str  # regression | improvement | unchanged | inconclusive | new
    reason: str
    change: Change | None = None
    fingerprint_diff: tuple[str, ...] = ()


def round_sums(per_run_wh: Sequence[float], batch: int) -> list[float]:
    """Energy per round: the sum of each side's `batch` consecutive runs (an incomplete last batch is dropped)."""
    return [sum(per_run_wh[i : i + batch]) for i in range(0, len(per_run_wh) - batch + 1, batch)]


def compare(
    head_wh: Sequence[float],
    baseline: Baseline | None,
    tolerance: float,
    confidence: float,
    head_fingerprint: dict[str, Any] | None = None,
) -> Comparison:
    """Verdict of the head energies against the baseline; `new` when there is nothing to compare with."""
    if baseline is None:
        return Comparison("new", "no baseline for this workload")
    if baseline.error:
        return Comparison(
            "new", f"base side could not be measured, so no comparison (not blamed on this change): {baseline.error}"
        )
    if not baseline.samples_wh or not head_wh:
        return Comparison("new", "no baseline samples for this workload")
    if baseline.mode == "paired":
        h, b = round_sums(head_wh, baseline.batch), round_sums(baseline.samples_wh, baseline.batch)
        n = min(len(h), len(b))
        if n == 0:
            return Comparison("new", "no complete paired round to compare")
        if baseline.looks is not None:
            change = sequential_change(h[:n], b[:n], baseline.looks, baseline.interval)
        else:
            change = paired_change(h[:n], b[:n], confidence)
    else:
        change = unpaired_change(head_wh, baseline.samples_wh, confidence)
    verdict, reason = classify(change, tolerance)
    if baseline.mode == "stored" and baseline.fingerprint is not None and head_fingerprint is not None:
        diff = tuple(fingerprint_differences(head_fingerprint, baseline.fingerprint))
        if diff:
            details = ", ".join(f"{f}: {baseline.fingerprint.get(f)!r} → {head_fingerprint.get(f)!r}" for f in diff)
            return Comparison(
                "inconclusive",
                f"baseline was measured on different hardware or methods ({details}); "
                f"not comparable, so not gated (measured change: {reason})",
                change,
                diff,
            )
    return Comparison(verdict, reason, change)
