"""Put the meters together: decide once per machine how each component is measured, then turn one
run of a command into a `Sample` with energy per component, each with its method and reason."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain import MEASURED, MODELLED, Embodied, Energy, Fingerprint, Sample
from ..settings import MeterSettings
from . import rapl
from .cpu_model import CpuModel, choose_cpu_model
from .gpu import GpuMeter, open_gpu_meter
from .hardware import Hardware, detect
from .power import integrate, utilisation_intervals
from .process import Launch, ProcessRun, run_process

if TYPE_CHECKING:
    from typing_extensions import Unpack

# Cloud Carbon Footprint's memory coefficient: average of two DRAM vendors' figures, W per GB.
MEMORY_W_PER_GB = 0.392
MEMORY_SOURCE = "Cloud Carbon Footprint: 0.392 W/GB"
POWERCAP_ENV = "CARBON_GATE_POWERCAP_ROOT"  # lets tests and odd systems point at another sysfs tree


@dataclass
class MeterPlan:
    """How this machine will be measured: decided once, shown by `carbon-gate machine`."""

    hardware: Hardware
    settings: MeterSettings
    cpu_model: CpuModel
    rapl_domains: list[rapl.RaplDomain]
    rapl_reason: str
    gpu_reason: str
    nvml: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_method(self) -> str:
        return MEASURED if self.rapl_domains else self.cpu_model.method

    @property
    def embodied(self) -> Embodied | None:
        return self.cpu_model.embodied if self.settings.embodied != "off" else None

    def fingerprint(self, gpus: Sequence[str] = ()) -> Fingerprint:
        hw = self.hardware
        memory_method = MEASURED if self.settings.dram and self.rapl_domains else MODELLED
        return Fingerprint(
            cpu_model=hw.cpu_model,
            logical_cpus=hw.logical_cpus,
            ram_gb=round(hw.ram_bytes / 1e9, 1),
            gpus=tuple(gpus),
            os=hw.os,
            arch=hw.arch,
            image_os=hw.image_os,
            image_version=hw.image_version,
            profile=self.cpu_model.profile,
            cpu_method=self.cpu_method,
            methods={"cpu": self.cpu_method, "memory": memory_method, "gpu": MEASURED if gpus else "none"},
        )


# Frozen, so one shared instance is a safe default argument.
_DEFAULT_SETTINGS = MeterSettings()


def plan_meters(
    settings: MeterSettings = _DEFAULT_SETTINGS, hardware: Hardware | None = None, nvml: Any = None
) -> MeterPlan:
    """Detect the hardware and choose each component's method (RAPL, profile/TDP curve, NVML)."""
    hw = hardware or detect()
    cpu = choose_cpu_model(
        hw.cpu_model,
        hw.logical_cpus,
        machine_cpus=hw.machine_cpus,
        virtualised=hw.virtualised,
        profile=settings.profile,
        host_threads=settings.host_threads,
        sockets=settings.sockets or hw.sockets,
    )
    if settings.rapl == "off":
        domains: list[rapl.RaplDomain] = []
        rapl_reason = "RAPL disabled in the config (machine.rapl: off)"
    else:
        root = Path(settings.powercap_root or os.environ.get(POWERCAP_ENV) or rapl.DEFAULT_ROOT)
        domains, rapl_reason = rapl.discover(root, include_dram=settings.dram)
        if domains:
            probe = rapl.RaplMeter(domains)
            probe.start()
            if probe.error:  # e.g. energy_uj is root-only: say so now, fall back to the model
                domains, rapl_reason = [], probe.error
    gpu_reason = "GPU measurement disabled in the config (machine.gpu: off)"
    if settings.gpu != "off":
        meter, gpu_reason = open_gpu_meter(nvml)
        if meter is not None:
            nvml = meter.nvml
            gpu_reason = ", ".join(d.label for d in meter.devices)
            meter.close()
    return MeterPlan(hw, settings, cpu, domains, rapl_reason, gpu_reason, nvml if settings.gpu != "off" else None)


