"""The `carbon-gate` command: parse, call the pipeline, publish, map the outcome to an exit code.

Heavy modules are imported inside the commands so `carbon-gate --version` stays fast.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .errors import EXIT_GATE_FAILED, EXIT_PASS, EXIT_USAGE, EXIT_WORKLOAD, CarbonGateError

if TYPE_CHECKING:
    from .estimate import EstimateInput

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors into one clear message and the documented exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CarbonGateError as exc:
            for line in str(exc).splitlines():
                click.echo(f"carbon-gate: error: {line}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def _interrupt_code(exc: BaseException) -> int:
    from .interrupts import exit_code

    return exit_code(getattr(exc, "signum", signal.SIGINT))


class _Main(click.Group):
    """The command group: SIGINT/SIGTERM/SIGHUP handled from the first moment (exit 128+N), in any
    command and any phase, instead of click's `Aborted!` (exit 1) or a traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from . import interrupts

        previous = interrupts.install()
        try:
            return super().main(*args, **kwargs)
        except (KeyboardInterrupt, interrupts.Interrupted) as exc:
            click.echo("carbon-gate: interrupted", err=True)
            sys.exit(_interrupt_code(exc))
        except Exception as exc:  # the last line of defence: a bug is one clear line, not a traceback
            if interrupts.within(exc) is not None:  # a signal that came out wrapped
                click.echo("carbon-gate: interrupted", err=True)
                sys.exit(_interrupt_code(interrupts.within(exc)))  # type: ignore[arg-type]
            if os.environ.get("CARBON_GATE_DEBUG"):
                raise
            click.echo(
                f"carbon-gate: internal error (a bug; please report it, with CARBON_GATE_DEBUG=1 for the "
                f"traceback): {type(exc).__name__}: {str(exc)[:300]}",
                err=True,
            )
            sys.exit(EXIT_USAGE)
        finally:
            if interrupts.ours(previous):  # the process is exiting: a late signal changes nothing now
                interrupts.close(exiting=True)
            else:  # called in-process (tests): leave the caller as it was
                interrupts.restore(previous)
                interrupts.reset()


def _summary(doc: dict[str, Any]) -> None:
    """The run table on stdout, fitted to its width and coloured where it is a terminal."""
    from .render.terminal import run_summary, screen

    shown = screen(sys.stdout)
    click.echo(run_summary(doc, shown.width, shown.colour), color=shown.colour)


def _progress(quiet: bool, live: bool = True) -> Any:
    """The progress display on stderr as a context manager yielding it (None with -q)."""
    import contextlib

    from .progress import display_for

    display = display_for(sys.stderr, quiet, live=live)
    return display if display is not None else contextlib.nullcontext()


@click.group(cls=_Main, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="carbon-gate")
def main() -> None:
    """Energy and carbon budgets for CI: measure workloads, convert to CO2e, gate on regressions.

    Exit codes: 0 pass, 1 gate failed, 2 usage or config error, 3 a workload could not run,
    130/143 interrupted by SIGINT/SIGTERM (what was measured is still written);
    75 `forecast --defer-above`: wait for a cleaner window.
    """


def _config_option(purpose: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`-c/--config PATH` (default carbon-gate.yml), with what the command does with the file."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        default="carbon-gate.yml",
        show_default=True,
        type=click.Path(dir_okay=False),
        help=purpose,
    )


def _json_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--json`: machine-readable output instead of the text."""
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _report_options(
    default: str = "carbon-gate-report.md", purpose: str = "Where to write the Markdown report ('' for none)."
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--report PATH` and `--template FILE` of the commands that write a report."""

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn = click.option(
            "--template",
            type=click.Path(exists=True, dir_okay=False),
            help="Render the report with this jinja2 template.",
        )(fn)
        return click.option(
            "--report", "report_path", default=default, show_default=True, type=click.Path(dir_okay=False), help=purpose
        )(fn)

    return add


def _grid_options(
    pue_default: float | None = 1.0, grid_instead: str = "", pue_instead: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The grid flags (--grid-country, --grid-intensity, --pue) of every command that has them; the
    `*_instead` texts say what they replace (the imported file's own grid)."""
    grid_tail = f", instead of {grid_instead}." if grid_instead else "."

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn = click.option(
            "--pue",
            type=click.FloatRange(min=1.0),
            default=pue_default,
            show_default=pue_default is not None,
            help="Data-centre PUE multiplier"
            + (f" instead of {pue_instead} (replaces it, never on top)." if pue_instead else "."),
        )(fn)
        fn = click.option(
            "--grid-intensity", metavar="G", help="Grid intensity, e.g. '472' or '472 g/kWh'" + grid_tail
        )(fn)
        fn = click.option(
            "--grid-country", metavar="CC", help="Country (ISO-2, ISO-3 or name) from the packaged dataset" + grid_tail
        )(fn)
        return fn

    return add


def _pinned_grid(grid_intensity: str | None, grid_country: str | None, pue: float, source: str | None = None) -> Any:
    """The grid factor the grid flags give; a bad intensity or an unknown country is a usage error."""
    from .errors import UsageError
    from .grid import UnknownCountry, resolve
    from .units import parse_intensity

    try:
        return resolve(parse_intensity(grid_intensity) if grid_intensity else None, grid_country, pue, source=source)
    except (ValueError, UnknownCountry) as exc:
        raise UsageError(str(exc).strip("'\"")) from None


