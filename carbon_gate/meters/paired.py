"""Paired runs: the base commit and the head measured in rounds on the same machine, so drift and
machine differences hit both sides alike (docs/statistics.md, "Paired and unpaired runs").

Two ways to pair a round:
- sequential: one side after the other, the order balanced in seeded random pairs of rounds
  (hb, bh or bh, hb), so a first-or-second-slot effect cancels out instead of adding noise to one side;
- duet: both sides at the same time, each pinned to its own half of the CPUs, the halves swapped every
  round (Bulej et al., "Duet benchmarking", ICPE 2020), so a noisy neighbour hits both alike.

Rounds are added until `stop` says the verdict is decided, or the round or time budget is spent.
Short workloads are batched: each round runs a side `batch` times, so a round lasts at least
MIN_ROUND_S (as pyperf calibrates its loops); a run too short even for that is not compared.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from ..domain import Sample
from ..progress import Event, Progress
from ..settings import Workload
from .meter import MeterPlan
from .workload import run_event, run_once

MIN_ROUND_S = 0.25  # a side's share of a round lasts at least this long (timer and start-up noise fade)
MAX_BATCH = 50  # runs per side per round at most; a run shorter than MIN_ROUND_S / MAX_BATCH is too short
Pairing = Literal["sequential", "duet"]
SEQUENTIAL: Final = "sequential"
DUET: Final = "duet"
# One side of a comparison: (name, tree, its samples, the environment its runs inherit).
Side = tuple[str, Path, list[Sample], Mapping[str, str] | None]


@dataclass
class PairedRuns:
    """Both sides' samples in run order; a round is `batch` consecutive runs of each side."""

    head: list[Sample] = field(default_factory=list)
    base: list[Sample] = field(default_factory=list)
    base_error: str | None = None
    # per round: "hb"/"bh" (sequential) or "h0"/"h1" (duet: head's CPU set)
    orders: list[str] = field(default_factory=list)
    batch: int = 1
    pairing: Pairing = SEQUENTIAL
    cpu_sets: tuple[tuple[int, ...], ...] = ()  # duet: the two CPU sets the sides swap between
    stop: str = ""  # why no more rounds were added
    elapsed_s: float = 0.0
    too_short: str | None = None  # set when one run is too short to compare even in batches

    # A method, not a property: a type checker would keep an earlier check's narrowing across runs.
    def head_failed(self) -> bool:
        return any(not s.ok for s in self.head)

    @property
    def rounds(self) -> int:
        return len(self.orders)

    def counted_pairs(self) -> tuple[list[float], list[float]]:
        """Energy per round of each side (the sum of its `batch` runs), rounds where both sides ran."""
        h = _per_round([s for s in self.head if not s.warmup], self.batch)
        b = _per_round([s for s in self.base if not s.warmup], self.batch)
        pairs = [(x, y) for x, y in zip(h, b) if x is not None and y is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]


def _per_round(samples: list[Sample], batch: int) -> list[float | None]:
    out: list[float | None] = []
    for i in range(0, len(samples) - batch + 1, batch):
        group = samples[i : i + batch]
        out.append(sum(s.energy_wh for s in group) if all(s.ok for s in group) else None)
    return out


