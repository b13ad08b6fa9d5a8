"""The report (docs/reports.md): Markdown for the PR comment and job summary, JSON, CSV and the model card.

Results documents come from the real CLI: a `run --mode none` of tiny workloads (`sleep`, a script
that fails) gives real samples, machine, grid and error tails. The other verdicts are made the way a
user would get them: the samples are rescaled in Python into a HEAD and a BASE document and
`carbon-gate compare HEAD BASE` assesses them, so `change`, `budget`, `reasons` and `samples` are
consistent by construction. The Markdown is rendered with markdown-it (CommonMark + tables, raw HTML
allowed, as GitHub does before sanitising) and the assertions are on the resulting HTML tree.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from helpers import modelled_config, without_ci
from markdown_it import MarkdownIt

from carbon_gate.render.markdown import COMMENT_LIMIT, MARKER, render_markdown, report_context

pytestmark = pytest.mark.usefixtures("no_ci_env")

PY = sys.executable
HOSTILE = "<img src=x onerror=alert(1)> | @octocat"
# CodeCarbon's emissions.csv header (2.x), in its order.
CODECARBON_COLUMNS = (
    "timestamp project_name run_id duration emissions emissions_rate cpu_power gpu_power ram_power cpu_energy"
    " gpu_energy ram_energy energy_consumed country_name country_iso_code region cloud_provider cloud_region os"
    " python_version codecarbon_version cpu_count cpu_model gpu_count gpu_model longitude latitude ram_total_size"
    " tracking_mode on_cloud pue"
).split()

FAIL_SCRIPT = """\
import sys
sys.stderr.write("loading shard 1 of 4\\n" * 30)
sys.stderr.write("Traceback (most recent call last):\\n")
sys.stderr.write("RuntimeError: CUDA out of memory (tried to allocate 2.00 GiB)\\n")
sys.exit(2)
"""
HOSTILE_SCRIPT = """\
import sys
sys.stderr.write("starting\\n")
sys.stderr.write("</details>\\n")
sys.stderr.write("::error file=carbon-gate.yml,line=1::forged annotation\\n")
sys.stderr.write("`" * 12 + "\\n")
sys.stderr.write("after the backticks @octocat <script>alert(1)</script>\\n")
sys.stderr.write("last line\\n")
sys.exit(1)
"""


def cg(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess (for module-scoped fixtures, where the `cli` fixture is not available)."""
    return subprocess.run(
        [PY, "-m", "carbon_gate", *args], cwd=cwd, env=without_ci(), capture_output=True, text=True, timeout=timeout
    )


# --------------------------------------------------------------------------------------------------
# A minimal HTML tree, enough to ask "is this inside that" of markdown-it's output.

VOID = {"img", "br", "hr", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: list[tuple[str, str | None]], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.iter()

    def find_all(self, tag: str) -> list[Node]:
        return [n for n in self.iter() if n.tag == tag]

    def ancestors(self) -> list[str]:
        out, p = [], self.parent
        while p is not None:
            out.append(p.tag)
            p = p.parent
        return out

    def cells(self) -> list[str]:
        return [c.text().strip() for c in self.children if isinstance(c, Node) and c.tag in ("td", "th")]


class Tree(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [], None)
        self.cur = self.root
        self.stray_end_tags: list[str] = []
        self.comments: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is None:
            self.stray_end_tags.append(tag)
        else:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)

    def handle_comment(self, data):
        self.comments.append(data)


