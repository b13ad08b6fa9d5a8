"""Forecast a planned training run before spending it. Pure functions; the method and its sources
are in docs/methodology.md, "Forecast before running".

    FLOPs  ≈ 6 · N · D            N = (active) parameters, D = training tokens (Kaplan et al. 2020)
    time   = FLOPs / (count · peak · MFU)
    energy = count · average power · time · PUE
    CO2e   = energy · grid intensity  +  embodied share of the accelerators over that time

Checks reproduced in the tests: GPT-3 (175 B params, 300 B tokens, 10,000 V100 at 125 TFLOP/s,
330 W measured average, MFU 0.197, PUE 1.1, 429 g/kWh) ≈ 14.8 days, ≈ 1,287 MWh, ≈ 552 tCO2e
(Patterson et al. 2021); and 10 h × 4 GPUs × 0.3 kW × PUE 1.5 × 450 g/kWh = 8.1 kg.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

# Average board power as a fraction of TDP when none is given. Large training runs keep accelerators
# near their limit (Patterson et al. 2021 measured 330 W average on 300 W V100s), so TDP × 1.0.
AVG_POWER_FACTOR = 1.0
# Model FLOPs utilisation when none is given: typical of well-tuned dense training on A100/H100-class
# hardware (PaLM reported 46 %, GPT-3 on V100 19.7 %); the output always shows 0.5× and 1.5× of it.
DEFAULT_MFU = 0.4
MFU_SENSITIVITY = (0.5, 1.5)
# Embodied emissions per accelerator board (Luccioni et al. 2022, BLOOM: ~150 kgCO2e per GPU), over a
# 4-year life. A lower bound: the host server's share is not included.
EMBODIED_KG_PER_ACCELERATOR = 150.0
LIFETIME_YEARS = 4.0


@dataclass(frozen=True)
class Accelerator:
    key: str
    name: str
    tdp_w: float
    memory_gb: float
    peak_tflops: dict[str, float]
    default_dtype: str
    source: str


@lru_cache(maxsize=1)
def accelerators() -> dict[str, Accelerator]:
    """The packaged accelerator table, by key (V100, A100-40GB, H100-SXM, TPUv4, ...)."""
    import yaml

    raw = yaml.safe_load((resources.files("carbon_gate") / "data" / "accelerators.yml").read_text(encoding="utf-8"))
    return {
        k: Accelerator(
            k,
            v["name"],
            float(v["tdp_w"]),
            float(v["memory_gb"]),
            {d: float(t) for d, t in v["peak_tflops"].items()},
            v["default_dtype"],
            v["source"],
        )
        for k, v in raw.items()
    }


def find_accelerator(name: str) -> Accelerator:
    """Case- and punctuation-insensitive lookup; a ValueError lists the known keys."""

    def norm(s: str) -> str:
        return "".join(ch for ch in s.lower() if ch.isalnum())

    table = accelerators()
    for key, acc in table.items():
        if norm(name) in (norm(key), norm(acc.name)):
            return acc
    raise ValueError(f"unknown accelerator {name!r}; known: {', '.join(table)}")


@dataclass(frozen=True, kw_only=True)
class EstimateInput:
    accelerator: str
    count: int
    params: float | None = None  # total parameters
    tokens: float | None = None
    moe_active_params: float | None = None
    hours: float | None = None  # instead of params/tokens: a run of known length
    mfu: float | None = None
    avg_power_w: float | None = None
    dtype: str | None = None
    pue: float = 1.0
    intensity_g_per_kwh: float = 480.6
    intensity_source: str = ""

    @staticmethod
    def from_spec(
        spec: Mapping[str, Any], *, pue: float, intensity_g_per_kwh: float, intensity_source: str
    ) -> EstimateInput:
        """A workload's `estimate:` block (config keys: `avg_power` is in W), with the grid to account with."""
        return EstimateInput(
            accelerator=spec["accelerator"],
            count=int(spec["count"]),
            params=spec.get("params"),
            tokens=spec.get("tokens"),
            moe_active_params=spec.get("moe_active_params"),
            hours=spec.get("hours"),
            mfu=spec.get("mfu"),
            avg_power_w=spec.get("avg_power"),
            dtype=spec.get("dtype"),
            pue=pue,
            intensity_g_per_kwh=intensity_g_per_kwh,
            intensity_source=intensity_source,
        )


