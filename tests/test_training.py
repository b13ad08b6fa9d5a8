"""Training workloads (docs/methodology.md): the units protocol, SCI per unit, per-unit budgets, projection of
the full run from a short one, and the Python API's report_units — through the real CLI in
subprocesses running a small real training loop."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import carbon_gate
from carbon_gate.functional_units import ENV_VAR, read_units_file
from carbon_gate.units import format_energy

INTENSITY_G_PER_KWH = 400.0

# The example's epoch-based training loop (pure-Python logistic regression on generated data, CPU only,
# no downloads), run with fewer samples: it reports one functional unit per epoch.
TRAIN_PY = Path(__file__).resolve().parents[1] / "examples" / "training-projection" / "train.py"

EPOCHS = 2


@pytest.fixture
def train_script(tmp_path: Path) -> Path:
    return Path(shutil.copy(TRAIN_PY, tmp_path / "train.py"))


def train_command(epochs: int = EPOCHS, samples: int = 600) -> str:
    """The training command as a YAML flow list (exec'd directly, with this interpreter)."""
    return json.dumps([sys.executable, "train.py", "--epochs", str(epochs), "--samples", str(samples), "--dims", "12"])


def config_text(workloads: str, repeats: int = 3) -> str:
    head = textwrap.dedent(f"""\
        version: 1
        grid:
          intensity: {INTENSITY_G_PER_KWH:g} g/kWh
        defaults:
          repeats: {repeats}
          warmup: 0
          timeout: 2m
        workloads:
        """)
    return head + textwrap.indent(textwrap.dedent(workloads).strip("\n"), "  ") + "\n"


def projected_train(co2e: str) -> str:
    """The training workload projected to 90 epochs, with a generous per-epoch and the given projected budget."""
    return f"""
        - name: train
          command: {train_command()}
          unit: {{name: epoch}}
          extrapolate: {{to: 90}}
          budget:
            per_unit: {{energy: 1 kWh}}
            projected: {{co2e: {co2e}}}
        """


def run_gate(cli, tmp_path: Path, workloads: str, repeats: int = 3) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "carbon-gate.yml").write_text(config_text(workloads, repeats))
    proc = cli("run", "-q")
    results = tmp_path / "carbon-gate-results.json"
    assert results.exists(), proc.stdout + proc.stderr
    return proc, json.loads(results.read_text())


def workload(doc: dict, name: str) -> dict:
    return next(w for w in doc["workloads"] if w["name"] == name)


def counted(w: dict) -> list[dict]:
    return [s for s in w["samples"] if not s["warmup"] and s["error"] is None]


# ------------------------------------------------------------------ a real training script


