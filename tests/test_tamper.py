"""A pull request cannot loosen its own gate (docs/github.md).

Unit tests of the pure diff (`diff_configs`, `diff_baselines`, `effective_config`) on configs parsed
from real YAML, then `carbon-gate action` end to end in a git repository whose PR commit edits the
budget file: the guard reads the base commit's file with `git show`, shows the change in the report,
and blocks a loosening unless the approval label is on the PR (from the API when a token is given,
else from the event payload).
"""

from __future__ import annotations

import json
import textwrap

import pytest
from test_action import PY, SLEEP, config_text, make_repo, pr_event, run_action

from carbon_gate.assess.tamper import LimitChange, diff_baselines, diff_configs, effective_config
from carbon_gate.config import Config, parse

LABEL = "carbon-budget-approved"


def cfg(
    workloads: str = "", gate: str = "", grid: str = "  intensity: 400 g/kWh\n  source: test\n", baseline: str = ""
) -> Config:
    text = (
        "version: 1\ngrid:\n"
        + grid
        + (f"gate:\n{gate}" if gate else "")
        + (f"baseline:\n{baseline}" if baseline else "")
    )
    text += "workloads:\n" + textwrap.indent(textwrap.dedent(workloads).strip("\n"), "  ") + "\n"
    return parse(text, "carbon-gate.yml")


TRAIN = """\
- name: train
  command: python train.py --epochs 1
  tolerance: 5%
  unit: {name: epoch, count: 1}
  budget: {energy: 40 Wh, co2e: 15 g}
"""
EVAL = """\
- name: eval
  command: python eval.py
  budget: {energy: 2 Wh}
"""


def changes(base, head) -> dict[str, LimitChange]:
    return {c.what: c for c in diff_configs(base, head)}


def test_identical_configs_have_no_changes():
    assert diff_configs(cfg(TRAIN + EVAL), cfg(TRAIN + EVAL)) == []


@pytest.mark.parametrize(
    "head, what, before, after, loosened",
    [
        (TRAIN.replace("40 Wh", "80 Wh"), "train: budget.energy", "40 Wh", "80 Wh", True),  # raised
        (TRAIN.replace("40 Wh", "20 Wh"), "train: budget.energy", "40 Wh", "20 Wh", False),  # lowered
        (TRAIN.replace("energy: 40 Wh, ", ""), "train: budget.energy", "40 Wh", "none", True),  # removed
        (
            TRAIN.replace("co2e: 15 g", "co2e: 15 g, per_unit: {co2e: 10 g}"),
            "train: budget.per_unit.co2e",
            "none",
            "10 g",
            False,
        ),  # added
        (TRAIN.replace("15 g", "1.5 kg"), "train: budget.co2e", "15 g", "1.5 kg", True),
        (TRAIN.replace("tolerance: 5%", "tolerance: 8%"), "train: tolerance", "5.0%", "8.0%", True),
        (TRAIN.replace("tolerance: 5%", "tolerance: 2%"), "train: tolerance", "5.0%", "2.0%", False),
        (
            TRAIN.replace("--epochs 1", "--epochs 1 --dry-run"),
            "train: command",
            "python train.py --epochs 1",
            "python train.py --epochs 1 --dry-run",
            True,
        ),
        (TRAIN.replace("count: 1", "count: 4"), "train: unit", "1 epoch", "4 epoch", True),  # 4× the units per run
        (TRAIN + "  repeats: 2\n", "train: repeats", "5", "2", True),  # less power: a regression reads inconclusive
        (TRAIN + "  repeats: 9\n", "train: repeats", "5", "9", False),
    ],
)
def test_workload_limit_changes(head, what, before, after, loosened):
    found = changes(cfg(TRAIN), cfg(head))
    assert set(found) == {what}
    c = found[what]
    assert (c.before, c.after, c.loosened) == (before, after, loosened)
    assert c.to_dict() == {"what": what, "before": before, "after": after, "loosened": loosened}


def test_removed_workload_is_loosened_added_is_not():
    assert changes(cfg(TRAIN + EVAL), cfg(TRAIN))["workload eval"] == LimitChange(
        "workload eval", "present", "removed", True
    )
    assert changes(cfg(TRAIN), cfg(TRAIN + EVAL))["workload eval"] == LimitChange(
        "workload eval", "absent", "added", False
    )


