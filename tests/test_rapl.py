"""RAPL through a fake powercap tree (docs/methodology.md): discovery, deltas, wraps,
unreadable counters, and the end-to-end path where a real command advances the counter."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest
from helpers import hardware

from carbon_gate.meters import rapl
from carbon_gate.meters.meter import MeterSettings, measure_command, plan_meters

MAX_RANGE = 262_143_328_850  # a real package's max_energy_range_uj

# A machine whose CPU is not in any table: the model fallback is then `defaulted`, never `measured`.
HW = hardware()


def _zone(path: Path, name: str, energy_uj: int, max_range: int | None = MAX_RANGE) -> Path:
    path.mkdir(parents=True)
    (path / "name").write_text(name + "\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    if max_range is not None:
        (path / "max_energy_range_uj").write_text(f"{max_range}\n")
    return path


def make_tree(root: Path, *, start_uj: int = 1_000_000, max_range: int | None = MAX_RANGE) -> Path:
    """Mirror sysfs: real zone directories under devices/, nested sub-zones, and flat symlinks in the
    class directory (/sys/class/powercap/intel-rapl:0:0 -> ../../devices/.../intel-rapl:0/intel-rapl:0:0)."""
    devices = root / "devices" / "virtual" / "powercap" / "intel-rapl"
    cls = root / "class"
    cls.mkdir(parents=True)
    (cls / "intel-rapl").symlink_to(devices.parent / "intel-rapl", target_is_directory=True)  # the control type
    zones = {
        "intel-rapl:0": ("package-0", start_uj),
        "intel-rapl:0/intel-rapl:0:0": ("core", 7_000_000),
        "intel-rapl:0/intel-rapl:0:1": ("uncore", 8_000_000),
        "intel-rapl:0/intel-rapl:0:2": ("dram", 9_000_000),
        "intel-rapl:1": ("package-1", 2_000_000),
        "intel-rapl:1/intel-rapl:1:0": ("dram", 3_000_000),
        "intel-rapl:2": ("psys", 4_000_000),
    }
    for rel, (name, value) in zones.items():
        real = _zone(devices / rel, name, value, max_range)
        (cls / Path(rel).name).symlink_to(real, target_is_directory=True)
    return cls


def counter(root: Path, zone: str) -> Path:
    return root / zone / "energy_uj"


def set_counter(root: Path, zone: str, value: int) -> None:
    path = counter(root, zone)
    tmp = path.with_name("energy_uj.tmp")
    tmp.write_text(f"{value}\n")
    os.replace(tmp, path)  # atomic, like a sysfs read: never an empty file mid-write


@pytest.fixture
def tree(tmp_path) -> Path:
    return make_tree(tmp_path / "sys")


# --- discovery ----------------------------------------------------------------------------------


def test_discover_picks_packages_only(tree):
    domains, reason = rapl.discover(tree)
    assert reason == ""
    assert [d.name for d in domains] == ["package-0", "package-1"]
    assert all(d.max_range_uj == MAX_RANGE for d in domains)


def test_discover_adds_dram_when_asked(tree):
    domains, _ = rapl.discover(tree, include_dram=True)
    assert sorted(d.name for d in domains) == ["dram-0", "dram-1", "package-0", "package-1"]


def test_discover_without_powercap_says_why(tmp_path):
    domains, reason = rapl.discover(tmp_path / "nothing")
    assert domains == [] and "no RAPL" in reason
    (tmp_path / "empty").mkdir()
    domains, reason = rapl.discover(tmp_path / "empty")
    assert domains == [] and "no RAPL package domain" in reason


# --- the meter ----------------------------------------------------------------------------------


def test_meter_sums_deltas_in_joules(tree):
    domains, _ = rapl.discover(tree)
    meter = rapl.RaplMeter(domains)
    meter.start()
    set_counter(tree, "intel-rapl:0", 1_000_000 + 2_500_000)
    meter.tick(0.1)
    set_counter(tree, "intel-rapl:0", 1_000_000 + 4_000_000)
    set_counter(tree, "intel-rapl:1", 2_000_000 + 750_000)
    meter.tick(0.2)
    set_counter(tree, "intel-rapl:0", 1_000_000 + 4_000_001)
    reading = meter.stop()
    assert reading.error is None
    assert reading.joules == {"package-0": 4.000001, "package-1": 0.75}


def test_counter_wrap_uses_max_energy_range(tree):
    set_counter(tree, "intel-rapl:0", MAX_RANGE - 1_000_000)
    domains, _ = rapl.discover(tree)
    meter = rapl.RaplMeter(domains)
    meter.start()
    set_counter(tree, "intel-rapl:0", MAX_RANGE - 100)  # 999 900 µJ before the wrap
    meter.tick(0.1)
    set_counter(tree, "intel-rapl:0", 2_000_000)  # wrapped: 100 µJ to the top + 2 000 000 after
    reading = meter.stop()
    assert reading.error is None
    # (MAX - 100) - (MAX - 1e6) = 999 900 µJ, then 2e6 + MAX - (MAX - 100) = 2 000 100 µJ: 3 J in all
    assert reading.joules["package-0"] == pytest.approx(3.0, abs=1e-9)
    assert reading.joules["package-0"] > 0


def test_wrap_without_max_range_is_an_error_not_an_energy(tmp_path):
    root = make_tree(tmp_path / "sys", max_range=None)
    domains, _ = rapl.discover(root)
    assert domains and all(d.max_range_uj is None for d in domains)
    meter = rapl.RaplMeter(domains)
    meter.start()
    set_counter(root, "intel-rapl:0", 500)  # went down: a wrap we cannot undo
    reading = meter.stop()
    assert reading.joules == {}
    assert reading.error is not None and "wrapped" in reading.error


@pytest.mark.parametrize("how", ["directory", "dangling-symlink", "garbage"])
def test_unreadable_counter_is_an_error(tree, how):
    domains, _ = rapl.discover(tree)
    meter = rapl.RaplMeter(domains)
    meter.start()
    assert meter.error is None
    path = counter(tree, "intel-rapl:0").resolve()
    path.unlink()
    if how == "directory":
        path.mkdir()
    elif how == "dangling-symlink":
        path.symlink_to(path.parent / "does-not-exist")
    else:
        path.write_text("not a number\n")
    reading = meter.stop()
    assert reading.joules == {}
    assert reading.error is not None and "energy_uj" in reading.error


# --- end to end through the meters --------------------------------------------------------------


def _advance(path: Path, delta_uj: int) -> list[str]:
    """A real command that adds `delta_uj` to the counter file (atomically) and exits."""
    code = (
        "import os, sys\n"
        "p = sys.argv[1]\n"
        "v = int(open(p).read())\n"
        "open(p + '.tmp', 'w').write(str(v + int(sys.argv[2])) + '\\n')\n"
        "os.replace(p + '.tmp', p)\n"
    )
    return [sys.executable, "-c", code, str(path), str(delta_uj)]


def test_measured_cpu_energy_machine_attribution(tree):
    plan = plan_meters(MeterSettings(powercap_root=str(tree), attribution="machine", gpu="off"), hardware=HW)
    assert plan.cpu_method == "measured"
    sample = measure_command(_advance(counter(tree, "intel-rapl:0").resolve(), 5_000_000), plan)
    assert sample.exit_code == 0
    cpu = [e for e in sample.energy if e.component == "cpu"]
    assert len(cpu) == 1
    assert cpu[0].method == "measured"
    assert cpu[0].wh == 5.0 / 3600.0  # exactly the 5 J the command added; package-1 did not move
    assert "RAPL" in cpu[0].reason and "machine" in cpu[0].reason


def test_measured_cpu_energy_process_attribution_is_a_share(tree):
    # i7-8700 (TDP 65 W), 12 of 12 threads: idle point 0.12 × 65 W per package, 2 packages.
    hw = hardware("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", 12)
    plan = plan_meters(MeterSettings(powercap_root=str(tree), gpu="off"), hardware=hw)
    sample = measure_command(_advance(counter(tree, "intel-rapl:0").resolve(), 5_000_000), plan)
    cpu = next(e for e in sample.energy if e.component == "cpu")
    assert cpu.method == "measured"
    idle_j = min(0.12 * 65 * 2 * sample.wall_s, 5.0)
    assert idle_j / 3600 <= cpu.wh <= 5.0 / 3600 + 1e-15
    assert "attribution: process" in cpu.reason


def test_dram_is_measured_when_enabled(tree):
    plan = plan_meters(MeterSettings(powercap_root=str(tree), attribution="machine", dram=True, gpu="off"), hardware=HW)
    dram = counter(tree, "intel-rapl:0:2").resolve()
    pkg = counter(tree, "intel-rapl:0").resolve()
    cmd = ["sh", "-c", f"{shlex.join(_advance(pkg, 5_000_000))} && {shlex.join(_advance(dram, 1_800_000))}"]
    sample = measure_command(cmd, plan)
    by = {e.component: e for e in sample.energy}
    assert by["cpu"].wh == 5.0 / 3600.0
    assert by["memory"].method == "measured"
    assert by["memory"].wh == pytest.approx(1.8 / 3600.0, rel=1e-12)


def test_counter_unreadable_mid_run_falls_back_to_the_model(tree):
    plan = plan_meters(MeterSettings(powercap_root=str(tree), attribution="machine", gpu="off"), hardware=HW)
    assert plan.cpu_method == "measured"
    path = counter(tree, "intel-rapl:0").resolve()
    code = f"import os; os.unlink({str(path)!r}); os.mkdir({str(path)!r})"
    sample = measure_command([sys.executable, "-c", code], plan)
    cpu = next(e for e in sample.energy if e.component == "cpu")
    assert cpu.method == "defaulted"  # the model for an unknown CPU
    assert "RAPL" in cpu.reason and "energy_uj" in cpu.reason
    assert cpu.wh > 0


def test_counter_wrapping_without_range_mid_run_falls_back(tmp_path):
    root = make_tree(tmp_path / "sys", max_range=None)
    plan = plan_meters(MeterSettings(powercap_root=str(root), attribution="machine", gpu="off"), hardware=HW)
    path = counter(root, "intel-rapl:0").resolve()
    sample = measure_command(_advance(path, -999_000), plan)  # the counter goes down
    cpu = next(e for e in sample.energy if e.component == "cpu")
    assert cpu.method == "defaulted"
    assert "RAPL" in cpu.reason and "wrapped" in cpu.reason
    assert cpu.wh > 0


def test_unreadable_counter_at_plan_time_is_stated(tree):
    path = counter(tree, "intel-rapl:0").resolve()
    path.unlink()
    path.mkdir()
    plan = plan_meters(MeterSettings(powercap_root=str(tree), gpu="off"), hardware=HW)
    assert plan.rapl_domains == []
    assert plan.cpu_method == "defaulted"
    assert "energy_uj" in plan.rapl_reason


def test_cli_machine_reports_measured_with_fake_tree(cli, tree):
    res = cli("machine", "--json", env={"CARBON_GATE_POWERCAP_ROOT": str(tree)})
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["cpu"]["method"] == "measured"
    assert info["rapl"] == ["package-0", "package-1"]
    assert info["fingerprint"]["cpu_method"] == "measured"


def test_cli_machine_without_counters_is_not_measured(cli, tmp_path):
    res = cli("machine", "--json", env={"CARBON_GATE_POWERCAP_ROOT": str(tmp_path / "none")})
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["cpu"]["method"] in ("modelled", "defaulted")
    assert "no RAPL" in info["cpu"]["fallback"]
