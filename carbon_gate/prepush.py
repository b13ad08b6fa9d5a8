"""The local pre-push check (docs/configuration.md, `prepush`): which refs are pushed, which workloads their changes
touch, and a quick paired comparison of each pushed commit against what the remote has. No token, no network."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from . import gitctx, interrupts
from .config import Workload
from .errors import EXIT_PASS

ZERO = "0" * 40
HOOK_MARK = "# carbon-gate pre-push hook"


@dataclass(frozen=True)
class Push:
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    @property
    def deletion(self) -> bool:
        return set(self.local_sha) == {"0"}

    @property
    def new_branch(self) -> bool:
        return set(self.remote_sha) == {"0"}


def parse_pushes(lines: Iterable[str]) -> list[Push]:
    """git's pre-push stdin: `<local ref> <local sha> <remote ref> <remote sha>` per line."""
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4:
            out.append(Push(*parts))
    return out


def pushes_from_env(env: dict[str, str]) -> list[Push]:
    """The pre-commit framework passes the range as PRE_COMMIT_FROM_REF / PRE_COMMIT_TO_REF."""
    to_ref, from_ref = env.get("PRE_COMMIT_TO_REF"), env.get("PRE_COMMIT_FROM_REF")
    if not to_ref:
        return []
    return [
        Push(
            env.get("PRE_COMMIT_LOCAL_BRANCH", "HEAD"),
            to_ref,
            env.get("PRE_COMMIT_REMOTE_BRANCH", ""),
            from_ref or ZERO,
        )
    ]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A `paths:` glob as a regex: `**` crosses directories, `*` and `?` do not; a trailing `/` means
    everything below."""
    if pattern.endswith("/"):
        pattern += "**"
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def select_workloads(workloads: Sequence[Workload], changed: Sequence[str], config_dir: str) -> list[Workload]:
    """Workloads whose `paths` globs (relative to the config's directory) match a changed path;
    a workload without `paths` runs on any change."""
    prefix = "" if config_dir in ("", ".") else config_dir.rstrip("/") + "/"
    rel = [p[len(prefix) :] for p in changed if p.startswith(prefix)] if prefix else list(changed)
    chosen = []
    for w in workloads:
        if not w.paths:
            if changed:
                chosen.append(w)
            continue
        regexes = [glob_regex(p) for p in w.paths]
        if any(r.match(p) for r in regexes for p in rel):
            chosen.append(w)
    return chosen


def default_branch(root: Path) -> str | None:
    """origin/HEAD's target, else a local main or master."""
    ref = gitctx.git(["symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"], root, check=False)
    if ref:
        return ref
    for name in ("origin/main", "origin/master", "main", "master"):
        if gitctx.git(["rev-parse", "-q", "--verify", f"{name}^{{commit}}"], root, check=False):
            return name
    return None


def base_for(push: Push, root: Path) -> str | None:
    """What the remote already has: its sha for an update (when known locally), else the merge-base of
    the pushed commit with the default branch; None when there is nothing to compare with."""
    if not push.new_branch:
        known = gitctx.git(["rev-parse", "-q", "--verify", f"{push.remote_sha}^{{commit}}"], root, check=False)
        if known:
            return known
    branch = default_branch(root)
    if branch is None:
        return None
    mb = gitctx.git(["merge-base", push.local_sha, branch], root, check=False)
    return mb if mb and mb != push.local_sha else None


def hook_script(python: str, quick: bool = False) -> str:
    import shlex

    return (
        f"#!/bin/sh\n{HOOK_MARK} (installed by `carbon-gate hook install`;"
        " `carbon-gate hook uninstall` removes it)\n"
        "# Skip once with: git push --no-verify\n"
        f'exec {shlex.quote(python)} -m carbon_gate check --pre-push{" --quick" if quick else ""} "$@"\n'
    )


def hooks_dir(root: Path) -> Path:
    """The hooks directory git uses (respects core.hooksPath and worktrees)."""
    path = Path(gitctx.git(["rev-parse", "--git-path", "hooks"], root))
    return path if path.is_absolute() else root / path


def is_ours(path: Path) -> bool:
    try:
        return HOOK_MARK in path.read_text(errors="replace")
    except OSError:
        return False


def install_hook(root: Path, python: str, force: bool = False, quick: bool = False) -> tuple[Path, Path | None]:
    """Write the pre-push hook; a foreign hook is kept as a backup with --force, else refused."""
    from .errors import UsageError

    folder = hooks_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    hook = folder / "pre-push"
    backup = None
    if hook.exists() and not is_ours(hook):
        if not force:
            raise UsageError(
                f"{hook} exists and was not written by carbon-gate; use --force to replace it "
                "(it is kept as pre-push.carbon-gate-backup)"
            )
        backup = hook.with_name("pre-push.carbon-gate-backup")
        os.replace(hook, backup)
    tmp = hook.with_name(".pre-push.carbon-gate.tmp")
    tmp.write_text(hook_script(python, quick))
    tmp.chmod(0o755)
    os.replace(tmp, hook)
    return hook, backup


def uninstall_hook(root: Path) -> tuple[bool, Path | None]:
    """Remove only our own hook; restore the backup a `--force` install kept. Returns (removed, restored)."""
    hook = hooks_dir(root) / "pre-push"
    if not hook.exists() or not is_ours(hook):
        return False, None
    hook.unlink()
    backup = hook.with_name("pre-push.carbon-gate-backup")
    if backup.exists():
        os.replace(backup, hook)
        return True, hook
    return True, None


LIMITS = (
    "Local check: this machine is not the CI runner, so results compare only with runs on this same "
    "machine. Skip once with `git push --no-verify`."
)


class Echo(Protocol):
    """What the check prints with (click.echo)."""

    def __call__(self, message: str, *, color: bool | None = None) -> None: ...


def run_check(config_path: str | None, quick: bool, stdin: TextIO, echo: Echo) -> int:
    """The pre-push check; returns the exit code (non-zero blocks the push)."""
    import sys

    from . import config as config_mod
    from .pipeline import RunOptions, paired_floor, run_suite
    from .progress import display_for
    from .render.terminal import run_summary, screen

    root = gitctx.repo_root(Path.cwd())
    if root is None:
        echo("carbon-gate: not in a git repository; nothing to check")
        return EXIT_PASS
    path = Path(config_path) if config_path else root / "carbon-gate.yml"
    if not path.exists():
        echo(f"carbon-gate: no {path.name}; nothing to check")
        return EXIT_PASS
    config = config_mod.load(path)
    env = dict(os.environ)
    pushes = pushes_from_env(env) or (parse_pushes(stdin) if not stdin.isatty() else [])
    pushes = [p for p in pushes if not p.deletion]
    if not pushes:
        echo("carbon-gate: nothing pushed to check")
        return EXIT_PASS
    rel = config.root.resolve().relative_to(root.resolve()).as_posix()
    warmup = 0 if quick else config.prepush.warmup
    worst = 0
    for push in pushes:
        base = base_for(push, root)
        if base is None:
            echo(f"carbon-gate: {push.local_ref}: no earlier commit to compare with; skipped")
            continue
        changed = gitctx.changed_paths(root, base, push.local_sha)
        chosen = select_workloads(config.workloads, changed, rel)
        if not chosen:
            echo(f"carbon-gate: {push.local_ref}: no workload's paths changed; nothing to check")
            continue
        names = ", ".join(w.name for w in chosen)
        floor = paired_floor(config, chosen)  # the pipeline raises fewer rounds to this anyway
        repeats = floor if quick else max(config.prepush.repeats, floor)
        most = max(max(repeats, w.max_rounds) for w in chosen)
        echo(
            f"carbon-gate: {push.local_ref}: checking {names} against {base[:10]} ({repeats} paired rounds, then more "
            f"until decided: at most {most} rounds or {max(w.max_time_s for w in chosen):g} s per workload)"
        )
        options = RunOptions(tuple(w.name for w in chosen), repeats, "paired", base, head=push.local_sha, warmup=warmup)
        with display_for(sys.stderr) as progress:  # type: ignore[union-attr]  # never None without quiet
            outcome = run_suite(config, options, progress)
        doc = outcome.results.to_dict()
        shown = screen(sys.stdout)
        echo(run_summary(doc, shown.width, shown.colour), color=shown.colour)
        for w in doc["workloads"]:
            if w["verdict"] == "regression" and w.get("change"):
                more = (w["change"]["ratio"] - 1) * 100
                echo(f"carbon-gate: this push makes {w['name']} {more:+.0f} % more energy-hungry")
        if outcome.interrupted_by is not None:
            return interrupts.exit_code(getattr(outcome.interrupted_by, "signum", None))
        worst = max(worst, outcome.suite.exit_code)
    echo(LIMITS)
    return worst
