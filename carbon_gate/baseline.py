"""The committed baseline file (`.carbon-gate/baseline.json`): per workload the samples, summary,
fingerprint, methods, tool version, commit and date, plus a capped history for trend charts.

Written atomically with sorted keys and one entry per line-ish layout, so updates give small diffs.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from . import __version__
from .errors import UsageError
from .fsutil import atomic_write_text

SCHEMA = "carbon-gate/baseline@1"


def load(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The baseline document, or None when the file does not exist (every workload is then `new`).

    A corrupt file, or one from another schema version, is a UsageError (exit 2) naming the file.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p}: cannot read the baseline file ({exc})") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{p}: corrupt baseline file (line {exc.lineno}: {exc.msg}); "
            "restore it from git, or delete it and run `carbon-gate baseline update`"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise UsageError(
            f"{p}: corrupt baseline file ({str(exc)[:200]}); "
            "restore it from git, or delete it and run `carbon-gate baseline update`"
        ) from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != SCHEMA:
        raise UsageError(
            f"{p}: baseline schema {schema!r} is not {SCHEMA!r} (written by another carbon-gate "
            "version); delete it and run `carbon-gate baseline update`"
        )
    if not isinstance(data.get("workloads"), dict):
        raise UsageError(f"{p}: corrupt baseline file: 'workloads' must be a mapping")
    doc: dict[str, Any] = data
    for name, e in doc["workloads"].items():
        problem = _entry_problem(e)
        if problem:
            raise UsageError(
                f"{p}: corrupt baseline file: workloads.{name}.{problem}; restore it from git, or delete "
                "it and run `carbon-gate baseline update`"
            )
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0


def _entry_problem(e: Any) -> str | None:
    """The first field of a stored entry that the gate could not use, as `field: what`, or None."""
    if not isinstance(e, dict):
        return f"(entry): expected a mapping, got {type(e).__name__}"
    samples = e.get("samples_wh", [])
    if not isinstance(samples, list) or not all(_number(x) for x in samples):
        return "samples_wh: expected a list of energies in Wh (numbers >= 0)"
    for key in ("commit", "date", "command", "tool_version"):
        if e.get(key) is not None and not isinstance(e[key], str):
            return f"{key}: expected a string or null"
    if e.get("fingerprint") is not None and not isinstance(e["fingerprint"], dict):
        return "fingerprint: expected a mapping or null"
    if e.get("summary") is not None and not isinstance(e["summary"], dict):
        return "summary: expected a mapping or null"
    history = e.get("history", [])
    if not isinstance(history, list):
        return "history: expected a list"
    for i, h in enumerate(history):
        if not isinstance(h, dict) or (h.get("median_wh") is not None and not _number(h["median_wh"])):
            return f"history[{i}]: expected {{commit, date, median_wh >= 0}}"
    return None


def entry(baseline: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The stored entry for workload `name`, if any."""
    if baseline is None:
        return None
    found: dict[str, Any] | None = baseline["workloads"].get(name)
    return found


def update(
    previous: dict[str, Any] | None,
    results: dict[str, Any],
    commit: str | None,
    history: int = 100,
    date: str | None = None,
) -> dict[str, Any]:
    """A new baseline document: each successful workload of `results` replaces its entry and
    appends to its history (capped at `history` entries); other workloads keep their entries."""
    date = date or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    workloads = dict(previous["workloads"]) if previous else {}
    fingerprint = results["machine"]["fingerprint"]
    for w in results["workloads"]:
        counted = [s for s in w["samples"] if not s.get("warmup") and s.get("error") is None]
        if w["verdict"] == "error" or not counted or not w.get("summary"):
            continue
        old = workloads.get(w["name"], {})
        point = {"commit": commit, "date": date, "median_wh": w["summary"]["median_wh"], "n": len(counted)}
        hist = [*old.get("history", []), point][-history:] if history > 0 else []
        workloads[w["name"]] = {
            "command": w["command"],
            "commit": commit,
            "date": date,
            "tool_version": results.get("tool_version", __version__),
            "fingerprint": w.get("fingerprint") or fingerprint,  # a merged suite's: its own shard's machine
            "methods": sorted({f"{e['component']}:{e['method']}" for s in counted for e in s["energy"]}),
            "samples_wh": [float(s["energy_wh"]) for s in counted],  # unrounded: stored mode compares these
            "wall_s": [round(s["wall_s"], 4) for s in counted],
            "summary": w["summary"],
            "history": hist,
        }
    return {
        "schema": SCHEMA,
        "tool_version": __version__,
        "updated_at": date,
        "workloads": {k: workloads[k] for k in sorted(workloads)},
    }


def write(path: str | os.PathLike[str], doc: dict[str, Any]) -> Path:
    """Write atomically with stable key order."""
    return atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
