"""Human units of the budget file (docs/configuration.md): parse to canonical units, reject nonsense, format back."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from carbon_gate import units
from carbon_gate.units import (
    format_energy,
    format_mass,
    parse_duration,
    parse_energy,
    parse_intensity,
    parse_mass,
    parse_percent,
)

# ------------------------------------------------------------------ every unit of the issue


@pytest.mark.parametrize(
    ("parser", "text", "expected"),
    [
        # energy -> Wh
        (parse_energy, "50 Wh", 50.0),
        (parse_energy, "0.2 kWh", 200.0),
        (parse_energy, "3 kJ", 3000 / 3600),  # 3000 J / 3600 J per Wh
        (parse_energy, "3600 J", 1.0),
        (parse_energy, "5 mWh", 0.005),  # milli
        (parse_energy, "5 MWh", 5_000_000.0),  # mega: only the case differs from mWh
        (parse_energy, "7.2 mJ", 7.2e-3 / 3600),
        (parse_energy, "7.2 MJ", 7.2e6 / 3600),  # = 2000 Wh
        (parse_energy, "2 µWh", 2e-6),
        (parse_energy, "50Wh", 50.0),
        (parse_energy, "  50   Wh  ", 50.0),
        (parse_energy, "50 wh", 50.0),  # unambiguous units are case-insensitive
        (parse_energy, "0.2 KWH", 200.0),
        (parse_energy, ".5 Wh", 0.5),
        (parse_energy, "1e3 Wh", 1000.0),
        # mass -> g CO2e
        (parse_mass, "20 g", 20.0),
        (parse_mass, "1.5 kg", 1500.0),
        (parse_mass, "250 mg", 0.25),
        (parse_mass, "2 t", 2_000_000.0),
        (parse_mass, "20 gCO2e", 20.0),
        (parse_mass, "1.5 kgCO2", 1500.0),
        # duration -> s
        (parse_duration, "30s", 30.0),
        (parse_duration, "10m", 600.0),
        (parse_duration, "10 min", 600.0),
        (parse_duration, "1h", 3600.0),
        (parse_duration, "250ms", 0.25),
        (parse_duration, "2d", 172_800.0),
        (parse_duration, "45", 45.0),  # a bare number means seconds
        (parse_duration, 90, 90.0),  # YAML gives an int
        # percent -> fraction
        (parse_percent, "5%", 0.05),
        (parse_percent, "5 %", 0.05),
        (parse_percent, "0.5%", 0.005),
        (parse_percent, "0%", 0.0),
        # intensity -> g/kWh
        (parse_intensity, "472 g/kWh", 472.0),
        (parse_intensity, "0.472 kg/kWh", 472.0),
        (parse_intensity, 472, 472.0),
        (parse_intensity, "472 gCO2e/kWh", 472.0),
    ],
)
def test_parses_to_canonical_value(parser, text, expected):
    assert parser(text) == pytest.approx(expected, rel=1e-12)


def test_mwh_and_MWh_differ_by_a_factor_of_a_billion():
    assert parse_energy("1 MWh") / parse_energy("1 mWh") == pytest.approx(1e9)
    assert parse_energy("1 MJ") / parse_energy("1 mJ") == pytest.approx(1e9)


@pytest.mark.parametrize("text", ["5 mwh", "5 MWH", "5 mj", "5 mJoule"])
def test_ambiguous_case_of_milli_and_mega_is_rejected(text):
    # "mwh" could be milli or mega: better to refuse than to be off by 10^9.
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_energy(text)


# ------------------------------------------------------------------ what must not parse


@pytest.mark.parametrize(
    ("parser", "value"),
    [
        (parse_energy, "50 Wh/s"),  # a power, not an energy
        (parse_energy, "50"),  # no unit: 50 what?
        (parse_energy, 50),
        (parse_energy, "50 g"),
        (parse_energy, "-5 Wh"),
        (parse_energy, "fifty Wh"),
        (parse_energy, ""),
        (parse_mass, "-3 g"),
        (parse_mass, "3 Wh"),
        (parse_mass, "3"),
        (parse_duration, "fast"),
        (parse_duration, "0s"),
        (parse_duration, "-1m"),
        (parse_duration, "10 parsecs"),
        (parse_percent, "5"),
        (parse_percent, 0.05),
        (parse_percent, "-5%"),
        (parse_intensity, "472 g/s"),
        (parse_intensity, "-1 g/kWh"),
    ],
)
def test_rejected_with_a_message_naming_the_value(parser, value):
    with pytest.raises(ValueError) as info:
        parser(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    ("parser", "value"), [(parse_energy, "50 Wh/s"), (parse_mass, "-3 g"), (parse_duration, "fast")]
)
def test_issue_examples_rejected(parser, value):
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        parser(value)


@pytest.mark.parametrize("parser", [parse_energy, parse_mass, parse_duration, parse_percent, parse_intensity])
@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}])
def test_non_scalars_and_booleans_rejected(parser, value):
    with pytest.raises(ValueError):
        parser(value)


@pytest.mark.parametrize(
    ("parser", "text"), [(parse_energy, "1e999 Wh"), (parse_mass, "1e999 g"), (parse_duration, "1e999 s")]
)
def test_overflowing_numbers_rejected(parser, text):
    with pytest.raises(ValueError):
        parser(text)


# ------------------------------------------------------------------ formatting


def _number_part(text: str) -> str:
    number, unit = text.split(" ")
    assert unit in {"µWh", "mWh", "Wh", "kWh", "MWh", "mg", "g", "kg", "t"}, text
    return number


def _significant_digits(number: str) -> int:
    digits = number.replace("-", "").replace(".", "").lstrip("0")
    return len(digits.rstrip("0")) if "." not in number else len(digits)


@pytest.mark.parametrize(
    ("fmt", "value", "text"),
    [
        (format_energy, 0.0001234, "123 µWh"),
        (format_energy, 0.01234, "12.3 mWh"),
        (format_energy, 1.5, "1.5 Wh"),
        (format_energy, 12.345, "12.3 Wh"),
        (format_energy, 45_678, "45.7 kWh"),
        (format_energy, 1_234_567, "1.23 MWh"),
        (format_energy, float("nan"), "n/a"),
        (format_mass, 0.0123, "12.3 mg"),
        (format_mass, 0.5, "500 mg"),
        (format_mass, 15, "15 g"),
        (format_mass, 1500, "1.5 kg"),
        (format_mass, 2_340_000, "2.34 t"),
        (format_mass, float("nan"), "n/a"),
        # a rounding carry moves to the next unit
        (format_energy, 999.7, "1 kWh"),
        (format_energy, 0.9997, "1 Wh"),
        (format_mass, 999.7, "1 kg"),
        (format_mass, 0.9997, "1 g"),
        # a tie: 999.5 µWh rounds up to 1000 although 0.9995 mWh rounds down
        (format_energy, 0.0009995, "1 mWh"),
    ],
)
def test_format_examples_and_rollover_to_the_next_unit(fmt, value, text):
    assert fmt(value) == text


@pytest.mark.parametrize(
    ("fmt", "parse", "smallest"),
    [(format_energy, parse_energy, 1e-9), (format_mass, parse_mass, 1e-6)],
    ids=["energy", "mass"],
)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_format_three_significant_digits_and_round_trip(fmt, parse, smallest, data):
    value = data.draw(st.floats(min_value=smallest, max_value=1e12, allow_nan=False, allow_infinity=False))
    text = fmt(value)
    assert _significant_digits(_number_part(text)) <= 3, text
    # Three significant digits: at most half a unit in the third digit away.
    assert parse(text) == pytest.approx(value, rel=5.01e-3), text


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False))
@example(0.0009995)  # the tie: 999.5 µWh carries to 1 mWh although 0.9995 mWh rounds down
@example(999.7)
def test_format_energy_mantissa_is_the_value_rounded_in_a_sensible_unit(wh):
    # 1234.5 Wh reads 1.23 kWh: the printed number is the value in that unit rounded to 3 significant digits,
    # and the unit is the one that keeps it between 1 and 1000 (µWh and MWh take what falls outside).
    text = format_energy(wh)
    number, unit = text.split(" ")
    per_unit = parse_energy("1 " + unit)
    rounded = float(f"{wh / per_unit:.3g}")
    if unit != "µWh" and float(number) == 1 and float(f"{wh / (per_unit / 1000):.3g}") == 1000:
        # Rounding carried the smaller unit to 1000 (999.5 µWh reads '1 mWh'), although in this unit
        # the value may round down (0.9995 mWh -> 0.999): the number is that 1000 moved up.
        assert rounded in (0.999, 1.0), text
    else:
        assert float(number) == pytest.approx(rounded, rel=1e-9), text
    if unit != "µWh":
        assert float(number) >= 1, text
    if unit != "MWh":
        assert float(number) < 1000, text  # a rounding carry to 1000 moves to the next unit


def test_format_then_parse_every_energy_unit():
    for wh in (2e-7, 2e-4, 2.0, 2e3, 2e6):
        assert parse_energy(format_energy(wh)) == pytest.approx(wh)
    for g in (2e-3, 2.0, 2e3, 2e6):
        assert parse_mass(format_mass(g)) == pytest.approx(g)


def test_tables_are_consistent():
    # A unit's factor must match its name: kilo = 1000 × base.
    assert units.MASS_UNITS["kg"] == 1000 * units.MASS_UNITS["g"]
    assert units.DURATION_UNITS["h"] == 60 * units.DURATION_UNITS["m"]
    assert math.isclose(parse_energy("1 kJ") * 3600, 1000.0)
