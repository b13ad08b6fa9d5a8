"""The GitHub Action's engine (`carbon-gate action`): read the event, guard the budget file against
the PR, run the pipeline, and publish to the job summary, outputs, annotations and the sticky
comment. Publishing problems become warnings; they never change the verdict or the exit code."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from . import config as config_mod
from . import interrupts
from .assess.tamper import LimitChange, diff_baselines, diff_configs, effective_config
from .errors import (
    EXIT_GATE_FAILED,
    EXIT_PASS,
    EXIT_USAGE,
    EXIT_WORKLOAD,
    CarbonGateError,
    ConfigError,
    UsageError,
)
from .publish import actions
from .publish.event import EventContext, read_event

if TYPE_CHECKING:
    from .pipeline import RunOptions


class Echo(Protocol):
    """Where the Action's log lines go (print in the Action, a collector in tests)."""

    def __call__(self, message: str, /, *, file: IO[str] | None = None) -> None: ...


FAIL_ON_ALIASES = {
    "budget": "over-budget",
    "over-budget": "over-budget",
    "regression": "regression",
    "inconclusive": "inconclusive",
    "error": "error",
}


@dataclass(frozen=True)
class ActionInputs:
    config: str = "carbon-gate.yml"
    mode: str = "gate"  # gate | measure-only | update-baseline
    comment: str = "on-change"
    fail_on: str = ""
    approve_label: str = "carbon-budget-approved"
    results: str = "carbon-gate-results.json"
    report: str = "carbon-gate-report.md"
    token: str | None = None
    stage: str = "all"  # all | fetch | measure | publish (see run_action)
    shard: str = ""  # I/N: a matrix job's part of the suite; the merge job gates and comments (docs/scale.md)
    merge: str = ""  # space-separated globs of shard results: merge them instead of running workloads


def parse_fail_on(text: str) -> tuple[str, ...] | None:
    """`regression,budget` → ("regression", "over-budget"); empty → None (keep the config's)."""
    items = [t.strip() for t in text.replace(" ", ",").split(",") if t.strip()]
    if not items:
        return None
    bad = [t for t in items if t not in FAIL_ON_ALIASES]
    if bad:
        raise UsageError(f"fail-on: unknown {', '.join(bad)}; expected regression, budget, inconclusive or error")
    return tuple(dict.fromkeys(FAIL_ON_ALIASES[t] for t in items))


