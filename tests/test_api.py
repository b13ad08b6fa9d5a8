"""The Python API (`from carbon_gate import measure`): a code block measured in-process with the same
meters and footprint as the CLI."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import hardware

from carbon_gate import measure
from carbon_gate.meters.meter import MeterSettings, plan_meters

RUNNER = "github-linux-x64-4vcpu"


def spin(seconds: float) -> float:
    """Burn `seconds` of this thread's CPU; return what it actually used."""
    t0 = time.thread_time()
    while time.thread_time() - t0 < seconds:
        pass
    return time.thread_time() - t0


def sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "carbon-gate-sampler"]


def test_context_manager_measures_a_busy_block():
    with measure(grid_intensity=100) as m:
        used = spin(0.3)
    s, fp = m.sample, m.footprint
    assert s is not None and fp is not None
    assert s.cpu_s == pytest.approx(used, rel=0.3)
    assert s.wall_s >= used * 0.9
    assert s.exit_code == 0 and s.ok
    cpu = next(e for e in s.energy if e.component == "cpu")
    assert cpu.wh > 0 and cpu.method in ("measured", "modelled", "defaulted") and cpu.reason
    assert any(e.component == "memory" and e.wh > 0 for e in s.energy)
    assert fp.energy_wh == s.energy_wh > 0
    # the grid given is the one used: 100 g/kWh, PUE 1
    assert fp.facility_wh == s.energy_wh
    assert fp.operational_g == fp.facility_wh / 1000 * 100
    assert fp.co2e_g == pytest.approx(fp.operational_g + fp.embodied_g) and fp.co2e_g > 0


def test_pue_and_grid_scale_the_footprint():
    with measure(grid_intensity=250, pue=1.5) as m:
        spin(0.05)
    fp = m.footprint
    assert fp.facility_wh == pytest.approx(m.sample.energy_wh * 1.5)
    assert fp.operational_g == pytest.approx(fp.facility_wh / 1000 * 250)


def test_modelled_runner_with_embodied_share():
    hw = hardware("AMD EPYC 7763 64-Core Processor", 4, virtualised=True, ram_bytes=16 * 10**9)
    plan = plan_meters(MeterSettings(profile=RUNNER, rapl="off", gpu="off"), hardware=hw)
    with measure(grid_intensity=100, plan=plan, unit="batch", units=4) as m:
        spin(0.3)
    s, fp = m.sample, m.footprint
    cpu = next(e for e in s.energy if e.component == "cpu")
    assert cpu.method == "modelled" and RUNNER in cpu.reason
    # one busy thread of 4 vCPUs: between the idle (1.76 W) and full-load (8.18 W) points of the curve
    assert 1.76 * s.wall_s < cpu.wh * 3600 < 8.18 * s.wall_s
    # embodied: 1151.7 kg × wall / 4 years × 4/128 of the host
    assert fp.embodied_g == pytest.approx(1_151_700 * s.wall_s / (4 * 365.25 * 86400) * 4 / 128, rel=1e-9)
    assert fp.units == 4 and fp.unit == "batch"
    assert fp.sci_g_per_unit == pytest.approx(fp.co2e_g / 4)
    assert s.units == 4


def test_decorator_measures_each_call_afresh():
    m = measure(grid_intensity=100)

    @m
    def work(seconds: float) -> str:
        spin(seconds)
        return "done"

    assert work(0.1) == "done"
    first = m.sample.cpu_s
    assert work(0.3) == "done"
    second = m.sample.cpu_s
    assert first == pytest.approx(0.1, rel=0.3)
    assert second == pytest.approx(0.3, rel=0.3)  # not cumulative across calls
    assert m.footprint.operational_g == m.footprint.facility_wh / 1000 * 100
    assert sampler_threads() == []


def test_sampler_overhead_is_recorded_and_not_billed():
    # The block itself sleeps: it uses almost no CPU, while the sampler thread keeps sampling.
    before = time.process_time()
    with measure(grid_intensity=100) as m:
        time.sleep(0.8)
    total = time.process_time() - before
    s = m.sample
    assert s.overhead_cpu_s > 0
    assert s.cpu_s < s.overhead_cpu_s  # the sampler's CPU is not the block's
    assert s.cpu_s + s.overhead_cpu_s <= total + 0.005
    assert len(m._ticks) >= 4
    assert all(t.cpu_s < 0.05 for t in m._ticks)  # nor in the utilisation shape


def test_exception_propagates_and_sampler_stops():
    before = threading.active_count()
    m = measure(grid_intensity=100)
    with pytest.raises(ZeroDivisionError), m:
        spin(0.02)
        raise ZeroDivisionError
    assert threading.active_count() == before
    assert sampler_threads() == []
    assert m.sample is not None  # what ran until the exception is still measured


def test_decorated_function_exception_propagates_and_sampler_stops():
    before = threading.active_count()

    @measure(grid_intensity=100)
    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        boom()
    assert threading.active_count() == before
