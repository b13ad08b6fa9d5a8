"""`carbon-gate baseline update`: measure the workloads (or read a finished run's results) and record them
in the committed baseline file (docs/configuration.md, `baseline:`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import baseline as baseline_mod
from . import gitctx, interrupts
from . import results as results_mod
from .errors import UsageError
from .pipeline import RunOptions, run_suite
from .progress import Progress
from .settings import Config


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """What `update_baseline` did: the file, the workloads it recorded and the failed ones it skipped."""

    path: Path
    recorded: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    interrupted_by: BaseException | None = None  # a signal stopped the measuring: the file was not changed


def update_baseline(
    config: Config,
    *,
    from_results: str | None,
    names: Sequence[str],
    repeats: int | None,
    display: Callable[[], AbstractContextManager[Progress | None]],
) -> Recorded:
    """Record `from_results` (a finished run's results file) or a fresh measuring run in the baseline file.

    `display` opens the progress display, only while measuring. A corrupt baseline file or an interrupted
    results file stops before any work; an interrupted measuring run leaves the file as it was."""
    path = config.root / config.baseline.file
    previous = baseline_mod.load(path)  # a corrupt file stops here, before any work
    if from_results:
        doc: dict[str, Any] = results_mod.load(from_results)
        if doc.get("interrupted"):
            raise UsageError(
                f"{from_results}: the run was interrupted, so its runs are partial; "
                "record the results of a finished run"
            )
    else:
        with interrupts.deferred(), display() as progress:  # the baseline is written whole or not at all
            outcome = run_suite(config, RunOptions(tuple(names), repeats, mode="none"), progress)
        if outcome.interrupted_by is not None:
            return Recorded(path=path, interrupted_by=outcome.interrupted_by)
        doc = outcome.results.to_dict()
    commit = (doc.get("git") or {}).get("head")
    root = gitctx.repo_root(config.root)
    if commit is None and root is not None:
        here = gitctx.head(root)
        commit = here.sha if here else None
    new = baseline_mod.update(previous, doc, commit, config.baseline.history)
    baseline_mod.write(path, new)
    return Recorded(
        path=path,
        recorded=tuple(
            w["name"] for w in doc["workloads"] if w["name"] in new["workloads"] and w["verdict"] != "error"
        ),
        skipped=tuple(w["name"] for w in doc["workloads"] if w["verdict"] == "error"),
    )