def guard(
    config: config_mod.Config, ctx: EventContext, root: Path, token: str | None = None
) -> tuple[config_mod.Config, list[LimitChange], list[str]]:
    """For a pull request: the config to gate with should the PR loosen its own gate (the base commit's limits
    and baseline), what the PR changes, and notes for the report.

    Everything is read from the base commit's git objects. Whatever cannot be checked counts as loosened
    (fails closed): a base commit that cannot be fetched, a budget file outside the repository, a symlinked
    or moved one. Only a budget file that is absent (the PR introduces the gate) or invalid (the PR may be
    the fix) at the base leaves the PR's own limits in force, with a note."""
    from . import gitctx

    notes: list[str] = []
    if not ctx.is_pull_request:
        return config, [], notes
    if not ctx.base_sha:
        notes.append(
            "the event names no base commit: the budget file could not be checked against it, so this "
            "pull request's limits count as loosened"
        )
        return config, [LimitChange("base commit", "named by the event", "unknown", True)], notes
    short = ctx.base_sha[:12]
    if not gitctx.ensure_commit(root, ctx.base_sha, token):
        notes.append(
            f"base commit {short} could not be fetched, so the budget file could not be checked against it "
            "and this pull request's limits count as loosened: check out with `fetch-depth: 0` "
            "(actions/checkout), or give the action a token that can read the repository"
        )
        return config, [LimitChange("base commit", short, "not fetched", True)], notes
    try:
        rel = _repo_path(config.path, root)
    except ValueError:
        notes.append(f"{config.path} is outside the repository: it could not be checked against the base commit")
        return config, [LimitChange("budget file", "in the repository", f"outside it: {config.path}", True)], notes
    changes: list[LimitChange] = []
    link = _symlink_on(rel, root)
    if link:  # the file read is another one than the path says: read the base's by path, and flag it
        changes.append(
            LimitChange("budget file", f"{rel} (a file)", f"{link} is a symlink to {os.readlink(root / link)}", True)
        )
    base_rel, found = rel, gitctx.blob(root, ctx.base_sha, rel)
    if found is None:
        moved = gitctx.renamed_from(root, ctx.base_sha, rel) or _other_budget_file(root, ctx.base_sha, rel)
        if moved is None:
            notes.append(
                f"{rel} does not exist at the base commit: this PR introduces the gate, so its own limits apply"
            )
            return config, changes, notes
        changes.append(LimitChange("budget file", moved, f"{rel} (moved)", True))
        base_rel, found = moved, gitctx.blob(root, ctx.base_sha, moved)
    assert found is not None
    kind, data = found
    if kind == "symlink":
        notes.append(f"{base_rel} is a symlink at the base commit: its limits could not be read from it")
        return config, [*changes, LimitChange("budget file at the base commit", "a symlink", "unreadable", True)], notes
    try:
        base_cfg: config_mod.Config | None = config_mod.parse(data.decode("utf-8", "replace"), str(config.path))
    except (CarbonGateError, ValueError, TypeError) as exc:
        # The base branch's own gate cannot run with it either; the PR (often the fix) is gated with its own
        # limits, but its baseline is still guarded below.
        notes.append(
            f"{base_rel} at the base commit {short} is invalid, so this pull request's own limits were "
            f"applied: {_first_problem(exc)}"
        )
        changes.append(LimitChange("budget file at the base commit", "invalid", "valid in this PR", False))
        base_cfg = None
    guarded = config
    if base_cfg is not None:
        files, base_profile = _named_files(base_cfg, config, ctx.base_sha, root)
        changes += diff_configs(base_cfg, config, files)
        guarded = effective_config(base_cfg, config)
        if base_profile is not None:  # the base's profile file, as committed there
            guarded = replace(guarded, machine=replace(guarded.machine, profile=str(base_profile)))
    return _guard_baseline(config, guarded, changes, notes, ctx.base_sha, root)


def _guard_baseline(
    config: config_mod.Config,
    guarded: config_mod.Config,
    changes: list[LimitChange],
    notes: list[str],
    base_sha: str,
    root: Path,
) -> tuple[config_mod.Config, list[LimitChange], list[str]]:
    """The baseline the base commit would compare with (its own file, at the base commit), against the PR's."""
    from . import baseline as baseline_mod
    from . import gitctx

    try:
        base_baseline_rel = _repo_path(config.root / guarded.baseline.file, root)
    except ValueError:
        notes.append(
            f"the baseline file {guarded.baseline.file} is outside the repository: it could not be read "
            "from the base commit"
        )
        return guarded, [*changes, LimitChange("baseline file", "in the repository", "outside it", True)], notes
    found = gitctx.blob(root, base_sha, base_baseline_rel)
    base_baseline = found[1].decode("utf-8", "replace") if found and found[0] == "file" else None
    try:
        head_doc = baseline_mod.load(config.root / config.baseline.file)
    except UsageError:
        head_doc = None
    if base_baseline is not None:
        tmp = (
            Path(tempfile.mkdtemp(prefix="carbon-gate-guard-")) / f"base-{base_sha[:12]}-{Path(base_baseline_rel).name}"
        )
        tmp.write_text(base_baseline, encoding="utf-8")
        try:
            base_doc = json.loads(base_baseline)
        except ValueError:
            base_doc = None
        changes += diff_baselines(base_doc if isinstance(base_doc, dict) else None, head_doc)
        guarded = replace(guarded, baseline=replace(guarded.baseline, file=tmp))
    elif head_doc is not None:
        changes.append(LimitChange("baseline file", "absent", "added in this PR", True))
        guarded = replace(guarded, baseline=replace(guarded.baseline, file=Path(tempfile.mkdtemp()) / "absent.json"))
    return guarded, changes, notes


