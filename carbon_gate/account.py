"""Energy → CO2e, embodied emissions and SCI per functional unit (docs/methodology.md §5). Pure functions.

SCI = (E·I + M) / R with E = energy (kWh) × PUE, I = grid intensity (g/kWh),
M = embodied total × (time reserved / expected life) × (resources reserved / total), R = functional units.
Water (only with a WUE): E × WUE litres, CodeCarbon 3's definition.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from .domain import Embodied
from .grid import GridFactor


@dataclass(frozen=True)
class Footprint:
    """The carbon account of some energy over some time."""

    energy_wh: float  # IT energy, what the meters saw
    facility_wh: float  # × PUE
    operational_g: float
    embodied_g: float
    co2e_g: float
    units: float
    unit: str
    sci_g_per_unit: float
    water_l: float | None = None  # on-site water (facility kWh × WUE), only when a WUE is set

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 9) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Footprint:
        sci = d.get("sci_g_per_unit")  # null in JSON: no units, so no per-unit figure
        # Every other field is required, as written by to_dict.
        required = {f.name: d[f.name] for f in fields(Footprint) if f.name not in ("sci_g_per_unit", "water_l")}
        return Footprint(
            **required, sci_g_per_unit=float(sci) if sci is not None else math.nan, water_l=d.get("water_l")
        )


def embodied_g(embodied: Embodied | None, seconds: float) -> float:
    """SCI's M for `seconds` of reserved time on a host share."""
    if embodied is None or embodied.lifetime_s <= 0:
        return 0.0
    return embodied.total_g * (seconds / embodied.lifetime_s) * embodied.share


def footprint(
    energy_wh: float,
    wall_s: float,
    grid: GridFactor,
    embodied: Embodied | None = None,
    units: float = 1.0,
    unit: str = "run",
) -> Footprint:
    """Account `energy_wh` drawn over `wall_s` seconds for `units` functional units."""
    facility = energy_wh * grid.pue
    operational = facility / 1000.0 * grid.g_per_kwh
    m = embodied_g(embodied, wall_s)
    total = operational + m
    water = facility / 1000.0 * grid.wue if grid.wue is not None else None
    return Footprint(
        energy_wh, facility, operational, m, total, units, unit, total / units if units > 0 else float("nan"), water
    )
