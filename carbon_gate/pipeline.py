"""The `run` pipeline: plan → measure → account → assess. The CLI publishes what this returns."""

from __future__ import annotations

import contextlib
import random
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import gitctx
from . import grid as grid_mod
from .assess.compare import compare
from .assess.stats import decided, min_head_runs, min_repeats, plan_looks
from .assess.verdict import SuiteVerdict, assess_workload, family_control, suite_verdict
from .config import Config, Workload
from .domain import Baseline, Change, Looks, Sample
from .errors import UsageError
from .interrupts import Interrupted, interruptible, within
from .meters.environ import workload_environ
from .meters.meter import MeterPlan, plan_meters
from .meters.paired import DUET, SEQUENTIAL, PairedRuns, Pairing, run_rounds
from .meters.workload import run_workload
from .progress import Event, Progress
from .results import Results, WorkloadResult
from .shard import ShardSpec


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
        return grid_mod.resolve(g.intensity, g.country, g.pue, g.source, g.wue)
    except grid_mod.UnknownCountry as exc:
        from .errors import ConfigError, ConfigProblem

        raise ConfigError(
            [
                ConfigProblem(
                    str(config.path),
                    g.lines.get("country"),
                    "grid.country",
                    f"{exc}; expected an ISO-2 or ISO-3 code or an English country name "
                    "from the packaged Ember/OWID dataset",
                )
            ]
        ) from None


@dataclass(frozen=True)
class LiveGrid:
    """The factor CO2e is computed with, the pinned one, and the live reading recorded beside them."""

    grid: grid_mod.GridFactor
    pinned: grid_mod.GridFactor
    section: dict[str, Any] | None = None  # results' carbon_aware.live, None without a provider


def live_grid(config: Config, pinned: grid_mod.GridFactor) -> LiveGrid:
    """Read the live figure when a provider is configured. The gate keeps the pinned factor unless
    `grid.gate_on: live` and a live figure came; a provider that fails only leaves a note."""
    settings = config.grid.carbon_aware
    if settings.provider in ("none", "dataset"):
        return LiveGrid(pinned, pinned)
    from .advice import live_at_run

    reading = live_at_run(settings, config.grid.country)
    if reading is None:
        return LiveGrid(pinned, pinned)
    section = {
        "reading": reading.to_dict(),
        "g_per_kwh": reading.points[-1].g_per_kwh if reading.ok else None,
        "pinned_g_per_kwh": pinned.g_per_kwh,
        "gate_on": settings.gate_on,
        "gated": "pinned",
    }
    if settings.gate_on == "live" and reading.ok:
        p = reading.points[-1]
        g = replace(
            pinned,
            g_per_kwh=p.g_per_kwh,
            location=f"{reading.zone} (live)",
            source=f"{reading.provider} at {reading.fetched_at}, {reading.basis}",
            year=None,
            method="live",
        )
        section["gated"] = "live"
        return LiveGrid(g, pinned, section)
    return LiveGrid(pinned, pinned, section)


def select(config: Config, names: Sequence[str]) -> list[Workload]:
    """The workloads named on the command line (all when none); an unknown name is a usage error."""
    if not names:
        return list(config.workloads)
    known = {w.name: w for w in config.workloads}
    missing = [n for n in names if n not in known]
    if missing:
        raise UsageError(f"unknown workload {', '.join(map(repr, missing))}; the config has: {', '.join(known)}")
    return [known[n] for n in names]


def machine_section(plan: MeterPlan) -> dict[str, Any]:
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
            # Counters measure: no model error to state. Else the curve's validated typical error.
            "error_band_pct": None if plan.rapl_domains else cpu.error_band_pct,
            "error_source": None if plan.rapl_domains else (cpu.error_source or None),
        },
        "gpu": plan.gpu_reason,
        "embodied": None
        if plan.embodied is None
        else {
            "total_kg": plan.embodied.total_g / 1000,
            "lifetime_years": round(plan.embodied.lifetime_s / (365.25 * 86400), 2),
            "share": plan.embodied.share,
            "source": plan.embodied.source,
        },
    }


