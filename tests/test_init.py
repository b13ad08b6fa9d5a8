"""`carbon-gate init`: what it writes for a project with a pytest-benchmark suite and a train.py, for
a project with neither, and that it never overwrites without --force. Its carbon-gate.yml must pass
the published JSON Schema and load, and a real `carbon-gate run` of it must pass; its workflow must be
a valid GitHub workflow that uses the action the README names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from carbon_gate import __version__
from carbon_gate import config as config_mod

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def cg(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CARBON_GATE_"))}
    argv = [PY, "-m", "carbon_gate", *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def schema_valid(config: Path) -> None:
    schema = json.loads(cg("schema", cwd=config.parent).stdout)
    jsonschema.validate(yaml.safe_load(config.read_text(encoding="utf-8")), schema)
    config_mod.load(config)


def test_init_detects_benchmarks_and_a_training_script(tmp_path):
    repo = git_repo(tmp_path / "proj")
    shutil.copytree(ROOT / "examples/pytest-benchmarks/tests", repo / "tests")
    shutil.copy(ROOT / "examples/pytest-benchmarks/textstats.py", repo / "textstats.py")
    shutil.copy(ROOT / "examples/training-projection/train.py", repo / "train.py")
    r = cg("init", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert "benchmarks (found the benchmark fixture in tests/" in r.stdout and "train (found train.py" in r.stdout
    config = repo / "carbon-gate.yml"
    schema_valid(config)
    cfg = config_mod.load(config)
    by_name = {w.name: w for w in cfg.workloads}
    assert list(by_name) == ["benchmarks", "train"]
    assert by_name["benchmarks"].command_text().startswith("python -m pytest tests -q")
    assert "--benchmark-only" in by_name["benchmarks"].command_text()
    assert by_name["train"].command_text() == "python train.py"
    assert by_name["train"].unit_name == "epoch"  # train.py reports its epochs with report_units
    text = config.read_text(encoding="utf-8")
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 10  # commented for a newcomer
    assert "# budget:" in text

    # a real run of what init wrote (the training workload, once) passes
    run = cg("run", "-w", "train", "--repeats", "1", "--mode", "none", "-q", "--report", "", cwd=repo)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "carbon-gate: PASS" in run.stdout


def test_init_workflow_is_valid_and_uses_the_released_action(tmp_path):
    repo = git_repo(tmp_path / "proj")
    (repo / "app").mkdir()
    r = cg("init", "-c", "app/carbon-gate.yml", cwd=repo)
    assert r.returncode == 0, r.stderr
    workflow = repo / ".github/workflows/carbon-gate.yml"  # at the repository root, not in app/
    assert workflow.is_file() and not (repo / "app/.github").exists()
    checked = subprocess.run(
        [str(Path(PY).parent / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    doc = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    steps = doc["jobs"]["energy"]["steps"]
    assert steps[-1]["uses"] == f"carbon-gate/carbon-gate@v{__version__.split('.')[0]}"
    assert steps[0]["with"]["fetch-depth"] == 0 and doc["permissions"] == {}  # each job names what it needs
    assert doc["jobs"]["energy"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    simple = yaml.safe_load((ROOT / "examples/workflows/carbon-gate-simple.yml").read_text(encoding="utf-8"))
    assert doc == simple  # the same workflow as the example the docs show


def test_init_with_nothing_to_detect_writes_a_placeholder_that_runs(tmp_path):
    repo = git_repo(tmp_path / "empty")
    r = cg("init", "--no-workflow", "--country", "FR", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert "placeholder" in r.stdout and not (repo / ".github").exists()
    schema_valid(repo / "carbon-gate.yml")
    cfg = config_mod.load(repo / "carbon-gate.yml")
    assert cfg.grid.country == "FR" and [w.name for w in cfg.workloads] == ["my-workload"]
    run = cg("run", "--repeats", "1", "--mode", "none", "-q", "--report", "", cwd=repo)
    assert run.returncode == 0, run.stdout + run.stderr


def test_init_finds_pytest_benchmark_among_the_requirements(tmp_path):
    repo = git_repo(tmp_path / "proj")
    (repo / "requirements-dev.txt").write_text("pytest\npytest-benchmark>=4\n")
    r = cg("init", "--no-workflow", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert "pytest-benchmark in requirements-dev.txt" in r.stdout
    schema_valid(repo / "carbon-gate.yml")


def test_init_never_overwrites_without_force(tmp_path):
    repo = git_repo(tmp_path / "proj")
    (repo / "carbon-gate.yml").write_text("# mine\n")
    r = cg("init", cwd=repo)
    assert r.returncode == 2 and "already exists" in r.stderr and "--force" in r.stderr
    assert (repo / "carbon-gate.yml").read_text() == "# mine\n"
    assert not (repo / ".github").exists()  # nothing at all is written
    r = cg("init", "--force", cwd=repo)
    assert r.returncode == 0, r.stderr
    schema_valid(repo / "carbon-gate.yml")


@pytest.mark.parametrize("country", ["Frnace", "XX"])
def test_init_rejects_an_unknown_country(tmp_path, country):
    r = cg("init", "--country", country, cwd=git_repo(tmp_path / "proj"))
    assert r.returncode == 2 and "--country" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "proj" / "carbon-gate.yml").exists()
