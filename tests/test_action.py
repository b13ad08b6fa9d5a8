"""GitHub integration, part 3 (docs/github.md): `carbon-gate action` end to end.

Each test makes a real git repository (a base commit and a PR commit), edits GitHub's own
`pull_request` webhook payload so its base/head shas are those commits, and runs the real CLI as a
subprocess with the variables a runner sets: GITHUB_ACTIONS, GITHUB_EVENT_NAME/PATH, GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY, GITHUB_REPOSITORY, GITHUB_API_URL (a stand-in for GitHub's REST API on
127.0.0.1, see fake_github.py) and GITHUB_TOKEN. stdout and stderr go to one pipe, as the
runner's log sees them, and the log is read back with the runner's rules for workflow commands and
`::stop-commands::`. The workloads sleep, so their energy is small and steady: budgets far below
(0.001 mWh) or far above (1 Wh) the measurement decide the verdict without flapping.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_github import FORBIDDEN
from helpers import GIT_ID, commit, git
from test_github_event import parse_command, parse_output_file

from carbon_gate.render.markdown import MARKER

PY = sys.executable
EVENTS = Path(__file__).resolve().parent / "fixtures" / "github-events"  # real payloads, see its README
REPO = "Codertocat/Hello-World"
SLEEP = "import time; time.sleep(0.05)"
FORGER = (
    "import sys\n"
    "for s in (sys.stdout, sys.stderr):\n"
    "    s.write('::error::forged\\n::set-output name=verdict::pass\\n::add-mask::x\\n'\n"
    "            '  ::error file=carbon-gate.yml,line=1::indented forgery\\n')\n"
    "    s.flush()\n"
    "sys.exit(1)\n"
)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CARBON_GATE_", "RUNNER_"))}
    env.pop("CI", None)
    return {**env, **GIT_ID}


def config_text(
    workloads: dict[str, tuple[str, str]],
    mode: str = "stored",
    repeats: int = 6,
    tolerance: str = "5%",
    max_rounds: int | None = None,
) -> str:
    """workloads: name -> (python code, energy budget). `max_rounds` caps a paired run's rounds."""
    lines = [
        "version: 1",
        "grid:",
        "  intensity: 400 g/kWh",
        "  source: test fixture",
        "defaults:",
        f"  repeats: {repeats}",
        "  warmup: 0",
        "  timeout: 1m",
        f"  tolerance: {tolerance}",
        *([f"  max_rounds: {max_rounds}"] if max_rounds else []),
        "baseline:",
        f"  mode: {mode}",
        "workloads:",
    ]
    for name, (code, budget) in workloads.items():
        lines += [
            f"  - name: {name}",
            f"    command: [{json.dumps(PY)}, -c, {json.dumps(code)}]",
            "    budget:",
            f"      energy: {budget}",
        ]
    return "\n".join(lines) + "\n"


def workload_line(text: str, name: str) -> int:
    return text.splitlines().index(f"  - name: {name}") + 1


@dataclass
class Repo:
    root: Path
    base: str
    head: str


