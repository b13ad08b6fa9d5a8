"""The results document read back as typed records: `results.from_dict(doc).to_dict()` is `doc` again."""

from __future__ import annotations

import json
import math

import pytest

from carbon_gate import config as config_mod
from carbon_gate import results as results_mod
from carbon_gate.assess.verdict import assess_workload, suite_verdict
from carbon_gate.domain import MEASURED, MODELLED, Baseline, Change, Energy, Sample
from carbon_gate.grid import resolve
from carbon_gate.meters.meter import MeterSettings, plan_meters
from carbon_gate.pipeline import machine_section

CONFIG = """\
version: 1
grid:
  country: DE
workloads:
  - name: train
    command: python train.py
    unit: {name: epoch}
    energy_per_point: [accuracy]
    budget:
      energy: 1 Wh
      per_unit:
        energy: 0.1 Wh
  - name: unbudgeted
    command: "true"
"""


def _sample(wh: float, i: int) -> Sample:
    return Sample(
        wall_s=1.0 + i / 100,
        cpu_s=0.9,
        exit_code=0,
        rss_peak_mb=12.5,
        started_at=f"2026-01-01T00:00:0{i}Z",
        energy=[Energy("cpu", wh * 0.8, MODELLED, "TDP curve", "table"), Energy("memory", wh * 0.2, MEASURED, "RAPL")],
        units=4.0,
        metrics={"accuracy": 0.9 + i / 1000},
        warmup=i == 0,
    )


@pytest.fixture
def document(tmp_path) -> dict:
    """A real results document: the packaged grid, the config loader and the assessment, no run needed."""
    (tmp_path / "carbon-gate.yml").write_text(CONFIG, encoding="utf-8")
    config = config_mod.load(tmp_path / "carbon-gate.yml")
    grid = resolve(country="DE", pue=1.2)
    head = [_sample(1.5 + i / 50, i) for i in range(8)]
    base = Baseline(
        mode="stored",
        samples_wh=tuple(1.0 + i / 50 for i in range(8)),
        commit="ab" * 20,
        fingerprint={"cpu_model": "x"},
    )
    assessed = [
        assess_workload(config.workloads[0], head, grid, None, base, fingerprint={"cpu_model": "x"}),
        assess_workload(config.workloads[1], [_sample(0.0, 1)], grid, None),
    ]
    verdict = suite_verdict(assessed, config.gate)
    doc = results_mod.Results(
        machine=machine_section(plan_meters(MeterSettings())),
        grid=grid,
        workloads=assessed,
        verdict=verdict.verdict,
        config=str(config.path),
        notes=["a note"],
    ).to_dict()
    return json.loads(results_mod.to_json(doc))  # as written and read: non-finite numbers are null


def test_document_is_valid_and_covers_the_typed_fields(document):
    assert results_mod.schema_problem(document) is None
    train = document["workloads"][0]
    assert train["verdict"] == "over-budget" and train["change"]["paired"] is False
    assert train["metrics"]["accuracy"]["wh_per_point"] is not None
    assert document["workloads"][1]["footprint"]["sci_g_per_unit"] is not None


def test_from_dict_round_trips(document):
    typed = results_mod.from_dict(document)
    train = typed.workloads[0]
    assert isinstance(train.change, Change) and train.change.n_base == 8
    assert train.summary is not None and train.summary.n == 7
    assert [c.limit for c in train.budget] == ["energy", "per_unit.energy"]
    assert train.energy_per_point == ("accuracy",)
    again = json.loads(results_mod.to_json(typed.to_dict()))
    # Exact, but for figures derived anew from rounded ones (totals, energy per metric point): their last digits.
    assert same(again, document)


def same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-9)
    return a == b and type(a) is type(b)


def test_change_from_dict_restores_what_json_cannot_hold():
    c = Change(
        ratio=math.nan,
        low=0.0,
        high=math.inf,
        confidence=0.95,
        mde=math.inf,
        n_head=2,
        n_base=2,
        paired=True,
        p_value=math.nan,
        method="not computable",
    )
    back = Change.from_dict(json.loads(json.dumps(c.to_dict())))
    assert math.isnan(back.ratio) and back.high == math.inf and back.mde == math.inf and math.isnan(back.p_value)
    assert back.to_dict() == c.to_dict()
