"""Git context for the plan stage: head and base commits, changed paths, and detached worktrees of
the base for paired runs. Real git, through subprocess; every failure is a clear UsageError."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError


@dataclass(frozen=True)
class Commit:
    sha: str
    ref: str  # what the user or CI named it (HEAD, origin/main, a sha)


def git(args: Sequence[str], cwd: Path, check: bool = True) -> str:
    """Run git and return its stdout, stripped; a failure raises UsageError with git's own message."""
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise UsageError("git is not installed, but paired mode and baselines need it") from None
    if check and proc.returncode != 0:
        raise UsageError(f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def repo_root(path: Path) -> Path | None:
    """The top of the work tree containing `path`, or None outside a git repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True,
                             check=False, stdin=subprocess.DEVNULL)
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


def find_base(root: Path, explicit: str | None = None, env: dict[str, str] | None = None,
              head_ref: str | None = None) -> Commit | None:
    """The base to compare against: `--base REF` as given (its merge-base with HEAD when it is a
    branch that moved on), else the merge-base of HEAD with the PR's base branch on GitHub
    (GITHUB_BASE_REF), else None. A laptop run without --base has no base: running twice the
    work unasked would surprise."""
    env = os.environ if env is None else env
    if explicit:
        target = resolve(explicit, root)
    elif env.get("GITHUB_BASE_REF"):
        ref = env["GITHUB_BASE_REF"]
        target = resolve(f"origin/{ref}" if git(["rev-parse", "-q", "--verify", f"origin/{ref}"], root, check=False) else ref, root)
    else:
        return None
    here = resolve(head_ref, root) if head_ref else head(root)
    if here is None:
        raise UsageError("this repository has no commits yet: nothing to compare with")
    mb = git(["merge-base", here.sha, target.sha], root, check=False)
    return Commit(mb or target.sha, target.ref)


def changed_paths(root: Path, base: str, head_ref: str = "HEAD") -> list[str]:
    """Paths changed between `base` and `head_ref`."""
    out = git(["diff", "--name-only", "-z", base, head_ref], root)
    return [p for p in out.split("\0") if p]


@contextlib.contextmanager
def worktree(root: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of `commit` in a temp dir, removed (and pruned) on exit, error or Ctrl-C."""
    parent = Path(tempfile.mkdtemp(prefix="carbon-gate-base-"))
    path = parent / "tree"
    git(["worktree", "add", "--detach", "--quiet", str(path), commit], root)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=root, capture_output=True,
                       check=False, stdin=subprocess.DEVNULL)
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=root, capture_output=True, check=False, stdin=subprocess.DEVNULL)


def blob(root: Path, commit: str, path: str) -> tuple[str, bytes] | None:
    """(`file` or `symlink`, content) of `path` at `commit`, read from git's objects (never through the working
    tree, so a symlink there cannot redirect it); None when there is no file at that path."""
    entry = subprocess.run(["git", "ls-tree", "-z", commit, "--", path], cwd=root, capture_output=True, check=False,
                           stdin=subprocess.DEVNULL).stdout.decode("utf-8", "replace").split("\0")[0]
    meta, _, name = entry.partition("\t")
    parts = meta.split()
    if name != path or len(parts) != 3 or parts[1] != "blob":
        return None
    data = subprocess.run(["git", "cat-file", "blob", parts[2]], cwd=root, capture_output=True, check=False,
                          stdin=subprocess.DEVNULL)
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
        return subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=root, capture_output=True,
                              check=False, stdin=subprocess.DEVNULL).returncode == 0

    if have():
        return True
    quiet = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    fetch = ["git", "fetch", "--no-tags", "--depth=1", "origin", sha]
    subprocess.run(fetch, cwd=root, capture_output=True, check=False, stdin=subprocess.DEVNULL, env=quiet)
    if have() or not token:
        return have()
    server = (server_url or os.environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/") + "/"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    key = f"http.{server}.extraheader"
    # An empty value first resets any header a checkout persisted: two Authorization headers fail.
    authorised = {**quiet, "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": key, "GIT_CONFIG_VALUE_0": "",
                  "GIT_CONFIG_KEY_1": key, "GIT_CONFIG_VALUE_1": f"AUTHORIZATION: basic {basic}"}
    subprocess.run(fetch, cwd=root, capture_output=True, check=False, stdin=subprocess.DEVNULL, env=authorised)
    return have()