@dataclass(frozen=True)
class RunOptions:
    """Command-line choices for `run` that are not in the config."""

    names: tuple[str, ...] = ()
    repeats: int | None = None
    mode: str | None = None  # overrides baseline.mode
    base: str | None = None  # --base REF
    seed: int | None = None
    head: str | None = None  # measure this commit (in a worktree) instead of the working tree
    warmup: int | None = None
    shard: ShardSpec | None = None  # --shard I/N: run only this part of the suite (carbon_gate.shard)


def choose_mode(config: Config, options: RunOptions, base_known: bool, baseline_file_exists: bool) -> str:
    """auto → paired when a base commit is known, else stored when the baseline file exists, else none."""
    mode = options.mode or config.baseline.mode
    if mode == "auto":
        return "paired" if base_known else ("stored" if baseline_file_exists else "none")
    return mode


def run_suite(
    config: Config,
    options: RunOptions = RunOptions(),
    progress: Progress | None = None,
    plan: MeterPlan | None = None,
    on_start: Callable[[Results], None] | None = None,
) -> RunOutcome:
    """Measure the selected workloads (paired with the base commit, or alone) and assess them against
    budgets and the baseline. On a signal returns the partial outcome with `interrupted_by` set
    (verdict `interrupted`), keeping every finished run, so the caller can still write results.

    `on_start` gets an empty, interrupted-looking results document before any workload runs: the
    caller writes it, so the output location is proven writable and a stale file from an earlier
    run never looks current, whatever kills this one."""
    from . import baseline as baseline_mod

    # Asked before any workload runs (a workload cannot touch the answer), once per job (cached).
    live = live_grid(config, resolve_grid(config))
    suite = _plan_suite(config, options)
    plan = plan or plan_meters(config.machine)
    fingerprint = plan.fingerprint().to_dict()
    git_info = _git_info(suite, options)
    # A corrupt baseline file is a usage error before anything runs (and before the placeholder).
    stored = baseline_mod.load(suite.baseline_path) if suite.mode == "stored" else None
    if on_start is not None:
        on_start(
            Results(
                machine=machine_section(plan),
                grid=live.grid,
                workloads=[],
                verdict=INTERRUPTED,
                config=str(config.path),
                interrupted=True,
                git=git_info,
                notes=["the run started and has not finished (or was killed)"],
            )
        )
    git_notes: list[str] = []
    if suite.mode == "paired":
        measured = _measure_paired(config, suite, options, plan, live.grid, fingerprint, progress, git_info, git_notes)
    else:
        measured = _measure_stored(config, suite, stored, plan, live.grid, fingerprint, progress)
    outcome_results, interrupted = _collect(measured)
    return _finish(config, options, suite, plan, live, fingerprint, git_info, git_notes, outcome_results, interrupted)


@dataclass(frozen=True, kw_only=True)
class _SuitePlan:
    """What a run measures and against what, settled before anything runs."""

    workloads: list[Workload]  # this run's (a shard's part of the suite)
    suite_workloads: list[Workload]  # the whole suite: a shard's floors are set for Holm across all of it
    shard_plan: list[list[str]] | None
    root: Path | None  # the git repository, if any
    base: gitctx.Commit | None
    here: gitctx.Commit | None
    mode: str  # paired | stored | none
    baseline_path: Path