def test_renaming_a_workload_is_a_removal():
    found = changes(cfg(TRAIN), cfg(TRAIN.replace("name: train", "name: train-v2")))
    assert found["workload train"].loosened is True
    assert found["workload train-v2"].loosened is False


def test_gate_settings():
    base = cfg(TRAIN, gate="  fail_on: [regression, over-budget, inconclusive]\n")
    fewer = changes(base, cfg(TRAIN, gate="  fail_on: [regression]\n"))["gate.fail_on"]
    assert fewer.loosened is True and fewer.after == "regression"
    more = changes(cfg(TRAIN, gate="  fail_on: [regression]\n"), base)["gate.fail_on"]
    assert more.loosened is False
    wider = changes(cfg(TRAIN, gate="  confidence: 0.9\n"), cfg(TRAIN, gate="  confidence: 0.99\n"))["gate.confidence"]
    assert wider.loosened is True
    assert (
        changes(cfg(TRAIN, gate="  confidence: 0.99\n"), cfg(TRAIN, gate="  confidence: 0.9\n"))[
            "gate.confidence"
        ].loosened
        is False
    )
    assert changes(cfg(TRAIN, gate="  family: none\n"), cfg(TRAIN, gate="  family: holm\n"))["gate.family"].loosened
    assert not changes(cfg(TRAIN, gate="  family: holm\n"), cfg(TRAIN, gate="  family: none\n"))["gate.family"].loosened


def test_grid_and_pue():
    base = cfg(TRAIN, grid="  intensity: 400 g/kWh\n  source: test\n  pue: 1.4\n")
    lower_pue = changes(base, cfg(TRAIN, grid="  intensity: 400 g/kWh\n  source: test\n  pue: 1.1\n"))
    assert lower_pue["grid.pue"] == LimitChange("grid.pue", "1.4", "1.1", True)
    higher_pue = changes(base, cfg(TRAIN, grid="  intensity: 400 g/kWh\n  source: test\n  pue: 1.6\n"))
    assert not any(c.loosened for c in higher_pue.values())
    lower_grid = changes(base, cfg(TRAIN, grid="  intensity: 50 g/kWh\n  source: test\n  pue: 1.4\n"))
    assert lower_grid["grid"].loosened is True
    country = changes(cfg(TRAIN, grid="  country: PL\n"), cfg(TRAIN, grid="  country: FR\n"))
    assert country["grid"].loosened is True and (country["grid"].before, country["grid"].after) == ("PL", "FR")


def test_a_pue_increase_is_listed_but_not_loosened():
    base = cfg(TRAIN, grid="  intensity: 400 g/kWh\n  source: test\n  pue: 1.1\n")
    found = changes(base, cfg(TRAIN, grid="  intensity: 400 g/kWh\n  source: test\n  pue: 1.5\n"))
    assert found["grid.pue"] == LimitChange("grid.pue", "1.1", "1.5", False)


def _machine(text: str) -> Config:
    return parse("version: 1\ngrid: {intensity: 400 g/kWh}\n" + text + "workloads:\n" + textwrap.indent(TRAIN, "  "))


# (where: a top-level section or a key of the workload, base text, PR text, the change, loosened)
_SETTINGS = [
    ("top", "", "machine: {embodied: off}\n", "machine.embodied", True),
    ("top", "", "machine: {profile: github-linux-x64-2vcpu}\n", "machine.profile", True),
    ("top", "", "machine: {dram: true}\n", "machine.dram", True),  # no rule of its own: any change counts
    ("top", "", "environment: {pass: [AWS_*]}\n", "environment.pass", True),
    ("top", "environment: {pass: [AWS_*]}\n", "environment: {pass: []}\n", "environment.pass", False),
    ("top", "environment: {secrets: [HF_TOKEN]}\n", "", "environment.secrets", True),
    ("top", "", "environment: {secrets: [HF_TOKEN]}\n", "environment.secrets", False),
    ("top", "baseline: {seed: 1}\n", "baseline: {seed: 2}\n", "baseline.seed", True),
    ("top", "baseline: {setup: make}\n", "baseline: {setup: make -k}\n", "baseline.setup", True),
    ("workload", "  extrapolate: {to: 90}\n", "  extrapolate: {to: 9}\n", "train: extrapolate.to", True),
    ("workload", "  extrapolate: {to: 9}\n", "  extrapolate: {to: 90}\n", "train: extrapolate.to", False),
    ("workload", "  extrapolate: {to: 9}\n", "", "train: extrapolate.to", True),
    ("workload", "", "  cwd: elsewhere\n", "train: cwd", True),
    ("workload", "", "  env: {FAST: '1'}\n", "train: env", True),
    ("workload", "  timeout: 10m\n", "  timeout: 1s\n", "train: timeout", True),
    ("workload", "  timeout: 1s\n", "  timeout: 10m\n", "train: timeout", False),
    ("workload", "  warmup: 3\n", "  warmup: 0\n", "train: warmup", True),
    ("workload", "  max_rounds: 60\n", "  max_rounds: 6\n", "train: max_rounds", True),
    ("workload", "  max_time: 60s\n", "  max_time: 5s\n", "train: max_time", True),
    ("workload", "", "  paths: [src/**]\n", None, False),  # pre-push selection only
]


