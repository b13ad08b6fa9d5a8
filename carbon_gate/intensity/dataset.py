"""The packaged annual dataset (Ember/OWID) behind the provider interface: always there, never live."""

from __future__ import annotations

import datetime as dt

from . import Point, ProviderError


class DatasetProvider:
    name = "dataset"
    basis = "annual lifecycle average (Ember/OWID)"

    def latest(self, zone: str) -> Point:
        from ..grid import UnknownCountry, find_country

        try:
            c = find_country(zone)
        except UnknownCountry as exc:
            raise ProviderError(str(exc)) from None
        start = dt.datetime(c.year, 1, 1, tzinfo=dt.timezone.utc)
        return Point(start, start.replace(year=c.year + 1), c.g_per_kwh)

    def forecast(self, zone: str, now: dt.datetime, hours: float) -> list[Point]:
        raise ProviderError(
            "the packaged annual dataset has no forecast (choose grid.provider uk-carbon-intensity, "
            "electricitymaps or watttime)"
        )