def _plan_suite(config: Config, options: RunOptions) -> _SuitePlan:
    """The workloads, the shard's part, the base commit and the baseline mode; bad choices are usage errors."""
    workloads = select(config, options.names)
    if options.repeats is not None:
        workloads = [replace(w, repeats=options.repeats) for w in workloads]
    if options.warmup is not None:
        workloads = [replace(w, warmup=options.warmup) for w in workloads]
    shard_plan = _shard_plan(config, workloads, options.shard) if options.shard else None
    suite_workloads = workloads
    if shard_plan is not None and options.shard is not None:
        workloads = [w for w in workloads if w.name in shard_plan[options.shard.index - 1]]
    root = gitctx.repo_root(config.root)
    if options.base is not None and (not options.base.strip() or root is None):
        raise UsageError(
            "--base needs a commit or branch name"
            if root is not None
            else f"--base {options.base!r}: {config.root} is not inside a git repository"
        )
    wants_paired = (options.mode or config.baseline.mode) in ("paired", "auto")
    base = gitctx.find_base(root, options.base, head_ref=options.head) if (root is not None and wants_paired) else None
    if (options.mode or config.baseline.mode) == "paired" and base is None:
        raise UsageError(
            "paired mode needs a base commit: pass --base REF (in a git repository), "
            "or run in a pull request (GITHUB_BASE_REF)"
        )
    baseline_path = config.root / config.baseline.file
    return _SuitePlan(
        workloads=workloads,
        suite_workloads=suite_workloads,
        shard_plan=shard_plan,
        root=root,
        base=base,
        here=gitctx.head(root) if root is not None else None,
        mode=choose_mode(config, options, base is not None, baseline_path.exists()),
        baseline_path=baseline_path,
    )


def _git_info(suite: _SuitePlan, options: RunOptions) -> dict[str, Any]:
    """The results' `git` block as far as it is known before the run (the paired run adds its seed)."""
    root, base, here = suite.root, suite.base, suite.here
    git_info: dict[str, Any] = {
        "head": here.sha if here else None,
        "base": base.sha if base else None,
        "base_ref": base.ref if base else None,
        "mode": suite.mode,
    }
    if base is not None:
        git_info["base_rule"] = gitctx.BASE_RULE
    if root is not None and gitctx.dirty(root) and not options.head:
        git_info["dirty"] = True  # the working tree was measured, not the commit `head` names
    return git_info


def _collect(measured: Generator[WorkloadResult, None, None]) -> tuple[list[WorkloadResult], BaseException | None]:
    """Every result the measuring yields, until it ends or a signal stops it (then: the results so far, and
    the interrupt). Closed inside the interruptible block, so its worktrees are removed before this returns,
    wherever the signal landed."""
    out: list[WorkloadResult] = []
    try:
        with interruptible(), contextlib.closing(measured):
            for result in measured:
                out.append(result)
    except (KeyboardInterrupt, Interrupted) as exc:
        return out, exc
    except Exception as exc:  # an interrupt raised inside an import or a class body comes out wrapped
        interrupted = within(exc)
        if interrupted is None:
            raise
        return out, interrupted
    return out, None


def _measure_paired(
    config: Config,
    suite: _SuitePlan,
    options: RunOptions,
    plan: MeterPlan,
    grid: grid_mod.GridFactor,
    fingerprint: dict[str, Any],
    progress: Progress | None,
    git_info: dict[str, Any],
    git_notes: list[str],
) -> Generator[WorkloadResult, None, None]:
    """Paired mode: head and base checked out side by side (each in its own worktree when needed), then
    every workload's rounds; records the seed and the measured head commit in `git_info`."""
    root, base = suite.root, suite.base
    if root is None or base is None:  # _plan_suite never chooses paired without both
        raise UsageError("paired mode needs a base commit in a git repository")
    for path in gitctx.remove_stale_worktrees(root):  # runs killed outright (SIGKILL) leave these
        git_notes.append(f"removed the worktree {path} an earlier, killed carbon-gate run left behind")
        if progress:
            progress(Event(text=git_notes[-1]))
    seed = (
        options.seed
        if options.seed is not None
        else (config.baseline.seed if config.baseline.seed is not None else random.SystemRandom().randrange(2**31))
    )
    git_info["seed"] = seed
    rel = config.root.resolve().relative_to(root.resolve())
    here = suite.here
    with contextlib.ExitStack() as stack:
        head_root = config.root
        # The pushed commit, not the working tree: measure it in its own worktree whenever the
        # checkout differs from it (another commit, or uncommitted edits to tracked files).
        if options.head and (
            here is None
            or gitctx.resolve(options.head, root).sha != here.sha
            or gitctx.git(["status", "--porcelain", "--untracked-files=no"], root)
        ):
            head_root = stack.enter_context(gitctx.worktree(root, options.head)) / rel
            git_info["head"] = gitctx.resolve(options.head, root).sha
        base_root = stack.enter_context(gitctx.worktree(root, base.sha)) / rel
        yield from _paired(
            config,
            suite.workloads,
            plan,
            head_root,
            base_root,
            base.sha,
            seed,
            grid,
            fingerprint,
            progress,
            family_of=suite.suite_workloads,
        )


