"""CSV (one row per sample, CodeCarbon-like columns) and the Hugging Face model-card
`co2_eq_emissions` block. Pure: results document in, text out."""

from __future__ import annotations

import csv
import io
import platform
from typing import Any

from .. import __version__

# Column names follow CodeCarbon's emissions.csv where the meaning is the same, so dashboards that
# read CodeCarbon output read ours; carbon-gate's own columns follow.
CSV_COLUMNS = (
    "timestamp",
    "project_name",
    "run_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "country_name",
    "country_iso_code",
    "os",
    "python_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "ram_total_size",
    "tracking_mode",
    "pue",
    "workload",
    "side",
    "round",
    "warmup",
    "exit_code",
    "error",
    "cpu_seconds",
    "cpu_method",
    "ram_method",
    "gpu_method",
    "grid_intensity_g_per_kwh",
    "tool",
    "tool_version",
    "water_consumed",
    "wue",
)


def _kwh(sample: dict[str, Any], component: str) -> float:
    return float(sum(e["wh"] for e in sample["energy"] if e["component"] == component)) / 1000.0


def _method(sample: dict[str, Any], component: str) -> str:
    return ",".join(sorted({e["method"] for e in sample["energy"] if e["component"] == component})) or "none"


def _country(grid: dict[str, Any]) -> tuple[str, str]:
    """CodeCarbon's `country_name` and `country_iso_code` (ISO 3166-1 alpha-3), as `grid.resolve` recorded
    them (`grid.country_name`, `grid.country_iso3`). A configured intensity labelled with something that
    is not a known country gives the label as written and no code; the world average and a bare
    intensity give neither. Results written before the country was recorded have no name for a dataset
    country (both columns empty) and a configured label as written."""
    name, iso3 = grid.get("country_name"), grid.get("country_iso3")
    if isinstance(name, str) and name:
        return name, iso3 if isinstance(iso3, str) else ""
    location = grid.get("location")
    if grid.get("method") == "configured" and isinstance(location, str) and location not in ("", "configured"):
        return location, ""
    return "", ""


