"""Every bundled example runs with its README's command (in fast mode) and produces a report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(name: str, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict, str]:
    work = tmp_path / name
    shutil.copytree(EXAMPLES / name, work)
    env = {
        **os.environ,
        "CARBON_GATE_FAST": "1",
        # the examples say `python`: make it this interpreter, as an activated venv would
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "carbon_gate", "run", "-q", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    results = json.loads((work / "carbon-gate-results.json").read_text())
    report = (work / "carbon-gate-report.md").read_text()
    return proc, results, report


def test_quickstart_passes_its_budget(tmp_path: Path) -> None:
    proc, results, report = run_example("quickstart", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (w,) = results["workloads"]
    assert w["name"] == "sieve" and w["verdict"] == "new"
    assert len([s for s in w["samples"] if not s["warmup"]]) == 5
    assert results["grid"]["location"].startswith("Germany")
    assert "carbon-gate-report" in report and "sieve" in report


def test_training_projection_example(tmp_path: Path) -> None:
    proc, results, report = run_example("training-projection", tmp_path, "--repeats", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    by_name = {w["name"]: w for w in results["workloads"]}
    train = by_name["train-2-epochs"]
    assert train["footprint"]["units"] == 2 and train["sci"]["unit"] == "gCO2e/epoch"
    assert train["projection"]["to"] == 90
    assert by_name["pretrain-7b-forecast"]["estimate"]["days"] > 1
    assert "Projected full runs" in report
    # The suite total is the measured energy; the forecast is shown beside it, never added to it.
    suite = next(line for line in report.splitlines() if line.startswith("**Suite:**"))
    from carbon_gate.units import format_energy

    assert suite.startswith(f"**Suite:** {format_energy(train['energy_wh'])} · ")
    assert (
        f"forecast, not added to the measured total: {format_energy(by_name['pretrain-7b-forecast']['energy_wh'])}"
        in suite
    )


def test_sklearn_forest_example(tmp_path: Path) -> None:
    pytest.importorskip(
        "sklearn", reason="the example's own requirement: pip install -r examples/sklearn-forest/requirements.txt"
    )
    proc, results, report = run_example("sklearn-forest", tmp_path, "--repeats", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = [w["name"] for w in results["workloads"]]
    assert names == ["forest-small", "forest-medium", "forest-large"]
    for w in results["workloads"]:
        assert w["sci"]["unit"] == "gCO2e/1k predictions"
        assert w["footprint"]["units"] > 0
        # The accuracy the README promises: reported by forest.py, with energy per point.
        assert 0.5 < w["metrics"]["accuracy"]["median"] <= 1 and w["metrics"]["accuracy"]["wh_per_point"] > 0
    assert report.count("forest-") >= 3
    assert "### Quality metrics" in report and "| forest-large | accuracy |" in report


def test_pytest_benchmarks_example(tmp_path: Path) -> None:
    pytest.importorskip(
        "pytest_benchmark",
        reason="the example's own requirement: pip install -r examples/pytest-benchmarks/requirements.txt",
    )
    proc, results, report = run_example("pytest-benchmarks", tmp_path, "--repeats", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (w,) = results["workloads"]
    assert w["verdict"] == "new" and w["samples"][-1]["exit_code"] == 0
    assert "textstats-benchmarks" in report


def test_every_example_has_a_readme_with_its_command() -> None:
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and p.name not in ("workflows", "notebooks")):
        readme = (folder / "README.md").read_text()
        assert "carbon-gate run" in readme, folder
        assert (folder / "carbon-gate.yml").exists(), folder