def _named_files(
    base: config_mod.Config, head: config_mod.Config, base_sha: str, root: Path
) -> tuple[dict[str, tuple[str | None, str | None]], Path | None]:
    """Digests (base, PR) of the files the configs name whose content changes numbers: a profile file and
    CodeCarbon CSVs; and the base's profile file written out for the guarded config (None when the base
    uses a packaged profile or auto)."""
    import hashlib

    from . import gitctx
    from .fsutil import read_small_file
    from .meters.cpu_model import packaged_profiles

    def digest(data: bytes | None) -> str | None:
        return None if data is None else hashlib.sha256(data).hexdigest()

    def at_base(path: Path) -> bytes | None:
        try:
            found = gitctx.blob(root, base_sha, _repo_path(path, root))
        except ValueError:
            return None
        return found[1] if found else None

    def in_pr(path: Path) -> bytes | None:
        try:
            return read_small_file(path, limit=1 << 30)  # CodeCarbon CSVs can be large; never /dev/zero
        except (OSError, ValueError):
            return None

    files: dict[str, tuple[str | None, str | None]] = {}
    packaged = {p.name for p in packaged_profiles()}
    base_profile = None
    # A profile path is read relative to the working directory (cpu_model.load_profile), like the CLI does.
    if base.machine.profile not in ("auto", "", None, *packaged):
        path = Path(os.path.abspath(base.machine.profile))
        data = at_base(path)
        if head.machine.profile == base.machine.profile:
            files[f"machine.profile file {base.machine.profile}"] = (digest(data), digest(in_pr(path)))
        if data is not None:
            base_profile = Path(tempfile.mkdtemp(prefix="carbon-gate-guard-")) / path.name
            base_profile.write_bytes(data)
    base_csv = {w.name: w.codecarbon_csv for w in base.workloads if w.codecarbon_csv}
    for w in head.workloads:
        if w.codecarbon_csv and base_csv.get(w.name) == w.codecarbon_csv:
            path = head.root / w.codecarbon_csv
            files[f"{w.name}: source.codecarbon_csv file"] = (digest(at_base(path)), digest(in_pr(path)))
    return files, base_profile


def _other_budget_file(root: Path, base_sha: str, rel: str) -> str | None:
    """A `carbon-gate.yml` the base commit has beside `rel` or at the top, when `rel` itself is new there: the
    PR pointed the gate at a new file (a copy it may have loosened) instead of editing the base's."""
    from . import gitctx

    for candidate in dict.fromkeys(((Path(rel).parent / "carbon-gate.yml").as_posix(), "carbon-gate.yml")):
        if candidate != rel and gitctx.blob(root, base_sha, candidate) is not None:
            return candidate
    return None


def _repo_path(path: Path, root: Path) -> str:
    """`path` relative to the repository root, as git names it, without following symlinks in the working
    tree (the PR controls them); ValueError when it is outside."""
    absolute = Path(os.path.normpath(os.path.abspath(path)))
    for top in (root, root.resolve()):
        try:
            return absolute.relative_to(os.path.normpath(os.path.abspath(top))).as_posix()
        except ValueError:
            continue
    raise ValueError(f"{path} is outside {root}")


def _symlink_on(rel: str, root: Path) -> str | None:
    """The first component of `rel` (a file or a folder on its way) that is a symlink in the working tree."""
    parts = Path(rel).parts
    for i in range(1, len(parts) + 1):
        if (root / Path(*parts[:i])).is_symlink():
            return Path(*parts[:i]).as_posix()
    return None


