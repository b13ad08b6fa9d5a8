"""Grid intensity resolution (docs/methodology.md) and the carbon account: PUE, embodied emissions, SCI."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from carbon_gate import grid
from carbon_gate.account import embodied_g, footprint
from carbon_gate.grid import GridFactor, UnknownCountry, find_country, resolve
from carbon_gate.meters.cpu_model import Embodied, packaged_profiles

SECONDS_PER_YEAR = 365.25 * 86400


def _rows() -> list[dict]:
    with (resources.files("carbon_gate") / "data" / "grid-intensity.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------ countries


@pytest.mark.parametrize("query", ["FR", "FRA", "france", "France", "fr", " FRANCE ", "fra"])
def test_france_by_code_or_name(query):
    c = find_country(query)
    assert (c.iso2, c.iso3, c.name) == ("FR", "FRA", "France")


def test_france_matches_the_dataset_row():
    row = next(r for r in _rows() if r["iso3"] == "FRA")
    c = find_country("FR")
    assert c.g_per_kwh == float(row["g_per_kwh"])
    assert c.year == int(row["year"])
    g = resolve(country="France")
    assert (g.g_per_kwh, g.year, g.method) == (float(row["g_per_kwh"]), int(row["year"]), "dataset")
    assert g.location == "France (FR)"
    assert "Ember" in g.source


def test_every_row_is_found_by_its_own_codes_and_name():
    for c in grid.countries():
        assert find_country(c.iso3) == c
        assert find_country(c.name) == c
        if c.iso2:
            assert find_country(c.iso2) == c


def test_codes_and_names_are_unique():
    rows = grid.countries()
    for attr in ("iso3", "name"):
        values = [getattr(c, attr).lower() for c in rows]
        assert len(values) == len(set(values)), attr
    iso2 = [c.iso2 for c in rows if c.iso2]
    assert len(iso2) == len(set(iso2))


@pytest.mark.parametrize(("iso2", "iso3"), [("KR", "KOR"), ("TR", "TUR"), ("TW", "TWN"), ("RU", "RUS"), ("VN", "VNM")])
def test_iso2_codes_of_large_grids(iso2, iso3):
    assert find_country(iso2).iso3 == iso3


# ------------------------------------------------------------------ resolution order


def test_world_average_is_the_generation_weighted_mean():
    avg, year = grid.world_average()
    assert avg == pytest.approx(480.6, abs=0.5)
    rows = _rows()
    by_hand = sum(float(r["g_per_kwh"]) * float(r["total_twh"]) for r in rows) / sum(
        float(r["total_twh"]) for r in rows
    )
    assert avg == pytest.approx(by_hand, rel=1e-12)
    assert year == max(int(r["year"]) for r in rows)


def test_nothing_configured_defaults_to_world_and_says_so():
    g = resolve()
    assert g.g_per_kwh == pytest.approx(480.6, abs=0.5)
    assert g.method == "defaulted"
    assert "World" in g.location


def test_explicit_intensity_is_configured_and_wins_over_country():
    g = resolve(intensity=472.0, country="FR", pue=1.2, source="our PPA contract 2024")
    assert (g.g_per_kwh, g.method, g.pue, g.source, g.year) == (472.0, "configured", 1.2, "our PPA contract 2024", None)
    assert resolve(intensity=0.0).method == "configured"  # zero is a value, not "unset"
    assert resolve(intensity=0.0).g_per_kwh == 0.0


def test_grid_factor_round_trips_through_dict():
    g = resolve(country="DE", pue=1.3)
    assert GridFactor.from_dict(g.to_dict()) == g


def country_of(g: GridFactor) -> tuple:
    return g.country_name, g.country_iso3, g.country_iso2


@pytest.mark.parametrize("query", ["FR", "fra", "France"])
def test_a_dataset_country_is_recorded_with_its_name_and_codes(query):
    g = resolve(country=query)
    assert country_of(g) == ("France", "FRA", "FR") and g.location == "France (FR)"
    assert {k: v for k, v in g.to_dict().items() if k.startswith("country_")} == {
        "country_name": "France",
        "country_iso3": "FRA",
        "country_iso2": "FR",
    }


def test_a_configured_intensity_records_its_label_only_when_it_is_a_known_country():
    g = resolve(intensity=472.0, country="deu", source="our PPA")
    assert country_of(g) == ("Germany", "DEU", "DE") and (g.location, g.method, g.g_per_kwh) == (
        "deu",
        "configured",
        472.0,
    )
    g = resolve(intensity=472.0, country="Bavaria")  # a label, not a country: kept as written, never an error
    assert country_of(g) == (None, None, None) and g.location == "Bavaria"
    assert country_of(resolve(intensity=472.0)) == (None, None, None)
    assert country_of(resolve()) == (None, None, None)


def test_grid_factor_from_an_older_dict_has_no_country():
    d = resolve(country="FR").to_dict()
    old = {k: v for k, v in d.items() if not k.startswith("country_")}
    g = GridFactor.from_dict(old)
    assert country_of(g) == (None, None, None) and g.g_per_kwh == d["g_per_kwh"]


# ------------------------------------------------------------------ unknown countries


@pytest.mark.parametrize(
    ("query", "suggestion"), [("Frnace", "France"), ("Germny", "Germany"), ("Untied States", "United States")]
)
def test_misspelt_country_suggests_the_right_one(query, suggestion):
    with pytest.raises(UnknownCountry) as info:
        find_country(query)
    assert suggestion in info.value.suggestions
    assert info.value.query == query
    assert repr(query) in str(info.value) and suggestion in str(info.value)


def test_unknown_code_suggests_close_codes():
    with pytest.raises(UnknownCountry) as info:
        find_country("FRX")
    assert any("(FRA)" in s for s in info.value.suggestions)


def test_hopeless_query_has_no_suggestions():
    with pytest.raises(UnknownCountry) as info:
        find_country("Atlantis-under-the-sea")
    assert info.value.suggestions == []
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_country_is_unknown(query):
    with pytest.raises(UnknownCountry):
        find_country(query)


def test_resolve_raises_unknown_country():
    with pytest.raises(UnknownCountry):
        resolve(country="Frnace")


# ------------------------------------------------------------------ account: PUE, embodied, SCI


def test_pue_multiplies_facility_energy_and_operational_carbon():
    g1 = GridFactor(400.0, "X", "test", None, "configured", pue=1.0)
    g15 = GridFactor(400.0, "X", "test", None, "configured", pue=1.5)
    f1 = footprint(10.0, 60.0, g1)
    f15 = footprint(10.0, 60.0, g15)
    assert f15.energy_wh == f1.energy_wh == 10.0  # IT energy is what the meters saw
    assert f1.facility_wh == 10.0
    assert f15.facility_wh == pytest.approx(15.0)
    # 15 Wh = 0.015 kWh × 400 g/kWh = 6 g
    assert f15.operational_g == pytest.approx(6.0)
    assert f1.operational_g == pytest.approx(4.0)
    assert f15.co2e_g == pytest.approx(6.0)  # no embodied given


def test_sci_divides_by_functional_units():
    g = GridFactor(500.0, "X", "test", None, "configured", pue=1.0)
    f = footprint(20.0, 10.0, g, units=4.0, unit="epoch")  # 0.02 kWh × 500 = 10 g over 4 epochs
    assert f.co2e_g == pytest.approx(10.0)
    assert f.sci_g_per_unit == pytest.approx(2.5)
    assert (f.units, f.unit) == (4.0, "epoch")


def test_practice_example_from_design():
    # 10 h × 4 GPUs × 0.3 kW = 12 kWh; × PUE 1.5 = 18 kWh; × 450 g/kWh = 8.1 kg.
    g = GridFactor(450.0, "X", "test", None, "configured", pue=1.5)
    f = footprint(12_000.0, 36_000.0, g)
    assert f.facility_wh == pytest.approx(18_000.0)
    assert f.co2e_g == pytest.approx(8_100.0)


def _github_profile():
    return next(p for p in packaged_profiles() if p.name == "github-linux-x64-4vcpu")


def test_github_profile_embodied_assumptions():
    e = _github_profile().embodied
    assert e is not None
    assert e.total_g == pytest.approx(1_151_700.0)  # 1151.7 kg, Boavizta
    assert e.lifetime_s == pytest.approx(4 * SECONDS_PER_YEAR)
    assert e.share == pytest.approx(4 / 128)


def test_embodied_for_an_hour_on_the_github_runner_by_hand():
    # M = 1,151,700 g × (3600 s / (4 × 365.25 × 86400 s)) × 4/128
    #   = 1,151,700 × 3600 / 126,230,400 × 0.03125 = 32.8456... × 0.03125 = 1.02643 g
    m = embodied_g(_github_profile().embodied, 3600.0)
    assert m == pytest.approx(1.02643, rel=1e-5)


def test_embodied_joins_operational_in_the_footprint():
    e = _github_profile().embodied
    g = GridFactor(100.0, "X", "test", None, "configured", pue=1.0)
    f = footprint(10.0, 3600.0, g, e)  # 0.01 kWh × 100 = 1 g operational
    assert f.operational_g == pytest.approx(1.0)
    assert f.embodied_g == pytest.approx(1.02643, rel=1e-5)
    assert f.co2e_g == pytest.approx(2.02643, rel=1e-5)
    assert footprint(10.0, 7200.0, g, e).embodied_g == pytest.approx(2 * 1.02643, rel=1e-5)  # linear in time


def test_no_embodied_data_means_zero():
    assert embodied_g(None, 3600.0) == 0.0
    assert embodied_g(Embodied(1000.0, 0.0, 1.0, "broken"), 3600.0) == 0.0
