"""Report rendering at scale (the target in docs/performance.md: 500 workloads with 100-point histories
render in ≤ 1 s and fit GitHub's 65,536-character comment limit).

    python benchmarks/render.py [--runs 5]

Builds real results documents first: `carbon-gate run --mode none` of two tiny workloads (one of them
failing) in a temp dir, then `carbon-gate compare` against a rescaled copy, so the entries carry real
samples, machine, grid, `change`, `budget` and `reasons`. Those entries are copied under new names into
big suites (half unchanged, the rest regressions, errors, improvements, new):

  A. 500 workloads, each with a 100-entry history;
  B. 2,000 workloads without history.

Prints, for each suite: the median (and min/max) wall time of `render_markdown` over --runs runs, the
size of the comment report against the 65,536 limit and which degradation step made it fit, the size
of the same report rendered for the 1 MiB job summary, and the median time of the whole
`carbon-gate report RESULTS` command (process start, JSON load, render).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _machine  # benchmarks/_machine.py: on sys.path as the script's own directory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carbon_gate.render.markdown import COMMENT_LIMIT, SUMMARY_LIMIT, render_markdown

PY = sys.executable
CONFIG = """\
version: 1
grid: {country: DE}
machine: {rapl: "off", gpu: "off", embodied: "off"}
defaults: {repeats: 2, warmup: 0}
workloads:
  - name: steady
    command: sleep 0.01
    budget: {energy: 1 Wh}
  - name: slower
    command: sleep 0.01
    budget: {energy: 1 Wh}
  - name: faster
    command: sleep 0.01
  - name: broken
    command: '"%s" -c "import sys; sys.stderr.write(\\"boom\\\\n\\" * 40); sys.exit(1)"'
