"""Mermaid charts in the report and `carbon-gate machine --format markdown`, checked against the xychart
grammar as Mermaid's own lexer reads it (packages/mermaid/src/diagrams/xychart/parser/xychart.jison).

The grammar below is written out here from the jison file, not imported from carbon-gate, so a chart
our code thinks is fine but Mermaid would refuse fails the test."""

from __future__ import annotations

import copy
import json
import math
import random
import re

import pytest
from test_report import add_history, suite  # noqa: F401  (the module-scoped fixture of real results)

from carbon_gate.render.charts import mermaid_number, unique_labels
from carbon_gate.render.markdown import render_markdown

# xychart.jison: <axis_data,data_inner>[+-]?(?:\d+(?:\.\d+)?|\.\d+) → NUMBER_WITH_DECIMAL
NUM = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"
STR = r'"[^"]*"'  # <string>[^"]* between double quotes
STATEMENTS = {
    "title": re.compile(rf"^title {STR}$"),
    "x-axis": re.compile(rf"^x-axis (?:{STR} )?\[\s*{STR}(?:\s*,\s*{STR})*\s*\]$"),
    "y-axis": re.compile(rf"^y-axis (?:{STR} )?{NUM} --> {NUM}$"),
    "line": re.compile(rf"^line \[\s*{NUM}(?:\s*,\s*{NUM})*\s*\]$"),
    "bar": re.compile(rf"^bar \[\s*{NUM}(?:\s*,\s*{NUM})*\s*\]$"),
}


def check_xychart(body: str) -> dict:
    """Parse a chart body as Mermaid's xychart grammar does; returns labels and series, or fails."""
    lines = [ln.strip() for ln in body.strip().splitlines() if ln.strip()]
    assert lines[0] == "xychart-beta", lines[0]
    labels: list[str] = []
    series: list[list[float]] = []
    for line in lines[1:]:
        keyword = line.split(" ", 1)[0]
        assert keyword in STATEMENTS, f"unknown statement {line!r}"
        assert STATEMENTS[keyword].match(line), f"Mermaid cannot parse {line!r}"
        if keyword == "x-axis":
            labels = re.findall(r'"([^"]*)"', line[line.index("[") :])
        elif keyword in ("line", "bar"):
            series.append([float(x) for x in re.findall(NUM, line[line.index("[") :])])
    assert labels and series, body
    assert len(set(labels)) == len(labels), f"duplicate band labels collapse: {labels}"
    assert all(len(s) == len(labels) for s in series), (labels, series)
    return {"labels": labels, "series": series}