@pytest.mark.parametrize(
    "base, head, what, loosened",
    [
        (_machine(b), _machine(h), w, lo) if where == "top" else (cfg(TRAIN + b), cfg(TRAIN + h), w, lo)
        for where, b, h, w, lo in _SETTINGS
    ],
)
def test_every_setting_that_can_change_a_number_is_compared(base, head, what, loosened):
    found = changes(base, head)
    assert set(found) == ({what} if what else set()), found
    if what:
        assert found[what].loosened is loosened


def test_edited_files_count_like_edited_settings():
    same = diff_configs(cfg(TRAIN), cfg(TRAIN), {"machine.profile file box.yml": ("a" * 64, "a" * 64)})
    assert same == []
    [edited] = diff_configs(cfg(TRAIN), cfg(TRAIN), {"machine.profile file box.yml": ("a" * 64, "b" * 64)})
    assert edited.loosened and edited.before == "sha256 aaaaaaaaaaaa"


@pytest.mark.parametrize(
    "before, after", [("{name: epoch, count: 1}", "{name: epoch}"), ("{name: epoch}", "{name: epoch, count: 1}")]
)
def test_unit_switched_to_reported_units(before, after):
    found = changes(
        cfg(TRAIN.replace("{name: epoch, count: 1}", before)), cfg(TRAIN.replace("{name: epoch, count: 1}", after))
    )
    assert found["train: unit"].loosened is True


def test_switching_the_baseline_off_is_loosened():
    base = cfg(TRAIN, baseline="  mode: paired\n")
    head = cfg(TRAIN, baseline="  mode: stored\n  file: nowhere.json\n")
    assert any(c.loosened for c in diff_configs(base, head))


@pytest.mark.parametrize(
    "before, after, loosened",
    [
        ("  mode: paired\n", "  mode: auto\n", False),  # in a PR auto compares paired
        ("  mode: auto\n", "  mode: paired\n", False),
        ("  mode: stored\n", "  mode: paired\n", False),  # the base commit itself, measured beside the PR
        ("  mode: auto\n", "  mode: stored\n", True),
        ("  mode: stored\n", "  mode: none\n", True),  # budgets only: no comparison at all
        ("  mode: none\n", "  mode: stored\n", False),
        ("  mode: paired\n  file: a.json\n", "  mode: paired\n  file: b.json\n", False),  # history only
        ("  mode: stored\n  file: a.json\n", "  mode: stored\n  file: b.json\n", True),
        ("  mode: auto\n  file: a.json\n", "  mode: auto\n  file: b.json\n", True),
    ],
)
def test_baseline_settings(before, after, loosened):
    found = diff_configs(cfg(TRAIN, baseline=before), cfg(TRAIN, baseline=after))
    assert found and all(c.what.startswith("baseline.") for c in found)
    assert any(c.loosened for c in found) is loosened


def test_effective_config_uses_the_base_baseline_settings():
    base = cfg(TRAIN, baseline="  mode: paired\n  file: a.json\n  setup: make base\n")
    head = cfg(TRAIN, baseline="  mode: stored\n  file: nowhere.json\n  setup: make head\n")
    eff = effective_config(base, head)
    assert (eff.baseline.mode, eff.baseline.file.as_posix()) == ("paired", "a.json")
    assert eff.baseline.setup == base.baseline.setup  # the PR's setup never runs in the base tree unapproved
    assert not [c for c in diff_configs(base, eff) if c.what.startswith("baseline.")]