class MeterSession:
    """The meters for one run: start them, tick them on the sampler's clock, and turn the observed
    run into a Sample. Used by `measure_command` (a child process) and the Python API (a code block)."""

    def __init__(self, plan: MeterPlan, env: dict[str, str] | None = None):
        import psutil

        self.plan = plan
        self.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.rapl = rapl.RaplMeter(plan.rapl_domains) if plan.rapl_domains else None
        # The workload's own CUDA_VISIBLE_DEVICES decides which GPUs it uses, so it decides what we bill.
        visible = (env if env is not None else os.environ).get("CUDA_VISIBLE_DEVICES")
        self.gpu: GpuMeter | None = open_gpu_meter(plan.nvml, visible)[0] if plan.nvml is not None else None
        self._cpu_times = psutil.cpu_times
        self._sys_before = _busy_cpu_s(self._cpu_times())
        for meter in (self.rapl, self.gpu):
            if meter is not None:
                meter.start()

    def tick(self, now: float) -> None:
        if self.rapl is not None:
            self.rapl.tick(now)
        if self.gpu is not None:
            self.gpu.tick(now)

    def finish(self, run: ProcessRun, timeout_s: float | None = None) -> Sample:
        """Energy per component for the observed run."""
        try:
            sys_cpu = _busy_cpu_s(self._cpu_times()) - self._sys_before
            energy, notes = _cpu_energy(self.plan, run, self.rapl, sys_cpu)
            rss_avg, rss_peak, rss_note = _rss(run)
            if rss_note:
                notes.append(rss_note)
            if run.escaped:
                notes.append(
                    f"{run.escaped} process{'es' if run.escaped != 1 else ''} left the workload's process group "
                    "(setsid/setpgrp) and outlived it: killed at the end of the run, CPU time counted"
                )
            if not any(e.component == "memory" for e in energy):
                energy.append(
                    Energy(
                        "memory",
                        MEMORY_W_PER_GB * rss_avg / 1e9 * run.wall_s / 3600.0,
                        MODELLED,
                        "time-averaged RSS of the process tree × 0.392 W/GB",
                        MEMORY_SOURCE,
                    )
                )
            if self.gpu is not None:
                energy.extend(self.gpu.stop(run.wall_s))
                notes.extend(self.gpu.notes)
        finally:
            self.close()
        return Sample(
            wall_s=run.wall_s,
            cpu_s=run.cpu_s,
            exit_code=run.exit_code,
            energy=energy,
            rss_peak_mb=rss_peak / 1e6,
            rss_avg_mb=rss_avg / 1e6,
            overhead_cpu_s=run.overhead_cpu_s,
            started_at=self.started_at,
            timed_out=run.timed_out,
            error=_error(run, timeout_s),
            notes=notes,
        )

    def close(self) -> None:
        if self.gpu is not None:
            self.gpu.close()
            self.gpu = None


def measure_command(command: str | Sequence[str], plan: MeterPlan, **launch: Unpack[Launch]) -> Sample:
    """Run a command once under every meter of `plan` and return the sample (`launch`: as `run_process`)."""
    session = MeterSession(plan, launch.get("env"))
    try:
        run = run_process(command, on_tick=session.tick, **launch)
    except BaseException:
        session.close()
        raise
    return session.finish(run, launch.get("timeout_s"))


def _error(run: ProcessRun, timeout_s: float | None) -> str | None:
    if run.launch_error:
        return run.launch_error
    if run.timed_out:
        return f"timed out after {timeout_s:g} s; the process group was killed"
    if run.signal:
        return f"killed by signal {run.signal}"
    if run.exit_code == 127:
        return "command not found (exit code 127)"
    if run.exit_code != 0:
        return f"exited with code {run.exit_code}"
    return None


