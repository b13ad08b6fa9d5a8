"""The machine facts every benchmark prints, so a figure is never separated from where it came from."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path


def facts() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        ram_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError):
        ram_gb = None
    try:
        version = (
            subprocess.run(
                [sys.executable, "-m", "carbon_gate", "--version"], capture_output=True, text=True, timeout=60
            ).stdout.strip()
            or "carbon-gate: not importable"
        )
    except (OSError, subprocess.TimeoutExpired):
        version = "carbon-gate: not runnable"
    return {
        "platform": platform.platform(),
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gb": ram_gb,
        "rapl": any(Path("/sys/class/powercap").glob("intel-rapl:*")),
        "python": platform.python_version(),
        "carbon_gate": version,
        "load_start": round(os.getloadavg()[0], 2),
    }


def line(f: dict) -> str:
    return (
        f"machine: {f['platform']}; CPU {f['cpu_model']}, {f['logical_cpus']} logical CPUs "
        f"({f['cpus_available']} available), {f['ram_gb']} GB RAM; RAPL {'present' if f['rapl'] else 'absent'}; "
        f"Python {f['python']}; {f['carbon_gate']}; load average (1 min) {f['load_start']:.2f}"
    )


def load_now() -> float:
    return round(os.getloadavg()[0], 2)
