"""`carbon-gate import codecarbon`: a CodeCarbon emissions.csv becomes a carbon-gate results document,
one workload per project_name, ready for `report`, `compare` and `baseline update --from`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .assess.verdict import assess_workload, suite_verdict
from .codecarbon_import import grid_for_import, load_codecarbon
from .config import DEFAULT_TOLERANCE, Budget, GateSettings, Workload
from .errors import UsageError
from .grid import UnknownCountry
from .results import Results
from .units import parse_intensity


@dataclass(frozen=True)
class Imported:
    """The results document, what was said about the grid, and how much was imported."""

    doc: dict[str, Any]
    said: list[str]
    rows: int
    workloads: int


def import_codecarbon(
    csv_path: str,
    project: str | None,
    grid_intensity: str | None,
    grid_country: str | None,
    pue: float | None,
    wue: float | None,
) -> Imported:
    """Assess each project's rows as a workload; CO2e and water use the file's own country, PUE and
    WUE unless overridden."""
    imported = load_codecarbon(csv_path, project)
    try:
        grid, said = grid_for_import(
            imported.grid, csv_path, parse_intensity(grid_intensity) if grid_intensity else None, grid_country, pue, wue
        )
    except (ValueError, UnknownCountry) as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    assessed = [
        assess_workload(_workload(name, len(samples), csv_path), samples, grid, None)
        for name, samples in imported.groups.items()
    ]
    suite = suite_verdict(assessed, GateSettings())
    doc = Results(machine=imported.machine, grid=grid, workloads=assessed, verdict=suite.verdict, config=None).to_dict()
    return Imported(doc, list(said), sum(len(s) for s in imported.groups.values()), len(imported.groups))


def _workload(name: str, rows: int, csv_path: str) -> Workload:
    """The workload an imported project stands for: its rows are its runs, gated by the defaults."""
    return Workload(
        name=name,
        command="",
        cwd=".",
        env={},
        repeats=rows,
        warmup=0,
        timeout_s=0.0,
        tolerance=DEFAULT_TOLERANCE,
        unit_name="run",
        unit_count=1.0,
        budget=Budget(),
        paths=(),
        line=None,
        codecarbon_csv=csv_path,
    )