def _measure_stored(
    config: Config,
    suite: _SuitePlan,
    stored: dict[str, Any] | None,
    plan: MeterPlan,
    grid: grid_mod.GridFactor,
    fingerprint: dict[str, Any],
    progress: Progress | None,
) -> Generator[WorkloadResult, None, None]:
    """Stored (or no) baseline: each workload's runs, compared with the baseline file's runs when it has them."""
    workloads = suite.workloads
    baselines = {w.name: _stored(stored, w.name) for w in workloads}
    # Workloads compared with a stored baseline form the Holm family (estimates are never compared).
    family = _family(
        config,
        sum(
            w.kind != "estimate" and bool(b and b.samples_wh)
            for w in suite.suite_workloads
            for b in [_stored(stored, w.name)]
        ),
    )
    count, index = sum(w.kind == "command" for w in workloads), 0
    for w in workloads:
        baseline = baselines[w.name]
        if w.kind != "command":
            yield _not_run(w, grid, plan, config, baseline, fingerprint)
            continue
        w, baseline = _stored_floor(w, baseline, config.gate.confidence, family)
        index += 1
        if progress:
            progress(
                Event(
                    text=f"{w.name}: {w.warmup} warm-up + {w.repeats} runs of {w.command_text()}",
                    kind="workload",
                    workload=w.name,
                    index=index,
                    count=count,
                    runs=w.warmup + w.repeats,
                )
            )
        samples: list[Sample] = []
        try:
            run_workload(
                w, plan, config.root, progress=progress, environ=workload_environ(config.environment), into=samples
            )
        except BaseException:
            if samples:  # a signal keeps the finished runs of the workload it cut short: yielded, then raised
                yield _assess_runs(config, w, samples, grid, plan, baseline, fingerprint)
            raise
        if samples:
            yield _assess_runs(config, w, samples, grid, plan, baseline, fingerprint)


def _finish(
    config: Config,
    options: RunOptions,
    suite: _SuitePlan,
    plan: MeterPlan,
    live: LiveGrid,
    fingerprint: dict[str, Any],
    git_info: dict[str, Any],
    git_notes: list[str],
    outcome_results: list[WorkloadResult],
    interrupted: BaseException | None,
) -> RunOutcome:
    """History, Holm across the suite, the suite's verdict and the results document."""
    _attach_history(outcome_results, suite.baseline_path)
    if config.gate.family == "holm":
        family_control(outcome_results, config.gate.confidence)
    verdict = suite_verdict(outcome_results, config.gate)
    results = Results(
        machine=machine_section(plan),
        grid=live.grid,
        workloads=outcome_results,
        verdict=verdict.verdict,
        config=str(config.path),
        interrupted=interrupted is not None,
        git=git_info,
        notes=git_notes,
    )
    if interrupted is not None:
        results.verdict = INTERRUPTED
        results.notes.append(
            f"interrupted by signal {getattr(interrupted, 'signum', 2)} after {len(outcome_results)} "
            f"of {len(suite.workloads)} workloads; the verdicts shown are of what was measured"
        )
    results.gate = {
        "fail_on": list(config.gate.fail_on),
        "confidence": config.gate.confidence,
        "family": config.gate.family,
    }
    if suite.shard_plan is not None and options.shard is not None:
        results.shard = shard_section(config, options.shard, suite.shard_plan, fingerprint, git_info.get("seed"))
    if live.section is not None or config.grid.carbon_aware.candidates:
        from .advice import carbon_aware_section

        results.carbon_aware = carbon_aware_section(config, live, outcome_results)
    return RunOutcome(results, verdict, interrupted)


