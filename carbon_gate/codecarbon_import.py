"""Import CodeCarbon's `emissions.csv`: each row becomes a sample, so teams that already track inside
their training code get the gate, baseline and report without changing it (docs/methodology.md, "CodeCarbon import").

Handles the real column sets of CodeCarbon releases: rows with per-component energies
(`cpu_energy`, `gpu_energy`, `ram_energy`, kWh) and older files with only `energy_consumed`.
CodeCarbon multiplies every energy it records by its `pue` column, so the samples keep the IT energy
(energy / pue) and the file's PUE, country (`country_iso_code`) and water factor (`wue`) describe the
grid the import accounts with (`FileGrid`), so CO2e and water come out as the file's own. Read with the
standard library's csv module: no pandas on this path.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .domain import MODELLED, Energy, Fingerprint, Sample
from .errors import UsageError

if TYPE_CHECKING:
    from .grid import GridFactor

COMPONENTS = (("cpu_energy", "cpu"), ("gpu_energy", "gpu"), ("ram_energy", "memory"))
REQUIRED_ANY = ("energy_consumed", "cpu_energy")


@dataclass(frozen=True)
class FileGrid:
    """What the file says about where and how its energy was accounted (first row kept)."""

    country_iso3: str | None
    country_name: str | None
    region: str | None
    pue: float  # 1.0 when the file has no pue column
    wue: float | None  # litres per kWh; None when the file has none (CodeCarbon < 3) or it is 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodeCarbonImport:
    """What one read of a CodeCarbon file gives: the samples per project, the results document's
    `machine` for the rows kept, and the file's own grid facts."""

    groups: dict[str, list[Sample]]
    machine: dict[str, Any]
    grid: FileGrid


def read_codecarbon(path: str | Path, project: str | None = None) -> dict[str, list[Sample]]:
    """Samples per `project_name` (or one group named after the file) from a CodeCarbon CSV."""
    return load_codecarbon(path, project).groups


def _text(row: dict[str, Any], col: str) -> str | None:
    v = row.get(col)
    return v.strip() if isinstance(v, str) and v.strip() and v.strip().lower() != "nan" else None


def _number(row: dict[str, Any], col: str) -> float | None:
    """A finite, non-negative number, else None (blank, NaN, text and negatives are unknown)."""
    try:
        v = float(_text(row, col) or "nan")
    except ValueError:
        return None
    return v if math.isfinite(v) and v >= 0 else None


def load_codecarbon(path: str | Path, project: str | None = None) -> CodeCarbonImport:
    """Read a CodeCarbon CSV once: the samples per `project_name` (only `project`'s when given), the
    machine those rows were recorded on, and the file's country, PUE and WUE."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    except FileNotFoundError:
        raise UsageError(f"{p}: CodeCarbon file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{p}: not a readable CSV ({exc})") from None
    if not any(c in columns for c in REQUIRED_ANY):
        raise UsageError(
            f"{p}: no energy columns; expected CodeCarbon's energy_consumed or cpu_energy "
            f"(found: {', '.join(columns[:12])})"
        )
    if project is not None and "project_name" in columns:
        rows = [r for r in rows if (r.get("project_name") or "") == project]
    version = next((v for r in rows if (v := _text(r, "codecarbon_version"))), "unknown version")
    source = f"CodeCarbon {version} emissions.csv"
    reason = "imported from CodeCarbon, whose own method (RAPL, NVML or its TDP model) the file does not record"
    groups: dict[str, list[Sample]] = {}
    kept: list[dict[str, Any]] = []
    for row in rows:
        pue = _number(row, "pue") or 1.0  # CodeCarbon's energies include it: keep the IT energy
        energy = []
        present = [(col, comp) for col, comp in COMPONENTS if _number(row, col) is not None]
        if present:
            for col, comp in present:
                kwh = _number(row, col) or 0.0
                if comp != "gpu" or kwh > 0:
                    energy.append(Energy(comp, kwh * 1000.0 / pue, MODELLED, reason, source))
        elif (total := _number(row, "energy_consumed")) is not None:
            energy.append(
                Energy(
                    "total", total * 1000.0 / pue, MODELLED, reason + "; this file has only the total energy", source
                )
            )
        else:
            continue
        kept.append(row)
        notes = []
        if (kg := _number(row, "emissions")) is not None:
            notes.append(f"CodeCarbon reported {kg * 1000:.6g} g CO2e")
        if (water := _number(row, "water_consumed")) is not None and water > 0:
            notes.append(f"CodeCarbon reported {water:.6g} L of water")
        groups.setdefault(_text(row, "project_name") or p.stem, []).append(
            Sample(
                wall_s=_number(row, "duration") or 0.0,
                cpu_s=0.0,
                exit_code=0,
                energy=energy,
                started_at=_text(row, "timestamp") or "",
                notes=notes,
                run_id=_text(row, "run_id") or _text(row, "experiment_id"),
                tracking_mode=_text(row, "tracking_mode"),
            )
        )
    if not groups:
        raise UsageError(f"{p}: no rows with energy" + (f" for project {project!r}" if project else ""))
    return CodeCarbonImport(groups, _machine(kept[0], p, "gpu_energy" in columns), _file_grid(kept))


def _file_grid(kept: list[dict[str, Any]]) -> FileGrid:
    """The first kept row's country, region, PUE and WUE; rows that differ are named in a note."""
    first = kept[0]
    grid = FileGrid(
        country_iso3=_text(first, "country_iso_code"),
        country_name=_text(first, "country_name"),
        region=_text(first, "region"),
        pue=_number(first, "pue") or 1.0,
        wue=_number(first, "wue") or None,
    )
    notes = []
    for col, value in (("country_iso_code", grid.country_iso3), ("pue", first.get("pue")), ("wue", first.get("wue"))):
        if any(r.get(col) != (value if col != "country_iso_code" else first.get(col)) for r in kept[1:]):
            notes.append(f"rows differ in {col}: the first row's is used for all")
    return FileGrid(**{**grid.__dict__, "notes": tuple(notes)})


