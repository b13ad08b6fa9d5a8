"""Grid carbon intensity from the outside world: live figures and forecasts (issue 17).

One small interface, four providers: `uk-carbon-intensity` (National Grid ESO, no key),
`electricitymaps` (key from an environment variable the config names), `watttime` (login, then the
marginal signal) and `dataset` (the packaged annual figures, always offline). Everything here is an
edge: it talks HTTP. What to do with the answers (windows, savings, deferral) is pure, in
`carbon_gate.shifting`.

A provider never fails the gate: `read()` returns a `Reading` whose `error` says why no figure came,
and the caller keeps the pinned intensity. Answers are cached on disk once per job (see `cache`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any, Literal, Protocol, TypeGuard, get_args

ProviderName = Literal["none", "dataset", "uk-carbon-intensity", "electricitymaps", "watttime"]
GateOn = Literal["pinned", "live"]  # which figure CO2e and the gate use: the pinned one, or a live reading
ReadingKind = Literal["latest", "forecast"]

PROVIDERS: tuple[ProviderName, ...] = get_args(ProviderName)
LEGACY_LIVE: dict[str, ProviderName] = {"uk": "uk-carbon-intensity"}  # grid.live's older spelling
DEFAULT_TIMEOUT_S = 5.0


class ProviderError(Exception):
    """A provider gave no usable answer; the message says why, never contains a key."""


@dataclass(frozen=True)
class CarbonAware:
    """The carbon-aware part of `grid:` in carbon-gate.yml."""

    provider: ProviderName = "none"
    _: KW_ONLY
    zone: str | None = None  # provider's zone/region; default from grid.country where that makes sense
    latitude: float | None = None
    longitude: float | None = None
    key_env: str | None = None  # the NAME of the variable holding the key, never the key
    user_env: str | None = None  # watttime's user name variable
    timeout_s: float = DEFAULT_TIMEOUT_S
    gate_on: GateOn = "pinned"
    candidates: tuple[str, ...] = ()
    advise_above_wh: float = 1000.0
    window_s: float = 24 * 3600.0

    @property
    def enabled(self) -> bool:
        return self.provider not in ("none",)


@dataclass(frozen=True)
class Point:
    """The intensity over [start, end), UTC."""

    start: dt.datetime
    end: dt.datetime
    g_per_kwh: float

    def to_list(self) -> list[str | float]:
        return [iso(self.start), iso(self.end), round(self.g_per_kwh, 3)]


@dataclass(frozen=True)
class Reading:
    """One provider answer (or why there is none): `kind` latest holds one point, forecast many."""

    provider: str
    zone: str
    kind: ReadingKind
    points: tuple[Point, ...] = ()
    fetched_at: str = ""
    error: str | None = None
    basis: str = ""  # what the figure counts: lifecycle, operational CO2, marginal
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.points)

    def to_dict(self, with_points: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "provider": self.provider,
            "zone": self.zone,
            "kind": self.kind,
            "fetched_at": self.fetched_at,
            "error": self.error,
            "basis": self.basis,
            "cached": self.cached,
        }
        if with_points:
            d["points"] = [p.to_list() for p in self.points]
        return d

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Reading:
        points = tuple(Point(parse_time(a), parse_time(b), float(g)) for a, b, g in d.get("points") or ())
        kind = d["kind"]
        if kind not in get_args(ReadingKind):
            raise ValueError(f"not a kind of reading: {kind!r}")
        return Reading(
            str(d["provider"]),
            str(d["zone"]),
            kind,
            points,
            str(d.get("fetched_at") or ""),
            d.get("error"),
            str(d.get("basis") or ""),
            bool(d.get("cached")),
        )


class Provider(Protocol):
    """What every provider offers. Both methods raise ProviderError; neither ever returns nothing."""

    name: str
    basis: str

    def latest(self, zone: str) -> Point: ...

    def forecast(self, zone: str, now: dt.datetime, hours: float) -> list[Point]: ...


def is_provider(name: str) -> TypeGuard[ProviderName]:
    """Whether `name` is one of PROVIDERS (for names from outside the config: the command line)."""
    return name in PROVIDERS


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def parse_time(text: Any) -> dt.datetime:
    """An ISO-8601 time from a provider ('2026-12-02T03:30Z', '...:00.000Z', '+00:00'), as aware UTC."""
    if not isinstance(text, str) or not text:
        raise ProviderError(f"malformed answer: expected a time, got {str(text)[:40]!r}")
    s = text.strip().replace("Z", "+00:00")
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        raise ProviderError(f"malformed answer: unreadable time {text[:40]!r}") from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def number(value: Any, what: str) -> float:
    """A finite, non-negative number from a provider, or ProviderError (schema drift, nulls, strings)."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ProviderError(f"malformed answer: {what} is {str(value)[:40]!r}, not a number")
    return float(value)


