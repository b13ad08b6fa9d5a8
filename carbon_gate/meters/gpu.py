"""NVIDIA GPU energy through NVML (`nvidia-ml-py`, the `gpu` extra), `measured`.

Per device: difference the total-energy counter (Volta and newer); without it, integrate power
samples taken at every tick (trapezoid rule, ≤ 0.5 s apart). Devices come from
CUDA_VISIBLE_DEVICES (indices or UUIDs) or are all devices. No NVML, no device, or a device that
refuses queries (MIG, vGPU) yields a stated reason — never a silent zero.

`nvml` is injectable: anything with the pynvml functions used here (tests pass a fake).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from ..domain import MEASURED, Energy


@dataclass
class _Device:
    label: str  # "0: NVIDIA A100-SXM4-40GB"
    handle: Any
    mode: Literal["", "counter", "power"] = ""  # "" until the first reading picks one
    start_mj: int = 0
    energy_j: float = 0.0
    last_power: tuple[float, float] | None = None  # (t, watts)
    error: str | None = None


@dataclass
class GpuMeter:
    """Measures the selected devices between `start()` and `stop()`."""

    nvml: Any
    devices: list[_Device] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def start(self) -> None:
        for d in self.devices:
            try:
                d.start_mj = int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(d.handle))
                d.mode = "counter"
            except self.nvml.NVMLError:
                d.mode = "power"
                self._power_sample(d, 0.0)

    def tick(self, now: float) -> None:
        for d in self.devices:
            if d.mode == "power" and d.error is None:
                self._power_sample(d, now)

    def stop(self, wall_s: float) -> list[Energy]:
        out: list[Energy] = []
        for d in self.devices:
            if d.mode == "counter":
                try:
                    d.energy_j = (int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(d.handle)) - d.start_mj) / 1e3
                except self.nvml.NVMLError as exc:
                    d.error = f"energy counter read failed at the end: {exc}"
            elif d.error is None:
                self._power_sample(d, wall_s)
            if d.error is not None:
                self.notes.append(f"GPU {d.label}: no energy ({d.error})")
                continue
            how = (
                "total-energy counter difference"
                if d.mode == "counter"
                else "power samples integrated (trapezoid, ≤ 0.5 s apart): no energy counter on this device"
            )
            out.append(
                Energy(
                    "gpu", max(d.energy_j, 0.0) / 3600.0, MEASURED, f"NVML {how}; whole device", f"NVML GPU {d.label}"
                )
            )
        return out

    def _power_sample(self, d: _Device, now: float) -> None:
        try:
            watts = self.nvml.nvmlDeviceGetPowerUsage(d.handle) / 1000.0
        except self.nvml.NVMLError as exc:
            d.error = f"device refuses energy and power queries ({exc}); MIG or vGPU instances often do"
            return
        if d.last_power is not None:
            t0, w0 = d.last_power
            d.energy_j += (w0 + watts) / 2.0 * max(now - t0, 0.0)
        d.last_power = (now, watts)

    def close(self) -> None:
        # Shutdown failures must not mask the measurement.
        with contextlib.suppress(Exception):
            self.nvml.nvmlShutdown()


def open_gpu_meter(nvml: Any = None, visible: str | None = None) -> tuple[GpuMeter | None, str]:
    """Initialise NVML and select devices; returns (meter, "") or (None, the reason there is no GPU meter)."""
    if nvml is None:
        try:
            import pynvml as nvml  # type: ignore[no-redef]
        except ImportError:
            return None, "nvidia-ml-py is not installed (pip install 'carbon-gate[gpu]'): no GPU component"
    try:
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return None, f"NVML unavailable ({exc}): no GPU component"
    if visible is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        devices, notes = _select(nvml, visible)
    except nvml.NVMLError as exc:
        nvml.nvmlShutdown()
        return None, f"NVML could not list devices ({exc}): no GPU component"
    if not devices:
        nvml.nvmlShutdown()
        return None, "; ".join(notes) or "no NVIDIA GPU present: no GPU component"
    return GpuMeter(nvml, devices, notes), ""


def _select(nvml: Any, visible: str | None) -> tuple[list[_Device], list[str]]:
    count = nvml.nvmlDeviceGetCount()
    notes: list[str] = []
    if visible is None:
        wanted = [str(i) for i in range(count)]
    else:
        wanted = [v.strip() for v in visible.split(",") if v.strip()]
        if not wanted:
            return [], ["CUDA_VISIBLE_DEVICES is empty: no GPU visible to the workload"]
    devices: list[_Device] = []
    for w in wanted:
        try:
            if w.isdigit():
                if int(w) >= count:
                    notes.append(f"CUDA_VISIBLE_DEVICES names device {w}, but only {count} exist")
                    break  # CUDA ignores this entry and every one after it
                handle = nvml.nvmlDeviceGetHandleByIndex(int(w))
            else:
                handle = nvml.nvmlDeviceGetHandleByUUID(w if w.startswith(("GPU-", "MIG-")) else f"GPU-{w}")
            name = nvml.nvmlDeviceGetName(handle)
        except nvml.NVMLError as exc:
            notes.append(f"GPU {w}: {exc}")
            continue
        if isinstance(name, bytes):
            name = name.decode()
        devices.append(_Device(f"{w}: {name}", handle))
    return devices, notes
