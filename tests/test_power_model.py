"""The CPU model without counters (docs/methodology.md): power curves, integration of
the utilisation shape, the TDP table, and which curve is chosen (profile, TDP × share × Teads, default)."""

from __future__ import annotations

import textwrap

import pytest
from helpers import hardware

from carbon_gate.meters.cpu_model import ProfileError, choose_cpu_model, load_profile, lookup_tdp, match_profile
from carbon_gate.meters.meter import MeterSettings, measure_command, plan_meters
from carbon_gate.meters.power import Interval, PowerCurve, integrate, utilisation_intervals
from carbon_gate.meters.process import Tick

RUNNER = "github-linux-x64-4vcpu"
EPYC = "AMD EPYC 7763 64-Core Processor"


def runner_curve() -> PowerCurve:
    return choose_cpu_model(EPYC, 4, profile=RUNNER).curve


# --- curves -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("u", "watts"),
    [
        (0.0, 1.76),
        (0.05, 3.44),
        (0.10, 3.62),
        (0.25, 4.08),
        (0.5, 5.16),
        (0.95, 7.97),
        (1.0, 8.18),
    ],
)
def test_runner_profile_curve_interpolates(u, watts):
    # 0.25 is half-way between 20 % (3.92 W) and 30 % (4.24 W); 0.95 between 7.76 and 8.18 W.
    assert runner_curve().watts(u) == pytest.approx(watts, abs=1e-9)


def test_curve_is_clamped_to_its_ends():
    curve = runner_curve()
    assert curve.watts(-0.5) == pytest.approx(1.76)
    assert curve.watts(1.7) == pytest.approx(8.18)


def test_curve_tabulated_for_display():
    table = dict(runner_curve().at_percent())
    assert list(table) == list(range(0, 101, 10))
    assert table[40] == pytest.approx(4.66) and table[100] == pytest.approx(8.18)


# --- integration --------------------------------------------------------------------------------


def test_integration_of_synthetic_ticks_by_hand():
    # 2 vCPUs, 2.0 s wall, exact tree CPU 2.0 s; samples at 0.5 s (0.5 CPU-s) and 1.0 s (1.5 CPU-s).
    ticks = [Tick(0.5, 0.5, 1), Tick(1.0, 1.5, 1)]
    intervals = utilisation_intervals(ticks, wall_s=2.0, cpu_s=2.0, vcpus=2)
    # [0, 0.5]:   0.5 CPU-s / (0.5 s × 2) = 50 %
    # [0.5, 1.0]: 1.0 CPU-s / (0.5 s × 2) = 100 %
    # [1.0, 2.0]: the exact total closes it: (2.0 − 1.5) / (1.0 s × 2) = 25 %
    assert intervals == [Interval(0.5, 0.5), Interval(0.5, 1.0), Interval(1.0, 0.25)]
    # On the runner curve: 5.16 W × 0.5 s + 8.18 W × 0.5 s + 4.08 W × 1.0 s = 2.58 + 4.09 + 4.08 = 10.75 J
    assert integrate(runner_curve(), intervals) == pytest.approx(10.75, abs=1e-9)


def test_integration_clamps_sampled_cpu_to_the_exact_total():
    # Sampled CPU overshoots the exact total (0.5 s), then goes backwards (a child vanished).
    ticks = [Tick(0.5, 0.6, 1), Tick(1.0, 0.4, 1), Tick(1.0, 9.9, 1)]  # the last repeats t: skipped
    intervals = utilisation_intervals(ticks, wall_s=1.5, cpu_s=0.5, vcpus=1)
    # [0, 0.5]: min(0.6, 0.5) = 0.5 CPU-s → 100 %; [0.5, 1.0]: max(0.4, 0.5) − 0.5 = 0 → 0 %;
    # [1.0, 1.5]: 0.5 − 0.5 = 0 → 0 %
    assert intervals == [Interval(0.5, 1.0), Interval(0.5, 0.0), Interval(0.5, 0.0)]
    linear = PowerCurve.linear(10.0, 30.0)
    # 30 W × 0.5 + 10 W × 0.5 + 10 W × 0.5 = 25 J
    assert integrate(linear, intervals) == pytest.approx(25.0)
    assert sum(iv.seconds for iv in intervals) == pytest.approx(1.5)


def test_integration_without_ticks_uses_the_exact_total():
    intervals = utilisation_intervals([], wall_s=0.2, cpu_s=0.1, vcpus=1)
    assert intervals == [Interval(0.2, 0.5)]
    assert integrate(PowerCurve.linear(0.0, 10.0), intervals) == pytest.approx(5.0 * 0.2)


