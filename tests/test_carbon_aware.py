"""Carbon-aware providers, caching, shifting and defer (issue 17), against a real local HTTP server.

Every provider talks real HTTP (requests) to pytest-httpserver on 127.0.0.1, which replays answers
shaped like the providers' public documentation: National Grid ESO's Carbon Intensity API, Electricity
Maps v3 and WattTime v3. Nothing here touches the network.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Response

from carbon_gate import intensity
from carbon_gate.forecast import run_forecast
from carbon_gate.intensity import CarbonAware, ProviderError, Reading
from carbon_gate.intensity.http import base_url
from carbon_gate.shifting import best_start

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 2, 10, 10, tzinfo=UTC)
T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _z(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%MZ")


def uk_period(start: dt.datetime, forecast: float, actual: float | None = None, index: str = "moderate") -> dict:
    return {
        "from": _z(start),
        "to": _z(start + dt.timedelta(minutes=30)),
        "intensity": {"forecast": forecast, "actual": actual, "index": index},
    }


def uk_48h(start: dt.datetime = T0) -> dict:
    """96 half-hours from `start`: 250 g/kWh, the current period 300, a trough of 100/90/110/120 from
    14:00 to 16:00, and a deeper one (50) at 03:00-05:00 the next day, beyond a 12 h deadline."""
    values = {0: 300.0, 8: 100.0, 9: 90.0, 10: 110.0, 11: 120.0}
    values.update(dict.fromkeys(range(34, 38), 50.0))
    return {"data": [uk_period(start + dt.timedelta(minutes=30 * i), values.get(i, 250.0)) for i in range(96)]}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache, and no CI job identity from the machine running the tests."""
    monkeypatch.setenv("CARBON_GATE_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "cache"


def env(httpserver: HTTPServer, **extra: str) -> dict[str, str]:
    import os

    url = httpserver.url_for("").rstrip("/")
    return {
        "CARBON_GATE_CACHE_DIR": os.environ["CARBON_GATE_CACHE_DIR"],
        "CARBON_GATE_UK_CARBON_INTENSITY_URL": url,
        "CARBON_GATE_ELECTRICITYMAPS_URL": url + "/v3",
        "CARBON_GATE_WATTTIME_URL": url,
        **extra,
    }


# ---------------------------------------------------------------- uk-carbon-intensity


def test_uk_latest_prefers_the_actual_figure(httpserver: HTTPServer, cache):
    httpserver.expect_request("/intensity").respond_with_json({"data": [uk_period(T0, 300, 287, "high")]})
    r = intensity.read(CarbonAware("uk-carbon-intensity"), "latest", env=env(httpserver), now=NOW)
    assert r.ok and r.points[0].g_per_kwh == 287 and r.zone == "national"
    assert "operational" in r.basis


def test_uk_regional_shapes_now_list_and_fw48h_object(httpserver: HTTPServer, cache):
    now_doc = {
        "data": [
            {
                "regionid": 13,
                "dnoregion": "UKPN London",
                "shortname": "London",
                "data": [{**uk_period(T0, 181), "generationmix": [{"fuel": "gas", "perc": 40.1}]}],
            }
        ]
    }
    ahead = {
        "data": {
            "regionid": 13,
            "dnoregion": "UKPN London",
            "shortname": "London",
            "data": [{**uk_period(T0 + dt.timedelta(minutes=30 * i), 200 - i), "generationmix": []} for i in range(4)],
        }
    }
    httpserver.expect_request("/regional/regionid/13").respond_with_json(now_doc)
    httpserver.expect_request(f"/regional/intensity/{_z(NOW)}/fw48h/regionid/13").respond_with_json(ahead)
    httpserver.expect_request("/regional/postcode/RG10").respond_with_json(now_doc)
    settings = CarbonAware("uk-carbon-intensity", zone="13")
    assert intensity.read(settings, "latest", env=env(httpserver), now=NOW).points[0].g_per_kwh == 181
    f = intensity.read(settings, "forecast", env=env(httpserver), now=NOW)
    assert [p.g_per_kwh for p in f.points] == [200, 199, 198, 197]
    assert intensity.read(CarbonAware("uk-carbon-intensity", zone="RG10"), "latest", env=env(httpserver), now=NOW).ok


def test_uk_unknown_zone_is_a_note_not_a_request(httpserver: HTTPServer, cache):
    r = intensity.read(CarbonAware("uk-carbon-intensity", zone="../../etc"), "latest", env=env(httpserver), now=NOW)
    assert not r.ok and "unknown GB zone" in r.error
    assert len(httpserver.log) == 0


# ---------------------------------------------------------------- failures, for every provider

FAILURES = [
    (
        "401",
        lambda: Response('{"error": "Unauthorized"}', 401, content_type="application/json"),
        "refused the credentials",
    ),
    (
        "429",
        lambda: Response("slow down", 429, headers={"Retry-After": "30"}),
        r"rate limited \(HTTP 429\); retry after 30 s",
    ),
    ("500", lambda: Response("oops", 500), r"server error \(HTTP 500\)"),
    ("503", lambda: Response("<html>maintenance</html>", 503, content_type="text/html"), r"server error \(HTTP 503\)"),
    ("not json", lambda: Response("<html>hello</html>", 200, content_type="text/html"), "malformed answer: not JSON"),
    (
        "empty data",
        lambda: Response('{"data": [], "history": [], "forecast": []}', 200, content_type="application/json"),
        "empty|no data",
    ),
    (
        "schema drift",
        lambda: Response('{"data": {"unexpected": true}, "forecast": "soon"}', 200, content_type="application/json"),
        "malformed answer|no data",
    ),
    (
        "null intensity",
        lambda: Response(
            json.dumps(
                {
                    "data": [uk_period(T0, None)],
                    "zone": "DE",
                    "carbonIntensity": None,
                    "datetime": "2026-12-02T10:00:00.000Z",
                }
            ),
            200,
            content_type="application/json",
        ),
        "malformed answer|no data",
    ),
    ("redirect", lambda: Response("", 302, headers={"Location": "http://127.0.0.1:9/steal"}), "redirect"),
]


def _respond_everywhere(httpserver: HTTPServer, make) -> None:
    httpserver.expect_request("/login").respond_with_json({"token": "tok-123"})
    httpserver.expect_request(re.compile("^/(?!login).*")).respond_with_handler(lambda request: make())


@pytest.mark.parametrize(
    "provider,zone", [("uk-carbon-intensity", "national"), ("electricitymaps", "DE"), ("watttime", "CAISO_NORTH")]
)
@pytest.mark.parametrize("case,make,expected", FAILURES, ids=[f[0] for f in FAILURES])
def test_provider_failures_become_notes(httpserver: HTTPServer, cache, provider, zone, case, make, expected):
    _respond_everywhere(httpserver, make)
    secrets = {"ELECTRICITYMAPS_API_KEY": "em-secret-key", "WATTTIME_USER": "me", "WATTTIME_PASSWORD": "wt-secret-pw"}
    for kind in ("latest", "forecast"):
        r = intensity.read(
            CarbonAware(provider, zone=zone), kind, env=env(httpserver, **secrets), now=NOW, use_cache=False
        )
        assert not r.ok, (kind, r)
        assert re.search(expected, r.error), (kind, r.error)
        assert "secret" not in r.error
    assert "/steal" not in str(httpserver.log)


def test_a_provider_that_does_not_answer_in_time_is_a_timeout_note(httpserver: HTTPServer, cache):
    def slow(request):
        time.sleep(1.5)
        return Response(json.dumps(uk_48h()), 200, content_type="application/json")

    httpserver.expect_request("/intensity").respond_with_handler(slow)
    started = time.monotonic()
    r = intensity.read(CarbonAware("uk-carbon-intensity", timeout_s=0.3), "latest", env=env(httpserver), now=NOW)
    assert not r.ok and r.error == "no answer within 0.3 s"
    assert time.monotonic() - started < 1.4  # it gave up before the server answered


def test_a_server_that_is_down_is_a_connection_note(cache):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    e = {"CARBON_GATE_UK_CARBON_INTENSITY_URL": f"http://127.0.0.1:{port}"}
    r = intensity.read(CarbonAware("uk-carbon-intensity"), "latest", env=e, now=NOW, use_cache=False)
    assert not r.ok and r.error.startswith("could not connect")


# ---------------------------------------------------------------- electricitymaps


def test_electricitymaps_sends_the_key_from_the_named_variable_and_asks_for_lifecycle(httpserver: HTTPServer, cache):
    latest = {
        "zone": "DE",
        "carbonIntensity": 302,
        "datetime": "2026-12-02T10:00:00.000Z",
        "updatedAt": "2026-12-02T09:51:20.062Z",
        "createdAt": "2026-11-29T10:00:00.000Z",
        "emissionFactorType": "lifecycle",
        "isEstimated": True,
        "estimationMethod": "TIME_SLICER_AVERAGE",
    }
    forecast = {
        "zone": "DE",
        "forecast": [
            {"carbonIntensity": 320 - 10 * i, "datetime": _z(T0 + dt.timedelta(hours=i)).replace("Z", ":00.000Z")}
            for i in range(24)
        ],
        "updatedAt": "2026-12-02T09:00:00.000Z",
    }
    httpserver.expect_request(
        "/v3/carbon-intensity/latest",
        headers={"auth-token": "k-123"},
        query_string={"zone": "DE", "emissionFactorType": "lifecycle"},
    ).respond_with_json(latest)
    httpserver.expect_request(
        "/v3/carbon-intensity/forecast",
        headers={"auth-token": "k-123"},
        query_string={"zone": "DE", "emissionFactorType": "lifecycle"},
    ).respond_with_json(forecast)
    httpserver.expect_request(
        "/v3/carbon-intensity/latest",
        headers={"auth-token": "k-123"},
        query_string={"lat": "48.85", "lon": "2.35", "emissionFactorType": "lifecycle"},
    ).respond_with_json({**latest, "zone": "FR", "carbonIntensity": 33})
    settings = CarbonAware("electricitymaps", key_env="CARBON_GATE_EM_KEY")
    e = env(httpserver, CARBON_GATE_EM_KEY="k-123")
    r = intensity.read(settings, "latest", country="Germany", env=e, now=NOW)
    assert r.ok and r.zone == "DE" and r.points[0].g_per_kwh == 302 and "lifecycle" in r.basis
    f = intensity.read(settings, "forecast", country="DE", env=e, now=NOW)
    assert len(f.points) == 24 and f.points[1].start - f.points[0].start == dt.timedelta(hours=1)
    assert f.points[-1].end == f.points[-1].start + dt.timedelta(hours=1)
    located = CarbonAware("electricitymaps", latitude=48.85, longitude=2.35, key_env="CARBON_GATE_EM_KEY")
    assert intensity.read(located, "latest", env=e, now=NOW).points[0].g_per_kwh == 33


def test_electricitymaps_without_its_key_asks_nobody(httpserver: HTTPServer, cache):
    r = intensity.read(CarbonAware("electricitymaps", zone="DE"), "latest", env=env(httpserver), now=NOW)
    assert not r.ok and "ELECTRICITYMAPS_API_KEY is not set" in r.error
    assert len(httpserver.log) == 0


# ---------------------------------------------------------------- watttime


def test_watttime_logs_in_then_converts_the_marginal_signal(httpserver: HTTPServer, cache):
    import base64

    basic = "Basic " + base64.b64encode(b"me:pw").decode()
    httpserver.expect_request("/login", headers={"Authorization": basic}).respond_with_json({"token": "jwt-1"})
    doc = {
        "data": [
            {"point_time": (T0 + dt.timedelta(minutes=5 * i)).isoformat(), "value": 1000.0 - i} for i in range(12)
        ],
        "meta": {
            "data_point_period_seconds": 300,
            "region": "CAISO_NORTH",
            "signal_type": "co2_moer",
            "units": "lbs_co2_per_mwh",
            "generated_at": T0.isoformat(),
            "model": {"date": "2026-03-01"},
        },
    }
    httpserver.expect_request("/v3/forecast", headers={"Authorization": "Bearer jwt-1"}).respond_with_json(doc)
    e = env(httpserver, WATTTIME_USER="me", WATTTIME_PASSWORD="pw")
    f = intensity.read(CarbonAware("watttime", zone="CAISO_NORTH"), "forecast", env=e, now=NOW)
    assert f.ok and len(f.points) == 12 and "marginal" in f.basis
    assert f.points[0].g_per_kwh == pytest.approx(1000 * 0.45359237)  # lb/MWh → g/kWh
    assert f.points[0].end - f.points[0].start == dt.timedelta(minutes=5)


def test_watttime_rejected_login(httpserver: HTTPServer, cache):
    httpserver.expect_request("/login").respond_with_data("Unauthorized", 403)
    e = env(httpserver, WATTTIME_USER="me", WATTTIME_PASSWORD="pw")
    r = intensity.read(CarbonAware("watttime", zone="CAISO_NORTH"), "latest", env=e, now=NOW)
    assert r.error == "the provider refused the credentials (HTTP 403): check WATTTIME_USER and WATTTIME_PASSWORD"


# ---------------------------------------------------------------- where keys may go


def test_base_url_is_official_unless_overridden_outside_the_config():
    assert base_url("electricitymaps", None, {}) == "https://api.electricitymaps.com/v3"
    assert base_url("uk-carbon-intensity", None, {}) == "https://api.carbonintensity.org.uk"
    assert base_url("watttime", None, {"CARBON_GATE_WATTTIME_URL": "http://127.0.0.1:8080/"}) == "http://127.0.0.1:8080"
    assert base_url("watttime", "https://mirror.example", {}) == "https://mirror.example"
    for bad in ("http://evil.example", "ftp://x", "file:///etc/passwd", "http://10.0.0.1"):
        with pytest.raises(ProviderError, match="refusing the API URL"):
            base_url("electricitymaps", bad, {})


def test_the_config_cannot_choose_a_url_or_point_the_key_at_another_secret(write_config):
    from carbon_gate.config import ConfigError, load

    base = "version: 1\nworkloads: [{name: a, command: 'true'}]\ngrid:\n  provider: electricitymaps\n"
    for extra, message in (
        ("  api_url: https://evil.example\n", "unknown key 'api_url'"),
        ("  key_env: GITHUB_TOKEN\n", "containing ELECTRICITYMAPS or WATTTIME"),
        ("  user_env: ACTIONS_RUNTIME_TOKEN\n", "containing ELECTRICITYMAPS or WATTTIME"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            load(write_config(base + extra))
    ok = load(write_config(base + "  key_env: ELECTRICITYMAPS_TOKEN_PROD\n  live: electricitymaps\n"))
    assert ok.grid.carbon_aware.key_env == "ELECTRICITYMAPS_TOKEN_PROD"
    assert (
        load(write_config(base.replace("provider: electricitymaps", "live: uk"))).grid.carbon_aware.provider
        == "uk-carbon-intensity"
    )


# ---------------------------------------------------------------- cache


def test_one_answer_per_job_cached_on_disk_with_its_time(httpserver: HTTPServer, cache, monkeypatch):
    httpserver.expect_request("/intensity").respond_with_json({"data": [uk_period(T0, 300, 280)]})
    e = env(httpserver, GITHUB_RUN_ID="77", GITHUB_JOB="train")
    first = intensity.read(CarbonAware("uk-carbon-intensity"), "latest", env=e, now=NOW)
    later = intensity.read(CarbonAware("uk-carbon-intensity"), "latest", env=e, now=NOW + dt.timedelta(hours=3))
    assert (first.cached, later.cached) == (False, True)
    assert later.fetched_at == "2026-12-02T10:10:00+00:00" and later.points == first.points
    assert len(httpserver.log) == 1
    other_job = intensity.read(CarbonAware("uk-carbon-intensity"), "latest", env={**e, "GITHUB_RUN_ID": "78"}, now=NOW)
    assert not other_job.cached and len(httpserver.log) == 2
    files = list(cache.glob("*.json"))
    assert files and json.loads(files[0].read_text())["reading"]["fetched_at"].startswith("2026-12-02T10:10")


def test_a_corrupt_cache_file_is_no_cache(httpserver: HTTPServer, cache):
    httpserver.expect_request("/intensity").respond_with_json({"data": [uk_period(T0, 300, 280)]})
    intensity.read(CarbonAware("uk-carbon-intensity"), "latest", env=env(httpserver), now=NOW)
    for f in cache.glob("*.json"):
        f.write_text("{not json")
    r = intensity.read(CarbonAware("uk-carbon-intensity"), "latest", env=env(httpserver), now=NOW)
    assert r.ok and not r.cached and len(httpserver.log) == 2


# ---------------------------------------------------------------- shifting: the hand-computed window


def test_forecast_picks_the_hand_computed_window_on_a_replayed_48h_uk_forecast(httpserver: HTTPServer, cache, tmp_path):
    """Now 10:10Z, a 2 h job of 3 kWh, deadline 12 h (22:10Z).

    Starting now covers 20 min of the 300 g period and 100 min at 250:
        (20·300 + 100·250) / 120 = 258.33 g/kWh → 3 kWh × 258.33 = 775 g.
    The best start is 14:00Z: (100 + 90 + 110 + 120) / 4 = 105 g/kWh → 315 g, saving 1 − 105/258.33 = 59.35 %.
    (13:30Z gives 137.5 and 14:30Z 142.5; the 50 g trough at 03:00Z tomorrow ends after the deadline.)"""
    httpserver.expect_request("/intensity").respond_with_json({"data": [uk_period(T0, 300, 296)]})
    httpserver.expect_request(f"/intensity/{_z(NOW)}/fw48h").respond_with_json(uk_48h())
    config = tmp_path / "carbon-gate.yml"
    config.write_text(
        "version: 1\ngrid:\n  country: GB\n  provider: uk-carbon-intensity\n"
        "  advice: {candidates: [FR, SE]}\nworkloads: [{name: a, command: 'true'}]\n"
    )
    lines: list[str] = []
    monkey_env = env(httpserver)
    import os

    os.environ.update(monkey_env)
    try:
        common = {
            "config_path": str(config),
            "provider": None,
            "zone": None,
            "energy": "3 kWh",
            "duration": "2h",
            "results_path": None,
            "names": (),
            "deadline": "12h",
            "defer_above": None,
            "api_url": None,
            "github_output": False,
        }
        code = run_forecast(**common, regions="IN", as_json=True, echo=lines.append, now=NOW)
        text_lines: list[str] = []
        run_forecast(**common, regions=None, as_json=False, echo=text_lines.append, now=NOW)
    finally:
        for k in monkey_env:
            os.environ.pop(k, None)
    assert code == 0
    doc = json.loads(lines[0])
    shift = doc["time_shift"]
    assert shift["now"]["g_per_kwh"] == pytest.approx((20 * 300 + 100 * 250) / 120, abs=1e-3)
    assert shift["best"] == {"start": "2026-12-02T14:00Z", "end": "2026-12-02T16:00Z", "g_per_kwh": 105.0}
    assert shift["now_co2e_g"] == pytest.approx(3 * 258.3333, abs=0.01)
    assert shift["best_co2e_g"] == pytest.approx(315.0)
    assert shift["saving_pct"] == pytest.approx((1 - 105 / 258.3333) * 100, abs=0.01)
    assert doc["grid_now_g_per_kwh"] == 296  # the live figure: the period's actual
    assert [r["zone"] for r in doc["regions"]] == ["IN", "FR", "SE"]
    assert doc["best_region"]["zone"] == "SE" and doc["best_region"]["source"].startswith("annual dataset")
    text = "\n".join(text_lines)
    assert "best start   2026-12-02T14:00Z: 105 g/kWh average → 315 g CO2e (saves 59%)" in text
    assert "grid now     296 g/kWh — uk-carbon-intensity, zone national" in text


def test_best_start_ties_go_to_the_earliest_and_gaps_are_never_guessed():
    from carbon_gate.intensity import Point

    pts = [
        Point(T0 + dt.timedelta(hours=i), T0 + dt.timedelta(hours=i + 1), g) for i, g in enumerate([200, 100, 100, 300])
    ]
    shift = best_start(pts, T0, dt.timedelta(hours=1), T0 + dt.timedelta(hours=4))
    assert shift.best.start == T0 + dt.timedelta(hours=1) and shift.saving == pytest.approx(0.5)
    gappy = [pts[0], pts[3]]
    shift = best_start(gappy, T0, dt.timedelta(hours=2), T0 + dt.timedelta(hours=4))
    assert shift.best is None and "does not cover" in shift.note
    too_long = best_start(pts, T0, dt.timedelta(hours=5), T0 + dt.timedelta(hours=4))
    assert too_long.best is None and "does not fit" in too_long.note


# ---------------------------------------------------------------- the CLI, as a user runs it


def _uk_from_now() -> dict:
    """A forecast valid for the real clock: dirty now (400), clean from 3 h ahead (120)."""
    now = dt.datetime.now(UTC)
    start = now.replace(minute=0 if now.minute < 30 else 30, second=0, microsecond=0)
    return {"data": [uk_period(start + dt.timedelta(minutes=30 * i), 400.0 if i < 6 else 120.0) for i in range(96)]}


def test_cli_defer_exit_code_and_github_outputs(httpserver: HTTPServer, cache, cli, tmp_path):
    doc = _uk_from_now()
    httpserver.expect_request("/intensity").respond_with_json({"data": doc["data"][:1]})
    httpserver.expect_request(re.compile(r"^/intensity/[0-9T:Z-]+/fw48h$")).respond_with_json(doc)
    out = tmp_path / "gh-output"
    e = {**env(httpserver), "GITHUB_OUTPUT": str(out)}
    r = cli(
        "forecast",
        "--provider",
        "uk-carbon-intensity",
        "--duration",
        "1h",
        "--deadline",
        "12h",
        "--defer-above",
        "250",
        "--github-output",
        env=e,
    )
    assert r.returncode == 75, r.stdout + r.stderr
    assert "defer        yes" in r.stdout
    outputs = out.read_text()
    assert re.search(r"defer<<(\S+)\ntrue\n\1", outputs) and "grid-intensity<<" in outputs
    assert re.search(r"defer-until<<\S+\n\d{4}-\d\d-\d\dT\d\d:\d\dZ\n", outputs)
    r = cli("forecast", "--provider", "uk-carbon-intensity", "--duration", "1h", "--defer-above", "450", env=e)
    assert r.returncode == 0 and "defer        no" in r.stdout


def test_cli_without_a_provider_falls_back_cleanly(cli, tmp_path, cache):
    r = cli("forecast", "--energy", "2 kWh", "--duration", "3h", "--regions", "FR,SE", "--defer-above", "100")
    assert r.returncode == 0, r.stderr
    assert "no forecast available" in r.stdout and "nothing invented" in r.stdout
    assert "FR: 56 g/kWh (annual dataset" in r.stdout
    assert "defer        no" in r.stdout


def test_cli_with_the_provider_down_says_so_and_does_not_defer(cli, cache):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = cli(
        "forecast",
        "--provider",
        "uk-carbon-intensity",
        "--defer-above",
        "10",
        env={"CARBON_GATE_UK_CARBON_INTENSITY_URL": f"http://127.0.0.1:{port}"},
    )
    assert r.returncode == 0, r.stderr
    assert "live figure unavailable (uk-carbon-intensity: could not connect" in r.stdout
    assert "no forecast available (could not connect" in r.stdout


def test_reading_round_trips():
    r = Reading(
        "uk-carbon-intensity",
        "national",
        "forecast",
        tuple(intensity.Point(T0, T0 + dt.timedelta(minutes=30), 1.5) for _ in range(1)),
        "x",
        None,
        "b",
    )
    assert Reading.from_dict(r.to_dict()) == r


# ---------------------------------------------------------------- `run`: the gate stays reproducible

RUN_CONFIG = """\
version: 1
grid:
  country: GB
{provider}
workloads:
  - name: pretrain
    estimate: {{accelerator: V100, count: 1, hours: 10, avg_power: 300 W}}
    budget:
      projected: {{co2e: 1 kg}}
"""


def _run(cli, tmp_path, provider: str, env_: dict[str, str]) -> tuple[int, dict, str, str]:
    (tmp_path / "carbon-gate.yml").write_text(RUN_CONFIG.format(provider=provider))
    r = cli("run", "--mode", "none", "-q", env=env_)
    doc = json.loads((tmp_path / "carbon-gate-results.json").read_text())
    return r.returncode, doc, (tmp_path / "carbon-gate-report.md").read_text(), r.stdout + r.stderr


def test_run_with_the_provider_down_keeps_the_pinned_verdict_and_says_so(cli, tmp_path, cache):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pinned_code, pinned, _, _ = _run(cli, tmp_path, "", {})
    down = {"CARBON_GATE_UK_CARBON_INTENSITY_URL": f"http://127.0.0.1:{port}"}
    code, doc, report, out = _run(cli, tmp_path, "  provider: uk-carbon-intensity", down)
    assert (code, doc["verdict"]) == (pinned_code, pinned["verdict"]) == (0, "pass"), out
    assert doc["workloads"][0]["co2e_g"] == pinned["workloads"][0]["co2e_g"]
    assert doc["grid"] == pinned["grid"]
    assert doc["carbon_aware"]["live"]["g_per_kwh"] is None
    assert "could not connect" in doc["carbon_aware"]["live"]["reading"]["error"]
    assert "live grid intensity unavailable (uk-carbon-intensity, zone national: could not connect" in report
    assert "pinned 237.589 gCO2e/kWh was used" in report
    assert "live grid intensity unavailable" in out  # the terminal summary says it too


def test_run_reports_the_live_figure_and_gates_on_it_only_when_asked(httpserver: HTTPServer, cli, tmp_path, cache):
    doc48 = _uk_from_now()
    for i in range(6, 12):  # a clean stretch 3-6 h ahead
        doc48["data"][i]["intensity"]["forecast"] = 40
    httpserver.expect_request("/intensity").respond_with_json({"data": [uk_period(T0, 410, 400)]})
    httpserver.expect_request(re.compile(r"^/intensity/[0-9T:Z-]+/fw48h$")).respond_with_json(doc48)
    e = env(httpserver)
    code, doc, report, _ = _run(cli, tmp_path, "  provider: uk-carbon-intensity\n  advice: {candidates: [FR]}", e)
    assert (code, doc["verdict"]) == (0, "pass")  # 3 kWh at the pinned 237.6 g/kWh: 0.71 kg (+ embodied)
    assert "at run time the grid was 400 gCO2e/kWh (uk-carbon-intensity, zone national" in report
    assert "the gate uses the pinned figure" in report
    assert "**Greener if**" in report and "pretrain (3 kWh): started at" in report and "run in FR" in report
    advice = doc["carbon_aware"]["advice"][0]
    assert advice["time_shift"]["best"]["g_per_kwh"] < advice["time_shift"]["now"]["g_per_kwh"]
    code, doc, report, _ = _run(cli, tmp_path, "  provider: uk-carbon-intensity\n  gate_on: live", e)
    assert (code, doc["verdict"]) == (1, "fail")  # 3 kWh at the live 400 g/kWh: 1.2 kg, over the 1 kg budget
    assert doc["grid"]["method"] == "live" and doc["grid"]["g_per_kwh"] == 400
    assert "CO2e uses the live figure" in report
    from importlib import resources

    import jsonschema

    schema = json.loads((resources.files("carbon_gate") / "data" / "results.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)


def test_estimate_compare_regions_prints_the_same_forecast_under_each_annual_intensity(cli):
    from carbon_gate.grid import find_country

    r = cli(
        "estimate",
        "--accelerator",
        "H100-SXM",
        "--count",
        "64",
        "--hours",
        "100",
        "--grid-country",
        "US",
        "--compare-regions",
        "FR,SE,US,IN",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    by = {x["region"]: x for x in doc["regions"]}
    assert list(by) == ["FR", "SE", "US", "IN"]
    for code, x in by.items():
        assert x["g_per_kwh"] == find_country(code).g_per_kwh
        assert x["co2e_kg"] == pytest.approx(doc["energy_kwh"] * x["g_per_kwh"] / 1000)
    assert by["US"]["vs_here_pct"] == 0 and by["FR"]["vs_here_pct"] < -50 < 50 < by["IN"]["vs_here_pct"]
    text = cli("estimate", "--accelerator", "H100-SXM", "--count", "64", "--hours", "100", "--compare-regions", "FR,SE")
    assert "the same run elsewhere" in text.stdout and "France (FR)" in text.stdout
    bad = cli("estimate", "--accelerator", "H100-SXM", "--count", "1", "--hours", "1", "--compare-regions", "FR,XX")
    assert bad.returncode == 2 and "unknown country 'XX'" in bad.stderr and "Traceback" not in bad.stderr


# ---------------------------------------------------------------- the action's defer step


@pytest.mark.parametrize("exit_code, duration, step_code", [(75, "3h", 0), (0, "", 0), (2, "", 2)])
def test_action_defer_step_turns_exit_75_into_an_output_not_a_failure(tmp_path, exit_code, duration, step_code):
    """action.yml's defer step, run by bash with the env its `env:` names and a stand-in carbon-gate that
    records its argv and exits like `forecast --defer-above` would."""
    import os
    import subprocess
    from pathlib import Path

    import yaml

    steps = yaml.safe_load((Path(__file__).parents[1] / "action.yml").read_text())["runs"]["steps"]
    [step] = [s for s in steps if s.get("id") == "defer"]
    [gate] = [s for s in steps if s.get("id") == "gate"]
    assert "steps.defer.outputs.defer != 'true'" in gate["if"] and "inputs.mode != 'forecast'" in gate["if"]
    assert set(step["env"]) == {"CG_CONFIG", "CG_DEFER_ABOVE", "CG_DEADLINE", "CG_JOB_DURATION"}
    bin_dir = tmp_path / "carbon-gate-venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "carbon-gate").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "$RUNNER_TEMP/argv"\nexit {exit_code}\n')
    (bin_dir / "carbon-gate").chmod(0o755)
    env_ = {
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(tmp_path),
        "CG_CONFIG": "carbon-gate.yml",
        "CG_DEFER_ABOVE": "200 $(touch pwned)",
        "CG_DEADLINE": "12h",
        "CG_JOB_DURATION": duration,
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env_, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == step_code, proc.stderr
    assert not (tmp_path / "pwned").exists()
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:5] == ["forecast", "--config", "carbon-gate.yml", "--deadline", "12h"]
    assert argv[argv.index("--defer-above") : argv.index("--defer-above") + 2] == [
        "--defer-above",
        "200 $(touch pwned)",
    ]
    assert ("--duration" in argv) == bool(duration)
    assert ("::notice title=carbon-gate::deferred" in proc.stdout) == (exit_code == 75)


def test_forecast_takes_the_job_from_a_results_file_or_an_estimate_workload(cli, tmp_path, cache):
    _run(cli, tmp_path, "", {})  # writes carbon-gate-results.json: a 3 kWh, 10 h projected run
    r = cli("forecast", "--results", "carbon-gate-results.json", "--regions", "FR", "--json")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)["job"]
    assert job["energy_wh"] == pytest.approx(3000) and job["duration_s"] == pytest.approx(36000)
    r = cli("forecast", "-w", "pretrain", "--json")  # the config's estimate workload, no results needed
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["job"]["energy_wh"] == pytest.approx(3000)
    assert json.loads(r.stdout)["pinned_g_per_kwh"] == pytest.approx(237.589)
    bad = cli("forecast", "--deadline", "yesterday")
    assert bad.returncode == 2 and "--deadline" in bad.stderr and "Traceback" not in bad.stderr