def mermaid_blocks(text: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)\n```", text, flags=re.S)


@pytest.mark.parametrize("exponent", range(-6, 8))
def test_numbers_from_1e_minus_6_to_1e7_are_plain_decimals_mermaid_reads(exponent):
    rng = random.Random(exponent)
    for x in [10.0**exponent, 1.25 * 10.0**exponent, 9.9996 * 10.0**exponent] + [
        rng.uniform(1, 10) * 10.0**exponent for _ in range(50)
    ]:
        text = mermaid_number(x)
        assert re.fullmatch(NUM, text), (x, text)
        assert math.isclose(float(text), x, rel_tol=1e-3), (x, text)
    assert mermaid_number(12_500) == "12500" and mermaid_number(1e-6) == "0.000001"


def test_unique_labels_keep_every_point_in_its_own_band():
    labels = unique_labels(["abc1234", "abc1234", "def5678", "abc1234", "abc1234 (2)"])
    assert len(set(labels)) == 5 and labels[0] == "abc1234" and labels[-1] == "abc1234 (2)"  # as given
    assert labels[1].startswith("abc1234 (") and labels[2] == "def5678"


def test_trend_chart_renders_for_kwh_values_duplicate_shas_in_the_table_unit_with_the_budget(suite):  # noqa: F811
    doc = copy.deepcopy(suite["doc"])
    w = next(w for w in doc["workloads"] if w["name"] == "api-latency")
    w["energy_wh"] = 12_500.0  # 12.5 kWh: '.4g' wrote 1.25e+04, which ended the diagram
    w["budget"]["limits"] = {"energy": 15_000.0}
    w["history"] = [{"commit": "a" * 40, "date": None, "median_wh": v} for v in (11_000.0, 11_500.0)] + [
        {"commit": "b" * 40, "date": None, "median_wh": 3e-6}
    ]  # µWh and kWh on one chart
    text = render_markdown(doc)
    trend = [b for b in mermaid_blocks(text) if "median energy per run" in b]
    assert len(trend) == 1
    chart = check_xychart(trend[0])
    assert chart["labels"] == ["aaaaaaa", "aaaaaaa (2)", "bbbbbbb", "this run"]
    assert 'y-axis "kWh"' in trend[0] and "kWh" in re.search(r'title "(.*)"', trend[0]).group(1)
    line, budget = chart["series"]
    assert line == [11.0, 11.5, 0.000000003, 12.5] or line[-1] == 12.5
    assert budget == [15.0] * 4  # the budget, flat, in the same unit
    # A budget far above the points would flatten them: named in the title instead of drawn.
    w["budget"]["limits"] = {"energy": 1e6}
    trend = [b for b in mermaid_blocks(render_markdown(doc)) if "median energy per run" in b]
    assert len(check_xychart(trend[0])["series"]) == 1 and "budget 1 MWh, above the chart" in trend[0]
    # The table shows the same unit.
    row = next(r for r in text.splitlines() if r.startswith("| api-latency |"))
    assert "12.5 kWh" in row


def test_every_chart_in_a_report_parses_whatever_the_values(suite):  # noqa: F811
    rng = random.Random(7)
    for exponent in range(-6, 8):
        doc = copy.deepcopy(suite["doc"])
        add_history(doc["workloads"], 8)
        for w in doc["workloads"]:
            for h in w.get("history") or []:
                h["median_wh"] = rng.uniform(1, 10) * 10.0 ** (exponent + rng.choice((-1, 0, 1)))
                h["commit"] = rng.choice(("1" * 40, "2" * 40))  # short shas repeat
        blocks = mermaid_blocks(render_markdown(doc))
        assert blocks
        for b in blocks:
            check_xychart(b)


def evidence_charts(text: str) -> dict[str, str]:
    return {
        m.group(1): m.group(2)
        for m in re.finditer(
            r"<details open><summary>Base vs head: (.*?)</summary>\n\n```mermaid\n(.*?)\n```", text, flags=re.S
        )
    }


def unit_factor(body: str) -> float:
    return {"µWh": 1e-6, "mWh": 1e-3, "Wh": 1.0, "kWh": 1e3}[re.search(r'y-axis "(\w+)"', body).group(1)]


def test_regressions_and_inconclusive_results_show_base_and_head_runs(suite):  # noqa: F811
    doc = suite["doc"]  # stored mode (compare HEAD BASE): the baseline's runs vs the head's, sorted
    evidence = evidence_charts(render_markdown(doc))
    assert set(evidence) == {"api-latency", "cold-start"}  # the regression and the inconclusive one
    for name, body in evidence.items():
        chart = check_xychart(body)
        w = next(w for w in doc["workloads"] if w["name"] == name)
        head = sorted(s["energy_wh"] for s in w["samples"] if not s["warmup"])
        bars, line = chart["series"]  # bars: base, line: head, in the table's unit
        assert [b * unit_factor(body) for b in bars] == pytest.approx(sorted(w["baseline"]["samples_wh"]), rel=1e-3)
        assert [h * unit_factor(body) for h in line] == pytest.approx(head, rel=1e-3)
        assert "runs sorted low to high" in body


def test_paired_results_show_base_and_head_round_by_round(suite):  # noqa: F811
    doc = copy.deepcopy(suite["doc"])
    w = next(w for w in doc["workloads"] if w["name"] == "api-latency")
    base = [dict(s, energy_wh=s["energy_wh"] / 1.3) for s in w["samples"]]
    base[2] = dict(base[2], error="exit 1")  # a round where the base failed is not a pair
    w["base_samples"], w["baseline"]["mode"] = base, "paired"
    body = evidence_charts(render_markdown(doc))["api-latency"]
    chart = check_xychart(body)
    rounds = [i for i in range(1, len(base) + 1) if i != 3]
    assert chart["labels"] == [f"r{i}" for i in rounds]
    bars, line = chart["series"]
    assert [b * unit_factor(body) for b in bars] == pytest.approx([base[i - 1]["energy_wh"] for i in rounds], rel=1e-3)
    assert [h * unit_factor(body) for h in line] == pytest.approx(
        [w["samples"][i - 1]["energy_wh"] for i in rounds], rel=1e-3
    )


def test_sequential_rounds_are_charted_per_round_in_energy_per_run(suite):  # noqa: F811
    doc = copy.deepcopy(suite["doc"])
    w = next(w for w in doc["workloads"] if w["name"] == "api-latency")
    head, base = [6e-4, 6.6e-4, None, 6.2e-4], [4e-4, 4.4e-4, 4.2e-4, 4.6e-4]  # batch of 2: each side's sum
    w["base_samples"] = copy.deepcopy(w["samples"])  # per-run pairs too: the rounds must win over them
    w["baseline"].update(mode="paired", batch=2, round_wh={"head": head, "base": base})
    body = evidence_charts(render_markdown(doc))["api-latency"]
    chart = check_xychart(body)
    assert chart["labels"] == ["r1", "r2", "r4"]  # round 3's head failed: not a pair
    assert '"paired round"' in body
    bars, line = chart["series"]
    assert [b * unit_factor(body) for b in bars] == pytest.approx([2e-4, 2.2e-4, 2.3e-4], rel=1e-3)
    assert [h * unit_factor(body) for h in line] == pytest.approx([3e-4, 3.3e-4, 3.1e-4], rel=1e-3)


def test_charts_go_before_anything_else_when_the_comment_is_too_long(suite):  # noqa: F811
    doc = copy.deepcopy(suite["doc"])
    add_history(doc["workloads"], 30)
    full = render_markdown(doc)
    assert "```mermaid" in full
    short = render_markdown(doc, limit=len(full) - 1)
    assert len(short) < len(full) and "```mermaid" not in short
    assert json.dumps(doc)  # the document itself is untouched by rendering


def test_machine_markdown_shows_the_power_curve_as_a_chart(cli):
    curve = json.loads(cli("machine", "--json", "--cpu", "AMD EPYC 7763 64-Core Processor", "--vcpus", "4").stdout)
    r = cli("machine", "--markdown", "--cpu", "AMD EPYC 7763 64-Core Processor", "--vcpus", "4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("## carbon-gate machine\n")
    blocks = mermaid_blocks(r.stdout)
    assert len(blocks) == 1
    chart = check_xychart(blocks[0])
    points = curve["cpu"]["curve_w"]
    assert chart["labels"] == [f"{p:g}%" for p, _ in points]
    assert chart["series"] == [pytest.approx([w for _, w in points], rel=1e-3)]


def test_at_most_five_evidence_charts_and_the_comment_stays_under_its_limit(suite):  # noqa: F811
    from test_report import big_suite

    from carbon_gate.render.markdown import COMMENT_LIMIT

    doc = big_suite(suite["doc"], 200, history=10)
    text = render_markdown(doc)
    assert len(text) <= COMMENT_LIMIT
    assert text.count("<summary>Base vs head:") <= 5 and text.count("<summary>Trend:") <= 5
