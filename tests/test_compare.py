"""`carbon-gate compare`: gate recorded results without running anything.

Real results files come from real CLI runs (module-scoped, to keep the suite fast); the family-wise
(Holm) cases use documents built from a real one with hand-set sample energies, so the p-values are
known exactly.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import commit, counted_sample, git, paired_run, without_ci

pytestmark = pytest.mark.usefixtures("no_ci_env")

SLEEP = 'sleep "$(cat duration.txt)"'
RESULTS_SCHEMA = "carbon-gate/results@1"


def config(workloads: str, *, repeats: int = 8, tolerance: str = "5%", extra: str = "") -> str:
    text = (
        textwrap.dedent(f"""\
        version: 1
        grid: {{intensity: 400 g/kWh, source: test value}}
        machine: {{rapl: "off", gpu: "off", embodied: "off"}}
        defaults: {{repeats: {repeats}, warmup: 0, tolerance: "{tolerance}"}}
        """)
        + extra
    )
    return text + "workloads:\n" + textwrap.indent(textwrap.dedent(workloads).strip("\n"), "  ") + "\n"


def carbon_gate(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "carbon_gate", *args],
        cwd=cwd,
        env=env or without_ci(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def by_name(doc: dict) -> dict[str, dict]:
    return {w["name"]: w for w in doc["workloads"]}


# --------------------------------------------------------------------------- recorded runs


@pytest.fixture(scope="module")
def unpaired(tmp_path_factory) -> dict[str, Path]:
    """Two `run --mode none` results of one workload: base sleeps 0.15 s, head 0.25 s."""
    repo = tmp_path_factory.mktemp("unpaired")
    git(repo, "init", "-q")
    commit(
        repo,
        {"carbon-gate.yml": config(f"- name: sleepy\n  command: {json.dumps(SLEEP)}\n"), "duration.txt": "0.15\n"},
        "base",
    )
    out = {}
    for label, duration in (("base", "0.15"), ("head", "0.25")):
        commit(repo, {"duration.txt": f"{duration}\n", "label.txt": label}, label)
        r = carbon_gate("run", "--mode", "none", "--results", f"{label}.json", "--report", "", "-q", cwd=repo)
        assert r.returncode == 0, r.stderr
        out[label] = repo / f"{label}.json"
    return out


def _paired_run(root: Path, workloads: str, files: dict[str, str], changed: dict[str, str]) -> tuple[Path, int]:
    repo = root / "repo"
    repo.mkdir()
    (root / "tmp").mkdir()
    git(repo, "init", "-q")
    commit(repo, {"carbon-gate.yml": config(workloads), **files}, "base")
    commit(repo, changed, "change")
    r = carbon_gate(
        *paired_run("-q", seed=21, results="paired.json", report=""),
        cwd=repo,
        env=without_ci(TMPDIR=str(root / "tmp")),
    )
    assert r.returncode in (0, 1), r.stderr
    return repo / "paired.json", r.returncode


@pytest.fixture(scope="module")
def paired(tmp_path_factory) -> tuple[Path, int]:
    """A paired run: 'grows' doubles its sleep (a clear regression), 'steady' does not change. 'steady' stops
    after 8 rounds: proving it unchanged within 5 % can take the whole max_time (60 s) on a loaded machine, and
    the tests only need its numbers reproduced."""
    workloads = f"""
        - name: grows
          command: {json.dumps(SLEEP)}
        - name: steady
          command: 'sleep "$(cat steady.txt)"'
          max_rounds: 8
        """
    return _paired_run(
        tmp_path_factory.mktemp("paired"),
        workloads,
        {"duration.txt": "0.1\n", "steady.txt": "0.1\n"},
        {"duration.txt": "0.2\n"},
    )


@pytest.fixture(scope="module")
def tiny_paired(tmp_path_factory) -> tuple[Path, int]:
    """A paired run of a workload costing ~1e-6 Wh per run (`true`), unchanged between the commits: 8 rounds at
    most, as it rarely decides (it would otherwise add rounds for the whole max_time of 60 s)."""
    tiny = "- name: tiny\n  command: 'true'\n  max_rounds: 8\n"
    return _paired_run(tmp_path_factory.mktemp("tiny"), tiny, {}, {"README.md": "x\n"})


def test_compare_reproduces_a_paired_run(paired, tmp_path, cli):
    results, run_code = paired
    original = load(results)
    assert by_name(original)["grows"]["verdict"] == "regression"  # the interesting case is covered
    assert run_code == 1

    r = cli("compare", str(results), "--results", "again.json", "--report", "")

    assert r.returncode == run_code, r.stderr
    again = load(tmp_path / "again.json")
    assert again["schema"] == RESULTS_SCHEMA
    assert again["verdict"] == original["verdict"]
    for name, w in by_name(original).items():
        v = by_name(again)[name]
        assert v["verdict"] == w["verdict"], (name, v["reasons"], w["reasons"])
        assert v["baseline"]["mode"] == "paired"
        for key in ("commit", "n", "seed", "orders"):
            assert v["baseline"][key] == w["baseline"][key], key
        for key in ("ratio", "low", "high"):
            assert v["change"][key] == pytest.approx(w["change"][key], rel=1e-3), (name, key)
        assert v["change"]["n_head"] == w["change"]["n_head"] and v["change"]["paired"] is True


def test_compare_reproduces_the_change_numbers_exactly(tiny_paired, tmp_path, cli):
    results, run_code = tiny_paired
    original = load(results)

    r = cli("compare", str(results), "--results", "again.json", "--report", "")

    again = by_name(load(tmp_path / "again.json"))
    for name, w in by_name(original).items():
        keys = ("ratio", "low", "high", "mde", "p_value", "n_head", "n_base")
        assert {k: again[name]["change"][k] for k in keys} == {k: w["change"][k] for k in keys}, name
        assert again[name]["verdict"] == w["verdict"], name
    assert r.returncode == run_code


def test_samples_round_trip_through_json_exactly():
    from carbon_gate.domain import Energy, Sample

    energies = [Energy("cpu", 1e-6 / 3, "modelled", "r"), Energy("memory", 2.0 / 3600 * 1e-4, "modelled", "r")]
    s = Sample(0.01, 0.001, 0, energies)
    again = Sample.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again.energy_wh == s.energy_wh and [e.wh for e in again.energy] == [e.wh for e in energies]
    assert s.to_dict()["energy_wh"] == s.energy_wh


def test_compare_head_with_base_results(unpaired, tmp_path, cli):
    base_doc = load(unpaired["base"])

    r = cli("compare", str(unpaired["head"]), str(unpaired["base"]), "--results", "out.json", "--report", "")

    assert r.returncode == 1, r.stderr
    text = (tmp_path / "out.json").read_text()
    doc = json.loads(text)
    assert doc["schema"] == RESULTS_SCHEMA and doc["verdict"] == "fail"
    (w,) = doc["workloads"]
    assert w["verdict"] == "regression", w["reasons"]
    assert w["change"]["paired"] is False and w["change"]["low"] > 1.05
    assert w["baseline"]["mode"] == "stored"
    assert w["baseline"]["commit"] == base_doc["git"]["head"]
    assert "regression" in r.stdout


def test_compare_swapped_is_an_improvement(unpaired, tmp_path, cli):
    r = cli("compare", str(unpaired["base"]), str(unpaired["head"]), "--results", "out.json", "--report", "")

    assert r.returncode == 0, r.stderr
    (w,) = load(tmp_path / "out.json")["workloads"]
    assert w["verdict"] == "improvement", w["reasons"]
    assert w["change"]["high"] < 0.95


def test_compare_across_fingerprints_is_inconclusive(unpaired, tmp_path, cli):
    other = load(unpaired["base"])
    other["machine"]["fingerprint"]["cpu_model"] = "Imaginary CPU 9000"
    (tmp_path / "elsewhere.json").write_text(json.dumps(other))

    r = cli("compare", str(unpaired["head"]), "elsewhere.json", "--results", "out.json", "--report", "")

    assert r.returncode == 0, r.stderr
    (w,) = load(tmp_path / "out.json")["workloads"]
    assert w["verdict"] == "inconclusive"
    assert "cpu_model" in w["reasons"][0]


def test_compare_rejects_missing_and_foreign_files(unpaired, tmp_path, cli):
    (tmp_path / "notes.txt").write_text("not json at all\n")
    (tmp_path / "other.json").write_text(json.dumps({"schema": "something/else@1", "workloads": []}))
    head = str(unpaired["head"])
    for args, name in (
        (("nowhere.json",), "nowhere.json"),
        ((head, "nowhere.json"), "nowhere.json"),
        (("notes.txt",), "notes.txt"),
        ((head, "other.json"), "other.json"),
    ):
        r = cli("compare", *args, "--results", "out.json", "--report", "")
        assert r.returncode == 2, (args, r.stderr)
        assert name in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "out.json").exists()


# --------------------------------------------------------------------------- family-wise control


def _document(template: dict, energies: dict[str, list[float]]) -> dict:
    """A results document like `template` whose workloads have exactly these counted energies (Wh)."""
    doc = copy.deepcopy(template)
    w0 = doc["workloads"][0]
    s0 = next(s for s in w0["samples"] if not s["warmup"])
    doc["workloads"] = []
    for name, values in energies.items():
        w = copy.deepcopy(w0)
        w.update(
            name=name,
            command="true",
            tolerance=0.05,
            baseline=None,
            change=None,
            base_samples=[],
            history=[],
            budget={"limits": {}, "checks": [], "max_use_pct": None},
            samples=[counted_sample(s0, v, "hand-set for the test") for v in values],
        )
        doc["workloads"].append(w)
    return doc


@pytest.fixture
def holm_files(unpaired, tmp_path) -> tuple[str, str]:
    """'hot' separates completely (4 + 4 runs, +29 %): alone a regression with p = 2/70 = 0.029, which does
    not survive Holm across 3 workloads (needs p <= 0.05/3); 'a' and 'b' are interleaved (no change)."""
    template = load(unpaired["head"])
    head = _document(
        template,
        {
            "hot": [1.30e-3, 1.31e-3, 1.32e-3, 1.33e-3],
            "a": [1.000e-3, 1.010e-3, 1.020e-3, 1.030e-3],
            "b": [1.000e-3, 1.010e-3, 1.020e-3, 1.030e-3],
        },
    )
    base = _document(
        template,
        {
            "hot": [1.00e-3, 1.01e-3, 1.02e-3, 1.03e-3],
            "a": [1.005e-3, 1.015e-3, 1.025e-3, 1.035e-3],
            "b": [1.005e-3, 1.015e-3, 1.025e-3, 1.035e-3],
        },
    )
    (tmp_path / "head.json").write_text(json.dumps(head))
    (tmp_path / "base.json").write_text(json.dumps(base))
    return "head.json", "base.json"


def _gate_config(tmp_path: Path, gate: str) -> str:
    workloads = "".join(f"- name: {n}\n  command: 'true'\n" for n in ("hot", "a", "b"))
    (tmp_path / "gate.yml").write_text(config(workloads, extra=f"gate: {gate}\n"))
    return "gate.yml"


def test_holm_downgrades_a_regression_that_does_not_survive_the_family(holm_files, tmp_path, cli):
    r = cli("compare", *holm_files, "--results", "out.json", "--report", "")

    assert r.returncode == 0, r.stderr
    doc = load(tmp_path / "out.json")
    assert doc["gate"]["family"] == "holm"
    w = by_name(doc)
    assert w["hot"]["change"]["p_value"] == pytest.approx(2 / 70, rel=1e-3)
    assert w["hot"]["change"]["low"] > 1.05
    assert w["hot"]["verdict"] == "inconclusive", w["hot"]["reasons"]
    assert "Holm" in w["hot"]["reasons"][0]
    # 4 + 4 runs can never beat 0.05/3; the reason says what would (2/C(9, 4) = 0.016 <= 0.05/3).
    assert "at best p = 0.0286" in w["hot"]["reasons"][0] and "5 head runs" in w["hot"]["reasons"][0], w["hot"][
        "reasons"
    ][0]
    assert w["a"]["verdict"] == w["b"]["verdict"] == "unchanged"
    assert doc["verdict"] == "warn"


def test_without_family_control_the_regression_stands(holm_files, tmp_path, cli):
    r = cli(
        "compare", *holm_files, "-c", _gate_config(tmp_path, "{family: none}"), "--results", "out.json", "--report", ""
    )

    assert r.returncode == 1, r.stderr
    w = by_name(load(tmp_path / "out.json"))
    assert w["hot"]["verdict"] == "regression", w["hot"]["reasons"]
    assert not any("Holm" in x for x in w["hot"]["reasons"])


def test_fail_on_inconclusive_fails_the_gate(holm_files, tmp_path, cli):
    r = cli(
        "compare",
        *holm_files,
        "-c",
        _gate_config(tmp_path, "{fail_on: [regression, over-budget, inconclusive]}"),
        "--results",
        "out.json",
        "--report",
        "",
    )

    assert r.returncode == 1, r.stderr
    doc = load(tmp_path / "out.json")
    assert by_name(doc)["hot"]["verdict"] == "inconclusive"
    assert doc["verdict"] == "fail"