def test_effective_config_keeps_the_base_limits():
    base = cfg(
        TRAIN + EVAL,
        gate="  fail_on: [regression, over-budget, error]\n",
        grid="  intensity: 400 g/kWh\n  source: test\n  pue: 1.3\n",
    )
    head_text = (
        TRAIN.replace("40 Wh", "400 Wh")
        .replace("tolerance: 5%", "tolerance: 50%")
        .replace("count: 1", "count: 9")
        .replace("--epochs 1", "--epochs 2")
        + "- name: new-one\n  command: python new.py\n  budget: {energy: 9 Wh}\n"
    )
    head = cfg(head_text, gate="  fail_on: [regression]\n", grid="  intensity: 1 g/kWh\n  source: test\n  pue: 1.0\n")
    eff = effective_config(base, head)
    by = {w.name: w for w in eff.workloads}
    assert list(by) == ["train", "new-one"]  # the PR's workloads (eval was removed: the guard reports it)
    assert by["train"].budget == base.workloads[0].budget
    assert by["train"].budget.energy_wh == pytest.approx(40)
    assert by["train"].tolerance == pytest.approx(0.05)
    assert by["train"].unit_count == 1
    assert by["train"].command == head.workloads[0].command  # what runs is the PR's code
    assert by["new-one"].budget.energy_wh == pytest.approx(9)  # a new workload brings its own limits
    assert eff.gate == base.gate and eff.grid == base.grid
    # against the base, what is left loosened is only what the guard blocks on its own: the removal and the command
    assert {c.what for c in diff_configs(base, eff) if c.loosened} == {"workload eval", "train: command"}


def _baseline(**medians) -> dict:
    return {
        "schema": "carbon-gate/baseline@1",
        "workloads": {n: {"summary": {"median_wh": m}, "samples_wh": [m]} for n, m in medians.items()},
    }


def test_diff_baselines():
    assert diff_baselines(_baseline(a=1.0), _baseline(a=1.0)) == []
    [up] = diff_baselines(_baseline(a=1.0), _baseline(a=1.5))
    assert up.what == "baseline a" and up.loosened is True and (up.before, up.after) == ("1 Wh", "1.5 Wh")
    [down] = diff_baselines(_baseline(a=1.0), _baseline(a=0.5))
    assert down.loosened is False
    [gone] = diff_baselines(_baseline(a=1.0, b=2.0), _baseline(a=1.0))
    assert gone.what == "baseline b" and gone.after == "removed" and gone.loosened
    assert [c.loosened for c in diff_baselines(_baseline(a=1.0), None)] == [True]  # the PR deleted the file
    assert diff_baselines(None, _baseline(a=1.0)) == []
    assert diff_baselines(_baseline(a=1.0), _baseline(a=1.0, b=3.0)) == []  # a new entry for a new workload


def test_diff_baselines_reads_the_samples_stored_mode_compares():
    """Stored mode compares with `samples_wh`; editing them (or the fingerprint, which makes a comparison
    only inconclusive) while leaving `summary` alone must not slip through."""

    def doc(samples, fingerprint="fp-1", median=1.0):
        return {
            "schema": "carbon-gate/baseline@1",
            "workloads": {"a": {"summary": {"median_wh": median}, "samples_wh": samples, "fingerprint": fingerprint}},
        }

    assert diff_baselines(doc([1.0, 1.0, 1.0]), doc([1.0, 1.0, 1.0])) == []
    [raised] = diff_baselines(doc([1.0, 1.0, 1.0]), doc([2.0, 2.0, 2.0]))  # summary untouched
    assert raised.what == "baseline a" and raised.loosened and (raised.before, raised.after) == ("1 Wh", "2 Wh")
    [lowered] = diff_baselines(doc([1.0, 1.0, 1.0]), doc([0.5, 0.5, 0.5]))
    assert not lowered.loosened
    [wider] = diff_baselines(doc([1.0, 1.0, 1.0]), doc([0.1, 1.0, 9.0]))  # same median, a much wider spread
    assert wider.what == "baseline a: samples" and wider.loosened
    [moved] = diff_baselines(doc([1.0, 1.0, 1.0]), doc([1.0, 1.0, 1.0], fingerprint="other machine"))
    assert moved.what == "baseline a: fingerprint" and moved.loosened
    # a slightly lower median must not hide a wider spread or a new fingerprint
    sneaky = {c.what: c for c in diff_baselines(doc([1.0, 1.0, 1.0]), doc([0.1, 0.99, 9.0], fingerprint="x"))}
    assert not sneaky["baseline a"].loosened
    assert sneaky["baseline a: samples"].loosened and sneaky["baseline a: fingerprint"].loosened
    # a malformed document never raises: it reads as no entries
    assert [c.loosened for c in diff_baselines(doc([1.0]), {"workloads": ["a"]})] == [True]
    assert diff_baselines({"workloads": {"a": "x"}}, doc([1.0])) == []


