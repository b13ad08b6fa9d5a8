"""Per-workload statistics of repeated runs: median, min, max and spread of total energy."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    n: int
    median_wh: float
    min_wh: float
    max_wh: float
    spread: float  # (max - min) / median: the relative range
    cv: float  # standard deviation / mean
    median_wall_s: float
    median_cpu_s: float

    def to_dict(self) -> dict:
        return {k: (round(v, 9) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarise(energies: Sequence[float], walls: Sequence[float], cpus: Sequence[float]) -> Summary | None:
    """Summary of counted runs; None when there are none."""
    if not energies:
        return None
    med = statistics.median(energies)
    mean = statistics.fmean(energies)
    sd = statistics.stdev(energies) if len(energies) > 1 else 0.0
    return Summary(
        n=len(energies),
        median_wh=med,
        min_wh=min(energies),
        max_wh=max(energies),
        spread=(max(energies) - min(energies)) / med if med > 0 else 0.0,
        cv=sd / mean if mean > 0 else 0.0,
        median_wall_s=statistics.median(walls),
        median_cpu_s=statistics.median(cpus),
    )
