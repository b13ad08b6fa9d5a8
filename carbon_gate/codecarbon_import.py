"""Import CodeCarbon's `emissions.csv`: each row becomes a sample, so teams that already track inside
their training code get the gate, baseline and report without changing it (DESIGN §11).

Handles the real column sets of CodeCarbon releases: rows with per-component energies
(`cpu_energy`, `gpu_energy`, `ram_energy`, kWh) and older files with only `energy_consumed`. CO2e is
recomputed with carbon-gate's pinned grid factor; CodeCarbon's own `emissions` column is kept as a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .domain import MODELLED, Energy, Sample
from .errors import UsageError
from .meters.hardware import Fingerprint

COMPONENTS = (("cpu_energy", "cpu"), ("gpu_energy", "gpu"), ("ram_energy", "memory"))
REQUIRED_ANY = ("energy_consumed", "cpu_energy")


def _pandas():
    try:
        import pandas
    except ImportError:
        raise UsageError("reading CodeCarbon files needs pandas: pip install 'carbon-gate[codecarbon]'") from None
    return pandas


@dataclass(frozen=True)
class CodeCarbonImport:
    """What one read of a CodeCarbon file gives: the samples per project and the results document's
    `machine` for the rows kept."""

    groups: dict[str, list[Sample]]
    machine: dict


def read_codecarbon(path: str | Path, project: str | None = None) -> dict[str, list[Sample]]:
    """Samples per `project_name` (or one group named after the file) from a CodeCarbon CSV."""
    return load_codecarbon(path, project).groups


def load_codecarbon(path: str | Path, project: str | None = None) -> CodeCarbonImport:
    """Read a CodeCarbon CSV once: the samples per `project_name` (only `project`'s when given) and the
    machine those rows were recorded on."""
    pd = _pandas()
    p = Path(path)
    try:
        df = pd.read_csv(p)
    except FileNotFoundError:
        raise UsageError(f"{p}: CodeCarbon file not found") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise UsageError(f"{p}: not a readable CSV ({exc})") from None
    if not any(c in df.columns for c in REQUIRED_ANY):
        raise UsageError(f"{p}: no energy columns; expected CodeCarbon's energy_consumed or cpu_energy "
                         f"(found: {', '.join(map(str, df.columns[:12]))})")
    if project is not None and "project_name" in df.columns:
        df = df[df["project_name"].astype(str) == project]
    version = str(df["codecarbon_version"].dropna().iloc[0]) if "codecarbon_version" in df.columns and df["codecarbon_version"].notna().any() else "unknown version"
    source = f"CodeCarbon {version} emissions.csv"
    groups: dict[str, list[Sample]] = {}
    first_kept = None
    for _, row in df.iterrows():
        name = str(row["project_name"]) if "project_name" in df.columns and pd.notna(row.get("project_name")) else p.stem
        energy = []
        have_components = [c for c, _ in COMPONENTS if c in df.columns and pd.notna(row.get(c))]
        reason = "imported from CodeCarbon, whose own method (RAPL, NVML or its TDP model) the file does not record"
        if have_components:
            for col, comp in COMPONENTS:
                value = row.get(col)
                if col in df.columns and pd.notna(value) and (comp != "gpu" or float(value) > 0):
                    energy.append(Energy(comp, float(value) * 1000.0, MODELLED, reason, source))
        elif "energy_consumed" in df.columns and pd.notna(row.get("energy_consumed")):
            energy.append(Energy("total", float(row["energy_consumed"]) * 1000.0, MODELLED,
                                 reason + "; this file has only the total energy", source))
        else:
            continue
        if first_kept is None:
            first_kept = row
        duration = float(row["duration"]) if "duration" in df.columns and pd.notna(row.get("duration")) else 0.0
        notes = []
        if "emissions" in df.columns and pd.notna(row.get("emissions")):
            notes.append(f"CodeCarbon reported {float(row['emissions']) * 1000:.6g} g CO2e with its own grid factor; "
                         "carbon-gate recomputes CO2e with the pinned one")
        groups.setdefault(name, []).append(Sample(
            wall_s=duration, cpu_s=0.0, exit_code=0, energy=energy,
            started_at=str(row["timestamp"]) if "timestamp" in df.columns else "", notes=notes,
        ))
    if not groups:
        raise UsageError(f"{p}: no rows with energy" + (f" for project {project!r}" if project else ""))
    return CodeCarbonImport(groups, _machine(first_kept, p))


def _machine(row, path: Path) -> dict:
    """The results document's `machine` for imported rows: the hardware CodeCarbon recorded in `row` (the
    first row kept), so fingerprints compare like with like, and every method marked modelled, as the
    samples' energies are: the file does not say what CodeCarbon measured."""
    pd = _pandas()

    def text(col: str) -> str | None:
        v = row.get(col)
        return str(v).strip() if v is not None and pd.notna(v) and str(v).strip() else None

    def number(col: str) -> float | None:
        try:
            v = float(text(col) or "nan")
        except ValueError:
            return None
        return v if v == v and v >= 0 else None  # NaN and negatives: unknown

    gpus = [text("gpu_model")] if text("gpu_model") else []
    has_gpu = "gpu_energy" in row.index and bool(gpus)
    os_text = text("os") or "unknown"
    reason = f"imported from {path.name}: CodeCarbon's own method (RAPL, NVML or its TDP model) is not recorded"
    fingerprint = Fingerprint(
        cpu_model=text("cpu_model") or "unknown (CodeCarbon import)",
        logical_cpus=int(number("cpu_count") or 0), ram_gb=round(number("ram_total_size") or 0.0, 1),
        gpus=tuple(gpus), os=os_text, arch="x86_64" if "x86_64" in os_text else "unknown",
        image_os=None, image_version=None, profile=None, cpu_method=MODELLED,
        methods={"cpu": MODELLED, "memory": MODELLED, "gpu": MODELLED if has_gpu else "none"},
    )
    return {
        "fingerprint": fingerprint.to_dict(),
        "cpu": {"method": MODELLED, "reason": reason, "fallback": None, "curve_w": [], "source": "CodeCarbon"},
        "gpu": f"imported from CodeCarbon: {', '.join(gpus)}" if gpus else "no GPU recorded by CodeCarbon",
        "embodied": None,
    }
