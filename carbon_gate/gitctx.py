"""Git context for the plan stage: head and base commits, changed paths, and detached worktrees of
the base for paired runs. Real git, through subprocess; every failure is a clear UsageError."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import UsageError


@dataclass(frozen=True)
class Commit:
    sha: str
    ref: str  # what the user or CI named it (HEAD, origin/main, a sha)


def git(args: Sequence[str], cwd: Path, check: bool = True) -> str:
    """Run git and return its stdout, stripped; a failure raises UsageError with git's own message."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise UsageError("git is not installed, but paired mode and baselines need it") from None
    if check and proc.returncode != 0:
        raise UsageError(f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def _run(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """git whose output only its status or bytes matter for; no stdin, so it never waits at a prompt."""
    return subprocess.run(list(args), cwd=cwd, capture_output=True, check=False, stdin=subprocess.DEVNULL, env=env)


def repo_root(path: Path) -> Path | None:
    """The top of the work tree containing `path`, or None outside a git repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=path,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return None
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def head(root: Path) -> Commit | None:
    """HEAD's commit, or None in a repository without commits."""
    sha = git(["rev-parse", "--verify", "-q", "HEAD"], root, check=False)
    return Commit(sha, "HEAD") if sha else None


def resolve(ref: str, root: Path) -> Commit:
    """A commit for `ref`; an unknown ref is a usage error."""
    sha = git(["rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], root, check=False)
    if not sha:
        raise UsageError(f"cannot resolve base {ref!r} to a commit (fetch it first, e.g. git fetch origin {ref})")
    return Commit(sha, ref)


def find_base(
    root: Path, explicit: str | None = None, env: Mapping[str, str] | None = None, head_ref: str | None = None
) -> Commit | None:
    """The base to compare against: `--base REF` as given (its merge-base with HEAD when it is a
    branch that moved on), else the merge-base of HEAD with the PR's base branch on GitHub
    (GITHUB_BASE_REF), else None. A laptop run without --base has no base: running twice the
    work unasked would surprise."""
    environ = os.environ if env is None else env
    if explicit:
        target = resolve(explicit, root)
    elif environ.get("GITHUB_BASE_REF"):
        ref = environ["GITHUB_BASE_REF"]
        target = resolve(
            f"origin/{ref}" if git(["rev-parse", "-q", "--verify", f"origin/{ref}"], root, check=False) else ref, root
        )
    else:
        return None
    here = resolve(head_ref, root) if head_ref else head(root)
    if here is None:
        raise UsageError("this repository has no commits yet: nothing to compare with")
    return Commit(merge_base(root, here.sha, target.sha), target.ref)


BASE_RULE = "merge-base"  # recorded in the results: the one rule for every way a base is named
_DEEPEN_STEPS = (50, 500, 5000)


def merge_base(root: Path, head_sha: str, target_sha: str) -> str:
    """The merge-base of the head and the base ref, whatever the clone's depth: a shallow checkout
    (actions/checkout's default) is deepened until the two histories meet, so the same pull request
    is always compared with the same commit. Unrelated histories are a usage error."""

    def find() -> str:
        return git(["merge-base", head_sha, target_sha], root, check=False)

    mb = find()
    if mb:
        return mb
    shallow = git(["rev-parse", "--is-shallow-repository"], root, check=False) == "true"
    deeper = [[f"--deepen={depth}", "origin", head_sha, target_sha] for depth in _DEEPEN_STEPS]
    for fetch in [*deeper, ["--unshallow", "origin"]] if shallow else []:
        _run(["git", "fetch", "--quiet", "--no-tags", *fetch], root)
        mb = find()
        if mb:
            return mb
    raise UsageError(
        f"no merge-base between {head_sha[:12]} and the base {target_sha[:12]}"
        + (": the clone is shallow and fetching more history did not find one" if shallow else ": unrelated histories")
        + "; carbon-gate compares a change with the commit it branched from"
    )


def dirty(root: Path) -> bool:
    """Whether tracked files have uncommitted changes (what is measured is then not HEAD)."""
    return bool(git(["status", "--porcelain", "--untracked-files=no", "--ignore-submodules=dirty"], root, check=False))


def changed_paths(root: Path, base: str, head_ref: str = "HEAD") -> list[str]:
    """Paths changed between `base` and `head_ref`."""
    out = git(["diff", "--name-only", "-z", base, head_ref], root)
    return [p for p in out.split("\0") if p]


WORKTREE_PREFIX = "carbon-gate-base-"
_OWNER = "owner.pid"


@contextlib.contextmanager
def worktree(root: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of `commit` (submodules included) in a temp dir, removed and pruned on
    exit, error or signal — also when the signal lands inside `git worktree add`. The directory
    names its owner's pid, so the next run can clean up after a run that was killed outright."""
    from .interrupts import deferred

    parent = Path(tempfile.mkdtemp(prefix=WORKTREE_PREFIX))
    path = parent / "tree"
    try:
        (parent / _OWNER).write_text(f"{os.getpid()} {_start_time(os.getpid())}\n", encoding="utf-8")
        with deferred():  # git killed mid-add leaves metadata `git worktree list` then fails on: let it finish
            git(["worktree", "add", "--detach", "--quiet", str(path), commit], root)
        if (path / ".gitmodules").is_file():
            git(["submodule", "update", "--init", "--recursive", "--quiet"], path)
        yield path
    finally:
        with deferred():  # a second Ctrl-C must not leave half a cleanup
            _remove_worktree(root, path)


def _remove_worktree(root: Path, path: Path) -> None:
    # --force twice: a worktree git locked while it was being added (a signal mid-add) is removed too.
    _run(["git", "worktree", "remove", "--force", "--force", str(path)], root)
    shutil.rmtree(path.parent, ignore_errors=True)
    _run(["git", "worktree", "prune"], root)


def remove_stale_worktrees(root: Path) -> list[str]:
    """Remove the worktrees earlier carbon-gate runs left behind when they were killed (their owner
    process is gone), locked or not; returns their paths. Live runs' worktrees are left alone."""
    out = git(["worktree", "list", "--porcelain"], root, check=False)
    removed = []
    for line in out.splitlines():
        if not line.startswith("worktree "):
            continue
        path = Path(line[len("worktree ") :])
        if not path.parent.name.startswith(WORKTREE_PREFIX) or _owner_alive(path.parent):
            continue
        _remove_worktree(root, path)
        removed.append(str(path))
    # A run killed inside `git worktree add` can leave its directory unregistered: by owner, or by age.
    for parent in Path(tempfile.gettempdir()).glob(f"{WORKTREE_PREFIX}*"):
        try:
            orphan = not _owner_alive(parent) and (
                (parent / _OWNER).exists() or time.time() - parent.stat().st_mtime > 60
            )
        except OSError:
            continue
        if orphan and parent.is_dir():
            shutil.rmtree(parent, ignore_errors=True)
            removed.append(str(parent / "tree"))
    return removed


def _owner_alive(parent: Path) -> bool:
    try:
        pid_text, started = (parent / _OWNER).read_text(encoding="utf-8").split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return False  # no owner file: an older or half-created leftover
    return _start_time(pid) == started  # the same process, not a new one that reused the pid


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or '-'."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2 :].split()[19]
    except (OSError, ValueError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return "-"
        return "alive"


def blob(root: Path, commit: str, path: str) -> tuple[Literal["file", "symlink"], bytes] | None:
    """(`file` or `symlink`, content) of `path` at `commit`, read from git's objects (never through the working
    tree, so a symlink there cannot redirect it); None when there is no file at that path."""
    entry = _run(["git", "ls-tree", "-z", commit, "--", path], root).stdout.decode("utf-8", "replace").split("\0")[0]
    meta, _, name = entry.partition("\t")
    parts = meta.split()
    if name != path or len(parts) != 3 or parts[1] != "blob":
        return None
    data = _run(["git", "cat-file", "blob", parts[2]], root)
    if data.returncode != 0:
        return None
    return ("symlink" if parts[0] == "120000" else "file"), data.stdout


def renamed_from(root: Path, base: str, path: str, head_ref: str = "HEAD") -> str | None:
    """The path at `base` of a file git sees renamed to `path` by `head_ref`, if any."""
    out = git(["diff", "--name-status", "-z", "-M", "--diff-filter=R", base, head_ref], root, check=False)
    fields = out.split("\0")
    for i in range(0, len(fields) - 2, 3):
        if fields[i].startswith("R") and fields[i + 2] == path:
            return fields[i + 1]
    return None


def ensure_commit(root: Path, sha: str, token: str | None = None, server_url: str | None = None) -> bool:
    """Make `sha` available locally (a shallow CI checkout may lack the base); True when it is.

    A plain fetch first (it uses whatever credentials the checkout persisted); then, with `token`, one
    authorised the way actions/checkout does it: an `AUTHORIZATION: basic` extra header scoped to the
    GitHub server's URL, given through git's environment config (never on a command line, where any
    process could read it) and only to that git process."""

    def have() -> bool:
        return _run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], root).returncode == 0

    if have():
        return True
    quiet = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    fetch = ["git", "fetch", "--no-tags", "--depth=1", "origin", sha]
    _run(fetch, root, env=quiet)
    if have() or not token:
        return have()
    server = (server_url or os.environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/") + "/"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    key = f"http.{server}.extraheader"
    # An empty value first resets any header a checkout persisted: two Authorization headers fail.
    authorised = {
        **quiet,
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": key,
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": key,
        "GIT_CONFIG_VALUE_1": f"AUTHORIZATION: basic {basic}",
    }
    _run(fetch, root, env=authorised)
    return have()