def _first_problem(exc: Exception) -> str:
    problems = getattr(exc, "problems", None)
    if not problems:
        return str(exc) or type(exc).__name__
    p = problems[0]
    text: str = (f"line {p.line}: " if p.line else "") + (f"{p.key}: " if p.key else "") + p.message
    return text + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def approved(ctx: EventContext, label: str, token: str | None, api_url: str | None) -> tuple[bool, str]:
    """Does the approval label approve? Read live through the API (labels added after the event count) and
    valid only when someone other than the PR's author or the token added it (the timeline's `labeled`
    actor). Without a token only a `labeled` event's own payload says who added the label. An API failure
    does not approve: a loosening must never pass because GitHub could not be asked."""
    from .publish.comment import FALLBACK_AUTHOR

    if token and ctx.repo and ctx.pr_number:
        try:
            from .publish.comment import label_approval

            return label_approval(token, ctx.repo, ctx.pr_number, label, api_url)
        except Exception as exc:  # noqa: BLE001 - any failure: not approved, and say why
            return False, (
                f"the approval label could not be read through the API ({type(exc).__name__}), so it does "
                "not approve: re-run the job"
            )
    if label not in ctx.labels:
        return False, "labels from the event payload: not on the pull request"
    if ctx.labeled is None or ctx.labeled[0] != label:
        return False, "labels from the event payload: without a token, only a `labeled` event says who added the label"
    if ctx.labeled[1] in {ctx.author, FALLBACK_AUTHOR}:
        return (
            False,
            f"labels from the event payload: added by {ctx.labeled[1]}, who cannot approve their own loosening",
        )
    return True, f"labels from the event payload: added by {ctx.labeled[1]}"


@dataclass
class Measured:
    """What the measure stage hands to the publish stage (in memory, or through the state file)."""

    doc: dict[str, Any]
    exit_code: int  # the suite's, before the approval label is read
    signal: int | None  # the signal that interrupted the run
    first_look: bool  # did the label approve when the limits to measure with were picked
    config_file: str  # the budget file, relative to the repository (annotations point at it)


def run_action(inputs: ActionInputs, echo: Echo = print) -> int:
    """Run the Action; returns the exit code. An error that stops it (a config error, exit 2; a setup
    that cannot run, exit 3) is published like a verdict: annotations at the config's lines, the
    message in the job summary, and the outputs with verdict `error`.

    The stages are separate processes in action.yml so that no process holding the token is alive while
    pull-request code runs (a workload could read its parent's /proc/PID/environ): `fetch` (token: fetch
    the base commit), `measure` (no token: guard, workloads, results), `publish` (token: the approval label
    read live, the verdict, summary, outputs, comment). `all` runs them in one process (the CLI). The
    measure stage has no job summary or outputs (see cli._exec_without_runner_secrets): its error is
    handed to the publish stage through the state file."""
    try:
        return _run_action(inputs, echo)
    except CarbonGateError as exc:
        if inputs.stage == "measure":
            from .fsutil import atomic_write_text

            atomic_write_text(
                str(_state_path(inputs)),
                json.dumps({"error": {"kind": _error_kind(exc), "message": str(exc), "exit_code": exc.exit_code}})
                + "\n",
            )
        return _publish_error(exc, inputs, echo)


def _error_kind(exc: CarbonGateError) -> str:
    return "configuration error" if isinstance(exc, ConfigError) else "error"


def _publish_error(exc: CarbonGateError, inputs: ActionInputs, echo: Echo) -> int:
    from . import gitctx

    root = gitctx.repo_root(Path.cwd()) or Path.cwd()
    with actions.stop_commands(sys.stderr, actions.in_actions()):  # the message quotes the (untrusted) config
        for line in str(exc).splitlines():
            echo(f"carbon-gate: error: {line}", file=sys.stderr)
    for line in actions.error_annotations(exc, root):
        echo(line)
    return _write_error(_error_kind(exc), str(exc), exc.exit_code, echo)


def _write_error(kind: str, message: str, exit_code: int, echo: Echo) -> int:
    """The job summary and the outputs of a run an error stopped."""
    try:
        actions.write_summary(actions.error_summary(f"carbon-gate: {kind}", message, exit_code))
    except OSError as err:
        echo(actions.annotation("warning", f"could not write the job summary ({err})"))
    try:
        actions.write_outputs(
            {
                "verdict": "error",
                "results-path": "",
                "report-path": "",
                "energy-wh": "",
                "co2e-g": "",
                "exit-code": str(exit_code),
            }
        )
    except OSError as err:
        echo(actions.annotation("warning", f"could not write the step outputs ({err})"))
    return exit_code


