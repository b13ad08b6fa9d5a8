"""Re-assess recorded results without running anything: the engine of `carbon-gate compare`.

The same pure assessment as `run`, fed from results documents instead of fresh measurements.
"""

from __future__ import annotations

from typing import Any

from . import results as results_mod
from .assess.verdict import assess_workload, family_control, suite_verdict
from .config import Budget, Config, GateSettings, Workload
from .domain import DEFAULT_INTERVAL, DEFAULT_TOLERANCE, Baseline, Embodied, Looks
from .pipeline import RunOutcome, too_short_verdict
from .results import Results, WorkloadResult


def _workload(w: WorkloadResult, config: Config | None) -> Workload:
    configured = {x.name: x for x in config.workloads} if config else {}
    if w.name in configured:
        return configured[w.name]
    limits = w.limits()
    fp = w.footprint
    return Workload(
        name=w.name,
        command=w.command,
        cwd=".",
        env={},
        repeats=0,
        warmup=0,
        timeout_s=0.0,
        tolerance=w.tolerance if w.tolerance is not None else DEFAULT_TOLERANCE,
        unit_name=fp.unit if fp else "run",
        unit_count=fp.units if fp else 1.0,
        budget=Budget(
            limits.get("energy"), limits.get("co2e"), limits.get("per_unit.energy"), limits.get("per_unit.co2e")
        ),
        paths=(),
        line=w.line,
        energy_per_point=w.energy_per_point,
    )


def _embodied(machine: dict[str, Any]) -> Embodied | None:
    e = machine.get("embodied")
    if not e:
        return None
    return Embodied(e["total_kg"] * 1000.0, e["lifetime_years"] * 365.25 * 86400, e["share"], e.get("source", ""))


def reassess(head: dict[str, Any], base: dict[str, Any] | None, config: Config | None = None) -> RunOutcome:
    """Verdicts for `head` against `base` (unpaired) or against the base runs recorded in `head` (paired).
    Both are results documents as `results.load` returns them; they are assessed as typed records."""
    return reassess_results(results_mod.from_dict(head), results_mod.from_dict(base) if base else None, config)


def reassess_results(head: Results, base: Results | None, config: Config | None = None) -> RunOutcome:
    """`reassess` on results documents already read back with `results.from_dict`."""
    recorded_gate = head.gate or {}
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
    base_by_name = {w.name: w for w in base.workloads} if base else {}
    assessed = [reassess_workload(w, head, gate, config, base, base_by_name.get(w.name)) for w in head.workloads]
    if gate.family == "holm":
        family_control(assessed, gate.confidence)
    suite = suite_verdict(assessed, gate)
    results = Results(
        machine=head.machine,
        grid=head.grid,
        workloads=assessed,
        verdict=suite.verdict,
        config=head.config,
        git=head.git,
    )
    if head.interrupted:  # re-assessing partial runs does not make them a finished run
        results.interrupted, results.verdict = True, "interrupted"
    results.gate = {"fail_on": list(gate.fail_on), "confidence": gate.confidence, "family": gate.family}
    results.carbon_aware = head.carbon_aware  # what the grid was when HEAD ran: a fact, not re-assessed
    return RunOutcome(results, suite)


def reassess_workload(
    w: WorkloadResult,
    head: Results,
    gate: GateSettings,
    config: Config | None = None,
    base: Results | None = None,
    other: WorkloadResult | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> WorkloadResult:
    """One recorded workload of `head` assessed again (family control not applied): against `other`, its
    namesake in `base`, when a base document is given, else against the base runs recorded with it."""
    embodied = _embodied(head.machine)
    head_fp = fingerprint or w.fingerprint or head.machine["fingerprint"]
    workload = _workload(w, config)
    samples, base_samples = list(w.samples), list(w.base_samples)
    baseline = None
    if base is not None:
        if other is not None:
            counted = [s.energy_wh for s in other.samples if not s.warmup and s.error is None]
            baseline = Baseline(
                mode="stored",
                samples_wh=tuple(counted),
                commit=(base.git or {}).get("head"),
                fingerprint=base.machine["fingerprint"],
            )
    elif w.baseline:
        info = w.baseline
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
        head.grid,
        embodied,
        baseline,
        confidence=gate.confidence,
        fingerprint=head_fp,
        base_samples=base_samples,
    )
    recorded = w.baseline or {}
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
    result.history = list(w.history)
    result.fingerprint, result.shard = w.fingerprint, w.shard  # a merged suite's per-workload origin
    return result
