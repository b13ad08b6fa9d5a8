"""The budget file (docs/configuration.md): every bad config exits 2 with file:line, key, value; good ones type right;
the shipped JSON Schema and the configuration reference stay in step with the spec."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from carbon_gate import config as config_mod
from carbon_gate.config import ConfigError, iter_keys, json_schema, load, parse

REPO = Path(__file__).resolve().parents[1]


def run_config(cli, path: Path, *extra: str):
    """`carbon-gate run -c PATH` with the results and report kept inside the config's directory."""
    return cli("run", "-c", str(path), "--results", str(path.parent / "results.json"), "--report", "", "-q", *extra)


def assert_config_error(proc, path: Path, line: int | None, *fragments: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    where = f"{path}:{line}:" if line is not None else f"{path}:"
    assert where in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


# ------------------------------------------------------------------ each bad config, through the real CLI

BAD = {
    # name: (yaml, line, fragments that must appear: key path, the bad value, the expectation)
    "malformed-yaml": (
        """
        version: 1
        workloads:
          - name: a
             command: python x.py
        """,
        4,
        ["malformed YAML"],
    ),
    "typo-comand": (
        """
        version: 1
        workloads:
          - name: a
            comand: python x.py
        """,
        4,
        ["workloads[0].comand", "'comand'", "did you mean 'command'"],
    ),
    "top-level-typo": (
        """
        version: 1
        defualts:
          repeats: 3
        workloads:
          - name: a
            command: python x.py
        """,
        2,
        ["defualts", "'defualts'", "did you mean 'defaults'"],
    ),
    "confirm-was-replaced": (
        """
        version: 1
        defaults:
          confirm: 4
        workloads:
          - name: a
            command: python x.py
        """,
        3,
        ["defaults.confirm", "max_rounds", "max_time"],
    ),
    "max-rounds-one": (
        """
        version: 1
        workloads:
          - name: a
            command: python x.py
            max_rounds: 1
        """,
        5,
        ["workloads[0].max_rounds", "at least 2"],
    ),
    "pairing-unknown": (
        """
        version: 1
        baseline:
          pairing: parallel
        workloads:
          - name: a
            command: python x.py
        """,
        3,
        ["baseline.pairing", "duet"],
    ),
    "repeats-two": (
        """
        version: 1
        workloads:
          - name: a
            command: python x.py
            repeats: two
        """,
        5,
        ["workloads[0].repeats", "'two'", "whole number"],
    ),
    "command-5": (
        """
        version: 1
        workloads:
          - name: a
            command: 5
        """,
        4,
        ["workloads[0].command", "got 5", "string or a list"],
    ),
    "energy-per-second": (
        """
        version: 1
        workloads:
          - name: a
            command: python x.py
            budget:
              energy: 50 Wh/s
        """,
        6,
        ["workloads[0].budget.energy", "'50 Wh/s'", "50 Wh"],
    ),
    "negative-co2e": (
        """
        version: 1
        workloads:
          - name: a
            command: python x.py
            budget:
              co2e: -3 g
        """,
        6,
        ["workloads[0].budget.co2e", "'-3 g'", "negative"],
    ),
    "timeout-fast": (
        """
        version: 1
        workloads:
          - name: a
            command: python x.py
            timeout: fast
        """,
        5,
        ["workloads[0].timeout", "'fast'", "duration"],
    ),
    "duplicate-workload-names": (
        """
        version: 1
        workloads:
          - name: train
            command: python a.py
          - name: train
            command: python b.py
        """,
        5,
        ["workloads[1].name", "'train'", "first defined on line 3"],
    ),
    "missing-command": (
        """
        version: 1
        workloads:
          - name: a
            repeats: 3
        """,
        3,
        ["workloads[0]", "command"],
    ),
    "missing-workloads": (
        """
        version: 1
        defaults:
          repeats: 3
        """,
        1,
        ["'workloads'", "missing"],
    ),
    "duplicate-yaml-key": (
        """
        version: 1
        workloads:
          - name: a
            command: python x.py
            repeats: 3
            repeats: 4
        """,
        6,
        ["workloads[0].repeats", "duplicate key 'repeats'"],
    ),
}

# More bad configs, checked in-process (the CLI path is the same `config.load`, covered above).
MORE_BAD = {
    "nested-typo": (
        """
        version: 1
        workloads:
          - name: a
            command: python x.py
            budget:
              enrgy: 50 Wh
        """,
        6,
        ["workloads[0].budget.enrgy", "did you mean 'energy'"],
    ),
    "defaults-timeout-fast": (
        """
        version: 1
        defaults:
          repeats: 3
          timeout: fast
        workloads:
          - name: a
            command: python x.py
        """,
        4,
        ["defaults.timeout", "'fast'"],
    ),
    "empty-workloads": (
        """
        version: 1
        workloads: []
        """,
        2,
        ["workloads", "non-empty list"],
    ),
    "bad-choice": (
        """
        version: 1
        baseline:
          mode: sometimes
        workloads:
          - name: a
            command: python x.py
        """,
        3,
        ["baseline.mode", "'sometimes'", "paired"],
    ),
    "pue-below-one": (
        """
        version: 1
        grid:
          pue: 0.5
        workloads:
          - name: a
            command: python x.py
        """,
        3,
        ["grid.pue", "0.5", "at least 1"],
    ),
    "zero-repeats": (
        """
        version: 1
        defaults:
          repeats: 0
        workloads:
          - name: a
            command: python x.py
        """,
        3,
        ["defaults.repeats", "at least 1"],
    ),
    "not-a-mapping": (
        """
        - name: a
          command: python x.py
        """,
        1,
        ["expected a mapping", "a list"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_config_exits_2_naming_file_line_key_value(cli, write_config, case):
    text, line, fragments = BAD[case]
    path = write_config(text)
    proc = run_config(cli, path)
    assert_config_error(proc, path, line, *fragments)
    assert not (path.parent / "results.json").exists()  # nothing ran


@pytest.mark.parametrize("case", list(MORE_BAD))
def test_more_bad_configs_name_file_line_key_value(case):
    text, line, fragments = MORE_BAD[case]
    with pytest.raises(ConfigError) as info:
        parse(textwrap.dedent(text).lstrip("\n"), "conf.yml")
    message = str(info.value)
    assert f"conf.yml:{line}:" in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_empty_file_exits_2(cli, write_config):
    path = write_config("")
    proc = run_config(cli, path)
    assert_config_error(proc, path, None, "empty")


def test_comment_only_file_is_empty_too(cli, write_config):
    path = write_config("# nothing here yet\n")
    assert_config_error(run_config(cli, path), path, None, "empty")


def test_missing_file_exits_2(cli, tmp_path):
    path = tmp_path / "nope.yml"
    assert_config_error(run_config(cli, path), path, None, "not found")


def test_every_problem_is_reported_at_once(cli, write_config):
    path = write_config("""
        version: 1
        workloads:
          - name: a
            command: python x.py
            repeats: two
            timeout: fast
            budget:
              energy: 50 Wh/s
        """)
    proc = run_config(cli, path)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("carbon-gate: error:")]
    assert len(errors) == 3, proc.stderr
    for line_no in (5, 6, 8):
        assert f"{path}:{line_no}:" in proc.stderr


def test_unknown_country_exits_2_names_the_line_and_suggests_france(cli, write_config):
    path = write_config("""
        version: 1
        grid:
          country: Frnace
        workloads:
          - name: a
            command: python -c "open('ran', 'w').close()"
            repeats: 1
            warmup: 0
        """)
    assert_config_error(run_config(cli, path), path, 3, "grid.country", "'Frnace'", "France")
    assert not (path.parent / "ran").exists()  # refused before running anything


# ------------------------------------------------------------------ inputs that used to crash or mislead


def test_unclosed_quote_points_at_the_quote():
    text = 'version: 1\nworkloads:\n  - name: "a\n    command: python x.py\n  - name: b\n'
    with pytest.raises(ConfigError) as info:
        parse(text, "conf.yml")
    assert "conf.yml:3:" in str(info.value)


def test_bad_explicit_tag_is_a_config_error():
    with pytest.raises(ConfigError, match=r"conf\.yml:1:"):
        parse("version: !!int abc\nworkloads:\n  - name: a\n    command: x\n", "conf.yml")


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("version: 1\nx: &a [*a]\nworkloads:\n  - {name: a, command: x}\n", 2, "x[0]"),
        ("version: 1\nworkloads: &w\n  - name: a\n    command: x\n    paths: *w\n", 5, "workloads[0].paths"),
        ("version: 1\nworkloads:\n  - &x {name: a, command: x, env: *x}\n", 3, "workloads[0].env"),
    ],
    ids=["list-in-itself", "workloads-in-a-workload", "mapping-in-itself"],
)
def test_recursive_yaml_alias_is_a_config_error_at_its_line(text, line, key):
    # An alias to one of its own ancestors would recurse forever when converted: one problem, at the
    # line where the alias is used, naming the key.
    with pytest.raises(ConfigError) as info:
        parse(text, "conf.yml")
    assert [str(p) for p in info.value.problems] == [f"conf.yml:{line}: {key}: recursive YAML alias"]


def test_a_shared_yaml_anchor_is_not_recursive():
    config = parse(
        "version: 1\nworkloads:\n  - {name: a, command: x, env: &e {A: '1'}}\n  - {name: b, command: y, env: *e}\n",
        "conf.yml",
    )
    assert [w.env for w in config.workloads] == [{"A": "1"}, {"A": "1"}]


def test_unhashable_key_is_a_config_error():
    with pytest.raises(ConfigError, match=r"conf\.yml:2:"):
        parse("version: 1\n[a]: x\nworkloads:\n  - name: a\n    command: x\n", "conf.yml")


@pytest.mark.parametrize("value", ["1.0", "2"])
def test_confidence_of_one_or_more_is_rejected(value):
    with pytest.raises(ConfigError, match=r"conf\.yml:2: gate\.confidence"):
        parse(f"version: 1\ngate: {{confidence: {value}}}\nworkloads:\n  - name: a\n    command: x\n", "conf.yml")


@pytest.mark.parametrize(
    ("zero", "ran"),
    [("unit: {name: batch, count: 0}", 0), ("budget: {energy: 0 Wh}", 1)],
    ids=["units-per-run", "budget"],
)
def test_a_zero_count_or_budget_does_not_crash(cli, write_config, zero, ran):
    path = write_config(f"""
        version: 1
        workloads:
          - name: a
            command: python -c pass
            repeats: 1
            warmup: 0
            {zero}
        """)
    proc = run_config(cli, path)
    assert "Traceback" not in proc.stderr, proc.stderr
    # Either refused up front (exit 2) or run (a zero budget is then exceeded: exit 1) with a results file written.
    assert proc.returncode == 2 or (proc.returncode == ran and (path.parent / "results.json").exists()), proc.stderr


def test_bad_command_item_is_named():
    with pytest.raises(ConfigError) as info:
        parse("version: 1\nworkloads:\n  - name: a\n    command: [echo, yes]\n", "conf.yml")
    assert "conf.yml:4: workloads[0].command" in str(info.value)
    assert "True" in str(info.value)


@pytest.mark.parametrize("key", ["embodied", "rapl", "gpu"])
def test_bare_off_is_accepted_for_on_off_choices(key):
    cfg = parse(f"version: 1\nmachine:\n  {key}: off\nworkloads:\n  - name: a\n    command: x\n", "conf.yml")
    assert getattr(cfg.machine, key) == "off"


# ------------------------------------------------------------------ a valid config, typed

VALID = """
version: 1
grid:
  country: FR
  pue: 1.2
machine:
  profile: github-linux-x64-4vcpu
  embodied: "off"
defaults:
  repeats: 3
  warmup: 0
  timeout: 90s
  tolerance: 4%
baseline:
  mode: stored
  file: perf/baseline.json
  setup: [pip, install, -e, .]
  seed: 7
gate:
  fail_on: [regression, over-budget, inconclusive]
  confidence: 0.9
workloads:
  - name: train
    command: python train.py --epochs 1
    repeats: 7
    timeout: 10m
    env: {SEED: 1, MODE: fast}
    unit: {name: epoch, count: 2}
    budget:
      energy: 0.2 kWh
      co2e: 1.5 kg
      per_unit:
        energy: 3 kJ
        co2e: 20 g
    paths: [src/**, train.py]
  - name: infer
    command: [python, "infer.py", "--batch size"]
    cwd: tools/bench
    tolerance: 10%
"""


@pytest.fixture
def valid(tmp_path) -> config_mod.Config:
    project = tmp_path / "proj"
    project.mkdir()
    path = project / "carbon-gate.yml"
    path.write_text(VALID.lstrip("\n"))
    return load(path)


def test_valid_config_global_sections(valid, tmp_path):
    assert valid.version == 1
    assert valid.root == tmp_path / "proj"
    assert (valid.grid.country, valid.grid.intensity, valid.grid.pue, valid.grid.live) == ("FR", None, 1.2, "none")
    assert valid.machine.profile == "github-linux-x64-4vcpu"
    assert valid.machine.embodied == "off"
    assert valid.machine.attribution == "process"  # default
    assert valid.baseline.mode == "stored"
    assert valid.baseline.file == Path("perf/baseline.json")
    assert valid.baseline.setup == ("pip", "install", "-e", ".")
    assert valid.baseline.seed == 7
    assert valid.baseline.history == 100  # default
    assert valid.gate.fail_on == ("regression", "over-budget", "inconclusive")
    assert valid.gate.confidence == 0.9
    assert valid.gate.family == "holm"


def test_valid_config_workload_overrides_and_inherits_defaults(valid):
    train, infer = valid.workloads
    assert train.name == "train"
    assert train.command == "python train.py --epochs 1"  # a string: goes through the shell
    assert train.repeats == 7  # override
    assert train.warmup == 0  # from defaults
    assert train.timeout_s == 600.0  # 10m override
    assert train.tolerance == pytest.approx(0.04)  # from defaults
    assert (train.max_rounds, train.max_time_s) == (60, 60.0)  # built-in defaults
    assert train.env == {"SEED": "1", "MODE": "fast"}  # values become strings
    assert (train.unit_name, train.unit_count) == ("epoch", 2.0)
    assert train.paths == ("src/**", "train.py")
    assert train.cwd == "."
    assert infer.repeats == 3 and infer.warmup == 0  # all from defaults
    assert infer.timeout_s == 90.0
    assert infer.tolerance == pytest.approx(0.10)
    assert infer.command == ("python", "infer.py", "--batch size")  # a list: exec'd, one argument per item
    assert infer.command_text() == "python infer.py '--batch size'"
    assert (infer.unit_name, infer.unit_count) == ("run", 1.0)
    assert infer.budget.limits() == {}


def test_valid_config_budgets_in_canonical_units_with_lines(valid):
    b = valid.workloads[0].budget
    assert b.energy_wh == pytest.approx(200.0)  # 0.2 kWh
    assert b.co2e_g == pytest.approx(1500.0)  # 1.5 kg
    assert b.per_unit_energy_wh == pytest.approx(3000 / 3600)  # 3 kJ
    assert b.per_unit_co2e_g == pytest.approx(20.0)
    assert b.lines == {"energy": 29, "co2e": 30, "per_unit.energy": 32, "per_unit.co2e": 33}
    assert valid.workloads[0].line == 22  # the `- name:` line of the item
    assert valid.workloads[1].line == 35


def test_cwd_is_relative_to_the_config_file(valid, tmp_path):
    train, infer = valid.workloads
    assert train.workdir(valid.root) == tmp_path / "proj"
    assert infer.workdir(valid.root) == tmp_path / "proj" / "tools" / "bench"


def test_built_in_defaults(tmp_path):
    cfg = parse("version: 1\nworkloads:\n  - name: a\n    command: x\n", str(tmp_path / "c.yml"))
    w = cfg.workloads[0]
    assert (w.repeats, w.warmup, w.timeout_s, w.tolerance, w.max_rounds, w.max_time_s) == (
        5,
        1,
        1200.0,
        pytest.approx(0.05),
        60,
        60.0,
    )
    assert (cfg.grid.country, cfg.grid.intensity, cfg.grid.pue) == (None, None, 1.0)
    assert cfg.baseline.mode == "auto" and cfg.baseline.file == Path(".carbon-gate/baseline.json")
    assert cfg.gate.fail_on == ("regression", "over-budget")


def test_unit_count_default_depends_on_unit_name():
    # As docs/configuration.md says: no `unit` = one run; a named unit without a count = reported by the workload.
    text = "version: 1\nworkloads:\n  - name: a\n    command: x\n    unit: {name: epoch}\n  - name: b\n    command: x\n"
    named, plain = parse(text).workloads
    assert (named.unit_name, named.unit_count) == ("epoch", None)
    assert (plain.unit_name, plain.unit_count) == ("run", 1.0)


def test_parse_collects_problems_with_lines():
    with pytest.raises(ConfigError) as info:
        parse("version: 1\nworkloads:\n  - name: a\n    command: x\n    warmup: -1\n", "f.yml")
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.key) == ("f.yml", 5, "workloads[0].warmup")
    assert str(problem).startswith("f.yml:5: workloads[0].warmup:")


