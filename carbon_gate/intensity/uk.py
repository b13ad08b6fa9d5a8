"""National Grid ESO's Carbon Intensity API for Great Britain (api.carbonintensity.org.uk), no key.

    GET /intensity                     {"data": [{"from", "to", "intensity": {"forecast", "actual", "index"}}]}
    GET /intensity/{from}/fw48h        the same list, half-hourly, 48 h ahead (actual is null ahead)
    GET /regional/regionid/{id}        {"data": [{"regionid", "shortname", "data": [{"from", "to", "intensity"}]}]}
    GET /regional/intensity/{from}/fw48h/regionid/{id}
                                       {"data": {"regionid", "shortname", "data": [...]}}
    (postcode/{outward code} in place of regionid/{id} for a postcode area)

Zones: `national` (default), a region id 1-17, or an outward postcode such as `RG10`. The figures
are the operational CO2 of generation (no lifecycle share), in gCO2/kWh.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from . import Point, ProviderError, iso, number, parse_time
from .http import get_json

_REGION = re.compile(r"^(?:[1-9]|1[0-7])$")
_POSTCODE = re.compile(r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]?$")


class UkProvider:
    name = "uk-carbon-intensity"
    basis = "operational CO2 of GB generation (National Grid ESO), no lifecycle share"

    def __init__(self, base: str, timeout: float):
        self.base = base
        self.timeout = timeout

    def latest(self, zone: str) -> Point:
        kind, ident = _zone(zone)
        if kind == "national":
            rows = _rows(get_json(f"{self.base}/intensity", timeout=self.timeout))
        else:
            rows = _regional_rows(get_json(f"{self.base}/regional/{kind}/{ident}", timeout=self.timeout))
        return _points(rows)[-1]

    def forecast(self, zone: str, now: dt.datetime, hours: float) -> list[Point]:
        kind, ident = _zone(zone)
        start = iso(now.replace(second=0, microsecond=0))
        if kind == "national":
            rows = _rows(get_json(f"{self.base}/intensity/{start}/fw48h", timeout=self.timeout))
        else:
            rows = _regional_rows(
                get_json(f"{self.base}/regional/intensity/{start}/fw48h/{kind}/{ident}", timeout=self.timeout)
            )
        return _points(rows)


def _zone(zone: str) -> tuple[str, str]:
    z = (zone or "national").strip()
    if z.lower() in ("national", "gb", "uk", "gbr"):
        return "national", ""
    if _REGION.match(z):
        return "regionid", z
    if _POSTCODE.match(z):
        return "postcode", z.upper()
    raise ProviderError(
        f"unknown GB zone {zone[:40]!r}: expected national, a region id 1-17 or an outward postcode like RG10"
    )


def _rows(doc: Any) -> list[Any]:
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list) or not data:
        raise ProviderError(
            "malformed answer: no 'data' list" if not isinstance(data, list) else "the answer held no data"
        )
    return data


def _regional_rows(doc: Any) -> list[Any]:
    data = doc.get("data") if isinstance(doc, dict) else None
    region = data[0] if isinstance(data, list) and data else data  # a list for "now", an object for fw48h
    rows = region.get("data") if isinstance(region, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ProviderError(
            "malformed answer: no regional 'data' list" if not isinstance(rows, list) else "the answer held no data"
        )
    return rows


def _points(rows: list[Any]) -> list[Point]:
    out = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("intensity"), dict):
            raise ProviderError("malformed answer: a period without 'intensity'")
        i = row["intensity"]
        value = i.get("actual") if i.get("actual") is not None else i.get("forecast")
        out.append(Point(parse_time(row.get("from")), parse_time(row.get("to")), number(value, "intensity")))
    return out