INTERRUPTED = "interrupted"  # the suite's verdict when a signal ended the run


def _assess_runs(
    config: Config,
    w: Workload,
    samples: list[Sample],
    grid: grid_mod.GridFactor,
    plan: MeterPlan,
    baseline: Baseline | None,
    fingerprint: dict[str, Any],
) -> WorkloadResult:
    """A stored-mode workload's runs assessed: all of them, or those a signal left."""
    return _partial(
        assess_workload(
            w, samples, grid, plan.embodied, baseline, confidence=config.gate.confidence, fingerprint=fingerprint
        ),
        w.warmup + w.repeats,
    )


def _partial(result: WorkloadResult, planned_runs: int) -> WorkloadResult:
    """Say so on a workload whose runs a signal cut short (its finished runs are kept and assessed)."""
    if len(result.samples) < planned_runs and result.verdict != "error":
        result.reasons.insert(0, f"interrupted after {len(result.samples)} of {planned_runs} runs")
    return result


def _shard_plan(config: Config, workloads: list[Workload], spec: ShardSpec) -> list[list[str]]:
    """Every shard's workloads, balanced by the baseline file's recorded run times when it has them."""
    from . import baseline as baseline_mod
    from .shard import expected_seconds, plan_shards

    try:
        doc = baseline_mod.load(config.root / config.baseline.file)
    except UsageError:
        doc = None  # a corrupt baseline only loses the balance here; the stored mode reports it
    durations = {w.name: expected_seconds(doc, w.name, w.warmup + w.repeats) for w in workloads}
    return plan_shards([w.name for w in workloads], spec.count, durations)


def shard_section(
    config: Config, spec: ShardSpec, plan: list[list[str]], fingerprint: dict[str, Any], seed: int | None
) -> dict[str, Any]:
    """The results' `shard` block: enough for `merge` to check the shards belong together and to name
    the workloads of a shard that never reported."""
    import hashlib

    try:
        digest = hashlib.sha256(Path(config.path).read_bytes()).hexdigest()
    except OSError:
        digest = None
    order = [w.name for w in config.workloads]  # so the merged suite lists workloads in config order
    suite = sorted((n for part in plan for n in part), key=lambda n: (order.index(n) if n in order else len(order), n))
    return {
        "id": spec.id,
        "index": spec.index,
        "count": spec.count,
        "plan": plan,
        "suite": suite,
        "config_sha256": digest,
        "fingerprint": fingerprint,
        "seed": seed,
    }


def _not_run(
    w: Workload,
    grid: grid_mod.GridFactor,
    plan: MeterPlan,
    config: Config,
    baseline: Baseline | None,
    fingerprint: dict[str, Any],
) -> WorkloadResult:
    """Workloads that are not run here: a forecast (`estimate:`) or imported CodeCarbon samples."""
    if w.kind == "estimate":
        from .assess.verdict import assess_estimate

        return assess_estimate(w, grid)
    from .codecarbon_import import read_codecarbon

    groups = read_codecarbon(config.root / w.codecarbon_csv)  # type: ignore[operator]
    samples = groups.get(w.name) or [s for group in groups.values() for s in group]
    return assess_workload(w, samples, grid, None, baseline, confidence=config.gate.confidence, fingerprint=None)