def _run_action(inputs: ActionInputs, echo: Echo) -> int:
    ctx = read_event()
    if inputs.stage == "fetch":
        return _fetch(inputs, ctx, echo)
    if inputs.stage == "publish":
        error = _state_error(inputs)
        if error is not None:  # the measure stage stopped: its annotations are in its own log
            return _write_error(
                str(error.get("kind", "error")),
                str(error.get("message", "")),
                int(error.get("exit_code", EXIT_USAGE)),
                echo,
            )
        return _publish(inputs, ctx, _load_state(inputs), echo)
    if inputs.stage == "measure":  # never publish what an earlier run left behind
        _state_path(inputs).unlink(missing_ok=True)
    measured = _measure(inputs, ctx, echo)
    if inputs.stage == "measure":
        from .fsutil import atomic_write_text

        atomic_write_text(
            str(_state_path(inputs)),
            json.dumps(
                {
                    "exit_code": measured.exit_code,
                    "signal": measured.signal,
                    "first_look": measured.first_look,
                    "config_file": measured.config_file,
                }
            )
            + "\n",
        )
        return interrupts.exit_code(measured.signal) if measured.signal is not None else EXIT_PASS
    return _publish(inputs, ctx, measured, echo)


def _state_path(inputs: ActionInputs) -> Path:
    return Path(inputs.results).with_name("carbon-gate-state.json")


def _state_error(inputs: ActionInputs) -> dict[str, Any] | None:
    try:
        error = json.loads(_state_path(inputs).read_text(encoding="utf-8")).get("error")
    except (OSError, ValueError, AttributeError):
        return None
    return error if isinstance(error, dict) else None