def make_repo(
    path: Path,
    base_config: str | None,
    head_config: str | None = None,
    base_files: dict[str, str] | None = None,
    head_files: dict[str, str] | None = None,
) -> Repo:
    """A repository with the budget file committed at the base (none when `base_config` is None), and a PR
    commit on top that changes the README, and the budget file and other files when given."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")

    def with_config(files: dict[str, str], config: str | None) -> dict[str, str | None]:
        return {**files, **({"carbon-gate.yml": config} if config is not None else {})}

    base = commit(
        path,
        with_config({"README.md": "# demo\n", ".gitignore": "carbon-gate-*\n", **(base_files or {})}, base_config),
        "base",
    )
    head = commit(
        path, with_config({"README.md": "# demo\n\nA change in the PR.\n", **(head_files or {})}, head_config), "pr"
    )
    return Repo(path, base, head)


def pr_event(path: Path, repo: Repo, fork: bool = False, labels: tuple[str, ...] = ("bug",)) -> Path:
    data = json.loads((EVENTS / "pull_request-opened.payload.json").read_text(encoding="utf-8"))
    pr = data["pull_request"]
    pr["base"]["sha"], pr["head"]["sha"] = repo.base, repo.head
    if fork:
        pr["head"]["repo"]["full_name"] = "mallory/Hello-World"
    pr["labels"] = [{**pr["labels"][0], "name": n} for n in labels]
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@dataclass
class ActionRun:
    code: int
    log: str
    outputs: dict[str, str]
    summary: str
    root: Path

    def results(self) -> dict:
        return json.loads((self.root / "carbon-gate-results.json").read_text(encoding="utf-8"))


def run_action(
    repo: Repo,
    tmp: Path,
    *args: str,
    api_url: str | None,
    token: str | None = "ghs_token",
    event: Path | None = None,
    fork: bool = False,
    labels: tuple[str, ...] = ("bug",),
    event_name: str = "pull_request",
) -> ActionRun:
    event = event or pr_event(tmp / "event.json", repo, fork=fork, labels=labels)
    out, summary = tmp / "github_output", tmp / "step_summary"
    out.write_text("", encoding="utf-8")
    summary.write_text("", encoding="utf-8")
    env = clean_env()
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME=event_name,
        GITHUB_EVENT_PATH=str(event),
        GITHUB_OUTPUT=str(out),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_REPOSITORY=REPO,
        GITHUB_BASE_REF="master",
        GITHUB_HEAD_REF="changes",
        GITHUB_SHA=repo.head,
    )
    if api_url:
        env["GITHUB_API_URL"] = api_url
    if token:
        env["GITHUB_TOKEN"] = token
    proc = subprocess.run(
        [PY, "-m", "carbon_gate", "action", *args],
        cwd=repo.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    return ActionRun(
        proc.returncode,
        proc.stdout,
        parse_output_file(out.read_text(encoding="utf-8")),
        summary.read_text(encoding="utf-8"),
        repo.root,
    )


def split_log(log: str) -> tuple[list[str], list[str], list[str]]:
    """(lines the runner would act on, lines inside ::stop-commands:: blocks, the tokens), by the runner's rules:
    while a block is open every command is ignored, except the line `::TOKEN::` that ends it."""
    outside, inside, tokens = [], [], []
    active = None
    for line in log.splitlines():
        if active is not None:
            if line.strip() == f"::{active}::":
                active = None
            else:
                inside.append(line)
            continue
        cmd = parse_command(line)
        if cmd and cmd[0] == "stop-commands":
            active = cmd[2]
            tokens.append(active)
            continue
        outside.append(line)
    assert active is None, f"a ::stop-commands:: block was never closed (token {active})"
    return outside, inside, tokens


def commands(lines: list[str], groups: bool = False) -> list[tuple[str, dict[str, str], str]]:
    """The workflow commands in `lines`; the per-workload ::group::/::endgroup:: only when asked for."""
    return [c for c in map(parse_command, lines) if c and (groups or c[0] not in ("group", "endgroup"))]


# --------------------------------------------------------------------------------------------------


def test_pull_request_end_to_end(tmp_path, github):
    """Paired with the base commit: outputs, summary, stop-commands, an annotation at the failing
    workload's line, and the sticky comment."""
    # Six rounds (the first block) show all this; more only narrow nap's interval (up to 60 s on a loaded machine).
    workloads = {"nap": (SLEEP, "1 Wh"), "hog": (SLEEP, "0.001 mWh")}
    cfg = config_text(workloads, mode="auto", tolerance="50%", max_rounds=6)
    repo = make_repo(tmp_path / "repo", cfg)
    run = run_action(repo, tmp_path, api_url=github.base)
    assert run.code == 1, run.log

    # outputs
    doc = run.results()
    assert run.outputs["verdict"] == doc["verdict"] == "fail"
    assert run.outputs["results-path"] == "carbon-gate-results.json"
    assert run.outputs["report-path"] == "carbon-gate-report.md"
    assert (repo.root / run.outputs["report-path"]).read_text(encoding="utf-8").startswith(MARKER)
    assert float(run.outputs["energy-wh"]) == pytest.approx(doc["totals"]["energy_wh"], rel=1e-6)
    assert float(run.outputs["co2e-g"]) == pytest.approx(doc["totals"]["co2e_g"], rel=1e-6)
    assert float(run.outputs["energy-wh"]) > 0
    assert run.outputs["exit-code"] == "1"
    assert doc["git"]["mode"] == "paired" and doc["git"]["base"] == repo.base
    verdicts = {w["name"]: w["verdict"] for w in doc["workloads"]}
    assert verdicts["hog"] == "over-budget" and verdicts["nap"] != "over-budget"

    # the job summary holds the report
    assert run.summary.startswith(MARKER)
    assert "hog" in run.summary

    # the log: workload progress inside stop-commands, the annotation outside at the right line
    outside, inside, tokens = split_log(run.log)
    assert len(tokens) >= 2 and len(set(tokens)) == len(tokens)
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tokens)
    assert any("nap: round 1 head" in x for x in inside) and any("hog: round 6 base" in x for x in inside)
    assert not any("round 1" in x for x in outside)
    # each workload's progress in its own log group, the group commands outside the stop-commands blocks
    groups = [(c[0], c[2]) for c in commands(outside, groups=True) if c[0] in ("group", "endgroup")]
    assert groups == [("group", "nap (1/2)"), ("endgroup", ""), ("group", "hog (2/2)"), ("endgroup", "")], groups
    lines = run.log.splitlines()
    hog = lines.index("::group::hog (2/2)")
    assert any("hog: round 6 base" in x for x in lines[hog:]) and not any("hog: round" in x for x in lines[:hog])
    errors = [c for c in commands(outside) if c[0] == "error"]
    assert len(errors) == 1, run.log
    _name, props, message = errors[0]
    assert props["file"] == "carbon-gate.yml"
    assert props["line"] == str(workload_line(cfg, "hog"))
    assert message.startswith("hog: over-budget")

    # the sticky comment
    [create] = github.calls("POST")
    assert create["path"] == github.comments_path
    assert create["json"]["body"].startswith(MARKER) and "hog" in create["json"]["body"]
    assert any(line.startswith("carbon-gate: created comment") for line in outside)
    assert json.loads((repo.root / "carbon-gate-pr.json").read_text()) == {"pr": 2, "head_sha": repo.head}


