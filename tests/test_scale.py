"""Scale-out (docs/scale.md): `run --shard I/N` as separate processes, `merge` back into one suite with
Holm across all of it, and the ranks of a two-"node" job merged with each GPU counted once.

Shards and the unsharded run are real CLI processes in a temp git repo; their recorded samples are then
set by hand to the same energies (as tests/test_compare.py does), so both sides see identical samples and
the Holm decisions are known exactly. GPUs come from a fake `pynvml` module on PYTHONPATH, the real
nvidia-ml-py API in miniature (tests/test_gpu.py has the fuller fake)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
from helpers import commit, counted_sample, git, paired_run

from carbon_gate.shard import expected_seconds, parse_shard, plan_shards

NAMES = [f"w{i}" for i in range(1, 10)]
SCHEMA = json.loads((Path(__file__).parents[1] / "carbon_gate" / "data" / "results.schema.json").read_text())
CI_VARS = ("GITHUB_BASE_REF", "GITHUB_HEAD_REF", "GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH", "GITHUB_ACTIONS")


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in CI_VARS and k not in ("RANK", "WORLD_SIZE")}, **extra}


def _cg(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "carbon_gate", *args],
        cwd=cwd,
        env=env or _env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(p: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = p.communicate(timeout=180)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _load(path: Path) -> dict:
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, SCHEMA)
    return doc


# --- the plan --------------------------------------------------------------------------------------


def test_plan_is_deterministic_balanced_and_covers_every_workload():
    plan = plan_shards(NAMES, 3)
    assert plan == plan_shards(NAMES, 3)
    assert sorted(n for part in plan for n in part) == sorted(NAMES)
    assert [len(p) for p in plan] == [3, 3, 3]


def test_plan_balances_by_recorded_duration_and_a_new_workload_moves_no_timed_one():
    durations = {"long": 100.0, "a": 30.0, "b": 30.0, "c": 30.0, "d": 10.0}
    plan = plan_shards(list(durations), 2, durations)
    loads = [sum(durations[n] for n in part) for part in plan]
    assert plan[0] == ["long"] or plan[1] == ["long"], plan  # 100 alone vs 30+30+30+10
    assert max(loads) == 100.0
    grown = plan_shards([*durations, "new"], 2, {**durations, "new": None})
    for old, new in zip(plan, grown):
        assert set(old) <= set(new)


def test_expected_seconds_from_the_baseline_and_shard_spec_errors():
    doc = {"workloads": {"a": {"wall_s": [1.0, 3.0, 2.0]}}}
    assert expected_seconds(doc, "a", 5) == 10.0 and expected_seconds(doc, "b", 5) is None
    assert parse_shard("2/3").id == "2/3"
    from carbon_gate.errors import UsageError

    for bad in ("0/3", "4/3", "1-3", ""):
        with pytest.raises(UsageError):
            parse_shard(bad)


# --- shards → one suite ----------------------------------------------------------------------------


def suite_config(names: list[str]) -> str:
    """Workloads that run `true` twice each: fast, and enough for merge and Holm on hand-set samples."""
    return textwrap.dedent("""\
        version: 1
        grid: {intensity: 400 g/kWh, source: test value}
        machine: {rapl: "off", gpu: "off", embodied: "off"}
        defaults: {repeats: 2, warmup: 0}
        workloads:
        """) + "".join(f"  - name: {n}\n    command: 'true'\n" for n in names)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> dict:
    """A 9-workload suite in a git repo run unsharded and as 3 shards, all four processes at once."""
    repo = tmp_path_factory.mktemp("suite")
    (repo / "carbon-gate.yml").write_text(suite_config(NAMES))
    git(repo, "init", "-q")
    commit(repo, {}, "suite")
    common = ("--mode", "none", "--report", "", "-q")
    procs = {"full": _cg("run", *common, "--results", "full.json", cwd=repo)}
    for i in (1, 2, 3):
        procs[f"s{i}"] = _cg("run", *common, "--shard", f"{i}/3", "--results", f"s{i}.json", cwd=repo)
    done = {k: _wait(p) for k, p in procs.items()}
    for k, r in done.items():
        assert r.returncode == 0, (k, r.stderr)
    return {"repo": repo, **{k: _load(repo / f"{k}.json") for k in procs}}


# 'hot': 8 vs 8 runs, fully separated (p = 2/C(16,8) = 1.6e-4): a regression even with Holm across 9.
# 'warm': 5 vs 4, fully separated (p = 2/C(9,4) = 0.016): alone or among 3 a regression, but not
# with Holm across 9 (0.016 > 0.05/8). The others interleave with their baselines: unchanged.
HEAD = {"hot": [1.30 + i / 100 for i in range(8)], "warm": [1.30 + i / 100 for i in range(5)]}
BASE = {"hot": [1.00 + i / 100 for i in range(8)], "warm": [1.00 + i / 100 for i in range(4)]}


def _energies(name: str) -> tuple[list[float], list[float]]:
    key = {"w1": "hot", "w2": "warm"}.get(name)
    if key:
        return [x * 1e-3 for x in HEAD[key]], [x * 1e-3 for x in BASE[key]]
    return [(1.000 + i / 100) * 1e-3 for i in range(4)], [(1.005 + i / 100) * 1e-3 for i in range(4)]


def _set_samples(doc: dict) -> dict:
    """The same hand-set head runs and stored-baseline runs for each workload, whichever file holds it."""
    doc = copy.deepcopy(doc)
    for w in doc["workloads"]:
        head, base = _energies(w["name"])
        w["samples"] = [counted_sample(w["samples"][0], v, "hand-set") for v in head]
        w["baseline"] = {
            "mode": "stored",
            "commit": None,
            "n": len(base),
            "samples_wh": base,
            "seed": None,
            "error": None,
            "notes": [],
        }
    return doc


def _verdicts(doc: dict) -> dict[str, str]:
    return {w["name"]: w["verdict"] for w in doc["workloads"]}


def test_shards_are_disjoint_balanced_and_carry_their_id_fingerprint_and_seed(sharded):
    parts = [sharded[f"s{i}"] for i in (1, 2, 3)]
    names = [w["name"] for d in parts for w in d["workloads"]]
    assert sorted(names) == NAMES and len(set(names)) == 9
    assert [len(d["workloads"]) for d in parts] == [3, 3, 3]
    for i, d in enumerate(parts, 1):
        assert d["shard"]["id"] == f"{i}/3" and d["shard"]["fingerprint"] == d["machine"]["fingerprint"]
        assert "seed" in d["shard"] and d["shard"]["plan"] == parts[0]["shard"]["plan"]


def test_merged_shards_match_the_unsharded_run_on_the_same_samples(sharded, tmp_path, cli):
    for i in (1, 2, 3):
        (tmp_path / f"s{i}.json").write_text(json.dumps(_set_samples(sharded[f"s{i}"])))
    (tmp_path / "full.json").write_text(json.dumps(_set_samples(sharded["full"])))
    merged = cli("merge", "s3.json", "s1.json", "s2.json", "-o", "merged.json")
    whole = cli("compare", "full.json", "--results", "whole.json", "--report", "")
    assert merged.returncode == whole.returncode == 1, (merged.stderr, whole.stderr)  # w1 fails the gate
    m, w = _load(tmp_path / "merged.json"), _load(tmp_path / "whole.json")
    assert [x["name"] for x in m["workloads"]] == NAMES
    assert _verdicts(m) == _verdicts(w)
    assert _verdicts(m)["w1"] == "regression" and _verdicts(m)["w2"] == "inconclusive"  # Holm across all 9
    assert "Holm correction across 9 workloads" in m["workloads"][1]["reasons"][0]
    assert m["verdict"] == w["verdict"] == "fail"
    assert m["totals"] == w["totals"]
    assert {x["shard"] for x in m["workloads"]} == {"1/3", "2/3", "3/3"}
    assert all(x["fingerprint"] == sharded["s1"]["machine"]["fingerprint"] for x in m["workloads"])
    # The merged file is a results file like any other: `compare` reproduces it, `report` renders it.
    again = cli("compare", "merged.json", "--results", "again.json", "--report", "")
    assert again.returncode == 1 and _verdicts(_load(tmp_path / "again.json")) == _verdicts(m)
    assert cli("report", "merged.json", "-o", "r.md").returncode == 0
    assert "w9" in (tmp_path / "r.md").read_text()


def test_a_missing_shard_makes_the_suite_error_naming_it(sharded, tmp_path, cli):
    for i in (1, 3):
        (tmp_path / f"s{i}.json").write_text(json.dumps(sharded[f"s{i}"]))
    r = cli("merge", "s1.json", "s3.json", "-o", "merged.json")
    assert r.returncode == 3, r.stderr
    doc = _load(tmp_path / "merged.json")
    lost = sharded["s2"]["shard"]["plan"][1]
    assert doc["verdict"] == "error"
    assert any("shard 2/3 is missing" in n for n in doc["notes"]), doc["notes"]
    assert sorted(w["name"] for w in doc["workloads"]) == NAMES
    assert {w["name"] for w in doc["workloads"] if w["verdict"] == "error"} == set(lost)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["git"].update(head="0" * 40), "different commits"),
        (lambda d: d["shard"].update(config_sha256="f" * 64), "different configs"),
        (None, "given twice"),
    ],
)
def test_mixed_or_duplicate_shards_are_refused(sharded, tmp_path, cli, change, message):
    docs = {i: copy.deepcopy(sharded[f"s{i}"]) for i in (1, 2, 3)}
    if change is not None:
        change(docs[2])
    for i, d in docs.items():
        (tmp_path / f"s{i}.json").write_text(json.dumps(d))
    args = ["s1.json", "s2.json", "s3.json"] + (["s1.json"] if change is None else [])
    r = cli("merge", *args, "-o", "merged.json")
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "merged.json").exists()


def test_plain_results_are_not_merged(sharded, tmp_path, cli):
    (tmp_path / "full.json").write_text(json.dumps(sharded["full"]))
    r = cli("merge", "full.json", "-o", "m.json")
    assert r.returncode == 2 and "not shard or rank results" in r.stderr


# --- ranks of one job → one run --------------------------------------------------------------------

FAKE_PYNVML = '''
class NVMLError(Exception):
    pass
_counter = {}
def nvmlInit(): pass
def nvmlShutdown(): pass
def nvmlDeviceGetCount(): return 2
def nvmlDeviceGetHandleByIndex(i): return i
def nvmlDeviceGetName(h): return "NVIDIA A100-SXM4-40GB"
def nvmlDeviceGetTotalEnergyConsumption(h):
    """mJ; each read 36 J later than the last, so a start/stop pair sees 36 J = 0.01 Wh per device."""
    _counter[h] = _counter.get(h, 1_000_000) + 36_000
    return _counter[h]
def nvmlDeviceGetPowerUsage(h): return 100_000
'''


def test_two_nodes_four_ranks_merge_with_each_gpu_counted_once(tmp_path, cli):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "pynvml.py").write_text(FAKE_PYNVML)
    procs = []
    for rank in range(4):
        env = _env(
            PYTHONPATH=str(fake),
            RANK=str(rank),
            WORLD_SIZE="4",
            LOCAL_RANK=str(rank % 2),
            CARBON_GATE_NODE=f"node{rank // 2}",
            CARBON_GATE_JOB="job-7",
        )
        env.pop("CUDA_VISIBLE_DEVICES", None)
        procs.append(
            _cg(
                "measure",
                "-q",
                "--grid-intensity",
                "400",
                "--results",
                "rank{rank}.json",
                "--",
                sys.executable,
                "-c",
                "pass",
                cwd=tmp_path,
                env=env,
            )
        )
    for p in procs:
        r = _wait(p)
        assert r.returncode == 0, r.stderr
    ranks = [_load(tmp_path / f"rank{r}.json") for r in range(4)]
    assert [d["rank"]["node"] for d in ranks] == ["node0", "node0", "node1", "node1"]
    per_rank_gpu = [
        sum(e["wh"] for e in d["workloads"][0]["samples"][0]["energy"] if e["component"] == "gpu") for d in ranks
    ]
    assert per_rank_gpu == [pytest.approx(0.02)] * 4  # every rank sees both GPUs of its node
    other = [sum(e["wh"] for e in d["workloads"][0]["samples"][0]["energy"] if e["component"] != "gpu") for d in ranks]

    r = cli("merge", *(f"rank{i}.json" for i in range(4)), "-o", "job.json")
    assert r.returncode == 0, r.stderr
    job = _load(tmp_path / "job.json")
    energy = job["workloads"][0]["samples"][0]["energy"]
    gpus = [e for e in energy if e["component"] == "gpu"]
    assert len(gpus) == 4  # 2 nodes × 2 devices, not 4 ranks × 2
    assert sum(e["wh"] for e in gpus) == pytest.approx(0.04)  # not the 0.08 a plain sum would give
    assert sum(e["wh"] for e in energy if e["component"] != "gpu") == pytest.approx(sum(other))
    assert job["workloads"][0]["energy_wh"] == pytest.approx(0.04 + sum(other))
    assert job["ranks"]["nodes"] == ["node0", "node1"] and job["ranks"]["missing"] == []
    assert {tuple(g["ranks"]) for g in job["ranks"]["gpus"]} == {(0, 1), (2, 3)}

    short = cli("merge", "rank0.json", "rank1.json", "rank2.json", "-o", "short.json")
    assert short.returncode == 3 and _load(tmp_path / "short.json")["ranks"]["missing"] == [3]


def test_baseline_update_accepts_a_merged_suite(sharded, tmp_path, cli):
    for i in (1, 2, 3):
        (tmp_path / f"s{i}.json").write_text(json.dumps(sharded[f"s{i}"]))
    assert cli("merge", "s1.json", "s2.json", "s3.json", "-o", "merged.json").returncode == 0
    (tmp_path / "carbon-gate.yml").write_text((sharded["repo"] / "carbon-gate.yml").read_text())
    r = cli("baseline", "update", "--from", "merged.json")
    assert r.returncode == 0, r.stderr
    stored = json.loads((tmp_path / ".carbon-gate" / "baseline.json").read_text())["workloads"]
    assert sorted(stored) == NAMES
    assert stored["w5"]["fingerprint"] == sharded["s1"]["shard"]["fingerprint"]


def test_a_paired_shard_runs_base_and_head_inside_the_shard(tmp_path, cli):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "carbon-gate.yml").write_text(suite_config(["a", "b"]))
    git(repo, "init", "-q")
    for message in ("base", "head"):
        commit(repo, {"x.txt": message}, message)
    r = cli(
        *paired_run("--shard", "2/2", "-q", seed=7, report="", results="s2.json"),
        cwd=repo,
        env=_env(),
    )
    assert r.returncode == 0, r.stderr
    doc = _load(repo / "s2.json")
    assert doc["shard"]["seed"] == 7 and doc["git"]["mode"] == "paired" and len(doc["workloads"]) == 1
    w = doc["workloads"][0]
    assert w["base_samples"] and w["baseline"]["mode"] == "paired"
    # The sequential rule runs at alpha / k with k the whole suite (2 workloads), not this shard's one, so a
    # decision survives Holm once the shards are merged.
    assert sum(w["baseline"]["looks"]["alphas"]) == pytest.approx(0.05 / 2), w["baseline"]


def test_a_measure_block_on_each_rank_writes_its_own_results(tmp_path, monkeypatch):
    from carbon_gate import measure
    from carbon_gate.merge import merge
    from carbon_gate.meters.meter import MeterSettings

    docs = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        monkeypatch.setenv("CARBON_GATE_NODE", "n0")
        with measure(
            results=str(tmp_path / "rank{rank}.json"),
            name="train",
            grid_intensity=400,
            settings=MeterSettings(rapl="off", gpu="off"),
            units=10,
        ):
            sum(range(10_000))
        docs.append(_load(tmp_path / f"rank{rank}.json"))
    assert [d["rank"]["rank"] for d in docs] == [0, 1] and docs[0]["workloads"][0]["name"] == "train"
    job = merge(docs, ["rank0.json", "rank1.json"])
    jsonschema.validate(job, SCHEMA)
    [w] = job["workloads"]
    assert w["samples"][0]["units"] == 20  # each rank's own units, summed once
    # energy_wh is rounded to 1e-9 Wh in each file, and a short block draws little: compare to that precision
    assert w["energy_wh"] == pytest.approx(sum(d["workloads"][0]["energy_wh"] for d in docs), abs=3e-9)