@main.command(context_settings={**CONTEXT, "ignore_unknown_options": True})
@_grid_options()
@click.option("--results", "json_path", type=click.Path(dir_okay=False), help="Also write the results JSON here.")
@click.option("--json", "json_alias", type=click.Path(dir_okay=False), hidden=True)  # the old name of --results
@click.option(
    "--timeout", metavar="DURATION", help="Kill the command (and its process group) after this long, e.g. 10m."
)
@click.option("--profile", default="auto", show_default=True, help="Runner profile name or file for the CPU model.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines, only the table.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@_friendly
def measure(
    command: tuple[str, ...],
    json_path: str | None,
    json_alias: str | None,
    timeout: str | None,
    profile: str,
    grid_country: str | None,
    grid_intensity: str | None,
    pue: float,
    quiet: bool,
) -> None:
    """Measure any command: carbon-gate measure [OPTIONS] -- COMMAND [ARGS]...

    Prints wall time, CPU-seconds, energy per component with its method, CO2e and the tool's own
    overhead (on stderr), and exits with the command's own exit code (128+N if killed by signal N).
    """
    import shlex

    from . import interrupts
    from .config import MeterSettings
    from .errors import UsageError
    from .interrupts import Interrupted
    from .meters.meter import measure_command, plan_meters
    from .progress import Event
    from .units import parse_duration

    grid = _pinned_grid(grid_intensity, grid_country, pue)
    try:
        timeout_s = parse_duration(timeout) if timeout else None
    except ValueError as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    json_path = json_path or json_alias
    plan = plan_meters(MeterSettings(profile=profile))
    text = shlex.join(command)
    with interrupts.deferred():  # a signal after the command ended waits for the table and the results
        try:
            # No live line: the command writes to the same terminal.
            with interrupts.interruptible(), _progress(quiet, live=False) as progress:
                if progress:
                    progress(Event(text=f"measuring: {text}", kind="workload", workload=text, runs=1))
                sample = measure_command(list(command), plan, timeout_s=timeout_s)
        except (KeyboardInterrupt, Interrupted) as exc:
            click.echo("carbon-gate: interrupted; the command's process group was killed", err=True)
            sys.exit(_interrupt_code(exc))
        _show_measured(text, sample, plan, grid, json_path)
    sys.exit(sample.exit_code)


def _show_measured(text: str, sample: Any, plan: Any, grid: Any, json_path: str | None) -> None:
    from . import results as results_mod
    from .account import footprint
    from .render.terminal import measure_table, screen, wrap

    fp = footprint(sample.energy_wh, sample.wall_s, grid, plan.embodied)
    width = screen(sys.stderr).width
    click.echo(
        "\n".join(part for line in measure_table(text, sample, fp, grid).splitlines() for part in wrap(line, width)),
        err=True,
    )
    if json_path:
        from .rank import rank_info, rank_path, single_run_results

        rank = rank_info()  # on every rank of a torchrun/Slurm job: one file each, `merge` sums them
        doc = single_run_results("command", text, sample, fp, plan, grid, rank)
        _write(rank_path(json_path, rank), results_mod.to_json(doc))


@main.command(context_settings=CONTEXT)
@_config_option("The budget file.")
@click.option(
    "--results",
    "results_path",
    default="carbon-gate-results.json",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the results JSON.",
)
@click.option("-w", "--workload", "names", multiple=True, metavar="NAME", help="Run only this workload (repeatable).")
@click.option("--repeats", type=click.IntRange(min=1), help="Override every workload's repeats.")
@_report_options()
@click.option(
    "--mode",
    type=click.Choice(["auto", "paired", "stored", "none"]),
    help="Override baseline.mode: paired runs the base commit interleaved with HEAD.",
)
@click.option(
    "--base", "base_ref", metavar="REF", help="Base commit for paired mode (default: the PR's base on GitHub)."
)
@click.option("--seed", type=int, help="Seed for the base/head order in paired rounds (recorded in the results).")
@click.option(
    "--shard",
    "shard_spec",
    metavar="I/N",
    help="Run only shard I of N (balanced by the baseline's run times); `carbon-gate merge` joins them.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines, only the summary.")
@_friendly
def run(
    config_path: str,
    results_path: str,
    report_path: str,
    template: str | None,
    names: tuple[str, ...],
    repeats: int | None,
    mode: str | None,
    base_ref: str | None,
    seed: int | None,
    quiet: bool,
    shard_spec: str | None = None,
) -> None:
    """Run the configured workloads, check budgets and the baseline, write results, and exit 0/1/2/3
    (130/143 when interrupted: what was measured is still written, with verdict `interrupted`)."""
    from . import config as config_mod
    from . import interrupts
    from .pipeline import RunOptions, run_suite
    from .shard import parse_shard

    shard = parse_shard(shard_spec) if shard_spec is not None else None
    config = config_mod.load(config_path)
    options = RunOptions(tuple(names), repeats, mode, base_ref, seed, shard=shard)
    # Absolute now: a workload that deletes or changes our working directory cannot move the output.
    out = _OutputPaths(
        os.path.abspath(results_path), os.path.abspath(report_path) if report_path else "", results_path, report_path
    )
    with interrupts.deferred():  # from the last measured run to the exit: a signal waits for the results
        with _progress(quiet) as progress:
            outcome = run_suite(config, options, progress, on_start=out.start)
        code = _finish_run(outcome, out, template, quiet)
    sys.exit(code)


@dataclass(frozen=True)
class _OutputPaths:
    results: str  # absolute
    report: str  # absolute, or "" for none
    shown: str  # the results path as the user gave it, for messages
    report_shown: str

    def start(self, skeleton: Any) -> None:
        """Before any workload runs: prove the results location writable (a failure costs nothing yet)
        and replace an earlier run's file, so a killed run never leaves stale results looking current."""
        from . import results as results_mod
        from .errors import UsageError

        try:
            results_mod.write(self.results, skeleton.to_dict())
        except OSError as exc:
            raise UsageError(f"cannot write {self.shown}: {exc.strerror or exc}; nothing was run") from None


def _finish_run(outcome: Any, out: _OutputPaths, template: str | None, quiet: bool = False) -> int:
    """Write results and report, show the verdict, and choose the exit code. Runs with signals deferred;
    a signal that arrives here marks the (complete) results interrupted and wins the exit code."""
    from . import interrupts

    doc = outcome.results.to_dict()
    results_error = _save_results(out.results, doc, out.shown)
    report_error = _write_report(doc, out.report, template, out.shown, saved=results_error is None)
    interrupts.close()  # a signal from here on changes nothing; one before is reflected below
    if interrupts.received() is not None and not doc["interrupted"]:
        _mark_interrupted(doc)
        results_error = _save_results(out.results, doc, out.shown)
        report_error = _write_report(doc, out.report, template, out.shown, saved=results_error is None)
    _summary(doc)
    if not quiet:
        click.echo(
            f"results: {out.shown}" + (f", report: {out.report_shown}" if out.report and not report_error else ""),
            err=True,
        )
    for error in (results_error, report_error):
        if error is not None:
            for line in str(error).splitlines():
                click.echo(f"carbon-gate: error: {line}", err=True)
    if outcome.interrupted_by is not None or interrupts.received() is not None:
        return interrupts.exit_code(getattr(outcome.interrupted_by, "signum", None) or interrupts.received())
    # A failing gate or workload keeps its code (1 or 3) when a file could not be written; a pass becomes 2.
    if outcome.suite.exit_code:
        return int(outcome.suite.exit_code)
    return EXIT_USAGE if (results_error or report_error) else EXIT_PASS


def _mark_interrupted(doc: dict[str, Any]) -> None:
    doc["interrupted"] = True
    doc["verdict"] = "interrupted"
    doc["notes"] = [
        *doc.get("notes", []),
        "a signal arrived after every workload was measured: the results are complete",
    ]


def _save_results(path: str, doc: dict[str, Any], shown: str) -> CarbonGateError | None:
    """Write the results; when that fails (read-only, full disk, the directory replaced by a file),
    save them in the temp directory instead and say where: measured data is never lost."""
    import tempfile
    import time

    from . import results as results_mod
    from .errors import UsageError

    text = results_mod.to_json(doc)
    try:
        _write(path, text)
        return None
    except CarbonGateError as exc:
        problem = str(exc)
    rescue = os.path.join(
        tempfile.gettempdir(), f"carbon-gate-results-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json"
    )
    try:
        _write(rescue, text)
    except CarbonGateError:
        click.echo(text, err=True)  # the last place left
        return UsageError(f"{problem}; the results could not be saved anywhere, so they are printed above")
    return UsageError(f"{problem}; the results were saved to {rescue} instead")


@main.group(context_settings=CONTEXT)
def baseline() -> None:
    """Manage the committed baseline file."""


@baseline.command("update", context_settings=CONTEXT)
@_config_option("The budget file; the baseline is written to its baseline.file.")
@click.option(
    "--from",
    "from_results",
    type=click.Path(dir_okay=False),
    help="Record an existing results file instead of running the workloads now.",
)
@click.option("-w", "--workload", "names", multiple=True, metavar="NAME", help="Only this workload (repeatable).")
@click.option("--repeats", type=click.IntRange(min=1), help="Override every workload's repeats.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@_friendly
def baseline_update(
    config_path: str, from_results: str | None, names: tuple[str, ...], repeats: int | None, quiet: bool
) -> None:
    """Measure the workloads (or read --from RESULTS) and write the baseline file."""
    from . import config as config_mod
    from .baseline_update import update_baseline

    config = config_mod.load(config_path)
    done = update_baseline(
        config, from_results=from_results, names=names, repeats=repeats, display=lambda: _progress(quiet)
    )
    if done.interrupted_by is not None:
        click.echo("carbon-gate: interrupted; the baseline file was not changed", err=True)
        sys.exit(_interrupt_code(done.interrupted_by))
    click.echo(
        f"baseline: {done.path} — recorded {', '.join(done.recorded) or 'nothing'}"
        + (f"; skipped failed {', '.join(done.skipped)}" if done.skipped else "")
    )
    sys.exit(EXIT_WORKLOAD if done.skipped else EXIT_PASS)


@main.command(context_settings=CONTEXT)
@click.argument("head_results", type=click.Path(dir_okay=False))
@click.argument("base_results", required=False, type=click.Path(dir_okay=False))
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Take tolerance, confidence and fail_on from this config instead of the results file.",
)
@click.option("--results", "out_path", type=click.Path(dir_okay=False), help="Write the re-assessed results JSON here.")
@_report_options()
@_friendly
def compare(
    head_results: str,
    base_results: str | None,
    config_path: str | None,
    out_path: str | None,
    report_path: str,
    template: str | None,
) -> None:
    """Gate two existing results files without running anything.

    With BASE_RESULTS, HEAD's runs are compared with BASE's (unpaired, fingerprints checked). Without
    it, the base runs recorded in HEAD by a paired run are used, reproducing that run's verdicts.
    """
    from . import config as config_mod
    from . import results as results_mod
    from .replay import reassess

    head = results_mod.load(head_results)
    base = results_mod.load(base_results) if base_results else None
    config = config_mod.load(config_path) if config_path else None
    outcome = reassess(head, base, config)
    doc = outcome.results.to_dict()
    if out_path:
        _write(out_path, results_mod.to_json(doc))
    report_error = _write_report(doc, report_path, template, out_path or head_results, saved=bool(out_path))
    _summary(doc)
    if report_error is not None:  # exit 2, after the re-assessed results (if asked for) are written
        raise report_error
    sys.exit(outcome.suite.exit_code)


@main.command(context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--results", "results_path", type=click.Path(dir_okay=False), help="Where to write the merged results JSON."
)
@click.option("-o", "--output", "out_path", type=click.Path(dir_okay=False), help="Same as --results.")
@_report_options(default="", purpose="Also write the Markdown report here.")
@_friendly
def merge(
    inputs: tuple[str, ...], results_path: str | None, out_path: str | None, report_path: str, template: str | None
) -> None:
    """Merge shard results (`run --shard I/N`) or the ranks of one distributed job into one results file.

    Shards: all workloads re-assessed, Holm across the whole suite; a missing shard makes the verdict
    `error`. Ranks: energy summed over ranks, each GPU counted once per node. Exits like `run`.
    """
    from . import results as results_mod
    from .merge import merge as merge_docs

    out_path = results_path or out_path
    if not out_path:
        raise click.UsageError("where to write the merged results: -o/--results FILE")
    doc = merge_docs([results_mod.load(p) for p in inputs], list(inputs))
    _write(out_path, results_mod.to_json(doc, indent=None))  # big suites: the C encoder (benchmarks/merge.py)
    report_error = _write_report(doc, report_path, template, out_path, saved=True)
    _summary(doc)
    if report_error is not None:
        raise report_error
    sys.exit({"pass": EXIT_PASS, "warn": EXIT_PASS, "fail": EXIT_GATE_FAILED}.get(doc["verdict"], EXIT_WORKLOAD))


@main.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option(
    "--cpu", "cpu_name", metavar="NAME", help="Pretend to be a machine with this CPU model instead of this one."
)
@click.option("--vcpus", type=click.IntRange(min=1), help="vCPUs held (default: this process's CPUs).")
@click.option(
    "--host-threads", type=click.IntRange(min=1), help="Threads of the whole host (all sockets), to scale a TDP."
)
@click.option(
    "--sockets", type=click.IntRange(min=1), help="CPU sockets of the host (default: detected; 1 with --cpu)."
)
@click.option(
    "--vm/--bare-metal",
    "vm",
    default=None,
    help="With --cpu: the pretended machine is a VM (its host's threads unknown unless --host-threads) "
    "or bare metal (the default: its threads are --host-threads, else --vcpus).",
)
@click.option("--profile", default="auto", show_default=True, help="Runner profile name or file.")
@_json_option()
@click.option(
    "--markdown",
    "as_markdown",
    is_flag=True,
    help="Markdown, with the CPU power curve as a Mermaid chart (for a job summary or an issue).",
)
@click.pass_context
@_friendly
def machine(
    ctx: click.Context,
    cpu_name: str | None,
    vcpus: int | None,
    host_threads: int | None,
    sockets: int | None,
    vm: bool | None,
    profile: str,
    as_json: bool,
    as_markdown: bool = False,
) -> None:
    """Show what the meters will use on this machine (or a pretended one: --cpu/--vcpus/--sockets), and why."""
    if ctx.invoked_subcommand is not None:
        return
    import json

    from .machine import MachineQuery, describe_machine, machine_lines
    from .meters.cpu_model import ProfileError

    if vm is not None and not cpu_name:
        raise click.UsageError("--vm/--bare-metal describe a pretended machine: give --cpu too")
    query = MachineQuery(
        cpu_name=cpu_name, vcpus=vcpus, host_threads=host_threads, sockets=sockets, vm=vm, profile=profile
    )
    try:
        info, hw = describe_machine(query)
    except ProfileError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    if as_markdown:
        from .render.machine import machine_markdown

        click.echo(machine_markdown(info), nl=False)
        return
    from .render.terminal import screen, wrap

    width = screen(sys.stdout).width
    click.echo("\n".join(part for line in machine_lines(info, hw, query) for part in wrap(line, width, hang=" " * 13)))


@machine.command("calibrate", context_settings=CONTEXT)
@click.option("--out", "out_path", required=True, metavar="FILE", help="Profile file to write (YAML).")
@click.option("--name", help="Profile name (default: the file's stem).")
@click.option(
    "--levels",
    default="0,10,25,50,75,100",
    show_default=True,
    metavar="PCTS",
    help="Load levels of the ladder, % of every CPU.",
)
@click.option("--seconds", type=click.FloatRange(min=0.5), default=3.0, show_default=True, help="Seconds per level.")
@_friendly
def machine_calibrate(out_path: str, name: str | None, levels: str, seconds: float) -> None:
    """Measure this host's package power at a load ladder (RAPL) and write a runner profile for machine.profile."""
    from .machine import calibrate

    try:
        ladder = sorted({int(x) for x in levels.split(",") if x.strip()})
    except ValueError:
        raise click.BadParameter(
            "whole percentages separated by commas, e.g. 0,50,100", param_hint="--levels"
        ) from None
    if len(ladder) < 2 or not all(0 <= x <= 100 for x in ladder):
        raise click.BadParameter("at least two levels, each from 0 to 100", param_hint="--levels")
    done = calibrate(
        name=name or Path(out_path).stem,
        levels=ladder,
        seconds=seconds,
        announce=lambda text: click.echo(text, err=True),
    )
    _write(out_path, done.profile_text)
    for s in done.steps:
        click.echo(
            f"  {s.target_pct:>3} % asked  {s.utilisation * 100:5.1f} % seen  {s.watts:8.2f} W  ±{s.spread * 100:.0f} %"
        )
    if done.busy_idle is not None:
        click.echo(
            f"warning: the host was {done.busy_idle:.0%} busy during the idle step: "
            "calibrate on a quiet host for a true idle point",
            err=True,
        )
    click.echo(f"wrote {out_path}: machine: {{profile: {out_path}}} uses it")


def _write(path: str, text: str) -> None:
    from .errors import UsageError
    from .fsutil import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _render_markdown(doc: dict[str, Any], template: str | None, results_name: str, limit: int | None = None) -> str:
    """The Markdown report; a failing user template is a usage error naming it, never a traceback."""
    from .render.markdown import COMMENT_LIMIT, render_markdown

    try:
        return render_markdown(doc, template, limit=limit or COMMENT_LIMIT, results_name=results_name)
    except Exception as exc:  # a user's template can fail in many ways; say which, don't trace back
        if template is None:
            raise
        from .errors import UsageError

        raise UsageError(f"{template}: template failed: {exc}") from None


def _write_report(
    doc: dict[str, Any], report_path: str, template: str | None, results_name: str, saved: bool
) -> CarbonGateError | None:
    """Render and write the report for `run`/`compare`; the error (a broken template, an unwritable
    path) is returned, not raised, so the caller can show the verdict first. When the results were
    `saved` in `results_name`, the error says so and how to render them again."""
    if not report_path:
        return None
    # In Actions the job summary holds the full report and this file is the comment; anywhere else the
    # file is all there is, so nothing is shortened.
    limit = None if os.environ.get("GITHUB_ACTIONS") == "true" else sys.maxsize
    try:
        _write(report_path, _render_markdown(doc, template, results_name, limit))
    except CarbonGateError as exc:
        if not saved:
            return exc
        hinted = CarbonGateError(
            f"{exc}\nthe results are saved in {results_name}; `carbon-gate report {results_name}` renders them again"
        )
        hinted.exit_code = exc.exit_code
        return hinted
    return None


@main.command(context_settings=CONTEXT)
@click.argument("results_path", type=click.Path(dir_okay=False))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["markdown", "json", "csv", "model-card"]),
    default="markdown",
    show_default=True,
    help="Markdown report, the results as JSON, CodeCarbon-compatible CSV or a model-card block.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--template", type=click.Path(exists=True, dir_okay=False), help="A jinja2 template for the Markdown.")
