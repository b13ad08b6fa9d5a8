"""Re-assess recorded results without running anything: the engine of `carbon-gate compare`.

The same pure assessment as `run`, fed from results documents instead of fresh measurements.
"""

from __future__ import annotations

from typing import Any

from .assess.verdict import assess_workload, family_control, suite_verdict
from .config import Budget, Config, GateSettings, Workload
from .domain import DEFAULT_INTERVAL, DEFAULT_TOLERANCE, Baseline, Embodied, Looks, Sample
from .grid import GridFactor
from .pipeline import RunOutcome, too_short_verdict
from .results import Results, WorkloadResult


def _workload(w: dict[str, Any], config: Config | None) -> Workload:
    configured = {x.name: x for x in config.workloads} if config else {}
    if w["name"] in configured:
        return configured[w["name"]]
    limits = (w.get("budget") or {}).get("limits") or {}
    fp = w.get("footprint") or {}
    return Workload(
        name=w["name"],
        command=w["command"],
        cwd=".",
        env={},
        repeats=0,
        warmup=0,
        timeout_s=0.0,
        tolerance=t if (t := w.get("tolerance")) is not None else DEFAULT_TOLERANCE,
        unit_name=fp.get("unit", "run"),
        unit_count=fp.get("units", 1.0),
        budget=Budget(
            limits.get("energy"), limits.get("co2e"), limits.get("per_unit.energy"), limits.get("per_unit.co2e")
        ),
        paths=(),
        line=w.get("line"),
        energy_per_point=tuple(
            k for k, m in (w.get("metrics") or {}).items() if isinstance(m, dict) and "wh_per_point" in m
        ),
    )


def _embodied(machine: dict[str, Any]) -> Embodied | None:
    e = machine.get("embodied")
    if not e:
        return None
    return Embodied(e["total_kg"] * 1000.0, e["lifetime_years"] * 365.25 * 86400, e["share"], e.get("source", ""))


def reassess(head: dict[str, Any], base: dict[str, Any] | None, config: Config | None = None) -> RunOutcome:
    """Verdicts for `head` against `base` (unpaired) or against the base runs recorded in `head` (paired)."""
    recorded_gate = head.get("gate") or {}
    default = GateSettings()  # what a results file without a recorded gate was gated with
    gate = (
        config.gate
        if config
        else GateSettings(
            tuple(recorded_gate.get("fail_on", default.fail_on)),
            recorded_gate.get("confidence", default.confidence),
            recorded_gate.get("family", default.family),
        )
    )
    grid = GridFactor.from_dict(head["grid"])
    base_by_name = {w["name"]: w for w in base["workloads"]} if base else {}
    assessed = [reassess_workload(w, head, gate, config, base, base_by_name.get(w["name"])) for w in head["workloads"]]
    if gate.family == "holm":
        family_control(assessed, gate.confidence)
    suite = suite_verdict(assessed, gate)
    results = Results(
        machine=head["machine"],
        grid=grid,
        workloads=assessed,
        verdict=suite.verdict,
        config=head.get("config"),
        git=head.get("git"),
    )
    if head.get("interrupted"):  # re-assessing partial runs does not make them a finished run
        results.interrupted, results.verdict = True, "interrupted"
    results.gate = {"fail_on": list(gate.fail_on), "confidence": gate.confidence, "family": gate.family}
    results.carbon_aware = head.get("carbon_aware")  # what the grid was when HEAD ran: a fact, not re-assessed
    return RunOutcome(results, suite)


def reassess_workload(
    w: dict[str, Any],
    head: dict[str, Any],
    gate: GateSettings,
    config: Config | None = None,
    base: dict[str, Any] | None = None,
    other: dict[str, Any] | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> WorkloadResult:
    """One recorded workload of `head` assessed again (family control not applied): against `other`, its
    namesake in `base`, when a base document is given, else against the base runs recorded with it."""
    grid = GridFactor.from_dict(head["grid"])
    embodied = _embodied(head["machine"])
    head_fp = fingerprint or w.get("fingerprint") or head["machine"]["fingerprint"]
    workload = _workload(w, config)
    samples = [Sample.from_dict(s) for s in w["samples"]]
    base_samples = [Sample.from_dict(s) for s in w.get("base_samples", [])]
    baseline = None
    if base is not None:
        if other is not None:
            counted = [s["energy_wh"] for s in other["samples"] if not s.get("warmup") and s.get("error") is None]
            baseline = Baseline(
                mode="stored",
                samples_wh=tuple(counted),
                commit=(base.get("git") or {}).get("head"),
                fingerprint=base["machine"]["fingerprint"],
            )
    elif w.get("baseline"):
        info = w["baseline"]
        if info.get("mode") == "paired":
            base_wh = [s.energy_wh for s in base_samples if not s.warmup and s.ok]
            looks = info.get("looks")
            baseline = Baseline(
                mode="paired",
                samples_wh=tuple(base_wh),
                commit=info.get("commit"),
                error=info.get("error"),
                seed=info.get("seed"),
                notes=tuple(info.get("notes", ())),
                looks=Looks(tuple(looks["rounds"]), tuple(looks["alphas"])) if looks else None,
                interval=info.get("interval", DEFAULT_INTERVAL),
                batch=info.get("batch", 1),
            )
        elif info.get("mode") == "stored":
            baseline = Baseline(
                mode="stored",
                samples_wh=tuple(info.get("samples_wh", ())),
                commit=info.get("commit"),
                fingerprint=info.get("fingerprint"),
                notes=tuple(info.get("notes", ())),
            )
    result = assess_workload(
        workload,
        samples,
        grid,
        embodied,
        baseline,
        confidence=gate.confidence,
        fingerprint=head_fp,
        base_samples=base_samples,
    )
    recorded = w.get("baseline") or {}
    if result.baseline is not None and recorded.get("mode") == "paired":
        # How the rounds ran is a fact of the run: carry it over, and with it a too-short verdict.
        for key in (
            "orders",
            "pairing",
            "rounds",
            "stop",
            "elapsed_s",
            "round_wh",
            "cpu_sets",
            "head_cpu_set",
            "too_short",
        ):
            if key in recorded:
                result.baseline[key] = recorded[key]
        too_short_verdict(result)
    result.history = list(w.get("history", []))
    result.fingerprint, result.shard = w.get("fingerprint"), w.get("shard")  # a merged suite's per-workload origin
    return result