@dataclass(frozen=True)
class Estimate:
    days: float
    hours: float
    energy_kwh: float
    co2e_kg: float  # operational: energy × intensity (what Patterson et al. report)
    embodied_kg: float
    total_kg: float  # operational + embodied
    flops: float | None
    assumptions: dict[str, Any] = field(default_factory=dict)
    sensitivity: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate(inp: EstimateInput) -> Estimate:
    """Forecast time, energy and CO2e of a planned run; every assumption is returned with it."""
    acc = find_accelerator(inp.accelerator)
    if inp.count < 1:
        raise ValueError("count must be at least 1")
    # A negative or infinite size would forecast negative days and energy that look like real numbers.
    for label, value in (
        ("params", inp.params),
        ("tokens", inp.tokens),
        ("moe-active-params", inp.moe_active_params),
        ("hours", inp.hours),
        ("avg-power", inp.avg_power_w),
    ):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{label} must be a positive number, got {value:g}")
    sized = [
        label
        for label, value in (
            ("params", inp.params),
            ("tokens", inp.tokens),
            ("moe-active-params", inp.moe_active_params),
            ("mfu", inp.mfu),
        )
        if value is not None
    ]
    if inp.hours is not None and sized:  # one would silently win: refuse and say why
        raise ValueError(
            f"give either hours or a size (params and tokens), not both: hours fixes the run's length, "
            f"so {', '.join(sized)} would be ignored"
        )
    if inp.moe_active_params is not None and inp.params is not None and inp.moe_active_params > inp.params:
        raise ValueError("moe-active-params must not exceed params (active parameters are a subset)")
    dtype = inp.dtype or acc.default_dtype
    if dtype not in acc.peak_tflops:
        raise ValueError(f"{acc.key} has no {dtype} peak in the table; known: {', '.join(acc.peak_tflops)}")
    peak = acc.peak_tflops[dtype] * 1e12
    power = inp.avg_power_w if inp.avg_power_w is not None else acc.tdp_w * AVG_POWER_FACTOR
    mfu = inp.mfu if inp.mfu is not None else DEFAULT_MFU
    assumptions: dict[str, Any] = {
        "accelerator": acc.name,
        "count": inp.count,
        "dtype": dtype,
        "peak_tflops": acc.peak_tflops[dtype],
        "avg_power_w": power,
        "avg_power_source": "given"
        if inp.avg_power_w is not None
        else f"TDP {acc.tdp_w:g} W × {AVG_POWER_FACTOR:g} (default)",
        "pue": inp.pue,
        "intensity_g_per_kwh": inp.intensity_g_per_kwh,
        "intensity_source": inp.intensity_source,
        "embodied_kg_per_accelerator": EMBODIED_KG_PER_ACCELERATOR,
        "lifetime_years": LIFETIME_YEARS,
        "accelerator_source": acc.source,
    }
    flops = None
    if inp.hours is not None:
        seconds = inp.hours * 3600.0
        assumptions["duration"] = "given"
    else:
        if not inp.params or not inp.tokens:
            raise ValueError("give --params and --tokens (or --hours)")
        n = inp.moe_active_params or inp.params
        flops = 6.0 * n * inp.tokens
        seconds = flops / (inp.count * peak * mfu)
        assumptions.update(
            mfu=mfu,
            mfu_source="given" if inp.mfu is not None else f"default {DEFAULT_MFU:g}",
            flops_formula="6 · N · D",
            active_params=n,
            tokens=inp.tokens,
        )
    result = _account(inp, power, seconds)
    sensitivity = []
    if flops is not None:
        for factor in MFU_SENSITIVITY:
            s = flops / (inp.count * peak * mfu * factor)
            r = _account(inp, power, s)
            sensitivity.append({"mfu": mfu * factor, "days": s / 86400, "energy_kwh": r[0], "co2e_kg": r[1]})
    energy_kwh, operational, embodied = result
    return Estimate(
        seconds / 86400,
        seconds / 3600,
        energy_kwh,
        operational,
        embodied,
        operational + embodied,
        flops,
        assumptions,
        sensitivity,
    )


def _account(inp: EstimateInput, power_w: float, seconds: float) -> tuple[float, float, float]:
    energy_kwh = inp.count * power_w * seconds / 3.6e6 * inp.pue
    operational = energy_kwh * inp.intensity_g_per_kwh / 1000.0
    embodied = inp.count * EMBODIED_KG_PER_ACCELERATOR * seconds / (LIFETIME_YEARS * 365.25 * 86400)
    return energy_kwh, operational, embodied
