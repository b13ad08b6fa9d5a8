"""`carbon-gate machine calibrate` against a fake powercap tree driven by a simulated CPU, and `run`
then using the profile it wrote (docs/methodology.md §2 "Calibration")."""

from __future__ import annotations

import json
import threading
import time

import psutil
import pytest
import yaml
from test_rapl import counter, make_tree, set_counter

from carbon_gate.meters.calibrate import Step, profile_document
from carbon_gate.meters.cpu_model import choose_cpu_model, load_profile

IDLE_W, DYNAMIC_W = 20.0, 80.0  # the simulated package: P(u) = 20 W + 80 W × machine utilisation


class SimulatedPackage:
    """Stands in for the CPU's energy counter: advances package-0's energy_uj by P(u)·Δt, where u is
    this machine's real utilisation from /proc/stat, every 20 ms, while a calibration runs."""

    def __init__(self, root):
        self.root, self.stop = root, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        uj = int(counter(self.root, "intel-rapl:0").read_text())
        t, (busy, total) = time.monotonic(), _cpu()
        while not self.stop.wait(0.02):
            now, (b, tot) = time.monotonic(), _cpu()
            u = (b - busy) / (tot - total) if tot > total else 0.0
            uj += int((IDLE_W + DYNAMIC_W * min(max(u, 0.0), 1.0)) * (now - t) * 1e6)
            set_counter(self.root, "intel-rapl:0", uj)
            t, busy, total = now, b, tot

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _cpu() -> tuple[float, float]:
    d = psutil.cpu_times()._asdict()
    total = sum(v for k, v in d.items() if k not in ("guest", "guest_nice"))
    return total - sum(d.get(k, 0.0) for k in ("idle", "iowait", "steal")), total


def test_calibrate_writes_a_profile_that_run_then_uses(cli, tmp_path, quick_config):
    root = make_tree(tmp_path / "sys")
    env = {"CARBON_GATE_POWERCAP_ROOT": str(root)}
    with SimulatedPackage(root):
        res = cli("machine", "calibrate", "--out", "my-runner.yml", "--levels", "0,100", "--seconds", "1.5", env=env)
    assert res.returncode == 0, res.stderr
    doc = yaml.safe_load((tmp_path / "my-runner.yml").read_text())
    assert doc["name"] == "my-runner" and doc["match"]["vcpus"] == psutil.cpu_count()
    steps = {s["target_pct"]: s for s in doc["calibration"]}
    assert set(steps) == {0, 100}
    # Generous bounds: the machine is shared, so "idle" is whatever the others run, and the simulated
    # counter and the ladder sample /proc/stat at different instants.
    assert steps[100]["utilisation_pct"] > 60
    for s in steps.values():
        expected = IDLE_W + DYNAMIC_W * s["utilisation_pct"] / 100
        assert s["watts"] == pytest.approx(expected, rel=0.25), s
    curve = load_profile(tmp_path / "my-runner.yml").curve
    assert curve.watts(0.0) <= curve.watts(1.0)  # equal when the shared machine was saturated at "idle" too
    if steps[0]["utilisation_pct"] > 20:
        assert "busy during the idle step" in res.stderr
    assert "RAPL package-0, package-1" in doc["source"]

    # A later run on a host without counters is modelled from the calibrated curve.
    config = quick_config(machine='{profile: ./my-runner.yml, rapl: "off", embodied: "off"}')
    proc = cli("run", "-c", str(config), "--results", "results.json", "-q")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    cpu = results["machine"]["cpu"]
    assert cpu["method"] == "modelled" and "'my-runner'" in cpu["reason"]
    assert results["machine"]["fingerprint"]["profile"] == "my-runner"
    assert cpu["error_band_pct"] == doc["error_band_pct"] and "my-runner" in cpu["error_source"]
    assert dict(cpu["curve_w"])[100] == pytest.approx(curve.watts(1.0), abs=1e-3)


def test_calibrate_without_counters_says_why(cli, tmp_path):
    res = cli("machine", "calibrate", "--out", "x.yml", env={"CARBON_GATE_POWERCAP_ROOT": str(tmp_path / "none")})
    assert res.returncode == 2 and "without RAPL counters" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x.yml").exists()


def test_profile_document_orders_extends_and_never_falls():
    steps = [Step(0, 0.03, 11.0, 0.02), Step(50, 0.52, 40.0, 0.08), Step(100, 0.97, 38.0, 0.03)]
    doc = profile_document(steps, name="p", cpu_model="X", vcpus=4, host="h", domains=["package-0"])
    # 3 % and 97 % seen; flat to 0 and 100; the 97 % rung read lower than 52 %: held level.
    assert doc["curve"] == {0: 11.0, 3: 11.0, 52: 40.0, 97: 40.0, 100: 40.0}
    assert doc["error_band_pct"] == 10  # the largest step spread, 8 %, rounded up to 5 points
    model = choose_cpu_model("X", 4, profile="auto")  # not matched by name: only a config names it
    assert model.profile is None