@pytest.fixture(scope="module")
def measured_training(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict, str]:
    """One real `carbon-gate run` of the training script (3 runs of 2 epochs, projected to 90), shared by
    the tests that only read its results and report."""
    root = tmp_path_factory.mktemp("training")
    shutil.copy(TRAIN_PY, root / "train.py")
    (root / "carbon-gate.yml").write_text(config_text(projected_train(co2e="1 t")))
    proc = subprocess.run(
        [sys.executable, "-m", "carbon_gate", "run", "-q"], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert (root / "carbon-gate-results.json").exists(), proc.stdout + proc.stderr
    doc = json.loads((root / "carbon-gate-results.json").read_text())
    return proc, doc, (root / "carbon-gate-report.md").read_text()


def test_training_script_reports_epochs_as_functional_units(measured_training):
    proc, doc, _ = measured_training
    assert proc.returncode == 0, proc.stdout + proc.stderr
    w = workload(doc, "train")
    assert w["verdict"] == "new"
    runs = counted(w)
    assert len(runs) == 3
    assert all(s["units"] == EPOCHS for s in runs), [s["units"] for s in runs]
    assert all(s["energy_wh"] > 0 for s in runs)
    assert w["footprint"]["units"] == EPOCHS
    assert w["footprint"]["unit"] == "epoch"
    assert w["sci"]["unit"] == "gCO2e/epoch"
    assert w["sci"]["units_per_run"] == EPOCHS
    assert w["sci"]["value"] == pytest.approx(w["co2e_g"] / EPOCHS, rel=1e-4, abs=2e-9)
    # both budgets were checked and are within
    checks = {c["limit"]: c for c in w["budget"]["checks"]}
    assert set(checks) == {"per_unit.energy", "projected.co2e"}
    assert not any(c["exceeded"] for c in checks.values())
    assert checks["per_unit.energy"]["actual"] == pytest.approx(w["energy_wh"] / EPOCHS, rel=1e-4, abs=2e-9)


def test_projection_of_the_full_run_from_the_measured_epochs(measured_training):
    proc, doc, report = measured_training
    assert proc.returncode == 0, proc.stdout + proc.stderr
    w = workload(doc, "train")
    p = w["projection"]
    assert p is not None
    assert p["to"] == 90
    assert p["unit"] == "epoch"
    runs = counted(w)
    per_unit = [s["energy_wh"] / s["units"] for s in runs]
    assert p["per_unit_wh"] == pytest.approx(statistics.median(per_unit), rel=1e-4)
    assert p["energy_wh"] == pytest.approx(statistics.median(per_unit) * 90, rel=1e-4)
    assert p["low_wh"] == pytest.approx(min(per_unit) * 90, rel=1e-4)
    assert p["high_wh"] == pytest.approx(max(per_unit) * 90, rel=1e-4)
    assert p["low_wh"] <= p["energy_wh"] <= p["high_wh"]
    # 90 epochs cost far more than the 2 measured
    assert p["energy_wh"] > w["energy_wh"] * 40
    # CO2e of the projection: energy × PUE (1) × intensity, plus embodied over the projected time
    operational = p["energy_wh"] / 1000 * INTENSITY_G_PER_KWH
    if doc["machine"]["embodied"] is None:
        assert p["co2e_g"] == pytest.approx(operational, rel=1e-4, abs=2e-9)
    else:
        assert p["co2e_g"] >= operational * (1 - 1e-6)
    wall_per_unit = [s["wall_s"] / s["units"] for s in runs]
    assert p["wall_s"] == pytest.approx(statistics.median(wall_per_unit) * 90, rel=1e-2, abs=0.01)
    assert p["wall_s"] > 0

    # The Markdown report shows measured and projected side by side.
    assert "### Projected full runs" in report
    section = report.split("### Projected full runs", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith("| train |"))
    assert format_energy(w["energy_wh"]) in row  # measured
    assert format_energy(p["energy_wh"]) in row  # projected
    assert format_energy(p["low_wh"]) in row and format_energy(p["high_wh"]) in row  # its range
    assert "90 epoch" in row  # planned units


def test_per_epoch_budget_below_the_measured_energy_fails_the_gate(cli, tmp_path, train_script):
    # A fraction of a microwatt-hour per epoch: far below any real epoch of the loop.
    proc, doc = run_gate(
        cli,
        tmp_path,
        f"""
        - name: train
          command: {train_command()}
          unit: {{name: epoch}}
          budget:
            per_unit: {{energy: 0.001 µWh}}
        """,
        repeats=2,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert doc["verdict"] == "fail"
    w = workload(doc, "train")
    assert w["verdict"] == "over-budget"
    check = next(c for c in w["budget"]["checks"] if c["limit"] == "per_unit.energy")
    assert check["exceeded"] and check["actual"] > check["allowed"]
    assert check["actual"] == pytest.approx(w["energy_wh"] / EPOCHS, rel=1e-4, abs=2e-9)
    assert any("per unit" in r and "exceeded" in r for r in w["reasons"]), w["reasons"]
    assert "per unit" in proc.stdout + proc.stderr


def test_projected_co2e_budget_below_the_projection_fails_the_gate(cli, tmp_path, train_script):
    proc, doc = run_gate(cli, tmp_path, projected_train(co2e="0.000001 mg"), repeats=2)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    w = workload(doc, "train")
    assert w["verdict"] == "over-budget"
    checks = {c["limit"]: c for c in w["budget"]["checks"]}
    assert checks["projected.co2e"]["exceeded"]
    assert checks["projected.co2e"]["actual"] == pytest.approx(w["projection"]["co2e_g"], rel=1e-4, abs=2e-9)
    assert not checks["per_unit.energy"]["exceeded"]  # only the full run is over
    over = [r for r in w["reasons"] if "exceeded" in r]
    assert len(over) == 1 and "projected full run" in over[0], w["reasons"]
    report = (tmp_path / "carbon-gate-report.md").read_text()
    assert "projected full run exceeded" in report
    assert "### Projected full runs" in report


def test_declared_unit_without_any_report_is_an_error(cli, tmp_path):
    proc, doc = run_gate(
        cli,
        tmp_path,
        f"""
        - name: silent
          command: {json.dumps([sys.executable, "-c", "print('training without reporting')"])}
          unit: {{name: epoch}}
          extrapolate: {{to: 90}}
        """,
        repeats=1,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert doc["verdict"] == "error"
    w = workload(doc, "silent")
    assert w["verdict"] == "error"
    reason = " ".join(w["reasons"])
    assert "'epoch'" in reason and "reported no units" in reason
    assert "report_units" in reason and "CARBON_GATE_UNITS_FILE" in reason
    assert w["projection"] is None  # nothing to divide by, so nothing projected


def test_training_script_runs_standalone_without_carbon_gate(tmp_path, train_script):
    """Calling report_units unconditionally is safe outside carbon-gate: no error (it returns False, see
    test_report_units_outside_anything_returns_false_and_does_nothing)."""
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    proc = subprocess.run(
        [sys.executable, "train.py", "--epochs", "2", "--samples", "50"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("accuracy") == 2, proc.stdout


# ------------------------------------------------------------------ the units file from any language


def test_units_file_from_shell_workloads(cli, tmp_path):
    proc, doc = run_gate(
        cli,
        tmp_path,
        """
        - name: echo-five
          command: echo 5 > "$CARBON_GATE_UNITS_FILE"
          unit: {name: item}
        - name: several-lines
          command: f="$CARBON_GATE_UNITS_FILE"; echo 2 >> "$f"; echo 3.5 >> "$f"; echo "1 step" >> "$f"
          unit: {name: step}
        - name: static-count
          command: "true"
          unit: {name: batch, count: 4}
        - name: reported-overrides-static
          command: echo 7 > "$CARBON_GATE_UNITS_FILE"
          unit: {name: batch, count: 4}
        - name: fresh-file-per-run
          command: echo 5 >> "$CARBON_GATE_UNITS_FILE"
          unit: {name: item}
          warmup: 1
        """,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = {
        "echo-five": (5, "item"),
        "several-lines": (6.5, "step"),
        "static-count": (4, "batch"),
        "reported-overrides-static": (7, "batch"),
        "fresh-file-per-run": (5, "item"),
    }
    for name, (units, unit) in expected.items():
        w = workload(doc, name)
        assert w["verdict"] == "new", (name, w["reasons"])
        assert w["footprint"]["units"] == units, name
        assert w["sci"]["unit"] == f"gCO2e/{unit}", name
        assert w["sci"]["value"] == pytest.approx(w["co2e_g"] / units, rel=1e-4, abs=2e-9), name
    # static count without reporting: the samples carry no reported units
    assert all(s["units"] is None for s in workload(doc, "static-count")["samples"])
    # every run (warm-up included) gets its own, empty units file: appends never accumulate across runs
    assert [s["units"] for s in workload(doc, "fresh-file-per-run")["samples"]] == [5, 5, 5, 5]


def test_units_file_env_var_names_a_writable_file_per_run(cli, tmp_path):
    script = tmp_path / "show.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, pathlib
        path = os.environ[{ENV_VAR!r}]
        with open("seen.txt", "a") as f:
            f.write(path + "\\n")
        pathlib.Path(path).write_text("3\\n")
        """)
    )
    proc, doc = run_gate(
        cli,
        tmp_path,
        f"""
        - name: show
          command: {json.dumps([sys.executable, "show.py"])}
          unit: {{name: item}}
        """,
        repeats=2,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = (tmp_path / "seen.txt").read_text().split()
    assert len(seen) == 2 and seen[0] != seen[1]
    assert all(not Path(p).exists() for p in seen)  # cleaned up after each run
    assert workload(doc, "show")["footprint"]["units"] == 3


def test_read_units_file(tmp_path):
    f = tmp_path / "units"
    assert read_units_file(f) == (None, None)  # never written
    f.write_text("")
    assert read_units_file(f) == (None, None)
    f.write_text("1 epoch\n1 epoch\n\n2.5 epoch\n")
    assert read_units_file(f) == (4.5, "epoch")
    f.write_text("garbage\n3\n")
    assert read_units_file(f) == (3.0, None)


# ------------------------------------------------------------------ the Python API


@pytest.fixture
def no_units_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_report_units_inside_measure(no_units_env):
    with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as m:
        assert carbon_gate.report_units(3) is True
    assert m.footprint.units == 3
    assert m.sample.units == 3
    assert m.footprint.sci_g_per_unit == pytest.approx(m.footprint.co2e_g / 3)


def test_report_units_with_a_name_sums_and_names_the_unit(no_units_env):
    with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as m:
        for _ in range(EPOCHS):
            carbon_gate.report_units(1, name="epoch")
    assert m.footprint.units == EPOCHS
    assert m.footprint.unit == "epoch"


def test_measure_without_reports_keeps_its_configured_units(no_units_env):
    with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH, unit="batch", units=8) as m:
        pass
    assert (m.footprint.units, m.footprint.unit) == (8, "batch")


def test_report_units_goes_to_the_innermost_measure(no_units_env):
    with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as outer:
        with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as inner:
            carbon_gate.report_units(4)
        carbon_gate.report_units(2)
    assert inner.footprint.units == 4
    assert outer.footprint.units == 2


def test_report_units_outside_anything_returns_false_and_does_nothing(no_units_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert carbon_gate.report_units(1) is False
    assert carbon_gate.report_units(1, name="epoch") is False
    assert list(tmp_path.iterdir()) == []
    with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as m:
        pass
    assert carbon_gate.report_units(5) is False  # the block is over: nobody listens any more
    assert m.footprint.units == 1


def test_report_units_writes_the_env_file_when_set(tmp_path, monkeypatch):
    f = tmp_path / "units"
    monkeypatch.setenv(ENV_VAR, str(f))
    assert carbon_gate.report_units(2, name="epoch") is True
    assert carbon_gate.report_units(0.5) is True
    assert read_units_file(f) == (2.5, "epoch")


def test_negative_units_raise(no_units_env, tmp_path, monkeypatch):
    f = tmp_path / "units"
    monkeypatch.setenv(ENV_VAR, str(f))
    with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as m:
        with pytest.raises(ValueError, match="negative"):
            carbon_gate.report_units(-1)
        carbon_gate.report_units(2)
    assert m.footprint.units == 2  # the rejected call recorded nothing
    assert read_units_file(f) == (2.0, None)


# ------------------------------------------------------------------ bugs


def test_zero_reported_units_is_a_clear_workload_error_not_a_crash(cli, tmp_path):
    # e.g. a training script whose data loader came back empty: report_units(len(batches)) with 0 batches
    (tmp_path / "carbon-gate.yml").write_text(
        config_text(
            """
        - name: empty-epoch
          command: echo 0 > "$CARBON_GATE_UNITS_FILE"
          unit: {name: step}
        """,
            repeats=1,
        )
    )
    proc = cli("run", "-q")
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 3, proc.stderr[-2000:]
    doc = json.loads((tmp_path / "carbon-gate-results.json").read_text())
    assert workload(doc, "empty-epoch")["verdict"] == "error"


def test_unit_count_zero_is_rejected_as_a_config_error(cli, tmp_path):
    (tmp_path / "carbon-gate.yml").write_text(
        config_text(
            """
        - name: no-work
          command: "true"
          unit: {name: batch, count: 0}
        """,
            repeats=1,
        )
    )
    proc = cli("run", "-q")
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "unit.count" in proc.stderr


def test_report_units_rejects_nan(no_units_env):
    with pytest.raises(ValueError):
        carbon_gate.report_units(float("nan"))


def test_report_units_from_a_worker_thread_reaches_the_measure_block(no_units_env):
    returned = []
    with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as m:
        t = threading.Thread(target=lambda: returned.append(carbon_gate.report_units(5)))
        t.start()
        t.join()
    assert returned == [True]
    assert m.footprint.units == 5


def _report_from_a_new_thread(n: float) -> bool:
    """report_units(n) from a fresh thread, which inherits no ContextVar and so opened no block."""
    returned: list[bool] = []
    t = threading.Thread(target=lambda: returned.append(carbon_gate.report_units(n)))
    t.start()
    t.join()
    return returned[0]


def test_report_units_from_a_worker_thread_goes_to_the_innermost_of_nested_blocks(no_units_env):
    with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as outer:
        with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as middle:
            with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as inner:
                assert _report_from_a_new_thread(5) is True
            assert _report_from_a_new_thread(3) is True  # the inner block is closed: the middle one is innermost now
        assert _report_from_a_new_thread(2) is True
    assert (inner.footprint.units, middle.footprint.units, outer.footprint.units) == (5, 3, 2)
    assert _report_from_a_new_thread(7) is False  # every block is closed: nobody listens


def test_report_units_from_a_third_thread_warns_when_blocks_are_open_side_by_side(no_units_env):
    opened, release = threading.Barrier(3), threading.Event()
    blocks: dict[str, carbon_gate.measure] = {}
    errors: list[BaseException] = []

    def side(name: str) -> None:
        try:
            with carbon_gate.measure(grid_intensity=INTENSITY_G_PER_KWH) as m:
                blocks[name] = m
                opened.wait(timeout=30)
                assert release.wait(timeout=30)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=side, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    try:
        opened.wait(timeout=30)  # both blocks are open, each in its own thread
        # This (third) thread opened no block and the two are not nested: neither may get its units.
        with pytest.warns(RuntimeWarning, match="2 carbon_gate.measure blocks are open side by side"):
            assert carbon_gate.report_units(4) is False
    finally:
        release.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors
    assert blocks["a"].footprint.units == 1 and blocks["b"].footprint.units == 1  # the configured default, untouched