def test_string_and_number_budgets_are_not_confused():
    # 50 without a unit is ambiguous (Wh? J?) and is refused rather than guessed.
    with pytest.raises(ConfigError, match="energy"):
        parse("version: 1\nworkloads:\n  - name: a\n    command: x\n    budget: {energy: 50}\n")


# ------------------------------------------------------------------ the JSON Schema for editors


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json_schema())


def test_schema_command_prints_json_schema(cli):
    proc = cli("schema")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json_schema()


def test_schema_is_valid_draft_2020_12():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_accepts_the_quickstart_example():
    data = yaml.safe_load((REPO / "examples" / "quickstart" / "carbon-gate.yml").read_text())
    errors = list(_validator().iter_errors(data))
    assert not errors, [e.message for e in errors]


FULL = """
version: 1
grid:
  country: FR
  intensity: 56 g/kWh
  source: contract with our utility, 2024
  pue: 1.1
  wue: 1.8
  live: none
  provider: electricitymaps
  zone: FR
  latitude: 48.85
  longitude: 2.35
  key_env: ELECTRICITYMAPS_API_KEY
  user_env: WATTTIME_USER
  timeout: 5s
  gate_on: pinned
  advice: {above: 1 kWh, window: 24h, candidates: [SE, DE]}
machine:
  profile: auto
  host_threads: 128
  sockets: 2
  attribution: process
  rapl: auto
  dram: false
  gpu: auto
  embodied: auto
environment:
  pass: [HF_HOME, "AWS_*"]
  secrets: [AWS_SECRET_ACCESS_KEY]
defaults:
  repeats: 5
  warmup: 1
  timeout: 20m
  tolerance: 5%
  max_rounds: 60
  max_time: 60s
baseline:
  mode: auto
  file: .carbon-gate/baseline.json
  setup: pip install -e .
  history: 100
  seed: 42
  pairing: auto
gate:
  fail_on: [regression, over-budget]
  confidence: 0.95
  family: holm
prepush:
  repeats: 6
  warmup: 0
workloads:
  - name: train-small
    command: python train.py --epochs 1
    cwd: .
    env: {PYTHONHASHSEED: "0"}
    repeats: 5
    warmup: 1
    timeout: 10m
    tolerance: 3%
    max_rounds: 40
    max_time: 2m
    unit: {name: epoch, count: 1}
    extrapolate: {to: 90}
    budget:
      energy: 40 Wh
      co2e: 15 g
      per_unit: {energy: 40 Wh, co2e: 15 g}
      projected: {energy: 4 kWh, co2e: 1.5 kg}
    paths: [src/**, train.py]
    energy_per_point: [accuracy]
  - name: forecast
    estimate:
      accelerator: H100-SXM
      count: 8
      params: 7.0e+9
      tokens: 1.0e+11
      moe_active_params: 7.0e+9
      mfu: 0.4
      avg_power: 700 W
      dtype: bf16
  - name: forecast-by-hours
    estimate: {accelerator: H100-SXM, count: 8, hours: 10}
  - name: imported
    source: {codecarbon_csv: emissions.csv}
"""


