"""The results document (`"schema": "carbon-gate/results@1"`): build, serialise, write atomically, load."""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .account import Footprint
from .domain import BudgetCheck, Change, Sample, Summary
from .errors import UsageError
from .fsutil import atomic_write_text
from .grid import GridFactor

SCHEMA = "carbon-gate/results@1"


@dataclass(kw_only=True)
class WorkloadResult:
    """Everything known about one workload after measuring and assessing it."""

    name: str
    command: str
    verdict: str
    reasons: list[str]
    samples: list[Sample]  # head runs, warm-ups included and flagged
    summary: Summary | None = None
    footprint: Footprint | None = None  # of the median run
    budget: list[BudgetCheck] = field(default_factory=list)
    line: int | None = None
    tolerance: float | None = None
    baseline: dict[str, Any] | None = None  # {mode, commit, n, ...} (issue: baselines)
    change: Change | None = None  # head/base energy ratio and its interval, when compared with a baseline
    base_samples: list[Sample] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # from the baseline file, for trend charts
    projection: dict[str, Any] | None = None  # the full run projected from the measured per-unit energy
    estimate: dict[str, Any] | None = None  # a forecast workload's figures and assumptions
    energy_per_point: tuple[str, ...] = ()  # metrics to show energy per point of (config `energy_per_point`)
    fingerprint: dict[str, Any] | None = None  # a merged suite's workload: the machine of its own shard
    shard: str | None = None  # a merged suite's workload: the shard ("2/4") that measured it
    # Read back from a document (`from_dict`), the budget figures as written: the limits it was judged by
    # (an edited file may hold limits without checks) and the rounded use, so it shows as it was recorded.
    recorded_limits: dict[str, float] | None = None
    recorded_max_use_pct: float | None = None

    @property
    def counted(self) -> list[Sample]:
        return [s for s in self.samples if not s.warmup and s.ok]

    def metrics(self) -> dict[str, dict[str, Any]]:
        """Each quality metric the counted runs reported: its median, how many runs reported it, and
        (when the config asks) the median energy per point of it."""
        import statistics

        names = sorted({k for s in self.counted for k in s.metrics})
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            values = [s.metrics[name] for s in self.counted if name in s.metrics]
            entry: dict[str, Any] = {"median": statistics.median(values), "n": len(values)}
            if name in self.energy_per_point:
                energy = self.footprint.energy_wh if self.footprint else None
                entry["wh_per_point"] = energy / entry["median"] if energy is not None and entry["median"] > 0 else None
            out[name] = entry
        return out

    def max_use_pct(self) -> float | None:
        """The largest share of a budget limit used, in % (2 decimals), or None without limits."""
        if self.recorded_max_use_pct is not None:
            return self.recorded_max_use_pct
        return round(max(c.use for c in self.budget) * 100, 2) if self.budget else None

    def limits(self) -> dict[str, float]:
        """The budget's limits by name (`energy`, `per_unit.co2e`, ...)."""
        if self.recorded_limits is not None:
            return dict(self.recorded_limits)
        return {c.limit: c.allowed for c in self.budget}

    def to_dict(self) -> dict[str, Any]:
        fp = self.footprint
        return {
            "name": self.name,
            "command": self.command,
            "line": self.line,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "energy_wh": round(fp.energy_wh, 9) if fp else None,
            "co2e_g": round(fp.co2e_g, 9) if fp else None,
            "sci": {"value": round(fp.sci_g_per_unit, 9), "unit": f"gCO2e/{fp.unit}", "units_per_run": fp.units}
            if fp
            else None,
            "footprint": fp.to_dict() if fp else None,
            "summary": self.summary.to_dict() if self.summary else None,
            "budget": {
                "limits": self.limits(),
                "checks": [c.to_dict() for c in self.budget],
                "max_use_pct": self.max_use_pct(),
            },
            "tolerance": self.tolerance,
            "baseline": self.baseline,
            "change": self.change.to_dict() if self.change else None,
            "samples": [s.to_dict() for s in self.samples],
            "base_samples": [s.to_dict() for s in self.base_samples],
            "history": list(self.history),
            "projection": self.projection,
            "estimate": self.estimate,
            "metrics": self.metrics(),
            # Only in merged suites, where shards ran on different machines.
            **({"fingerprint": self.fingerprint} if self.fingerprint is not None else {}),
            **({"shard": self.shard} if self.shard is not None else {}),
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> WorkloadResult:
        """A workload of a results document, typed again (what to_dict derives is derived anew, except the
        budget's limits and use, kept as written)."""
        budget = d.get("budget") or {}
        return WorkloadResult(
            name=d["name"],
            command=d["command"],
            verdict=d["verdict"],
            reasons=list(d["reasons"]),
            samples=[Sample.from_dict(s) for s in d.get("samples", [])],
            summary=Summary.from_dict(d["summary"]) if d.get("summary") else None,
            footprint=Footprint.from_dict(d["footprint"]) if d.get("footprint") else None,
            budget=[BudgetCheck(c["limit"], c["allowed"], c["actual"], c["unit"]) for c in budget.get("checks", [])],
            recorded_limits=dict(budget["limits"]) if isinstance(budget.get("limits"), dict) else None,
            recorded_max_use_pct=budget.get("max_use_pct"),
            line=d.get("line"),
            tolerance=d.get("tolerance"),
            baseline=d.get("baseline"),
            change=Change.from_dict(d["change"]) if d.get("change") else None,
            base_samples=[Sample.from_dict(s) for s in d.get("base_samples", [])],
            history=list(d.get("history", [])),
            projection=d.get("projection"),
            estimate=d.get("estimate"),
            energy_per_point=tuple(k for k, m in (d.get("metrics") or {}).items() if "wh_per_point" in m),
            fingerprint=d.get("fingerprint"),
            shard=d.get("shard"),
        )


@dataclass(kw_only=True)
class Results:
    """A whole run: machine, grid, verdict, workloads."""

    machine: dict[str, Any]
    grid: GridFactor
    workloads: list[WorkloadResult]
    verdict: str
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    config: str | None = None
    interrupted: bool = False
    git: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    gate: dict[str, Any] | None = None
    guard: dict[str, Any] | None = None  # budget-file changes in a pull request, and their approval
    carbon_aware: dict[str, Any] | None = None  # live grid figure beside the pinned one, shifting advice (issue 17)
    shard: dict[str, Any] | None = None  # `run --shard I/N`: which part of the suite this is (carbon_gate.shard)
    shards: list[dict[str, Any]] | None = None  # `merge`: the shards a suite was merged from
    rank: dict[str, Any] | None = None  # one rank of a distributed job (RANK/WORLD_SIZE/LOCAL_RANK, node)
    ranks: dict[str, Any] | None = None  # `merge`: the ranks a distributed job was merged from
    tool_version: str = __version__  # of the carbon-gate that measured (kept when a document is read back)
    recorded_counts: dict[str, int] | None = None  # read back: the verdict counts as written

    def counts(self) -> dict[str, int]:
        """How many workloads got each verdict (as written, for a document read back)."""
        if self.recorded_counts is not None:
            return dict(self.recorded_counts)
        out: dict[str, int] = {}
        for w in self.workloads:
            out[w.verdict] = out.get(w.verdict, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        fps = [w.footprint for w in self.workloads if w.footprint]
        return {
            "schema": SCHEMA,
            "tool_version": self.tool_version,
            "created_at": self.created_at,
            "config": self.config,
            "verdict": self.verdict,
            "interrupted": self.interrupted,
            "counts": self.counts(),
            "totals": {
                "energy_wh": round(sum(f.energy_wh for f in fps), 9),
                "co2e_g": round(sum(f.co2e_g for f in fps), 9),
            },
            "machine": self.machine,
            "grid": self.grid.to_dict(),
            "git": self.git,
            "gate": self.gate,
            "guard": self.guard,
            "carbon_aware": self.carbon_aware,
            "notes": list(self.notes),
            "workloads": [w.to_dict() for w in self.workloads],
            **{k: v for k in ("shard", "shards", "rank", "ranks") if (v := getattr(self, k)) is not None},
        }


def from_dict(d: dict[str, Any]) -> Results:
    """A results document (as `load` returns it) as typed records, as pyperf reads its benchmark files back;
    `from_dict(d).to_dict()` gives `d` again (totals up to their last rounded digit)."""
    optional = ("config", "git", "gate", "guard", "carbon_aware", "shard", "shards", "rank", "ranks")
    return Results(
        machine=d["machine"],
        grid=GridFactor.from_dict(d["grid"]),
        workloads=[WorkloadResult.from_dict(w) for w in d["workloads"]],
        verdict=d["verdict"],
        created_at=d["created_at"],
        interrupted=bool(d.get("interrupted")),
        notes=list(d.get("notes", [])),
        tool_version=d.get("tool_version", __version__),
        recorded_counts=dict(d["counts"]) if isinstance(d.get("counts"), dict) else None,
        **{k: d.get(k) for k in optional},
    )


def to_json(data: dict[str, Any], indent: int | None = 2) -> str:
    """Stable, diff-friendly JSON (`indent=None`: one line, by the C encoder, 4× faster for big merged suites).
    Non-finite numbers (which JSON cannot hold) are written as null rather than lose the run;
    text that is not valid Unicode (a lone surrogate) is replaced."""
    try:
        text = json.dumps(data, indent=indent, sort_keys=False, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), indent=indent, sort_keys=False, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "replace").decode("utf-8") + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write(path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write a results document atomically."""
    return atomic_write_text(path, to_json(data))


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a results document; a missing, corrupt, foreign or malformed file is a UsageError naming it
    (and, for a malformed one, the first field that does not match the results schema)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except FileNotFoundError:
        raise UsageError(f"{p}: results file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{p}: not a readable results file ({str(exc)[:200]})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise UsageError(f"{p}: expected a results document with schema {SCHEMA!r}, found {str(found)[:60]!r}")
    problem = schema_problem(data)
    if problem:
        raise UsageError(f"{p}: not a valid results document: {problem}")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def schema_problem(data: Any) -> str | None:
    """The first place `data` breaks the results schema (as `field.path: what`), or None."""
    import fastjsonschema

    try:
        _validator()(data)
    except fastjsonschema.JsonSchemaException as exc:
        where, _, what = str(exc).partition(" ")  # `message`, which the stubs do not declare
        where = where.removeprefix("data").lstrip(".") or "(top level)"
        return f"{where}: {what[:200]}"
    return None


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    # Compiled to Python once per process (~0.3 s): checking a 2,000-workload file then takes well under a
    # second, where an interpreting validator takes ten. Its draft-07 rules ignore `prefixItems` only.
    from importlib import resources

    import fastjsonschema

    schema = json.loads((resources.files("carbon_gate") / "data" / "results.schema.json").read_text(encoding="utf-8"))
    return fastjsonschema.compile(schema)
