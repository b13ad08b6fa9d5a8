"""Grid carbon intensity: the pinned accounting factor for CO2e (docs/methodology.md, "Carbon: SCI").

Resolution, first that applies: an explicit intensity → a country from the packaged
Ember/OWID annual dataset → the generation-weighted world average, flagged `defaulted`.
No geolocation: the location is what the user wrote.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import KW_ONLY, asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

DATASET_SOURCE = "Ember; Our World in Data (annual lifecycle intensity, CC BY 4.0)"
# How the factor was chosen; `live` is a provider's reading the gate was configured to use (grid.gate_on).
Method = Literal["configured", "dataset", "defaulted", "live"]


@dataclass(frozen=True)
class Country:
    iso3: str
    iso2: str
    name: str
    year: int
    g_per_kwh: float
    total_twh: float


@dataclass(frozen=True)
class GridFactor:
    """The intensity used for CO2e, where it came from, and the data-centre PUE.

    `country_*` name the dataset country the location is (its intensity, or the label of a configured
    intensity); None for the world average, a bare intensity, or a label that is not a known country."""

    g_per_kwh: float
    location: str
    source: str
    year: int | None
    method: Method
    _: KW_ONLY
    pue: float = 1.0
    country_name: str | None = None  # "France"
    country_iso3: str | None = None  # "FRA" (CodeCarbon's country_iso_code)
    country_iso2: str | None = None  # "FR"
    wue: float | None = None  # on-site water usage effectiveness, L/kWh of facility energy; None: water not counted

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> GridFactor:
        return GridFactor(**{k: d[k] for k in GridFactor.__dataclass_fields__ if k in d})


class UnknownCountry(LookupError):
    """The country is not in the dataset; `suggestions` holds near matches."""

    def __init__(self, query: str, suggestions: list[str]):
        self.query = query
        self.suggestions = suggestions
        hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
        super().__init__(f"unknown country {query!r}{hint}")


@lru_cache(maxsize=1)
def countries() -> tuple[Country, ...]:
    """The packaged dataset, one row per country."""
    with (resources.files("carbon_gate") / "data" / "grid-intensity.csv").open(encoding="utf-8") as f:
        return tuple(
            Country(r["iso3"], r["iso2"], r["country"], int(r["year"]), float(r["g_per_kwh"]), float(r["total_twh"]))
            for r in csv.DictReader(f)
        )


def world_average() -> tuple[float, int]:
    """Generation-weighted average intensity over the dataset (≈480.6 g/kWh), and its latest year."""
    rows = countries()
    total = sum(c.total_twh for c in rows)
    return sum(c.g_per_kwh * c.total_twh for c in rows) / total, max(c.year for c in rows)


# Names people write that are not the dataset's (lower case, dots removed) → ISO-3. 'UK' is the common
# name of the United Kingdom (ISO-2 GB), never a near miss of Ukraine (UA/UKR).
ALIASES = {
    "uk": "GBR",
    "great britain": "GBR",
    "britain": "GBR",
    "england": "GBR",
    "scotland": "GBR",
    "wales": "GBR",
    "united kingdom of great britain and northern ireland": "GBR",
    "usa": "USA",
    "us": "USA",
    "america": "USA",
    "united states of america": "USA",
    "czech republic": "CZE",
    "türkiye": "TUR",
    "turkiye": "TUR",
    "republic of korea": "KOR",
    "korea": "KOR",
    "russian federation": "RUS",
    "viet nam": "VNM",
    "holland": "NLD",
    "the netherlands": "NLD",
    "iran (islamic republic of)": "IRN",
    "ivory coast": "CIV",
    "côte d'ivoire": "CIV",
    "burma": "MMR",
    "swaziland": "SWZ",
    "eswatini": "SWZ",
    "macedonia": "MKD",
    "cabo verde": "CPV",
    "east timor": "TLS",
}


def find_country(query: str) -> Country:
    """Look up by ISO-2, ISO-3, name or a common alias (UK, USA, Czech Republic, Türkiye),
    case-insensitively; raises UnknownCountry with near matches."""
    q = query.strip().lower()
    for c in countries():
        if q in (c.iso2.lower(), c.iso3.lower(), c.name.lower()) and q:
            return c
    by_iso3 = {c.iso3: c for c in countries()}
    alias = ALIASES.get(" ".join(q.replace(".", "").split()))
    if alias in by_iso3:
        return by_iso3[alias]
    names = {c.name.lower(): c.name for c in countries()}
    names |= {a: by_iso3[iso3].name for a, iso3 in ALIASES.items() if iso3 in by_iso3 and len(a) > 7}
    close = difflib.get_close_matches(q, list(names), n=6, cutoff=0.6)
    suggestions = list(dict.fromkeys(names[n] for n in close))[:3]
    if not suggestions and len(q) in (2, 3):
        # A code is compared with codes of its own length: 'UK' must not suggest Ukraine for 'UKR'.
        codes = {(c.iso2 if len(q) == 2 else c.iso3).lower(): c.name for c in countries() if c.iso2 or len(q) == 3}
        suggestions = [f"{codes[c]} ({c.upper()})" for c in difflib.get_close_matches(q, list(codes), n=3, cutoff=0.5)]
    raise UnknownCountry(query, suggestions)


def resolve(
    intensity: float | None = None,
    country: str | None = None,
    pue: float = 1.0,
    source: str | None = None,
    wue: float | None = None,
) -> GridFactor:
    """Pick the grid factor: explicit intensity, else country, else the world average (defaulted).
    `wue` (L/kWh) is carried as given: water is counted only when it is set.

    With an intensity, `country` only labels it: a known country is recorded as such, anything else
    is kept as written in `location` (never an error)."""
    if intensity is not None:
        try:
            c: Country | None = find_country(country) if country else None
        except UnknownCountry:
            c = None
        return GridFactor(
            intensity,
            country or "configured",
            source or "configured in carbon-gate.yml",
            None,
            "configured",
            pue=pue,
            wue=wue,
            **_country_fields(c),
        )
    if country:
        c = find_country(country)
        return GridFactor(
            c.g_per_kwh,
            f"{c.name} ({c.iso2 or c.iso3})",
            DATASET_SOURCE,
            c.year,
            "dataset",
            pue=pue,
            wue=wue,
            **_country_fields(c),
        )
    avg, year = world_average()
    return GridFactor(
        round(avg, 1), "World (generation-weighted average)", DATASET_SOURCE, year, "defaulted", pue=pue, wue=wue
    )


def _country_fields(c: Country | None) -> dict[str, str | None]:
    """GridFactor's country_name, country_iso3 and country_iso2."""
    return {
        "country_name": c.name if c else None,
        "country_iso3": c.iso3 if c else None,
        "country_iso2": (c.iso2 or None) if c else None,
    }
