"""examples/workflows/carbon-gate-sharded.yml, its steps driven by hand: act cannot run a matrix with
artifacts offline (upload/download-artifact need the Actions artifact service), so this test runs what
each job runs. Each matrix job: `carbon-gate action` (stages measure + publish, as action.yml runs
them) with the workflow's `shard:` input; its results land where download-artifact puts them
(<dir>/<artifact name>/carbon-gate-results.json). The merge job: the action with the workflow's `merge:`
glob, against the stand-in GitHub API: one gate, one sticky comment. The shard count, artifact names
and glob are read from the workflow file, so a change there is tested here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from test_action import SLEEP, config_text, make_repo, run_action

from carbon_gate.render.markdown import MARKER

WORKFLOW = Path(__file__).resolve().parents[1] / "examples" / "workflows" / "carbon-gate-sharded.yml"


def _steps(job: dict) -> list[dict]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith("carbon-gate/carbon-gate")]


def test_sharded_workflow_gates_and_comments_once(tmp_path, github):
    flow = yaml.safe_load(WORKFLOW.read_text())
    shard_job, merge_job = flow["jobs"]["shard"], flow["jobs"]["merge"]
    matrix = shard_job["strategy"]["matrix"]["shard"]
    [shard_step], [merge_step] = _steps(shard_job), _steps(merge_job)
    upload = next(s for s in shard_job["steps"] if "upload-artifact" in str(s.get("uses")))
    assert merge_job["needs"] == "shard" and "!cancelled()" in merge_job["if"]

    names = {f"w{i}": (SLEEP, "1 Wh") for i in range(1, 7)}
    names["w6"] = (SLEEP, "0.001 mWh")  # over budget, wherever it lands
    repo = make_repo(tmp_path / "repo", config_text(names, mode="none", repeats=2))
    artifacts = tmp_path / "shards"
    for i in matrix:
        shard = shard_step["with"]["shard"].replace("${{ matrix.shard }}", str(i))
        args = ("--shard", shard, "--comment", shard_step["with"]["comment"])
        measure = run_action(repo, tmp_path, *args, "--stage", "measure", api_url=github.base)
        assert measure.code == 0, measure.log
        publish = run_action(repo, tmp_path, *args, "--stage", "publish", api_url=github.base)
        assert publish.code == 0, publish.log  # a shard never fails on verdicts: the merge job gates
        assert "the merge job posts" in publish.log
        name = upload["with"]["name"].replace("${{ matrix.shard }}", str(i))
        (artifacts / name).mkdir(parents=True)
        shutil.copy(repo.root / upload["with"]["path"], artifacts / name / "carbon-gate-results.json")
    assert github.calls("POST") == []

    pattern = merge_step["with"]["merge"].replace("${{ runner.temp }}/shards", str(artifacts))
    run = run_action(repo, tmp_path, "--merge", pattern, "--stage", "measure", api_url=github.base)
    assert run.code == 0, run.log
    run = run_action(repo, tmp_path, "--merge", pattern, "--stage", "publish", api_url=github.base)
    assert run.code == 1, run.log  # w6 over budget
    doc = run.results()
    assert sorted(w["name"] for w in doc["workloads"]) == sorted(names)
    assert {w["name"]: w["verdict"] for w in doc["workloads"]}["w6"] == "over-budget"
    assert [s["id"] for s in doc["shards"]] == [f"{i}/{len(matrix)}" for i in matrix]
    assert run.outputs["verdict"] == "fail"
    [create] = github.calls("POST")
    assert create["json"]["body"].startswith(MARKER) and "w6" in create["json"]["body"]

    # A shard whose artifact never arrived: the suite is `error`, naming it.
    shutil.rmtree(artifacts / upload["with"]["name"].replace("${{ matrix.shard }}", "2"))
    run = run_action(repo, tmp_path, "--merge", pattern, "--stage", "measure", api_url=github.base)
    run = run_action(repo, tmp_path, "--merge", pattern, "--stage", "publish", api_url=github.base)
    assert run.code == 3 and run.outputs["verdict"] == "error"
    assert any(f"shard 2/{len(matrix)} is missing" in n for n in run.results()["notes"])
    assert json.loads((repo.root / "carbon-gate-pr.json").read_text())["head_sha"] == repo.head
