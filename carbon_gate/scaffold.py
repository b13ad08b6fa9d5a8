"""`carbon-gate init`: a first, commented carbon-gate.yml for the project in front of it, and the
workflow that gates its pull requests.

Detection is a look, not a guess: a pytest-benchmark suite (the `benchmark` fixture in a test, or the
plugin among the requirements) becomes one workload running only the benchmarks with fixed rounds; a
training script (`train.py`) becomes a short training workload; with neither, a placeholder that says
what to put there. Budgets stay commented out until a first `carbon-gate run` has measured something.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import cast

SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "env",
    "node_modules",
    "__pycache__",
    ".tox",
    ".nox",
    "build",
    "dist",
    "site-packages",
}
MAX_FILES = 2000  # a bounded look: init must answer at once even at the root of a big monorepo
BENCHMARK_TEST = re.compile(r"def test_\w*\s*\([^)]*\bbenchmark\b")
BENCHMARK_OPTIONS = (
    "--benchmark-only --benchmark-disable-gc --benchmark-min-rounds=20 "
    "--benchmark-max-time=0.000001 --benchmark-warmup=off"
)
TRAIN_NAMES = ("train.py", "scripts/train.py", "src/train.py", "training/train.py")
WORKFLOW = Path(".github/workflows/carbon-gate.yml")
PLACEHOLDER = 'python -c "print(sum(i * i for i in range(10**6)))"'


@dataclass(frozen=True)
class Found:
    """A workload carbon-gate init proposes, and why."""

    name: str
    command: str
    why: str
    unit: str | None = None  # a functional unit the workload reports (e.g. epoch)


def _files(root: Path) -> list[Path]:
    """Python files and requirement lists under `root`, nearest first, skipping environments and caches."""
    out: list[Path] = []
    queue = [root]
    while queue and len(out) < MAX_FILES:
        folder = queue.pop(0)
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for p in entries:
            if p.is_dir():
                if p.name not in SKIP_DIRS and not p.name.startswith("."):
                    queue.append(p)
            elif p.suffix in (".py", ".txt", ".toml", ".cfg"):
                out.append(p)
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return ""


def detect(root: Path) -> list[Found]:
    """The workloads to propose for the project at `root` (a placeholder when nothing is recognised)."""
    files = _files(root)
    found: list[Found] = []
    bench = next(
        (p for p in files if p.suffix == ".py" and p.name.startswith("test") and BENCHMARK_TEST.search(_read(p))), None
    )
    declared = next((p for p in files if p.suffix != ".py" and "pytest-benchmark" in _read(p)), None)
    if bench is not None or declared is not None:
        tests = bench.parent.relative_to(root).as_posix() if bench is not None else "."
        where = (
            f"the benchmark fixture in {bench.relative_to(root).as_posix()}"
            if bench is not None
            else f"pytest-benchmark in {cast(Path, declared).relative_to(root).as_posix()}"
        )
        found.append(
            Found(
                "benchmarks", f"python -m pytest {tests} -q -p no:cacheprovider {BENCHMARK_OPTIONS}", f"found {where}"
            )
        )
    train = next((root / n for n in TRAIN_NAMES if (root / n).is_file()), None)
    if train is not None:
        rel = train.relative_to(root).as_posix()
        reports = "report_units" in _read(train)  # else a unit without a count would fail every run
        found.append(
            Found(
                "train",
                f"python {rel}",
                f"found {rel}" + (", which reports its epochs" if reports else ""),
                unit="epoch" if reports else None,
            )
        )
    return found


def config_text(found: list[Found], country: str) -> str:
    """The commented carbon-gate.yml for `found` (or a placeholder workload)."""
    lines = [
        "# carbon-gate.yml — energy and carbon budgets for this repository (written by `carbon-gate init`).",
        "# Every key: https://github.com/carbon-gate/carbon-gate/blob/main/docs/configuration.md",
        "# Try it:  carbon-gate run      (writes carbon-gate-results.json and carbon-gate-report.md)",
        "version: 1",
        "grid:",
        f"  country: {json.dumps(country)}    # where your CI runs: pins the grid intensity (ISO-2/ISO-3/name)",
        "defaults:",
        "  repeats: 5           # counted runs per workload; budgets are checked on their median",
        "  warmup: 1            # runs first and not counted (caches, JIT, imports)",
        "  timeout: 10m         # a run taking longer is killed and the workload is an error",
        "  tolerance: 5%        # a change smaller than this is never a regression",
        "baseline:",
        "  mode: auto           # paired with the PR's base commit in CI, else the stored baseline file",
        "workloads:",
    ]
    placeholder = Found(
        "my-workload",
        PLACEHOLDER,
        "Nothing recognisable was found (no pytest-benchmark suite, no "
        "train.py): put the command that does the work to keep lean here; the same work every run.",
    )
    for f in found or [placeholder]:
        lines += [
            *textwrap.wrap(f.why, 96, initial_indent="  # ", subsequent_indent="  # "),
            f"  - name: {f.name}",
            f"    command: {json.dumps(f.command)}",
        ]
        if f.name == "train":
            lines += [
                "    # Keep the run short (an epoch, a few hundred steps) and report how many epochs it did",
                "    # with carbon_gate.report_units(n); with `extrapolate: {to: 90}` the full run is projected.",
                f"    {'' if f.unit else '# '}unit: {{name: epoch}}",
            ]
        lines += [
            "    # After a first `carbon-gate run`, set budgets about 1.5× the measured median, e.g.:",
            "    # budget:",
            "    #   energy: 50 mWh",
            "    #   co2e: 20 mg",
        ]
    return "\n".join(lines) + "\n"


def workflow_text() -> str:
    """The pull-request workflow (templates/workflow.yml, packaged with the wheel)."""
    from .render.markdown import _packaged_template

    return _packaged_template("workflow.yml")
