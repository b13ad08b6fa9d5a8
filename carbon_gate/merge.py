"""`carbon-gate merge`: shard results (`run --shard I/N`) or rank results (one distributed job) → one
results document with one verdict.

Shards: every workload is assessed again from its recorded samples with the same functions as
`compare`, then Holm runs across the whole suite (not per shard). A missing or interrupted shard
makes the suite `error`, naming it and its workloads (never a silent pass with fewer workloads).

Ranks: the ranks of one job are one workload run: CPU and memory energy summed over ranks, a GPU
counted once per node + device (ranks on a node often all see every device), units summed (each rank
reports its own), wall time the longest rank's. Pure functions over loaded documents.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .results import WorkloadResult


def merge(docs: Sequence[dict[str, Any]], names: Sequence[str] | None = None) -> dict[str, Any]:
    """One results document from shard or rank documents; refuses mixtures with a clear message."""
    names = list(names or [f"results #{i + 1}" for i in range(len(docs))])
    if not docs:
        raise UsageError("merge needs at least one results file")
    kinds = {("shard" if "shard" in d else "rank" if "rank" in d else "plain") for d in docs}
    if "plain" in kinds:
        plain = [n for n, d in zip(names, docs) if "shard" not in d and "rank" not in d]
        raise UsageError(
            f"{', '.join(plain)}: not shard or rank results (written by `run --shard I/N`, or by "
            "`measure` with RANK set); nothing to merge them by"
        )
    if kinds == {"shard", "rank"}:
        raise UsageError(
            "shard results and rank results cannot be merged together: merge the ranks of each "
            "job first, or the shards of a suite"
        )
    return merge_shards(docs, names) if kinds == {"shard"} else merge_ranks(docs, names)


def _same(
    docs: Sequence[dict[str, Any]], names: Sequence[str], key: Callable[[dict[str, Any]], Any], what: str
) -> None:
    seen: dict[str, Any] = {}
    for n, d in zip(names, docs):
        seen.setdefault(repr(key(d)), []).append(n)
    if len(seen) > 1:
        parts = "; ".join(f"{k} in {', '.join(v)}" for k, v in seen.items())
        raise UsageError(f"refusing to merge results of different {what}: {parts}")


# --- shards -------------------------------------------------------------------------------------


def merge_shards(docs: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """The suite's results from its shards' (see module doc)."""
    from . import results as results_mod
    from .assess.verdict import family_control, suite_verdict
    from .config import GateSettings
    from .grid import GridFactor
    from .replay import reassess_workload
    from .results import Results

    _same(docs, names, lambda d: (d.get("git") or {}).get("head"), "commits (git.head)")
    _same(docs, names, lambda d: (d.get("git") or {}).get("base"), "base commits (git.base)")
    _same(docs, names, lambda d: d["shard"].get("config_sha256"), "configs (the budget file's sha256)")
    _same(docs, names, lambda d: d["shard"]["count"], "shard counts (I/N with different N)")
    _same(docs, names, lambda d: d["shard"]["plan"], "shard plans (different workloads or baselines)")
    _same(docs, names, lambda d: d.get("gate"), "gate settings")
    by_index: dict[int, tuple[str, dict[str, Any]]] = {}
    for n, d in zip(names, docs):
        i = d["shard"]["index"]
        if i in by_index:
            raise UsageError(f"shard {d['shard']['id']} given twice: {by_index[i][0]} and {n}")
        by_index[i] = (n, d)
    owner: dict[str, str] = {}
    for n, d in zip(names, docs):
        for w in d["workloads"]:
            if w["name"] in owner:
                raise UsageError(
                    f"workload {w['name']!r} appears in both {owner[w['name']]} and {n}: "
                    "duplicate workloads across shards are refused"
                )
            owner[w["name"]] = n
    first = docs[0]
    count, plan = first["shard"]["count"], first["shard"]["plan"]
    recorded = first.get("gate") or {}
    default = GateSettings()
    gate = GateSettings(
        tuple(recorded.get("fail_on", default.fail_on)),
        recorded.get("confidence", default.confidence),
        recorded.get("family", default.family),
    )
    assessed: dict[str, WorkloadResult] = {}
    notes: list[str] = []
    shards: list[dict[str, Any]] = []
    for index in range(1, count + 1):
        sid = f"{index}/{count}"
        if index not in by_index:
            notes.append(
                f"shard {sid} is missing (its job failed or its results were not uploaded): "
                f"{', '.join(plan[index - 1]) or 'no workloads'} not measured"
            )
            for name in plan[index - 1]:
                assessed[name] = _unmeasured(name, f"shard {sid} produced no results", sid)
            shards.append(
                {
                    "id": sid,
                    "file": None,
                    "verdict": "error",
                    "interrupted": None,
                    "workloads": plan[index - 1],
                    "fingerprint": None,
                    "seed": None,
                }
            )
            continue
        name, d = by_index[index]
        fp = d["shard"].get("fingerprint") or d["machine"]["fingerprint"]
        typed = results_mod.from_dict(d)
        for w in typed.workloads:
            r = reassess_workload(w, typed, gate, fingerprint=fp)
            r.fingerprint, r.shard = fp, sid
            assessed[w.name] = r
        lost = [n for n in plan[index - 1] if n not in {w["name"] for w in d["workloads"]}]
        if d.get("interrupted") or lost:
            notes.append(f"shard {sid} ({name}) did not finish" + (f": {', '.join(lost)} not measured" if lost else ""))
            for n in lost:
                assessed[n] = _unmeasured(n, f"shard {sid} stopped before measuring it", sid)
        shards.append(
            {
                "id": sid,
                "file": name,
                "verdict": d["verdict"],
                "interrupted": bool(d.get("interrupted")),
                "workloads": [w["name"] for w in d["workloads"]],
                "fingerprint": fp,
                "seed": d["shard"].get("seed"),
            }
        )
    suite_order = first["shard"].get("suite") or [n for part in plan for n in part]
    ordered = [
        assessed[n]
        for n in sorted(assessed, key=lambda n: (suite_order.index(n) if n in suite_order else len(suite_order), n))
    ]
    if gate.family == "holm":
        family_control(ordered, gate.confidence)  # across the whole suite, as an unsharded run
    suite = suite_verdict(ordered, gate)
    present = [by_index[i][1] for i in sorted(by_index)]
    grids = {repr(d["grid"]) for d in present}
    if len(grids) > 1:
        notes.append(
            "the shards used different grid factors (a live grid reading per job); each workload is "
            "accounted with its own shard's, the header shows the first"
        )
    git = {k: v for k, v in (present[0].get("git") or {}).items() if k != "seed"}  # seeds are per shard
    fps = {repr(s["fingerprint"]) for s in shards if s["fingerprint"]}
    if len(fps) > 1:
        notes.append(f"the shards ran on {len(fps)} different machines: each workload keeps its shard's fingerprint")
    results = Results(
        machine=present[0]["machine"],
        grid=GridFactor.from_dict(present[0]["grid"]),
        workloads=ordered,
        verdict=suite.verdict,
        config=present[0].get("config"),
        interrupted=any(d.get("interrupted") for d in present),
        git=git or None,
        notes=list(dict.fromkeys([*notes, *[x for d in present for x in d.get("notes", [])]])),
    )
    results.gate = {"fail_on": list(gate.fail_on), "confidence": gate.confidence, "family": gate.family}
    results.carbon_aware = present[0].get("carbon_aware")
    results.shards = shards
    return results.to_dict()


def _unmeasured(name: str, reason: str, sid: str) -> WorkloadResult:
    from .results import WorkloadResult

    return WorkloadResult(name=name, command="", verdict="error", reasons=[reason], samples=[], shard=sid)


# --- ranks --------------------------------------------------------------------------------------


def merge_ranks(docs: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """One job's results from its ranks' (see module doc)."""
    from .assess.verdict import assess_workload, suite_verdict
    from .config import GateSettings
    from .domain import Energy, Method, Sample
    from .grid import GridFactor
    from .replay import _embodied, _workload
    from .results import Results, WorkloadResult

    _same(docs, names, lambda d: d["rank"]["world_size"], "jobs (WORLD_SIZE differs)")
    _same(docs, names, lambda d: d["rank"].get("job"), "jobs (job id differs)")
    _same(docs, names, lambda d: sorted(w["name"] for w in d["workloads"]), "workloads")
    world = docs[0]["rank"]["world_size"]
    by_rank: dict[int, str] = {}
    for n, d in zip(names, docs):
        r = d["rank"]["rank"]
        if r in by_rank:
            raise UsageError(f"rank {r} given twice: {by_rank[r]} and {n}")
        by_rank[r] = n
    missing = [r for r in range(world) if r not in by_rank]
    notes = [f"rank {r} of {world} is missing: its energy is not counted" for r in missing]
    nodes = sorted({str(d["rank"]["node"]) for d in docs})
    first = min(docs, key=lambda d: d["rank"]["rank"])
    grid = GridFactor.from_dict(first["grid"])
    embodied = _embodied(first["machine"])
    if embodied is not None:  # one host share per node, for the job's wall time
        embodied = replace(embodied, total_g=embodied.total_g * len(nodes))
    gate = GateSettings()
    results_w = []
    all_gpus: list[dict[str, Any]] = []
    for wname in [w["name"] for w in first["workloads"]]:
        parts = [(d, next(w for w in d["workloads"] if w["name"] == wname)) for d in docs]
        counted = [(d, Sample.from_dict(s)) for d, w in parts for s in w["samples"] if not s.get("warmup")]
        sums: dict[tuple[str, Method], float] = {}
        gpus: dict[tuple[str, str], dict[str, Any]] = {}
        reasons: dict[tuple[str, Method], str] = {}
        for d, s in counted:
            node = str(d["rank"]["node"])
            for e in s.energy:
                if e.component == "gpu":
                    key = (node, e.source or e.reason)
                    g = gpus.setdefault(key, {"node": node, "device": key[1], "wh": 0.0, "ranks": []})
                    g["wh"] = max(g["wh"], e.wh)  # the same device seen by several ranks: once, its widest window
                    g["ranks"].append(d["rank"]["rank"])
                    continue
                k = (e.component, e.method)
                sums[k] = sums.get(k, 0.0) + e.wh
                reasons[k] = e.reason
        energy = [Energy(c, wh, m, f"sum over {len(counted)} ranks; {reasons[(c, m)]}") for (c, m), wh in sums.items()]
        energy += [
            Energy(
                "gpu",
                g["wh"],
                "measured",
                f"node {g['node']}, counted once for ranks {', '.join(map(str, sorted(set(g['ranks']))))}",
                g["device"],
            )
            for g in gpus.values()
        ]
        reported = [s.units for _, s in counted if s.units is not None]
        errors = [f"rank {d['rank']['rank']}: {s.error}" for d, s in counted if s.error]
        merged = Sample(
            wall_s=max((s.wall_s for _, s in counted), default=0.0),
            cpu_s=sum(s.cpu_s for _, s in counted),
            exit_code=max((s.exit_code for _, s in counted), default=0),
            energy=energy,
            rss_peak_mb=max((s.rss_peak_mb for _, s in counted), default=0.0),
            overhead_cpu_s=sum(s.overhead_cpu_s for _, s in counted),
            started_at=min((s.started_at for _, s in counted), default=""),
            error="; ".join(errors) or (f"missing rank {', '.join(map(str, missing))}" if missing else None),
            units=sum(reported) if reported else None,
        )
        all_gpus += [{**g, "workload": wname, "ranks": sorted(set(g["ranks"]))} for g in gpus.values()]
        workload = _workload(WorkloadResult.from_dict(parts[0][1]), None)
        results_w.append(assess_workload(workload, [merged], grid, embodied, None, confidence=gate.confidence))
    suite = suite_verdict(results_w, gate)
    per_rank = [
        {
            "rank": d["rank"]["rank"],
            "local_rank": d["rank"].get("local_rank"),
            "node": str(d["rank"]["node"]),
            "file": n,
            "energy_wh": sum(s["energy_wh"] for w in d["workloads"] for s in w["samples"] if not s.get("warmup")),
        }
        for n, d in sorted(zip(names, docs), key=lambda x: x[1]["rank"]["rank"])
    ]
    results = Results(
        machine=first["machine"],
        grid=grid,
        workloads=results_w,
        verdict=suite.verdict,
        config=first.get("config"),
        git=first.get("git"),
        notes=notes,
    )
    results.gate = {"fail_on": list(gate.fail_on), "confidence": gate.confidence, "family": gate.family}
    results.ranks = {"world_size": world, "nodes": nodes, "missing": missing, "per_rank": per_rank, "gpus": all_gpus}
    return results.to_dict()