def duet_cpu_sets() -> tuple[tuple[int, ...], ...] | None:
    """Two disjoint, equal halves of the CPUs this process may use; None with fewer than two."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    half = len(cpus) // 2
    if half < 1:
        return None
    return tuple(cpus[:half]), tuple(cpus[half : 2 * half])


def batch_size(run_s: float) -> int | None:
    """Runs per side per round so a round lasts >= MIN_ROUND_S; None when even MAX_BATCH runs cannot."""
    if run_s * MAX_BATCH < MIN_ROUND_S:
        return None
    return max(1, min(MAX_BATCH, -int(-MIN_ROUND_S // max(run_s, 1e-9))))


def run_rounds(
    workload: Workload,
    plan: MeterPlan,
    head_root: Path,
    base_root: Path,
    rng: random.Random,
    *,
    first: int,
    max_rounds: int,
    max_time_s: float,
    stop: Callable[[PairedRuns], bool],
    looks: tuple[int, ...],
    pairing: Pairing = SEQUENTIAL,
    runs: PairedRuns | None = None,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
) -> PairedRuns:
    """Warm-ups on both sides (at least one, which also sizes the batch), then rounds: `first` of them,
    then more until `stop(runs)` is true at one of the `looks` (round counts), `max_rounds` are done, or
    the next round would end after `max_time_s` (the first block always runs).

    A head failure stops the workload (it is the PR's error); a base failure stops only the base side,
    and the head keeps running so its budget can still be checked.
    """
    runs = runs or PairedRuns()
    runs.pairing = pairing
    if pairing == DUET:
        sets = duet_cpu_sets()
        if sets is None:
            runs.pairing = SEQUENTIAL
        else:
            runs.cpu_sets = sets
    start = time.perf_counter()
    # `environ` (already scrubbed) rides along with each side to run_once.
    sides = {"h": ("head", head_root, runs.head, environ), "b": ("base", base_root, runs.base, environ)}
    # Warm-ups run one after the other, unpinned: they also measure how long one run takes.
    for _ in range(max(1, workload.warmup)):
        for key in "hb":
            if not (key == "b" and runs.base_error) and not runs.head_failed():
                _one(workload, plan, sides[key], runs, warmup=True, label="warm-up", progress=progress)
    if runs.head_failed():
        runs.stop = "the head failed"
        return runs
    walls = [s.wall_s for s in runs.head + runs.base if s.ok]
    batch = batch_size(min(walls)) if walls else 1
    if batch is None:
        # Still run the first block, one run per round, so budgets are checked; the verdict says why no comparison.
        runs.too_short = (
            f"one run takes {min(walls) * 1000:.2g} ms: even {MAX_BATCH} runs per round stay under "
            f"{MIN_ROUND_S:g} s, where start-up, scheduling and timer resolution dominate"
        )
        batch = 1
    runs.batch = batch
    if progress and batch > 1:
        progress(
            Event(
                text=f"  {workload.name}: one run takes {min(walls) * 1000:.3g} ms: {batch} runs per side per round",
                kind="workload",
                workload=workload.name,
                runs=_done(runs) + 2 * batch * first,
            )
        )
    round_s = 0.0
    looks_set = set(looks)
    while True:
        n = runs.rounds
        if runs.head_failed():
            runs.stop = "the head failed"
            break
        if n >= first:
            if runs.too_short:
                runs.stop = "too short to compare"
                break
            if runs.base_error:
                runs.stop = "the base failed"
                break
            if n in looks_set and stop(runs):  # before the budgets: the last look may decide too
                runs.stop = "decided"
                break
            if n in looks_set and progress and n < max_rounds:
                after = min([r for r in looks if r > n] or [max_rounds])
                progress(
                    Event(
                        text=f"  {workload.name}: not decided after {n} rounds; next look at {after}",
                        kind="workload",
                        workload=workload.name,
                        runs=_done(runs) + 2 * runs.batch * (after - n),
                    )
                )
            if n >= max_rounds:
                runs.stop = f"round budget spent (max_rounds {max_rounds})"
                break
            if time.perf_counter() - start + round_s > max_time_s:
                runs.stop = f"time budget spent (max_time {max_time_s:g} s)"
                break
        t0 = time.perf_counter()
        _round(workload, plan, sides, runs, rng, label=f"round {n + 1}", progress=progress)
        round_s = max(round_s * 0.5, time.perf_counter() - t0)  # pessimistic: recent slow rounds count
    # The time budget may end between looks: assess what was measured (the next look's alpha applies).
    runs.elapsed_s = time.perf_counter() - start
    return runs


def _done(runs: PairedRuns) -> int:
    return len(runs.head) + len(runs.base)


def _round(
    workload: Workload,
    plan: MeterPlan,
    sides: dict[str, Side],
    runs: PairedRuns,
    rng: random.Random,
    *,
    label: str,
    progress: Progress | None,
) -> None:
    n = runs.rounds
    if runs.pairing == DUET:
        # Swap the CPU sets every round, so a faster CPU favours neither side.
        order = f"h{n % 2}"
        runs.orders.append(order)
        head_cpus = frozenset(runs.cpu_sets[n % 2])
        base_cpus = frozenset(runs.cpu_sets[1 - n % 2])
        # Both sides in worker threads, started in the round's order, so neither is favoured by running
        # in the main thread (an early trial that ran the head in the main thread measured it +2 %).
        jobs = [("h", head_cpus)] + ([] if runs.base_error else [("b", base_cpus)])
        done = [threading.Event() for _ in jobs]
        errors: list[BaseException] = []
        workers = [
            threading.Thread(
                target=_quietly,
                args=(ev, errors, _batch, workload, plan, sides[k], runs, cpus, label, progress),
                name=f"carbon-gate-duet-{k}",
                daemon=True,
            )
            for (k, cpus), ev in zip(jobs, done)
        ]
        for t in workers if n % 4 < 2 else workers[::-1]:
            t.start()
        try:
            for ev in done:
                ev.wait()  # runs are bounded by the workload's timeout
        except BaseException:
            _interrupt(workers, done)
            raise
        if errors:  # a side's own failure (not an interrupt we sent): the main thread raises it
            raise errors[0]
        return
    # Sequential: orders come in balanced pairs (hb then bh, or bh then hb), chosen by the seeded rng.
    if n % 2 == 0:  # noqa: SIM108 - one branch per rule reads better than a nested conditional
        order = "hb" if rng.random() < 0.5 else "bh"
    else:
        order = "bh" if runs.orders[-1] == "hb" else "hb"
    runs.orders.append(order)
    for key in order:
        if key == "b" and runs.base_error:
            continue
        if key == "h" and runs.head_failed():
            continue
        _batch(workload, plan, sides[key], runs, None, label, progress)


def _quietly(done: threading.Event, errors: list[BaseException], fn: Callable[..., None], *args: Any) -> None:
    """Thread target: no traceback from the thread; its exception goes to `errors` for the main thread
    (an interrupt delivered by `_interrupt` is the main thread's own, already being raised there)."""
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001
        errors.append(exc)
    finally:
        done.set()


def _interrupt(workers: list[threading.Thread], done: list[threading.Event]) -> None:
    """Ctrl-C or SIGTERM reached the main thread mid-round: raise KeyboardInterrupt in each duet worker,
    so its run_process kills and reaps the side's process group as on a direct interrupt, and wait.
    Liveness comes from our own events: a Thread.join interrupted by a signal can mark a running
    thread as stopped (CPython bpo-45274's fix), so is_alive() is not to be trusted here."""
    import ctypes

    for t, ev in zip(workers, done):
        if not ev.is_set() and t.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident), ctypes.py_object(KeyboardInterrupt))
    for ev in done:
        ev.wait(timeout=10)


def _batch(
    workload: Workload,
    plan: MeterPlan,
    side: Side,
    runs: PairedRuns,
    cpus: frozenset[int] | None,
    label: str,
    progress: Progress | None,
) -> None:
    for _ in range(runs.batch):
        sample = _one(workload, plan, side, runs, warmup=False, label=label, progress=progress, cpus=cpus)
        if not sample.ok:
            return


def _one(
    workload: Workload,
    plan: MeterPlan,
    side: Side,
    runs: PairedRuns,
    *,
    warmup: bool,
    label: str,
    progress: Progress | None,
    cpus: frozenset[int] | None = None,
) -> Sample:
    name, root, samples, environ = side
    sample = run_once(workload, plan, root, warmup=warmup, cpus=cpus, environ=environ)
    samples.append(sample)
    if name == "base" and not sample.ok and runs.base_error is None:
        runs.base_error = sample.error
    if progress is not None:
        progress(run_event(workload.name, f"{label} {name}", sample))
    return sample
