"""Per-workload statistics of repeated runs: median, min, max and spread of total energy."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from ..domain import Summary


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
