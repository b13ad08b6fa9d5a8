"""Start-up and metering overhead of carbon-gate, measured side by side on this machine.

    python benchmarks/overhead.py [--runs 5] [--seconds 10] [--noise-seconds 2]

Prints, as medians over interleaved runs:
  1. CLI cold start: `carbon-gate --version` vs `python -c pass` (the interpreter's own floor);
  2. `carbon-gate measure -- true` total wall time;
  3. meter overhead on a ~10 s CPU-bound workload: wall time under `carbon-gate measure` / bare;
  4. noise: relative spread and CV of total energy over 5 measured runs of a ~2 s CPU-bound workload
     (the noise the regression statistics have to work with).
Absolute times on shared machines are noisy; the ratios, measured in one run, are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PY = sys.executable
CG = [PY, "-m", "carbon_gate"]
BUSY = "import sys\nx = 0\nfor i in range(int(sys.argv[1])):\n    x += i\n"


def wall(cmd: list[str], **kw) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, **kw)
    return time.perf_counter() - t


def calibrate(script: Path, seconds: float) -> int:
    n = 2_000_000
    while True:
        t = wall([PY, str(script), str(n)])
        if t > 1.5:
            return int(n * seconds / t)
        n *= 4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--noise-seconds", type=float, default=2.0)
    args = ap.parse_args()
    cg_script = [str(Path(PY).parent / "carbon-gate")] if (Path(PY).parent / "carbon-gate").exists() else CG

    with tempfile.TemporaryDirectory() as tmp:
        busy = Path(tmp) / "busy.py"
        busy.write_text(BUSY)
        print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")

        starts = {"python -c pass": [], "carbon-gate --version": [], "carbon-gate measure -- true": [], "true (bare)": []}
        for _ in range(max(args.runs, 10)):
            starts["python -c pass"].append(wall([PY, "-c", "pass"]))
            starts["carbon-gate --version"].append(wall(cg_script + ["--version"]))
            starts["carbon-gate measure -- true"].append(wall(cg_script + ["measure", "--", "true"]))
            starts["true (bare)"].append(wall(["true"]))
        print("\n1-2. start-up (median of %d)" % len(starts["true (bare)"]))
        for k, v in starts.items():
            print(f"  {k:<30} {statistics.median(v) * 1000:8.1f} ms")
        floor = statistics.median(starts["python -c pass"])
        print(f"  cold start over the interpreter floor: {(statistics.median(starts['carbon-gate --version']) - floor) * 1000:.1f} ms")

        n = calibrate(busy, args.seconds)
        bare, metered, overhead_cpu = [], [], []
        for _ in range(args.runs):  # interleaved so drift hits both sides alike
            bare.append(wall([PY, str(busy), str(n)]))
            out = Path(tmp) / "m.json"
            metered.append(wall(cg_script + ["measure", "--json", str(out), "--", PY, str(busy), str(n)]))
            overhead_cpu.append(json.loads(out.read_text())["workloads"][0]["samples"][0]["overhead_cpu_s"])
        mb, mm = statistics.median(bare), statistics.median(metered)
        print(f"\n3. meter overhead on a ~{args.seconds:g} s CPU-bound workload ({args.runs} interleaved pairs)")
        print(f"  bare median     {mb:8.3f} s")
        print(f"  metered median  {mm:8.3f} s   (includes carbon-gate's own start-up)")
        print(f"  wall ratio      {mm / mb:8.4f}   ({(mm / mb - 1) * 100:+.2f} %)")
        print(f"  meter CPU       {statistics.median(overhead_cpu) * 1000:8.1f} ms per run "
              f"({statistics.median(overhead_cpu) / mb * 100:.3f} % of the workload's wall time)")

        n2 = int(n * args.noise_seconds / args.seconds)
        cfg = Path(tmp) / "carbon-gate.yml"
        cfg.write_text(textwrap.dedent(f"""\
            version: 1
            defaults: {{repeats: 5, warmup: 1, timeout: 5m}}
            workloads:
              - name: busy
                command: [{json.dumps(PY)}, busy.py, "{n2}"]
            """))
        res = Path(tmp) / "r.json"
        subprocess.run(cg_script + ["run", "-q", "-c", str(cfg), "--results", str(res)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        w = json.loads(res.read_text())["workloads"][0]
        s = w["summary"]
        energies = [x["energy_wh"] for x in w["samples"] if not x["warmup"]]
        print(f"\n4. noise: {s['n']} runs of a ~{args.noise_seconds:g} s CPU-bound workload")
        print(f"  energy median {s['median_wh'] * 1000:.4f} mWh, min {s['min_wh'] * 1000:.4f}, max {s['max_wh'] * 1000:.4f}")
        print(f"  relative spread (max-min)/median {s['spread'] * 100:.2f} %, CV {s['cv'] * 100:.2f} %")
        print(f"  per-run energy (mWh): {', '.join(f'{e * 1000:.4f}' for e in energies)}")
        print(f"  CPU method: {json.loads(res.read_text())['machine']['cpu']['method']}")


if __name__ == "__main__":
    main()