def _attach_history(results: list[WorkloadResult], baseline_path: Path) -> None:
    """Trend points from the baseline file, whatever the mode (a missing or bad file just means none)."""
    from . import baseline as baseline_mod

    try:
        doc = baseline_mod.load(baseline_path)
    except UsageError:
        return
    for r in results:
        entry = baseline_mod.entry(doc, r.name) or {}
        r.history = [{k: h.get(k) for k in ("commit", "date", "median_wh")} for h in entry.get("history", [])][-30:]


def _family(config: Config, compared: int) -> int:
    """How many workloads share the family-wise error rate (1 when each is tested on its own)."""
    return max(1, compared) if config.gate.family == "holm" else 1


def _paired_family(config: Config, workloads: Sequence[Workload]) -> int:
    # Every command workload is compared with its base, so all of them form the Holm family.
    return _family(config, sum(w.kind == "command" for w in workloads))


def paired_floor(config: Config, workloads: Sequence[Workload]) -> int:
    """The fewest paired rounds before the sequential gate's first look (fewer repeats are raised to it)."""
    return MIN_FIRST_ROUNDS


def _floor_reason(confidence: float, family: int, bounded_floor: int, floor: int) -> str:
    if floor <= bounded_floor:
        return f"fewer cannot bound a {confidence:.0%} interval"
    alpha = 1 - confidence
    return (
        f"with Holm across {family} workloads, fewer cannot reach p <= {alpha:.3g}/{family} "
        f"= {alpha / family:.3g} even if every run regresses (rank tests are discrete)"
    )


def _stored_floor(
    w: Workload, baseline: Baseline | None, confidence: float, family: int
) -> tuple[Workload, Baseline | None]:
    """Stored mode: raise the head runs so that, against the baseline's runs, a bounded interval exists
    and a clear regression can survive Holm; at most to the balanced minimum (the floor with as many
    head as base runs). A smaller baseline would need many more head runs: better re-record it."""
    if baseline is None or not baseline.samples_wh:
        return w, baseline
    n = len(baseline.samples_wh)
    balanced = min_repeats(confidence, paired=False, family=family)
    # Searching up to the configured repeats too: enough of them need no raise, however small the baseline.
    need = min_head_runs(n, confidence, family, limit=max(balanced, w.repeats))
    if need is None:
        with_holm = f" with Holm across {family} workloads" if family > 1 else ""
        note = (
            f"the baseline has only {n} run{'' if n == 1 else 's'}: too few to reach {confidence:.0%} "
            f"confidence{with_holm} with {w.repeats} head runs; re-record it with at least {balanced} repeats "
            "(`carbon-gate baseline update`)"
        )
    elif need <= w.repeats:
        return w, baseline
    else:
        bounded = min_head_runs(n, confidence, 1, limit=need) or need
        note = f"repeats {w.repeats} raised to {need} runs against the baseline's {n}: " + _floor_reason(
            confidence, family, bounded, need
        )
        w = replace(w, repeats=need)
    return w, replace(baseline, notes=(*baseline.notes, note))


def _stored(doc: dict[str, Any] | None, name: str) -> Baseline | None:
    from . import baseline as baseline_mod

    e = baseline_mod.entry(doc, name)
    if e is None:
        return None
    return Baseline(
        mode="stored",
        samples_wh=tuple(e.get("samples_wh", ())),
        commit=e.get("commit"),
        fingerprint=e.get("fingerprint"),
    )


def _setup(config: Config, tree: Path, label: str, progress: Progress | None) -> str | None:
    """Run `baseline.setup` once in a tree (not measured); returns an error message or None."""
    import subprocess

    from .meters.process import run_process

    cmd = config.baseline.setup
    if not cmd:
        return None
    if progress:
        progress(Event(text=f"setup ({label}): {cmd if isinstance(cmd, str) else ' '.join(cmd)}"))
    with tempfile.TemporaryFile() as err:
        run = run_process(
            cmd,
            cwd=tree,
            env=workload_environ(config.environment),
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            timeout_s=3600,
        )
        if run.exit_code != 0 or run.launch_error:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-500:].strip()
            return f"setup failed in the {label} tree (exit {run.exit_code}): {run.launch_error or tail}"
    return None


