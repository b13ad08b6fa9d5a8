"""CodeCarbon `emissions.csv` import (docs/methodology.md): rows become samples that the gate, the baseline and
the report treat like measured runs.

Fixtures (tests/fixtures/codecarbon/) follow the real column sets of CodeCarbon releases:
  emissions_v2.csv  CodeCarbon 2.3 — the full header, two projects (a GPU fine-tune and a CPU job)
  emissions_v1.csv  CodeCarbon 1.x/2.0 — per-component energies, no experiment_id/codecarbon_version/pue
  emissions_v0.csv  CodeCarbon 1.0 (2020) — totals only: energy_consumed, no per-component columns
Energies in these files are kWh, durations seconds, emissions kg.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import statistics
from pathlib import Path

import pytest

from carbon_gate.codecarbon_import import load_codecarbon, read_codecarbon
from carbon_gate.errors import UsageError
from carbon_gate.units import format_energy

FIXTURES = Path(__file__).parent / "fixtures" / "codecarbon"
V2, V1, V0 = FIXTURES / "emissions_v2.csv", FIXTURES / "emissions_v1.csv", FIXTURES / "emissions_v0.csv"
COMPONENTS = (("cpu_energy", "cpu"), ("gpu_energy", "gpu"), ("ram_energy", "memory"))
ENERGY_COLUMNS = ("cpu_energy", "gpu_energy", "ram_energy", "energy_consumed")


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def project_rows(path: Path, project: str) -> list[dict[str, str]]:
    return [r for r in rows(path) if r["project_name"] == project]


def median_wh(path: Path, project: str) -> float:
    return statistics.median(float(r["energy_consumed"]) * 1000 for r in project_rows(path, project))


def scaled_copy(src: Path, dst: Path, factor: float, project: str | None = None) -> None:
    """The same runs with every energy (and the emissions) scaled, as after a change that costs more."""
    data = rows(src)
    with open(dst, "w", newline="") as f:
        w = csv.DictWriter(f, list(data[0]), lineterminator="\n")
        w.writeheader()
        for r in data:
            if project is None or r["project_name"] == project:
                for col in (*ENERGY_COLUMNS, "emissions"):
                    if r.get(col):
                        r[col] = repr(float(r[col]) * factor)
            w.writerow(r)


def fixture_headers_are_the_real_ones():
    """Guard the fixtures themselves: the column sets of the CodeCarbon releases they stand for."""
    full = (
        "timestamp project_name run_id experiment_id duration emissions emissions_rate cpu_power gpu_power ram_power"
        " cpu_energy gpu_energy ram_energy energy_consumed country_name country_iso_code region cloud_provider"
        " cloud_region os python_version codecarbon_version cpu_count cpu_model gpu_count gpu_model longitude latitude"
        " ram_total_size tracking_mode on_cloud pue"
    ).split()
    older = [c for c in full if c not in ("experiment_id", "codecarbon_version", "pue")]
    oldest = (
        "timestamp experiment_id project_name duration emissions energy_consumed country_name country_iso_code region"
        " on_cloud cloud_provider cloud_region"
    ).split()
    return {V2: full, V1: older, V0: oldest}


@pytest.mark.parametrize("path", [V2, V1, V0], ids=["v2", "v1", "v0"])
def test_fixtures_have_the_real_codecarbon_headers_and_consistent_totals(path):
    with open(path, newline="") as f:
        header = next(csv.reader(f))
    assert header == fixture_headers_are_the_real_ones()[path]
    for r in rows(path):
        if "cpu_energy" in r:
            parts = sum(float(r[c]) for c, _ in COMPONENTS)
            assert float(r["energy_consumed"]) == pytest.approx(parts, rel=1e-9)


# ------------------------------------------------------------------ read_codecarbon


def test_v2_file_one_sample_per_row_grouped_by_project():
    groups = read_codecarbon(V2)
    assert set(groups) == {"bert-finetune", "resnet-cpu"}
    assert sum(len(g) for g in groups.values()) == len(rows(V2)) == 12
    for project, samples in groups.items():
        expected = project_rows(V2, project)
        assert len(samples) == len(expected) == 6
        for s, r in zip(samples, expected):  # file order is kept
            assert s.started_at == r["timestamp"]
            assert s.wall_s == pytest.approx(float(r["duration"]))
            assert s.ok and not s.warmup and s.exit_code == 0
            by = {e.component: e.wh for e in s.energy}
            for col, comp in COMPONENTS:
                kwh = float(r[col])
                if kwh > 0:
                    assert by[comp] == pytest.approx(kwh * 1000, rel=1e-12), (project, comp)
                else:
                    assert comp not in by  # a CPU-only job has no GPU component
            assert s.energy_wh == pytest.approx(float(r["energy_consumed"]) * 1000, rel=1e-9)
            # CodeCarbon's own CO2e is kept as a note, carbon-gate recomputes it
            assert any("CodeCarbon reported" in n for n in s.notes)
    assert {e.component for e in groups["bert-finetune"][0].energy} == {"cpu", "gpu", "memory"}
    assert {e.component for e in groups["resnet-cpu"][0].energy} == {"cpu", "memory"}


def test_method_and_source_name_codecarbon_and_its_version():
    s = read_codecarbon(V2)["bert-finetune"][0]
    for e in s.energy:
        assert e.method == "modelled"
        assert e.source == "CodeCarbon 2.3.4 emissions.csv"
        assert "CodeCarbon" in e.reason
    old = read_codecarbon(V1)["distilbert-sst2"][0]
    assert all("CodeCarbon" in e.source and "unknown version" in e.source for e in old.energy)


def test_v1_file_without_experiment_id_version_or_pue():
    groups = read_codecarbon(V1)
    assert list(groups) == ["distilbert-sst2"]
    samples = groups["distilbert-sst2"]
    expected = rows(V1)
    assert len(samples) == len(expected) == 5
    for s, r in zip(samples, expected):
        by = {e.component: e.wh for e in s.energy}
        assert by == pytest.approx({comp: float(r[col]) * 1000 for col, comp in COMPONENTS})
        assert s.wall_s == pytest.approx(float(r["duration"]))


def test_v0_file_with_only_the_total_gives_one_total_component():
    groups = read_codecarbon(V0)
    assert set(groups) == {"mnist-cnn", "lstm-lm"}
    for project, samples in groups.items():
        expected = project_rows(V0, project)
        assert len(samples) == len(expected) == 4
        for s, r in zip(samples, expected):
            assert [e.component for e in s.energy] == ["total"]
            assert s.energy[0].wh == pytest.approx(float(r["energy_consumed"]) * 1000, rel=1e-12)
            assert "only the total" in s.energy[0].reason
            assert s.wall_s == pytest.approx(float(r["duration"]))


def test_project_filter():
    groups = read_codecarbon(V2, project="resnet-cpu")
    assert list(groups) == ["resnet-cpu"] and len(groups["resnet-cpu"]) == 6
    with pytest.raises(UsageError, match="nope"):
        read_codecarbon(V2, project="nope")


def test_file_without_energy_columns_or_missing_is_a_usage_error(tmp_path):
    bad = tmp_path / "not-codecarbon.csv"
    bad.write_text("timestamp,project_name,duration,emissions\n2024-01-01T00:00:00,x,10,0.001\n")
    with pytest.raises(UsageError, match=r"not-codecarbon\.csv.*no energy columns"):
        read_codecarbon(bad)
    with pytest.raises(UsageError, match=r"missing\.csv.*not found"):
        read_codecarbon(tmp_path / "missing.csv")


# ------------------------------------------------------------------ gating a CodeCarbon workload


def source_config(name: str = "bert-finetune", budget: str = "", extra: str = "") -> str:
    return (
        f"version: 1\ngrid:\n  intensity: 56 g/kWh\n{extra}workloads:\n"
        f"  - name: {name}\n    source: {{codecarbon_csv: emissions.csv}}\n"
        + (f"    budget: {{{budget}}}\n" if budget else "")
    )


@pytest.fixture
def v2_here(tmp_path: Path) -> Path:
    dst = tmp_path / "emissions.csv"
    shutil.copy(V2, dst)
    return dst


def gated_workload(cli, tmp_path: Path, exit_code: int) -> dict:
    """`carbon-gate run` in tmp_path, which must exit `exit_code`; the first workload of its results."""
    proc = cli("run", "-q")
    assert proc.returncode == exit_code, proc.stdout + proc.stderr
    return json.loads((tmp_path / "carbon-gate-results.json").read_text())["workloads"][0]


def test_run_gates_a_codecarbon_workload_over_budget(cli, write_config, tmp_path, v2_here):
    med = median_wh(V2, "bert-finetune")  # ≈ 160 Wh
    write_config(source_config(budget=f"energy: {med * 0.9:.1f} Wh"))
    w = gated_workload(cli, tmp_path, 1)
    assert w["verdict"] == "over-budget"
    assert w["energy_wh"] == pytest.approx(med, rel=1e-6)
    assert len(w["samples"]) == 6  # only this project's rows
    assert w["command"].startswith("import CodeCarbon")
    assert any("exceeded" in r for r in w["reasons"])
    # CO2e recomputed with the pinned grid factor, not CodeCarbon's
    assert w["co2e_g"] == pytest.approx(med / 1000 * 56, rel=1e-6)
    report = (tmp_path / "carbon-gate-report.md").read_text()
    assert "bert-finetune" in report and "over-budget" in report
    assert format_energy(med) in report
    assert "imported from CodeCarbon" in report  # the method table says where the numbers come from


def test_run_passes_a_codecarbon_workload_within_budget(cli, write_config, tmp_path, v2_here):
    med = median_wh(V2, "resnet-cpu")
    write_config(source_config("resnet-cpu", budget=f"energy: {med * 1.2:.3f} Wh"))
    w = gated_workload(cli, tmp_path, 0)
    assert w["verdict"] == "new"
    assert w["energy_wh"] == pytest.approx(med, rel=1e-6)
    assert all({e["component"] for e in s["energy"]} == {"cpu", "memory"} for s in w["samples"])
    assert (tmp_path / "carbon-gate-report.md").read_text().count("resnet-cpu") >= 1


def test_run_with_an_old_totals_only_file(cli, write_config, tmp_path):
    shutil.copy(V0, tmp_path / "emissions.csv")
    med = median_wh(V0, "lstm-lm")
    write_config(source_config("lstm-lm", budget=f"energy: {med * 0.5:.3f} Wh"))
    w = gated_workload(cli, tmp_path, 1)
    assert w["verdict"] == "over-budget"
    assert w["energy_wh"] == pytest.approx(med, rel=1e-6)
    assert all([e["component"] for e in s["energy"]] == ["total"] for s in w["samples"])


def test_baseline_update_then_a_costlier_csv_is_a_regression(cli, write_config, tmp_path, v2_here):
    write_config(source_config(extra="baseline: {mode: stored}\n"))
    upd = cli("baseline", "update", "-q")
    assert upd.returncode == 0, upd.stdout + upd.stderr
    stored = json.loads((tmp_path / ".carbon-gate" / "baseline.json").read_text())
    entry = stored["workloads"]["bert-finetune"]
    assert sorted(entry["samples_wh"]) == pytest.approx(
        sorted(float(r["energy_consumed"]) * 1000 for r in project_rows(V2, "bert-finetune")), rel=1e-6
    )

    # the same file again: not a regression
    w = gated_workload(cli, tmp_path, 0)
    assert w["verdict"] != "regression"
    assert w["baseline"]["mode"] == "stored"

    # the training now costs 40 % more energy per run
    scaled_copy(V2, v2_here, 1.4, project="bert-finetune")
    w = gated_workload(cli, tmp_path, 1)
    assert w["verdict"] == "regression", w["reasons"]
    assert w["baseline"]["mode"] == "stored"
    assert w["change"]["ratio"] == pytest.approx(1.4, rel=0.02)
    assert w["change"]["low"] > 1.05
    report = (tmp_path / "carbon-gate-report.md").read_text()
    assert "regression" in report and "+40" in report


# ------------------------------------------------------------------ carbon-gate import codecarbon


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_import_writes_results_that_report_renders_and_csv_round_trips(cli, tmp_path):
    proc = cli("import", "codecarbon", str(V2), "--results", "out.json", "--grid-intensity", "56")
    assert proc.returncode == 0, proc.stderr
    assert "12 rows" in proc.stdout and "2 workload" in proc.stdout
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["schema"] == "carbon-gate/results@1"
    assert {w["name"] for w in doc["workloads"]} == {"bert-finetune", "resnet-cpu"}
    for w in doc["workloads"]:
        assert w["verdict"] == "new"
        assert w["energy_wh"] == pytest.approx(median_wh(V2, w["name"]), rel=1e-6)
        assert w["co2e_g"] == pytest.approx(w["energy_wh"] / 1000 * 56, rel=1e-6)

    md = cli("report", "out.json")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("<!-- carbon-gate-report -->")
    assert "bert-finetune" in md.stdout and "resnet-cpu" in md.stdout
    assert format_energy(median_wh(V2, "bert-finetune")) in md.stdout
    assert "CodeCarbon" in md.stdout

    out = cli("report", "out.json", "--format", "csv")
    assert out.returncode == 0, out.stderr
    exported = csv_rows(out.stdout)
    original = rows(V2)
    assert len(exported) == len(original)
    by_key = {(r["project_name"], r["timestamp"]): r for r in exported}
    for r in original:
        e = by_key[(r["project_name"], r["timestamp"])]
        for col in ENERGY_COLUMNS:
            assert float(e[col]) == pytest.approx(float(r[col]), rel=1e-6, abs=1e-12), (r["timestamp"], col)
        assert float(e["duration"]) == pytest.approx(float(r["duration"]), rel=1e-6)
        assert float(e["emissions"]) == pytest.approx(float(r["energy_consumed"]) * 56 / 1000, rel=1e-6)


def test_import_of_a_totals_only_file_round_trips_the_total(cli, tmp_path):
    proc = cli("import", "codecarbon", str(V0), "--results", "old.json")
    assert proc.returncode == 0, proc.stderr
    out = cli("report", "old.json", "--format", "csv")
    assert out.returncode == 0, out.stderr
    exported = {(r["project_name"], r["timestamp"]): r for r in csv_rows(out.stdout)}
    for r in rows(V0):
        e = exported[(r["project_name"], r["timestamp"])]
        assert float(e["energy_consumed"]) == pytest.approx(float(r["energy_consumed"]), rel=1e-6)
    assert cli("report", "old.json").returncode == 0


def test_import_one_project(cli, tmp_path):
    proc = cli("import", "codecarbon", str(V2), "--project", "resnet-cpu", "--results", "one.json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "one.json").read_text())
    assert [w["name"] for w in doc["workloads"]] == ["resnet-cpu"]
    assert len(doc["workloads"][0]["samples"]) == 6


def test_import_one_project_fingerprints_that_projects_rows(cli, tmp_path):
    # The file's first row is the GPU fine-tune: the CPU job's results must not carry its A10G.
    assert rows(V2)[0]["project_name"] == "bert-finetune" and rows(V2)[0]["gpu_model"]
    proc = cli("import", "codecarbon", str(V2), "--project", "resnet-cpu", "--results", "one.json")
    assert proc.returncode == 0, proc.stderr
    machine = json.loads((tmp_path / "one.json").read_text())["machine"]
    assert machine["fingerprint"]["gpus"] == []
    assert machine["fingerprint"]["methods"] == {"cpu": "modelled", "memory": "modelled", "gpu": "none"}
    assert machine["gpu"] == "no GPU recorded by CodeCarbon"


def test_imported_machine_comes_from_the_rows_kept_and_marks_every_method_modelled():
    from carbon_gate.domain import Fingerprint

    gpu_job = load_codecarbon(V2, project="bert-finetune")
    fp = gpu_job.machine["fingerprint"]
    first = project_rows(V2, "bert-finetune")[0]
    assert fp["cpu_model"] == first["cpu_model"] and fp["logical_cpus"] == int(first["cpu_count"])
    assert fp["ram_gb"] == pytest.approx(float(first["ram_total_size"]))
    assert fp["gpus"] == [first["gpu_model"]] and fp["arch"] == "x86_64"
    # CodeCarbon's GPU figure is imported as modelled (the file does not say it measured it): so is the fingerprint
    assert fp["methods"] == {"cpu": "modelled", "memory": "modelled", "gpu": "modelled"}
    assert fp["cpu_method"] == "modelled" and gpu_job.machine["cpu"]["method"] == "modelled"
    assert {e.method for s in gpu_job.groups["bert-finetune"] for e in s.energy} == {"modelled"}
    assert Fingerprint.from_dict(fp).to_dict() == fp  # the shape of the results' fingerprint, field for field
    assert load_codecarbon(V2, project="resnet-cpu").machine["fingerprint"]["gpus"] == []
    assert load_codecarbon(V2).groups == read_codecarbon(V2)


def test_imported_machine_skips_rows_without_energy_and_needs_no_pandas(tmp_path):
    import subprocess
    import sys

    data = rows(V1)
    f = tmp_path / "emissions.csv"
    with open(f, "w", newline="") as out:
        w = csv.DictWriter(out, list(data[0]), lineterminator="\n")
        w.writeheader()
        # a first row with no energy at all (not imported), recorded on other hardware
        w.writerow(
            {
                **dict.fromkeys(data[0], ""),
                "project_name": data[0]["project_name"],
                "cpu_model": "Other CPU",
                "gpu_model": "Other GPU",
                "cpu_count": "2",
            }
        )
        w.writerows(data)
    imported = load_codecarbon(f)
    assert sum(len(g) for g in imported.groups.values()) == len(data)
    fp = imported.machine["fingerprint"]
    assert fp["cpu_model"] == data[0]["cpu_model"] and fp["gpus"] == [data[0]["gpu_model"]]
    assert fp["logical_cpus"] == int(data[0]["cpu_count"])
    # The import path reads the CSV with the standard library: pandas is never imported (it cost 341 ms).
    code = (
        "import sys; from carbon_gate.codecarbon_import import load_codecarbon; "
        f"load_codecarbon({str(f)!r}); assert 'pandas' not in sys.modules, 'pandas imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------ bad input: exit 2 naming the file


def test_import_without_energy_columns_is_exit_2_naming_the_file(cli, tmp_path):
    (tmp_path / "tracker-log.csv").write_text(
        "timestamp,project_name,duration,emissions\n2024-01-01T00:00:00,x,10.0,0.001\n"
    )
    proc = cli("import", "codecarbon", "tracker-log.csv", "--results", "out.json")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "tracker-log.csv" in proc.stderr and "energy" in proc.stderr
    assert not (tmp_path / "out.json").exists()


def test_import_of_a_missing_file_is_exit_2_naming_the_file(cli, tmp_path):
    proc = cli("import", "codecarbon", "nowhere/emissions.csv", "--results", "out.json")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "nowhere/emissions.csv" in proc.stderr
    assert not (tmp_path / "out.json").exists()


def test_run_with_a_missing_or_energyless_csv_is_exit_2_naming_the_file(cli, write_config, tmp_path):
    write_config(source_config())
    proc = cli("run", "-q")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "emissions.csv" in proc.stderr and "not found" in proc.stderr

    (tmp_path / "emissions.csv").write_text("timestamp,project_name,duration\n2024-01-01T00:00:00,bert-finetune,5\n")
    proc = cli("run", "-q")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "emissions.csv" in proc.stderr and "no energy columns" in proc.stderr


@pytest.mark.parametrize("path", [V2, V0], ids=["v2", "v0-totals-only"])
def test_imported_results_match_the_results_schema(cli, tmp_path, path):
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("carbon_gate").joinpath("data/results.schema.json").read_text())
    proc = cli("import", "codecarbon", str(path), "--results", "imported.json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "imported.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    # the GPU fine-tune's energy is imported as modelled, and so is the fingerprint's GPU method
    assert doc["machine"]["fingerprint"]["methods"]["gpu"] == ("modelled" if path == V2 else "none")


# ------------------------------------------------------------------ CodeCarbon 3 semantics: country, PUE, water

# CodeCarbon 3.x columns. CodeCarbon multiplies every energy by `pue` before adding it up, and computes
# emissions = energy_consumed × the country's intensity and water_consumed = energy_consumed × wue.
V3_COLUMNS = (
    "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,"
    "ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,country_name,"
    "country_iso_code,region,cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,"
    "cpu_model,gpu_count,gpu_model,longitude,latitude,ram_total_size,tracking_mode,on_cloud,pue,wue"
).split(",")
DEU_KG_PER_KWH = 0.38095  # CodeCarbon's global_energy_mix.json figure for Germany (Ember 2023)


def write_v3(path: Path, pue: float = 1.5, wue: float = 1.8, iso: str = "DEU") -> list[dict]:
    rows_out = []
    for i, (cpu_kwh, ram_kwh, secs) in enumerate(
        ((0.0120, 0.0021, 610.5), (0.0131, 0.0022, 640.0), (0.0117, 0.0020, 598.2))
    ):
        energies = {"cpu_energy": cpu_kwh * pue, "gpu_energy": 0.0, "ram_energy": ram_kwh * pue}
        total = sum(energies.values())
        rows_out.append(
            {
                **dict.fromkeys(V3_COLUMNS, ""),
                **{k: f"{v:.12g}" for k, v in energies.items()},
                "timestamp": f"2025-06-0{i + 1}T10:00:00",
                "project_name": "train",
                "run_id": f"run-{i}",
                "experiment_id": "5b0fa12a-3dd7-45bb-9766-cc326314d9f1",
                "duration": f"{secs}",
                "emissions": f"{total * DEU_KG_PER_KWH:.12g}",
                "energy_consumed": f"{total:.12g}",
                "water_consumed": f"{total * wue:.12g}",
                "country_name": "Germany",
                "country_iso_code": iso,
                "region": "hesse",
                "os": "Linux-6.8.0-x86_64-with-glibc2.39",
                "python_version": "3.12.3",
                "codecarbon_version": "3.3.2",
                "cpu_count": "16",
                "cpu_model": "AMD EPYC 7R13 Processor",
                "gpu_count": "0",
                "ram_total_size": "62.0",
                "tracking_mode": "process",
                "on_cloud": "N",
                "pue": f"{pue}",
                "wue": f"{wue}",
            }
        )
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, V3_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows_out)
    return rows_out


def test_v3_file_with_pue_and_country_imports_with_its_own_emissions_and_round_trips(cli, tmp_path):
    file_rows = write_v3(tmp_path / "emissions.csv")
    proc = cli("import", "codecarbon", "emissions.csv", "--results", "cc.json")
    assert proc.returncode == 0, proc.stderr
    assert "from the file's country_iso_code DEU" in proc.stdout and "PUE 1.5 from the file" in proc.stdout
    assert "region 'hesse' is not used" in proc.stdout
    doc = json.loads((tmp_path / "cc.json").read_text())
    assert doc["grid"]["country_iso3"] == "DEU" and doc["grid"]["pue"] == 1.5 and doc["grid"]["wue"] == 1.8
    (w,) = doc["workloads"]
    # Samples hold the IT energy: the file's energies ÷ its PUE, so PUE is never applied twice.
    for s, r in zip(w["samples"], file_rows):
        assert s["energy_wh"] == pytest.approx(float(r["energy_consumed"]) / 1.5 * 1000, rel=1e-9)
        assert s["run_id"] == r["run_id"] and s["tracking_mode"] == "process"
    # The workload's CO2e is the median run's, and it is the file's own emissions for that run.
    assert w["co2e_g"] == pytest.approx(statistics.median(float(r["emissions"]) for r in file_rows) * 1000, rel=1e-3)

    out = cli("report", "cc.json", "--format", "csv")
    assert out.returncode == 0, out.stderr
    exported = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(exported) == 3
    for e, r in zip(exported, file_rows):
        assert float(e["emissions"]) == pytest.approx(float(r["emissions"]), rel=1e-3)
        assert float(e["energy_consumed"]) == pytest.approx(float(r["energy_consumed"]), rel=1e-9)
        assert float(e["cpu_energy"]) == pytest.approx(float(r["cpu_energy"]), rel=1e-9)
        assert float(e["water_consumed"]) == pytest.approx(float(r["water_consumed"]), rel=1e-9)
        # consistent per row, as CodeCarbon's: emissions = energy_consumed × intensity, both with PUE
        assert float(e["emissions"]) == pytest.approx(
            float(e["energy_consumed"]) * float(e["grid_intensity_g_per_kwh"]) / 1000, rel=1e-9
        )
        assert (e["run_id"], e["tracking_mode"], e["pue"], e["wue"]) == (r["run_id"], "process", "1.5", "1.8")
        assert e["country_iso_code"] == "DEU"


def test_a_user_pue_replaces_the_files_never_multiplies(cli, tmp_path):
    file_rows = write_v3(tmp_path / "emissions.csv")
    proc = cli("import", "codecarbon", "emissions.csv", "--results", "cc.json", "--pue", "1.2", "--grid-country", "FR")
    assert proc.returncode == 0, proc.stderr
    assert "PUE 1.2 replaces the file's 1.5" in proc.stdout and "France" in proc.stdout
    doc = json.loads((tmp_path / "cc.json").read_text())
    s = doc["workloads"][0]["samples"][0]
    assert s["energy_wh"] == pytest.approx(float(file_rows[0]["energy_consumed"]) / 1.5 * 1000, rel=1e-9)
    assert doc["grid"]["pue"] == 1.2 and doc["grid"]["country_iso3"] == "FRA"


def test_a_file_without_pue_or_water_imports_as_before(tmp_path):
    imported = load_codecarbon(V1)  # CodeCarbon 2.x: no pue, no wue columns; Germany
    assert imported.grid.pue == 1.0 and imported.grid.wue is None and imported.grid.country_iso3 == "DEU"
