"""The `run` pipeline: plan → measure → account → assess. The CLI publishes what this returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from . import grid as grid_mod
from .assess.verdict import SuiteVerdict, assess_workload, suite_verdict
from .config import Config, Workload
from .domain import Sample
from .errors import UsageError
from .meters.meter import MeterPlan, plan_meters
from .meters.workload import run_workload
from .results import Results

Progress = Callable[[str], None]


class Interrupted(BaseException):
    """SIGTERM arrived; like KeyboardInterrupt, it must not be swallowed by `except Exception`."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"signal {signum}")


@dataclass
class RunOutcome:
    results: Results
    suite: SuiteVerdict
    interrupted_by: BaseException | None = None
    samples: dict[str, list[Sample]] = field(default_factory=dict)


def resolve_grid(config: Config) -> grid_mod.GridFactor:
    """The pinned grid factor of the config; an unknown country is a config error with near matches."""
    g = config.grid
    try:
        return grid_mod.resolve(g.intensity, g.country, g.pue, g.source)
    except grid_mod.UnknownCountry as exc:
        from .errors import ConfigError, ConfigProblem

        raise ConfigError([ConfigProblem(str(config.path), None, "grid.country", str(exc))]) from None


def select(config: Config, names: Sequence[str]) -> list[Workload]:
    """The workloads named on the command line (all when none); an unknown name is a usage error."""
    if not names:
        return list(config.workloads)
    known = {w.name: w for w in config.workloads}
    missing = [n for n in names if n not in known]
    if missing:
        raise UsageError(f"unknown workload {', '.join(map(repr, missing))}; the config has: {', '.join(known)}")
    return [known[n] for n in names]


def machine_section(plan: MeterPlan) -> dict:
    """The `machine` block of the results: fingerprint plus how each component is obtained."""
    cpu = plan.cpu_model
    return {
        "fingerprint": plan.fingerprint().to_dict(),
        "cpu": {
            "method": plan.cpu_method,
            "reason": cpu.reason if not plan.rapl_domains else "RAPL package counters",
            "fallback": None if plan.rapl_domains else plan.rapl_reason,
            "curve_w": [[p, round(w, 4)] for p, w in cpu.curve.at_percent()],
            "source": cpu.source,
        },
        "gpu": plan.gpu_reason,
        "embodied": None if plan.embodied is None else {
            "total_kg": plan.embodied.total_g / 1000, "lifetime_years": round(plan.embodied.lifetime_s / (365.25 * 86400), 2),
            "share": plan.embodied.share, "source": plan.embodied.source,
        },
    }


def run_suite(config: Config, names: Sequence[str] = (), repeats: int | None = None,
              progress: Progress | None = None, plan: MeterPlan | None = None) -> RunOutcome:
    """Measure the selected workloads and assess them. On Ctrl-C/SIGTERM returns the partial outcome
    with `interrupted_by` set, so the caller can still write results."""
    grid = resolve_grid(config)
    workloads = select(config, names)
    if repeats is not None:
        workloads = [replace(w, repeats=repeats) for w in workloads]
    plan = plan or plan_meters(config.machine)
    assessed = []
    interrupted: BaseException | None = None
    for w in workloads:
        if progress:
            progress(f"{w.name}: {w.warmup} warm-up + {w.repeats} runs of {w.command_text()}")
        try:
            samples = run_workload(w, plan, config.root, progress=progress)
        except (KeyboardInterrupt, Interrupted) as exc:
            interrupted = exc
            break
        assessed.append(assess_workload(w, samples, grid, plan.embodied))
    suite = suite_verdict(assessed, config.gate)
    results = Results(machine_section(plan), grid, assessed, suite.verdict, config=str(config.path),
                      interrupted=interrupted is not None)
    return RunOutcome(results, suite, interrupted)
