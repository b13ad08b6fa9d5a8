"""What pull-request code sees of the gate's environment (meters/environ.py).

End to end: `carbon-gate action` runs with the variables a runner sets for the action's step (the
token as GITHUB_TOKEN and INPUT_GITHUB-TOKEN, ACTIONS_* tokens, the runner's command files); a
workload and `baseline.setup`, run paired in both trees, dump their whole environment to files,
and none of the scrubbed names is there, nor a variable the config names as a secret, while an
allowed one is.
"""

from __future__ import annotations

import json
import textwrap

from test_action import PY, make_repo, run_action

from carbon_gate.meters.environ import EnvironmentSettings, is_passed, workload_environ

SCRUBBED = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "INPUT_GITHUB-TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_CACHE_URL",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_OUTPUT",
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_STATE",
    "GITHUB_EVENT_PATH",
    "DEPLOY_TOKEN_FOR_TESTS",
    "CG_TEST_SECRET",
)


def test_allow_list_and_secrets():
    settings = EnvironmentSettings(passes=("CG_TEST_*", "GITHUB_TOKEN", "INPUT_*"), secrets=("CG_TEST_SECRET",))
    parent = {
        "PATH": "/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "CG_TEST_OK": "1",
        "CG_TEST_SECRET": "s",
        "GITHUB_TOKEN": "ghs_x",
        "INPUT_GITHUB-TOKEN": "ghs_x",
        "AWS_SECRET_ACCESS_KEY": "k",
        "GITHUB_ACTIONS": "true",
    }
    env = workload_environ(settings, parent)
    # the config may extend the allow-list, never to the token, inputs or a name it calls secret
    assert env == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "CG_TEST_OK": "1", "GITHUB_ACTIONS": "true"}
    assert not is_passed("AWS_SECRET_ACCESS_KEY")  # not on the default list: an allow-list, not a deny-list
    assert is_passed("AWS_SECRET_ACCESS_KEY", EnvironmentSettings(passes=("AWS_*",)))
    assert not is_passed("AWS_SECRET_ACCESS_KEY", EnvironmentSettings(passes=("AWS_*",), secrets=("*SECRET*",)))


def test_live_grid_key_variables_never_reach_workloads():
    from carbon_gate.config import parse

    cfg = parse(
        "version: 1\ngrid:\n  country: DE\n  provider: electricitymaps\n  key_env: CARBON_GATE_EM_KEY\n"
        "workloads:\n  - name: a\n    command: x\n"
    )
    parent = {
        "PATH": "/bin",
        "CARBON_GATE_FAST": "1",
        "CARBON_GATE_EM_KEY": "k",
        "ELECTRICITYMAPS_API_KEY": "k",
        "WATTTIME_PASSWORD": "p",
    }
    # CARBON_GATE_* passes by default, but the name the config gives the key is a secret
    assert workload_environ(cfg.environment, parent) == {"PATH": "/bin", "CARBON_GATE_FAST": "1"}
    assert not is_passed("ELECTRICITYMAPS_API_KEY", EnvironmentSettings(passes=("*",)))


DUMP = "import json, os, sys; open(sys.argv[1], 'a').write(json.dumps(dict(os.environ)) + '\\n')\n"


def test_workloads_and_setup_under_the_action_see_no_scrubbed_names(tmp_path, monkeypatch):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    config = textwrap.dedent(f"""\
        version: 1
        grid: {{intensity: 400 g/kWh, source: test}}
        defaults: {{repeats: 2, warmup: 0, timeout: 1m, tolerance: 500%}}
        environment:
          pass: ["CG_TEST_*", GITHUB_TOKEN, "INPUT_*"]
          secrets: [CG_TEST_SECRET]
        baseline:
          mode: auto
          setup: [{json.dumps(PY)}, dump.py, {json.dumps(str(dumps / "setup.jsonl"))}]
        workloads:
          - name: dump
            command: [{json.dumps(PY)}, dump.py, {json.dumps(str(dumps / "workload.jsonl"))}]
            env: {{CG_FROM_CONFIG: "yes"}}
            budget: {{energy: 1 Wh}}
        """)
    repo = make_repo(tmp_path / "repo", config, base_files={"dump.py": DUMP})
    for name in SCRUBBED:
        monkeypatch.setenv(name, f"leaked-{name}")
    monkeypatch.setenv("CG_TEST_ALLOWED", "fine")
    run = run_action(repo, tmp_path, api_url=None, token="ghs_secret_token_value")
    assert run.code == 0, run.log
    assert run.results()["git"]["mode"] == "paired"
    seen = {
        kind: [json.loads(line) for line in (dumps / f"{kind}.jsonl").read_text().splitlines()]
        for kind in ("workload", "setup")
    }
    assert len(seen["setup"]) == 2 and len(seen["workload"]) >= 4  # both trees, both sides of every round
    for kind, envs in seen.items():
        for env in envs:
            assert not set(SCRUBBED) & set(env), (kind, sorted(set(SCRUBBED) & set(env)))
            assert "ghs_secret_token_value" not in json.dumps(env)
            assert env["CG_TEST_ALLOWED"] == "fine" and env["GITHUB_ACTIONS"] == "true"
    assert all(env["CG_FROM_CONFIG"] == "yes" for env in seen["workload"])