def to_csv(results: dict[str, Any]) -> str:
    """One row per sample (head and base, warm-ups flagged); energies in kWh and emissions in kg as CodeCarbon;
    a `metric_<name>` column for each quality metric a run reported.

    As in CodeCarbon, every energy column includes the PUE (`pue` column), so `emissions` is
    `energy_consumed × intensity` on every row; powers are the IT power. Water (`water_consumed`, L) is
    `energy_consumed × wue`, empty when no WUE is set."""
    grid = results["grid"]
    fp = results["machine"].get("fingerprint") or {}
    country_name, iso = _country(grid)
    # Quality metrics (report_metric) as one `metric_<name>` column each, after the fixed columns.
    metric_names = sorted(
        {
            k
            for w in results["workloads"]
            for side in ("samples", "base_samples")
            for s in w.get(side, [])
            for k in (s.get("metrics") or {})
        }
    )
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=CSV_COLUMNS + tuple(f"metric_{m}" for m in metric_names), lineterminator="\n"
    )
    writer.writeheader()
    for w in results["workloads"]:
        for side, samples in (("head", w.get("samples", [])), ("base", w.get("base_samples", []))):
            counted = 0
            for s in samples:
                if not s.get("warmup"):
                    counted += 1
                duration = s["wall_s"]
                pue = grid.get("pue", 1.0)
                energy_kwh = s["energy_wh"] / 1000.0 * pue  # facility energy, CodeCarbon's energy_consumed
                kg = energy_kwh * grid["g_per_kwh"] / 1000.0
                wue = grid.get("wue")
                writer.writerow(
                    {
                        "timestamp": s.get("started_at", ""),
                        "project_name": w["name"],
                        "run_id": s.get("run_id")
                        or (results.get("git") or {}).get("head")
                        or results.get("created_at", ""),
                        "duration": f"{duration:.6f}",
                        "emissions": f"{kg:.12g}",
                        "emissions_rate": f"{kg / duration:.12g}" if duration > 0 else "",
                        "cpu_power": f"{_kwh(s, 'cpu') * 3.6e6 / duration:.6g}" if duration > 0 else "",
                        "gpu_power": f"{_kwh(s, 'gpu') * 3.6e6 / duration:.6g}" if duration > 0 else "",
                        "ram_power": f"{_kwh(s, 'memory') * 3.6e6 / duration:.6g}" if duration > 0 else "",
                        "cpu_energy": f"{_kwh(s, 'cpu') * pue:.12g}",
                        "gpu_energy": f"{_kwh(s, 'gpu') * pue:.12g}",
                        "ram_energy": f"{_kwh(s, 'memory') * pue:.12g}",
                        "energy_consumed": f"{energy_kwh:.12g}",
                        "country_name": country_name,
                        "country_iso_code": iso,
                        "os": fp.get("os", ""),
                        "python_version": platform.python_version(),
                        "cpu_count": fp.get("logical_cpus", ""),
                        "cpu_model": fp.get("cpu_model", ""),
                        "gpu_count": len(fp.get("gpus", [])),
                        "gpu_model": ", ".join(fp.get("gpus", [])),
                        "ram_total_size": fp.get("ram_gb", ""),
                        "tracking_mode": s.get("tracking_mode") or "process",
                        "pue": pue,
                        "workload": w["name"],
                        "side": side,
                        "round": "" if s.get("warmup") else counted,
                        "warmup": bool(s.get("warmup")),
                        "exit_code": s.get("exit_code"),
                        "error": s.get("error") or "",
                        "cpu_seconds": f"{s['cpu_s']:.6f}",
                        "cpu_method": _method(s, "cpu"),
                        "ram_method": _method(s, "memory"),
                        "gpu_method": _method(s, "gpu"),
                        "grid_intensity_g_per_kwh": grid["g_per_kwh"],
                        "tool": "carbon-gate",
                        "tool_version": __version__,
                        "water_consumed": f"{energy_kwh * wue:.12g}" if wue is not None else "",
                        "wue": wue if wue is not None else "",
                        **{f"metric_{k}": f"{v!r}" for k, v in (s.get("metrics") or {}).items() if k in metric_names},
                    }
                )
    return out.getvalue()


def model_card(results: dict[str, Any], workload: str | None = None, training_type: str = "fine-tuning") -> str:
    """A Hugging Face model-card `co2_eq_emissions` YAML block for one workload (the only one, or `workload`)."""
    import yaml

    from ..errors import UsageError

    candidates = [w for w in results["workloads"] if w.get("co2e_g") is not None]
    if workload is not None:
        candidates = [w for w in candidates if w["name"] == workload]
    if not candidates:
        raise UsageError(
            f"no measured workload {workload!r} in the results" if workload else "no measured workload in the results"
        )
    if len(candidates) > 1:
        names = ", ".join(w["name"] for w in candidates)
        raise UsageError(f"several workloads ({names}): choose one with --workload")
    w = candidates[0]
    fp = results["machine"].get("fingerprint") or {}
    methods = sorted({f"{e['component']} {e['method']}" for s in w.get("samples", []) for e in s.get("energy", [])})
    hardware = f"{fp.get('logical_cpus', '?')} x {fp.get('cpu_model', 'CPU')}"
    if fp.get("gpus"):
        hardware += "; " + ", ".join(fp["gpus"])
    block: dict[str, Any] = {
        "co2_eq_emissions": {
            "emissions": round(w["co2e_g"], 6),
            "source": f"carbon-gate {__version__} ({'; '.join(methods)}; grid {results['grid']['source']})",
            "training_type": training_type,
            "geographical_location": results["grid"]["location"],
            "hardware_used": hardware,
        }
    }
    return yaml.safe_dump(block, sort_keys=False, allow_unicode=True)