# --------------------------------------------------------------------------------------------------
# End to end: `carbon-gate action` in a repository whose PR edits carbon-gate.yml

LOW, HIGH = "0.001 mWh", "1 Wh"  # far below / far above a 50 ms sleep's ~50 µWh


def _guard_doc(run) -> dict:
    return run.results()["guard"]


def _report(run) -> str:
    return (run.root / "carbon-gate-report.md").read_text(encoding="utf-8")


@pytest.fixture
def raised_budget_repo(tmp_path):
    """The base's budget is below the measured median; the PR raises it far above."""
    return make_repo(
        tmp_path / "repo", config_text({"nap": (SLEEP, LOW)}, repeats=3), config_text({"nap": (SLEEP, HIGH)}, repeats=3)
    )


def test_raised_budget_without_the_label_fails(tmp_path, raised_budget_repo):
    run = run_action(raised_budget_repo, tmp_path, api_url=None, token=None)
    assert run.code == 1, run.log
    guard = _guard_doc(run)
    assert guard["blocked"] is True and guard["approved"] is False
    assert guard["changes"] == [{"what": "nap: budget.energy", "before": "1 µWh", "after": "1 Wh", "loosened": True}]
    doc = run.results()
    assert doc["verdict"] == "fail" and run.outputs["verdict"] == "fail"
    assert doc["workloads"][0]["verdict"] == "over-budget"  # gated with the base's 1 µWh
    assert doc["workloads"][0]["budget"]["limits"]["energy"] == pytest.approx(1e-6)
    report = _report(run)
    assert "Budget file changes in this pull request" in report
    assert "nap: budget.energy" in report and "1 µWh" in report and "1 Wh" in report
    assert f"`{LABEL}`" in report
    assert run.summary == report or run.summary.startswith(report[:200])


def labeled_event(tmp_path, repo, label: str = LABEL, sender: str = "octo-maintainer", labels=("bug", LABEL)):
    """GitHub's `pull_request` payload for the `labeled` action: who added `label` is its sender."""
    path = pr_event(tmp_path / "event.json", repo, labels=labels)
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(action="labeled", label={"name": label, "color": "ededed"}, sender={**data["sender"], "login": sender})
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_raised_budget_with_the_label_in_the_payload_passes(tmp_path, raised_budget_repo):
    event = labeled_event(tmp_path, raised_budget_repo)
    run = run_action(raised_budget_repo, tmp_path, api_url=None, token=None, event=event)
    assert run.code == 0, run.log
    guard = _guard_doc(run)
    assert guard["approved"] is True and guard["blocked"] is False
    assert guard["how"] == "labels from the event payload: added by octo-maintainer"
    doc = run.results()
    assert doc["verdict"] == "pass"
    assert doc["workloads"][0]["budget"]["limits"]["energy"] == pytest.approx(1.0)  # the approved, raised limit
    assert "Loosened limits accepted" in _report(run)  # the change is still shown


def test_without_a_token_the_payload_must_say_who_added_the_label(tmp_path, raised_budget_repo):
    run = run_action(raised_budget_repo, tmp_path, api_url=None, token=None, labels=("bug", LABEL))  # `opened`
    assert run.code == 1, run.log
    assert "only a `labeled` event says who added the label" in _guard_doc(run)["how"]
    event = labeled_event(tmp_path, raised_budget_repo, sender="Codertocat")  # the PR's own author
    run = run_action(raised_budget_repo, tmp_path, api_url=None, token=None, event=event)
    assert run.code == 1, run.log
    assert _guard_doc(run)["blocked"] is True and "cannot approve" in _guard_doc(run)["how"]


