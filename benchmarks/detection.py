"""How often does the paired gate raise a false alarm, and how often does it catch a real regression?

    python benchmarks/detection.py [--gates 30] [--seconds 0.5] [--resample 4000] [--json FILE]

Builds a temp git repo with a CPU-bound workload whose cost is a committed parameter, then runs the
real gate (`carbon-gate run --mode paired --base BASE`, default repeats/warm-up/tolerance/confidence,
a different seed each time) on three heads: (a) A/A — identical work, (b) +5 % work, (c) +10 % work.
Prints the rates with their counts, a 95 % Wilson interval on each rate, and the median MDE.

Real gate runs are few (each costs 2 × (warm-up + rounds) workload runs), so the counts are small:
0 false alarms in 30 A/A gates only bounds the rate below ~11 %; showing <= 1 % takes ~300 clean gates.
A second, clearly labelled **resampling study** draws rounds from the pool of rounds the real runs
recorded (without replacement when the pool is large enough, so no round is counted twice in one
decision) and applies the gate's own statistics (`paired_change` + `classify`), to show what other
settings (rounds, tolerance) would achieve on this machine's noise. It treats recorded rounds as
exchangeable and cannot be more precise than the pool it draws from.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _machine  # benchmarks/_machine.py: on sys.path as the script's own directory

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


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a rate k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gates", type=int, default=30, help="real gate runs per scenario")
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one workload run")
    ap.add_argument("--resample", type=int, default=4000, help="simulated gate decisions per scenario")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args()

    scenarios = {"A/A (identical)": 1.00, "+5 % work": 1.05, "+10 % work": 1.10}
    machine = _machine.facts()
    print(_machine.line(machine))
    with tempfile.TemporaryDirectory(prefix="cg-detect-") as tmp_s:
        repo = Path(tmp_s) / "repo"
        repo.mkdir()
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
        out = Path(tmp_s) / "results.json"  # outside the repo: the checkout stays clean
        for label, sha in heads.items():
            git("checkout", "-q", sha, cwd=repo)
            verdicts, mdes, ratios = [], [], []
            rounds[label] = []
            t0 = time.perf_counter()
            for g in range(args.gates):
                out.unlink(missing_ok=True)
                proc = subprocess.run([sys.executable, "-m", "carbon_gate", "run", "-q", "--mode", "paired", "--base", base,
                                       "--seed", str(1000 + g), "--results", str(out), "--report", ""],
                                      cwd=repo, capture_output=True, text=True)
                if proc.returncode not in (0, 1) or not out.exists():
                    print(f"  gate error (exit {proc.returncode}):", proc.stderr[-400:])
                    verdicts.append("gate-error")
                    continue
                w = json.loads(out.read_text())["workloads"][0]
                verdicts.append(w["verdict"])
                ch = w.get("change") or {}
                mdes.append(ch["mde"] if ch.get("mde") is not None else float("inf"))
                if ch.get("ratio") is not None:
                    ratios.append(ch["ratio"])
                h = [s["energy_wh"] for s in w["samples"] if not s["warmup"]]
                b = [s["energy_wh"] for s in w.get("base_samples") or [] if not s["warmup"]]
                rounds[label].extend(zip(h, b))
            dt = time.perf_counter() - t0
            n_reg = verdicts.count("regression")
            lo, hi = wilson(n_reg, len(verdicts))
            real[label] = {"verdicts": verdicts, "regressions": n_reg, "gates": len(verdicts), "wilson95": [lo, hi],
                           "mde_median": statistics.median(mdes) if mdes else None,
                           "ratio_median": statistics.median(ratios) if ratios else None, "seconds": dt}
            counts = {v: verdicts.count(v) for v in sorted(set(verdicts))}
            ratio_s = f"{real[label]['ratio_median']:.4f}" if ratios else "n/a"
            mde_s = f"{real[label]['mde_median']:.1%}" if mdes else "n/a"
            print(f"  {label:<16} regression {n_reg}/{len(verdicts)} = {n_reg / len(verdicts):5.1%} "
                  f"(95 % CI {lo:.1%}–{hi:.1%})   median ratio {ratio_s}   median MDE {mde_s}   {counts}"
                  f"   [{dt / max(1, len(verdicts)):.1f} s/gate]")
        print("  targets (DESIGN §14): A/A false alarms <= 1 %, +10 % detected >= 95 %, +5 % detected >= 80 %")

        print(f"\nresampling study (simulated, NOT real gate runs): {args.resample} decisions per cell; each decision"
              " draws its rounds from the real rounds recorded above (pool size per scenario: "
              + ", ".join(f"{k} {len(v)}" for k, v in rounds.items()) + "), without replacement unless the pool is smaller")
        rng = random.Random(7)
        study = {}
        print(f"  {'scenario':<16} {'rounds':>6} {'tol':>5}   regression rate   median MDE")
        for label, pool in rounds.items():
            for n_rounds in (6, 10, 20):
                for tol in (0.05, 0.02):
                    hits, mdes = 0, []
                    for _ in range(args.resample):
                        pick = rng.sample(pool, n_rounds) if len(pool) >= n_rounds else rng.choices(pool, k=n_rounds)
                        ch = paired_change([p[0] for p in pick], [p[1] for p in pick])
                        hits += classify(ch, tol)[0] == "regression"
                        mdes.append(ch.mde)
                    rate = hits / args.resample
                    study[f"{label}|{n_rounds}|{tol}"] = rate
                    how = "" if len(pool) >= n_rounds else "   (pool too small: drawn with replacement)"
                    print(f"  {label:<16} {n_rounds:>6} {tol:>5.0%}   {hits:>5}/{args.resample} = {rate:6.1%}"
                          f"   {statistics.median(mdes):6.1%}{how}")
        aa = rounds["A/A (identical)"]
        lr = [math.log(h / b) for h, b in aa if h > 0 and b > 0]
        if len(lr) > 1:
            q = statistics.quantiles(lr, n=4)
            print(f"\nA/A per-round log-ratio over {len(lr)} rounds: median {statistics.median(lr):+.4f}, sd {statistics.stdev(lr):.4f}"
                  f" (≈ {statistics.stdev(lr):.1%} noise per round), IQR {q[0]:+.4f} … {q[2]:+.4f}")
        print(f"load average (1 min) at the end: {_machine.load_now():.2f}")
        if args.json:
            args.json.write_text(json.dumps({"machine": machine, "workload_iterations": n0, "seconds": args.seconds,
                                             "real": real, "study": study, "rounds": rounds}, indent=2))


if __name__ == "__main__":
    main()