def _load_state(inputs: ActionInputs) -> Measured:
    from . import results as results_mod

    try:
        state = json.loads(_state_path(inputs).read_text(encoding="utf-8"))
        doc = results_mod.load(inputs.results)
        return Measured(
            doc,
            int(state["exit_code"]),
            state.get("signal"),
            bool(state.get("first_look")),
            str(state.get("config_file", inputs.config)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"publish: no results of a measure stage to publish ({type(exc).__name__}: {exc}); run "
            "`carbon-gate action --stage measure` first"
        ) from None


def _fetch(inputs: ActionInputs, ctx: EventContext, echo: Echo) -> int:
    """Make the base commit available, with the token's read access, before the measure stage; and, when the
    PR loosens its gate, take the first look at the approval label (it only picks the limits to measure
    with: the publish stage decides, so a hint tampered with in between cannot approve anything)."""
    from . import gitctx
    from .fsutil import atomic_write_text

    hint = _hint_path(inputs)
    hint.unlink(missing_ok=True)
    if inputs.mode == "gate" and ctx.is_pull_request and ctx.base_sha:
        root = gitctx.repo_root(Path(inputs.config).resolve().parent) or Path.cwd()
        if not gitctx.ensure_commit(root, ctx.base_sha, inputs.token):
            echo(f"carbon-gate: base commit {ctx.base_sha[:12]} could not be fetched (check out with `fetch-depth: 0`)")
        try:
            _, changes, _ = guard(config_mod.load(inputs.config), ctx, root, inputs.token)
        except CarbonGateError:  # the measure stage reports it
            return EXIT_PASS
        if any(c.loosened for c in changes):
            ok, _ = approved(ctx, inputs.approve_label, inputs.token, os.environ.get("GITHUB_API_URL"))
            atomic_write_text(str(hint), json.dumps({"label_approves": ok}) + "\n")
    return EXIT_PASS


def _hint_path(inputs: ActionInputs) -> Path:
    return Path(inputs.results).with_name("carbon-gate-label-hint.json")


def _first_look(inputs: ActionInputs, ctx: EventContext) -> bool:
    """Does the label approve, as far as the measure stage can tell? The fetch stage's hint when there is one
    (the measure stage holds no token), else the payload or the API."""
    if inputs.stage == "measure":
        try:
            return json.loads(_hint_path(inputs).read_text(encoding="utf-8")).get("label_approves") is True
        except (OSError, ValueError, AttributeError):
            pass
    return approved(ctx, inputs.approve_label, inputs.token, os.environ.get("GITHUB_API_URL"))[0]


def _measure(inputs: ActionInputs, ctx: EventContext, echo: Echo) -> Measured:
    """Guard the budget file, run the suite, write the results and the report."""
    from . import gitctx
    from . import results as results_mod
    from .fsutil import atomic_write_text
    from .pipeline import run_suite
    from .progress import Display
    from .render.markdown import render_markdown
    from .render.terminal import run_summary, screen

    config = config_mod.load(inputs.config)
    root = gitctx.repo_root(config.root) or config.root
    config, changes, notes, first_look = _guarded(inputs, ctx, config, root)
    guard_doc = {
        "changes": [c.to_dict() for c in changes],
        "label": inputs.approve_label,
        "approved": False,
        "how": "",
        "blocked": False,
    }
    if inputs.merge:  # the merge job: the shards ran the workloads (and the guard) already
        doc = _merged(inputs.merge)
        doc["notes"].extend(notes)
        doc["guard"] = guard_doc
        atomic_write_text(inputs.results, results_mod.to_json(doc))
        atomic_write_text(inputs.report, render_markdown(doc, results_name=inputs.results))
        echo(run_summary(doc, screen(sys.stdout).width, screen(sys.stdout).colour))
        from .assess.verdict import FAIL, PASS, WARN

        exit_code = {PASS: EXIT_PASS, WARN: EXIT_PASS, FAIL: EXIT_GATE_FAILED}.get(doc["verdict"], EXIT_WORKLOAD)
        return Measured(doc, exit_code, None, first_look, os.path.relpath(config.path, root))
    options = _run_options(inputs, ctx, config, root, notes)
    # Grouped per workload; the lines carry workload and config text, so they are written inside
    # ::stop-commands:: blocks (the group commands themselves between them).
    with Display(sys.stderr, "actions" if actions.in_actions() else "plain", guard=actions.in_actions()) as progress:
        outcome = run_suite(config, options, progress=progress)
    results = outcome.results
    results.notes.extend(notes)
    results.guard = guard_doc
    doc = results.to_dict()
    atomic_write_text(inputs.results, results_mod.to_json(doc))
    atomic_write_text(inputs.report, render_markdown(doc, results_name=inputs.results))
    with actions.stop_commands(sys.stdout, actions.in_actions()):
        shown = screen(sys.stdout)  # a log: unbounded, coloured only with FORCE_COLOR
        echo(run_summary(doc, shown.width, shown.colour))
    if inputs.mode == "update-baseline" and outcome.interrupted_by is None:
        from . import baseline as baseline_mod

        path = config.root / config.baseline.file
        new = baseline_mod.update(
            baseline_mod.load(path), doc, (doc.get("git") or {}).get("head"), config.baseline.history
        )
        baseline_mod.write(path, new)
        echo(f"baseline written: {path}")
    signal = getattr(outcome.interrupted_by, "signum", 2) if outcome.interrupted_by is not None else None
    return Measured(doc, outcome.suite.exit_code, signal, first_look, os.path.relpath(config.path, root))


def _guarded(
    inputs: ActionInputs, ctx: EventContext, config: config_mod.Config, root: Path
) -> tuple[config_mod.Config, list[LimitChange], list[str], bool]:
    """The config to measure with (the guard's and `fail-on`'s say), the budget-file changes, notes, and
    whether the approval label approved at the first look."""
    notes = [ctx.note] if ctx.note else []
    changes: list[LimitChange] = []
    first_look = False
    if inputs.mode == "gate":
        guarded, changes, guard_notes = guard(config, ctx, root, inputs.token)
        notes += guard_notes
        if any(c.loosened for c in changes):
            # A first look only picks the limits to measure with; what approves is read again after the workloads.
            first_look = _first_look(inputs, ctx)
        # A PR that only tightens or adds, or whose loosening is approved, runs with its own limits;
        # an unapproved loosening runs with the base commit's limits and baseline, and is blocked.
        if any(c.loosened for c in changes) and not first_look:
            config = guarded
    fail_on = parse_fail_on(inputs.fail_on)
    if fail_on:
        config = replace(config, gate=replace(config.gate, fail_on=fail_on))
    return config, changes, notes, first_look


def _run_options(
    inputs: ActionInputs, ctx: EventContext, config: config_mod.Config, root: Path, notes: list[str]
) -> RunOptions:
    """The baseline mode and base commit for the Action's mode and event (noting any fallback)."""
    from . import gitctx
    from .pipeline import RunOptions
    from .shard import parse_shard

    mode = {"gate": None, "measure-only": "none", "update-baseline": "none"}[inputs.mode]
    base = (
        ctx.base_sha
        if (inputs.mode == "gate" and ctx.is_pull_request and config.baseline.mode in ("auto", "paired"))
        else None
    )
    if base and not gitctx.ensure_commit(root, base, inputs.token):
        mode, base = "stored", None
        notes.append(
            "the base commit could not be fetched, so the workloads were compared with the stored baseline "
            "instead: check out with `fetch-depth: 0`"
        )
    elif not base and inputs.mode == "gate" and config.baseline.mode == "paired":
        mode = "stored"
        notes.append("paired mode needs a pull request's base commit; compared with the stored baseline instead")
    return RunOptions(mode=mode, base=base, shard=parse_shard(inputs.shard) if inputs.shard else None)


def _merged(globs: str) -> dict[str, Any]:
    """The merge job's suite: every shard results file the globs match (artifacts: untrusted, schema-checked
    by results.load), merged; none at all is a usage error, a missing shard the merge's `error`."""
    import glob

    from . import results as results_mod
    from .merge import merge

    files = sorted({f for g in globs.split() for f in glob.glob(g, recursive=True)})
    if not files:
        raise UsageError(f"merge: no shard results match {globs!r}: did the matrix jobs upload their artifacts?")
    return merge([results_mod.load(f) for f in files], files)


def _publish(inputs: ActionInputs, ctx: EventContext, measured: Measured, echo: Echo) -> int:
    """Once every workload has exited: read the approval label live, settle the verdict, and publish."""
    from . import results as results_mod
    from .fsutil import atomic_write_text
    from .render.markdown import SUMMARY_LIMIT, render_markdown

    doc = measured.doc
    exit_code = _settle(inputs, ctx, measured)
    guard_doc = doc.get("guard") or {"changes": []}
    changes = guard_doc.get("changes") or []
    atomic_write_text(inputs.results, results_mod.to_json(doc))
    report = render_markdown(doc, results_name=inputs.results)
    atomic_write_text(inputs.report, report)
    if guard_doc.get("blocked"):
        echo(
            f"carbon-gate: FAIL: this pull request loosens its own gate without the approval label "
            f"({guard_doc.get('how')})"
        )
    # The job summary gets the full report (GitHub allows 1 MiB there); only the comment is cut to 65,536
    # characters, and its shortening note sends readers here.
    try:
        actions.write_summary(_summary_report(doc, inputs.results, render_markdown, SUMMARY_LIMIT))
    except OSError as exc:  # a publishing problem: it never changes the verdict or the exit code
        echo(
            actions.annotation("warning", f"could not write the job summary ({exc}); the report is in {inputs.report}")
        )
    if ctx.is_pull_request:  # for the fork-safe workflow_run recipe: what the artifact is about
        atomic_write_text(
            str(Path(inputs.report).with_name("carbon-gate-pr.json")),
            json.dumps({"pr": ctx.pr_number, "head_sha": ctx.head_sha}) + "\n",
        )
    for line in actions.annotations_for(doc, measured.config_file):
        echo(line)
    totals = doc["totals"]
    try:
        actions.write_outputs(
            {
                "verdict": doc["verdict"],
                "results-path": inputs.results,
                "report-path": inputs.report,
                "energy-wh": f"{totals['energy_wh']:.9g}",
                "co2e-g": f"{totals['co2e_g']:.9g}",
                "exit-code": str(exit_code),
            }
        )
    except OSError as exc:
        echo(actions.annotation("warning", f"could not write the step outputs ({exc})"))
    _comment(
        inputs,
        ctx,
        report,
        changed=any(w["verdict"] != "unchanged" for w in doc["workloads"]) or bool(changes),
        failing=exit_code != 0,
        echo=echo,
    )
    if measured.signal is not None:
        return interrupts.exit_code(measured.signal)
    return exit_code


def _settle(inputs: ActionInputs, ctx: EventContext, measured: Measured) -> int:
    """Read the approval label live (a label added meanwhile counts, a removed one no more) and settle the
    verdict in `measured.doc`; the exit code, before any signal."""
    doc, exit_code = measured.doc, measured.exit_code
    guard_doc = doc.get("guard") or {"changes": []}
    if any(c.get("loosened") for c in guard_doc.get("changes") or []):
        label_ok, label_how = approved(ctx, inputs.approve_label, inputs.token, os.environ.get("GITHUB_API_URL"))
        if measured.first_look and not label_ok:
            doc["notes"].append(
                "the approval label no longer approves after the run, so this pull request's own "
                f"limits, measured with, are not accepted ({label_how})"
            )
        guard_doc.update(approved=label_ok, how=label_how, blocked=not label_ok)
        if not label_ok and not doc.get("interrupted"):  # interrupted stays its own outcome
            doc["verdict"] = "fail"
            exit_code = max(exit_code, EXIT_GATE_FAILED) if exit_code != EXIT_WORKLOAD else EXIT_WORKLOAD
        doc["guard"] = guard_doc
    if inputs.mode == "measure-only" or inputs.shard:  # a shard's verdict is the merge job's to gate
        exit_code = EXIT_PASS if exit_code in (EXIT_PASS, EXIT_GATE_FAILED) else exit_code
    return exit_code


def _comment(inputs: ActionInputs, ctx: EventContext, report: str, *, changed: bool, failing: bool, echo: Echo) -> None:
    """The sticky pull-request comment, when this run may post one (or why it does not)."""
    from .publish.comment import publish

    if ctx.is_pull_request and inputs.mode == "gate" and inputs.shard:
        echo(f"carbon-gate: shard {inputs.shard}: no comment; the merge job posts the suite's one comment")
    elif ctx.is_pull_request and inputs.mode == "gate":
        if ctx.fork:
            why = (
                "the token is read-only"
                if ctx.event == "pull_request"
                else "pull_request_target's token can write, "
                "but a fork's pull request never gets a comment made with it"
            )
            echo(
                f"carbon-gate: fork pull request: {why}, so the report is left for the workflow_run comment job "
                "(upload carbon-gate-report.md and carbon-gate-pr.json as an artifact)"
            )
        elif inputs.comment == "off":  # no client, no request: a read-only token or an outage cannot warn here
            echo("carbon-gate: comment: off: the report is in the job summary only")
        elif not inputs.token:
            echo(actions.annotation("warning", "no github-token: the report is in the job summary only"))
        else:
            result = publish(
                report,
                token=inputs.token,
                repo=ctx.repo or "",
                pr_number=ctx.pr_number or 0,
                api_url=os.environ.get("GITHUB_API_URL"),
                policy=inputs.comment,
                changed=changed,
                failing=failing,
            )
            echo(actions.annotation("warning", result.message) if result.warning else f"carbon-gate: {result.message}")


def _summary_report(doc: dict[str, Any], results_name: str, render: Callable[..., str], limit: int) -> str:
    """The report for $GITHUB_STEP_SUMMARY: as full as fits in `limit` bytes of UTF-8 (the renderer counts
    characters, so multi-byte text is rendered again to a proportionally smaller character limit)."""
    chars = limit
    text = render(doc, limit=chars, results_name=results_name)
    for _ in range(3):
        size = len(text.encode("utf-8"))
        if size <= limit:
            break
        chars = max(1_000, int(chars * limit / size) - 1_000)
        text = render(doc, limit=chars, results_name=results_name)
    return text  # actions.write_summary still caps the bytes, should a pathological text need it