def to_html(markdown: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def parse(markdown: str) -> tuple[str, Tree]:
    html = to_html(markdown)
    return html, Tree(html)


def tables(tree: Tree) -> list[Node]:
    return tree.root.find_all("table")


def body_rows(table: Node) -> list[list[str]]:
    return [tr.cells() for tbody in table.find_all("tbody") for tr in tbody.find_all("tr")]


def header(table: Node) -> list[str]:
    return next(tr.cells() for thead in table.find_all("thead") for tr in thead.find_all("tr"))


def text_outside_code(node: Node) -> str:
    return "".join(
        c if isinstance(c, str) else ("" if c.tag in ("code", "pre") else text_outside_code(c)) for c in node.children
    )


def workload_table(tree: Tree, index: int = 0) -> Node:
    found = [t for t in tables(tree) if header(t) and header(t)[0] == "Workload" and header(t)[-1] == "Verdict"]
    return found[index]


# --------------------------------------------------------------------------------------------------
# Building results documents.


def scaled(sample: dict, total_wh: float) -> dict:
    """A copy of a real sample whose per-component energies are rescaled to `total_wh`."""
    s = copy.deepcopy(sample)
    f = total_wh / sample["energy_wh"]
    for e in s["energy"]:
        e["wh"] = round(e["wh"] * f, 12)
    s["energy_wh"] = round(sum(e["wh"] for e in s["energy"]), 12)
    return s


NOISE = (-0.020, 0.010, -0.005, 0.015, 0.000, -0.010, 0.020, 0.005)
WIDE = (-0.15, 0.12, -0.08, 0.16, 0.02, -0.12, 0.10, -0.03)
PLAN = {  # workload → (verdict wanted, head/base factor, head noise)
    "api-latency": ("regression", 1.30, NOISE),
    "train-epoch": ("over-budget", 1.00, NOISE),
    "tokenizer": ("improvement", 0.70, NOISE),
    "cold-start": ("inconclusive", 1.03, WIDE),
    "export-onnx": ("new", 1.00, NOISE),
    "data-loader": ("error", None, None),
    "docs-build": ("unchanged", 1.00, NOISE[::-1]),
    "lint": ("unchanged", 1.00, NOISE[3:] + NOISE[:3]),
}


def suite_config(tmp: Path) -> None:
    (tmp / "fail.py").write_text(FAIL_SCRIPT)
    lines = [
        "version: 1",
        "grid: {country: FR}",
        'machine: {rapl: "off", gpu: "off", embodied: "off"}',
        "defaults: {repeats: 2, warmup: 0}",
        "workloads:",
    ]
    for name, (verdict, *_rest) in PLAN.items():
        command = f'"{PY}" fail.py' if verdict == "error" else "sleep 0.01"
        lines += [f"  - name: {name}", f"    command: {json.dumps(command)}", "    budget: {energy: 1 Wh}"]
    (tmp / "carbon-gate.yml").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> dict:
    """A real results document with one regression, over-budget, improvement, inconclusive, new and error
    workload and two unchanged ones, assessed by `carbon-gate compare`. Returns paths and the document."""
    tmp = tmp_path_factory.mktemp("suite")
    suite_config(tmp)
    r = cg("run", "--mode", "none", "-q", "--results", "run.json", "--report", "", cwd=tmp)
    assert r.returncode == 3, r.stderr  # the failing workload
    head = json.loads((tmp / "run.json").read_text())
    base = copy.deepcopy(head)
    base["git"] = {**(head.get("git") or {}), "head": "b" * 40}
    by_name = {w["name"]: w for w in head["workloads"]}
    for w_head, w_base in zip(head["workloads"], base["workloads"]):
        verdict, factor, noise = PLAN[w_head["name"]]
        if factor is None:
            continue
        template = w_head["samples"][0]
        e0 = w_head["energy_wh"]
        w_base["samples"] = [scaled(template, e0 * (1 + d)) for d in NOISE]
        w_head["samples"] = [scaled(template, e0 * factor * (1 + d)) for d in noise]
        if verdict == "over-budget":
            w_head["budget"]["limits"] = {"energy": e0 / 2}
    base["workloads"] = [w for w in base["workloads"] if PLAN[w["name"]][0] != "new"]
    assert by_name["data-loader"]["verdict"] == "error"
    (tmp / "head.json").write_text(json.dumps(head))
    (tmp / "base.json").write_text(json.dumps(base))
    r = cg("compare", "head.json", "base.json", "--results", "suite.json", "--report", "suite.md", cwd=tmp)
    assert r.returncode == 3, r.stderr
    doc = json.loads((tmp / "suite.json").read_text())
    got = {w["name"]: w["verdict"] for w in doc["workloads"]}
    assert got == {name: plan[0] for name, plan in PLAN.items()}, got
    return {"dir": tmp, "doc": doc, "path": tmp / "suite.json", "report": (tmp / "suite.md").read_text()}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict:
    """A real run whose names, unit, grid source and stderr try to inject HTML, mentions and commands."""
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "hostile.py").write_text(HOSTILE_SCRIPT)
    config = {
        "version": 1,
        "grid": {"intensity": "400 g/kWh", "source": "<b>grid</b> @octocat [x](https://example.com)"},
        "machine": {"rapl": "off", "gpu": "off", "embodied": "off"},
        "defaults": {"repeats": 2, "warmup": 0},
        "workloads": [
            {"name": HOSTILE, "command": f'"{PY}" hostile.py'},
            {
                "name": "**bold** _it_ [link](https://example.com) | x | @team",
                "command": "sleep 0.01",
                "unit": {"name": "<i>step</i>|@octocat", "count": 1},
            },
        ],
    }
    (tmp / "carbon-gate.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    r = cg("run", "--mode", "none", cwd=tmp)
    assert r.returncode == 3, r.stderr
    doc = json.loads((tmp / "carbon-gate-results.json").read_text())
    assert [w["verdict"] for w in doc["workloads"]] == ["error", "new"]
    return {"dir": tmp, "doc": doc, "report": (tmp / "carbon-gate-report.md").read_text(), "stderr": r.stderr}


def add_history(workloads: list[dict], points: int, names: list[str] | None = None) -> None:
    """Give each measured workload (or only those in `names`) `points` trend points, in place."""
    for w in workloads:
        if w.get("energy_wh") is None or (names is not None and w["name"] not in names):
            continue
        w["history"] = [
            {
                "commit": f"{i:07x}" + "c" * 33,
                "date": f"2026-01-{1 + i % 28:02d}",
                "median_wh": w["energy_wh"] * (1 + 0.001 * i),
            }
            for i in range(points)
        ]


def with_history(doc: dict, names: list[str] | None = None, points: int = 100) -> dict:
    doc = copy.deepcopy(doc)
    add_history(doc["workloads"], points, names)
    return doc


def big_suite(doc: dict, n: int, history: int = 0) -> dict:
    """n workloads copied from the real ones: half unchanged, the rest spread over the other verdicts."""
    by_verdict = {w["verdict"]: json.dumps(w) for w in doc["workloads"]}  # json round trips beat deepcopy
    mix = (
        ["unchanged"] * 10
        + ["regression"] * 2
        + ["over-budget", "error", "inconclusive", "improvement", "new", "inconclusive", "improvement", "new"]
    )
    big = {k: copy.deepcopy(v) for k, v in doc.items() if k != "workloads"}
    big["workloads"] = []
    counts: dict[str, int] = {}
    for i in range(n):
        verdict = mix[i % len(mix)]
        w = json.loads(by_verdict[verdict])
        w["name"] = f"suite/{verdict}/workload-{i:04d}"
        big["workloads"].append(w)
        counts[verdict] = counts.get(verdict, 0) + 1
    big["counts"] = counts
    big["verdict"] = "error"
    if history:
        add_history(big["workloads"], history)
    return big


# --------------------------------------------------------------------------------------------------
# The full report.


def test_headline_states_verdict_and_counts(suite):
    _html, tree = parse(suite["report"])
    h2 = tree.root.find_all("h2")[0].text()
    assert h2.startswith("❌ carbon-gate:")
    assert "could not run every workload" in h2 and "3 failing workloads" in h2
    counts = re.sub(r"\s+", " ", tree.root.find_all("p")[0].text())
    for part in ("1 regression", "1 over budget", "1 improvement", "2 unchanged", "1 inconclusive", "1 new", "1 error"):
        assert part in counts, counts
    assert counts == ("1 regression · 1 over budget · 1 improvement · 2 unchanged · 1 inconclusive · 1 new · 1 error")
    # Totals say how the compared workloads moved against the baseline.
    suite_line = tree.root.find_all("p")[1].text()
    assert suite_line.startswith("Suite:") and "baseline" in suite_line and "on compared workloads" in suite_line


def only(doc: dict, names: list[str], verdict: str) -> dict:
    """The suite cut down to some workloads, with the counts and suite verdict `compare` would give."""
    doc = copy.deepcopy(doc)
    doc["workloads"] = [w for w in doc["workloads"] if w["name"] in names]
    doc["counts"] = {}
    for w in doc["workloads"]:
        doc["counts"][w["verdict"]] = doc["counts"].get(w["verdict"], 0) + 1
    doc["verdict"] = verdict
    return doc


@pytest.mark.parametrize(
    "names, verdict, icon, text, counts",
    [
        (["docs-build", "lint"], "pass", "✅", "passed", "2 unchanged"),
        (
            ["docs-build", "cold-start", "export-onnx"],
            "warn",
            "⚠️",
            "passed with warnings",
            "1 unchanged · 1 inconclusive · 1 new",
        ),
        (["api-latency", "tokenizer"], "fail", "❌", "failed — 1 failing workload", "1 regression · 1 improvement"),
    ],
)
def test_headline_for_each_suite_verdict(suite, names, verdict, icon, text, counts):
    _html, tree = parse(render_markdown(only(suite["doc"], names, verdict)))
    assert tree.root.find_all("h2")[0].text() == f"{icon} carbon-gate: {text}"
    assert tree.root.find_all("p")[0].text() == counts
    top = [t for t in tables(tree) if header(t)[-1:] == ["Verdict"] and "details" not in t.ancestors()]
    assert len(top) == (0 if verdict == "pass" else 1)  # nothing changed: every row is in <details>


@pytest.mark.parametrize(
    "fail_on, names, verdict, failing",
    [
        (["regression", "over-budget", "inconclusive"], ["cold-start", "lint"], "fail", "cold-start"),
        (["regression"], ["train-epoch", "lint"], "pass", None),
    ],
)
def test_headline_and_sections_follow_the_gates_fail_on(suite, fail_on, names, verdict, failing):
    doc = only(suite["doc"], names, verdict)
    doc["gate"]["fail_on"] = fail_on
    _html, tree = parse(render_markdown(doc))
    h2 = tree.root.find_all("h2")[0].text()
    sections = [h.text() for h in tree.root.find_all("h3") if " — " in h.text()]
    if failing:
        assert h2.endswith("failed — 1 failing workload")
        assert [s.split(" ", 1)[1].split(" — ")[0] for s in sections] == [failing]
    else:
        assert h2 == "✅ carbon-gate: passed" and not sections


@pytest.mark.parametrize("gate", [None, {}, {"fail_on": "over-budget"}], ids=["no-gate", "no-fail_on", "not-a-list"])
def test_documents_without_a_fail_on_follow_the_configs_default(suite, gate):
    from carbon_gate.config import GateSettings
    from carbon_gate.render.markdown import failing_verdicts

    doc = only(suite["doc"], ["api-latency", "train-epoch", "cold-start", "lint"], "fail")
    doc["gate"] = gate
    assert failing_verdicts(doc) == {"error", *GateSettings().fail_on} == {"error", "regression", "over-budget"}
    _html, tree = parse(render_markdown(doc))
    assert tree.root.find_all("h2")[0].text().endswith("failed — 2 failing workloads")
    sections = [h.text() for h in tree.root.find_all("h3") if " — " in h.text()]
    assert sorted(s.split(" ", 1)[1].split(" — ")[0] for s in sections) == ["api-latency", "train-epoch"]


def test_changed_rows_first_in_severity_order_unchanged_in_details(suite):
    _html, tree = parse(suite["report"])
    top = workload_table(tree, 0)
    assert len(header(top)) == 7
    rows = body_rows(top)
    assert all(len(r) == 7 for r in rows)
    assert [r[0] for r in rows] == [
        "data-loader",
        "train-epoch",
        "api-latency",
        "cold-start",
        "tokenizer",
        "export-onnx",
    ]
    assert [r[-1].split()[-1] for r in rows] == [
        "error",
        "over-budget",
        "regression",
        "inconclusive",
        "improvement",
        "new",
    ]
    assert "details" not in top.ancestors()
    regression = rows[2]
    assert re.match(r"\+\d+\.\d % \(\+\d+\.\d % … \+\d+\.\d %\)", regression[2]), regression  # Δ with interval
    over = next(w for w in suite["doc"]["workloads"] if w["verdict"] == "over-budget")
    assert rows[1][5] == f"{over['budget']['max_use_pct']:.0f} %" and rows[1][5] in ("200 %", "201 %")  # budget use
    assert rows[0][1] == "—"  # the error workload has no energy

    rest = workload_table(tree, 1)
    assert "details" in rest.ancestors()
    details = next(d for d in tree.root.find_all("details") if rest in list(d.iter()))
    assert details.find_all("summary")[0].text() == "2 unchanged workloads"
    assert sorted(r[0] for r in body_rows(rest)) == ["docs-build", "lint"]
    assert all(len(r) == 7 and r[-1].endswith("unchanged") for r in body_rows(rest))


def test_failing_workloads_have_sections_with_reasons(suite):
    _html, tree = parse(suite["report"])
    h3 = {h.text(): h for h in tree.root.find_all("h3")}
    headings = [t for t in h3 if " — " in t]
    # One section per failing workload, in the order of the budget file.
    assert [t.split(" ", 1)[1] for t in headings] == [
        "api-latency — regression",
        "train-epoch — over-budget",
        "data-loader — error",
    ]

    def reasons(title: str) -> list[str]:
        siblings = h3[title].parent.children
        after = siblings[siblings.index(h3[title]) + 1 :]
        ul = next(n for n in after if isinstance(n, Node) and n.tag == "ul")
        return [li.text() for li in ul.find_all("li")]

    over = reasons(next(t for t in headings if "over-budget" in t))
    assert any(re.search(r"energy budget exceeded: median .+ > .+ \(\+.+, 20[01]% of budget\)", r) for r in over), over
    regression = reasons(next(t for t in headings if "regression" in t))
    assert any(re.search(r"\+\d+\.\d % \(95 % CI .+\) exceeds the 5 % tolerance", r) for r in regression), regression
    error = reasons(next(t for t in headings if "error" in t))
    assert error == ["run 1 failed: exited with code 2"]

    # The error's stderr tail: the last 20 lines, in a code block inside a collapsed <details>.
    code = [c for c in tree.root.find_all("code") if "CUDA out of memory" in c.text()]
    assert len(code) == 1 and "pre" in code[0].ancestors() and "details" in code[0].ancestors()
    lines = code[0].text().strip("\n").splitlines()
    assert len(lines) == 20 and lines[-1].startswith("RuntimeError: CUDA out of memory")
    # Workloads that do not fail get no section.
    assert not any(name in t for t in headings for name in ("tokenizer", "cold-start", "export-onnx", "lint"))


def test_marker_footer_and_method_disclosure(suite):
    md_text = suite["report"]
    assert md_text.startswith(MARKER + "\n")
    html, tree = parse(md_text)
    assert "<!-- carbon-gate-report -->" in html
    assert "carbon-gate-report" in " ".join(tree.comments)
    footer = tree.root.find_all("sub")[-1]
    assert "Reproduce locally" in footer.text()
    assert next(c.text() for c in footer.find_all("code")) == "carbon-gate run"
    assert "carbon-budget-approved" in footer.text()

    disclosure = [
        d for d in tree.root.find_all("details") if d.find_all("summary")[0].text() == "How these numbers were obtained"
    ]
    assert len(disclosure) == 1
    items = {li.text().split(":", 1)[0]: li.text() for li in disclosure[0].find_all("li")}
    grid = items["Grid intensity"]
    doc_grid = suite["doc"]["grid"]
    assert f"{doc_grid['g_per_kwh']:g} gCO2e/kWh" in grid and "France (FR)" in grid
    assert "Ember" in grid and str(doc_grid["year"]) in grid and "PUE 1" in grid
    assert "stored mode" in items["Baseline"]
    assert "Tool overhead" in items and "ms per run" in items["Tool overhead"]
    methods = [t for t in disclosure[0].find_all("table") if header(t)[:2] == ["Component", "Method"]]
    assert len(methods) == 1
    by_component = {r[0]: r[1] for r in body_rows(methods[0])}
    assert by_component["memory"] == "modelled"
    assert by_component["cpu"] in ("measured", "modelled", "defaulted")
    stats = next(t for t in disclosure[0].find_all("table") if "MDE" in header(t))
    assert header(stats) == ["Workload", "Runs", "Median", "Spread", "MDE", "Interval", "p", "Tolerance", "Decision"]
    mde = {r[0]: r[4] for r in body_rows(stats)}
    assert {r[8] for r in body_rows(stats)} == {"—"}  # stored mode: a fixed number of runs, no sequential decision
    assert len(mde) == len(PLAN)
    assert re.fullmatch(r"\d+\.\d%", mde["api-latency"]), mde
    assert mde["export-onnx"] == "—"  # nothing to compare with


@pytest.mark.parametrize(
    "config, command",
    [
        ("carbon-gate.yml", "carbon-gate run"),
        ("perf.yml", "carbon-gate run -c perf.yml"),
        ("ci/budget.yml", "carbon-gate run -c ci/budget.yml"),
        ("ci/carbon-gate.yml", "carbon-gate run -c ci/carbon-gate.yml"),
        ("./carbon-gate.yml", "carbon-gate run"),
        ("my ci/budget.yml", "carbon-gate run -c 'my ci/budget.yml'"),  # shell-quoted, so it can be pasted
    ],
)
def test_footer_reproduce_command_finds_the_config(suite, config, command):
    doc = copy.deepcopy(suite["doc"])
    doc["config"] = config  # as `run -c PATH` records it: the path as given
    _html, tree = parse(render_markdown(doc))
    assert tree.root.find_all("sub")[-1].find_all("code")[0].text() == command


def test_report_written_by_compare_equals_report_command(suite, cli):
    r = cli("report", str(suite["path"]), cwd=suite["dir"])
    assert r.returncode == 0, r.stderr
    # Same document, same text (only the results file name in the truncation note could differ).
    assert r.stdout == suite["report"]


# --------------------------------------------------------------------------------------------------
# Hostile input.


def test_hostile_names_and_stderr_are_neutralised(hostile):
    md_text = hostile["report"]
    html, tree = parse(md_text)
    assert not tree.root.find_all("img")
    assert not tree.root.find_all("script")
    assert not tree.root.find_all("b") and not tree.root.find_all("i")
    assert not list(tree.root.find_all("a"))  # no links at all
    assert "<img" not in html  # not even as raw text the sanitiser would have to deal with
    assert not tree.stray_end_tags

    top = workload_table(tree, 0)
    rows = body_rows(top)
    assert all(len(r) == 7 for r in rows), rows
    name_cell = rows[0][0]
    assert name_cell == HOSTILE.replace("@", "@\u200b")  # shown as text, pipe kept, mention broken
    other = rows[1]
    assert other[0] == "**bold** _it_ [link](https:\u200b//example.com) | x | @\u200bteam"  # no autolink either
    assert other[4].endswith("/<i>step</i>|@\u200boctocat")  # SCI unit from the config, as text

    outside = text_outside_code(tree.root)
    assert "@octocat" not in outside and "@team" not in outside
    assert "@\u200boctocat" in outside

    # The stderr tail: inside a <code>, in the stderr <details>, which its "</details>" did not close.
    assert html.count("<details") == html.count("</details>")
    code = [c for c in tree.root.find_all("code") if "forged annotation" in c.text()]
    assert len(code) == 1
    text = code[0].text()
    assert "</details>" in text and "::error file=carbon-gate.yml,line=1::forged annotation" in text
    assert "`" * 12 in text and "after the backticks @octocat <script>" in text and "last line" in text
    details = [n for n in tree.root.find_all("details") if code[0] in list(n.iter())]
    assert len(details) == 1 and details[0].find_all("summary")[0].text() == "stderr (last lines)"
    # The failure heading and the stats table show the name as text too.
    assert any(h.text().endswith(HOSTILE.replace("@", "@\u200b") + " — error") for h in tree.root.find_all("h3"))
    stats = next(t for t in tables(tree) if "MDE" in header(t))
    assert all(len(r) == 9 for r in body_rows(stats))
    # Config text (the grid source) is escaped like workload text.
    grid = next(li.text() for li in tree.root.find_all("li") if li.text().startswith("Grid intensity"))
    assert "<b>grid</b> @\u200boctocat [x](https:\u200b//example.com)" in grid


@pytest.mark.parametrize("level", [1, 2, 3])
def test_hostile_input_stays_neutral_when_the_report_is_shortened(hostile, level):
    from carbon_gate.render.markdown import load_template

    doc = with_history(hostile["doc"], points=5)
    text = load_template().render(**report_context(doc, level))
    html, tree = parse(text)
    assert not tree.root.find_all("img") and "<img" not in html
    assert "@octocat" not in text_outside_code(tree.root)
    assert html.count("<details") == html.count("</details>")
    if level == 3:
        names = [p.text() for p in tree.root.find_all("p") if p.text().startswith("Failing workloads (1):")]
        assert names == ["Failing workloads (1): " + HOSTILE.replace("@", "@\u200b")]


def test_hostile_name_in_a_trend_chart_title_is_reduced_to_safe_characters(hostile):
    doc = with_history(hostile["doc"], points=5)
    doc["workloads"][0]["energy_wh"] = doc["workloads"][1]["energy_wh"]  # give the failing one a chart too
    doc = with_history(doc, points=5)
    text = render_markdown(doc)
    titles = re.findall(r'^    title "(.*)"$', text, flags=re.M)
    assert len(titles) == 2
    assert all(not set(t) & set('<>"`|@[]') for t in titles), titles


# --------------------------------------------------------------------------------------------------
# Size limits and degradation.


def test_2000_workloads_fit_the_comment_limit_and_name_every_failure(suite):
    doc = big_suite(suite["doc"], 2000)
    t = time.perf_counter()
    text = render_markdown(doc)
    elapsed = time.perf_counter() - t
    assert len(text) <= COMMENT_LIMIT
    assert elapsed < 5, elapsed  # docs/performance.md: ≤ 1 s for 500; anything near 5 s here is pathological
    html, tree = parse(text)
    h2 = tree.root.find_all("h2")[0].text()
    assert h2.startswith("❌ carbon-gate: could not run every workload")
    counts = doc["counts"]
    failing = [w["name"] for w in doc["workloads"] if w["verdict"] in ("error", "over-budget", "regression")]
    assert f"{len(failing)} failing workloads" in h2
    assert f"{counts['unchanged']} unchanged" in tree.root.find_all("p")[0].text()
    visible = tree.root.text()
    missing = [n for n in failing if n not in visible]
    assert not missing, f"{len(missing)} failing workloads not named, e.g. {missing[:3]}"
    assert "shortened to fit GitHub's 65,536-character comment limit" in visible
    assert html.count("<details") == html.count("</details>")


def test_500_workloads_with_100_point_histories_fit(suite):
    doc = big_suite(suite["doc"], 500, history=100)
    t = time.perf_counter()
    text = render_markdown(doc)
    elapsed = time.perf_counter() - t
    assert len(text) <= COMMENT_LIMIT
    assert elapsed < 5, elapsed
    _html, tree = parse(text)
    assert tree.root.find_all("h2")[0].text().startswith("❌ carbon-gate:")
    failing = [w["name"] for w in doc["workloads"] if w["verdict"] in ("error", "over-budget", "regression")]
    assert all(n in tree.root.text() for n in failing)


def test_degradation_drops_detail_in_the_documented_order(suite):
    doc = with_history(suite["doc"])
    full = render_markdown(doc, limit=COMMENT_LIMIT)
    assert "xychart-beta" in full and "| Workload | Runs |" in full and "2 unchanged workloads" in full

    def at(level: int, limit: int = COMMENT_LIMIT) -> str:
        from carbon_gate.render.markdown import load_template

        return load_template().render(**report_context(doc, level, limit))

    sizes = [len(at(level)) for level in range(4)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4, sizes
    one, two, three = at(1), at(2), at(3)
    assert "xychart-beta" not in one and "2 unchanged workloads" in one
    assert not re.search(r"^\| lint \| 8 \|", one, flags=re.M)  # no per-workload statistics rows
    assert "2 unchanged workloads not listed to fit GitHub's comment limit" in two and "docs-build" not in two
    assert "### " in two and "CUDA out of memory" in two
    assert "CUDA out of memory" not in three and "### " not in three
    assert "**Failing workloads (3):** api-latency, train-epoch, data-loader" in three
    # render_markdown picks the first level that fits (the note in the text states the limit).
    limit = len(at(1, 10_000))
    assert limit < len(full) and render_markdown(doc, limit=limit) == at(1, limit)
    limit = len(at(2, 10_000))
    assert render_markdown(doc, limit=limit) == at(2, limit)


def test_shortened_report_has_no_empty_statistics_table(suite):
    from carbon_gate.render.markdown import load_template

    text = load_template().render(**report_context(suite["doc"], 1))
    _html, tree = parse(text)
    assert not [t for t in tables(tree) if "MDE" in header(t)]


@pytest.mark.parametrize("level", [1, 2, 3])
def test_statistics_left_out_note_only_when_there_were_statistics(suite, level):
    from carbon_gate.render.markdown import load_template

    note = "Per-workload statistics (runs, spread, MDE, interval, p) left out"
    full = report_context(suite["doc"], 0)["disclosure"]
    assert full["stats"] and not full["stats_omitted"]
    assert note not in load_template().render(**report_context(suite["doc"], 0))
    shortened = report_context(suite["doc"], level)
    assert shortened["disclosure"]["stats_omitted"] is True and not shortened["disclosure"]["stats"]
    assert note in load_template().render(**shortened)
    # Nothing was measured or compared (every workload failed to start): nothing was left out.
    doc = copy.deepcopy(suite["doc"])
    for w in doc["workloads"]:
        w["summary"] = w["change"] = None
    assert all(s["median"] == "—" and s["mde"] == "—" for s in report_context(doc, 0)["disclosure"]["stats"])
    shortened = report_context(doc, level)
    assert shortened["truncated"] is True and shortened["disclosure"]["stats_omitted"] is False
    assert note not in load_template().render(**shortened)
    doc["workloads"] = []
    assert report_context(doc, level)["disclosure"]["stats_omitted"] is False


@pytest.mark.parametrize(
    "seed, shown", [(42, "42"), (0, "0"), ("7; rm -rf ~ <b>@x</b>", None), (True, None), (1.5, None), (None, None)]
)
def test_order_seed_is_shown_only_when_it_is_a_whole_number(suite, seed, shown):
    doc = copy.deepcopy(suite["doc"])
    doc["git"] = {"head": "a" * 40, "base": "b" * 40, "base_ref": "main", "mode": "paired", "seed": seed}
    context = report_context(doc)
    baseline, reproduce = context["disclosure"]["baseline"], context["footer"]["reproduce"]
    if shown is None:
        assert "seed" not in baseline and "--seed" not in reproduce
    else:
        assert f", order seed {shown};" in baseline and reproduce.endswith(f"--seed {shown}`")
    html, tree = parse(render_markdown(doc))
    assert not tree.root.find_all("b") and "@x" not in html and "rm -rf" not in html


def test_disclosure_names_the_stored_baseline_commit(suite):
    _html, tree = parse(suite["report"])
    baseline = next(li.text() for li in tree.root.find_all("li") if li.text().startswith("Baseline:"))
    assert "stored mode" in baseline and "b" * 12 in baseline


def test_disclosure_names_each_stored_baseline_commit(suite):
    doc = copy.deepcopy(suite["doc"])
    stored = [w for w in doc["workloads"] if (w.get("baseline") or {}).get("mode") == "stored"]
    for i, w in enumerate(stored):
        w["baseline"]["commit"] = "a" * 40 if i % 3 else "`<b>@x\n" * 10  # from a baseline file: sanitised
    _html, tree = parse(render_markdown(doc))
    baseline = next(li.text() for li in tree.root.find_all("li") if li.text().startswith("Baseline:"))
    a, b = sum(1 for i in range(len(stored)) if i % 3), sum(1 for i in range(len(stored)) if not i % 3)
    assert f"baseline commits {'a' * 12} ({a} workloads), bxbxbxbxbxbx ({b} workloads)" in baseline, baseline
    assert not tree.root.find_all("b") and "@x" not in baseline


def test_hard_truncation_keeps_the_limit_and_says_so(suite):
    doc = big_suite(suite["doc"], 200)
    for i, w in enumerate(doc["workloads"]):
        w["verdict"] = "regression"
        w["name"] = f"regression-with-a-rather-long-descriptive-name-{i:04d}"
    doc["counts"] = {"regression": 200}
    doc["verdict"] = "fail"
    text = render_markdown(doc, limit=3000)
    assert len(text) <= 3000
    assert text.startswith(MARKER) and "## ❌ carbon-gate: failed — 200 failing workloads" in text
    assert text.rstrip().endswith("the full report is in the job summary and in `carbon-gate-results.json`.")


def test_hard_truncation_never_leaves_details_open(suite):
    base = big_suite(suite["doc"], 10)
    for w in base["workloads"]:
        w["verdict"] = "regression"
    base["counts"], base["verdict"] = {"regression": 10}, "fail"
    from carbon_gate.render.markdown import load_template

    level3 = load_template().render(**report_context(base, 3, limit=1000))
    start = level3.index("<details><summary>How these numbers")
    # Choose the limit so the cut lands inside the disclosure block.
    limit = start + 400 + 120
    text = render_markdown(base, limit=limit)
    assert len(text) <= limit
    assert text.count("<details") == text.count("</details>")
    _html, tree = parse(text)
    note = [q for q in tree.root.find_all("blockquote") if "Truncated at" in q.text()]
    assert len(note) == 1 and "details" not in note[0].ancestors()


def test_hard_truncation_closes_an_open_code_fence(suite, tmp_path):
    # A user template may put anything in a collapsed block, e.g. a long fenced listing of every workload.
    (tmp_path / "long.j2").write_text(
        "{{ marker }}\n{{ headline.text }}\n\n<details><summary>all</summary>\n\n"
        "````text\n{% for w in range(2000) %}line {{ w }} </details> ```\n{% endfor %}"
        "````\n\n</details>\n"
    )
    text = render_markdown(suite["doc"], template=tmp_path / "long.j2", limit=5000)
    assert len(text) <= 5000
    _html, tree = parse(text)
    note = [q for q in tree.root.find_all("blockquote") if "Truncated at" in q.text()]
    assert len(note) == 1 and note[0].ancestors() == ["#root"]
    code = [c for c in tree.root.find_all("code") if "line 0 " in c.text()]
    assert len(code) == 1 and "Truncated" not in code[0].text() and "details" in code[0].ancestors()


def test_action_job_summary_gets_the_full_report_when_the_comment_is_shortened(cli, tmp_path):
    workloads = [{"name": f"w{i}-" + "x" * 7000, "command": "true"} for i in range(6)]  # > 65,536 characters in full
    (tmp_path / "carbon-gate.yml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "grid": {"intensity": "400 g/kWh", "source": "test value"},
                "machine": {"rapl": "off", "gpu": "off", "embodied": "off"},
                "defaults": {"repeats": 1, "warmup": 0},
                "workloads": workloads,
            }
        )
    )
    summary = tmp_path / "summary.md"
    r = cli(
        "action",
        "--mode",
        "measure-only",
        "--comment",
        "off",
        env={"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(tmp_path / "outputs.txt")},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    comment = (tmp_path / "carbon-gate-report.md").read_text()
    assert len(comment) <= COMMENT_LIMIT and "full report is in the job summary" in comment
    text = summary.read_text()
    assert "shortened" not in text and "| Workload | Runs |" in text and len(text) > COMMENT_LIMIT


def test_shortening_note_names_the_results_file_verbatim(suite):
    _html, tree = parse(render_markdown(suite["doc"], limit=3000, results_name="out/my_results.json"))
    note = next(p for p in tree.root.find_all("p") if "shortened" in p.text())
    assert [c.text() for c in note.find_all("code")] == ["out/my_results.json"]


@pytest.mark.parametrize("name", ["out/a`b.json", "``x``.json", "`lead.json", "two\n\nlines <b>.json"])
def test_results_file_name_cannot_break_out_of_its_code_span(suite, name):
    shown = name.replace("\n\n", " ")  # a line break cannot stay in a code span; it would end the paragraph
    for limit in (3000, 1000):  # the shortening note, and the hard-truncation note
        _html, tree = parse(render_markdown(suite["doc"], limit=limit, results_name=name))
        note = [p for p in tree.root.find_all("p") if "shortened" in p.text() or "Truncated" in p.text()][-1]
        assert [c.text() for c in note.find_all("code")] == [shown], limit
        assert not tree.root.find_all("b")


def test_trend_chart_where_history_exists(suite):
    doc = with_history(suite["doc"], names=["api-latency"])
    text = render_markdown(doc)
    _html, tree = parse(text)
    charts = [
        c
        for c in tree.root.find_all("code")
        if c.attrs.get("class") == "language-mermaid" and "median energy per run" in c.text()
    ]  # the others: base vs head of the regressions
    assert len(charts) == 1
    body = charts[0].text()
    assert body.startswith("xychart-beta\n")
    assert 'title "api-latency - median energy per run' in body
    labels = re.search(r"x-axis \[(.*)\]", body).group(1).split(", ")
    values = re.search(r"line \[(.*)\]", body).group(1).split(", ")  # the first line; the second is the budget
    assert len(labels) == len(values) == 30 and labels[-1] == '"this run"'
    assert labels[0] == f'"{71:07x}"'  # the last 29 history points, by short commit
    assert "details" in charts[0].ancestors()
    # No history, no trend chart.
    assert "median energy per run" not in suite["report"]


def test_history_commit_ids_cannot_break_out_of_the_chart(suite):
    doc = copy.deepcopy(suite["doc"])
    doc["workloads"][0]["history"] = [
        {"commit": "\n```\n<b>", "median_wh": 1e-5},
        {"commit": 'x"</b>', "median_wh": 1e-5},
    ]
    _html, tree = parse(render_markdown(doc))
    charts = [
        c
        for c in tree.root.find_all("code")
        if c.attrs.get("class") == "language-mermaid" and "median energy per run" in c.text()
    ]
    assert len(charts) == 1 and "line [" in charts[0].text()
    assert not tree.root.find_all("b") and not tree.stray_end_tags
    assert any(s.text() == "How these numbers were obtained" for s in tree.root.find_all("summary"))


def test_at_most_five_trend_charts(suite):
    text = render_markdown(with_history(suite["doc"]))
    assert text.count("median energy per run") == 5


# --------------------------------------------------------------------------------------------------
# Custom templates.


def test_report_uses_a_user_template(suite, cli, tmp_path):
    (tmp_path / "my.j2").write_text("CUSTOM {{ headline.text }}\n{% for r in top_rows %}{{ r.name }};{% endfor %}\n")
    r = cli("report", str(suite["path"]), "--template", "my.j2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "CUSTOM could not run every workload — 3 failing workloads\n"
        "data-loader;train-epoch;api-latency;cold-start;tokenizer;export-onnx;"
    )  # trim_blocks


@pytest.mark.parametrize("source", ["{% for x in %}", "{{ no_such_variable.field }}", b"\xff\xfe{{ headline }}"])
def test_broken_user_template_is_a_usage_error(suite, cli, tmp_path, source):
    path = tmp_path / "broken.j2"
    path.write_bytes(source if isinstance(source, bytes) else source.encode())
    r = cli("report", str(suite["path"]), "--template", "broken.j2")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("carbon-gate: error: broken.j2: template failed:")
    assert r.stdout == ""


def test_run_with_a_user_template(cli, write_config, tmp_path):
    write_config(QUICK)
    (tmp_path / "my.j2").write_text("{{ marker }}\nCUSTOM {{ headline.icon }} {{ headline.counts }}\n")
    r = cli("run", "--mode", "none", "-q", "--template", "my.j2")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "carbon-gate-report.md").read_text() == f"{MARKER}\nCUSTOM ✅ **1** new\n"


def test_run_with_a_broken_template_is_a_usage_error(cli, write_config, tmp_path):
    write_config(QUICK)
    (tmp_path / "broken.j2").write_text("{{ no_such_variable.field }}")
    r = cli("run", "--mode", "none", "-q", "--template", "broken.j2")
    assert (tmp_path / "carbon-gate-results.json").exists()  # the measurements are never lost
    assert "Traceback" not in r.stderr
    assert r.returncode == 2, r.stderr
    assert "broken.j2" in r.stderr
    assert "carbon-gate: error: broken.j2: template failed: 'no_such_variable' is undefined" in r.stderr
    assert "the results are saved in carbon-gate-results.json" in r.stderr
    assert not (tmp_path / "carbon-gate-report.md").exists()
    assert "carbon-gate: PASS" in r.stdout  # the verdict still reaches the log


def test_compare_with_a_broken_template_is_a_usage_error(suite, cli, tmp_path):
    (tmp_path / "broken.j2").write_text("{% for x in %}")
    r = cli("compare", str(suite["path"]), "--results", "again.json", "--template", "broken.j2")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("carbon-gate: error: broken.j2: template failed:")
    assert json.loads((tmp_path / "again.json").read_text())["verdict"] == suite["doc"]["verdict"]


def test_compare_report_error_says_where_the_results_are_saved(suite, cli, tmp_path):
    (tmp_path / "broken.j2").write_text("{{ no_such_variable.field }}")
    r = cli("compare", str(suite["path"]), "--results", "again.json", "--template", "broken.j2")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert (
        "carbon-gate: error: the results are saved in again.json; `carbon-gate report again.json` renders them again"
    ) in r.stderr.splitlines()
    # Without --results the re-assessed results are not saved anywhere: no such claim.
    r = cli("compare", str(suite["path"]), "--template", "broken.j2")
    assert r.returncode == 2 and r.stderr.startswith("carbon-gate: error: broken.j2: template failed:")
    assert "saved" not in r.stderr


def test_interrupted_run_whose_report_fails_exits_with_the_interrupt_code(write_config, tmp_path):
    write_config(
        modelled_config(
            """
        - name: quick
          command: 'true'
        - name: long
          command: 'touch started && sleep 30'
        """,
            defaults="{repeats: 1, warmup: 0}",
        )
    )
    (tmp_path / "broken.j2").write_text("{{ no_such_variable.field }}")
    proc = subprocess.Popen(
        [PY, "-m", "carbon_gate", "run", "--mode", "none", "-q", "--template", "broken.j2"],
        cwd=tmp_path,
        env=without_ci(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the long workload never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err  # the interrupt's code, not the report error's 2
    assert "Traceback" not in err
    assert "carbon-gate: error: broken.j2: template failed: 'no_such_variable' is undefined" in err
    assert "the results are saved in carbon-gate-results.json" in err
    doc = json.loads((tmp_path / "carbon-gate-results.json").read_text())
    assert doc["interrupted"] is True and [w["name"] for w in doc["workloads"]] == ["quick"]
    assert not (tmp_path / "carbon-gate-report.md").exists()


# --------------------------------------------------------------------------------------------------
# JSON, CSV, model card.


def test_report_json_is_the_results_document(suite, cli):
    r = cli("report", str(suite["path"]), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == suite["doc"]
    assert r.stdout == suite["path"].read_text()


def paired_doc(doc: dict) -> dict:
    """The suite with base runs recorded (as a paired run records them), one of them a warm-up."""
    doc = copy.deepcopy(doc)
    for w in doc["workloads"]:
        if w["verdict"] == "unchanged":
            w["base_samples"] = copy.deepcopy(w["samples"][:3])
            w["base_samples"][0]["warmup"] = True
    return doc


def test_report_csv_one_row_per_sample_with_codecarbon_columns(suite, cli, tmp_path):
    doc = paired_doc(suite["doc"])
    (tmp_path / "paired.json").write_text(json.dumps(doc))
    r = cli("report", "paired.json", "--format", "csv")
    assert r.returncode == 0, r.stderr
    reader = csv.DictReader(io.StringIO(r.stdout))
    columns = reader.fieldnames
    rows = list(reader)
    shared = [c for c in columns if c in CODECARBON_COLUMNS]
    assert shared == [c for c in CODECARBON_COLUMNS if c in shared]  # same names, same order
    for c in (
        "timestamp",
        "project_name",
        "duration",
        "emissions",
        "cpu_energy",
        "gpu_energy",
        "ram_energy",
        "energy_consumed",
        "country_name",
        "cpu_model",
        "ram_total_size",
        "pue",
    ):
        assert c in shared
    assert columns[: len(shared)] == shared  # CodeCarbon's columns first, ours after
    for c in (
        "workload",
        "side",
        "warmup",
        "exit_code",
        "error",
        "cpu_method",
        "ram_method",
        "grid_intensity_g_per_kwh",
    ):
        assert c in columns

    expected = [(w["name"], "head", s) for w in doc["workloads"] for s in w["samples"]]
    expected += [(w["name"], "base", s) for w in doc["workloads"] for s in w["base_samples"]]
    assert len(rows) == len(expected) and len(rows) > len(PLAN) * 2
    assert sorted((r["workload"], r["side"]) for r in rows) == sorted((n, side) for n, side, _ in expected)
    grid = doc["grid"]
    samples = {(n, side, s["started_at"], s["energy_wh"]) for n, side, s in expected}
    for row in rows:
        cpu, gpu, ram, total = (float(row[c]) for c in ("cpu_energy", "gpu_energy", "ram_energy", "energy_consumed"))
        # Components and totals are rounded to the nWh in the results document, so they agree to ~1e-12 kWh.
        assert cpu + gpu + ram == pytest.approx(total, rel=1e-9, abs=2e-12)
        assert any(
            k[:3] == (row["workload"], row["side"], row["timestamp"]) and k[3] == pytest.approx(total * 1000)
            for k in samples
        )
        assert float(row["emissions"]) == pytest.approx(total * grid["pue"] * grid["g_per_kwh"] / 1000, rel=1e-9)
        assert float(row["duration"]) > 0 and row["project_name"] == row["workload"]
        assert row["country_name"].startswith("France")
    base_rows = [r for r in rows if r["side"] == "base"]
    assert sum(r["warmup"] == "True" for r in base_rows) == 2 and all(
        r["round"] == "" for r in base_rows if r["warmup"] == "True"
    )
    errors = [r for r in rows if r["workload"] == "data-loader"]
    assert errors and all(r["error"] == "exited with code 2" and r["exit_code"] == "2" for r in errors)


def test_report_csv_reads_with_pandas(suite):
    pd = pytest.importorskip("pandas")
    from carbon_gate.render.tables import to_csv  # what `report --format csv` prints

    frame = pd.read_csv(io.StringIO(to_csv(suite["doc"])))
    assert len(frame) == sum(len(w["samples"]) for w in suite["doc"]["workloads"])
    assert frame["energy_consumed"].dtype.kind == "f"
    parts = frame[["cpu_energy", "gpu_energy", "ram_energy"]].sum(axis=1)
    assert (parts - frame["energy_consumed"]).abs().max() <= 2e-12  # nWh rounding in the results document


def test_report_csv_country_columns_mean_what_codecarbon_means(suite):
    from carbon_gate.render.tables import to_csv

    row = next(csv.DictReader(io.StringIO(to_csv(suite["doc"]))))
    assert (row["country_name"], row["country_iso_code"]) == ("France", "FRA")


@pytest.mark.parametrize(
    "grid, expected",
    [
        ({"intensity": 400.0, "country": "DE"}, ("Germany", "DEU")),  # an intensity with grid.country
        ({"intensity": 400.0, "country": "deu"}, ("Germany", "DEU")),  # any code or case: the dataset's name
        ({"intensity": 400.0, "country": "Bavaria"}, ("Bavaria", "")),  # as written, no code
        ({"intensity": 400.0}, ("", "")),  # a bare intensity: no country
        ({}, ("", "")),  # the world average
    ],
)
def test_report_csv_country_columns_for_other_grids(suite, grid, expected):
    from carbon_gate.grid import resolve
    from carbon_gate.render.tables import to_csv

    doc = copy.deepcopy(suite["doc"])
    doc["grid"] = resolve(**grid).to_dict()  # the grid object as `run` writes it for such a config
    row = next(csv.DictReader(io.StringIO(to_csv(doc))))
    assert (row["country_name"], row["country_iso_code"]) == expected


def test_report_csv_country_columns_come_from_the_recorded_grid(suite, monkeypatch):
    from carbon_gate import grid
    from carbon_gate.render.tables import to_csv

    assert (suite["doc"]["grid"]["country_name"], suite["doc"]["grid"]["country_iso3"]) == ("France", "FRA")
    doc = copy.deepcopy(suite["doc"])
    doc["grid"].update(location="Somewhere (XX)", country_name="Germany", country_iso3="DEU")
    # Rendering is pure: no dataset lookup, no parsing of the display location.
    monkeypatch.setattr(grid, "find_country", lambda q: pytest.fail(f"looked up {q!r}"))
    monkeypatch.setattr(grid, "countries", lambda: pytest.fail("read the dataset"))
    row = next(csv.DictReader(io.StringIO(to_csv(doc))))
    assert (row["country_name"], row["country_iso_code"]) == ("Germany", "DEU")


@pytest.mark.parametrize(
    "grid, expected",
    [
        ({"location": "France (FR)", "method": "dataset"}, ("", "")),  # no recorded country: nothing guessed
        ({"location": "DE", "method": "configured"}, ("DE", "")),  # a configured label, as written
        ({"location": "configured", "method": "configured"}, ("", "")),
        ({"location": "World (generation-weighted average)", "method": "defaulted"}, ("", "")),
    ],
)
def test_report_csv_reads_results_written_before_the_country_was_recorded(suite, cli, tmp_path, grid, expected):
    doc = copy.deepcopy(suite["doc"])
    doc["grid"] = {k: v for k, v in doc["grid"].items() if not k.startswith("country_")} | grid
    (tmp_path / "old.json").write_text(json.dumps(doc))
    r = cli("report", "old.json", "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows and {(row["country_name"], row["country_iso_code"]) for row in rows} == {expected}


def test_report_model_card(suite, cli):
    w = next(w for w in suite["doc"]["workloads"] if w["name"] == "api-latency")
    r = cli(
        "report", str(suite["path"]), "--format", "model-card", "-w", "api-latency", "--training-type", "pre-training"
    )
    assert r.returncode == 0, r.stderr
    card = yaml.safe_load(r.stdout)
    assert list(card) == ["co2_eq_emissions"]
    block = card["co2_eq_emissions"]
    assert set(block) == {"emissions", "source", "training_type", "geographical_location", "hardware_used"}
    assert block["emissions"] == pytest.approx(w["co2e_g"], abs=1e-6)  # grams, as the Hub expects
    assert block["training_type"] == "pre-training"
    assert block["geographical_location"] == "France (FR)"
    fp = suite["doc"]["machine"]["fingerprint"]
    assert block["hardware_used"] == f"{fp['logical_cpus']} x {fp['cpu_model']}"
    assert block["source"].startswith("carbon-gate ") and "Ember" in block["source"]


def test_report_model_card_needs_one_workload(suite, cli):
    r = cli("report", str(suite["path"]), "--format", "model-card")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "several workloads" in r.stderr and "--workload" in r.stderr
    from carbon_gate.errors import UsageError
    from carbon_gate.render.tables import model_card

    with pytest.raises(UsageError, match="no-such-workload"):
        model_card(suite["doc"], "no-such-workload")
    with pytest.raises(UsageError, match="no measured workload"):
        model_card(suite["doc"], "data-loader")  # it never produced a measurement


# --------------------------------------------------------------------------------------------------
# Where reports are written.

QUICK = modelled_config("- name: nap\n  command: sleep 0.01", defaults="{repeats: 2, warmup: 0}")


def test_run_writes_the_report_by_default(hostile):
    # The hostile fixture ran `carbon-gate run --mode none` with no --report option.
    report = (hostile["dir"] / "carbon-gate-report.md").read_text()
    assert report.startswith(MARKER) and "stderr (last lines)" in report
    assert "report: carbon-gate-report.md" in hostile["stderr"]
    assert report == render_markdown(hostile["doc"])  # the same text `carbon-gate report` would give


def test_run_with_empty_report_writes_none(cli, write_config, tmp_path):
    write_config(QUICK)
    r = cli("run", "--mode", "none", "-q", "--report", "")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["carbon-gate-results.json", "carbon-gate.yml"]
    assert "report:" not in r.stderr


def test_report_output_file_is_replaced_atomically(suite, cli, tmp_path):
    out = tmp_path / "out" / "report.md"
    out.parent.mkdir()
    out.write_text("old report\n")
    os.link(out, tmp_path / "old-link.md")  # a file written in place would change under this link too
    r = cli("report", str(suite["path"]), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert out.read_text() == suite["report"]
    assert (tmp_path / "old-link.md").read_text() == "old report\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.md"]  # no temp file left behind


def test_report_output_to_an_unwritable_place_is_a_usage_error(suite, cli, tmp_path):
    (tmp_path / "file").write_text("")
    r = cli("report", str(suite["path"]), "-o", str(tmp_path / "file" / "report.md"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "cannot write" in r.stderr


def test_written_report_honours_the_umask(tmp_path):
    from carbon_gate.fsutil import atomic_write_text  # what `report -o`, `run --report` and `--results` use

    out = atomic_write_text(tmp_path / "report.md", "text")
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    "name, live",
    [
        ("fix #123", "#123"),
        ("see https://evil.example/x", "https://"),
        ("www.evil.example", "www."),
        ("GH-12 again", "GH-12"),
    ],
)
def test_workload_names_never_become_links_or_references(name, live):
    from carbon_gate.render.markdown import md

    escaped = md(name)
    assert live not in escaped and escaped.replace("\u200b", "") == name.replace("@", "@")
