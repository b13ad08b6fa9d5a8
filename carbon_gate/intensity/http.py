"""HTTP for the providers: the base-URL policy, one GET with a short timeout, errors as sentences.

The config comes from the pull request and must never choose where a key is sent: it can only pick
a provider, and each provider talks to its official host. Tests and mirrors override the host from
outside the config, with `--api-url` or the provider's CARBON_GATE_*_URL variable (set by whoever
writes the workflow). Redirects are never followed: requests would carry a custom header such as
Electricity Maps' `auth-token` to wherever a 30x points.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from . import ProviderError

OFFICIAL = {
    "uk-carbon-intensity": ("https://api.carbonintensity.org.uk", ("api.carbonintensity.org.uk",)),
    "electricitymaps": ("https://api.electricitymaps.com/v3", ("api.electricitymaps.com", "api.electricitymap.org")),
    "watttime": ("https://api.watttime.org", ("api.watttime.org",)),
}
MAX_BODY = 4 * 1024 * 1024  # a 48 h forecast is a few kB; anything this big is not an answer


def url_env(provider: str) -> str:
    """The variable that overrides a provider's base URL, e.g. CARBON_GATE_ELECTRICITYMAPS_URL."""
    return "CARBON_GATE_" + provider.upper().replace("-", "_") + "_URL"


def base_url(provider: str, override: str | None, env: Mapping[str, str]) -> str:
    """The official base URL, or an override from the command line / environment (never the config).

    An override must be https, or plain http to this machine (a local test server): a key is never
    sent in clear text over a network."""
    official, _hosts = OFFICIAL[provider]
    chosen = override or env.get(url_env(provider)) or official
    parts = urlsplit(chosen)
    if parts.scheme == "https" and parts.hostname:
        return chosen.rstrip("/")
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return chosen.rstrip("/")
    raise ProviderError(f"refusing the API URL {chosen[:80]!r}: it must be https, or http to this machine")


def is_official(provider: str, url: str) -> bool:
    return (urlsplit(url).hostname or "") in OFFICIAL[provider][1]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def get_json(
    url: str,
    *,
    timeout: float,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    key_hint: str = "",
) -> Any:
    """GET `url` and decode its JSON; ProviderError says what went wrong in words a user can act on
    (refused key, rate limit, server error, timeout, not JSON). The key never appears in a message."""
    import requests

    try:
        r = requests.get(
            url,
            params=params,
            headers=dict(headers or {}),
            auth=auth,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout:
        raise ProviderError(f"no answer within {timeout:g} s") from None
    except requests.RequestException as exc:
        raise ProviderError(f"could not connect ({type(exc).__name__})") from None
    with r:
        status = r.status_code
        if status in (401, 403):
            raise ProviderError(
                f"the provider refused the credentials (HTTP {status})" + (f": check {key_hint}" if key_hint else "")
            )
        if status == 429:
            retry = r.headers.get("Retry-After", "")
            raise ProviderError(
                "rate limited (HTTP 429)" + (f"; retry after {retry[:20]} s" if retry.isdigit() else "")
            )
        if status >= 500:
            raise ProviderError(f"the provider had a server error (HTTP {status})")
        if 300 <= status < 400:
            raise ProviderError(f"the provider answered with a redirect (HTTP {status}); not followed")
        if status != 200:
            raise ProviderError(f"the provider answered HTTP {status}")
        try:
            body = r.raw.read(MAX_BODY + 1, decode_content=True)
        except (requests.RequestException, OSError) as exc:
            raise ProviderError(f"the answer broke off ({type(exc).__name__})") from None
        except Exception as exc:  # noqa: BLE001 - urllib3 read timeouts and protocol errors have many types
            raise ProviderError(f"the answer broke off ({type(exc).__name__})") from None
    if len(body) > MAX_BODY:
        raise ProviderError("the answer was larger than any real one; ignored")
    import json

    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProviderError("malformed answer: not JSON") from None
