"""Paired runs: the base commit and the head run interleaved in rounds on the same machine, in a
seeded random order per round, so drift and machine differences hit both sides alike (DESIGN §7)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Workload
from ..domain import Sample
from ..progress import Event, Progress
from .meter import MeterPlan
from .workload import run_once


@dataclass
class PairedRuns:
    """Both sides' samples; counted ones are aligned by round. `base_error` is set when the base failed."""

    head: list[Sample] = field(default_factory=list)
    base: list[Sample] = field(default_factory=list)
    base_error: str | None = None
    orders: list[str] = field(default_factory=list)  # "hb" or "bh" per round

    @property
    def head_failed(self) -> bool:
        return any(not s.ok for s in self.head)

    def counted_pairs(self) -> tuple[list[float], list[float]]:
        """Energies of the rounds in which both sides ran successfully."""
        h = [s for s in self.head if not s.warmup]
        b = [s for s in self.base if not s.warmup]
        pairs = [(x.energy_wh, y.energy_wh) for x, y in zip(h, b) if x.ok and y.ok]
        return [p[0] for p in pairs], [p[1] for p in pairs]


def run_paired(workload: Workload, plan: MeterPlan, head_root: Path, base_root: Path, rounds: int,
               rng: random.Random, *, runs: PairedRuns | None = None, warmup: bool = True,
               progress: Progress | None = None, environ: Mapping[str, str] | None = None) -> PairedRuns:
    """Warm-ups on both sides, then `rounds` rounds; pass `runs` back in to add confirmation rounds.

    A head failure stops the workload (it is the PR's error); a base failure stops only the base
    side, and the head keeps running so its budget can still be checked.
    """
    runs = runs or PairedRuns()
    sides = {"h": ("head", head_root, runs.head), "b": ("base", base_root, runs.base)}
    if warmup:
        for _ in range(workload.warmup):
            for key in "hb":
                if key == "b" and runs.base_error:
                    continue
                _one(workload, plan, sides[key], runs, warmup=True, label="warm-up", progress=progress, environ=environ)
    start = len(runs.orders)
    for r in range(rounds):
        if runs.head_failed:
            break
        order = "hb" if rng.random() < 0.5 else "bh"
        runs.orders.append(order)
        for key in order:
            if key == "b" and runs.base_error:
                continue
            if key == "h" and runs.head_failed:
                continue
            _one(workload, plan, sides[key], runs, warmup=False, label=f"round {start + r + 1}", progress=progress,
                 of=start + rounds, environ=environ)
    return runs


def _one(workload: Workload, plan: MeterPlan, side: tuple[str, Path, list[Sample]], runs: PairedRuns, *,
         warmup: bool, label: str, progress: Progress | None, of: int = 0,
         environ: Mapping[str, str] | None = None) -> None:
    name, root, samples = side
    sample = run_once(workload, plan, root, warmup=warmup, environ=environ)
    samples.append(sample)
    if name == "base" and not sample.ok and runs.base_error is None:
        runs.base_error = sample.error
    if progress is not None:
        status = sample.error or f"{sample.energy_wh * 1000:.3g} mWh"
        progress(Event(f"  {workload.name}: {label} {name}: {sample.wall_s:.2f} s, {status}", "run", workload.name,
                       label=f"{label}/{of} {name}" if of else f"{label} {name}"))
