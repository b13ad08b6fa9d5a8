"""The local pre-push check (docs/configuration.md), end to end: a bare "remote" repository on disk plus a clone,
`carbon-gate hook install` (or the pre-commit framework), and a real `git push` that runs the hook.

Workloads sleep for a duration read from a committed file, so their modelled energy is about idle
power × wall time and stable run to run (RAPL, GPU and embodied off): 0.1 s at the remote, 0.2 s in
the pushed commit is a clear (~+100 %) regression. git relays the hook's stdout and stderr on its own
stdout or stderr (which one depends on the git version), so the tests read both.

Every git subprocess gets an isolated configuration (no global/system config: no hooksPath, templates
or signing from the machine running the tests) and its own TMPDIR, so "no base worktree is left" can
be checked exactly.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import modelled_config

from carbon_gate import config as config_mod
from carbon_gate.prepush import (
    HOOK_MARK,
    ZERO,
    Push,
    base_for,
    default_branch,
    glob_regex,
    parse_pushes,
    pushes_from_env,
    select_workloads,
)

SLEEP = 'sleep "$(cat work/duration.txt)"'
REGRESSION = re.compile(r"this push makes (\S+) \+(\d+) % more energy-hungry")


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """Nothing from the environment the tests run in (a CI job, an outer git hook) may steer git or the
    check: the `cli` fixture and in-process calls inherit os.environ."""
    for var in list(os.environ):
        if var.startswith(("GITHUB_", "GIT_", "PRE_COMMIT")) or var == "CARBON_GATE_POWERCAP_ROOT":
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def base_env(tmp_path: Path) -> dict[str, str]:
    """The environment of every subprocess: isolated git config, our python first on PATH, own TMPDIR."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GIT_", "PRE_COMMIT")) and k != "CARBON_GATE_POWERCAP_ROOT"
    }
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env.update(
        {
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "carbon-gate tests",
            "GIT_AUTHOR_EMAIL": "tests@example.invalid",
            "GIT_COMMITTER_NAME": "carbon-gate tests",
            "GIT_COMMITTER_EMAIL": "tests@example.invalid",
            "GIT_TERMINAL_PROMPT": "0",
            "TMPDIR": str(tmp),
            "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
            # The pre-commit hook's `entry: python -m carbon_gate` must find the python carbon_gate is installed in.
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        }
    )
    return env


class Repos:
    """A bare remote and a clone of it, with helpers to commit and push."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.env = base_env(tmp_path)
        self.remote = tmp_path / "remote.git"
        self.work = tmp_path / "work"
        self.run("git", "init", "-q", "--bare", "-b", "main", str(self.remote), cwd=tmp_path)
        self.run("git", "clone", "-q", str(self.remote), str(self.work), cwd=tmp_path)
        self.git("checkout", "-q", "-b", "main")

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            list(args),
            cwd=cwd or self.work,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def git(self, *args: str, check: bool = True) -> str:
        return self.run("git", *args, check=check).stdout.strip()

    def commit(self, files: dict[str, str | None], message: str) -> str:
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--no-verify", "-m", message)
        return self.git("rev-parse", "HEAD")

    def push(self, *args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
        """A real `git push` (hooks enabled); returns the process and its wall time."""
        started = time.monotonic()
        proc = self.run("git", "push", *args, check=False, timeout=timeout)
        return proc, time.monotonic() - started

    def remote_sha(self, branch: str) -> str | None:
        proc = self.run(
            "git", "--git-dir", str(self.remote), "rev-parse", "-q", "--verify", f"refs/heads/{branch}", check=False
        )
        return proc.stdout.strip() or None

    def hooks(self) -> Path:
        return self.work / ".git" / "hooks"

    def assert_clean(self) -> None:
        """Only the main tree is registered and no carbon-gate-base-* directory is left in TMPDIR."""
        out = self.git("worktree", "list", "--porcelain")
        trees = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]
        assert [Path(t).resolve() for t in trees] == [self.work.resolve()]
        assert list((self.tmp_path / "tmp").glob("carbon-gate-base-*")) == []


def config_text(workloads: str, prepush: str = "{repeats: 6, warmup: 0}") -> str:
    return modelled_config(workloads, extra=f"prepush: {prepush}\n")


SLEEPY = f"""
    - name: sleepy
      command: {json.dumps(SLEEP)}
      paths: ["work/**"]
    """


def seeded(tmp_path: Path, workloads: str = SLEEPY, files: dict[str, str] | None = None) -> tuple[Repos, str]:
    """Remote and clone with a first commit (0.1 s workload) already on the remote's main."""
    repos = Repos(tmp_path)
    sha = repos.commit(
        {
            "carbon-gate.yml": config_text(workloads),
            "work/duration.txt": "0.1\n",
            "README.md": "# project\n",
            **(files or {}),
        },
        "base",
    )
    proc, _ = repos.push("-q", "origin", "main")
    assert proc.returncode == 0, proc.stderr
    assert repos.remote_sha("main") == sha
    return repos, sha


