"""Forecasting a planned training run (docs/methodology.md): `carbon-gate estimate`, the packaged accelerator
table, and `estimate:` workloads gated like measured ones.

Reference check: GPT-3 (Patterson et al. 2021, "Carbon Emissions and Large Neural Network Training",
table 4): 175 B parameters, 300 B tokens, 10,000 V100, 330 W measured average, MFU 0.197 (24.6 of
125 TFLOP/s), PUE 1.1, 0.429 kg/kWh → 14.8 days, 1,287 MWh, 552 tCO2e.
"""

from __future__ import annotations

import json
import math
from importlib import resources

import pytest
import yaml

from carbon_gate.estimate import (
    AVG_POWER_FACTOR,
    DEFAULT_MFU,
    EstimateInput,
    accelerators,
    estimate,
    find_accelerator,
)

GPT3 = {
    "params": 175e9,
    "tokens": 300e9,
    "accelerator": "V100",
    "count": 10_000,
    "mfu": 0.197,
    "avg_power_w": 330.0,
    "pue": 1.1,
    "intensity": 429.0,
}
GPT3_DAYS, GPT3_MWH, GPT3_TCO2E = 14.8, 1287.0, 552.0
WITHIN_3_PCT = 0.03

GPT3_ARGS = (
    "estimate",
    "--params",
    "175e9",
    "--tokens",
    "300e9",
    "--accelerator",
    "V100",
    "--count",
    "10000",
    "--mfu",
    "0.197",
    "--avg-power",
    "330W",
    "--pue",
    "1.1",
    "--grid-intensity",
    "429",
)
EIGHT_KG_ARGS = ("--hours", "10", "--count", "4", "--avg-power", "0.3kW", "--pue", "1.5", "--grid-intensity", "450")


def gpt3_input(**over) -> EstimateInput:
    g = {**GPT3, **over}
    return EstimateInput(
        accelerator=g["accelerator"],
        count=g["count"],
        params=g["params"],
        tokens=g["tokens"],
        moe_active_params=g.get("moe_active_params"),
        hours=g.get("hours"),
        mfu=g["mfu"],
        avg_power_w=g["avg_power_w"],
        dtype=g.get("dtype"),
        pue=g["pue"],
        intensity_g_per_kwh=g["intensity"],
        intensity_source="test",
    )


def assert_gpt3(days: float, energy_kwh: float, co2e_kg: float) -> None:
    assert days == pytest.approx(GPT3_DAYS, rel=WITHIN_3_PCT)
    assert energy_kwh / 1000 == pytest.approx(GPT3_MWH, rel=WITHIN_3_PCT)
    assert co2e_kg / 1000 == pytest.approx(GPT3_TCO2E, rel=WITHIN_3_PCT)


# ------------------------------------------------------------------ the formulas


def test_gpt3_via_the_api_reproduces_patterson_et_al():
    est = estimate(gpt3_input())
    assert_gpt3(est.days, est.energy_kwh, est.co2e_kg)
    assert est.flops == pytest.approx(6 * 175e9 * 300e9)
    assert est.hours == pytest.approx(est.days * 24)
    # co2e_kg is operational only (what the paper reports); embodied is separate and positive
    assert est.co2e_kg == pytest.approx(est.energy_kwh * 0.429)
    assert est.embodied_kg > 0
    assert est.total_kg == pytest.approx(est.co2e_kg + est.embodied_kg)
    # 10,000 boards × 150 kg × (14.8 days / 4 years)
    assert est.embodied_kg == pytest.approx(10_000 * 150 * est.days / (4 * 365.25), rel=1e-9)