def _busy_cpu_s(t: Any) -> float:
    # Everything but idle, iowait and steal (time the hypervisor gave to other VMs): the machine's
    # CPU-seconds of real work in the window. guest time is already inside user.
    return float(sum(v for k, v in t._asdict().items() if k not in ("idle", "iowait", "steal", "guest", "guest_nice")))


def _rss(run: ProcessRun) -> tuple[float, float, str]:
    """Time-averaged and peak RSS of the tree, in bytes."""
    if not run.ticks:
        # Too short to sample: the kernel's peak (which for a fresh fork includes pre-exec pages) bounds it.
        return float(run.peak_rss_bytes), float(run.peak_rss_bytes), "run too short to sample RSS: kernel peak RSS used"
    t_prev, weighted = 0.0, 0.0
    for tick in run.ticks:
        weighted += tick.rss_bytes * (tick.t - t_prev)
        t_prev = tick.t
    weighted += run.ticks[-1].rss_bytes * max(run.wall_s - t_prev, 0.0)
    return weighted / max(run.wall_s, 1e-9), float(max(t.rss_bytes for t in run.ticks)), ""


def _cpu_energy(
    plan: MeterPlan, run: ProcessRun, meter: rapl.RaplMeter | None, sys_cpu_s: float
) -> tuple[list[Energy], list[str]]:
    notes: list[str] = []
    if meter is not None:
        reading = meter.stop()
        if reading.error is None:
            return _attribute_rapl(plan, run, reading, sys_cpu_s), notes
        fallback = f"RAPL failed during the run ({reading.error}); "
    else:
        fallback = f"{plan.rapl_reason}; " if plan.rapl_reason else ""
    model = plan.cpu_model
    intervals = utilisation_intervals(run.ticks, run.wall_s, run.cpu_s, plan.hardware.logical_cpus)
    joules = integrate(model.curve, intervals)
    band = f" (typical error ±{model.error_band_pct} %)" if model.error_band_pct is not None else ""
    return [Energy("cpu", joules / 3600.0, model.method, fallback + model.reason + band, model.source)], notes


def _attribute_rapl(plan: MeterPlan, run: ProcessRun, reading: rapl.RaplReading, sys_cpu_s: float) -> list[Energy]:
    """Package energy to the workload: all of it (`machine`), or idle × wall + dynamic × CPU share (`process`)."""
    pkg_j = sum(j for name, j in reading.joules.items() if name.startswith("package"))
    dram_j = sum(j for name, j in reading.joules.items() if name.startswith("dram"))
    domains = ", ".join(sorted(reading.joules))
    if plan.settings.attribution == "machine":
        cpu_j, how = pkg_j, "all package energy in the window (attribution: machine)"
        mem_j = dram_j
    else:
        share = min(run.cpu_s / sys_cpu_s, 1.0) if sys_cpu_s > 0 else (1.0 if run.cpu_s > 0 else 0.0)
        n_pkg = sum(1 for n in reading.joules if n.startswith("package"))
        idle_w = 0.12 * plan.cpu_model.tdp_w * n_pkg if plan.cpu_model.tdp_w else 0.0  # Teads idle point
        idle_j = min(idle_w * run.wall_s, pkg_j)
        cpu_j = idle_j + (pkg_j - idle_j) * share
        mem_j = dram_j * share
        how = f"idle {idle_w:.1f} W × wall + dynamic × tree CPU share {share:.1%} (attribution: process)"
    out = [Energy("cpu", cpu_j / 3600.0, MEASURED, f"RAPL {domains}: {how}", "Linux powercap RAPL")]
    if plan.settings.dram and dram_j > 0:
        out.append(
            Energy(
                "memory",
                mem_j / 3600.0,
                MEASURED,
                f"RAPL DRAM domain ({how.split('(')[-1].rstrip(')')})",
                "Linux powercap RAPL",
            )
        )
    return out