def test_a_different_approval_label(tmp_path, raised_budget_repo):
    def run_with(event):
        return run_action(
            raised_budget_repo, tmp_path, "--approve-label", "energy-ok", api_url=None, token=None, event=event
        )

    run = run_with(labeled_event(tmp_path, raised_budget_repo))
    assert run.code == 1  # the default label no longer approves
    run = run_with(labeled_event(tmp_path, raised_budget_repo, "energy-ok", labels=("energy-ok",)))
    assert run.code == 0, run.log


def test_labels_come_from_the_api_when_there_is_a_token(tmp_path, raised_budget_repo, github):
    """Added after the event: the API sees it, the payload does not. Removed after the event: the reverse."""
    github.labels = ["bug", LABEL]
    run = run_action(raised_budget_repo, tmp_path, "--comment", "always", api_url=github.base, labels=("bug",))
    assert run.code == 0, run.log
    assert _guard_doc(run)["how"] == "labels read through the API: added by octo-maintainer"
    assert github.calls("GET", f"{github.issue_path}/labels")
    github.labels = ["bug"]
    run = run_action(raised_budget_repo, tmp_path, "--comment", "always", api_url=github.base, labels=("bug", LABEL))
    assert run.code == 1, run.log
    assert _guard_doc(run)["blocked"] is True


def test_an_api_failure_does_not_approve(tmp_path, raised_budget_repo, github):
    """Fails closed: not even a `labeled` payload by a maintainer approves when the live read fails."""
    github.labels = ["bug", LABEL]
    github.fail("GET", f"{github.issue_path}/labels", *[500] * 20)
    run = run_action(
        raised_budget_repo,
        tmp_path,
        "--comment",
        "off",
        api_url=github.base,
        event=labeled_event(tmp_path, raised_budget_repo),
    )
    assert run.code == 1, run.log
    guard = _guard_doc(run)
    assert guard["approved"] is False and guard["blocked"] is True
    assert guard["how"].startswith("the approval label could not be read through the API")


@pytest.mark.parametrize("adder", ["Codertocat", "github-actions[bot]"])
def test_a_label_added_by_the_author_or_a_workflow_token_does_not_approve(tmp_path, raised_budget_repo, github, adder):
    """The timeline's `labeled` actor decides: the PR's author (Codertocat in the payload and the API) or any
    workflow's GITHUB_TOKEN cannot approve; a maintainer can."""
    github.labels = ["bug", LABEL]
    github.labeled_by = {LABEL: adder}
    run = run_action(raised_budget_repo, tmp_path, "--comment", "off", api_url=github.base, labels=("bug", LABEL))
    assert run.code == 1, run.log
    guard = _guard_doc(run)
    assert guard["blocked"] is True and f"added by {adder}" in guard["how"] and "cannot approve" in guard["how"]
    assert github.calls("GET", f"{github.issue_path}/timeline")
    github.labeled_by = {LABEL: "octo-maintainer"}
    run = run_action(raised_budget_repo, tmp_path, "--comment", "off", api_url=github.base, labels=("bug", LABEL))
    assert run.code == 0, run.log
    assert _guard_doc(run)["how"] == "labels read through the API: added by octo-maintainer"


def test_tightening_runs_with_the_prs_own_limits(tmp_path):
    repo = make_repo(
        tmp_path / "repo", config_text({"nap": (SLEEP, HIGH)}, repeats=3), config_text({"nap": (SLEEP, LOW)}, repeats=3)
    )
    run = run_action(repo, tmp_path, api_url=None, token=None)
    assert run.code == 1, run.log
    guard = _guard_doc(run)
    assert guard["blocked"] is False
    assert guard["changes"] == [{"what": "nap: budget.energy", "before": "1 Wh", "after": "1 µWh", "loosened": False}]
    assert run.results()["workloads"][0]["verdict"] == "over-budget"


def test_tightening_report_says_whose_limits_applied(tmp_path):
    repo = make_repo(
        tmp_path / "repo", config_text({"nap": (SLEEP, HIGH)}, repeats=2), config_text({"nap": (SLEEP, LOW)}, repeats=2)
    )
    run = run_action(repo, tmp_path, api_url=None, token=None)
    assert run.code == 1
    assert "base commit's limits were applied" not in _report(run)
    assert "this pull request's own limits were applied" in _report(run)


