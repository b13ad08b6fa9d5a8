"""Run a configured workload: warm-ups then counted repeats, output captured, one Sample per run."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from ..domain import Sample
from ..functional_units import ENV_VAR, read_metrics_file, read_units_file
from ..progress import Event, Progress
from ..settings import Workload
from .environ import workload_environ
from .meter import MeterPlan, measure_command

STDERR_TAIL_CHARS = 2000


def run_once(
    workload: Workload,
    plan: MeterPlan,
    root: Path,
    *,
    warmup: bool = False,
    extra_env: dict[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    cpus: frozenset[int] | None = None,
) -> Sample:
    """Measure one run of `workload` in the tree at `root` (the config's directory, or a base worktree).

    `environ` is what the workload inherits, already scrubbed (meters.environ); by default this process's
    environment through the default allow-list, never the whole of it.
    `cpus` pins the run's process tree (duet rounds)."""
    cwd = workload.workdir(root)
    with tempfile.TemporaryDirectory(prefix="carbon-gate-run-") as scratch, tempfile.TemporaryFile() as err:
        units_file = Path(scratch) / "units"
        inherited = workload_environ() if environ is None else environ
        env = {**inherited, **workload.env, **(extra_env or {}), ENV_VAR: str(units_file)}
        sample = measure_command(
            workload.command,
            plan,
            cwd=cwd,
            env=env,
            timeout_s=workload.timeout_s,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cpus=cpus,
        )
        sample.stderr_tail = _tail(err)
        sample.units, _ = read_units_file(units_file)
        sample.metrics = read_metrics_file(units_file)
    sample.warmup = warmup
    return sample


def run_event(workload: str, label: str, sample: Sample) -> Event:
    """The progress line for one finished run: its time and energy, or its error."""
    status = sample.error or f"{sample.energy_wh * 1000:.3g} mWh"
    return Event(
        text=f"  {workload}: {label}: {sample.wall_s:.2f} s, {status}", kind="run", workload=workload, label=label
    )


def run_workload(
    workload: Workload,
    plan: MeterPlan,
    root: Path,
    *,
    repeats: int | None = None,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
    into: list[Sample] | None = None,
) -> list[Sample]:
    """Warm-ups then counted runs; stops at the first failed run (a crash or timeout would only repeat).
    Samples are appended to `into` as they finish, so an interrupted caller still has them."""
    n = workload.repeats if repeats is None else repeats
    total = workload.warmup + n
    samples: list[Sample] = [] if into is None else into
    for i in range(total):
        is_warmup = i < workload.warmup
        sample = run_once(workload, plan, root, warmup=is_warmup, environ=environ)
        samples.append(sample)
        if progress is not None:
            label = "warm-up" if is_warmup else f"run {i - workload.warmup + 1}/{n}"
            progress(run_event(workload.name, label, sample))
        if not sample.ok:
            break
    return samples


def _tail(f: IO[bytes]) -> str:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - STDERR_TAIL_CHARS * 4))
    tail: str = f.read().decode("utf-8", errors="replace")
    return tail[-STDERR_TAIL_CHARS:]
