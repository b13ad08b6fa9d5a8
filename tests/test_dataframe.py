"""`carbon_gate.to_dataframe` (issue 15, item 11): results and baseline history as a pandas DataFrame,
one row per sample with verdict, commit and workload; and the notebook-style example that plots a
workload's history from it. Real runs in a temp git repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import GIT_ID, paired_run, suite_config

pd = pytest.importorskip("pandas")

import carbon_gate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# At most 6 rounds: a workload this small rarely decides, and its paired run would spend the whole default max_time
# (60 s) adding rounds; these tests read the rows, whatever the verdict.
CONFIG = suite_config(
    """- name: tiny\n  command: 'sleep 0.01; echo "metric accuracy 0.9" >> "$CARBON_GATE_UNITS_FILE"'""",
    header='version: 1\ngrid: {country: FR}\nmachine: {rapl: "off", gpu: "off", embodied: "off"}\n',
    defaults="{repeats: 3, warmup: 1, max_rounds: 6}",
)


def sh(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")} | GIT_ID
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def cg(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real CLI, `carbon-gate ARGS`, in a subprocess."""
    return sh(sys.executable, "-m", "carbon_gate", *args, cwd=cwd)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    repo = tmp_path_factory.mktemp("history")
    (repo / "carbon-gate.yml").write_text(CONFIG)
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "one", cwd=repo)
    r = cg("run", "-q", "--mode", "none", "--results", "r1.json", "--report", "", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert cg("baseline", "update", "-q", cwd=repo).returncode == 0
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "two", cwd=repo)
    r = cg(*paired_run("-q", seed=1, results="r2.json", report=""), cwd=repo)
    assert r.returncode in (0, 1), r.stderr
    return {
        "dir": repo,
        "r1": json.loads((repo / "r1.json").read_text()),
        "r2": json.loads((repo / "r2.json").read_text()),
    }


def test_one_row_per_sample_with_verdict_commit_and_workload(runs):
    df = carbon_gate.to_dataframe(runs["dir"] / "r2.json")
    doc = runs["r2"]
    (w,) = doc["workloads"]
    assert len(df) == len(w["samples"]) + len(w["base_samples"])
    head, base = df[df["side"] == "head"], df[df["side"] == "base"]
    assert set(head["commit"]) == {doc["git"]["head"]} and set(base["commit"]) == {doc["git"]["base"]}
    assert set(df["workload"]) == {"tiny"} and set(df["verdict"]) == {w["verdict"]}
    counted = head[~head["warmup"]]
    assert list(counted["round"]) == list(range(1, len(counted) + 1))
    assert list(counted["energy_wh"]) == [s["energy_wh"] for s in w["samples"] if not s["warmup"]]
    assert (df["cpu_wh"] + df["memory_wh"] + df["gpu_wh"]).round(15).tolist() == df["energy_wh"].round(15).tolist()
    assert set(df["metric_accuracy"]) == {0.9}
    assert str(df["created_at"].dtype).startswith("datetime64")


def test_several_runs_and_the_baseline_history(runs):
    both = carbon_gate.to_dataframe([runs["dir"] / "r1.json", runs["r2"]])  # paths and loaded dicts alike
    assert len(both) == len(carbon_gate.to_dataframe(runs["r1"])) + len(carbon_gate.to_dataframe(runs["r2"]))
    hist = carbon_gate.to_dataframe(runs["dir"] / ".carbon-gate" / "baseline.json")
    assert list(hist.columns) == ["workload", "commit", "date", "median_wh", "n"]
    assert len(hist) == 1 and hist["workload"][0] == "tiny" and hist["commit"][0] == runs["r1"]["git"]["head"]


def test_a_file_that_is_not_results_is_a_clear_error(tmp_path):
    from carbon_gate.errors import UsageError

    (tmp_path / "x.json").write_text('{"schema": "something/else"}')
    with pytest.raises(UsageError, match="expected a results document"):
        carbon_gate.to_dataframe(tmp_path / "x.json")


def test_the_notebook_example_plots_a_workloads_history(runs, tmp_path):
    d = runs["dir"]
    r = sh(
        sys.executable,
        str(REPO / "examples" / "notebooks" / "plot_history.py"),
        str(d / "r1.json"),
        str(d / "r2.json"),
        "--baseline",
        str(d / ".carbon-gate" / "baseline.json"),
        "-o",
        str(tmp_path / "h.png"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tiny: 2 runs" in r.stdout and "baseline history: 1 points" in r.stdout
    try:
        import matplotlib  # noqa: F401  (the example's own requirement)
    except ImportError:
        assert "no chart" in r.stdout
    else:
        assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