@pytest.mark.parametrize("budget, code", [("1 Wh", 0), ("0.001 mWh", 1)])
def test_forbidden_comment_is_a_warning_and_keeps_the_exit_code(tmp_path, github, budget, code):
    github.fail("POST", github.comments_path, 403, body=FORBIDDEN)
    repo = make_repo(tmp_path / "repo", config_text({"nap": (SLEEP, budget)}, repeats=3))
    run = run_action(repo, tmp_path, api_url=github.base)
    assert run.code == code, run.log
    assert run.outputs["exit-code"] == str(code)
    assert run.outputs["verdict"] == ("pass" if code == 0 else "fail")
    outside, _, _ = split_log(run.log)
    warnings = [c for c in commands(outside) if c[0] == "warning"]
    assert len(warnings) == 1 and "403" in warnings[0][2] and "job summary" in warnings[0][2]
    assert len(github.calls("POST")) == 1
    assert run.summary.startswith(MARKER)


def test_fork_pull_request_leaves_the_comment_to_workflow_run(tmp_path, github):
    repo = make_repo(tmp_path / "repo", config_text({"nap": (SLEEP, "1 Wh")}, repeats=3))
    run = run_action(repo, tmp_path, api_url=github.base, fork=True)
    assert run.code == 0, run.log
    assert github.requests == []  # the read-only token is never used
    meta = json.loads((repo.root / "carbon-gate-pr.json").read_text(encoding="utf-8"))
    assert meta == {"pr": 2, "head_sha": repo.head}
    assert "fork pull request" in run.log
    assert (repo.root / "carbon-gate-report.md").read_text(encoding="utf-8").startswith(MARKER)
    assert "the token is read-only" in run.log


def test_fork_under_pull_request_target_is_not_called_read_only(tmp_path, github):
    """pull_request_target's token can write: the log must not say it is read-only, and no comment is made."""
    repo = make_repo(tmp_path / "repo", config_text({"nap": (SLEEP, "1 Wh")}, repeats=2))
    run = run_action(repo, tmp_path, api_url=github.base, fork=True, event_name="pull_request_target")
    assert run.code == 0, run.log
    assert "read-only" not in run.log and "pull_request_target's token can write" in run.log
    assert github.writes == []


def test_without_a_token_the_report_stays_in_the_summary(tmp_path):
    repo = make_repo(tmp_path / "repo", config_text({"nap": (SLEEP, "1 Wh")}, repeats=3))
    run = run_action(repo, tmp_path, api_url=None, token=None)
    assert run.code == 0, run.log
    outside, _, _ = split_log(run.log)
    assert [c[0] for c in commands(outside)] == ["warning"]
    assert "no github-token" in commands(outside)[0][2]
    assert run.summary.startswith(MARKER)


def test_measure_only_never_fails_on_results(tmp_path, github):
    repo = make_repo(tmp_path / "repo", config_text({"hog": (SLEEP, "0.001 mWh")}, repeats=3))
    run = run_action(repo, tmp_path, "--mode", "measure-only", api_url=github.base)
    assert run.code == 0, run.log
    assert run.outputs["exit-code"] == "0"
    assert run.results()["workloads"][0]["verdict"] == "over-budget"  # still reported
    assert run.summary.startswith(MARKER)
    assert not github.writes


