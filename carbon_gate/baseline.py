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


def load(path: str | os.PathLike) -> dict[str, Any] | None:
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
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{p}: corrupt baseline file (line {exc.lineno}: {exc.msg}); "
                         "restore it from git, or delete it and run `carbon-gate baseline update`") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != SCHEMA:
        raise UsageError(f"{p}: baseline schema {schema!r} is not {SCHEMA!r} (written by another carbon-gate "
                         "version); delete it and run `carbon-gate baseline update`")
    if not isinstance(data.get("workloads"), dict):
        raise UsageError(f"{p}: corrupt baseline file: 'workloads' must be a mapping")
    return data


def entry(baseline: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The stored entry for workload `name`, if any."""
    if baseline is None:
        return None
    return baseline["workloads"].get(name)


def update(previous: dict[str, Any] | None, results: dict[str, Any], commit: str | None, history: int = 100,
           date: str | None = None) -> dict[str, Any]:
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
            "fingerprint": fingerprint,
            "methods": sorted({f"{e['component']}:{e['method']}" for s in counted for e in s["energy"]}),
            "samples_wh": [float(s["energy_wh"]) for s in counted],  # unrounded: stored mode compares these
            "wall_s": [round(s["wall_s"], 4) for s in counted],
            "summary": w["summary"],
            "history": hist,
        }
    return {"schema": SCHEMA, "tool_version": __version__, "updated_at": date,
            "workloads": {k: workloads[k] for k in sorted(workloads)}}


def write(path: str | os.PathLike, doc: dict[str, Any]) -> Path:
    """Write atomically with stable key order."""
    return atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