def test_idle_sleep_on_a_four_vcpu_runner_is_near_the_idle_point():
    hw = hardware(EPYC, 4, virtualised=True, ram_bytes=16 * 10**9)
    plan = plan_meters(MeterSettings(profile=RUNNER, rapl="off", gpu="off"), hardware=hw)
    assert plan.cpu_model.profile == RUNNER
    sample = measure_command(["sleep", "1"], plan)
    cpu = next(e for e in sample.energy if e.component == "cpu")
    assert cpu.method == "modelled"
    joules = cpu.wh * 3600
    assert 1.76 * sample.wall_s <= joules <= 3.44 * sample.wall_s, (joules, sample.wall_s)
    assert plan.embodied is not None and plan.embodied.share == pytest.approx(4 / 128)


# --- the TDP table ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "tdp"),
    [
        ("AMD EPYC 7763 64-Core Processor", 280),
        ("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", 65),
        ("Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz", 205),
        ("Intel(R) Core(TM) i7-8700K CPU @ 3.70GHz", 95),  # the K part must not fall back to the plain i7-8700
    ],
)
def test_lookup_tdp_on_real_cpu_strings(name, tdp):
    found = lookup_tdp(name)
    assert found is not None and found[1] == tdp


@pytest.mark.parametrize(
    "name", ["Carbon Gate Imaginary CPU 9000", "Intel(R) Xeon(R) CPU @ 2.20GHz", "AMD EPYC 7999 64-Core Processor", ""]
)
def test_lookup_tdp_unknown_is_none(name):
    assert lookup_tdp(name) is None


# --- choosing the curve -------------------------------------------------------------------------


def test_profile_matched_by_cpu_and_vcpus():
    model = choose_cpu_model(EPYC, 4, machine_cpus=4, virtualised=True)
    assert model.method == "modelled" and model.profile == RUNNER
    assert RUNNER in model.reason
    assert model.curve.watts(0) == pytest.approx(1.76)
    assert match_profile(EPYC, 2).name == "github-linux-x64-2vcpu"
    assert match_profile(EPYC, 8) is None


# The packaged SPECpower curve (carbon_gate/data/cpu-power-model.json), as fractions of TDP.
SPEC = {0.0: 0.2226, 0.1: 0.3356, 0.3: 0.4465, 0.5: 0.5583, 1.0: 1.0}


def test_tdp_share_on_the_specpower_curve():
    # i7-8700: 65 W, 6 of 12 threads → 32.5 W at full load, on the fitted curve
    model = choose_cpu_model("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", 6, machine_cpus=12, virtualised=False)
    assert model.method == "modelled" and model.profile is None and model.tdp_w == 65
    assert "6/12 threads = 32.5 W" in model.reason
    for u, fraction in SPEC.items():
        assert model.curve.watts(u) == pytest.approx(fraction * 32.5, abs=1e-9)
    # linear between the curve's points: 25 % is half-way between 20 % (0.3909) and 30 % (0.4465)
    assert model.curve.watts(0.25) == pytest.approx((0.3909 + 0.4465) / 2 * 32.5)
    assert model.error_band_pct == 45 and "fit_cpu_power" in model.error_source


def test_tdp_in_a_vm_with_host_threads():
    model = choose_cpu_model(
        "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz", 2, machine_cpus=2, virtualised=True, host_threads=64
    )
    assert model.method == "modelled"
    # 205 W × 2/64 = 6.40625 W at full TDP
    assert model.curve.watts(0.0) == pytest.approx(0.2226 * 6.40625)
    assert model.curve.watts(1.0) == pytest.approx(6.40625)


def test_sockets_add_up_and_the_reason_states_the_share_used():
    # A dual-socket E5-2620 v3 host: 2 × 85 W, 24 threads in all; a job holding 6 of them.
    two = choose_cpu_model("Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz", 6, machine_cpus=24, sockets=2)
    assert two.curve.watts(1.0) == pytest.approx(170 * 6 / 24)
    assert "2 × 85 W" in two.reason and "6/24 threads = 42.5 W" in two.reason
    # More vCPUs than the host's threads: the share is capped at 1, and the reason says so.
    capped = choose_cpu_model("Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz", 24, host_threads=12, virtualised=True)
    assert capped.curve.watts(1.0) == pytest.approx(85)
    assert "share 1 (24 vCPUs ≥ 12 host threads)" in capped.reason and "24/12" not in capped.reason


def test_packaged_curve_is_what_the_script_derives():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "scripts/fit_cpu_power.py", "--check"], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "new better than Teads on 7 of 10 profiles" in done.stdout


def test_vm_without_host_threads_is_defaulted_and_says_why():
    model = choose_cpu_model("Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz", 2, machine_cpus=2, virtualised=True)
    assert model.method == "defaulted"
    assert "host_threads" in model.reason and "205" in model.reason
    assert model.curve.watts(0) == pytest.approx(0.74 * 2)
    assert model.curve.watts(1) == pytest.approx(3.5 * 2)


