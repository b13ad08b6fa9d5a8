"""Papercuts a newcomer hits in carbon-gate.yml (issue 15, item 10): micro-watt-hours however the µ is
typed, an error that lists every accepted unit, an unquoted `command: true`, and country names as
people write them (UK, USA, Czech Republic, Türkiye) without Ukraine offered for UK."""

from __future__ import annotations

import pytest

from carbon_gate import units
from carbon_gate.grid import UnknownCountry, find_country


@pytest.mark.parametrize("text", ["5 µWh", "5 μWh", "5 uWh", "5µWh", "5uWh"])
def test_micro_watt_hours_however_the_micro_is_typed(text):
    assert units.parse_energy(text) == pytest.approx(5e-6)


def test_an_energy_error_lists_every_accepted_unit():
    with pytest.raises(ValueError) as info:
        units.parse_energy("5 Whh")
    message = str(info.value)
    for unit in [*units.ENERGY_EXACT, "Wh", "kWh", "J", "kJ"]:
        assert unit in message, (unit, message)


@pytest.mark.parametrize(
    ("parser", "expected"),
    [
        (units.parse_mass, ["mg", "g", "kg", "t"]),
        (units.parse_duration, ["ms", "s", "min", "h", "d"]),
        (units.parse_power, ["mW", "W", "kW", "MW"]),
        (units.parse_intensity, ["g/kWh", "kg/MWh", "t/MWh"]),
    ],
)
def test_other_unit_errors_list_their_units(parser, expected):
    with pytest.raises(ValueError) as info:
        parser("5 parsecs")
    assert all(u in str(info.value) for u in expected), str(info.value)


@pytest.mark.parametrize("bare", ["true", "yes", "on", "false"])
def test_unquoted_command_true_says_to_quote_it(cli, write_config, bare):
    write_config(f"version: 1\nworkloads:\n  - name: noop\n    command: {bare}\n")
    r = cli("run")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "carbon-gate.yml:4" in r.stderr and "quote the command" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("query", "iso3"),
    [
        ("UK", "GBR"),
        ("uk", "GBR"),
        ("U.K.", "GBR"),
        ("Great Britain", "GBR"),
        ("USA", "USA"),
        ("United States of America", "USA"),
        ("Czech Republic", "CZE"),
        ("Türkiye", "TUR"),
        ("Turkiye", "TUR"),
    ],
)
def test_country_aliases(query, iso3):
    assert find_country(query).iso3 == iso3


@pytest.mark.parametrize("query", ["UK", "U.K", "Uk.", "GB"])
def test_uk_never_suggests_ukraine(query):
    try:
        assert find_country(query).iso3 == "GBR"
    except UnknownCountry as exc:  # pragma: no cover - the point of the test
        pytest.fail(f"{query!r}: {exc}")


def test_a_two_letter_typo_is_compared_with_two_letter_codes():
    with pytest.raises(UnknownCountry) as info:
        find_country("UQ")
    assert "Ukraine" not in str(info.value) or "(UA)" in str(info.value)
