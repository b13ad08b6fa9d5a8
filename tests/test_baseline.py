"""The committed baseline file: `carbon-gate baseline update` writes it, `carbon-gate run` (stored mode)
gates against it (docs/statistics.md). Real git repositories in tmp_path, the real CLI in a subprocess.

Workloads sleep for a duration read from a file, so their modelled energy (~ idle power × wall time)
is stable from run to run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
from pathlib import Path

import pytest
from helpers import commit, git, modelled_config

import carbon_gate

pytestmark = pytest.mark.usefixtures("no_ci_env")

SLEEP = 'sleep "$(cat duration.txt)"'
SCHEMA = "carbon-gate/baseline@1"
DEFAULT_FILE = Path(".carbon-gate/baseline.json")


def config(workloads: str, *, repeats: int = 4, warmup: int = 0, tolerance: str = "5%", baseline: str = "") -> str:
    return modelled_config(
        workloads, defaults=f'{{repeats: {repeats}, warmup: {warmup}, tolerance: "{tolerance}"}}', baseline=baseline
    )


def new_repo(tmp_path: Path, files: dict[str, str]) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    return repo, commit(repo, files, "initial")


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def counted(samples: list[dict]) -> list[dict]:
    return [s for s in samples if not s["warmup"] and s["error"] is None]


def assert_keys_sorted(text: str) -> None:
    def check(pairs):
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys), keys
        return dict(pairs)

    json.loads(text, object_pairs_hook=check)


def assert_no_temp_files(directory: Path, expected: set[str]) -> None:
    assert set(os.listdir(directory)) == expected, os.listdir(directory)


# --------------------------------------------------------------------------- writing


def test_update_writes_the_baseline_file(tmp_path, cli):
    repo, sha = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config(f"- name: sleepy\n  command: {json.dumps(SLEEP)}\n", repeats=4, warmup=1),
            "duration.txt": "0.05\n",
        },
    )

    r = cli("baseline", "update", cwd=repo)

    assert r.returncode == 0, r.stderr
    assert "sleepy" in r.stdout
    path = repo / DEFAULT_FILE
    text = path.read_text()
    assert text.endswith("\n")
    assert_keys_sorted(text)
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    doc = json.loads(text)
    assert doc["schema"] == SCHEMA
    assert list(doc["workloads"]) == ["sleepy"]
    e = doc["workloads"]["sleepy"]
    assert {"samples_wh", "summary", "fingerprint", "methods", "tool_version", "commit", "date", "history"} <= set(e)
    assert len(e["samples_wh"]) == 4 and all(x > 0 for x in e["samples_wh"])  # the warm-up is not recorded
    assert e["summary"]["n"] == 4
    assert e["summary"]["median_wh"] == pytest.approx(statistics.median(e["samples_wh"]), rel=1e-3)
    assert e["commit"] == sha
    assert e["tool_version"] == carbon_gate.__version__
    assert dt.datetime.fromisoformat(e["date"]).tzinfo is not None
    fp = e["fingerprint"]
    assert {"cpu_model", "logical_cpus", "cpu_method", "profile"} <= set(fp) and fp["logical_cpus"] >= 1
    assert e["methods"] and all(":" in m for m in e["methods"])
    assert any(m.startswith("cpu:") for m in e["methods"])
    assert e["history"] == [{"commit": sha, "date": e["date"], "median_wh": e["summary"]["median_wh"], "n": 4}]
    assert_no_temp_files(path.parent, {"baseline.json"})


def test_history_appends_and_is_capped_in_the_configured_file(tmp_path, cli):
    repo, first = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config(
                "- name: quick\n  command: 'sleep 0.01'\n",
                repeats=2,
                baseline="{file: perf/energy-baseline.json, history: 2}",
            ),
        },
    )
    path = repo / "perf" / "energy-baseline.json"
    commits = [first]
    histories = []
    for i in range(3):
        if i:
            commits.append(commit(repo, {"notes.txt": f"change {i}\n"}, f"change {i}"))
        r = cli("baseline", "update", "-q", cwd=repo)
        assert r.returncode == 0, r.stderr
        assert_no_temp_files(path.parent, {"energy-baseline.json"})
        entry = load(path)["workloads"]["quick"]
        assert entry["commit"] == commits[-1]
        histories.append([h["commit"] for h in entry["history"]])

    assert histories == [commits[:1], commits[:2], commits[1:3]]
    assert not (repo / DEFAULT_FILE).exists()
    assert_keys_sorted(path.read_text())


def test_update_from_results_records_without_running(tmp_path, cli):
    runs_log = tmp_path / "runs.log"
    repo, sha = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config(
                f"- name: counted\n  command: {json.dumps(f'echo run >> {runs_log}; sleep 0.02')}\n"
            ),
        },
    )
    r = cli("run", "--mode", "none", "--results", "results.json", "--report", "", cwd=repo)
    assert r.returncode == 0, r.stderr
    ran = runs_log.read_text().count("run")
    results = load(repo / "results.json")

    r = cli("baseline", "update", "--from", "results.json", cwd=repo)

    assert r.returncode == 0, r.stderr
    assert runs_log.read_text().count("run") == ran, "--from ran the workload again"
    e = load(repo / DEFAULT_FILE)["workloads"]["counted"]
    (w,) = results["workloads"]
    assert e["samples_wh"] == pytest.approx([s["energy_wh"] for s in counted(w["samples"])], rel=1e-6, abs=1e-12)
    assert e["summary"] == w["summary"]
    assert e["commit"] == results["git"]["head"] == sha
    assert e["fingerprint"] == results["machine"]["fingerprint"]


# --------------------------------------------------------------------------- gating against it


def test_run_gates_against_the_stored_baseline(tmp_path, cli):
    # 0.2 s sleeps, 8 runs and a 25 % tolerance: the unpaired comparison of two separate runs must say
    # "unchanged" even if one run hits a scheduling hiccup; doubling the sleep is still a clear regression.
    repo, sha = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config(f"- name: sleepy\n  command: {json.dumps(SLEEP)}\n", repeats=8, tolerance="25%"),
            "duration.txt": "0.2\n",
        },
    )
    r = cli("baseline", "update", "-q", cwd=repo)
    assert r.returncode == 0, r.stderr
    stored = load(repo / DEFAULT_FILE)["workloads"]["sleepy"]

    r = cli("run", "--results", "same.json", "--report", "", cwd=repo)

    doc = load(repo / "same.json")
    assert doc["git"]["mode"] == "stored"
    (w,) = doc["workloads"]
    assert w["verdict"] == "unchanged", (w["reasons"], w["change"])
    assert r.returncode == 0, r.stderr
    assert w["baseline"]["mode"] == "stored" and w["baseline"]["commit"] == sha
    assert w["baseline"]["samples_wh"] == stored["samples_wh"]
    assert w["change"]["paired"] is False and w["change"]["n_base"] == 8

    (repo / "duration.txt").write_text("0.4\n")
    r = cli("run", "--results", "slower.json", "--report", "", cwd=repo)

    (w,) = load(repo / "slower.json")["workloads"]
    assert w["verdict"] == "regression", (w["reasons"], w["change"])
    assert r.returncode == 1, r.stderr
    assert w["change"]["low"] > 1.25


def test_stored_mode_raises_head_runs_so_a_regression_can_survive_holm(tmp_path, cli):
    # Baseline of 4 runs per workload, 2 workloads: 4 + 4 runs give at best p = 2/70 = 0.029 > 0.05/2, so
    # the head needs 5 runs (2/126 = 0.016); a baseline of 1 run cannot be rescued by a few more head runs.
    workloads = "- name: one\n  command: 'sleep 0.01'\n- name: two\n  command: 'sleep 0.01'\n"
    repo, _ = new_repo(tmp_path, {"carbon-gate.yml": config(workloads, repeats=4)})
    assert cli("baseline", "update", "-q", cwd=repo).returncode == 0
    (repo / "carbon-gate.yml").write_text(config(workloads, repeats=3))

    r = cli("run", "--results", "out.json", "--report", "", cwd=repo)

    assert r.returncode in (0, 1), r.stderr
    for w in load(repo / "out.json")["workloads"]:
        assert w["baseline"]["mode"] == "stored" and w["baseline"]["n"] == 4
        assert len(counted(w["samples"])) == w["change"]["n_head"] == 5
        assert any("raised to 5" in n and "Holm across 2" in n for n in w["baseline"]["notes"]), w["baseline"]["notes"]

    assert cli("baseline", "update", "-q", "--repeats", "1", cwd=repo).returncode == 0
    r = cli("run", "--results", "tiny.json", "--report", "", cwd=repo)

    assert r.returncode in (0, 1), r.stderr
    for w in load(repo / "tiny.json")["workloads"]:
        assert len(counted(w["samples"])) == 3  # not raised: no affordable number of runs would do
        assert w["verdict"] == "inconclusive"
        assert any("only 1 run:" in n and "re-record" in n for n in w["baseline"]["notes"]), w["baseline"]["notes"]


def test_update_keeps_full_precision_samples(tmp_path):
    from carbon_gate import baseline as baseline_mod
    from carbon_gate.pipeline import _stored

    tiny = [1e-6 / 3, 1.23456789012345e-7]
    results = {
        "machine": {"fingerprint": {"cpu_model": "x"}},
        "workloads": [
            {
                "name": "w",
                "command": "true",
                "verdict": "new",
                "summary": {"median_wh": 2e-7},
                "samples": [
                    {
                        "warmup": False,
                        "error": None,
                        "energy_wh": v,
                        "wall_s": 0.1,
                        "energy": [{"component": "cpu", "method": "modelled", "wh": v}],
                    }
                    for v in tiny
                ],
            }
        ],
    }
    doc = baseline_mod.update(None, results, "abc", date="2026-01-01T00:00:00+00:00")
    assert doc["workloads"]["w"]["samples_wh"] == tiny
    # Through the committed file and back to what stored mode compares with, bit for bit.
    path = tmp_path / DEFAULT_FILE
    baseline_mod.write(path, doc)
    assert _stored(baseline_mod.load(path), "w").samples_wh == tuple(tiny)


def test_baseline_from_other_hardware_is_inconclusive(tmp_path, cli):
    repo, _ = new_repo(tmp_path, {"carbon-gate.yml": config("- name: quick\n  command: 'sleep 0.02'\n")})
    assert cli("baseline", "update", "-q", cwd=repo).returncode == 0
    path = repo / DEFAULT_FILE
    doc = load(path)
    fp = doc["workloads"]["quick"]["fingerprint"]
    fp["cpu_model"] = "Imaginary CPU 9000"
    fp["logical_cpus"] = fp["logical_cpus"] + 64
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))

    r = cli("run", "--results", "out.json", "--report", "", cwd=repo)

    assert r.returncode == 0, r.stderr
    (w,) = load(repo / "out.json")["workloads"]
    assert w["verdict"] == "inconclusive"
    assert "cpu_model" in w["reasons"][0] and "logical_cpus" in w["reasons"][0], w["reasons"]
    assert set(w["baseline"]["fingerprint_diff"]) == {"cpu_model", "logical_cpus"}


@pytest.mark.parametrize(
    "content",
    ["{ this is not json", json.dumps({"schema": "carbon-gate/baseline@0", "workloads": {}})],
    ids=["corrupt", "old-schema"],
)
def test_unusable_baseline_file_is_a_usage_error_naming_it(tmp_path, cli, content):
    runs_log = tmp_path / "runs.log"
    repo, _ = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config(f"- name: quick\n  command: {json.dumps(f'echo run >> {runs_log}')}\n"),
        },
    )
    path = repo / DEFAULT_FILE
    path.parent.mkdir()
    path.write_text(content)

    for args in (("run", "--report", ""), ("run", "--mode", "stored", "--report", ""), ("baseline", "update")):
        r = cli(*args, cwd=repo)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "baseline.json" in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
        if "@0" in content:
            assert "schema" in r.stderr
    assert path.read_text() == content, "baseline update replaced the unusable file"
    assert not runs_log.exists(), "a workload ran although the baseline was unusable"
    assert_no_temp_files(path.parent, {"baseline.json"})


@pytest.mark.parametrize("mode", [(), ("--mode", "stored")], ids=["auto", "stored"])
def test_missing_baseline_file_makes_every_workload_new(tmp_path, cli, mode):
    workloads = "- name: one\n  command: 'sleep 0.01'\n- name: two\n  command: 'sleep 0.01'\n"
    repo, _ = new_repo(tmp_path, {"carbon-gate.yml": config(workloads, repeats=1)})

    r = cli("run", *mode, "--results", "out.json", "--report", "", cwd=repo)

    assert r.returncode == 0, r.stderr
    doc = load(repo / "out.json")
    assert [w["verdict"] for w in doc["workloads"]] == ["new", "new"]
    assert not (repo / DEFAULT_FILE).exists()


def test_failed_workload_is_not_recorded(tmp_path, cli):
    workloads = """
        - name: good
          command: 'sleep 0.01'
        - name: flaky
          command: 'test ! -f broken'
        - name: bad
          command: 'exit 1'
        """
    repo, _ = new_repo(tmp_path, {"carbon-gate.yml": config(workloads, repeats=2)})
    path = repo / DEFAULT_FILE

    r = cli("baseline", "update", "-q", cwd=repo)

    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "bad" in r.stdout
    first = load(path)["workloads"]
    assert sorted(first) == ["flaky", "good"]

    (repo / "broken").write_text("")
    r = cli("baseline", "update", "-q", cwd=repo)

    assert r.returncode == 3, (r.stdout, r.stderr)
    second = load(path)["workloads"]
    assert sorted(second) == ["flaky", "good"]
    assert second["flaky"] == first["flaky"], "the failed run replaced the last good entry"
    assert len(second["good"]["history"]) == 2
    assert_no_temp_files(path.parent, {"baseline.json"})
