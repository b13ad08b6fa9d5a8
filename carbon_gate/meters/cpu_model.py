"""Which power curve models the CPU when there is no hardware counter (docs/methodology.md §2).

In order: a packaged or user-supplied runner profile; the CPU's TDP (× sockets) from the packaged table
on carbon-gate's SPECpower-fitted curve (`data/cpu-power-model.json`, derived and validated by
`scripts/fit_cpu_power.py`), scaled to the vCPUs held; a documented per-vCPU default, flagged `defaulted`.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from ..domain import Embodied
from ..errors import CarbonGateError
from .power import PowerCurve

# Cloud Carbon Footprint's average per-vCPU coefficients for AWS (min 0.74 W idle, max 3.5 W at
# full load): used only when the CPU is unknown, and always flagged `defaulted`.
DEFAULT_IDLE_W_PER_VCPU = 0.74
DEFAULT_MAX_W_PER_VCPU = 3.5
DEFAULT_SOURCE = "Cloud Carbon Footprint per-vCPU averages (AWS: 0.74 W idle, 3.5 W max)"


@dataclass(frozen=True)
class PowerModel:
    """The packaged TDP curve: watts as a fraction of TDP at each utilisation, and its validated error."""

    fractions: tuple[tuple[float, float], ...]
    error_band_pct: int
    source: str


@lru_cache(maxsize=1)
def power_model() -> PowerModel:
    """The curve `scripts/fit_cpu_power.py` chose and fitted (see docs/methodology.md §2)."""
    data = json.loads((resources.files("carbon_gate") / "data" / "cpu-power-model.json").read_text(encoding="utf-8"))
    return PowerModel(tuple((p / 100.0, f) for p, f in data["curve"]), int(data["error_band_pct"]), data["source"])


@dataclass(frozen=True)
class Profile:
    """A runner profile: a measured or published power curve for a machine type."""

    name: str
    description: str
    cpu_match: str
    vcpus: int | None
    curve: PowerCurve
    embodied: Embodied | None
    source: str
    error_band_pct: int | None = None  # a calibrated profile's measured spread, when it states one


@dataclass(frozen=True)
class CpuModel:
    """The curve the CPU meter will integrate, and why it was chosen."""

    curve: PowerCurve
    method: Literal["modelled", "defaulted"]
    reason: str
    source: str
    profile: str | None = None
    embodied: Embodied | None = None
    tdp_w: float | None = None  # of one socket
    error_band_pct: int | None = None  # typical error of this curve, from validation; None: not known
    error_source: str = ""


class ProfileError(CarbonGateError, ValueError):
    """A profile file could not be read (a usage error: exit 2, never a traceback)."""


def load_profile(path: Path) -> Profile:
    """Read a profile file (YAML): name, match {cpu, vcpus}, curve {percent: watts}, embodied, source."""
    import yaml

    from ..fsutil import read_small_file

    try:
        data = yaml.safe_load(read_small_file(path).decode("utf-8"))
        match = data.get("match") or {}
        points = tuple(sorted((float(u) / 100.0, float(w)) for u, w in data["curve"].items()))
        if len(points) < 2 or points[0][0] != 0.0 or points[-1][0] != 1.0:
            raise ProfileError(f"{path}: the curve needs points at 0 and 100 %")
        if not all(math.isfinite(w) and w >= 0 for _, w in points):
            raise ProfileError(f"{path}: the curve's watts must be finite and not negative")
        emb = data.get("embodied")
        embodied = (
            Embodied(
                total_g=float(emb["total_kg"]) * 1000.0,
                lifetime_s=float(emb["lifetime_years"]) * 365.25 * 86400,
                share=float(emb["share"]),
                source=str(data.get("source", "")),
            )
            if emb
            else None
        )
        return Profile(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            cpu_match=str(match.get("cpu", "")),
            vcpus=int(match["vcpus"]) if match.get("vcpus") else None,
            curve=PowerCurve(points),
            embodied=embodied,
            source=str(data.get("source", "")),
            error_band_pct=int(data["error_band_pct"]) if data.get("error_band_pct") is not None else None,
        )
    except ProfileError:
        raise
    except (
        OSError,
        yaml.YAMLError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        OverflowError,
        RecursionError,
    ) as exc:
        raise ProfileError(f"{path}: not a valid profile ({str(exc)[:200]})") from exc


@lru_cache(maxsize=1)
def packaged_profiles() -> tuple[Profile, ...]:
    """The runner profiles shipped in `carbon_gate/data/profiles/`."""
    folder = resources.files("carbon_gate") / "data" / "profiles"
    return tuple(load_profile(Path(str(p))) for p in sorted(folder.iterdir(), key=str) if p.name.endswith(".yml"))


def match_profile(cpu_model: str, vcpus: int) -> Profile | None:
    """The packaged profile whose CPU name occurs in `cpu_model` and whose vCPU count equals `vcpus`."""
    low = cpu_model.lower()
    for p in packaged_profiles():
        if p.cpu_match.lower() in low and (p.vcpus is None or p.vcpus == vcpus):
            return p
    return None


def normalise_cpu_name(name: str) -> str:
    """Lower-case model name without vendor marks, clock speed, core count and filler words."""
    name = re.sub(r"\((?:R|TM|tm|r)\)|®|™", " ", name)
    name = re.sub(r"@.*$", " ", name)  # clock speed
    name = re.sub(r"\b\d+-Core\b|\bCPU\b|\bProcessor\b|\bwith Radeon.*$", " ", name, flags=re.I)
    return " ".join(name.lower().split())


@lru_cache(maxsize=1)
def _tdp_table() -> dict[str, float]:
    with (resources.files("carbon_gate") / "data" / "cpu-tdp.csv").open(encoding="utf-8") as f:
        return {row["key"]: float(row["TDP"]) for row in csv.DictReader(f)}


def lookup_tdp(cpu_model: str) -> tuple[str, float] | None:
    """Find the CPU in the TDP table: exact normalised name, else the longest entry all of whose
    words (one with a digit at least: a model number) occur in the name."""
    table = _tdp_table()
    key = normalise_cpu_name(cpu_model)
    if key in table:
        return key, table[key]
    words = set(key.split())
    best: tuple[str, float] | None = None
    for name, tdp in table.items():
        parts = name.split()
        if any(ch.isdigit() for ch in name) and set(parts) <= words and (best is None or len(name) > len(best[0])):
            best = (name, tdp)
    return best


def choose_cpu_model(
    cpu_model: str,
    vcpus: int,
    *,
    machine_cpus: int | None = None,
    virtualised: bool = False,
    profile: str = "auto",
    host_threads: int | None = None,
    sockets: int = 1,
) -> CpuModel:
    """Pick the curve for `vcpus` of `cpu_model` on a host of `sockets` CPUs; `profile` is `auto`, a
    packaged name or a file path."""
    chosen: Profile | None = None
    if profile not in ("auto", "", None):
        by_name = {p.name: p for p in packaged_profiles()}
        chosen = by_name.get(profile) or load_profile(Path(profile))
        why = f"profile {chosen.name!r} set in the config"
    else:
        chosen = match_profile(cpu_model, vcpus)
        why = f"runner profile {chosen.name!r} matches {cpu_model!r} with {vcpus} vCPUs" if chosen else ""
    model = power_model()
    if chosen is not None:
        if chosen.error_band_pct is not None:
            band, band_source = chosen.error_band_pct, f"stated in profile {chosen.name!r}"
        else:  # the packaged runner curves are SPECpower-derived too: the nearest validated figure
            band, band_source = (
                model.error_band_pct,
                "validated error of the SPECpower-derived TDP model (not of this profile)",
            )
        return CpuModel(
            chosen.curve,
            "modelled",
            why,
            chosen.source,
            chosen.name,
            chosen.embodied,
            error_band_pct=band,
            error_source=band_source,
        )

    found = lookup_tdp(cpu_model)
    if found is not None:
        name, tdp = found
        threads = host_threads or (None if virtualised else machine_cpus)
        if threads:
            share = min(vcpus / threads, 1.0)
            total = tdp * sockets
            held = (
                f"{vcpus}/{threads} threads"
                if vcpus <= threads
                else f"share 1 ({vcpus} vCPUs ≥ {threads} host threads)"
            )
            per_socket = f"{sockets} × {tdp:g} W" if sockets > 1 else f"{tdp:g} W"
            return CpuModel(
                PowerCurve(tuple((u, f * total * share) for u, f in model.fractions)),
                "modelled",
                f"TDP {per_socket} of {name!r} from the packaged table × {held} = {total * share:.4g} W "
                "at full load, on the SPECpower curve",
                f"CodeCarbon cpu_power.csv (Intel ARK, AMD); {model.source}",
                tdp_w=tdp,
                error_band_pct=model.error_band_pct,
                error_source="scripts/fit_cpu_power.py validation (docs/methodology.md §2)",
            )
        reason_prefix = (
            f"{name!r} has TDP {tdp:g} W in the table, but the host's thread count is unknown in this VM "
            "(set machine.host_threads to use it); "
        )
    else:
        reason_prefix = f"CPU {cpu_model!r} is not in the TDP table; "
    return CpuModel(
        PowerCurve.linear(DEFAULT_IDLE_W_PER_VCPU * vcpus, DEFAULT_MAX_W_PER_VCPU * vcpus),
        "defaulted",
        reason_prefix + f"per-vCPU default {DEFAULT_IDLE_W_PER_VCPU}–{DEFAULT_MAX_W_PER_VCPU} W × {vcpus} vCPUs",
        DEFAULT_SOURCE,
    )