@click.option(
    "--limit",
    type=click.IntRange(min=1000),
    default=65_536,
    show_default=True,
    help="Largest Markdown report in characters (GitHub's comment limit by default).",
)
@click.option("-w", "--workload", help="The workload for --format model-card.")
@click.option("--training-type", default="fine-tuning", show_default=True, help="model-card training_type.")
@_friendly
def report(
    results_path: str,
    fmt: str,
    output: str | None,
    template: str | None,
    limit: int,
    workload: str | None,
    training_type: str,
) -> None:
    """Render a results file as Markdown, JSON, CSV or a model-card co2_eq_emissions block."""
    from . import results as results_mod

    doc = results_mod.load(results_path)
    if fmt == "markdown":
        text = _render_markdown(doc, template, results_path, limit)
    elif fmt == "json":
        text = results_mod.to_json(doc)
    elif fmt == "csv":
        from .render.tables import to_csv

        text = to_csv(doc)
    else:
        from .render.tables import model_card

        text = model_card(doc, workload, training_type)
    if output:
        _write(output, text)
    else:
        click.echo(text, nl=False)


def _exec_without_runner_secrets() -> None:
    """The measure stage runs pull-request code, which can read this process's /proc/PID/environ (the
    environment it started with, whatever os.environ says later): start again without the token, the
    ACTIONS_* tokens and the runner's command files (action.yml execs this process, so no parent shell
    keeps them either)."""
    from .meters.environ import NEVER_PASS

    keep = {"GITHUB_EVENT_PATH"}  # the measure stage reads the event
    drop = [k for k in os.environ if k not in keep and any(fnmatch.fnmatchcase(k, p) for p in NEVER_PASS)]
    if drop:
        env = {k: v for k, v in os.environ.items() if k not in drop}
        os.execve(sys.executable, [sys.executable, "-m", "carbon_gate", *sys.argv[1:]], env)


