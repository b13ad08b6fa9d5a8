"""WattTime API v3 (api.watttime.org): HTTP basic login for a short-lived token, then the signal.

    GET /login                      (basic auth)  {"token": "..."}  valid for 30 minutes
    GET /v3/forecast?region=CAISO_NORTH&signal_type=co2_moer   (Authorization: Bearer <token>)
        {"data": [{"point_time", "value"}, ...], "meta": {"region", "signal_type", "units": "lbs_co2_per_mwh",
                                                          "data_point_period_seconds": 300, "generated_at", ...}}

The figure is the *marginal* operating emissions rate (MOER) of the region, converted from lb/MWh to
g/kWh. It answers "what does one more kWh now emit", not the average mix the dataset pins, so it is
reported beside the pinned figure, never instead of it unless the config asks. Forecasts outside the
free preview region (CAISO_NORTH) need a WattTime subscription.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from . import Point, ProviderError, number, parse_time
from .http import get_json

DEFAULT_USER_ENV = "WATTTIME_USER"
DEFAULT_PASSWORD_ENV = "WATTTIME_PASSWORD"
LB_PER_MWH_TO_G_PER_KWH = 0.45359237  # 453.59237 g per lb / 1000 kWh per MWh
_UNITS = {"lbs_co2_per_mwh": LB_PER_MWH_TO_G_PER_KWH, "kg_co2_per_mwh": 1.0, "g_co2_per_kwh": 1.0}
_REGION = re.compile(r"^[A-Za-z0-9_]{2,40}$")


class WattTimeProvider:
    name = "watttime"
    basis = "marginal operating emissions rate (WattTime MOER)"

    def __init__(
        self, base: str, timeout: float, user_env: str, user: str | None, password_env: str, password: str | None
    ):
        self.base = base
        self.timeout = timeout
        self.user_env, self.user = user_env, user
        self.password_env, self.password = password_env, password
        self._token: str | None = None

    def _login(self) -> str:
        if self._token:
            return self._token
        if not self.user or not self.password:
            missing = " and ".join(
                v for v, x in ((self.user_env, self.user), (self.password_env, self.password)) if not x
            )
            raise ProviderError(f"no login: {missing} not set (store them as secrets)")
        doc = get_json(
            f"{self.base}/login",
            timeout=self.timeout,
            auth=(self.user, self.password),
            key_hint=f"{self.user_env} and {self.password_env}",
        )
        token = doc.get("token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise ProviderError("malformed answer: the login gave no token")
        self._token = token
        return token

    def _forecast_doc(self, zone: str, hours: float) -> Any:
        if not _REGION.match(zone or ""):
            raise ProviderError(f"unknown WattTime region {str(zone)[:40]!r}: set grid.zone, e.g. CAISO_NORTH")
        token = self._login()
        return get_json(
            f"{self.base}/v3/forecast",
            timeout=self.timeout,
            params={"region": zone, "signal_type": "co2_moer", "horizon_hours": str(max(0, min(72, round(hours))))},
            headers={"Authorization": f"Bearer {token}"},
            key_hint="the WattTime plan (forecasts need a subscription)",
        )

    def latest(self, zone: str) -> Point:
        return self.forecast(zone, dt.datetime.now(dt.timezone.utc), 0)[0]

    def forecast(self, zone: str, now: dt.datetime, hours: float) -> list[Point]:
        doc = self._forecast_doc(zone, hours)
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            raise ProviderError("malformed answer: no 'data' list")
        meta = doc["meta"] if isinstance(doc.get("meta"), dict) else {}
        units = meta.get("units", "lbs_co2_per_mwh")
        if units not in _UNITS:
            raise ProviderError(f"unexpected units {str(units)[:40]!r} (expected lbs_co2_per_mwh)")
        period = meta.get("data_point_period_seconds", 300)
        step = dt.timedelta(seconds=number(period, "data_point_period_seconds") or 300)
        out = []
        for row in doc["data"]:
            if not isinstance(row, dict):
                raise ProviderError("malformed answer: a data point is not an object")
            t = parse_time(row.get("point_time"))
            out.append(Point(t, t + step, number(row.get("value"), "value") * _UNITS[units]))
        if not out:
            raise ProviderError("the forecast was empty")
        return out
