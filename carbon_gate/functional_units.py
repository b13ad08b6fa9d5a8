"""The units protocol (docs/methodology.md, "Functional units"): a workload reports the functional
units it processed (epochs, steps, samples, tokens) so SCI and per-unit budgets divide by real work,
not by runs.

From Python: `carbon_gate.report_units(1, name="epoch")` after each epoch. From any language: write
a number (a line per report, or one total) to the file named in `$CARBON_GATE_UNITS_FILE`, which
carbon-gate sets for every run. The run's units are the sum of the numbers in the file.

Quality metrics travel the same way, so a report can put accuracy beside energy:
`carbon_gate.report_metric("accuracy", 0.93)`, or a line `metric accuracy 0.93` in the same file. A
metric reported twice keeps its last value. Readers of the units alone skip these lines (their first
word is not a number).
"""

from __future__ import annotations

import contextvars
import math
import os
import re
import threading
import warnings
from collections.abc import Iterator
from typing import Protocol

ENV_VAR = "CARBON_GATE_UNITS_FILE"
METRIC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")  # one word: it is a column name in the CSV
MAX_METRICS = 32  # distinct metric names kept per run; later new names are ignored
LINE_LIMIT = 4096  # characters of one units-file line read at a time


class Listener(Protocol):
    """What report_units() feeds: a `carbon_gate.measure` block."""

    def add_units(self, n: float, name: str | None = None) -> None: ...

    def add_metric(self, name: str, value: float) -> None: ...


# The innermost `carbon_gate.measure` block of this thread or asyncio task.
active_measure: contextvars.ContextVar[Listener | None] = contextvars.ContextVar(
    "carbon_gate_active_measure", default=None
)


class OpenBlocks:
    """The `measure` blocks open in this process, each with the block it was opened inside.

    A new thread does not inherit the ContextVar, yet a block's energy includes every thread of the
    process; so report_units() from a thread that opened no block goes to the innermost open block
    when the open blocks are nested in one another (one chain). When blocks run side by side (in
    several threads or tasks) such a call cannot tell which one it belongs to, and warns instead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parents: dict[Listener, Listener | None] = {}

    def open(self, block: Listener) -> contextvars.Token[Listener | None]:
        with self._lock:
            parent = active_measure.get()
            self._parents[block] = parent if parent in self._parents else None
        return active_measure.set(block)

    def close(self, block: Listener, token: contextvars.Token[Listener | None]) -> None:
        active_measure.reset(token)
        with self._lock:
            self._parents.pop(block, None)

    def listener(self) -> Listener | None:
        """The block that units reported here and now belong to, or None."""
        own = active_measure.get()
        with self._lock:
            if own is not None and own in self._parents:
                return own  # this thread's (or task's) own block
            leaves = set(self._parents) - set(self._parents.values())
        if len(leaves) <= 1:
            return next(iter(leaves), None)
        warnings.warn(
            f"report_units(): {len(leaves)} carbon_gate.measure blocks are open side by side and this thread "
            "opened none, so its units cannot be attributed; run the thread in the block's context "
            "(contextvars.copy_context().run) or call add_units() on the block",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


# Process-wide by nature: it is how a worker thread finds the block its work is measured in.
open_blocks = OpenBlocks()


def report_units(n: float = 1.0, name: str | None = None) -> bool:
    """Record `n` functional units processed. Returns False when nobody is listening (not under
    carbon-gate and not inside a `measure` block), so calling it unconditionally is safe."""
    n = float(n)
    if not math.isfinite(n):  # `n < 0` is False for NaN, which would then poison units and SCI
        raise ValueError(f"units must be a finite number, got {n!r}")
    if n < 0:
        raise ValueError(f"units cannot be negative, got {n!r}")
    listener = open_blocks.listener()
    if listener is not None:
        listener.add_units(n, name)
    # repr: exact ('%g' rounds 1234567 tokens)
    return _append_to_units_file(repr(n) + (f" {name}" if name else "")) or listener is not None


def report_metric(name: str, value: float) -> bool:
    """Record a quality metric of this run (accuracy, F1, tokens/s): carbon-gate carries it into the
    results, the report and the CSV beside the run's energy. Returns False when nobody is listening."""
    if not isinstance(name, str) or not METRIC_NAME.fullmatch(name):
        raise ValueError(
            f"a metric name is one word of letters, digits, '_', '.', '-' (starting with a letter), got {name!r}"
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"metric {name!r} must be a finite number, got {value!r}")
    listener = open_blocks.listener()
    if listener is not None:
        listener.add_metric(name, value)
    return _append_to_units_file(f"metric {name} {value!r}") or listener is not None


def _append_to_units_file(line: str) -> bool:
    """Append one line to the units file carbon-gate named for this run; False when it named none."""
    path = os.environ.get(ENV_VAR)
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
    return True


def read_metrics_file(path: str | os.PathLike[str]) -> dict[str, float]:
    """The `metric NAME VALUE` lines of the units file, the last value of each name; malformed lines
    (a bad name, a value that is not a finite number) are skipped, like units lines."""
    out: dict[str, float] = {}
    for line in _units_lines(path):
        parts = line.split()
        if len(parts) != 3 or parts[0] != "metric" or not METRIC_NAME.fullmatch(parts[1]):
            continue
        if parts[1] not in out and len(out) >= MAX_METRICS:  # a workload cannot flood results with columns
            continue
        try:
            value = float(parts[2])
        except ValueError:
            continue
        if math.isfinite(value):
            out[parts[1]] = value
    return out


def _units_lines(path: str | os.PathLike[str]) -> Iterator[str]:
    """The units file's lines, streamed: the workload writes it, so its size is not ours to trust (one
    line per training step is normal); a line longer than LINE_LIMIT comes in pieces, none of them valid."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            yield from iter(lambda: f.readline(LINE_LIMIT), "")
    except OSError:
        return


def read_units_file(path: str | os.PathLike[str]) -> tuple[float | None, str | None]:
    """Sum of the numbers in the units file (first word of each line) and the unit name if one was
    given; (None, None) when the workload reported nothing."""
    total, name, seen = 0.0, None, False
    for line in _units_lines(path):
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        try:
            number = float(parts[0])
        except ValueError:
            continue
        if not math.isfinite(number):  # 'nan'/'inf' are not counts: skipped like any other non-number
            continue
        total += number
        seen = True
        if len(parts) > 1:
            name = parts[1].strip()
    return (total, name) if seen else (None, None)