def test_gpt3_via_the_cli_json(cli):
    proc = cli(*GPT3_ARGS, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert_gpt3(out["days"], out["energy_kwh"], out["co2e_kg"])
    assert out["embodied_kg"] > 0
    assert out["total_kg"] == pytest.approx(out["co2e_kg"] + out["embodied_kg"])
    a = out["assumptions"]
    assert a["avg_power_w"] == 330 and a["avg_power_source"] == "given"
    assert a["mfu"] == 0.197 and a["pue"] == 1.1 and a["intensity_g_per_kwh"] == 429
    assert a["peak_tflops"] == 125 and a["dtype"] == "fp16"
    assert a["flops_formula"] == "6 · N · D"


def test_gpt3_cli_text_prints_assumptions_and_mfu_sensitivity(cli):
    proc = cli(*GPT3_ARGS)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "10000 × NVIDIA V100" in out
    assert "14.8" in out.splitlines()[0]  # days on the headline
    assert "embodied" in out
    _head, _, rest = out.partition("assumptions:")
    assert rest, out
    assumptions, _, sensitivity = rest.partition("MFU sensitivity:")
    assert sensitivity, out
    for key, value in (
        ("avg_power_w", "330"),
        ("avg_power_source", "given"),
        ("pue", "1.1"),
        ("intensity_g_per_kwh", "429"),
        ("mfu", "0.197"),
        ("peak_tflops", "125"),
        ("accelerator_source", "datasheet"),
    ):
        line = next((ln for ln in assumptions.splitlines() if ln.split()[:1] == [key]), None)
        assert line is not None and value in line, (key, assumptions)
    lines = [ln.strip() for ln in sensitivity.strip().splitlines()]
    assert len(lines) == 2 and all(ln.startswith("MFU ") and "days" in ln and "kWh" in ln for ln in lines), lines
    # half the MFU takes twice as long, 1.5× takes two thirds
    days = [float(ln.split(":")[1].split("days")[0].replace(",", "")) for ln in lines]
    assert days[0] == pytest.approx(2 * GPT3_DAYS, rel=WITHIN_3_PCT)
    assert days[1] == pytest.approx(GPT3_DAYS / 1.5, rel=WITHIN_3_PCT)


@pytest.mark.parametrize("accelerator", sorted(accelerators()))
def test_the_worked_example_8_1_kg_on_any_accelerator(accelerator):
    est = estimate(
        EstimateInput(accelerator=accelerator, count=4, hours=10, avg_power_w=300.0, pue=1.5, intensity_g_per_kwh=450.0)
    )
    assert est.energy_kwh == pytest.approx(18.0)
    assert est.co2e_kg == pytest.approx(8.1)
    assert est.flops is None and est.sensitivity == []
    assert est.assumptions["duration"] == "given"


def test_the_worked_example_8_1_kg_via_the_cli(cli):
    proc = cli("estimate", "--accelerator", "T4", *EIGHT_KG_ARGS, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["energy_kwh"] == pytest.approx(18.0)
    assert out["co2e_kg"] == pytest.approx(8.1)
    assert out["hours"] == pytest.approx(10.0)
    text = cli("estimate", "--accelerator", "T4", *EIGHT_KG_ARGS)
    assert text.returncode == 0, text.stderr
    assert "18.0 kWh" in text.stdout and "8.1 kg operational" in text.stdout


def test_moe_active_parameters_reduce_flops_proportionally():
    dense = estimate(gpt3_input(params=1.2e12))
    moe = estimate(gpt3_input(params=1.2e12, moe_active_params=1.2e11))
    assert moe.flops == pytest.approx(dense.flops / 10)
    assert moe.days == pytest.approx(dense.days / 10)
    assert moe.energy_kwh == pytest.approx(dense.energy_kwh / 10)
    assert moe.co2e_kg == pytest.approx(dense.co2e_kg / 10)
    assert moe.assumptions["active_params"] == 1.2e11


def test_moe_via_the_cli(cli):
    dense = estimate(gpt3_input()).to_dict()
    moe = cli(*GPT3_ARGS, "--moe-active-params", "35e9", "--json")
    assert moe.returncode == 0, moe.stderr
    m = json.loads(moe.stdout)
    assert m["flops"] == pytest.approx(dense["flops"] / 5)
    assert m["energy_kwh"] == pytest.approx(dense["energy_kwh"] / 5)


def test_without_average_power_the_tdp_times_the_factor_is_used_and_said():
    v100 = find_accelerator("V100")
    est = estimate(EstimateInput(accelerator="V100", count=8, hours=24, pue=1.0, intensity_g_per_kwh=400.0))
    assert est.assumptions["avg_power_w"] == pytest.approx(v100.tdp_w * AVG_POWER_FACTOR)
    assert "TDP" in est.assumptions["avg_power_source"] and "default" in est.assumptions["avg_power_source"]
    assert est.energy_kwh == pytest.approx(8 * v100.tdp_w * AVG_POWER_FACTOR * 24 / 1000)


def test_without_average_power_or_mfu_the_cli_says_so(cli):
    proc = cli(
        "estimate",
        "--params",
        "7e9",
        "--tokens",
        "1e12",
        "--accelerator",
        "H100-SXM",
        "--count",
        "64",
        "--grid-intensity",
        "400",
    )
    assert proc.returncode == 0, proc.stderr
    tdp = find_accelerator("H100-SXM").tdp_w
    line = next(ln for ln in proc.stdout.splitlines() if ln.strip().startswith("avg_power_source"))
    assert "TDP" in line and f"{tdp:g} W" in line and "default" in line
    mfu_line = next(ln for ln in proc.stdout.splitlines() if ln.strip().startswith("mfu_source"))
    assert f"default {DEFAULT_MFU:g}" in mfu_line


def test_lookup_is_case_and_punctuation_insensitive():
    assert find_accelerator("a100-80gb").key == "A100-80GB"
    assert find_accelerator("h100 sxm").key == "H100-SXM"
    assert find_accelerator("tpu v4").key == "TPUv4"


# ------------------------------------------------------------------ errors


def test_unknown_accelerator_is_a_usage_error_listing_the_known_ones(cli):
    proc = cli("estimate", "--accelerator", "Z9000", "--count", "8", "--hours", "1")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "unknown accelerator 'Z9000'" in proc.stderr
    for key in accelerators():
        assert key in proc.stderr


@pytest.mark.parametrize(
    "args", [(), ("--params", "7e9"), ("--tokens", "1e12")], ids=["nothing", "params-only", "tokens-only"]
)
def test_missing_params_or_tokens_without_hours_is_a_usage_error(cli, args):
    proc = cli("estimate", "--accelerator", "A100-80GB", "--count", "8", *args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--params" in proc.stderr and "--tokens" in proc.stderr and "--hours" in proc.stderr


def test_dtype_without_a_peak_is_a_usage_error(cli):
    proc = cli(
        "estimate", "--accelerator", "V100", "--count", "1", "--params", "1e9", "--tokens", "1e9", "--dtype", "fp8"
    )
    assert proc.returncode == 2
    assert "fp8" in proc.stderr and "fp16" in proc.stderr


# ------------------------------------------------------------------ the packaged table


def test_every_accelerator_has_tdp_peaks_default_dtype_and_source():
    raw = yaml.safe_load((resources.files("carbon_gate") / "data" / "accelerators.yml").read_text(encoding="utf-8"))
    assert len(raw) >= 10
    for key, row in raw.items():
        for field in ("name", "tdp_w", "memory_gb", "peak_tflops", "default_dtype", "source"):
            assert field in row, (key, field)
    table = accelerators()
    assert set(table) == set(raw)
    for key, acc in table.items():
        assert acc.tdp_w > 0 and math.isfinite(acc.tdp_w), key
        assert acc.peak_tflops, key
        assert all(v > 0 for v in acc.peak_tflops.values()), key
        assert acc.default_dtype in acc.peak_tflops, key
        assert isinstance(acc.source, str) and len(acc.source.strip()) > 10, key
    assert table["V100"].peak_tflops["fp16"] == 125  # the figure Patterson et al. use


# ------------------------------------------------------------------ estimate workloads in the gate


GPT3_WORKLOAD = """\
version: 1
grid:
  intensity: 429 g/kWh
  pue: 1.1
workloads:
  - name: gpt3-forecast
    estimate:
      params: 175e9
      tokens: 300e9
      accelerator: V100
      count: 10000
      mfu: 0.197
      avg_power: 330 W
    budget:
      {budget}
"""


@pytest.mark.parametrize(
    ("budget", "code", "verdict"),
    [
        ("co2e: 500 t", 1, "over-budget"),
        ("projected: {co2e: 500 t}", 1, "over-budget"),
        ("co2e: 600 t", 0, "new"),
        ("projected: {co2e: 600 t}", 0, "new"),
    ],
    ids=["co2e-over", "projected-co2e-over", "co2e-within", "projected-co2e-within"],
)
def test_estimate_workload_gates_the_forecast(cli, write_config, tmp_path, budget, code, verdict):
    write_config(GPT3_WORKLOAD.format(budget=budget))
    proc = cli("run", "-q")
    assert proc.returncode == code, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "carbon-gate-results.json").read_text())
    assert doc["verdict"] == ("fail" if code else "pass")
    w = doc["workloads"][0]
    assert w["verdict"] == verdict
    assert w["samples"] == []  # nothing ran
    assert w["estimate"] is not None
    assert_gpt3(w["estimate"]["days"], w["estimate"]["energy_kwh"], w["estimate"]["co2e_kg"])
    # the forecast's total (operational + embodied) is what the CO2e budgets see
    assert w["co2e_g"] == pytest.approx(w["estimate"]["total_kg"] * 1000)
    assert any("forecast, not measured" in r for r in w["reasons"])
    over = [c for c in w["budget"]["checks"] if c["exceeded"]]
    assert bool(over) == (code == 1)
    if code:
        assert any("exceeded" in r for r in w["reasons"])

    report = (tmp_path / "carbon-gate-report.md").read_text()
    assert "### Projected full runs" in report
    row = next(
        ln for ln in report.split("### Projected full runs", 1)[1].splitlines() if ln.startswith("| gpt3-forecast |")
    )
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "forecast"  # labelled as a forecast, not a measurement
    assert cells[3] == "full run"
    assert "t" in cells[5] and "days" in cells[6]


def test_estimate_workload_with_an_unknown_accelerator_is_an_error(cli, write_config, tmp_path):
    write_config(GPT3_WORKLOAD.format(budget="co2e: 600 t").replace("accelerator: V100", "accelerator: V1000"))
    proc = cli("run", "-q")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    w = json.loads((tmp_path / "carbon-gate-results.json").read_text())["workloads"][0]
    assert w["verdict"] == "error"
    assert any("cannot forecast" in r and "V1000" in r for r in w["reasons"])


def test_estimate_workload_next_to_a_measured_one(cli, write_config, tmp_path):
    write_config("""
        version: 1
        grid: {intensity: 429 g/kWh}
        defaults: {repeats: 1, warmup: 0}
        workloads:
          - name: smoke
            command: "true"
          - name: small-forecast
            estimate: {accelerator: A100-80GB, count: 8, hours: 12, avg_power: 400 W}
            budget: {projected: {energy: 50 kWh}}
        """)
    proc = cli("run", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "carbon-gate-results.json").read_text())
    forecast = next(w for w in doc["workloads"] if w["name"] == "small-forecast")
    # 8 × 400 W × 12 h = 38.4 kWh (PUE 1)
    assert forecast["estimate"]["energy_kwh"] == pytest.approx(38.4)
    assert forecast["projection"]["energy_wh"] == pytest.approx(38_400)
    assert forecast["verdict"] == "new"
    smoke = next(w for w in doc["workloads"] if w["name"] == "smoke")
    assert smoke["projection"] is None