def _machine(row: dict[str, Any], path: Path, has_gpu_column: bool) -> dict[str, Any]:
    """The results document's `machine` for imported rows: the hardware CodeCarbon recorded in `row` (the
    first row kept), so fingerprints compare like with like, and every method marked modelled, as the
    samples' energies are: the file does not say what CodeCarbon measured."""
    gpus = [g] if (g := _text(row, "gpu_model")) else []
    os_text = _text(row, "os") or "unknown"
    reason = f"imported from {path.name}: CodeCarbon's own method (RAPL, NVML or its TDP model) is not recorded"
    if mode := _text(row, "tracking_mode"):
        reason += f"; CodeCarbon tracking_mode {mode}"
    fingerprint = Fingerprint(
        cpu_model=_text(row, "cpu_model") or "unknown (CodeCarbon import)",
        logical_cpus=int(_number(row, "cpu_count") or 0),
        ram_gb=round(_number(row, "ram_total_size") or 0.0, 1),
        gpus=tuple(gpus),
        os=os_text,
        arch="x86_64" if "x86_64" in os_text else "unknown",
        image_os=None,
        image_version=None,
        profile=None,
        cpu_method=MODELLED,
        methods={"cpu": MODELLED, "memory": MODELLED, "gpu": MODELLED if has_gpu_column and gpus else "none"},
    )
    return {
        "fingerprint": fingerprint.to_dict(),
        "cpu": {
            "method": MODELLED,
            "reason": reason,
            "fallback": None,
            "curve_w": [],
            "source": "CodeCarbon",
            "error_band_pct": None,
            "error_source": None,
        },
        "gpu": f"imported from CodeCarbon: {', '.join(gpus)}" if gpus else "no GPU recorded by CodeCarbon",
        "embodied": None,
    }


def grid_for_import(
    file_grid: FileGrid,
    path: str | Path,
    intensity: float | None = None,
    country: str | None = None,
    pue: float | None = None,
    wue: float | None = None,
) -> tuple[GridFactor, list[str]]:
    """The grid an import accounts with, and the lines that say where each part came from: the user's
    intensity or country, else the file's `country_iso_code` (the world average when carbon-gate has
    no figure for it), with the file's PUE and WUE unless given."""
    import dataclasses

    from .grid import UnknownCountry, resolve

    name = Path(path).name
    said = []
    chosen_pue = pue if pue is not None else file_grid.pue
    chosen_wue = wue if wue is not None else file_grid.wue
    if intensity is not None or country:
        grid = resolve(intensity, country, chosen_pue, wue=chosen_wue)
        said.append(f"grid: {grid.location} as given (the file says {file_grid.country_iso3 or 'no country'})")
    elif file_grid.country_iso3:
        try:
            grid = resolve(None, file_grid.country_iso3, chosen_pue, wue=chosen_wue)
            grid = dataclasses.replace(grid, source=f"{grid.source}; country from {name}'s country_iso_code")
            said.append(
                f"grid: {grid.location}, {grid.g_per_kwh:g} g/kWh, from the file's country_iso_code "
                f"{file_grid.country_iso3}"
            )
        except UnknownCountry:
            grid = resolve(None, None, chosen_pue, wue=chosen_wue)
            said.append(
                f"grid: the file's country {file_grid.country_iso3!r} is not in carbon-gate's data: world average"
            )
        if file_grid.region:
            said.append(f"grid: the file's region {file_grid.region!r} is not used: carbon-gate's data is per country")
    else:
        grid = resolve(None, None, chosen_pue, wue=chosen_wue)
        said.append("grid: the file records no country: world average")
    if pue is not None and pue != file_grid.pue:
        said.append(f"PUE {pue:g} replaces the file's {file_grid.pue:g} (energies are the file's ÷ {file_grid.pue:g})")
    else:
        said.append(f"PUE {chosen_pue:g} from the file (its energies include it; samples keep energy ÷ PUE)")
    if chosen_wue is not None:
        said.append(f"water: WUE {chosen_wue:g} L/kWh" + (" as given" if wue is not None else " from the file"))
    said.extend(f"note: {n}" for n in file_grid.notes)
    return grid, said
