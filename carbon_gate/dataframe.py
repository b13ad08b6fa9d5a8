"""Results and baseline history as a pandas DataFrame, for notebooks: `carbon_gate.to_dataframe(...)`.

    import carbon_gate
    df = carbon_gate.to_dataframe("carbon-gate-results.json")      # one row per sample
    df = carbon_gate.to_dataframe(sorted(Path("runs").glob("*.json")))  # many runs: a history
    hist = carbon_gate.to_dataframe(".carbon-gate/baseline.json")  # one row per recorded median

pandas is imported only here, when called (`pip install 'carbon-gate[dataframe]'`); the rows are built
as plain dicts first, so the shape is the same whatever pandas version reads them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import baseline as baseline_mod
from . import results as results_mod
from .errors import UsageError

COMPONENTS = ("cpu", "memory", "gpu")


def to_dataframe(
    source: str | os.PathLike[str] | dict[str, Any] | Iterable[str | os.PathLike[str] | dict[str, Any]],
) -> Any:  # a pandas.DataFrame (pandas ships no types without pandas-stubs)
    """A DataFrame of a results document, a baseline file, or several of either (paths or loaded dicts).

    Results give one row per sample (head and base, warm-ups flagged) with the workload, its verdict,
    the commit the side ran at, energy per component, time, units and a `metric_<name>` column per
    quality metric. A baseline file gives one row per history point: workload, commit, date, median Wh
    and runs. Rows of several documents are concatenated in the order given."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("to_dataframe() needs pandas: pip install 'carbon-gate[dataframe]'") from None
    docs = [source] if isinstance(source, (str, os.PathLike, dict)) else list(source)
    rows: list[dict[str, Any]] = []
    for doc in docs:
        rows.extend(rows_of(_load(doc)))
    frame = pd.DataFrame(rows)
    for column in ("created_at", "started_at", "date"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], errors="coerce", utc=True, format="ISO8601")
    return frame


def rows_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows `to_dataframe` makes of one loaded document (plain dicts: testable without pandas)."""
    if doc.get("schema") == baseline_mod.SCHEMA:
        return [
            {
                "workload": name,
                "commit": h.get("commit"),
                "date": h.get("date"),
                "median_wh": h.get("median_wh"),
                "n": h.get("n"),
            }
            for name, e in doc["workloads"].items()
            for h in e.get("history") or []
        ]
    git = doc.get("git") or {}
    rows = []
    for w in doc["workloads"]:
        for side, samples in (("head", w.get("samples") or []), ("base", w.get("base_samples") or [])):
            counted = 0
            for s in samples:
                counted += 0 if s.get("warmup") else 1
                row = {
                    "created_at": doc.get("created_at"),
                    "workload": w["name"],
                    "verdict": w["verdict"],
                    "side": side,
                    "commit": git.get("head")
                    if side == "head"
                    else (w.get("baseline") or {}).get("commit") or git.get("base"),
                    "round": None if s.get("warmup") else counted,
                    "warmup": bool(s.get("warmup")),
                    "energy_wh": s.get("energy_wh"),
                    **{
                        f"{c}_wh": sum(e["wh"] for e in s.get("energy") or [] if e["component"] == c)
                        for c in COMPONENTS
                    },
                    "wall_s": s.get("wall_s"),
                    "cpu_s": s.get("cpu_s"),
                    "units": s.get("units"),
                    "error": s.get("error"),
                    "started_at": s.get("started_at") or None,
                }
                row.update({f"metric_{k}": v for k, v in (s.get("metrics") or {}).items()})
                rows.append(row)
    return rows


def _load(doc: Any) -> dict[str, Any]:
    if isinstance(doc, dict):
        return doc
    path = Path(doc)
    try:
        schema = json.loads(path.read_text(encoding="utf-8")).get("schema")
    except (OSError, ValueError, AttributeError):
        schema = None  # results_mod.load names the problem
    if schema == baseline_mod.SCHEMA:
        loaded = baseline_mod.load(path)
        if loaded is None:  # pragma: no cover - raced away between the two reads
            raise UsageError(f"{path}: baseline file not found")
        return loaded
    return results_mod.load(path)