"""
NOISE = (-0.020, 0.010, -0.005, 0.015, 0.000, -0.010, 0.020, 0.005)
FACTOR = {"steady": 1.0, "slower": 1.3, "faster": 0.7}
MIX = ["unchanged"] * 10 + ["regression"] * 4 + ["error", "improvement", "improvement", "new", "new", "regression"]


def cg(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run([PY, "-m", "carbon_gate", *args], cwd=cwd, env=env, capture_output=True, text=True)


def scaled(sample: dict, total_wh: float) -> dict:
    s = copy.deepcopy(sample)
    f = total_wh / sample["energy_wh"]
    for e in s["energy"]:
        e["wh"] = round(e["wh"] * f, 12)
    s["energy_wh"] = round(sum(e["wh"] for e in s["energy"]), 12)
    return s


def real_entries(tmp: Path) -> dict:
    """One real, assessed results document with unchanged, regression, improvement, new and error entries."""
    (tmp / "carbon-gate.yml").write_text(CONFIG % PY)
    r = cg("run", "--mode", "none", "-q", "--results", "run.json", "--report", "", cwd=tmp)
    if r.returncode not in (0, 3):
        sys.exit(f"carbon-gate run failed ({r.returncode}):\n{r.stderr}")
    head = json.loads((tmp / "run.json").read_text())
    base = copy.deepcopy(head)
    for wh, wb in zip(head["workloads"], base["workloads"]):
        if wh["name"] in FACTOR:
            e0, template = wh["energy_wh"], wh["samples"][0]
            wb["samples"] = [scaled(template, e0 * (1 + d)) for d in NOISE]
            wh["samples"] = [scaled(template, e0 * FACTOR[wh["name"]] * (1 + d)) for d in NOISE[::-1]]
    (tmp / "head.json").write_text(json.dumps(head))
    (tmp / "base.json").write_text(json.dumps(base))
    r = cg("compare", "head.json", "base.json", "--results", "suite.json", "--report", "", cwd=tmp)
    doc = json.loads((tmp / "suite.json").read_text())
    by_verdict = {w["verdict"]: w for w in doc["workloads"]}
    new = copy.deepcopy(by_verdict["unchanged"])
    new.update(verdict="new", change=None, baseline=None, reasons=["no baseline for this workload"])
    by_verdict["new"] = new
    missing = {"unchanged", "regression", "improvement", "error"} - set(by_verdict)
    if missing:
        sys.exit(f"could not build example entries for {missing}: got {sorted(by_verdict)}")
    doc["_entries"] = by_verdict
    return doc


def big_suite(doc: dict, n: int, history: int) -> dict:
    big = {k: copy.deepcopy(v) for k, v in doc.items() if k not in ("workloads", "_entries")}
    big["workloads"], counts = [], {}
    frozen = {v: json.dumps(w) for v, w in doc["_entries"].items()}  # json round trip: much faster than deepcopy
    for i in range(n):
        verdict = MIX[i % len(MIX)]
        w = json.loads(frozen[verdict])
        w["name"] = f"service-{i // 20:03d}/benchmark-{i:04d}"
        if history:  # every workload, the worst case; an errored one keeps the history its baseline had
            level = w.get("energy_wh") if w.get("energy_wh") is not None else 1e-3
            w["history"] = [
                {
                    "commit": f"{(i * 7919 + k) % 16**7:07x}" + "0" * 33,
                    "date": "2026-01-01",
                    "median_wh": level * (1 + 0.002 * ((k * 37) % 11 - 5)),
                }
                for k in range(history)
            ]
        big["workloads"].append(w)
        counts[verdict] = counts.get(verdict, 0) + 1
    big["counts"], big["verdict"] = counts, "error" if counts.get("error") else "fail"
    return big


def step(text: str) -> str:
    """Which degradation step the comment report ended at (see carbon_gate/render/markdown.py)."""
    if "⚠️ Truncated at" in text:
        return "hard-truncated with a note"
    if "**Failing workloads (" in text:
        return "level 3: failing workloads by name only"
    if "not listed to fit GitHub's comment limit" in text:
        return "level 2: unchanged rows dropped"
    if "shortened to fit" in text:
        return "level 1: no charts or statistics table"
    return "level 0: full report"


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench(label: str, doc: dict, runs: int, tmp: Path) -> None:
    times = timed(lambda: render_markdown(doc), runs)
    text = render_markdown(doc)
    summary = render_markdown(doc, limit=SUMMARY_LIMIT)
    path = tmp / f"{label}.json"
    path.write_text(json.dumps(doc))
    cli_runs = max(1, min(3, runs // 2))
    cli = timed(lambda: cg("report", str(path), "-o", str(tmp / f"{label}.md"), cwd=tmp), cli_runs)
    failing = [w["name"] for w in doc["workloads"] if w["verdict"] in ("error", "over-budget", "regression")]
    named = sum(name in text for name in failing)
    print(
        f"\n{label}: {len(doc['workloads'])} workloads, {sum(len(w.get('history') or []) for w in doc['workloads'])} "
        f"history points, results JSON {path.stat().st_size / 1e6:.1f} MB"
    )
    print(
        f"  render_markdown        median {statistics.median(times) * 1000:7.1f} ms "
        f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}; {runs} runs)"
    )
    print(
        f"  comment report         {len(text):,} characters of {COMMENT_LIMIT:,} "
        f"({len(text) / COMMENT_LIMIT:.0%}) — {step(text)}"
    )
    print(f"  failing workloads named {named} of {len(failing)}")
    print(
        f"  job-summary render     {len(summary):,} characters, {len(summary.encode()):,} bytes "
        f"of {SUMMARY_LIMIT:,} — {step(summary)}"
    )
    print(f"  `carbon-gate report`   median {statistics.median(cli) * 1000:7.1f} ms end to end ({cli_runs} runs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed renders per suite (median reported)")
    args = ap.parse_args()
    print(_machine.line(_machine.facts()))
    with tempfile.TemporaryDirectory(prefix="carbon-gate-render-") as d:
        tmp = Path(d)
        t = time.perf_counter()
        doc = real_entries(tmp)
        print(f"real entries from `carbon-gate run` + `compare`: {time.perf_counter() - t:.1f} s")
        bench("A-500-with-history", big_suite(doc, 500, history=100), args.runs, tmp)
        bench("B-2000-no-history", big_suite(doc, 2000, history=0), args.runs, tmp)
    print(f"\nload average (1 min) at the end: {_machine.load_now():.2f}")
    print("target: A renders in ≤ 1 s and fits 65,536 characters")


if __name__ == "__main__":
    main()