def _paired(
    config: Config,
    workloads: list[Workload],
    plan: MeterPlan,
    head_root: Path,
    base_root: Path,
    base_sha: str,
    seed: int,
    grid: grid_mod.GridFactor,
    fingerprint: dict[str, Any],
    progress: Progress | None,
    family_of: Sequence[Workload] | None = None,
) -> Iterator[WorkloadResult]:
    """Each workload's paired rounds and their assessment, yielded as it finishes."""
    head_error = _setup(config, head_root, "head", progress)
    if head_error:  # nothing can run; still a results file, every workload an error saying why
        yield from (
            WorkloadResult(
                name=w.name, command=w.command_text(), verdict="error", reasons=[head_error], samples=[], line=w.line
            )
            for w in workloads
        )
        return
    base_error = _setup(config, base_root, "base", progress)
    rng = random.Random(seed)
    # Each workload's sequence runs at alpha / k: a regression it decides then survives Holm across the k.
    family = _paired_family(config, family_of if family_of is not None else workloads)
    alpha = (1 - config.gate.confidence) / family
    count = sum(w.kind == "command" for w in workloads)
    index = 0
    for w in workloads:
        if w.kind != "command":
            yield _not_run(w, grid, plan, config, None, fingerprint)
            continue
        first = first_block(w)
        looks = plan_looks(first, max(first, w.max_rounds), alpha)
        notes = (
            (
                f"repeats {w.repeats} raised to {first} rounds before the first look: fewer give no useful "
                "interval at the first look's share of alpha",
            )
            if first > w.repeats
            else ()
        )
        pairing = choose_pairing(config.baseline.pairing)
        index += 1
        if progress:  # runs planned up to the first look; run_rounds raises it with the batch and each look
            progress(
                Event(
                    text=f"{w.name}: paired with base {base_sha[:10]} ({pairing}): {max(1, w.warmup)} warm-up + "
                    f"{first} rounds, then more until decided (at most {looks.rounds[-1]} rounds or "
                    f"{w.max_time_s:g} s; seed {seed})",
                    kind="workload",
                    workload=w.name,
                    index=index,
                    count=count,
                    runs=2 * (max(1, w.warmup) + first),
                )
            )
        runs = PairedRuns(base_error=base_error)
        if not w.workdir(base_root).is_dir():
            runs.base_error = f"{w.cwd!r} does not exist at the base commit"
        environ = workload_environ(config.environment)

        def stop(r: PairedRuns, w: Workload = w, looks: Looks = looks, notes: tuple[str, ...] = notes) -> bool:
            base = _paired_baseline(r, base_sha, seed, notes, looks)
            head_wh = [s.energy_wh for s in r.head if not s.warmup and s.ok]
            return decided(compare(head_wh, base, w.tolerance, config.gate.confidence).verdict)

        try:
            runs = run_rounds(
                w,
                plan,
                head_root,
                base_root,
                rng,
                first=first,
                max_rounds=looks.rounds[-1],
                max_time_s=w.max_time_s,
                stop=stop,
                looks=looks.rounds,
                pairing=pairing,
                runs=runs,
                progress=progress,
                environ=environ,
            )
        except (KeyboardInterrupt, Interrupted):  # keep the rounds that finished: yielded, then the signal goes on
            if runs.head:
                yield _partial(
                    _assess_paired(w, runs, base_sha, seed, grid, plan, config, fingerprint, looks, notes),
                    max(1, w.warmup) + first * runs.batch,
                )
            raise
        yield _assess_paired(w, runs, base_sha, seed, grid, plan, config, fingerprint, looks, notes)