# One option per input of action.yml, a line or two each: kept as a table (the formatter would give each option six
# lines, and the stack would read like every other command's). The formatter resumes after the function.
# fmt: off
@main.command(context_settings=CONTEXT)
@click.option("-c", "--config", "config_path", default="carbon-gate.yml", show_default=True, help="The budget file.")
@click.option("--mode", type=click.Choice(["gate", "measure-only", "update-baseline"]), default="gate",
              show_default=True, help="gate fails the check; measure-only reports without failing; "
              "update-baseline writes the baseline file.")
@click.option("--comment", "comment_policy", type=click.Choice(["always", "on-change", "on-failure", "off"]),
              default="on-change", show_default=True, help="When to post or update the sticky PR comment.")
@click.option("--fail-on", default="",
              help="Comma-separated: regression, budget, inconclusive, error (default: the config's).")
@click.option("--approve-label", default="carbon-budget-approved", show_default=True,
              help="The PR label that lets a PR loosen its own budget.")
@click.option("--results", "results_path", default="carbon-gate-results.json", show_default=True,
              help="Where to write the results JSON.")
@click.option("--report", "report_path", default="carbon-gate-report.md", show_default=True,
              help="Where to write the Markdown report.")
@click.option("--stage", type=click.Choice(["all", "fetch", "measure", "publish"]), default="all", show_default=True,
              help="action.yml runs fetch, measure (without the token) and publish as separate steps.")
