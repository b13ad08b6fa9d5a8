"""Water (grid.wue, default off) and the CPU model's error band, through a real `carbon-gate run`."""

from __future__ import annotations

import csv
import io
import json

import pytest

RUNNER = '{profile: github-linux-x64-4vcpu, rapl: "off", embodied: "off"}'


def test_water_is_counted_only_with_a_wue_and_the_model_error_is_stated(cli, tmp_path, quick_config):
    quick_config("{intensity: 100 g/kWh, pue: 1.2, wue: 1.8}", RUNNER)
    proc = cli("run", "--results", "results.json", "--report", "report.md", "-q")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["grid"]["wue"] == 1.8
    (w,) = doc["workloads"]
    fp = w["footprint"]
    assert fp["water_l"] == pytest.approx(fp["facility_wh"] / 1000 * 1.8, abs=1e-9)  # rounded to nL
    # The modelled CPU figure carries the validated band, in the machine section and on the energy itself.
    assert doc["machine"]["cpu"]["error_band_pct"] == 45
    cpu = next(e for e in w["samples"][0]["energy"] if e["component"] == "cpu")
    assert "typical error ±45 %" in cpu["reason"]
    report = (tmp_path / "report.md").read_text()
    assert "**Model error:** modelled CPU figures: typical error ±45 %" in report
    assert "**Water:** WUE 1.8 L/kWh" in report
    out = cli("report", "results.json", "--format", "csv")
    row = next(csv.DictReader(io.StringIO(out.stdout)))
    assert float(row["water_consumed"]) == pytest.approx(float(row["energy_consumed"]) * 1.8, rel=1e-9)


def test_without_a_wue_there_is_no_water(cli, tmp_path, quick_config):
    quick_config("{intensity: 100 g/kWh, pue: 1.2}", RUNNER)
    proc = cli("run", "--results", "results.json", "--report", "report.md", "-q")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["grid"]["wue"] is None and doc["workloads"][0]["footprint"]["water_l"] is None
    assert "Water" not in (tmp_path / "report.md").read_text()
    row = next(csv.DictReader(io.StringIO(cli("report", "results.json", "--format", "csv").stdout)))
    assert row["water_consumed"] == "" and row["wue"] == ""