@pytest.mark.parametrize(
    "args",
    [("--params", "-1"), ("--tokens", "-3e9"), ("--params", "inf"), ("--hours", "0"), ("--moe-active-params", "1e12")],
)
def test_impossible_sizes_are_usage_errors_not_negative_forecasts(cli, args):
    base = {"--params": "175e9", "--tokens": "300e9"}
    if args[0] == "--hours":
        base = {}
    base[args[0]] = args[1]
    proc = cli("estimate", "--accelerator", "V100", "--count", "10", *[x for kv in base.items() for x in kv], "--json")
    assert proc.returncode == 2, proc.stdout
    assert "Traceback" not in proc.stderr and "must" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "fragments"),
    [
        ("avg_power: 330 W", "avg_power: 0 W", 13, "avg_power", ["'0 W'", "greater than 0"]),
        ("avg_power: 330 W", "avg_power: -330 W", 13, "avg_power", ["'-330 W'", "negative"]),
        ("avg_power: 330 W", "avg_power: 330 parsecs", 13, "avg_power", ["'330 parsecs'", "330 W"]),
        (
            "mfu: 0.197",
            "mfu: 0.197\n      moe_active_params: 1.75e12",
            13,
            "moe_active_params",
            ["must not exceed params", "1.75e+12"],
        ),
        ("      tokens: 300e9\n", "", 7, "", ["params and tokens, or hours", "missing tokens"]),
    ],
    ids=["zero-power", "negative-power", "power-without-a-watt", "moe-above-params", "no-tokens"],
)
def test_impossible_forecast_in_the_config_is_a_config_error(
    cli, write_config, tmp_path, old, new, line, key, fragments
):
    # estimate() refuses these at run time (workload error, exit 3, naming a CLI flag): the loader
    # must refuse them first, at the key's line, naming the config key.
    text = GPT3_WORKLOAD.format(budget="co2e: 600 t")
    assert old in text
    write_config(text.replace(old, new))
    proc = cli("run", "-q")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    dotted = "workloads[0].estimate" + (f".{key}" if key else "")
    assert f"carbon-gate.yml:{line}: {dotted}:" in proc.stderr, proc.stderr
    assert "--" not in proc.stderr, proc.stderr  # the config key, not the CLI flag
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)
    assert not (tmp_path / "carbon-gate-results.json").exists()  # nothing ran


