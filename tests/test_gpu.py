"""GPU energy through NVML (docs/methodology.md), with a fake NVML that mirrors nvidia-ml-py's `pynvml`
module: the same function names and signatures, mJ / mW units, and an NVMLError whose constructor
takes the NVML return code and maps it to a subclass (NVMLError_NotSupported, ...)."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from typing import ClassVar

import pytest
from helpers import hardware

from carbon_gate.meters.gpu import open_gpu_meter
from carbon_gate.meters.meter import MeterSettings, measure_command, plan_meters

HW = hardware()
SETTINGS = MeterSettings(rapl="off")

# NVML return codes, as in pynvml.
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
_STRINGS = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
}


class NVMLError(Exception):
    """pynvml.NVMLError: `NVMLError(value)` returns the subclass registered for that code."""

    _valClassMapping: ClassVar[dict[int, type]] = {}

    def __new__(cls, value):
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value):
        super().__init__(value)

    def __str__(self):
        return _STRINGS.get(self.value, f"NVML Error with code {self.value}")


for _code, _text in _STRINGS.items():
    _name = "NVMLError_" + _text.replace(" ", "")
    NVMLError._valClassMapping[_code] = type(_name, (NVMLError,), {})


class FakeDevice:
    def __init__(self, name: str, uuid: str, *, energy_mj: int | None = 1_000_000, power_mw: int | None = 100_000):
        self.name, self.uuid = name, uuid
        self.energy_mj = energy_mj  # None: nvmlDeviceGetTotalEnergyConsumption is Not Supported
        self.power_mw = power_mw  # None: nvmlDeviceGetPowerUsage is Not Supported (MIG, vGPU)
        self.energy_reads = 0


class FakeNVML:
    """A module-like object with the pynvml functions carbon-gate uses."""

    NVMLError = NVMLError

    def __init__(self, devices: list[FakeDevice], *, init_error: int | None = None, on_energy_read=None):
        self.devices = devices
        self.init_error = init_error
        self.refcount = 0  # NVML reference-counts nvmlInit/nvmlShutdown
        self.inits = 0
        self.on_energy_read = on_energy_read
        self.lock = threading.Lock()

    # -- library
    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.refcount += 1
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self._check()
        self.refcount -= 1

    def _check(self) -> None:
        if self.refcount <= 0:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)

    # -- devices
    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeDevice:
        self._check()
        if not 0 <= index < len(self.devices):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return self.devices[index]

    def nvmlDeviceGetHandleByUUID(self, uuid) -> FakeDevice:
        self._check()
        uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
        for d in self.devices:
            if d.uuid == uuid:
                return d
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetName(self, handle: FakeDevice) -> str:
        self._check()
        return handle.name

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeDevice) -> int:
        """Millijoules since the driver was loaded (Volta and newer)."""
        self._check()
        if handle.energy_mj is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        with self.lock:
            handle.energy_reads += 1
            if self.on_energy_read is not None:
                self.on_energy_read(handle)
            return handle.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: FakeDevice) -> int:
        """Milliwatts."""
        self._check()
        if handle.power_mw is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return handle.power_mw


UUID0 = "GPU-11111111-2222-3333-4444-555555555555"
UUID1 = "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


def two_gpus(**kw) -> FakeNVML:
    return FakeNVML(
        [FakeDevice("NVIDIA A100-SXM4-40GB", UUID0, **kw), FakeDevice("NVIDIA A100-SXM4-40GB", UUID1, **kw)]
    )


@pytest.fixture(autouse=True)
def _no_cuda_env(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


# --- counter path -------------------------------------------------------------------------------


def test_energy_counter_difference_is_exact():
    nvml = FakeNVML([FakeDevice("NVIDIA A100-SXM4-40GB", UUID0, energy_mj=5_000_000)])
    meter, reason = open_gpu_meter(nvml)
    assert meter is not None and reason == ""
    meter.start()
    nvml.devices[0].energy_mj += 1_000  # some ticks happen; the counter is all that matters
    meter.tick(0.5)
    nvml.devices[0].energy_mj += 35_000  # 36 J in all
    energies = meter.stop(1.0)
    meter.close()
    assert len(energies) == 1
    e = energies[0]
    assert (e.component, e.method) == ("gpu", "measured")
    assert e.wh == 36.0 / 3600.0
    assert "counter" in e.reason
    assert nvml.refcount == 0


# --- power-sample path --------------------------------------------------------------------------


def test_power_samples_integrated_without_counter():
    nvml = FakeNVML([FakeDevice("Tesla T4", UUID0, energy_mj=None, power_mw=100_000)])
    meter, _ = open_gpu_meter(nvml)
    meter.start()  # first sample at t = 0
    for t in (0.25, 0.75, 1.5):
        meter.tick(t)
    energies = meter.stop(2.0)
    meter.close()
    # constant 100 W over 2.0 s = 200 J
    assert len(energies) == 1 and energies[0].method == "measured"
    assert energies[0].wh == pytest.approx(200.0 / 3600.0, rel=1e-12)
    assert "power samples" in energies[0].reason


def test_power_samples_use_the_trapezoid_rule():
    dev = FakeDevice("Tesla T4", UUID0, energy_mj=None, power_mw=50_000)
    nvml = FakeNVML([dev])
    meter, _ = open_gpu_meter(nvml)
    meter.start()  # 50 W at t = 0
    dev.power_mw = 150_000
    meter.tick(1.0)  # 150 W at t = 1: (50 + 150) / 2 × 1 s = 100 J
    dev.power_mw = 70_000
    energies = meter.stop(3.0)  # 70 W at t = 3: (150 + 70) / 2 × 2 s = 220 J
    meter.close()
    assert energies[0].wh == pytest.approx(320.0 / 3600.0, rel=1e-12)


def test_device_refusing_both_queries_gives_a_note_not_a_zero():
    nvml = FakeNVML([FakeDevice("NVIDIA A100 MIG 1g.5gb", "MIG-0000", energy_mj=None, power_mw=None)])
    meter, _ = open_gpu_meter(nvml)
    meter.start()
    meter.tick(0.5)
    energies = meter.stop(1.0)
    meter.close()
    assert energies == []
    assert len(meter.notes) == 1
    assert "MIG" in meter.notes[0] and "Not Supported" in meter.notes[0]


# --- device selection ---------------------------------------------------------------------------


def test_all_devices_when_cuda_visible_devices_unset():
    meter, _ = open_gpu_meter(two_gpus())
    assert [d.handle.uuid for d in meter.devices] == [UUID0, UUID1]
    meter.close()


def test_cuda_visible_devices_index_selects_one():
    nvml = two_gpus()
    meter, _ = open_gpu_meter(nvml, visible="1")
    assert [d.handle.uuid for d in meter.devices] == [UUID1]
    assert meter.devices[0].label.startswith("1: ")
    meter.close()


def test_cuda_visible_devices_from_environment(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    meter, _ = open_gpu_meter(two_gpus())
    assert [d.handle.uuid for d in meter.devices] == [UUID1]
    meter.close()


@pytest.mark.parametrize("visible", [UUID1, UUID1[len("GPU-") :]])
def test_cuda_visible_devices_uuid_selects_by_uuid(visible):
    meter, _ = open_gpu_meter(two_gpus(), visible=visible)
    assert [d.handle.uuid for d in meter.devices] == [UUID1]
    meter.close()


def test_out_of_range_index_stops_the_list():
    nvml = two_gpus()
    meter, _ = open_gpu_meter(nvml, visible="1,5,0")
    # CUDA ignores an invalid entry and every one after it: device 0 is not visible.
    assert [d.handle.uuid for d in meter.devices] == [UUID1]
    assert any("5" in n and "only 2" in n for n in meter.notes)
    meter.close()


def test_only_invalid_devices_means_no_meter_and_a_reason():
    nvml = two_gpus()
    meter, reason = open_gpu_meter(nvml, visible="7")
    assert meter is None and "device 7" in reason
    assert nvml.refcount == 0


def test_no_devices_means_no_meter_and_a_reason():
    nvml = FakeNVML([])
    meter, reason = open_gpu_meter(nvml)
    assert meter is None and "no NVIDIA GPU" in reason
    assert nvml.refcount == 0


def test_nvml_init_failure_gives_reason():
    nvml = FakeNVML([FakeDevice("x", UUID0)], init_error=NVML_ERROR_DRIVER_NOT_LOADED)
    meter, reason = open_gpu_meter(nvml)
    assert meter is None
    assert "NVML unavailable" in reason and "Driver Not Loaded" in reason


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is not None, reason="pynvml is installed here")
def test_without_pynvml_the_reason_names_the_extra():
    meter, reason = open_gpu_meter()
    assert meter is None
    assert "nvidia-ml-py" in reason and "carbon-gate[gpu]" in reason


# --- end to end ---------------------------------------------------------------------------------


def test_plan_and_measure_a_command_with_the_counter():
    nvml = FakeNVML([FakeDevice("NVIDIA A100-SXM4-40GB", UUID0, energy_mj=0)])

    def advance(handle):  # the GPU burns 250 W: the counter follows the wall clock
        handle.energy_mj = int((time.perf_counter() - t0) * 250_000)

    plan = plan_meters(SETTINGS, hardware=HW, nvml=nvml)
    assert plan.nvml is nvml and "NVIDIA A100" in plan.gpu_reason
    assert plan.fingerprint(["NVIDIA A100-SXM4-40GB"]).methods["gpu"] == "measured"
    t0 = time.perf_counter()
    nvml.on_energy_read = advance
    sample = measure_command([sys.executable, "-c", "import time; time.sleep(0.3)"], plan)
    gpu = [e for e in sample.energy if e.component == "gpu"]
    assert len(gpu) == 1 and gpu[0].method == "measured"
    # 250 W between the meter's start and stop reads, which bracket the run: ≥ 250 W × wall
    assert 250 * sample.wall_s / 3600 * 0.95 <= gpu[0].wh <= 250 * (sample.wall_s + 1.0) / 3600
    assert nvml.refcount == 0  # every nvmlInit has its nvmlShutdown


def test_plan_and_measure_a_command_with_power_samples():
    nvml = FakeNVML([FakeDevice("Tesla T4", UUID0, energy_mj=None, power_mw=100_000)])
    plan = plan_meters(SETTINGS, hardware=HW, nvml=nvml)
    sample = measure_command(["sleep", "0.3"], plan)
    gpu = next(e for e in sample.energy if e.component == "gpu")
    assert gpu.method == "measured"
    # constant 100 W from the meter's start (t = 0) to the end of the run
    assert gpu.wh == pytest.approx(100 * sample.wall_s / 3600, rel=0.05)
    assert nvml.refcount == 0


def test_gpu_off_in_settings_measures_no_gpu():
    nvml = two_gpus()
    plan = plan_meters(MeterSettings(rapl="off", gpu="off"), hardware=HW, nvml=nvml)
    sample = measure_command(["true"], plan)
    assert not any(e.component == "gpu" for e in sample.energy)
    assert "disabled" in plan.gpu_reason
    assert nvml.inits == 0


def test_workload_env_cuda_visible_devices_selects_the_device():
    nvml = two_gpus(energy_mj=None, power_mw=100_000)
    plan = plan_meters(SETTINGS, hardware=HW, nvml=nvml)
    sample = measure_command(["sleep", "0.1"], plan, env={**os.environ, "CUDA_VISIBLE_DEVICES": "1"})
    gpu = [e for e in sample.energy if e.component == "gpu"]
    assert [e.source for e in gpu] == ["NVML GPU 1: NVIDIA A100-SXM4-40GB"]


# --- a real GPU, when there is one --------------------------------------------------------------


def _real_gpu_available() -> bool:
    try:
        import pynvml
    except ImportError:
        return False
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001
        return False
    try:
        return pynvml.nvmlDeviceGetCount() > 0
    finally:
        pynvml.nvmlShutdown()


@pytest.mark.skipif(not _real_gpu_available(), reason="needs nvidia-ml-py and an NVIDIA GPU")
def test_real_gpu_measures_a_sleep():
    plan = plan_meters(SETTINGS)
    sample = measure_command(["sleep", "0.2"], plan)
    gpu = [e for e in sample.energy if e.component == "gpu"]
    assert gpu, sample.notes
    for e in gpu:
        assert e.method == "measured"
        # an idle data-centre or desktop GPU draws roughly 5–500 W
        assert 5 * sample.wall_s / 3600 * 0.5 <= e.wh <= 1000 * (sample.wall_s + 1) / 3600