def test_removing_a_workload_is_blocked(tmp_path):
    repo = make_repo(
        tmp_path / "repo",
        config_text({"nap": (SLEEP, HIGH), "doze": (SLEEP, LOW)}, repeats=2),
        config_text({"nap": (SLEEP, HIGH)}, repeats=2),
    )
    run = run_action(repo, tmp_path, api_url=None, token=None)
    assert run.code == 1, run.log
    assert _guard_doc(run)["blocked"] is True
    assert [w["verdict"] for w in run.results()["workloads"]] != ["over-budget"]  # the failure is the guard's
    assert "workload doze" in _report(run)


def test_a_pr_that_adds_the_gate_uses_its_own_limits(tmp_path):
    repo = make_repo(tmp_path / "repo", None, config_text({"nap": (SLEEP, HIGH)}, repeats=2))
    run = run_action(repo, tmp_path, api_url=None, token=None)
    assert run.code == 0, run.log
    assert any("introduces the gate" in n for n in run.results()["notes"])
    assert run.results()["guard"]["changes"] == []


WORK = "import time; time.sleep({})\n"


def _regressing_repo(tmp_path, head_baseline: str):
    """Base: work.py sleeps 0.05 s. PR: it sleeps 0.3 s (about 3x the energy), and the budget file's
    `baseline:` becomes `head_baseline`."""

    def text(baseline: str) -> str:
        return textwrap.dedent(f"""\
            version: 1
            grid: {{intensity: 400 g/kWh, source: test}}
            defaults: {{repeats: 6, warmup: 0, timeout: 1m, tolerance: 5%}}
            baseline: {baseline}
            workloads:
              - name: work
                command: [{json.dumps(PY)}, work.py]
                budget: {{energy: 1 Wh}}
            """)

    return make_repo(
        tmp_path / "repo",
        text("{mode: auto}"),
        text(head_baseline),
        base_files={"work.py": WORK.format(0.05)},
        head_files={"work.py": WORK.format(0.3)},
    )


def test_a_real_regression_is_caught_paired(tmp_path):
    repo = _regressing_repo(tmp_path, "{mode: auto}")
    run = run_action(repo, tmp_path, api_url=None, token=None)
    assert run.code == 1, run.log
    [w] = run.results()["workloads"]
    assert w["verdict"] == "regression", w["reasons"]
    assert run.results()["guard"]["changes"] == []


def test_switching_the_baseline_off_in_the_pr_does_not_hide_a_regression(tmp_path):
    repo = _regressing_repo(tmp_path, "{mode: stored, file: nowhere.json}")
    run = run_action(repo, tmp_path, api_url=None, token=None)
    assert run.code == 1, run.log
    doc = run.results()
    assert doc["guard"]["blocked"] is True
    [w] = doc["workloads"]
    # not just blocked: run paired with the base's settings, the regression itself is caught
    assert w["baseline"]["mode"] == "paired" and w["verdict"] == "regression", w["reasons"]


def test_switching_to_reported_units_does_not_crash_the_action(tmp_path):
    base = config_text({"nap": (SLEEP, HIGH)}, repeats=2).replace(
        "    budget:", "    unit: {name: sample, count: 1}\n    budget:"
    )
    head = base.replace("{name: sample, count: 1}", "{name: sample}")
    run = run_action(make_repo(tmp_path / "repo", base, head), tmp_path, api_url=None, token=None)
    assert "Traceback" not in run.log, run.log
    assert run.summary.startswith("<!-- carbon-gate-report -->")
    assert run.results()["guard"]["changes"]


def test_an_invalid_budget_file_at_the_base_does_not_block_the_fix(tmp_path):
    head = config_text({"nap": (SLEEP, HIGH)}, repeats=2)
    base = head.replace("  warmup: 0", "  warmpu: 0")  # a typo merged on the default branch
    run = run_action(make_repo(tmp_path / "repo", base, head), tmp_path, api_url=None, token=None)
    assert run.code == 0, run.log
    assert run.summary.startswith("<!-- carbon-gate-report -->")
    doc = run.results()
    assert doc["guard"]["blocked"] is False
    assert any("is invalid" in n and "own limits" in n for n in doc["notes"]), doc["notes"]