def _dotted_keys(data, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            dotted = f"{prefix}{key}"
            out.add(dotted)
            if key in ("env",):
                continue  # free-form names
            if key == "workloads":
                for item in value:
                    out |= _dotted_keys(item, dotted + "[].")
            else:
                out |= _dotted_keys(value, dotted + ".")
    return out


def test_full_config_uses_every_key_and_is_accepted_by_schema_and_loader():
    data = yaml.safe_load(FULL)
    spec_keys = {k for k, _ in iter_keys()}
    used = _dotted_keys(data)
    assert spec_keys - used == set(), "add the new keys to FULL (and to docs/configuration.md)"
    assert used - spec_keys == set()
    errors = list(_validator().iter_errors(data))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    parse(FULL.lstrip("\n"))  # the loader agrees


@pytest.mark.parametrize(
    "patch",
    [
        {"defaults": {"repeats": 3, "timeuot": "1m"}},  # unknown nested key
        {"workloadz": []},  # unknown top-level key
        {"defaults": {"repeats": "two"}},  # wrong type
        {"defaults": {"tolerance": "5"}},  # no % sign
        {"grid": {"live": "sometimes"}},  # not a choice
        {
            "workloads": [
                {"name": "a", "estimate": {"accelerator": "V100", "count": 1, "hours": 1, "avg_power": "3 parsecs"}}
            ]
        },
        {"workloads": [{"name": "a", "estimate": {"accelerator": "V100", "count": 1, "hours": 1, "avg_power": 0}}]},
    ],
)
def test_schema_rejects_what_the_loader_rejects(patch):
    data = {"version": 1, "workloads": [{"name": "a", "command": "x"}], **patch}
    assert not _validator().is_valid(data)
    with pytest.raises(ConfigError):
        parse(yaml.safe_dump(data))


def test_schema_rejects_unknown_workload_key():
    data = {"version": 1, "workloads": [{"name": "a", "comand": "x"}]}
    errors = list(_validator().iter_errors(data))
    assert errors and any("comand" in e.message for e in errors)


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\nworkloads:\n  - {name: a, command: [sleep, 1]}\n",
        "version: 1\nworkloads:\n  - {name: a, command: x, paths: 'src/**'}\n",
        "version: 1\ngate: {fail_on: regression}\nworkloads:\n  - {name: a, command: x}\n",
        "version: 1\ngrid:\nworkloads:\n  - {name: a, command: x}\n",
        "version: 1\ngrid: {intensity: 472 gCO2e/kWh}\nworkloads:\n  - {name: a, command: x}\n",
        "version: 1\nworkloads:\n  - {name: a, command: x, budget: {energy: 5 KWH}}\n",
        "version: 1\nworkloads:\n  - {name: a, estimate: {accelerator: V100, count: 1, hours: 1, avg_power: 0.3 kW}}\n",
        "version: 1\nworkloads:\n  - {name: a, estimate: {accelerator: V100, count: 1, hours: 1, avg_power: 300}}\n",
    ],
    ids=[
        "list-command-with-number",
        "paths-string",
        "fail_on-string",
        "empty-section",
        "gCO2e-per-kWh",
        "upper-case-unit",
        "power-in-kW",
        "power-bare-watts",
    ],
)
def test_schema_accepts_what_the_loader_accepts(text):
    parse(text)  # valid for the tool...
    assert _validator().is_valid(yaml.safe_load(text))  # ...so the editor must not flag it


# ------------------------------------------------------------------ the configuration reference


def test_every_key_is_documented():
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [k for k, _ in iter_keys() if f"`{k}`" not in doc]
    assert not missing, f"docs/configuration.md does not document: {missing}"


def test_documented_defaults_match_the_spec():
    # Each key's row in the reference table states its default as the spec has it.
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*$", doc, re.MULTILINE)}
    for dotted, key in iter_keys():
        if key.default is None or key.kind in ("object", "workloads"):
            continue
        default = key.default
        shown = (
            ", ".join(default)
            if isinstance(default, (list, tuple))
            else (str(default).lower() if isinstance(default, bool) else str(default))
        )
        assert dotted in rows, f"no table row for `{dotted}`"
        assert shown in rows[dotted], f"`{dotted}`: default {shown!r} not shown in {rows[dotted]!r}"


def test_documented_keys_exist():
    # The reverse drift: a documented key that the spec no longer has.
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([^`]+)` \|", doc, re.MULTILINE))
    assert documented - {k for k, _ in iter_keys()} == set()
