"""`carbon-gate run` end to end (the issue's "Done when"): real subprocesses, real workloads, real files.

Every results file a test produces is validated against `carbon_gate/data/results.schema.json`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import textwrap
import time
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from helpers import commit, git, suite_config

from carbon_gate.units import parse_energy, parse_mass

PY = sys.executable
REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((resources.files("carbon_gate") / "data" / "results.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

# Small real workloads: a Python start-up, and one that sleeps a little.
QUICK = f"{shlex.quote(PY)} -c pass"
NAP = [PY, "-c", "import time; time.sleep(0.05)"]


def yaml_list(items: list[str]) -> str:
    return json.dumps(items)  # JSON is YAML: a flow sequence with every item quoted


def load_results(path: Path) -> dict:
    """Read a results file and check it against the shipped schema."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return doc


def run(cli, config: Path, *args: str, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    results = config.parent / "results.json"
    proc = cli(
        "run",
        "-c",
        str(config),
        "--results",
        str(results),
        "--report",
        str(config.parent / "report.md"),
        "-q",
        *args,
        cwd=cwd,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, results


def workload(doc: dict, name: str) -> dict:
    return next(w for w in doc["workloads"] if w["name"] == name)


def two_workloads(
    alpha_budget: str = "{energy: 1 Wh, co2e: 1 g}",
    beta_budget: str = "{energy: 1 Wh}",
    repeats: int = 2,
    warmup: int = 0,
) -> str:
    return f"""
        version: 1
        grid:
          intensity: 100 g/kWh
        machine:
          embodied: "off"
        defaults:
          repeats: {repeats}
          warmup: {warmup}
          timeout: 60s
        workloads:
          - name: alpha
            command: {QUICK}
            budget: {alpha_budget}
          - name: beta
            command: {yaml_list(NAP)}
            budget: {beta_budget}
        """


# ------------------------------------------------------------------ pass / fail / error


def test_within_budget_exits_0(cli, write_config):
    proc, results = run(cli, write_config(two_workloads()))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "alpha" in proc.stdout and "beta" in proc.stdout
    assert "PASS" in proc.stdout
    doc = load_results(results)
    assert doc["verdict"] == "pass"
    assert doc["counts"] == {"new": 2}
    assert [w["verdict"] for w in doc["workloads"]] == ["new", "new"]
    for w in doc["workloads"]:
        assert len(w["samples"]) == 2
        assert all(s["exit_code"] == 0 and s["error"] is None for s in w["samples"])
        assert w["budget"]["checks"] and not any(c["exceeded"] for c in w["budget"]["checks"])
    assert (results.parent / "report.md").read_text().strip()


def test_over_budget_exits_1_and_says_which_budget_and_by_how_much(cli, write_config):
    # 1 µWh and 1 µg are far below what a Python start-up draws.
    config = write_config(two_workloads(alpha_budget="{energy: 1 µWh, co2e: 1 g}", beta_budget="{co2e: 0.001 mg}"))
    proc, results = run(cli, config)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = load_results(results)
    assert doc["verdict"] == "fail"
    alpha, beta = workload(doc, "alpha"), workload(doc, "beta")
    assert alpha["verdict"] == beta["verdict"] == "over-budget"

    line = r"^\s*alpha: energy budget exceeded: median (.+?) > 1 µWh \(\+(.+?), (\d+)% of budget\)$"
    m = re.search(line, proc.stdout, re.MULTILINE)
    assert m, proc.stdout
    check = next(c for c in alpha["budget"]["checks"] if c["limit"] == "energy")
    assert check["exceeded"] and check["allowed"] == pytest.approx(1e-6)
    assert parse_energy(m.group(1)) == pytest.approx(check["actual"], rel=6e-3)
    assert parse_energy(m.group(2)) == pytest.approx(check["actual"] - check["allowed"], rel=6e-3)
    assert int(m.group(3)) == pytest.approx(check["use_pct"], abs=1)
    # alpha's CO2e stays within its 1 g: only the limit that was crossed is reported as crossed.
    assert not next(c for c in alpha["budget"]["checks"] if c["limit"] == "co2e")["exceeded"]
    assert "alpha: CO2e budget exceeded" not in proc.stdout

    line = r"^\s*beta: CO2e budget exceeded: median (.+?) > (.+?) \(\+(.+?), (\d+)% of budget\)$"
    m = re.search(line, proc.stdout, re.MULTILINE)
    assert m, proc.stdout
    check = next(c for c in beta["budget"]["checks"] if c["limit"] == "co2e")
    assert check["allowed"] == pytest.approx(1e-6)
    assert parse_mass(m.group(2)) == pytest.approx(1e-6)
    assert parse_mass(m.group(3)) == pytest.approx(check["actual"] - check["allowed"], rel=6e-3)
    assert "FAIL" in proc.stdout


@pytest.mark.parametrize("form", ["string", "list"])
def test_missing_command_exits_3_and_the_other_workload_is_still_measured(cli, write_config, form):
    missing = (
        "definitely-not-a-command-cg7 --flag" if form == "string" else '["definitely-not-a-command-cg7", "--flag"]'
    )
    config = write_config(
        suite_config(
            f"""
          - name: broken
            command: {missing}
          - name: fine
            command: {QUICK}
        """,
            defaults="{repeats: 2, warmup: 0}",
        )
    )
    proc, results = run(cli, config)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert re.search(r"broken: run 1 failed: .*not found", proc.stdout), proc.stdout
    doc = load_results(results)
    assert doc["verdict"] == "error"
    broken, fine = workload(doc, "broken"), workload(doc, "fine")
    assert broken["verdict"] == "error"
    assert len(broken["samples"]) == 1  # no point repeating a command that cannot start
    assert broken["samples"][0]["exit_code"] == 127
    assert "not found" in broken["samples"][0]["error"]
    assert fine["verdict"] == "new"
    assert len(fine["samples"]) == 2 and all(s["error"] is None for s in fine["samples"])
    assert fine["summary"]["n"] == 2


def test_timeout_exits_3_kills_the_run_and_the_other_workload_is_still_measured(cli, write_config):
    config = write_config(
        suite_config(
            f"""
          - name: slow
            command: sleep 30
            timeout: 0.5s
          - name: fine
            command: {QUICK}
        """,
            defaults="{repeats: 2, warmup: 0}",
        )
    )
    started = time.monotonic()
    proc, results = run(cli, config)
    elapsed = time.monotonic() - started
    assert proc.returncode == 3, proc.stdout + proc.stderr
    # The whole run, start-up and the other workload included: far below the 30 s a kill that waited
    # for the child (or a reaper that joined it) would take, generous for a loaded 2-core runner.
    assert elapsed < 20, elapsed
    assert "slow: run 1 failed: timed out after 0.5 s" in proc.stdout
    doc = load_results(results)
    slow, fine = workload(doc, "slow"), workload(doc, "fine")
    assert slow["verdict"] == "error"
    [sample] = slow["samples"]
    assert sample["timed_out"] is True
    assert "timed out" in sample["error"]
    assert 0.4 < sample["wall_s"] < 4.0  # killed after 0.5 s, not waited for
    assert fine["verdict"] == "new" and len(fine["samples"]) == 2


def test_non_zero_exit_is_an_error_with_the_stderr_tail(cli, write_config):
    failing = [PY, "-c", "import sys; sys.stderr.write('loading data\\nboom: disk on fire\\n'); sys.exit(4)"]
    config = write_config(
        suite_config(
            f"""
          - name: crashy
            command: {yaml_list(failing)}
          - name: fine
            command: {QUICK}
            repeats: 1
            warmup: 0
        """,
            defaults="{repeats: 3, warmup: 1}",
        )
    )
    proc, results = run(cli, config)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "crashy: run 1 failed: exited with code 4" in proc.stdout
    assert "| boom: disk on fire" in proc.stdout  # the tail is shown where people look
    doc = load_results(results)
    crashy = workload(doc, "crashy")
    assert crashy["verdict"] == "error"
    [sample] = crashy["samples"]  # the warm-up failed: nothing more was run
    assert sample["exit_code"] == 4
    assert sample["error"] == "exited with code 4"
    assert sample["stderr_tail"].endswith("loading data\nboom: disk on fire\n")
    assert workload(doc, "fine")["verdict"] == "new"


# ------------------------------------------------------------------ selection and overrides


def test_workload_option_selects(cli, write_config):
    proc, results = run(cli, write_config(two_workloads(repeats=1)), "--workload", "beta")
    assert proc.returncode == 0, proc.stderr
    doc = load_results(results)
    assert [w["name"] for w in doc["workloads"]] == ["beta"]
    assert "alpha" not in proc.stdout


def test_unknown_workload_exits_2(cli, write_config):
    proc, results = run(cli, write_config(two_workloads(repeats=1)), "--workload", "gamma")
    assert proc.returncode == 2
    assert "'gamma'" in proc.stderr and "alpha" in proc.stderr and "beta" in proc.stderr
    assert not results.exists()


def test_repeats_option_overrides_the_config(cli, write_config):
    proc, results = run(cli, write_config(two_workloads(repeats=5, warmup=1)), "--repeats", "2", "-w", "alpha")
    assert proc.returncode == 0, proc.stderr
    alpha = workload(load_results(results), "alpha")
    assert len(alpha["samples"]) == 1 + 2  # warm-up + N
    assert [s["warmup"] for s in alpha["samples"]] == [True, False, False]
    assert alpha["summary"]["n"] == 2


def test_repeats_option_rejects_zero(cli, write_config):
    proc, _ = run(cli, write_config(two_workloads()), "--repeats", "0")
    assert proc.returncode == 2


# ------------------------------------------------------------------ where and how commands run

WHERE = [PY, "-c", "import os; open('where.txt', 'w').write(os.getcwd())"]


def test_workloads_run_in_the_config_directory_unless_cwd_says_otherwise(cli, tmp_path):
    project = tmp_path / "project"
    (project / "tools").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = project / "carbon-gate.yml"
    config.write_text(
        "version: 1\n"
        "defaults: {repeats: 1, warmup: 0}\n"
        "workloads:\n"
        f"  - name: here\n    command: {yaml_list(WHERE)}\n"
        f"  - name: there\n    command: {yaml_list(WHERE)}\n    cwd: tools\n"
    )
    proc, _results = run(cli, config, cwd=elsewhere)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert os.path.realpath((project / "where.txt").read_text()) == os.path.realpath(project)
    assert os.path.realpath((project / "tools" / "where.txt").read_text()) == os.path.realpath(project / "tools")
    assert not (elsewhere / "where.txt").exists()


def test_relative_config_path_from_another_directory(cli, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "carbon-gate.yml").write_text(
        "version: 1\ndefaults: {repeats: 1, warmup: 0}\n"
        f"workloads:\n  - name: here\n    command: {yaml_list(WHERE)}\n"
    )
    proc = cli("run", "-c", "project/carbon-gate.yml", "--results", "r.json", "--report", "", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert os.path.realpath((project / "where.txt").read_text()) == os.path.realpath(project)
    load_results(tmp_path / "r.json")


def test_missing_cwd_is_a_workload_error(cli, write_config):
    config = write_config(
        suite_config(
            f"""
          - name: lost
            command: {QUICK}
            cwd: no-such-dir
        """,
            defaults="{repeats: 1, warmup: 0}",
        )
    )
    proc, results = run(cli, config)
    assert proc.returncode == 3
    [sample] = workload(load_results(results), "lost")["samples"]
    assert "no-such-dir" in sample["error"]


def test_string_commands_use_the_shell_and_lists_are_execd(cli, write_config, tmp_path):
    argv_dump = [
        PY,
        "-c",
        "import json, sys; open('argv.json', 'w').write(json.dumps(sys.argv[1:]))",
        "one argument with spaces",
        "&&",
        "$HOME",
        "*",
    ]
    config = write_config(
        suite_config(
            f"""
          - name: shell
            command: echo a > shell.txt && echo b >> shell.txt
          - name: exec
            command: {yaml_list(argv_dump)}
        """,
            defaults="{repeats: 1, warmup: 0}",
        )
    )
    proc, results = run(cli, config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "shell.txt").read_text() == "a\nb\n"  # `&&` and `>>` were interpreted by /bin/sh
    # No shell for lists: no splitting, no expansion, no `&&`.
    assert json.loads((tmp_path / "argv.json").read_text()) == ["one argument with spaces", "&&", "$HOME", "*"]
    doc = load_results(results)
    assert workload(doc, "shell")["command"] == "echo a > shell.txt && echo b >> shell.txt"
    assert shlex.split(workload(doc, "exec")["command"]) == argv_dump


def test_workload_env_reaches_the_command(cli, write_config, tmp_path):
    dump = [PY, "-c", "import os; open('env.txt', 'w').write(os.environ['CG_TEST_VAR'])"]
    config = write_config(f"""
        version: 1
        workloads:
          - name: env
            command: {yaml_list(dump)}
            repeats: 1
            warmup: 0
            env: {{CG_TEST_VAR: 42}}
        """)
    proc, _ = run(cli, config)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "env.txt").read_text() == "42"


# ------------------------------------------------------------------ the results file


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    """One real run (3 counted runs after a warm-up, two workloads, budgets set), shared by the checks below."""
    folder = tmp_path_factory.mktemp("measured")
    config = folder / "carbon-gate.yml"
    config.write_text(
        textwrap.dedent(
            two_workloads(
                alpha_budget="{energy: 0.5 mWh, co2e: 0.05 mg}",
                beta_budget="{energy: 1 Wh, per_unit: {energy: 0.2 mWh}}",
                repeats=3,
                warmup=1,
            )
        ).lstrip("\n")
    )
    proc = subprocess.run(
        [
            PY,
            "-m",
            "carbon_gate",
            "run",
            "-c",
            str(config),
            "--results",
            str(folder / "results.json"),
            "--report",
            str(folder / "report.md"),
            "-q",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return {"doc": load_results(folder / "results.json"), "folder": folder, "proc": proc}


def test_statistics_agree_with_the_samples(measured):
    for w in measured["doc"]["workloads"]:
        counted = [s for s in w["samples"] if not s["warmup"]]
        assert len(w["samples"]) == 4 and len(counted) == 3
        energies = [s["energy_wh"] for s in counted]
        summary = w["summary"]
        assert summary["n"] == 3
        tol = {"abs": 3e-9, "rel": 1e-6}
        assert summary["median_wh"] == pytest.approx(statistics.median(energies), **tol)
        assert summary["min_wh"] == pytest.approx(min(energies), **tol)
        assert summary["max_wh"] == pytest.approx(max(energies), **tol)
        assert summary["spread"] == pytest.approx(
            (max(energies) - min(energies)) / statistics.median(energies), abs=1e-4
        )
        assert summary["cv"] == pytest.approx(statistics.stdev(energies) / statistics.fmean(energies), abs=1e-4)
        assert summary["median_wall_s"] == pytest.approx(statistics.median(s["wall_s"] for s in counted), abs=1e-5)
        assert summary["median_cpu_s"] == pytest.approx(statistics.median(s["cpu_s"] for s in counted), abs=1e-5)
        assert summary["min_wh"] <= summary["median_wh"] <= summary["max_wh"]
        for s in w["samples"]:
            assert s["energy_wh"] == pytest.approx(sum(e["wh"] for e in s["energy"]), abs=3e-9)
            assert {e["component"] for e in s["energy"]} >= {"cpu", "memory"}
            assert s["wall_s"] > 0 and s["cpu_s"] > 0


def test_footprint_is_the_median_run_times_the_pinned_intensity(measured):
    doc = measured["doc"]
    assert doc["grid"]["g_per_kwh"] == 100.0 and doc["grid"]["method"] == "configured"
    assert doc["machine"]["embodied"] is None  # machine.embodied: off
    for w in doc["workloads"]:
        median = w["summary"]["median_wh"]
        assert w["energy_wh"] == pytest.approx(median, abs=1e-9)
        fp = w["footprint"]
        assert fp["facility_wh"] == pytest.approx(median, abs=1e-9)  # PUE 1
        assert fp["embodied_g"] == 0.0
        assert w["co2e_g"] == pytest.approx(
            median / 1000 * 100, abs=1e-9
        )  # Wh → kWh × 100 g/kWh (JSON keeps 9 decimals)
        assert w["sci"] == {"value": w["co2e_g"], "unit": "gCO2e/run", "units_per_run": 1.0}
    # Each figure is rounded to 9 decimals on its own: the total may differ from the sum by one rounding each.
    assert doc["totals"]["energy_wh"] == pytest.approx(
        sum(w["energy_wh"] for w in doc["workloads"]), abs=1e-9 * (1 + len(doc["workloads"]))
    )
    assert doc["totals"]["co2e_g"] == pytest.approx(
        sum(w["co2e_g"] for w in doc["workloads"]), abs=1e-9 * (1 + len(doc["workloads"]))
    )


def test_budget_use_percent(measured):
    doc = measured["doc"]
    alpha, beta = workload(doc, "alpha"), workload(doc, "beta")
    assert alpha["budget"]["limits"] == {"energy": pytest.approx(0.0005), "co2e": pytest.approx(0.00005)}
    assert beta["budget"]["limits"] == {"energy": 1.0, "per_unit.energy": pytest.approx(0.0002)}
    expected_actual = {"energy": "energy_wh", "co2e": "co2e_g", "per_unit.energy": "energy_wh"}
    for w in (alpha, beta):
        checks = w["budget"]["checks"]
        assert {c["limit"] for c in checks} == set(w["budget"]["limits"])
        for c in checks:
            assert c["allowed"] == pytest.approx(w["budget"]["limits"][c["limit"]])
            assert c["actual"] == pytest.approx(w[expected_actual[c["limit"]]], abs=1e-9)
            assert c["unit"] == ("Wh" if c["limit"].endswith("energy") else "g")
            assert c["use_pct"] == pytest.approx(c["actual"] / c["allowed"] * 100, abs=0.011)
            assert c["exceeded"] == (c["actual"] > c["allowed"])
        assert w["budget"]["max_use_pct"] == max(c["use_pct"] for c in checks)
        over = [c for c in checks if c["exceeded"]]
        assert (w["verdict"] == "over-budget") == bool(over)
    # Reasons state the use in words, e.g. "energy 160 µWh within 1 Wh (0% of budget)".
    assert any(re.search(r"\d+% of budget", r) for r in beta["reasons"])


def test_results_carry_provenance(measured):
    doc = measured["doc"]
    assert doc["schema"] == "carbon-gate/results@1"
    assert doc["config"].endswith("carbon-gate.yml")
    assert doc["interrupted"] is False
    assert doc["gate"] == {"fail_on": ["regression", "over-budget"], "confidence": 0.95, "family": "holm"}
    assert doc["git"]["mode"] == "none"
    assert [w["line"] for w in doc["workloads"]] == [11, 14]  # `- name:` lines in the budget file
    for s in workload(doc, "alpha")["samples"]:
        assert all(e["method"] in ("measured", "modelled", "defaulted") and e["reason"] for e in s["energy"])


def test_results_written_atomically_replacing_the_old_file(cli, write_config, tmp_path):
    config = write_config(two_workloads(repeats=1))
    results = tmp_path / "results.json"
    results.write_text('{"half a fi')  # what a crash mid-write would leave with a naive writer
    before = set(os.listdir(tmp_path))
    proc, _ = run(cli, config)
    assert proc.returncode == 0, proc.stderr
    load_results(results)
    assert set(os.listdir(tmp_path)) == before | {"report.md"}  # no temp files left behind
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_results_file_mode_follows_the_umask(cli, write_config, tmp_path):
    config = write_config(two_workloads(repeats=1))
    old = os.umask(0o022)
    try:
        proc, results = run(cli, config, "-w", "alpha")
    finally:
        os.umask(old)
    assert proc.returncode == 0
    assert results.stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------ the schema itself


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_schema_rejects_drift(measured):
    doc = json.loads(json.dumps(measured["doc"]))
    w = doc["workloads"][0]
    broken = [
        lambda d: d.pop("verdict"),
        lambda d: d.update(verdict="maybe"),
        lambda d: d["workloads"][0].pop("samples"),
        lambda d: d["workloads"][0]["samples"][0].update(surprise=1),
        lambda d: d["workloads"][0]["samples"][0]["energy"][0].update(method="guessed"),
        lambda d: d["workloads"][0]["summary"].pop("median_wh"),
        lambda d: d["grid"].update(pue=0.5),
        lambda d: d.update(schema="carbon-gate/results@2"),
    ]
    assert w["samples"] and w["summary"]
    for mutate in broken:
        copy = json.loads(json.dumps(doc))
        mutate(copy)
        assert not VALIDATOR.is_valid(copy), mutate
    # change and baseline stay open for the fields later issues add.
    copy = json.loads(json.dumps(doc))
    copy["workloads"][0]["baseline"] = {
        "mode": "stored",
        "commit": None,
        "n": 0,
        "seed": None,
        "error": None,
        "notes": [],
        "something_new": 1,
    }
    assert VALIDATOR.is_valid(copy)


def test_measure_json_matches_the_schema(cli, tmp_path):
    out = tmp_path / "m.json"
    proc = cli("measure", "--json", str(out), "--", PY, "-c", "import sys; sys.stderr.write('x'); sys.exit(2)")
    assert proc.returncode == 2  # the command's own exit code passes through
    doc = load_results(out)
    assert doc["config"] is None and doc["git"] is None and doc["verdict"] == "error"
    assert doc["workloads"][0]["samples"][0]["exit_code"] == 2


def test_stored_and_paired_results_match_the_schema(cli, tmp_path):
    """Results with a baseline and a change (stored baseline file; paired with the base commit in git)."""
    git(tmp_path, "init", "-q", "-b", "main")
    commit(
        tmp_path,
        {
            "carbon-gate.yml": "version: 1\ndefaults: {repeats: 2, warmup: 0}\nworkloads:\n"
            '  - name: t\n    command: "true"\n'
        },
        "base",
    )
    env = dict.fromkeys(("GITHUB_BASE_REF", "GITHUB_EVENT_PATH"), "")
    proc = cli("baseline", "update", "-q", env=env)
    assert proc.returncode == 0, proc.stderr
    proc = cli("run", "--mode", "stored", "--results", "stored.json", "--report", "", "-q", env=env)
    assert proc.returncode == 0, proc.stderr
    stored = load_results(tmp_path / "stored.json")
    w = stored["workloads"][0]
    assert w["baseline"]["mode"] == "stored" and w["change"] is not None and w["history"]
    proc = cli(
        "run",
        "--mode",
        "paired",
        "--base",
        "HEAD",
        "--seed",
        "1",
        "--results",
        "paired.json",
        "--report",
        "",
        "-q",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    paired = load_results(tmp_path / "paired.json")
    w = paired["workloads"][0]
    assert w["baseline"]["mode"] == "paired" and w["base_samples"] and w["change"]["paired"] is True
    assert paired["git"]["seed"] == 1


# ------------------------------------------------------------------ the human documentation of the schema


def _property_names(schema) -> set[str]:
    names: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties":
                names |= set(value)
            names |= _property_names(value)
    elif isinstance(schema, list):
        for item in schema:
            names |= _property_names(item)
    return names


def test_every_results_field_is_documented():
    doc = (REPO / "docs" / "results-schema.md").read_text(encoding="utf-8")
    missing = sorted(n for n in _property_names(SCHEMA) if f"`{n}`" not in doc)
    assert not missing, f"docs/results-schema.md does not document: {missing}"