@click.option("--shard", "shard_spec", default="", metavar="I/N",
              help="A matrix job: run shard I of N, never fail on verdicts or comment (the merge job does).")
@click.option("--merge", "merge_glob", default="", metavar="GLOBS",
              help="The merge job: merge these shard results (space-separated globs) instead of running workloads.")
@_friendly
def action(
    config_path: str,
    mode: str,
    comment_policy: str,
    fail_on: str,
    approve_label: str,
    results_path: str,
    report_path: str,
    stage: str,
    shard_spec: str = "",
    merge_glob: str = "",
) -> None:
    """Run as the GitHub Action: event-aware gate, tamper guard, summary, outputs, sticky comment.

    The token comes from the GITHUB_TOKEN environment variable, never from the command line.
    """
    from . import interrupts
    from .action import ActionInputs, run_action

    if stage == "measure":
        _exec_without_runner_secrets()
    inputs = ActionInputs(
        config_path,
        mode,
        comment_policy,
        fail_on,
        approve_label,
        results_path,
        report_path,
        os.environ.get("GITHUB_TOKEN") or None,
        stage,
        shard=shard_spec,
        merge=merge_glob,
    )
    with interrupts.deferred():  # measuring stays interruptible; a signal after it waits for the outputs
        code = run_action(inputs, echo=lambda text, file=None: click.echo(text, err=file is sys.stderr))
    sys.exit(code)
