"""What machine are we on: the facts the meters and the fingerprint are built from."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Hardware:
    """Detected hardware and platform."""

    cpu_model: str
    logical_cpus: int  # CPUs this process may run on (affinity), i.e. the vCPUs the job holds
    machine_cpus: int  # CPUs the OS sees
    virtualised: bool
    ram_bytes: int
    os: str
    arch: str
    image_os: str | None = None
    image_version: str | None = None
    sockets: int = 1  # physical CPU packages (in a VM: the virtual ones the guest is shown)


def detect(proc_root: Path = Path("/proc"), sys_root: Path = Path("/sys")) -> Hardware:
    """Read the CPU model, CPU counts, sockets, RAM and platform of this machine."""
    import psutil

    model, virtualised, packages = _cpuinfo(proc_root / "cpuinfo")
    try:
        held = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        held = os.cpu_count() or 1
    return Hardware(
        cpu_model=model or platform.processor() or "unknown",
        logical_cpus=held,
        machine_cpus=os.cpu_count() or held,
        virtualised=virtualised,
        ram_bytes=psutil.virtual_memory().total,
        os=f"{platform.system()} {platform.release()}",
        arch=platform.machine(),
        image_os=os.environ.get("ImageOS"),  # noqa: SIM112 - GitHub runners spell it so
        image_version=os.environ.get("ImageVersion"),  # noqa: SIM112 - as above
        sockets=count_sockets(sys_root, packages),
    )


def count_sockets(sys_root: Path, cpuinfo_packages: set[str]) -> int:
    """Distinct `physical_package_id`s in sysfs, else distinct `physical id`s in /proc/cpuinfo, else 1."""
    ids = set()
    for f in (sys_root / "devices" / "system" / "cpu").glob("cpu[0-9]*/topology/physical_package_id"):
        try:
            ids.add(f.read_text().strip())
        except OSError:
            continue
    return len(ids or cpuinfo_packages) or 1


def _cpuinfo(path: Path) -> tuple[str, bool, set[str]]:
    model = ""
    virtualised = False
    packages: set[str] = set()
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return model, virtualised, packages
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "cpu model") and not model:
            model = " ".join(value.split())
        elif key == "flags" and "hypervisor" in value.split():
            virtualised = True
        elif key == "physical id":
            packages.add(value.strip())
    return model, virtualised, packages