def install(repos: Repos, cli, *args: str) -> subprocess.CompletedProcess:
    r = cli("hook", "install", *args, cwd=repos.work, env=repos.env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def text(proc: subprocess.CompletedProcess) -> str:
    """What the user sees: git passes the hook's output through on its stdout or stderr."""
    return proc.stdout + proc.stderr


def assert_refused_for_sleepy(proc: subprocess.CompletedProcess) -> int:
    out = text(proc)
    assert proc.returncode != 0, out
    assert "Traceback" not in out
    m = REGRESSION.search(out)
    assert m, out
    assert m.group(1) == "sleepy"
    pct = int(m.group(2))
    assert 30 <= pct <= 200, out  # 0.1 s → 0.2 s: about +100 %, never the ≥ 30 % threshold's wrong side
    assert re.search(r"sleepy .*regression", out), out
    return pct


# --------------------------------------------------------------------------- unit: pushes


def test_parse_pushes_reads_git_stdin_lines():
    a, b = "a" * 40, "b" * 40
    lines = [
        f"refs/heads/main {a} refs/heads/main {b}\n",
        "\n",
        "garbage\n",
        f"refs/heads/new {a} refs/heads/new {ZERO}\n",
        f"(delete) {ZERO} refs/heads/old {b}\n",
        f"refs/tags/v1 {a} refs/tags/v1 {ZERO}",
    ]
    pushes = parse_pushes(lines)
    assert pushes == [
        Push("refs/heads/main", a, "refs/heads/main", b),
        Push("refs/heads/new", a, "refs/heads/new", ZERO),
        Push("(delete)", ZERO, "refs/heads/old", b),
        Push("refs/tags/v1", a, "refs/tags/v1", ZERO),
    ]
    assert [(p.deletion, p.new_branch) for p in pushes] == [(False, False), (False, True), (True, False), (False, True)]
    assert parse_pushes([]) == []
    # SHA-256 repositories have 64-character ids: still a deletion / a new branch.
    assert Push("(delete)", "0" * 64, "refs/heads/x", "c" * 64).deletion
    assert Push("refs/heads/x", "c" * 64, "refs/heads/x", "0" * 64).new_branch


def test_pushes_from_env_uses_pre_commit_refs():
    a, b = "a" * 40, "b" * 40
    assert pushes_from_env({}) == []
    assert pushes_from_env({"PRE_COMMIT_FROM_REF": b}) == []
    env = {
        "PRE_COMMIT_FROM_REF": b,
        "PRE_COMMIT_TO_REF": a,
        "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/topic",
        "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/topic",
    }
    assert pushes_from_env(env) == [Push("refs/heads/topic", a, "refs/heads/topic", b)]
    (p,) = pushes_from_env({"PRE_COMMIT_TO_REF": a})
    assert p.new_branch and not p.deletion and p.local_sha == a


# --------------------------------------------------------------------------- unit: globs and selection


@pytest.mark.parametrize(
    "pattern, matches, misses",
    [
        ("src/**", ["src/a.py", "src/pkg/deep/b.py"], ["src", "lib/src/a.py", "srcx/a.py", "a/src/b.py"]),
        ("**/*.py", ["a.py", "pkg/a.py", "pkg/sub/a.py"], ["a.pyc", "pkg/a.txt", "a.py/x"]),
        ("*.txt", ["a.txt", "requirements.txt"], ["docs/a.txt", "a/b/c.txt", "a.txt.bak"]),
        ("docs/", ["docs/index.md", "docs/deep/x.png"], ["docs", "mydocs/x.md", "x/docs/y.md"]),
        ("src/**/test_*.py", ["src/test_a.py", "src/x/y/test_b.py"], ["src/x/a_test.py", "tests/test_a.py"]),
        ("data/?.csv", ["data/a.csv"], ["data/ab.csv", "data/a/b.csv"]),
        ("setup.cfg", ["setup.cfg"], ["setupxcfg", "a/setup.cfg"]),
    ],
)
def test_glob_regex(pattern, matches, misses):
    rx = glob_regex(pattern)
    for path in matches:
        assert rx.match(path), (pattern, path)
    for path in misses:
        assert not rx.match(path), (pattern, path)


def _workloads(filename: str = "carbon-gate.yml"):
    text = config_text("""
        - name: src
          command: "true"
          paths: ["src/**"]
        - name: docs
          command: "true"
          paths: ["docs/", "*.md"]
        - name: anywhere
          command: "true"
        """)
    return config_mod.parse(text, filename).workloads


def test_select_workloads_at_the_root():
    ws = _workloads()
    names = lambda changed: [w.name for w in select_workloads(ws, changed, ".")]  # noqa: E731
    assert names([]) == []
    assert names(["src/a.py"]) == ["src", "anywhere"]
    assert names(["README.md"]) == ["docs", "anywhere"]
    assert names(["docs/x/y.md", "src/z.py"]) == ["src", "docs", "anywhere"]
    assert names(["sub/README.md"]) == ["anywhere"]  # `*.md` does not cross `/`
    assert names(["other/file"]) == ["anywhere"]
    assert [w.name for w in select_workloads(ws, ["src/a.py"], "")] == ["src", "anywhere"]


def test_select_workloads_with_the_config_in_a_subdirectory():
    ws = _workloads("svc/carbon-gate.yml")
    names = lambda changed, d="svc": [w.name for w in select_workloads(ws, changed, d)]  # noqa: E731
    # Globs are relative to the config's directory.
    assert names(["svc/src/a.py"]) == ["src", "anywhere"]
    assert names(["svc/README.md"]) == ["docs", "anywhere"]
    # The same paths at the repository root, or in a sibling that shares the prefix, are not the config's.
    assert names(["src/a.py"]) == ["anywhere"]
    assert names(["svc2/src/a.py", "svcsrc/a.py"]) == ["anywhere"]
    assert names(["README.md"]) == ["anywhere"]
    assert names(["svc/src/a.py"], "svc/") == ["src", "anywhere"]
    assert names(["a/b/src/x.py"], "a/b") == ["src", "anywhere"]
    assert names([]) == []


# --------------------------------------------------------------------------- hook install / uninstall


def test_hook_script_runs_our_python_and_passes_quick(tmp_path, cli):
    repos, _ = seeded(tmp_path)
    r = install(repos, cli)
    hook = repos.hooks() / "pre-push"
    assert str(hook) in r.stdout and "--no-verify" in r.stdout
    text = hook.read_text()
    assert text.startswith("#!/bin/sh\n") and HOOK_MARK in text
    assert f"{sys.executable} -m carbon_gate check --pre-push" in text
    assert "--quick" not in text
    assert hook.stat().st_mode & stat.S_IXUSR
    # Installing again (ours) is fine without --force; --quick lands in the script.
    install(repos, cli, "--quick")
    text = hook.read_text()
    assert "check --pre-push --quick" in text
    assert not (repos.hooks() / "pre-push.carbon-gate-backup").exists()
    assert list(repos.hooks().glob(".pre-push*")) == []  # no temp file left


def test_hook_install_refuses_a_foreign_hook_and_force_keeps_a_backup(tmp_path, cli):
    repos, _ = seeded(tmp_path)
    hook = repos.hooks() / "pre-push"
    backup = repos.hooks() / "pre-push.carbon-gate-backup"
    foreign = "#!/bin/sh\n# my own checks\nexit 0\n"
    hook.write_text(foreign)
    hook.chmod(0o755)

    r = cli("hook", "install", cwd=repos.work, env=repos.env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--force" in r.stderr and "Traceback" not in r.stderr
    assert hook.read_text() == foreign and not backup.exists()

    r = install(repos, cli, "--force")
    assert str(backup) in r.stdout
    assert backup.read_text() == foreign
    assert HOOK_MARK in hook.read_text()

    r = cli("hook", "uninstall", cwd=repos.work, env=repos.env)
    assert r.returncode == 0 and "restored" in r.stdout, r.stdout + r.stderr
    assert hook.read_text() == foreign and not backup.exists()

    # The foreign hook is back: uninstall leaves it in place, untouched.
    before = hook.stat().st_mtime_ns
    r = cli("hook", "uninstall", cwd=repos.work, env=repos.env)
    assert r.returncode == 0 and "nothing removed" in r.stdout, r.stdout + r.stderr
    assert hook.read_text() == foreign and hook.stat().st_mtime_ns == before


def test_hook_uninstall_without_backup_removes_only_ours(tmp_path, cli):
    repos, _ = seeded(tmp_path)
    hook = repos.hooks() / "pre-push"
    install(repos, cli)
    r = cli("hook", "uninstall", cwd=repos.work, env=repos.env)
    assert r.returncode == 0 and "removed" in r.stdout and "restored" not in r.stdout
    assert not hook.exists()
    r = cli("hook", "uninstall", cwd=repos.work, env=repos.env)
    assert r.returncode == 0 and "nothing removed" in r.stdout


def test_hook_install_outside_a_repository_is_a_usage_error(tmp_path, cli):
    plain = tmp_path / "plain"
    plain.mkdir()
    r = cli("hook", "install", cwd=plain, env={**base_env(tmp_path), "GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert r.returncode == 2 and "not inside a git repository" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("hooks_path", [".githooks", "ABSOLUTE"])
def test_hook_install_respects_core_hooks_path(tmp_path, cli, hooks_path):
    repos, _ = seeded(tmp_path)
    custom = tmp_path / "shared-hooks" if hooks_path == "ABSOLUTE" else repos.work / hooks_path
    repos.git("config", "core.hooksPath", str(custom) if hooks_path == "ABSOLUTE" else hooks_path)
    r = install(repos, cli)
    assert (custom / "pre-push").is_file() and HOOK_MARK in (custom / "pre-push").read_text()
    assert str(custom / "pre-push") in r.stdout
    assert not (repos.hooks() / "pre-push").exists()
    # git really runs it from there: a docs-only push goes through the hook.
    repos.commit({"README.md": "# more docs\n"}, "docs")
    proc, _ = repos.push("origin", "main")
    assert proc.returncode == 0, proc.stderr
    assert "nothing to check" in text(proc)
    r = cli("hook", "uninstall", cwd=repos.work, env=repos.env)
    assert r.returncode == 0 and not (custom / "pre-push").exists()


# --------------------------------------------------------------------------- real pushes through the hook


def test_push_of_a_regression_is_refused_and_the_remote_is_unchanged(tmp_path, cli):
    repos, base = seeded(tmp_path)
    install(repos, cli)
    head = repos.commit({"work/duration.txt": "0.2\n"}, "slower")

    proc, _ = repos.push("origin", "main")

    assert_refused_for_sleepy(proc)
    out = text(proc)
    assert f"checking sleepy against {base[:10]} (6 paired rounds, then more until decided" in out
    assert "failed to push" in out
    assert repos.remote_sha("main") == base
    assert repos.git("rev-parse", "HEAD") == head
    repos.assert_clean()

    # Advisory by nature: --no-verify skips it.
    proc, _ = repos.push("--no-verify", "origin", "main")
    assert proc.returncode == 0 and "carbon-gate" not in text(proc)
    assert repos.remote_sha("main") == head


def test_docs_only_push_runs_nothing_and_passes_quickly(tmp_path, cli):
    repos, _base = seeded(tmp_path)
    install(repos, cli)
    # The pushed range changes only docs; work/duration.txt went 0.1 → 0.2 → 0.1 (net: unchanged).
    repos.commit({"work/duration.txt": "0.2\n"}, "slower")
    repos.commit({"work/duration.txt": "0.1\n"}, "back")
    head = repos.commit({"README.md": "# project\n\nMore words.\n", "docs/guide.md": "guide\n"}, "docs")

    proc, wall = repos.push("origin", "main")

    assert proc.returncode == 0, proc.stderr
    assert "no workload's paths changed; nothing to check" in text(proc)
    assert "checking" not in text(proc) and "paired rounds" not in text(proc)
    assert wall < 5, wall
    assert repos.remote_sha("main") == head
    repos.assert_clean()


def test_a_workload_without_paths_runs_on_any_change(tmp_path, cli):
    workloads = (
        SLEEPY
        + f"""
    - name: anywhere
      command: {json.dumps(SLEEP)}
      tolerance: 30%
    """
    )
    repos, base = seeded(tmp_path, workloads)
    install(repos, cli)
    head = repos.commit({"README.md": "# only docs\n"}, "docs")

    proc, _ = repos.push("origin", "main")

    out = text(proc)
    assert f"checking anywhere against {base[:10]}" in out, out
    assert "checking sleepy" not in out and "checking anywhere, sleepy" not in out
    assert re.search(r"^\s+anywhere\s+\d+\s", out, re.M), out  # its row in the report (runs = rounds × batch)
    assert not re.search(r"^\s+sleepy\s", out, re.M), out
    assert proc.returncode == 0, out  # the same sleep on both sides: no regression
    assert repos.remote_sha("main") == head
    repos.assert_clean()


def test_branch_deletion_passes(tmp_path, cli):
    repos, base = seeded(tmp_path)
    # A branch with a regression reaches the remote only by skipping the hook ...
    repos.git("checkout", "-q", "-b", "topic")
    repos.commit({"work/duration.txt": "0.2\n"}, "slower")
    proc, _ = repos.push("-q", "origin", "topic")
    assert proc.returncode == 0
    repos.git("checkout", "-q", "main")
    install(repos, cli)

    # ... and deleting it must not be blocked by it (nothing is pushed, nothing runs).
    proc, wall = repos.push("origin", "--delete", "topic")

    assert proc.returncode == 0, proc.stderr
    assert "nothing pushed to check" in text(proc)
    assert "checking" not in text(proc)
    assert repos.remote_sha("topic") is None
    assert repos.remote_sha("main") == base
    assert wall < 5, wall


def test_new_branch_compares_with_the_merge_base_of_the_default_branch(tmp_path, cli):
    repos, fork = seeded(tmp_path)
    # topic forks from `fork` (0.1 s) and makes the workload 0.2 s; pushed while main is checked out,
    # so the head is measured in its own worktree.
    repos.git("checkout", "-q", "-b", "topic")
    topic = repos.commit({"work/duration.txt": "0.2\n", "work/notes.txt": "topic\n"}, "topic: slower")
    repos.git("checkout", "-q", "main")
    # Meanwhile main moved on to the same 0.2 s: against origin/main's tip topic would look unchanged.
    main_tip = repos.commit({"work/duration.txt": "0.2\n"}, "main: slower too")
    proc, _ = repos.push("-q", "origin", "main")
    assert proc.returncode == 0 and repos.remote_sha("main") == main_tip
    assert repos.git("merge-base", "topic", "origin/main") == fork
    install(repos, cli)

    proc, _ = repos.push("origin", "topic")

    out = text(proc)
    assert "refs/heads/topic: checking sleepy against " + fork[:10] in out, out
    assert main_tip[:10] not in out
    assert_refused_for_sleepy(proc)
    assert repos.remote_sha("topic") is None
    assert repos.git("rev-parse", "topic") == topic
    repos.assert_clean()


def test_new_branch_base_uses_origin_head_when_set(tmp_path):
    # In-process: which default branch, and which base, for a new branch (no measurement).
    repos, fork = seeded(tmp_path)
    root = repos.work
    assert default_branch(root) == "origin/main"  # no origin/HEAD in a clone of an empty remote
    repos.git("checkout", "-q", "-b", "dev")
    dev_fork = repos.commit({"x.txt": "dev\n"}, "dev")
    repos.push("-q", "--no-verify", "origin", "dev")
    repos.git("remote", "set-head", "origin", "dev")
    assert default_branch(root) == "origin/dev"
    repos.git("checkout", "-q", "-b", "topic")
    topic = repos.commit({"y.txt": "topic\n"}, "topic")
    assert base_for(Push("refs/heads/topic", topic, "refs/heads/topic", ZERO), root) == dev_fork
    # An update whose remote sha is known compares with it.
    assert base_for(Push("refs/heads/topic", topic, "refs/heads/topic", fork), root) == fork
    # An unknown remote sha (not fetched here) falls back to the merge-base as well.
    assert base_for(Push("refs/heads/topic", topic, "refs/heads/topic", "f" * 40), root) == dev_fork
    # Nothing to compare with: the pushed commit is the default branch's own tip.
    assert base_for(Push("refs/heads/dev", dev_fork, "refs/heads/other", ZERO), root) is None


def test_push_measures_the_pushed_commit_not_local_edits(tmp_path, cli):
    repos, base = seeded(tmp_path)
    install(repos, cli)
    repos.commit({"work/duration.txt": "0.2\n"}, "slower")
    # An uncommitted edit puts the old duration back in the working tree: it is not being pushed.
    (repos.work / "work/duration.txt").write_text("0.1\n")

    proc, _ = repos.push("origin", "main")

    assert_refused_for_sleepy(proc)
    assert repos.remote_sha("main") == base


# --------------------------------------------------------------------------- the pre-commit framework


@pytest.fixture(scope="module")
def pre_commit_available() -> None:
    def have() -> bool:
        return subprocess.run([sys.executable, "-c", "import pre_commit"], capture_output=True).returncode == 0

    if not have():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "pre-commit"], capture_output=True, timeout=300)
    if not have():
        pytest.skip(
            f"pre-commit is not installed for {sys.executable} and `pip install pre-commit` failed "
            "(offline?); add it to the test extras"
        )


def test_through_the_pre_commit_framework(tmp_path, cli, pre_commit_available):
    import yaml

    hooks = yaml.safe_load((Path(__file__).resolve().parents[1] / ".pre-commit-hooks.yaml").read_text())
    (ours,) = [h for h in hooks if h["id"] == "carbon-gate"]
    assert ours["stages"] == ["pre-push"] and ours["pass_filenames"] is False and ours["always_run"] is True
    assert ours["entry"].split()[1:] == ["check", "--pre-push"]
    # `repo: local` mirroring the published hook; `language: system` runs the python carbon_gate is installed in.
    # verbose: show the hook's output even when it passes (pre-commit hides it otherwise).
    local = {
        **ours,
        "entry": "python -m carbon_gate " + " ".join(ours["entry"].split()[1:]),
        "language": "system",
        "verbose": True,
    }
    pre_commit_config = yaml.safe_dump({"repos": [{"repo": "local", "hooks": [local]}]}, sort_keys=False)
    repos, _base = seeded(tmp_path, files={".pre-commit-config.yaml": pre_commit_config})
    r = repos.run(sys.executable, "-m", "pre_commit", "install", "--hook-type", "pre-push")
    assert "pre-push" in r.stdout
    assert HOOK_MARK not in (repos.hooks() / "pre-push").read_text()

    # A docs-only push passes at once.
    docs = repos.commit({"README.md": "# project\n\nDocs.\n"}, "docs")
    proc, wall = repos.push("origin", "main")
    out = text(proc)
    assert proc.returncode == 0, out
    assert "nothing to check" in out and "Passed" in out, out
    assert wall < 10, wall
    assert repos.remote_sha("main") == docs

    # A regression is refused (the range comes from PRE_COMMIT_FROM_REF / PRE_COMMIT_TO_REF).
    repos.commit({"work/duration.txt": "0.2\n"}, "slower")
    proc, _ = repos.push("origin", "main")
    out = text(proc)
    assert "Failed" in out, out
    assert f"refs/heads/main: checking sleepy against {docs[:10]}" in out, out
    assert_refused_for_sleepy(proc)
    assert repos.remote_sha("main") == docs

    # Deleting a branch passes (pre-commit does not even run the hook).
    proc, _ = repos.push("-q", "--no-verify", "origin", "main:refs/heads/old")
    proc, _ = repos.push("origin", "--delete", "old")
    assert proc.returncode == 0, proc.stderr
    assert repos.remote_sha("old") is None
    repos.assert_clean()


# --------------------------------------------------------------------------- check --pre-push directly


def test_check_with_a_config_in_a_subdirectory(tmp_path, cli):
    # `check --pre-push -c svc/carbon-gate.yml` (as a pre-commit `args:` would pass it), git's refs on stdin.
    workloads = f"""
    - name: svc
      command: {json.dumps(SLEEP)}
      paths: ["work/**"]
    """
    repos = Repos(tmp_path)
    base = repos.commit(
        {
            "svc/carbon-gate.yml": config_text(workloads, prepush="{repeats: 9, warmup: 2}"),
            "svc/work/duration.txt": "0.1\n",
            "work/duration.txt": "0.1\n",
        },
        "base",
    )

    def check(*args: str, stdin: str) -> subprocess.CompletedProcess:
        return cli(
            "check", "--pre-push", *args, "origin", str(repos.remote), cwd=repos.work, env=repos.env, input=stdin
        )

    # A change to the root's work/ is not the svc config's work/: nothing to check.
    root_only = repos.commit({"work/duration.txt": "0.3\n"}, "root only")
    stdin = f"refs/heads/main {root_only} refs/heads/main {base}\n"
    r = check("-c", "svc/carbon-gate.yml", stdin=stdin)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no workload's paths changed; nothing to check" in r.stdout
    # Without a carbon-gate.yml at the root (and no -c) there is nothing to check either.
    r = check(stdin=stdin)
    assert r.returncode == 0 and "no carbon-gate.yml; nothing to check" in r.stdout, r.stdout + r.stderr
    # No refs on stdin: nothing pushed.
    r = check("-c", "svc/carbon-gate.yml", stdin="")
    assert r.returncode == 0 and "nothing pushed to check" in r.stdout, r.stdout + r.stderr

    # svc/work/ slows down: refused; --quick runs the fewest rounds that can decide (6 at 95 %), not the
    # profile's 9 (and no warm-up), in the svc directory of both trees.
    slower = repos.commit({"svc/work/duration.txt": "0.2\n"}, "svc slower")
    r = check("-c", "svc/carbon-gate.yml", "--quick", stdin=f"refs/heads/main {slower} refs/heads/main {base}\n")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert f"refs/heads/main: checking svc against {base[:10]} (6 paired rounds, then more until decided" in out
    assert re.search(r"this push makes svc \+\d+ % more energy-hungry", out), out
    repos.assert_clean()
