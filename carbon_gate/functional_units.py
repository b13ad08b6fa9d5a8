"""The units protocol (DESIGN §11): a workload reports the functional units it processed (epochs,
steps, samples, tokens) so SCI and per-unit budgets divide by real work, not by runs.

From Python: `carbon_gate.report_units(1, name="epoch")` after each epoch. From any language: write
a number (a line per report, or one total) to the file named in `$CARBON_GATE_UNITS_FILE`, which
carbon-gate sets for every run. The run's units are the sum of the numbers in the file.
"""

from __future__ import annotations

import contextvars
import os
from pathlib import Path

ENV_VAR = "CARBON_GATE_UNITS_FILE"

# The innermost `carbon_gate.measure` block, for report_units() calls made in-process.
active_measure: contextvars.ContextVar = contextvars.ContextVar("carbon_gate_active_measure", default=None)


def report_units(n: float = 1.0, name: str | None = None) -> bool:
    """Record `n` functional units processed. Returns False when nobody is listening (not under
    carbon-gate and not inside a `measure` block), so calling it unconditionally is safe."""
    if n < 0:
        raise ValueError("units cannot be negative")
    listener = active_measure.get()
    if listener is not None:
        listener.add_units(n, name)
    path = os.environ.get(ENV_VAR)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{n:g}" + (f" {name}" if name else "") + "\n")
        return True
    return listener is not None


def read_units_file(path: str | os.PathLike) -> tuple[float | None, str | None]:
    """Sum of the numbers in the units file (first word of each line) and the unit name if one was
    given; (None, None) when the workload reported nothing."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None
    total, name, seen = 0.0, None, False
    for line in text.splitlines():
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        try:
            total += float(parts[0])
            seen = True
        except ValueError:
            continue
        if len(parts) > 1:
            name = parts[1].strip()
    return (total, name) if seen else (None, None)
