"""How often does the paired gate raise a false alarm, and how often does it catch a real regression?

    python benchmarks/detection.py [--gates 12] [--seconds 0.5] [--resample 4000]

Builds a temp git repo with a CPU-bound workload whose cost is a committed parameter, then runs the
real gate (`carbon-gate run --mode paired --base BASE`, default repeats/warm-up/tolerance/confidence,
a different seed each time) on three heads: (a) A/A — identical work, (b) +5 % work, (c) +10 % work.
Prints the rates with their counts and the median MDE.

Real gate runs are few (each costs 2 × (warm-up + rounds) workload runs), so the counts are small.
A second, clearly labelled **resampling study** draws rounds with replacement from the rounds the
real runs recorded and applies the same statistics, to tighten the estimates and to show what other
settings (rounds, tolerance) would achieve on this machine's noise.
"""

from __future__ import annotations

import argparse
import math
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from carbon_gate.assess.stats import classify, paired_change  # noqa: E402

WORK = """import pathlib
n = int(pathlib.Path("cost.txt").read_text())
x = 0
for i in range(n):
    x += i
"""
CONFIG = """version: 1
workloads:
  - name: loop
    command: [{python}, work.py]
"""


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


def calibrate(n_seconds: float, tmp: Path) -> int:
    n = 1_000_000
    while True:
        (tmp / "cost.txt").write_text(str(n))
        t = time.perf_counter()
        subprocess.run([sys.executable, "work.py"], cwd=tmp, check=True)
        dt = time.perf_counter() - t
        if dt > 0.2:
            return int(n * n_seconds / dt)
        n *= 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gates", type=int, default=12, help="real gate runs per scenario")
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one workload run")
    ap.add_argument("--resample", type=int, default=4000, help="simulated gate decisions per scenario")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args()

    scenarios = {"A/A (identical)": 1.00, "+5 % work": 1.05, "+10 % work": 1.10}
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="cg-detect-") as tmp_s:
        repo = Path(tmp_s)
        (repo / "work.py").write_text(WORK)
        n0 = calibrate(args.seconds, repo)
        (repo / "cost.txt").write_text(str(n0))
        (repo / "carbon-gate.yml").write_text(CONFIG.format(python=json.dumps(sys.executable)))
        git("init", "-q", "-b", "main", cwd=repo)
        git("add", "-A", cwd=repo)
        git("commit", "-qm", "base", cwd=repo)
        base = git("rev-parse", "HEAD", cwd=repo)
        heads = {}
        for label, factor in scenarios.items():
            git("checkout", "-q", "-B", f"s{len(heads)}", base, cwd=repo)
            (repo / "cost.txt").write_text(str(int(n0 * factor)))
            (repo / "NOTE").write_text(label)
            git("add", "-A", cwd=repo)
            git("commit", "-qm", label, cwd=repo)
            heads[label] = git("rev-parse", "HEAD", cwd=repo)

        print(f"workload: ~{args.seconds:g} s CPU-bound loop ({n0} iterations); {args.gates} real paired gates per scenario,"
              " default settings (repeats 5 → 6 rounds minimum, warm-up 1, tolerance 5 %, 95 %)\n")
        real: dict[str, dict] = {}
        rounds: dict[str, list[tuple[float, float]]] = {}
        for label, sha in heads.items():
            git("checkout", "-q", sha, cwd=repo)
            verdicts, mdes, ratios = [], [], []
            rounds[label] = []
            for g in range(args.gates):
                out = repo / "r.json"
                proc = subprocess.run([sys.executable, "-m", "carbon_gate", "run", "-q", "--mode", "paired", "--base", base,
                                       "--seed", str(1000 + g), "--results", str(out)], cwd=repo, capture_output=True, text=True)
                w = json.loads(out.read_text())["workloads"][0]
                verdicts.append(w["verdict"])
                mdes.append(w["change"]["mde"] if w["change"] and w["change"]["mde"] is not None else float("inf"))
                ratios.append(w["change"]["ratio"])
                h = [s["energy_wh"] for s in w["samples"] if not s["warmup"]]
                b = [s["energy_wh"] for s in w["base_samples"] if not s["warmup"]]
                rounds[label].extend(zip(h, b))
                if proc.returncode not in (0, 1):
                    print("  gate error:", proc.stderr[-400:])
            real[label] = {"verdicts": verdicts, "mde_median": statistics.median(mdes), "ratio_median": statistics.median(ratios)}
            n_reg = verdicts.count("regression")
            counts = {v: verdicts.count(v) for v in sorted(set(verdicts))}
            print(f"  {label:<16} regression {n_reg}/{len(verdicts)} = {n_reg / len(verdicts):5.1%}   "
                  f"median ratio {real[label]['ratio_median']:.4f}   median MDE {real[label]['mde_median']:.1%}   {counts}")

        print(f"\nresampling study (simulated, not real gate runs): {args.resample} decisions per cell, rounds drawn with"
              " replacement from the real rounds recorded above")
        rng = random.Random(7)
        study = {}
        print(f"  {'scenario':<16} {'rounds':>6} {'tol':>5}   regression rate   median MDE")
        for label, pool in rounds.items():
            for n_rounds in (6, 10, 20):
                for tol in (0.05, 0.02):
                    hits, mdes = 0, []
                    for _ in range(args.resample):
                        pick = [rng.choice(pool) for _ in range(n_rounds)]
                        ch = paired_change([p[0] for p in pick], [p[1] for p in pick])
                        hits += classify(ch, tol)[0] == "regression"
                        mdes.append(ch.mde)
                    rate = hits / args.resample
                    study[f"{label}|{n_rounds}|{tol}"] = rate
                    print(f"  {label:<16} {n_rounds:>6} {tol:>5.0%}   {hits:>5}/{args.resample} = {rate:6.1%}"
                          f"   {statistics.median(mdes):6.1%}")
        aa = rounds["A/A (identical)"]

        lr = [math.log(h / b) for h, b in aa]
        print(f"\nA/A per-round log-ratio: sd {statistics.stdev(lr):.4f} (≈ {statistics.stdev(lr):.1%} noise per round), "
              f"{len(lr)} rounds")
        if args.json:
            args.json.write_text(json.dumps({"real": real, "study": study}, indent=2))


if __name__ == "__main__":
    main()
