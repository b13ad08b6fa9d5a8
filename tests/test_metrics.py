"""Quality metrics beside energy (issue 15, item 8): a workload reports `accuracy` through the units
protocol — `carbon_gate.report_metric()` from Python, or a `metric NAME VALUE` line in the units file
from any language — and the value reaches the results (validated by the schema), the report's table
and the CSV, with energy per point where the config asks. Real CLI runs of real subprocesses."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import jsonschema
import pytest

from carbon_gate.functional_units import read_metrics_file, read_units_file, report_metric

REPO = Path(__file__).resolve().parent.parent
PY_WORKLOAD = """\
import sys
import carbon_gate
carbon_gate.report_units(2, name="batch")
carbon_gate.report_metric("accuracy", 0.5)  # a first value, replaced below: the last one counts
carbon_gate.report_metric("accuracy", float(sys.argv[1]))
carbon_gate.report_metric("f1", 0.8)
"""


def test_metrics_reach_results_report_and_csv(cli, write_config, tmp_path):
    (tmp_path / "w.py").write_text(PY_WORKLOAD)
    write_config(f"""
        version: 1
        grid: {{country: FR}}
        machine: {{rapl: "off", gpu: "off", embodied: "off"}}
        defaults: {{repeats: 3, warmup: 1}}
        workloads:
          - name: python-api
            command: ["{sys.executable}", w.py, "0.93"]
            unit: {{name: batch}}
            energy_per_point: [accuracy]
          - name: any-language
            command: 'echo 1 >> "$CARBON_GATE_UNITS_FILE"; echo "metric accuracy 0.91" >> "$CARBON_GATE_UNITS_FILE"'
    """)
    r = cli("run", "--mode", "none", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads((tmp_path / "carbon-gate-results.json").read_text())
    schema = json.loads((REPO / "carbon_gate" / "data" / "results.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    py, sh = doc["workloads"]
    assert all(s["metrics"] == {"accuracy": 0.93, "f1": 0.8} for s in py["samples"])
    assert py["footprint"]["units"] == 2  # the units still add up; metric lines are not units
    assert py["metrics"]["accuracy"]["median"] == 0.93 and py["metrics"]["accuracy"]["n"] == 3
    assert py["metrics"]["accuracy"]["wh_per_point"] == pytest.approx(
        py["energy_wh"] / 0.93, rel=1e-3
    )  # energy_wh is rounded
    assert "wh_per_point" not in py["metrics"]["f1"]  # not asked for
    assert sh["metrics"] == {"accuracy": {"median": 0.91, "n": 3}} and sh["footprint"]["units"] == 1

    report = (tmp_path / "carbon-gate-report.md").read_text()
    assert "### Quality metrics" in report
    rows = [line for line in report.splitlines() if line.startswith("| python-api | accuracy |")]
    assert len(rows) == 1 and "| 0.93 |" in rows[0] and "per point" in rows[0]

    r = cli("report", "carbon-gate-results.json", "--format", "csv")
    assert r.returncode == 0, r.stderr
    table = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["metric_accuracy"] for row in table if row["workload"] == "python-api"] == ["0.93"] * 4  # warm-up too
    assert {row["metric_accuracy"] for row in table if row["workload"] == "any-language"} == {"0.91"}
    assert {row["metric_f1"] for row in table if row["workload"] == "any-language"} == {""}

    # `compare` re-assesses from the results alone and keeps the metrics and the energy per point.
    r = cli("compare", "carbon-gate-results.json", "carbon-gate-results.json", "--results", "again.json")
    assert r.returncode in (0, 1), r.stderr
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["workloads"][0]["metrics"] == py["metrics"]


def test_units_file_readers_keep_metrics_and_units_apart(tmp_path, monkeypatch):
    path = tmp_path / "units"
    monkeypatch.setenv("CARBON_GATE_UNITS_FILE", str(path))
    assert report_metric("loss", 0.25) and report_metric("tokens_per_s", 1.5e4)
    path.write_text(path.read_text() + "3 epoch\nmetric bad name 1\nmetric nan-value nan\nmetric x\nmetric 9x 1\n")
    assert read_units_file(path) == (3.0, "epoch")
    assert read_metrics_file(path) == {"loss": 0.25, "tokens_per_s": 15000.0}


def test_units_file_is_streamed_and_metric_names_are_capped(tmp_path):
    from carbon_gate.functional_units import MAX_METRICS

    path = tmp_path / "units"
    with open(path, "w") as f:  # what a hostile or chatty workload can write: many names, a huge line
        f.writelines(f"metric m{i} {i}\n" for i in range(MAX_METRICS + 50))
        f.write("7" * 1_000_000 + "\n")  # one 1 MB line: read in pieces, none of them a number we keep
        f.writelines("1 step\n" for _ in range(200_000))  # one line per training step is normal
    metrics = read_metrics_file(path)
    assert list(metrics) == [f"m{i}" for i in range(MAX_METRICS)]
    total, name = read_units_file(path)
    assert (total, name) == (200_000, "step")  # the huge line's pieces overflow a float: not counts


@pytest.mark.parametrize(
    "name, value", [("two words", 1), ("", 1), ("acc", float("nan")), ("acc", float("inf")), ("1st", 1)]
)
def test_report_metric_refuses_what_cannot_be_a_column_or_a_number(name, value):
    with pytest.raises(ValueError):
        report_metric(name, value)


def test_report_metric_inside_a_measure_block(monkeypatch):
    monkeypatch.delenv("CARBON_GATE_UNITS_FILE", raising=False)
    import carbon_gate

    assert carbon_gate.report_metric("accuracy", 0.9) is False  # nobody listening: safe to call
    with carbon_gate.measure(grid_intensity=100) as m:
        assert carbon_gate.report_metric("accuracy", 0.97)
    assert m.sample.metrics == {"accuracy": 0.97}