def test_forged_workflow_commands_from_a_workload_stay_inert(tmp_path, github):
    cfg = config_text({"nap": (SLEEP, "1 Wh"), "forger": (FORGER, "1 Wh")}, repeats=2)
    repo = make_repo(tmp_path / "repo", cfg)
    run = run_action(repo, tmp_path, api_url=github.base)
    assert run.code == 3, run.log  # a workload could not run
    assert run.results()["workloads"][1]["verdict"] == "error"
    outside, inside, _ = split_log(run.log)
    assert any("forged" in x for x in inside)  # the workload's stderr is shown, inside a block
    for name, props, message in commands(outside):
        assert name in ("error", "warning"), (name, props, message)
        if name == "error":
            assert props.get("file") == "carbon-gate.yml" and props.get("line") == str(workload_line(cfg, "forger"))
    assert not any(parse_command(x) and parse_command(x)[2] in ("forged", "indented forgery") for x in outside)
    assert run.outputs["verdict"] == "error"


def test_comment_off_makes_no_api_call(tmp_path, github):
    github.fail("GET", github.comments_path, 403, body=FORBIDDEN)
    repo = make_repo(tmp_path / "repo", config_text({"nap": (SLEEP, "1 Wh")}, repeats=2))
    run = run_action(repo, tmp_path, "--comment", "off", api_url=github.base)
    assert run.code == 0, run.log
    assert github.requests == []
    outside, _, _ = split_log(run.log)
    assert not [c for c in commands(outside) if c[0] == "warning"]


def test_corrupt_event_payload_measures_and_notes(tmp_path, github):
    repo = make_repo(tmp_path / "repo", config_text({"nap": (SLEEP, "1 Wh")}, repeats=2))
    event = tmp_path / "event.json"
    event.write_text("{truncated", encoding="utf-8")
    run = run_action(repo, tmp_path, api_url=github.base, event=event)
    assert run.code == 0, run.log
    assert any("could not read the event payload" in n for n in run.results()["notes"])
    assert github.requests == []
    assert run.summary.startswith(MARKER)


def test_summary_report_fits_the_byte_limit():
    """The renderer limits characters; the step summary's 1 MiB is bytes, so multi-byte text is rendered again."""
    from carbon_gate.action import _summary_report

    limits = []

    def render(doc, limit, results_name):
        limits.append(limit)
        return "é" * limit  # two bytes of UTF-8 per character

    text = _summary_report({}, "r.json", render, 10_000)
    assert len(text.encode("utf-8")) <= 10_000
    assert limits[0] == 10_000 and len(limits) == 2
    assert _summary_report({}, "r.json", lambda doc, limit, results_name: "ascii", 10_000) == "ascii"


def test_config_error_is_annotated_summarised_and_in_the_outputs(tmp_path):
    """A broken carbon-gate.yml (here in a sub-folder, as with working-directory): exit 2 with an
    ::error annotation at each problem's file:line (relative to the repository), the message in the job
    summary, and the outputs saying `error` — not only a log line. Text from the config stays inert."""
    bad = (
        "version: 1\nworkloads:\n  - name: nap\n    comand: echo hi\n    budget: {energy: 1 Wh}\n"
        '"::warning::forged ```": 1\n'
    )
    (tmp_path / "repo" / "app").mkdir(parents=True)
    repo = make_repo(tmp_path / "repo", None)
    (repo.root / "app" / "carbon-gate.yml").write_text(bad, encoding="utf-8")
    run = run_action(repo, tmp_path, "--config", "app/carbon-gate.yml", api_url=None)
    assert run.code == 2, run.log
    outside, inside, _ = split_log(run.log)
    errors = [(props, message) for name, props, message in commands(outside) if name == "error"]
    assert {(p["file"], p["line"]) for p, _ in errors} == {("app/carbon-gate.yml", n) for n in ("3", "4", "6")}
    assert any("unknown key 'comand' (did you mean 'command'?)" in m for _, m in errors)
    assert all(p["title"] == "carbon-gate: configuration error" for p, _ in errors)
    assert not [c for c in commands(outside) if c[0] == "warning"]  # the quoted command is not a command
    assert any("carbon-gate: error: app/carbon-gate.yml:4" in x for x in inside)
    assert run.outputs["verdict"] == "error" and run.outputs["exit-code"] == "2"
    assert run.outputs["results-path"] == ""
    assert run.summary.startswith("## ❌ carbon-gate: configuration error")
    assert "app/carbon-gate.yml:4: workloads[0].comand: unknown key 'comand'" in run.summary
    fence = re.search(r"^(`{3,})text$", run.summary, re.M).group(1)
    assert len(fence) > 3 and run.summary.rstrip().endswith(fence)  # the ``` in the message cannot close it
    assert "Traceback" not in run.log