MIN_FIRST_ROUNDS = 6  # fewer rounds cannot give a useful interval at the first look's small alpha


def first_block(w: Workload) -> int:
    """Rounds before the first look: the workload's `repeats`, at least MIN_FIRST_ROUNDS."""
    return max(w.repeats, MIN_FIRST_ROUNDS)


def choose_pairing(setting: str) -> Pairing:
    """`auto` → sequential: on the measured VM duet rounds were noisier (docs/statistics.md, 'Duet runs')."""
    return DUET if setting == DUET else SEQUENTIAL


def _paired_baseline(runs: PairedRuns, base_sha: str, seed: int, notes: tuple[str, ...], looks: Looks) -> Baseline:
    base_wh = [s.energy_wh for s in runs.base if not s.warmup and s.ok]
    return Baseline(
        mode="paired",
        samples_wh=tuple(base_wh),
        commit=base_sha,
        error=runs.base_error,
        seed=seed,
        notes=notes,
        looks=looks,
        batch=runs.batch,
    )


def _assess_paired(
    w: Workload,
    runs: PairedRuns,
    base_sha: str,
    seed: int,
    grid: grid_mod.GridFactor,
    plan: MeterPlan,
    config: Config,
    fingerprint: dict[str, Any],
    looks: Looks,
    notes: tuple[str, ...],
) -> WorkloadResult:
    baseline = _paired_baseline(runs, base_sha, seed, notes, looks)
    # Counted head and base samples are in run order, so `compare` pairs their rounds by position.
    result = assess_workload(
        w,
        runs.head,
        grid,
        plan.embodied,
        baseline,
        confidence=config.gate.confidence,
        fingerprint=fingerprint,
        base_samples=runs.base,
    )
    if result.baseline is None:
        return result
    head_r, base_r = runs.counted_pairs()
    result.baseline.update(
        pairing=runs.pairing,
        rounds=runs.rounds,
        stop=runs.stop,
        elapsed_s=round(runs.elapsed_s, 3),
        round_wh={"head": head_r, "base": base_r},  # per round (sum of a side's batch), for charts
    )
    if runs.pairing == DUET:
        result.baseline["cpu_sets"] = [list(c) for c in runs.cpu_sets]
        result.baseline["head_cpu_set"] = "".join(o[1] for o in runs.orders)
    else:
        result.baseline["orders"] = "".join("H" if o == "hb" else "B" for o in runs.orders)
    if runs.too_short:
        result.baseline["too_short"] = runs.too_short
    too_short_verdict(result)
    if result.change is not None:
        result.reasons.append(_how(runs, result.change))
    return result


def too_short_verdict(result: WorkloadResult) -> None:
    """A workload whose runs are too short to compare even in batches is `inconclusive`, saying so, whatever
    its noisy rounds suggest (never a coin-toss verdict); budgets, errors and a failed base still win."""
    why = (result.baseline or {}).get("too_short")
    if why and result.verdict in ("regression", "improvement", "unchanged", "inconclusive"):
        result.verdict = "inconclusive"
        result.reasons.insert(0, f"too short to compare: {why}; make one run do more work")


def _how(runs: PairedRuns, change: Change) -> str:
    """How the decision was reached, in one line for the report."""
    batch = f", {runs.batch} runs per side per round" if runs.batch > 1 else ""
    mde = change.to_dict()["mde"]  # as the results show it: 4 significant digits
    reach = (
        f"; smallest change detectable at this point (MDE, 80 % power): {mde * 100:.1f} %" if mde is not None else ""
    )
    method = change.method.split(";")[0]
    return (
        f"decision: {runs.rounds} {runs.pairing} rounds{batch} in {runs.elapsed_s:.0f} s, stopped: {runs.stop}; "
        f"interval: {method}{reach}"
    )