PARENT = (
    "import os, sys\n"
    "parent = open(f'/proc/{os.getppid()}/environ', 'rb').read()\n"
    "open(sys.argv[1], 'ab').write(parent + b'\\n---\\n')\n"
)


def test_the_measure_stage_holds_no_token_for_a_workload_to_read(tmp_path, github, monkeypatch):
    """As action.yml runs it: `--stage measure` without the token, then `--stage publish` with it. A workload
    reading its parent's /proc/PID/environ (same user, so allowed) finds no token; the publish stage still
    reads the approval label live and comments."""
    out = tmp_path / "parent.bin"
    config = textwrap.dedent(f"""\
        version: 1
        grid: {{intensity: 400 g/kWh, source: test}}
        defaults: {{repeats: 2, warmup: 0, timeout: 1m}}
        baseline: {{mode: none}}
        workloads:
          - name: peek
            command: [{json.dumps(PY)}, peek.py, {json.dumps(str(out))}]
            budget: {{energy: 1 Wh}}
        """)
    repo = make_repo(tmp_path / "repo", config, config.replace("1 Wh", "2 Wh"), base_files={"peek.py": PARENT})
    monkeypatch.setenv("ACTIONS_RUNTIME_TOKEN", "leaked-runtime-token")  # the runner sets it in every step
    github.labels = ["bug", "carbon-budget-approved"]
    fetch = run_action(repo, tmp_path, "--stage", "fetch", api_url=github.base)  # the first look at the label
    assert fetch.code == 0 and github.calls("GET", f"{github.issue_path}/timeline"), fetch.log
    asked = len(github.requests)
    measure = run_action(repo, tmp_path, "--stage", "measure", "--comment", "always", api_url=github.base, token=None)
    assert measure.code == 0, measure.log  # the verdict is the publish stage's
    assert measure.results()["workloads"][0]["budget"]["limits"]["energy"] == 2  # measured with the PR's limits
    parent = out.read_bytes()
    assert b"GITHUB_ACTIONS=true" in parent and b"GITHUB_EVENT_PATH=" in parent
    for name in (b"GITHUB_TOKEN", b"ghs_", b"ACTIONS_RUNTIME_TOKEN", b"GITHUB_OUTPUT", b"GITHUB_STEP_SUMMARY"):
        assert name not in parent, name  # measure started again without them
    assert len(github.requests) == asked  # no API call while pull-request code could run
    publish = run_action(repo, tmp_path, "--stage", "publish", "--comment", "always", api_url=github.base)
    assert publish.code == 0, publish.log
    doc = publish.results()
    assert doc["guard"]["approved"] is True and doc["guard"]["how"].endswith("added by octo-maintainer")
    assert publish.outputs["verdict"] == "pass" and publish.summary.startswith("<!-- carbon-gate-report -->")
    assert github.calls("POST", github.comments_path)
    github.labels = ["bug"]  # without it, the same measurements are blocked
    run_action(repo, tmp_path, "--stage", "measure", api_url=github.base, token=None)
    blocked = run_action(repo, tmp_path, "--stage", "publish", "--comment", "off", api_url=github.base)
    assert blocked.code == 1 and blocked.results()["guard"]["blocked"] is True


def test_a_config_error_in_the_measure_stage_is_published_by_the_publish_stage(tmp_path):
    """The measure step has no job summary or outputs (started again without the runner's files): its
    error reaches them through the publish step, which runs after a failed measure step."""
    bad = "version: 1\nworkloads:\n  - name: x\n    command: 'true'\n    budget: {energy: -1 Wh}\n"
    repo = make_repo(tmp_path / "repo", bad)
    measure = run_action(repo, tmp_path, "--stage", "measure", api_url=None, token=None)
    assert measure.code == 2 and "::error" in measure.log, measure.log
    assert measure.summary == "" and measure.outputs == {}  # not this step's to write
    publish = run_action(repo, tmp_path, "--stage", "publish", api_url=None)
    assert publish.code == 2, publish.log
    assert publish.outputs["verdict"] == "error" and publish.outputs["exit-code"] == "2"
    assert "configuration error" in publish.summary and "energy" in publish.summary
