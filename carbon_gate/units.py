"""Human units in the budget file: `50 Wh`, `0.2 kWh`, `3 kJ`, `20 g`, `1.5 kg`, `30s`, `10m`, `5%`.

Each parser returns the value in a canonical unit (Wh, g, s, fraction, g/kWh) or raises
`ValueError` with a sentence saying what was expected.
"""

from __future__ import annotations

import math
import re

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z%/µμ0-9₂]*)\s*$")

# mWh/MWh and mJ/MJ differ only by case, so those are matched exactly; the rest case-insensitively.
# Micro: the micro sign µ (U+00B5, what most keyboards type), the Greek mu μ (U+03BC), or an ASCII u.
ENERGY_EXACT = {
    "µWh": 1e-6,
    "μWh": 1e-6,
    "uWh": 1e-6,
    "mWh": 1e-3,
    "MWh": 1e6,
    "GWh": 1e9,
    "mJ": 1e-3 / 3600,
    "MJ": 1e6 / 3600,
}
ENERGY_ANY_CASE = {"wh": 1.0, "kwh": 1e3, "j": 1 / 3600, "kj": 1e3 / 3600}  # -> Wh
MASS_UNITS = {"mg": 1e-3, "g": 1.0, "kg": 1e3, "t": 1e6}  # -> g CO2e
DURATION_UNITS = {"ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
INTENSITY_UNITS = {"g/kwh": 1.0, "kg/kwh": 1e3, "g/wh": 1e3, "t/mwh": 1e3, "kg/mwh": 1.0}
POWER_UNITS = {"mW": 1e-3, "W": 1.0, "w": 1.0, "kW": 1e3, "kw": 1e3, "MW": 1e6}  # -> W; matched exactly (mW/MW)


_DISPLAY = {
    "wh": "Wh",
    "kwh": "kWh",
    "j": "J",
    "kj": "kJ",
    "g/kwh": "g/kWh",
    "kg/kwh": "kg/kWh",
    "g/wh": "g/Wh",
    "t/mwh": "t/MWh",
    "kg/mwh": "kg/MWh",
    "w": None,
    "kw": None,
}  # None: a duplicate spelling of W/kW


def _accepted(*tables: dict[str, float]) -> str:
    """Every unit the tables accept, small to large, for an error message."""
    units: dict[str, float] = {}
    for table in tables:
        for unit, factor in table.items():
            shown = _DISPLAY.get(unit, unit)
            if shown is not None:
                units.setdefault(shown, factor)
    return ", ".join(sorted(units, key=lambda u: units[u]))


def _split(text: object, what: str, example: str) -> tuple[float, str]:
    if isinstance(text, bool):
        raise ValueError(f"expected {what} such as {example!r}, got a boolean")
    if isinstance(text, (int, float)):
        return _finite(float(text), text, what), ""
    if not isinstance(text, str):
        raise ValueError(f"expected {what} such as {example!r}, got {text!r}")
    m = _QUANTITY.match(text)
    if not m:
        raise ValueError(f"expected {what} such as {example!r}, got {text!r}")
    return _finite(float(m.group(1)), text, what), m.group(2)


def _finite(value: float, raw: object, what: str) -> float:
    # float() turns '1e999' into inf (and YAML has .inf/.nan): an infinite limit would pass everything
    # and cannot be written to the results JSON.
    if not math.isfinite(value):
        raise ValueError(f"expected {what} that is a finite number, got {raw!r}")
    return value


def _unknown_unit(what: str, tables: tuple[dict[str, float], ...], bare: str, example: str, raw: object) -> ValueError:
    """The error for a quantity whose unit is missing or not one of `tables`: every accepted unit listed."""
    return ValueError(f"expected {what} ({_accepted(*tables)}{bare}) such as {example}, got {raw!r}")


def _non_negative(value: float, raw: object, what: str) -> float:
    _finite(value, raw, what)  # a finite number × a unit factor can still overflow
    if value < 0 or math.copysign(1.0, value) < 0:  # '-0 Wh' too: the schema's pattern has no minus sign
        raise ValueError(f"{what} cannot be negative (got {raw!r})")
    return value


def parse_energy(text: object) -> float:
    """Parse an energy such as `50 Wh`, `0.2 kWh` or `3 kJ` into watt-hours."""
    value, unit = _split(text, "an energy", "50 Wh")
    factor = ENERGY_EXACT.get(unit, ENERGY_ANY_CASE.get(unit.lower()))
    if not unit or factor is None:
        raise _unknown_unit("an energy with a unit", (ENERGY_EXACT, ENERGY_ANY_CASE), "", "'50 Wh'", text)
    return _non_negative(value * factor, text, "an energy")


def parse_mass(text: object) -> float:
    """Parse a CO2e mass such as `20 g` or `1.5 kg` into grams (also accepts `gCO2e`, `kgCO2e`)."""
    value, unit = _split(text, "a CO2e mass", "20 g")
    unit = re.sub(r"(?i)co2e?$|co₂e?$", "", unit)
    factor = MASS_UNITS.get(unit.lower()) if unit else None
    if factor is None:
        raise _unknown_unit("a CO2e mass with a unit", (MASS_UNITS,), ", optionally followed by CO2e", "'20 g'", text)
    return _non_negative(value * factor, text, "a mass")


def parse_duration(text: object) -> float:
    """Parse a duration such as `30s`, `10m` or `1h` into seconds; a bare number means seconds."""
    value, unit = _split(text, "a duration", "30s")
    factor = DURATION_UNITS.get(unit.lower()) if unit else 1.0
    if factor is None:
        raise _unknown_unit("a duration", (DURATION_UNITS,), ", or a bare number of seconds", "'30s' or '10m'", text)
    if _finite(value * factor, text, "a duration") <= 0:
        raise ValueError(f"a duration must be positive (got {text!r})")
    return value * factor


def parse_percent(text: object) -> float:
    """Parse a percentage such as `5%` into a fraction (0.05)."""
    value, unit = _split(text, "a percentage", "5%")
    if unit != "%":
        raise ValueError(f"expected a percentage such as '5%', got {text!r}")
    return _non_negative(value / 100.0, text, "a percentage")


def parse_intensity(text: object) -> float:
    """Parse a grid intensity such as `472 g/kWh` into gCO2e/kWh; a bare number means g/kWh."""
    value, unit = _split(text, "a grid intensity", "472 g/kWh")
    unit = unit.lower().replace("co2e", "").replace("co2", "")
    factor = INTENSITY_UNITS.get(unit) if unit else 1.0
    if factor is None:
        raise _unknown_unit("a grid intensity", (INTENSITY_UNITS,), ", or a bare number of g/kWh", "'472 g/kWh'", text)
    return _non_negative(value * factor, text, "a grid intensity")


def parse_power(text: object) -> float:
    """Parse a power such as `330 W` or `0.3 kW` into watts; a bare number means watts."""
    value, unit = _split(text, "a power", "330 W")
    factor = POWER_UNITS.get(unit) if unit else 1.0
    if factor is None:
        raise _unknown_unit("a power", (POWER_UNITS,), ", or a bare number of watts", "'330 W'", text)
    return _non_negative(value * factor, text, "a power")


_ENERGY_SCALE = (("µWh", 1e-6), ("mWh", 1e-3), ("Wh", 1.0), ("kWh", 1e3), ("MWh", 1e6))
_MASS_SCALE = (("mg", 1e-3), ("g", 1.0), ("kg", 1e3), ("t", 1e6))


def format_energy(wh: float) -> str:
    """Three significant digits in a sensible unit: µWh, mWh, Wh, kWh or MWh."""
    return _scaled(wh, _ENERGY_SCALE)


def energy_unit(wh: float) -> tuple[str, float]:
    """The unit `format_energy(wh)` writes, and its size in Wh: a chart beside a table uses the table's unit."""
    shown = format_energy(wh).rsplit(" ", 1)
    factors = dict(_ENERGY_SCALE)
    return (shown[1], factors[shown[1]]) if len(shown) == 2 and shown[1] in factors else ("Wh", 1.0)


def format_mass(g: float) -> str:
    """Three significant digits in mg, g, kg or t CO2e."""
    return _scaled(g, _MASS_SCALE)


def _scaled(value: float, scale: tuple[tuple[str, float], ...]) -> str:
    """Three significant digits in the first unit (smallest first) that keeps the number below 1000.
    When rounding carries the number to 1000 (999.7 Wh, or a tie such as 999.5 µWh) it moves to the
    next unit: the rounded number divided by the step, so it reads '1 kWh', never '1000 Wh'."""
    if value != value:  # nan
        return "n/a"
    i = 0
    while i < len(scale) - 1 and abs(value / scale[i][1]) >= 1000:
        i += 1
    text = _sig3(value / scale[i][1])
    if abs(float(text)) >= 1000 and i < len(scale) - 1:
        text = _sig3(float(text) * scale[i][1] / scale[i + 1][1])
        i += 1
    return f"{text} {scale[i][0]}"


def _sig3(x: float) -> str:
    if x == 0:
        return "0"
    text = f"{x:.3g}"
    if "e" in text:  # avoid scientific notation for values like 1e+03 after rounding
        text = f"{float(text):.0f}"
    return text