# fmt: on


@main.command(context_settings=CONTEXT)
@click.option(
    "--report", "report_file", required=True, type=click.Path(dir_okay=False), help="The rendered report (untrusted)."
)
@click.option("--pr", "pr_number", type=click.IntRange(min=1), help="Pull request number (or from --meta).")
@click.option("--head-sha", help="The head commit the report was made for (or from --meta).")
@click.option("--meta", type=click.Path(dir_okay=False), help="carbon-gate-pr.json from the artifact: {pr, head_sha}.")
@click.option(
    "--repo", default=lambda: os.environ.get("GITHUB_REPOSITORY", ""), help="owner/name (default $GITHUB_REPOSITORY)."
)
@click.option(
    "--policy",
    type=click.Choice(["always", "on-change", "on-failure", "off"]),
    default="always",
    show_default=True,
    help="on-change posts or updates (a finished report does not say what changed); on-failure posts "
    "when --run-conclusion is failure, else only updates an existing comment.",
)
@click.option("--run-conclusion", default="", help="The measuring run's conclusion (workflow_run.conclusion).")
@_friendly
def comment(**options: Any) -> None:
    """Post or update the sticky PR comment from a report made elsewhere (the fork-safe workflow_run job).

    The report and its metadata are treated as untrusted: size-capped, checked for the report
    marker, and the PR's current head must equal --head-sha before any comment is touched.
    Publishing problems are warnings (exit 0); a refused or invalid artifact exits 2.
    """
    from .comment_job import CommentJob, post_comment
    from .publish.actions import annotation

    # The options are the job's fields, by name; the token never comes from a flag.
    job = CommentJob(**options, token=os.environ.get("GITHUB_TOKEN"), api_url=os.environ.get("GITHUB_API_URL"))
    result = post_comment(job)
    if result.status == "stale":
        click.echo(f"carbon-gate: error: {result.message}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(annotation("warning", result.message) if result.warning else f"carbon-gate: {result.message}")


@main.command(context_settings=CONTEXT)
@click.option("--params", type=float, help="Model parameters, e.g. 175e9.")
@click.option("--tokens", type=float, help="Training tokens, e.g. 300e9.")
@click.option("--moe-active-params", type=float, help="Active parameters per token for a mixture of experts.")
@click.option("--hours", type=float, help="Instead of params/tokens: the run's length in hours.")
@click.option(
    "--accelerator",
    required=True,
    help="V100, A100-40GB, A100-80GB, H100-SXM, H100-PCIe, H200, L4, T4, A10G, TPUv2..v5e.",
)
@click.option("--count", type=click.IntRange(min=1), required=True, help="Number of accelerators.")
@click.option("--dtype", help="Which peak to use (default: the accelerator's training dtype).")
@click.option("--mfu", type=click.FloatRange(0, 1, min_open=True), help="Model FLOPs utilisation (default 0.4).")
@click.option("--avg-power", help="Average power per accelerator, e.g. 330W (default: TDP).")
@_grid_options()
@click.option(
    "--compare-regions",
    metavar="CC,CC",
    help="Also show the same forecast under each country's annual intensity, e.g. FR,SE,US,IN (location shifting).",
)
@_json_option()
@_friendly
def estimate(
    params: float | None,
    tokens: float | None,
    moe_active_params: float | None,
    hours: float | None,
    accelerator: str,
    count: int,
    dtype: str | None,
    mfu: float | None,
    avg_power: str | None,
    pue: float,
    grid_intensity: str | None,
    grid_country: str | None,
    compare_regions: str | None,
    as_json: bool,
) -> None:
    """Forecast a planned training run: days, energy, CO2e and embodied, with every assumption."""
    import json

    from .errors import UsageError
    from .estimate import EstimateInput
    from .estimate import estimate as run_estimate
    from .grid import UnknownCountry
    from .units import format_mass, parse_power

    grid = _pinned_grid(grid_intensity, grid_country, pue, source="--grid-intensity")
    try:
        source = f"{grid.location}, {grid.source}" + (f" {grid.year}" if grid.year else "")
        # fmt: off
        inp = EstimateInput(accelerator=accelerator, count=count, params=params, tokens=tokens,
                            moe_active_params=moe_active_params, hours=hours, mfu=mfu,
                            avg_power_w=parse_power(avg_power) if avg_power else None, dtype=dtype, pue=pue,
                            intensity_g_per_kwh=grid.g_per_kwh, intensity_source=source)
        # fmt: on
        est = run_estimate(inp)
        regions = _region_estimates(inp, compare_regions, pue) if compare_regions else None
    except (ValueError, UnknownCountry) as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    if as_json:
        click.echo(json.dumps({**est.to_dict(), **({"regions": regions} if regions is not None else {})}, indent=2))
        return
    a = est.assumptions
    click.echo(f"{count} × {a['accelerator']} — {est.days:,.2f} days ({est.hours:,.1f} h)")
    click.echo(f"  energy    {est.energy_kwh:,.1f} kWh (incl. PUE {pue:g})")
    click.echo(
        f"  CO2e      {format_mass(est.co2e_kg * 1000)} operational + {format_mass(est.embodied_kg * 1000)} embodied"
        f" = {format_mass(est.total_kg * 1000)}"
    )
    click.echo("assumptions:")
    for key, value in a.items():
        if isinstance(value, float) and value.is_integer() and abs(value) >= 1e6:  # tokens, parameters: counts
            value = f"{int(value):,}"
        click.echo(f"  {key:<28} {value}")
    if est.sensitivity:
        click.echo("MFU sensitivity:")
        for s in est.sensitivity:
            click.echo(
                f"  MFU {s['mfu']:.3f}: {s['days']:,.2f} days, {s['energy_kwh']:,.1f} kWh, "
                f"{format_mass(s['co2e_kg'] * 1000)} CO2e"
            )
    if regions:
        click.echo("the same run elsewhere (annual intensity, packaged dataset):")
        for r in regions:
            click.echo(
                f"  {r['location']:<28} {r['g_per_kwh']:>6.0f} g/kWh  {format_mass(r['co2e_kg'] * 1000):>9} operational"
                f"  {format_mass(r['total_kg'] * 1000):>9} total  {r['vs_here_pct']:+.0f} %"
            )


def _region_estimates(inp: EstimateInput, regions: str, pue: float) -> list[dict[str, Any]]:
    """The forecast under each listed country's annual intensity (`estimate --compare-regions`)."""
    from dataclasses import replace as _replace

    from .estimate import estimate as run_estimate
    from .grid import resolve

    here = run_estimate(inp).total_kg
    out = []
    for code in dict.fromkeys(c.strip() for c in regions.split(",") if c.strip()):
        g = resolve(None, code, pue)
        e = run_estimate(
            _replace(inp, intensity_g_per_kwh=g.g_per_kwh, intensity_source=f"{g.location}, {g.source} {g.year}")
        )
        out.append(
            {
                "region": code,
                "location": g.location,
                "g_per_kwh": g.g_per_kwh,
                "year": g.year,
                "co2e_kg": e.co2e_kg,
                "total_kg": e.total_kg,
                "vs_here_pct": round((e.total_kg / here - 1) * 100, 2) if here else 0.0,
            }
        )
    return out


@main.command(context_settings=CONTEXT)
@_config_option("Provider, zone, pinned grid and candidate regions from this budget file (optional).")
@click.option(
    "--provider",
    type=click.Choice(["none", "dataset", "uk-carbon-intensity", "electricitymaps", "watttime"]),
    help="Override grid.provider.",
)
@click.option("--zone", help="Override grid.zone.")
@click.option("--energy", metavar="E", help="The job's expected energy, e.g. '3 kWh'.")
@click.option(
    "--duration", metavar="D", help="The job's expected duration, e.g. 2h (default: from --results, else 1h)."
)
@click.option(
    "--results",
    "results_path",
    type=click.Path(dir_okay=False),
    help="Take energy and duration from this results file (projected full runs where there are some).",
)
@click.option(
    "-w",
    "--workload",
    "names",
    multiple=True,
    metavar="NAME",
    help="Only these workloads of --results, or the config's estimate workload.",
)
@click.option(
    "--deadline",
    default="24h",
    show_default=True,
    metavar="WHEN",
    help="The job must end by then: a duration from now (12h) or a UTC time (2026-12-03T06:00Z).",
)
@click.option(
    "--regions", metavar="ZONES", help="Comma-separated zones or countries to compare (plus grid.advice.candidates)."
)
@click.option(
    "--defer-above",
    metavar="G",
    help="Exit 75 when the grid is above G g/kWh now and a cleaner start exists before the deadline.",
)
@click.option(
    "--api-url", metavar="URL", help="The provider's base URL (a mirror or a test server); never from the config."
)
@_json_option()
@click.option(
    "--github-output",
    is_flag=True,
    help="Also write defer, defer-until, grid-intensity and saving-pct to $GITHUB_OUTPUT.",
)
@_friendly
def forecast(**options: Any) -> None:
    """When and where is a job greenest? The lowest-carbon start before the deadline, the saving
    against starting now, and the job in other zones. Never invents a forecast: without one it says so.

    Exit codes: 0, 2 usage or config error, 75 (with --defer-above) defer: the grid is dirty now and a
    cleaner window comes before the deadline.
    """
    from .forecast import run_forecast

    # The options are run_forecast's parameters, by name.
    sys.exit(run_forecast(**options, echo=click.echo, config_given=_given("config_path")))


def _given(param: str) -> bool:
    """Whether the user typed this option (rather than taking its default)."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(param) not in (None, click.core.ParameterSource.DEFAULT)


@main.group("import", context_settings=CONTEXT)
def import_() -> None:
    """Import measurements made by other tools."""


@import_.command("codecarbon", context_settings=CONTEXT)
@click.argument("csv_path", type=click.Path(dir_okay=False))
@click.option("--project", help="Only rows of this project_name.")
@click.option(
    "--results",
    "results_path",
    default="carbon-gate-results.json",
    show_default=True,
    help="Where to write the results JSON.",
)
@_grid_options(pue_default=None, grid_instead="the file's country_iso_code", pue_instead="the file's pue column")
@click.option("--wue", type=click.FloatRange(min=0.0), help="Water L/kWh instead of the file's wue column.")
@_friendly
def import_codecarbon(
    csv_path: str,
    project: str | None,
    results_path: str,
    grid_country: str | None,
    grid_intensity: str | None,
    pue: float | None,
    wue: float | None,
) -> None:
    """Turn a CodeCarbon emissions.csv into a carbon-gate results file (one workload per project_name),
    ready for `report`, `compare` and `baseline update --from`. CO2e and water use the file's own country,
    PUE and WUE unless overridden."""
    from . import results as results_mod
    from .import_codecarbon import import_codecarbon as run_import

    imported = run_import(csv_path, project, grid_intensity, grid_country, pue, wue)
    _write(results_path, results_mod.to_json(imported.doc))
    for line in imported.said:
        click.echo(line)
    click.echo(f"imported {imported.rows} rows into {imported.workloads} workload(s): {results_path}")


@main.group(context_settings=CONTEXT)
def hook() -> None:
    """Install or remove the local pre-push check."""


@hook.command("install", context_settings=CONTEXT)
@click.option("--force", is_flag=True, help="Replace a pre-push hook carbon-gate did not write (kept as a backup).")
@click.option("--quick", is_flag=True, help="The hook runs the minimal profile (fewest rounds, no warm-up).")
@_friendly
def hook_install(force: bool, quick: bool) -> None:
    """Write .git/hooks/pre-push (respects core.hooksPath) running `carbon-gate check --pre-push`."""
    from . import gitctx
    from .errors import UsageError
    from .prepush import install_hook

    root = gitctx.repo_root(Path.cwd())
    if root is None:
        raise UsageError("not inside a git repository")
    hook_path, backup = install_hook(root, sys.executable, force=force, quick=quick)
    click.echo(f"installed {hook_path}" + (f" (your previous hook is kept as {backup})" if backup else ""))
    click.echo("skip it once with: git push --no-verify")


@hook.command("uninstall", context_settings=CONTEXT)
@_friendly
def hook_uninstall() -> None:
    """Remove carbon-gate's pre-push hook (never one it did not write)."""
    from . import gitctx
    from .errors import UsageError
    from .prepush import uninstall_hook

    root = gitctx.repo_root(Path.cwd())
    if root is None:
        raise UsageError("not inside a git repository")
    removed, restored = uninstall_hook(root)
    if not removed:
        click.echo("no carbon-gate pre-push hook installed; nothing removed")
    else:
        click.echo(
            "removed the carbon-gate pre-push hook" + (f"; restored your previous hook {restored}" if restored else "")
        )


@main.command(context_settings=CONTEXT)
@click.option("--pre-push", "pre_push", is_flag=True, required=True, help="Read git's pre-push refs from stdin.")
@click.option(
    "-c", "--config", "config_path", default=None, help="Budget file (default: carbon-gate.yml at the repository root)."
)
@click.option("--quick", is_flag=True, help="Fewest rounds that can decide, no warm-up.")
@click.argument("hook_args", nargs=-1)
@_friendly
def check(pre_push: bool, config_path: str | None, quick: bool, hook_args: tuple[str, ...]) -> None:
    """Compare what is being pushed with what the remote has, on this machine, before it leaves."""
    from . import interrupts
    from .prepush import run_check

    with interrupts.deferred():
        code = run_check(config_path, quick, stdin=sys.stdin, echo=click.echo)
    sys.exit(code)


@main.command(context_settings=CONTEXT)
@_config_option("Where to write the budget file.")
@click.option(
    "--country",
    default="US",
    show_default=True,
    metavar="CC",
    help="Where your CI runs (ISO-2, ISO-3 or name): pins the grid intensity. GitHub's hosted runners run in the US.",
)
@click.option(
    "--workflow/--no-workflow",
    default=True,
    show_default=True,
    help="Also write .github/workflows/carbon-gate.yml (at the repository root).",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@_friendly
def init(config_path: str, country: str, workflow: bool, force: bool) -> None:
    """Write a commented carbon-gate.yml for this project (a pytest-benchmark suite or a train.py is
    detected) and the workflow that gates pull requests on it."""
    from . import config as config_mod
    from . import gitctx
    from .errors import UsageError
    from .grid import UnknownCountry, resolve
    from .scaffold import WORKFLOW, config_text, detect, workflow_text

    try:
        resolve(None, country, 1.0)
    except UnknownCountry as exc:
        raise UsageError(f"--country: {str(exc).strip(chr(39) + chr(34))}") from None
    path = Path(config_path)
    root = gitctx.repo_root(path.resolve().parent) or path.resolve().parent
    targets = [path] + ([root / WORKFLOW] if workflow else [])
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise UsageError(
            f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
            "nothing written (--force overwrites)"
        )
    found = detect(path.resolve().parent)
    text = config_text(found, country)
    config_mod.parse(text, str(path))  # what init writes must load; a failure here is our bug, not the user's
    _write(str(path), text)
    click.echo(
        f"wrote {path}: " + (", ".join(f"{f.name} ({f.why})" for f in found) or "a placeholder workload to edit")
    )
    if workflow:
        (root / WORKFLOW).parent.mkdir(parents=True, exist_ok=True)
        _write(str(root / WORKFLOW), workflow_text())
        click.echo(f"wrote {os.path.relpath(root / WORKFLOW)}: pull requests are gated by the carbon-gate action")
    click.echo("next: `carbon-gate run` measures the workloads; then set budgets from the medians it prints")


@main.command(context_settings=CONTEXT)
def schema() -> None:
    """Print the JSON Schema of carbon-gate.yml (for editors)."""
    import json

    from .config import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


if __name__ == "__main__":  # pragma: no cover
    main()