@pytest.mark.parametrize("power", ["330 W", "0.33 kW", "330"])
def test_config_average_power_is_read_in_watts(write_config, power):
    from carbon_gate.config import load

    path = write_config(GPT3_WORKLOAD.format(budget="co2e: 600 t").replace("avg_power: 330 W", f"avg_power: {power}"))
    w = load(path).workloads[0]
    assert w.estimate["avg_power"] == pytest.approx(330.0)
    assert "avg_power=330 W" in w.command_text()


def test_moe_active_params_equal_to_params_is_a_dense_model(write_config):
    from carbon_gate.config import load

    path = write_config(
        GPT3_WORKLOAD.format(budget="co2e: 600 t").replace("mfu: 0.197", "mfu: 0.197\n      moe_active_params: 175e9")
    )
    assert load(path).workloads[0].estimate["moe_active_params"] == 175e9


def test_hours_with_a_size_is_refused_not_silently_ignored(cli, write_config):
    proc = cli(
        "estimate",
        "--accelerator",
        "A100-80GB",
        "--count",
        "8",
        "--hours",
        "10",
        "--params",
        "7e9",
        "--tokens",
        "1e12",
        "--grid-intensity",
        "400",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not both" in proc.stderr and "params, tokens would be ignored" in proc.stderr
    config = write_config("""
        version: 1
        workloads:
          - name: plan
            estimate: {accelerator: A100-80GB, count: 8, hours: 12, params: 7e9, tokens: 1e12}
        """)
    bad = cli("run", "-c", str(config), "-q")
    assert bad.returncode == 2 and "not both" in bad.stderr, bad.stderr + bad.stdout
