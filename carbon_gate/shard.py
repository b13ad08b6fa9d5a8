"""Split a suite over N CI jobs (`carbon-gate run --shard I/N`): a deterministic plan, balanced by
expected duration when the baseline holds timings, else by count.

Like pytest-split's `least_duration`: workloads go, longest first, to the shard with the least
expected time so far. Workloads with a recorded duration are placed before those without, so a
new workload (no timing yet) never moves a timed one; among the untimed, the order is a hash of the
name, not its position, so adding one moves few others. Every shard computes the same plan from the
same config and baseline, which is what lets the merge name the workloads of a missing shard.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import UsageError

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class ShardSpec:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    @property
    def id(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> ShardSpec:
    """'2/5' → ShardSpec(2, 5); anything else is a usage error saying what is expected."""
    m = _SPEC.match(text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UsageError(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/4")
    return ShardSpec(int(m.group(1)), int(m.group(2)))


def _stable_hash(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def expected_seconds(baseline_doc: dict[str, Any] | None, name: str, runs: int) -> float | None:
    """The median recorded wall time of a workload's runs × the runs it will make, or None."""
    entry = ((baseline_doc or {}).get("workloads") or {}).get(name) or {}
    walls = [w for w in entry.get("wall_s") or [] if isinstance(w, (int, float)) and w >= 0]
    return statistics.median(walls) * max(runs, 1) if walls else None


def plan_shards(names: Sequence[str], count: int, durations: dict[str, float | None] | None = None) -> list[list[str]]:
    """The workloads of each of `count` shards (index 0 is shard 1), each list in the suite's order.

    Timed workloads (longest first) then untimed ones (weight: the mean known duration, or 1) go to
    the least-loaded shard; ties go to the lowest index, so the plan is a pure function of its input."""
    durations = durations or {}
    known = [d for n in names if (d := durations.get(n)) is not None]
    default = statistics.fmean(known) if known else 1.0
    timed = sorted((n for n in names if durations.get(n) is not None), key=lambda n: (-durations[n], n))  # type: ignore[operator]
    untimed = sorted((n for n in names if durations.get(n) is None), key=lambda n: (_stable_hash(n), n))
    loads = [0.0] * count
    owner: dict[str, int] = {}
    for n in [*timed, *untimed]:
        d = durations.get(n)
        i = min(range(count), key=lambda k: (loads[k], k))
        owner[n] = i
        loads[i] += d if d is not None else default
    return [[n for n in names if owner[n] == k] for k in range(count)]
