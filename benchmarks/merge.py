"""Merging shard results at scale (issue 18: 50 shards × 40 workloads with histories merge in < 2 s,
and the cost grows linearly).

    python benchmarks/merge.py [--runs 3]

A real shard document first: `carbon-gate run --shard 1/1 --mode none` of one tiny workload in a temp
git repo. Its workload entry is copied under new names into S shard documents of 40 workloads each,
every workload with 10 counted runs, a stored baseline of 10 runs (so each is compared, and Holm runs
across the whole suite) and a 100-entry history; the shard blocks carry one shared plan, as `run
--shard` writes them. Side by side in one run, for S = 25, 50 and 100 shards:

  - the median wall time of `carbon_gate.merge.merge` over --runs runs (documents already loaded);
  - the median time of the whole `carbon-gate merge` command (process start, load 50 files, merge,
    write, summary) for S = 50;
  - the time per workload at each S, whose ratio to S = 25's shows whether the cost is linear.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _machine  # benchmarks/_machine.py: on sys.path as the script's own directory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carbon_gate.merge import merge

PY = sys.executable
PER_SHARD = 40
CONFIG = """\
version: 1
grid: {country: DE}
machine: {rapl: "off", gpu: "off", embodied: "off"}
defaults: {repeats: 2, warmup: 0}
workloads:
  - name: tiny
    command: "true"
"""


def template(tmp: Path) -> dict:
    (tmp / "carbon-gate.yml").write_text(CONFIG)
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=tmp, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp, check=True)
    subprocess.run([*git, "commit", "-qm", "bench"], cwd=tmp, check=True)
    subprocess.run(
        [
            PY,
            "-m",
            "carbon_gate",
            "run",
            "--shard",
            "1/1",
            "--mode",
            "none",
            "--report",
            "",
            "-q",
            "--results",
            "t.json",
        ],
        cwd=tmp,
        check=True,
        capture_output=True,
    )
    return json.loads((tmp / "t.json").read_text())


def shards(base: dict, count: int) -> list[dict]:
    w0 = base["workloads"][0]
    s0 = next(s for s in w0["samples"] if not s["warmup"])
    plan = [[f"s{i:03d}-w{j:02d}" for j in range(PER_SHARD)] for i in range(count)]
    history = [
        {"commit": f"{k:040x}", "date": "2026-01-01T00:00:00+00:00", "median_wh": 1e-3 + k * 1e-7} for k in range(100)
    ]
    docs = []
    for i, names in enumerate(plan):
        doc = copy.deepcopy(base)
        doc["shard"] = {
            **doc["shard"],
            "id": f"{i + 1}/{count}",
            "index": i + 1,
            "count": count,
            "plan": plan,
            "suite": [n for p in plan for n in p],
        }
        doc["workloads"] = []
        for j, name in enumerate(names):
            w = copy.deepcopy(w0)
            head = [1e-3 * (1 + (j % 7) / 50 + r / 1000) for r in range(10)]
            w.update(
                name=name,
                samples=[{**s0, "energy_wh": wh, "energy": [{**s0["energy"][0], "wh": wh}]} for wh in head],
                baseline={
                    "mode": "stored",
                    "commit": None,
                    "n": 10,
                    "seed": None,
                    "error": None,
                    "notes": [],
                    "samples_wh": [1e-3 * (1 + r / 1000) for r in range(10)],
                },
                history=history,
            )
            doc["workloads"].append(w)
        docs.append(doc)
    return docs


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(_machine.line(_machine.facts()))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = template(tmp)
        per_workload = {}
        for count in (25, 50, 100):
            docs = shards(base, count)
            times = timed(lambda docs=docs: merge(docs), args.runs)
            med = statistics.median(times)
            per_workload[count] = med / (count * PER_SHARD)
            print(
                f"  {count:>3} shards × {PER_SHARD} workloads ({count * PER_SHARD:>5}): "
                f"merge() median {med * 1000:8.1f} ms "
                f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}; {args.runs} runs), "
                f"{per_workload[count] * 1e6:6.1f} µs per workload, "
                f"×{per_workload[count] / per_workload[25]:.2f} of 25 shards'"
            )
            if count == 50:
                files = []
                for k, doc in enumerate(docs):
                    p = tmp / f"shard-{k:02d}.json"
                    p.write_text(json.dumps(doc))
                    files.append(str(p))
                cmd = [PY, "-m", "carbon_gate", "merge", *files, "-o", str(tmp / "merged.json")]
                whole = timed(lambda cmd=cmd: subprocess.run(cmd, capture_output=True), args.runs)
                size = sum(Path(f).stat().st_size for f in files)
                print(
                    f"      `carbon-gate merge` of the 50 files ({size / 1e6:.1f} MB): "
                    f"median {statistics.median(whole):.2f} s "
                    f"(min {min(whole):.2f}, max {max(whole):.2f})"
                )
                ok = statistics.median(whole) < 2.0
                print(f"      target: < 2 s for 50 × 40 with histories — {'met' if ok else 'MISSED'}")
    print(f"load average (1 min) at the end: {_machine.load_now():.2f}")


if __name__ == "__main__":
    main()
