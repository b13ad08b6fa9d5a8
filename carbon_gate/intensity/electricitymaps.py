"""Electricity Maps API v3 (api.electricitymaps.com/v3), key in the `auth-token` header.

    GET /carbon-intensity/latest?zone=DE     {"zone", "carbonIntensity", "datetime", "updatedAt",
                                              "emissionFactorType", "isEstimated", ...}
    GET /carbon-intensity/history?zone=DE    {"zone", "history": [<same as latest>, ...]}   (the last 24 h)
    GET /carbon-intensity/forecast?zone=DE   {"zone", "forecast": [{"carbonIntensity", "datetime"}, ...], "updatedAt"}
    lat=..&lon=.. instead of zone; emissionFactorType=lifecycle (the default) matches the packaged dataset.

The forecast needs a plan that includes it: a 401/403 there is reported as such, never invented.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

from . import Point, ProviderError, number, parse_time
from .http import get_json

DEFAULT_KEY_ENV = "ELECTRICITYMAPS_API_KEY"
_ZONE = re.compile(r"^[A-Za-z]{2}(?:-[A-Za-z0-9]{1,10}){0,3}$")
_LATLON = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")


class ElectricityMapsProvider:
    name = "electricitymaps"
    basis = "lifecycle (Electricity Maps, emissionFactorType=lifecycle)"

    def __init__(self, base: str, timeout: float, key_env: str, key: str | None):
        self.base = base
        self.timeout = timeout
        self.key_env = key_env
        self.key = key

    def _get(self, path: str, zone: str) -> Any:
        if not self.key:
            raise ProviderError(
                f"no key: the environment variable {self.key_env} is not set (store the key as a secret)"
            )
        return get_json(
            f"{self.base}/{path}",
            timeout=self.timeout,
            params={**_where(zone), "emissionFactorType": "lifecycle"},
            headers={"auth-token": self.key},
            key_hint=f"the key in {self.key_env}",
        )

    def latest(self, zone: str) -> Point:
        doc = self._get("carbon-intensity/latest", zone)
        if not isinstance(doc, dict):
            raise ProviderError("malformed answer: expected an object")
        if doc.get("carbonIntensity") is None and doc.get("datetime") is None:
            raise ProviderError("the answer held no data (no carbonIntensity)")
        t = parse_time(doc.get("datetime"))
        return Point(t, t + dt.timedelta(hours=1), number(doc.get("carbonIntensity"), "carbonIntensity"))

    def history(self, zone: str) -> list[Point]:
        doc = self._get("carbon-intensity/history", zone)
        return _series(doc, "history")

    def forecast(self, zone: str, now: dt.datetime, hours: float) -> list[Point]:
        doc = self._get("carbon-intensity/forecast", zone)
        return _series(doc, "forecast")


def _where(zone: str) -> dict[str, str]:
    m = _LATLON.match(zone or "")
    if m:
        return {"lat": m.group(1), "lon": m.group(2)}
    if not _ZONE.match(zone or ""):
        raise ProviderError(
            f"unknown Electricity Maps zone {str(zone)[:40]!r}: expected a zone such as DE or US-CAL-CISO"
        )
    return {"zone": zone}


def _series(doc: Any, key: str) -> list[Point]:
    rows = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ProviderError(f"malformed answer: no {key!r} list")
    if not rows:
        raise ProviderError(f"the {key} was empty")
    times, values = [], []
    for row in rows:
        if not isinstance(row, dict):
            raise ProviderError(f"malformed answer: a {key} entry is not an object")
        times.append(parse_time(row.get("datetime")))
        values.append(number(row.get("carbonIntensity"), "carbonIntensity"))
    # Each value holds until the next one (hourly in practice; the last one is given the same step).
    step = min((b - a for a, b in itertools.pairwise(times) if b > a), default=dt.timedelta(hours=1))
    ends = [*times[1:], times[-1] + step]
    return [Point(t, e, v) for t, e, v in zip(times, ends, values) if e > t]
