"""The GitHub Action's engine (`carbon-gate action`): read the event, guard the budget file against
the PR, run the pipeline, and publish to the job summary, outputs, annotations and the sticky
comment. Publishing problems become warnings; they never change the verdict or the exit code."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from . import config as config_mod
from .assess.tamper import LimitChange, diff_baselines, diff_configs, effective_config
from .errors import CarbonGateError, ConfigError, UsageError
from .publish import actions
from .publish.event import EventContext, read_event

FAIL_ON_ALIASES = {"budget": "over-budget", "over-budget": "over-budget", "regression": "regression",
                   "inconclusive": "inconclusive", "error": "error"}


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


def parse_fail_on(text: str) -> tuple[str, ...] | None:
    """`regression,budget` → ("regression", "over-budget"); empty → None (keep the config's)."""
    items = [t.strip() for t in text.replace(" ", ",").split(",") if t.strip()]
    if not items:
        return None
    bad = [t for t in items if t not in FAIL_ON_ALIASES]
    if bad:
        raise UsageError(f"fail-on: unknown {', '.join(bad)}; expected regression, budget, inconclusive or error")
    return tuple(dict.fromkeys(FAIL_ON_ALIASES[t] for t in items))


def guard(config: config_mod.Config, ctx: EventContext, root: Path) -> tuple[config_mod.Config, list[LimitChange], list[str]]:
    """For a pull request: the config to gate with should the PR loosen its own gate (the base commit's limits
    and baseline), what the PR changes, and notes for the report.

    Reading the base never stops the gate: a base commit that cannot be fetched, or whose budget file is
    missing or invalid, leaves the PR's own limits in force and says so in a note."""
    from . import baseline as baseline_mod
    from . import gitctx

    notes: list[str] = []
    if not ctx.is_pull_request:
        return config, [], notes
    if not ctx.base_sha:
        notes.append("the event names no base commit: the budget file could not be checked against it, "
                     "so this pull request's own limits apply")
        return config, [], notes
    short = ctx.base_sha[:12]
    if not gitctx.ensure_commit(root, ctx.base_sha):
        notes.append(f"base commit {short} is not available: limits could not be read from it")
        return config, [], notes
    try:
        rel = _repo_path(config.path, root)
    except ValueError:
        notes.append(f"{config.path} is outside the repository: limits could not be read from the base commit")
        return config, [], notes
    base_text = gitctx.show(root, ctx.base_sha, rel)
    if base_text is None:
        notes.append(f"{rel} does not exist at the base commit: this PR introduces the gate, so its own limits apply")
        return config, [], notes
    changes: list[LimitChange] = []
    try:
        base_cfg: config_mod.Config | None = config_mod.parse(base_text, str(config.path))
    except (CarbonGateError, ValueError, TypeError) as exc:
        # The base branch's own gate cannot run with it either; the PR (often the fix) is gated with its own
        # limits, but its baseline is still guarded below.
        notes.append(f"{rel} at the base commit {short} is invalid, so this pull request's own limits were "
                     f"applied: {_first_problem(exc)}")
        changes.append(LimitChange("budget file at the base commit", "invalid", "valid in this PR", False))
        base_cfg = None
    if base_cfg is not None:
        changes += diff_configs(base_cfg, config)
        guarded = effective_config(base_cfg, config)
    else:
        guarded = config

    # The baseline the base commit would compare with (its own file, at the base commit), against the PR's.
    try:
        base_baseline_rel = _repo_path(config.root / guarded.baseline.file, root)
    except ValueError:
        notes.append(f"the baseline file {guarded.baseline.file} is outside the repository: it could not be read "
                     "from the base commit")
        return guarded, changes, notes
    base_baseline = gitctx.show(root, ctx.base_sha, base_baseline_rel)
    try:
        head_doc = baseline_mod.load(config.root / config.baseline.file)
    except UsageError:
        head_doc = None
    if base_baseline is not None:
        tmp = Path(tempfile.mkdtemp(prefix="carbon-gate-guard-")) / f"base-{short}-{Path(base_baseline_rel).name}"
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


def _repo_path(path: Path, root: Path) -> str:
    """`path` relative to the repository root, as git names it; ValueError when it is outside."""
    return path.resolve().relative_to(root.resolve()).as_posix()


def _first_problem(exc: Exception) -> str:
    problems = getattr(exc, "problems", None)
    if not problems:
        return str(exc) or type(exc).__name__
    p = problems[0]
    text = (f"line {p.line}: " if p.line else "") + (f"{p.key}: " if p.key else "") + p.message
    return text + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def approved(ctx: EventContext, label: str, token: str | None, api_url: str | None) -> tuple[bool, str]:
    """Is the approval label on the PR? Asked through the API (labels added after the event count), else
    taken from the event payload."""
    if token and ctx.repo and ctx.pr_number:
        try:
            from .publish.comment import pr_labels

            return label in pr_labels(token, ctx.repo, ctx.pr_number, api_url), "labels read through the API"
        except Exception as exc:  # noqa: BLE001 - fall back to the payload, and say so
            return label in ctx.labels, f"labels from the event payload (API failed: {type(exc).__name__})"
    return label in ctx.labels, "labels from the event payload"


def run_action(inputs: ActionInputs, echo=print) -> int:
    """Run the Action; returns the exit code. An error that stops it (a config error, exit 2; a setup
    that cannot run, exit 3) is published like a verdict: annotations at the config's lines, the
    message in the job summary, and the outputs with verdict `error`."""
    try:
        return _run_action(inputs, echo)
    except CarbonGateError as exc:
        return _publish_error(exc, inputs, echo)


def _publish_error(exc: CarbonGateError, inputs: ActionInputs, echo) -> int:
    from . import gitctx

    root = gitctx.repo_root(Path.cwd()) or Path.cwd()
    with actions.stop_commands(sys.stderr, actions.in_actions()):  # the message quotes the (untrusted) config
        for line in str(exc).splitlines():
            echo(f"carbon-gate: error: {line}", file=sys.stderr)
    for line in actions.error_annotations(exc, root):
        echo(line)
    kind = "configuration error" if isinstance(exc, ConfigError) else "error"
    try:
        actions.write_summary(actions.error_summary(f"carbon-gate: {kind}", str(exc), exc.exit_code))
    except OSError as err:
        echo(actions.annotation("warning", f"could not write the job summary ({err})"))
    try:
        actions.write_outputs({"verdict": "error", "results-path": "", "report-path": "", "energy-wh": "",
                               "co2e-g": "", "exit-code": str(exc.exit_code)})
    except OSError as err:
        echo(actions.annotation("warning", f"could not write the step outputs ({err})"))
    return exc.exit_code


def _run_action(inputs: ActionInputs, echo) -> int:
    from . import gitctx
    from . import results as results_mod
    from .fsutil import atomic_write_text
    from .pipeline import RunOptions, run_suite
    from .progress import Display
    from .publish.comment import publish
    from .render.markdown import SUMMARY_LIMIT, render_markdown
    from .render.terminal import run_summary, screen

    env = os.environ
    ctx = read_event()
    config = config_mod.load(inputs.config)
    root = gitctx.repo_root(config.root) or config.root
    notes = [ctx.note] if ctx.note else []
    changes: list[LimitChange] = []
    label_ok, label_how = False, ""
    if inputs.mode == "gate":
        guarded, changes, guard_notes = guard(config, ctx, root)
        notes += guard_notes
        if any(c.loosened for c in changes):
            label_ok, label_how = approved(ctx, inputs.approve_label, inputs.token, env.get("GITHUB_API_URL"))
        # A PR that only tightens or adds, or whose loosening is approved, runs with its own limits;
        # an unapproved loosening runs with the base commit's limits and baseline, and is blocked.
        if any(c.loosened for c in changes) and not label_ok:
            config = guarded
    fail_on = parse_fail_on(inputs.fail_on)
    if fail_on:
        config = replace(config, gate=replace(config.gate, fail_on=fail_on))

    mode = {"gate": None, "measure-only": "none", "update-baseline": "none"}[inputs.mode]
    base = ctx.base_sha if (inputs.mode == "gate" and ctx.is_pull_request and config.baseline.mode in ("auto", "paired")) else None
    if base:
        gitctx.ensure_commit(root, base)
    elif inputs.mode == "gate" and config.baseline.mode == "paired":
        mode = "stored"
        notes.append("paired mode needs a pull request's base commit; compared with the stored baseline instead")
    options = RunOptions(mode=mode, base=base)
    # Grouped per workload; the lines carry workload and config text, so they are written inside
    # ::stop-commands:: blocks (the group commands themselves between them).
    with Display(sys.stderr, "actions" if actions.in_actions() else "plain", guard=actions.in_actions()) as progress:
        outcome = run_suite(config, options, progress=progress)
    results = outcome.results
    results.notes.extend(notes)
    exit_code = outcome.suite.exit_code
    loosened = [c for c in changes if c.loosened]
    results.guard = {"changes": [c.to_dict() for c in changes], "label": inputs.approve_label, "approved": label_ok,
                     "how": label_how, "blocked": bool(loosened) and not label_ok}
    if results.guard["blocked"]:
        results.verdict = "fail"
        exit_code = max(exit_code, 1) if exit_code != 3 else 3
    if inputs.mode == "measure-only":
        exit_code = 0 if exit_code in (0, 1) else exit_code
    doc = results.to_dict()
    atomic_write_text(inputs.results, results_mod.to_json(doc))
    report = render_markdown(doc, results_name=inputs.results)
    atomic_write_text(inputs.report, report)
    with actions.stop_commands(sys.stdout, actions.in_actions()):
        shown = screen(sys.stdout)  # a log: unbounded, coloured only with FORCE_COLOR
        echo(run_summary(doc, shown.width, shown.colour))
    if inputs.mode == "update-baseline" and outcome.interrupted_by is None:
        from . import baseline as baseline_mod

        path = config.root / config.baseline.file
        new = baseline_mod.update(baseline_mod.load(path), doc, (doc.get("git") or {}).get("head"), config.baseline.history)
        baseline_mod.write(path, new)
        echo(f"baseline written: {path}")
    # The job summary gets the full report (GitHub allows 1 MiB there); only the comment is cut to 65,536
    # characters, and its shortening note sends readers here.
    try:
        actions.write_summary(_summary_report(doc, inputs.results, render_markdown, SUMMARY_LIMIT))
    except OSError as exc:  # a publishing problem: it never changes the verdict or the exit code
        echo(actions.annotation("warning", f"could not write the job summary ({exc}); the report is in {inputs.report}"))
    if ctx.is_pull_request:  # for the fork-safe workflow_run recipe: what the artifact is about
        atomic_write_text(str(Path(inputs.report).with_name("carbon-gate-pr.json")),
                          json.dumps({"pr": ctx.pr_number, "head_sha": ctx.head_sha}) + "\n")
    for line in actions.annotations_for(doc, os.path.relpath(config.path, root)):
        echo(line)
    totals = doc["totals"]
    try:
        actions.write_outputs({"verdict": doc["verdict"], "results-path": inputs.results, "report-path": inputs.report,
                               "energy-wh": f"{totals['energy_wh']:.9g}", "co2e-g": f"{totals['co2e_g']:.9g}",
                               "exit-code": str(exit_code)})
    except OSError as exc:
        echo(actions.annotation("warning", f"could not write the step outputs ({exc})"))
    if ctx.is_pull_request and inputs.mode == "gate":
        if ctx.fork:
            echo("carbon-gate: fork pull request: the token is read-only, so the report is left for the "
                 "workflow_run comment job (upload carbon-gate-report.md and carbon-gate-pr.json as an artifact)")
        elif inputs.comment == "off":  # no client, no request: a read-only token or an outage cannot warn here
            echo("carbon-gate: comment: off: the report is in the job summary only")
        elif not inputs.token:
            echo(actions.annotation("warning", "no github-token: the report is in the job summary only"))
        else:
            changed = any(w["verdict"] != "unchanged" for w in doc["workloads"]) or bool(changes)
            result = publish(report, token=inputs.token, repo=ctx.repo or "", pr_number=ctx.pr_number or 0,
                             api_url=env.get("GITHUB_API_URL"), policy=inputs.comment, changed=changed,
                             failing=exit_code != 0)
            echo(actions.annotation("warning", result.message) if result.warning else f"carbon-gate: {result.message}")
    if outcome.interrupted_by is not None:
        return 128 + getattr(outcome.interrupted_by, "signum", 2)
    return exit_code


def _summary_report(doc: dict, results_name: str, render, limit: int) -> str:
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
