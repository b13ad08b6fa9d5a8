"""`carbon-gate machine`: what the meters will use on this machine (or a pretended one), and why; and
`machine calibrate`: this host's measured power curve as a runner profile."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .meters import rapl
from .meters.calibrate import CalibrationError, Step, profile_document, run_ladder
from .meters.hardware import Hardware, detect
from .meters.meter import MEMORY_W_PER_GB, POWERCAP_ENV, plan_meters
from .pipeline import machine_section
from .settings import MeterSettings

PROFILE_HEADER = (
    "# Written by `carbon-gate machine calibrate`: name this file in the config as machine.profile.\n"
    "# curve: watts of all the host's CPUs at each utilisation (%); calibration: the raw ladder.\n"
)


@dataclass(frozen=True, kw_only=True)
class MachineQuery:
    """The machine to describe: this one, or one pretended with `--cpu` (nothing of this one leaks in)."""

    cpu_name: str | None = None
    vcpus: int | None = None
    host_threads: int | None = None
    sockets: int | None = None
    vm: bool | None = None
    profile: str = "auto"


def describe_machine(query: MachineQuery) -> tuple[dict[str, Any], Hardware]:
    """The machine section of a results file plus the hardware, RAPL and memory model, for display."""
    settings = MeterSettings(profile=query.profile, host_threads=query.host_threads, sockets=query.sockets)
    if query.cpu_name:  # pretend completely: nothing of this machine (counters, GPUs, VM status, RAM) leaks in
        held = query.vcpus or detect().logical_cpus
        hw = Hardware(
            cpu_model=query.cpu_name,
            logical_cpus=held,
            machine_cpus=query.host_threads or held,
            virtualised=bool(query.vm),
            ram_bytes=0,
            os="unknown (pretended)",
            arch="unknown",
            sockets=query.sockets or 1,
        )
        settings = dataclasses.replace(settings, rapl="off", gpu="off")
    else:
        hw = detect()
        if query.vcpus:
            hw = dataclasses.replace(hw, logical_cpus=query.vcpus)
    plan = plan_meters(settings, hardware=hw)  # a bad profile raises ProfileError
    if query.cpu_name:
        plan = dataclasses.replace(
            plan, rapl_reason="a pretended machine has no counters", gpu_reason="none: a pretended machine has no GPU"
        )
    info = machine_section(plan)
    info["hardware"] = dataclasses.asdict(hw)
    info["pretended"] = bool(query.cpu_name)
    info["memory"] = {"method": "modelled", "w_per_gb": MEMORY_W_PER_GB, "source": "Cloud Carbon Footprint"}
    info["rapl"] = [d.name for d in plan.rapl_domains] or plan.rapl_reason
    return info, hw


def machine_lines(info: dict[str, Any], hw: Hardware, query: MachineQuery) -> list[str]:
    """The plain-text description, one line per fact (wrapped by the caller to the terminal)."""
    pretended = bool(query.cpu_name)
    kind = (" (virtual machine)" if hw.virtualised else "") + (f", {hw.sockets} sockets" if hw.sockets > 1 else "")
    lines = [
        f"CPU          {hw.cpu_model} — {hw.logical_cpus} vCPUs held"
        + (
            f", host threads {'unknown' if hw.virtualised and not query.host_threads else hw.machine_cpus}"
            if pretended
            else f" of {hw.machine_cpus}"
        )
        + kind
        + (" (pretended)" if pretended else ""),
        f"RAM          {hw.ram_bytes / 1e9:.1f} GB" if not pretended else "RAM          not known (pretended machine)",
        f"platform     {hw.os} {hw.arch}" + (f", runner image {hw.image_os} {hw.image_version}" if hw.image_os else ""),
        f"CPU energy   {info['cpu']['method']}: {info['cpu']['reason']}",
    ]
    if info["cpu"]["fallback"]:
        lines.append(f"             (no counters: {info['cpu']['fallback']})")
    lines.append("curve        " + "  ".join(f"{p}%:{w:g}W" for p, w in info["cpu"]["curve_w"]))
    lines.append(f"             source: {info['cpu']['source']}")
    if info["cpu"].get("error_band_pct") is not None:
        lines.append(f"             typical error ±{info['cpu']['error_band_pct']} % ({info['cpu']['error_source']})")
    lines.append(f"memory       modelled: time-averaged RSS × {MEMORY_W_PER_GB} W/GB (Cloud Carbon Footprint)")
    lines.append(f"GPU          {info['gpu']}")
    emb = info["embodied"]
    lines.append(
        f"embodied     {emb['total_kg']:g} kg × share {emb['share']:g} over {emb['lifetime_years']:g} years "
        f"({emb['source']})"
        if emb
        else "embodied     none: no embodied data for this machine (the profile has none)"
    )
    lines.append(f"fingerprint  {json.dumps(info['fingerprint'], sort_keys=True)}")
    return lines


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """A measured load ladder and the runner profile made of it."""

    steps: list[Step]
    profile_text: str  # the profile file: YAML, with a header that says how to use it

    @property
    def busy_idle(self) -> float | None:
        """The host's utilisation during the 0 % step when it was over 20 %: then the curve's low end is
        not this host's idle. None otherwise."""
        lowest = min(self.steps, key=lambda s: s.target_pct)
        return lowest.utilisation if lowest.target_pct == 0 and lowest.utilisation > 0.2 else None


def calibrate(*, name: str, levels: Sequence[int], seconds: float, announce: Callable[[str], None]) -> Calibration:
    """Measure this host's package power (RAPL) at each load level, `seconds` each, and make a runner profile
    named `name` of it. `announce` hears what is about to be measured; no counters is a UsageError."""
    import yaml

    root = Path(os.environ.get(POWERCAP_ENV) or rapl.DEFAULT_ROOT)
    domains, why = rapl.discover(root)
    if not domains:
        raise UsageError(f"cannot calibrate without RAPL counters: {why}")
    hw = detect()
    announce(f"calibrating {hw.cpu_model}, {hw.logical_cpus} CPUs: levels {list(levels)} %, {seconds:g} s each")
    try:
        steps = run_ladder(domains, hw.logical_cpus, levels, seconds)
    except CalibrationError as exc:
        raise UsageError(f"a RAPL counter failed during calibration: {exc}") from None
    doc = profile_document(
        steps,
        name=name,
        cpu_model=hw.cpu_model,
        vcpus=hw.logical_cpus,
        host=platform.node() or "this host",
        domains=[d.name for d in domains],
    )
    return Calibration(
        steps=steps, profile_text=PROFILE_HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    )