def default_zone(settings: CarbonAware, country: str | None) -> str:
    """The zone asked for: the configured one, lat/lon, or what the pinned country implies."""
    if settings.zone:
        return settings.zone
    if settings.latitude is not None and settings.longitude is not None:
        return f"{settings.latitude:g},{settings.longitude:g}"
    if settings.provider == "uk-carbon-intensity":
        return "national"
    if country:
        from ..grid import UnknownCountry, find_country

        try:
            c = find_country(country)
            return c.iso2 or c.iso3
        except UnknownCountry:
            return country
    return ""


def make_provider(settings: CarbonAware, env: Mapping[str, str], api_url: str | None = None) -> Provider:
    """The provider the settings choose, with its base URL (official unless overridden outside the
    config: `api_url`, or the provider's CARBON_GATE_*_URL variable) and its credentials from `env`."""
    from . import electricitymaps, uk, watttime
    from .dataset import DatasetProvider
    from .http import base_url

    name = settings.provider
    if name == "uk-carbon-intensity":
        return uk.UkProvider(base_url(name, api_url, env), settings.timeout_s)
    if name == "electricitymaps":
        var = settings.key_env or electricitymaps.DEFAULT_KEY_ENV
        return electricitymaps.ElectricityMapsProvider(
            base_url(name, api_url, env), settings.timeout_s, var, env.get(var)
        )
    if name == "watttime":
        user_var = settings.user_env or watttime.DEFAULT_USER_ENV
        pass_var = settings.key_env or watttime.DEFAULT_PASSWORD_ENV
        return watttime.WattTimeProvider(
            base_url(name, api_url, env), settings.timeout_s, user_var, env.get(user_var), pass_var, env.get(pass_var)
        )
    return DatasetProvider()


def read(
    settings: CarbonAware,
    kind: ReadingKind,
    *,
    country: str | None = None,
    zone: str | None = None,
    env: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
    hours: float = 48.0,
    api_url: str | None = None,
    use_cache: bool = True,
) -> Reading:
    """Ask the configured provider for the `latest` figure or a `forecast`; never raises for the
    provider's sake: a failure is a Reading with `error` set (the caller falls back to the pinned
    figure and says so). One answer per job, per provider, zone and kind, is cached on disk."""
    from . import cache

    environ = os.environ if env is None else env
    now = now or dt.datetime.now(dt.timezone.utc)
    zone = zone or default_zone(settings, country)
    from .http import url_env

    # The override is part of the key: a test server's answer is never reused for the real host.
    key = (
        settings.provider,
        zone,
        kind,
        api_url or environ.get(url_env(settings.provider), "")
        if settings.provider in ("uk-carbon-intensity", "electricitymaps", "watttime")
        else "",
    )
    if use_cache:
        hit = cache.load(key, environ, now)
        if hit is not None:
            return hit
    provider: Provider | None = None
    try:
        provider = make_provider(settings, environ, api_url)
        if kind == "latest":
            points: tuple[Point, ...] = (provider.latest(zone),)
        else:
            points = tuple(sorted(provider.forecast(zone, now, hours), key=lambda p: p.start))
            if not points:
                raise ProviderError("the forecast was empty")
        reading = Reading(settings.provider, zone, kind, points, iso_seconds(now), None, provider.basis)
    except ProviderError as exc:
        reading = Reading(
            settings.provider,
            zone,
            kind,
            (),
            iso_seconds(now),
            str(exc),
            provider.basis if provider is not None else "",
        )
    if use_cache:
        cache.store(key, reading, environ, now)
    return reading


def iso_seconds(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


__all__ = [
    "PROVIDERS",
    "CarbonAware",
    "Point",
    "Provider",
    "ProviderError",
    "Reading",
    "default_zone",
    "make_provider",
    "read",
]