def test_unknown_cpu_is_defaulted():
    model = choose_cpu_model("Carbon Gate Imaginary CPU 9000", 3, machine_cpus=3)
    assert model.method == "defaulted"
    assert "not in the TDP table" in model.reason
    assert model.curve.watts(0) == pytest.approx(0.74 * 3)
    assert model.curve.watts(0.5) == pytest.approx((0.74 + 3.5) / 2 * 3)
    assert model.curve.watts(1) == pytest.approx(3.5 * 3)


# --- profile files ------------------------------------------------------------------------------


def test_user_profile_file(tmp_path):
    path = tmp_path / "my-runner.yml"
    path.write_text(
        textwrap.dedent("""
        name: my-runner
        match: {cpu: Imaginary, vcpus: 8}
        curve: {0: 10, 50: 30, 100: 40}
        embodied: {total_kg: 1000, lifetime_years: 4, share: 0.25}
        source: measured with a wall meter
    """)
    )
    model = choose_cpu_model("Carbon Gate Imaginary CPU 9000", 8, profile=str(path))
    assert model.method == "modelled" and model.profile == "my-runner"
    assert model.curve.watts(0.25) == pytest.approx(20.0)
    assert model.curve.watts(0.75) == pytest.approx(35.0)
    assert model.embodied.total_g == pytest.approx(1_000_000) and model.embodied.share == 0.25
    assert model.source == "measured with a wall meter"


@pytest.mark.parametrize(
    "text",
    [
        "name: x\ncurve: {50: 3}\n",  # no 0 % / 100 % points
        "name: x\ncurve: {0: 1, 100: two}\n",  # not a number
        "curve: {0: 1, 100: 2}\n",  # no name
        "- just\n- a list\n",
        "name: x\ncurve: [1, 2\n",  # YAML syntax error
    ],
)
def test_broken_profile_raises_profile_error(tmp_path, text):
    path = tmp_path / "broken.yml"
    path.write_text(text)
    with pytest.raises(ProfileError):
        load_profile(path)
    with pytest.raises(ProfileError):
        choose_cpu_model(EPYC, 4, profile=str(path))


def test_missing_profile_raises_profile_error(tmp_path):
    with pytest.raises(ProfileError):
        choose_cpu_model(EPYC, 4, profile=str(tmp_path / "nope.yml"))


@pytest.mark.parametrize("watts", ["-5", ".nan"])
def test_profile_with_impossible_watts_is_rejected(tmp_path, watts):
    path = tmp_path / "impossible.yml"
    path.write_text(f"name: x\ncurve: {{0: {watts}, 100: 10}}\n")
    with pytest.raises(ProfileError):
        load_profile(path)


# --- sockets and pretending -----------------------------------------------------------------------


def test_sockets_detected_from_sysfs_then_cpuinfo(tmp_path):
    from carbon_gate.meters.hardware import count_sockets

    cpu = tmp_path / "devices" / "system" / "cpu"
    for n, pkg in enumerate((0, 0, 1, 1)):
        (cpu / f"cpu{n}" / "topology").mkdir(parents=True)
        (cpu / f"cpu{n}" / "topology" / "physical_package_id").write_text(f"{pkg}\n")
    assert count_sockets(tmp_path, set()) == 2
    assert count_sockets(tmp_path / "nothing", {"0", "1", "2", "3"}) == 4  # /proc/cpuinfo's physical ids
    assert count_sockets(tmp_path / "nothing", set()) == 1


def test_machine_pretends_a_dual_socket_host_completely(cli):
    import json

    res = cli(
        "machine", "--cpu", "Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz", "--sockets", "2", "--vcpus", "24", "--json"
    )
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["pretended"] is True
    assert info["cpu"]["method"] == "modelled"
    assert "2 × 85 W" in info["cpu"]["reason"] and "24/24 threads = 170 W" in info["cpu"]["reason"]
    assert dict(info["cpu"]["curve_w"])[100] == 170
    assert info["cpu"]["error_band_pct"] == 45
    # Nothing of this machine: its VM status, counters, RAM or OS do not leak into the pretended one.
    assert info["hardware"]["virtualised"] is False and info["hardware"]["sockets"] == 2
    assert info["fingerprint"]["cpu_model"].startswith("Intel(R) Xeon(R) CPU E5-2620 v3")
    assert info["fingerprint"]["logical_cpus"] == 24 and info["fingerprint"]["ram_gb"] == 0.0
    assert "pretended" in info["cpu"]["fallback"]
    vm = json.loads(
        cli("machine", "--cpu", "Intel(R) Xeon(R) CPU E5-2620 v3 @ 2.40GHz", "--vcpus", "4", "--vm", "--json").stdout
    )
    assert vm["cpu"]["method"] == "defaulted" and "host_threads" in vm["cpu"]["reason"]
