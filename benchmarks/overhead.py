"""Start-up and metering overhead of carbon-gate, side by side with CodeCarbon, on this machine.

    python benchmarks/overhead.py [--runs 7] [--seconds 10] [--noise-seconds 2] [--noise-repeats 5]
                                  [--codecarbon-python /tmp/cc-venv/bin/python] [--json FILE]

Run it with the interpreter that has carbon-gate installed. CodeCarbon lives in a separate venv (carbon-gate
does not depend on it); pass that venv's interpreter with --codecarbon-python, or the CodeCarbon row
prints "skipped: ...". CodeCarbon runs offline: `codecarbon monitor --offline --country-iso-code DEU --
COMMAND` (no API, no network), or, for versions whose `monitor` cannot wrap a command, a minimal wrapper
starting an OfflineEmissionsTracker around the command as a subprocess.

Prints:
  1-2. start-up, median of >= 10 interleaved runs: `python -c pass` (the interpreter's floor),
       `carbon-gate --version` (cold start) and `carbon-gate measure -- true`;
  3.   meter overhead on a ~10 s CPU-bound workload, --runs interleaved rounds (order rotated per round),
       each round running it bare, under `carbon-gate measure` and under CodeCarbon:
       - wall-time ratio against the bare run of the same round (median over rounds), start-up included;
       - the run's duration as the tool itself recorded it / bare (start-up and shut-down excluded);
       - CPU-seconds of the meter process: kernel CPU time of the meter's whole tree (wait4) minus the
         CPU time the workload reports for itself; plus carbon-gate's self-reported `overhead_cpu_s`;
       - the energy each tool reports (context only: the tools model differently on machines without
         energy counters);
  4.   noise: `carbon-gate run` of a ~2 s CPU-bound workload, warm-up 1 + 5 counted runs: relative
       spread (max - min) / median of total energy, and CV (the noise the regression statistics face).

Absolute times on shared machines are noisy; the ratios within one run of this script are what to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import _machine  # benchmarks/_machine.py: on sys.path as the script's own directory

PY = sys.executable
# The workload reports its own CPU time, so a meter's CPU = its whole tree's CPU minus this.
BUSY = """\
import resource, sys
x = 0
for i in range(int(sys.argv[1])):
    x += i
if len(sys.argv) > 2:
    r = resource.getrusage(resource.RUSAGE_SELF)
    with open(sys.argv[2], "w") as f:
        f.write(repr(r.ru_utime + r.ru_stime))
"""
# Used only when the installed CodeCarbon's `monitor` cannot wrap a command (before 3.x): what a user
# would write instead — an offline tracker around the command run as a subprocess.
CC_WRAPPER = """\
import subprocess, sys
from codecarbon import OfflineEmissionsTracker
country, interval, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
kw = {} if interval == "-" else {"measure_power_secs": float(interval)}
tracker = OfflineEmissionsTracker(country_iso_code=country, tracking_mode="process", log_level="error", **kw)
tracker.start()
try:
    rc = subprocess.call(cmd)
finally:
    tracker.stop()
sys.exit(rc)
"""
CC_PROBE = """\
import codecarbon
print(codecarbon.__version__)
try:
    from codecarbon.cli.monitor import run_and_monitor  # `codecarbon monitor -- CMD` (3.x)
    print("monitor")
except ImportError:
    print("wrapper")
"""


def wall(cmd: list[str], **kw) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, **kw)
    return time.perf_counter() - t


def run_tree(cmd: list[str], *, cwd: Path | None = None, env: dict | None = None, log: Path | None = None):
    """Wall time, exact CPU-s of the whole tree (wait4 of the leader: itself + every child it reaped), exit code."""
    with open(log, "wb") if log else contextlib.nullcontext(subprocess.DEVNULL) as out:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    return dt, ru.ru_utime + ru.ru_stime, p.returncode


def calibrate(script: Path, seconds: float) -> int:
    n = 2_000_000
    while True:
        t = wall([PY, str(script), str(n)])
        if t > 1.5:
            return int(n * seconds / t)
        n *= 4


def codecarbon_setup(cc_python: str | None, via: str, tmp: Path):
    """(command prefix, description) for running a command under CodeCarbon, or (None, 'skipped: ...')."""
    if not cc_python:
        return None, "skipped: no --codecarbon-python given (see docs/performance.md for the venv set-up)"
    try:
        probe = subprocess.run([cc_python, "-c", CC_PROBE], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"skipped: cannot run {cc_python}: {exc}"
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"skipped: codecarbon is not importable with {cc_python}: {last}"
    version, offers = probe.stdout.split()
    if via == "auto":
        via = offers
    if via == "monitor":
        if offers != "monitor":
            return (
                None,
                f"skipped: codecarbon {version}'s `monitor` cannot wrap a command (use --codecarbon-via wrapper)",
            )
        script = Path(cc_python).parent / "codecarbon"
        cli = [str(script)] if script.exists() else [cc_python, "-m", "codecarbon.cli.main"]
        return {
            "version": version,
            "via": "monitor",
            "prefix": cli + ["monitor", "--offline"],
        }, f"codecarbon {version}: `codecarbon monitor --offline --country-iso-code ... -- COMMAND`"
    wrapper = tmp / "cc_wrap.py"
    wrapper.write_text(CC_WRAPPER)
    return {
        "version": version,
        "via": "wrapper",
        "prefix": [cc_python, str(wrapper)],
    }, f"codecarbon {version}: OfflineEmissionsTracker(tracking_mode='process') around a subprocess"


def codecarbon_command(cc: dict, country: str, interval: int | None, cmd: list[str]) -> list[str]:
    if cc["via"] == "monitor":
        extra = ["--measure-power-secs", str(interval)] if interval else []
        return cc["prefix"] + ["--country-iso-code", country, *extra, "--", *cmd]
    return cc["prefix"] + [country, str(interval) if interval else "-", *cmd]


def codecarbon_row(csv_path: Path) -> tuple[float | None, float | None]:
    """(energy in Wh, tracked duration in s) of the last row CodeCarbon wrote to emissions.csv."""
    try:
        with open(csv_path, newline="") as f:
            row = list(csv.DictReader(f))[-1]
        return float(row["energy_consumed"]) * 1000.0, float(row["duration"])  # kWh -> Wh
    except (OSError, KeyError, IndexError, ValueError):
        return None, None


def pct(x: float) -> str:
    return f"{(x - 1) * 100:+.2f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="interleaved rounds of the overhead comparison")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the CPU-bound workload (bare)")
    ap.add_argument("--noise-seconds", type=float, default=2.0, help="length of the noise workload")
    ap.add_argument("--noise-repeats", type=int, default=5, help="counted runs of the noise workload")
    ap.add_argument("--codecarbon-python", metavar="PATH", help="interpreter of a venv with codecarbon installed")
    ap.add_argument("--codecarbon-country", default="DEU", help="ISO-3 country for CodeCarbon's offline mode")
    ap.add_argument(
        "--codecarbon-interval",
        type=int,
        metavar="S",
        help="CodeCarbon's measure_power_secs (default: CodeCarbon's own default)",
    )
    ap.add_argument("--codecarbon-via", choices=("auto", "monitor", "wrapper"), default="auto")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args()
    cg_bin = Path(PY).parent / "carbon-gate"
    cg_script = [str(cg_bin)] if cg_bin.exists() else [PY, "-m", "carbon_gate"]
    raw: dict = {}

    with tempfile.TemporaryDirectory(prefix="cg-overhead-") as tmp_s:
        tmp = Path(tmp_s)
        busy = tmp / "busy.py"
        busy.write_text(BUSY)
        raw["machine"] = _machine.facts()
        print(_machine.line(raw["machine"]))

        starts = {
            "python -c pass": [],
            "carbon-gate --version": [],
            "carbon-gate measure -- true": [],
            "true (bare)": [],
        }
        for _ in range(max(args.runs, 10)):
            starts["python -c pass"].append(wall([PY, "-c", "pass"]))
            starts["carbon-gate --version"].append(wall(cg_script + ["--version"]))
            starts["carbon-gate measure -- true"].append(wall(cg_script + ["measure", "--", "true"]))
            starts["true (bare)"].append(wall(["true"]))
        print(f"\n1-2. start-up (median of {len(starts['true (bare)'])} interleaved runs)")
        for k, v in starts.items():
            print(f"  {k:<30} {statistics.median(v) * 1000:8.1f} ms")
        floor = statistics.median(starts["python -c pass"])
        print(
            "  cold start over the interpreter floor: "
            f"{(statistics.median(starts['carbon-gate --version']) - floor) * 1000:.1f} ms"
            "   (targets: --version <= 300 ms, measure -- true <= 500 ms)"
        )
        raw["startup_s"] = {k: statistics.median(v) for k, v in starts.items()}

        cc, cc_desc = codecarbon_setup(args.codecarbon_python, args.codecarbon_via, tmp)
        cc_dir, cc_tmp = tmp / "cc", tmp / "cc-tmp"
        cc_dir.mkdir()
        cc_tmp.mkdir()
        # CodeCarbon reads CODECARBON_* variables and ./.codecarbon.config; keep both out, and give it its own
        # TMPDIR so its single-instance lock file cannot collide with another CodeCarbon on this machine.
        cc_env = {k: v for k, v in os.environ.items() if not k.startswith("CODECARBON_")}
        cc_env["TMPDIR"] = str(cc_tmp)
        if Path("~/.codecarbon.config").expanduser().exists():
            print("  note: ~/.codecarbon.config exists and is read by CodeCarbon")

        n = calibrate(busy, args.seconds)
        cpu_file = tmp / "cpu.txt"

        def variant(name: str, prefix_fn, *, cwd=None, env=None):
            def one(iterations: int) -> dict:
                cpu_file.unlink(missing_ok=True)
                log = tmp / f"{name}.log"
                w, tree_cpu, rc = run_tree(
                    prefix_fn([PY, str(busy), str(iterations), str(cpu_file)]), cwd=cwd, env=env, log=log
                )
                if rc != 0 or not cpu_file.exists():
                    tail = log.read_text(errors="replace")[-600:]
                    raise RuntimeError(f"{name} run failed (exit {rc}):\n{tail}")
                work_cpu = float(cpu_file.read_text())
                return {
                    "wall_s": w,
                    "tree_cpu_s": tree_cpu,
                    "workload_cpu_s": work_cpu,
                    "meter_cpu_s": tree_cpu - work_cpu,
                }

            return one

        cg_json = tmp / "m.json"

        def cg_prefix(cmd):
            cg_json.unlink(missing_ok=True)
            return cg_script + ["measure", "--json", str(cg_json), "--", *cmd]

        variants = {"bare": variant("bare", lambda cmd: cmd), "carbon-gate": variant("carbon-gate", cg_prefix)}
        if cc:
            variants["codecarbon"] = variant(
                "codecarbon",
                lambda cmd: codecarbon_command(cc, args.codecarbon_country, args.codecarbon_interval, cmd),
                cwd=cc_dir,
                env=cc_env,
            )

        def extras(name: str, rec: dict) -> dict:
            if name == "carbon-gate":
                s = json.loads(cg_json.read_text())["workloads"][0]["samples"][0]
                rec.update(self_overhead_cpu_s=s["overhead_cpu_s"], energy_wh=s["energy_wh"], tool_wall_s=s["wall_s"])
            elif name == "codecarbon":
                rec["energy_wh"], rec["tool_wall_s"] = codecarbon_row(cc_dir / "emissions.csv")
                (cc_dir / "emissions.csv").unlink(missing_ok=True)
            return rec

        # One short unrecorded run of each first: page cache, .pyc files, CodeCarbon's first import.
        failed: dict[str, str] = {}
        for name, fn in list(variants.items()):
            try:
                extras(name, fn(max(1, n // 50)))
            except (RuntimeError, OSError, ValueError, KeyError) as exc:
                if name == "bare":
                    raise
                failed[name] = f"failed: {exc}"
                del variants[name]

        names = list(variants)
        recs: dict[str, list[dict]] = {k: [] for k in names}
        for r in range(args.runs):  # interleaved, order rotated, so drift and order effects hit every variant alike
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                try:
                    recs[name].append(extras(name, variants[name](n)))
                except (RuntimeError, OSError, ValueError, KeyError) as exc:
                    if name == "bare":
                        raise
                    failed[name] = f"failed in round {r + 1}: {exc}"
            for name in list(failed):
                if name in variants:
                    del variants[name]
                    names.remove(name)
                    recs.pop(name, None)

        bare = recs["bare"]
        mb = statistics.median(x["wall_s"] for x in bare)
        print(
            f"\n3. meter overhead on a ~{args.seconds:g} s CPU-bound workload ({n} iterations; {args.runs} interleaved"
            f" rounds, order rotated; medians)"
        )
        print(f"  CodeCarbon: {cc_desc}")
        if cc:
            print(
                f"    country {args.codecarbon_country}, measure_power_secs "
                f"{args.codecarbon_interval or 'CodeCarbon default'}, tracking_mode process, offline"
            )
        hdr = ("", "wall s", "wall vs bare", "run vs bare", "meter CPU", "% bare wall", "energy")
        print(f"  {hdr[0]:<12} {hdr[1]:>7} {hdr[2]:>19} {hdr[3]:>19} {hdr[4]:>10} {hdr[5]:>11} {hdr[6]:>11}")
        print(f"  {'bare':<12} {mb:7.3f} {'1':>19} {'1':>19}")
        raw["overhead"] = {"iterations": n, "rounds": args.runs, "codecarbon": cc_desc, "rows": {}}
        summary: dict[str, dict] = {}
        for name in ("carbon-gate", "codecarbon"):
            if name not in recs:
                print(f"  {name:<12} {failed.get(name, cc_desc if name == 'codecarbon' else 'failed')}")
                raw["overhead"]["rows"][name] = failed.get(name, cc_desc)
                continue
            rs = recs[name]
            ratio = statistics.median(m["wall_s"] / b["wall_s"] for m, b in zip(rs, bare))
            runs_in = [m["tool_wall_s"] / b["wall_s"] for m, b in zip(rs, bare) if m.get("tool_wall_s")]
            run_ratio = statistics.median(runs_in) if runs_in else None
            mw = statistics.median(x["wall_s"] for x in rs)
            mcpu = statistics.median(x["meter_cpu_s"] for x in rs)
            es = [x["energy_wh"] for x in rs if x.get("energy_wh") is not None]
            e = f"{statistics.median(es) * 1000:.3f} mWh" if es else "n/a"
            rr = f"{run_ratio:.4f} ({pct(run_ratio)})" if run_ratio else "n/a"
            wr = f"{ratio:.4f} ({pct(ratio)})"
            print(f"  {name:<12} {mw:7.3f} {wr:>19} {rr:>19} {mcpu * 1000:7.1f} ms {mcpu / mb * 100:9.2f} % {e:>11}")
            summary[name] = {
                "wall_ratio": ratio,
                "run_ratio": run_ratio,
                "meter_cpu_s": mcpu,
                "energy_wh": statistics.median(es) if es else None,
            }
            raw["overhead"]["rows"][name] = {"summary": summary[name], "runs": rs}
        raw["overhead"]["rows"]["bare"] = {"median_wall_s": mb, "runs": bare}
        bare_meter = statistics.median(x["meter_cpu_s"] for x in bare)
        print(
            "  wall vs bare: the whole command's wall time (tool start-up and shut-down included) / the bare run "
            "of the\n"
            "    same round, median over rounds. run vs bare: the duration the tool itself recorded for the workload\n"
            "    (carbon-gate sample wall_s, CodeCarbon emissions.csv duration) / bare — start-up excluded.\n"
            "  meter CPU: CPU-s of the meter's whole process tree (wait4) minus the workload's own CPU-s "
            f"(bare control: {bare_meter * 1000:.1f} ms).\n"
            "  energy: what each tool reported, its own model on this machine — context, not a cross-check."
        )
        if "carbon-gate" in recs:
            self_cpu = statistics.median(x["self_overhead_cpu_s"] for x in recs["carbon-gate"])
            print(
                "  carbon-gate's recorded overhead_cpu_s (its process during the run, not start-up): "
                f"{self_cpu * 1000:.1f} ms"
            )
            cgs = summary["carbon-gate"]
            rr = pct(cgs["run_ratio"]) if cgs["run_ratio"] else "n/a"
            print(
                "  target <= 1 % of the workload's wall time: "
                f"carbon-gate {pct(cgs['wall_ratio'])} whole command, {rr} run"
            )
            if "codecarbon" in summary:
                ccs = summary["codecarbon"]
                crr = pct(ccs["run_ratio"]) if ccs["run_ratio"] else "n/a"
                print(
                    f"  target less than CodeCarbon: whole command {pct(cgs['wall_ratio'])} "
                    f"vs {pct(ccs['wall_ratio'])}; run {rr} vs {crr}; "
                    f"meter CPU {cgs['meter_cpu_s'] * 1000:.0f} ms vs {ccs['meter_cpu_s'] * 1000:.0f} ms"
                )

        n2 = max(1, int(n * args.noise_seconds / args.seconds))
        cfg = tmp / "carbon-gate.yml"
        cfg.write_text(
            textwrap.dedent(f"""\
            version: 1
            defaults: {{repeats: {args.noise_repeats}, warmup: 1, timeout: 5m}}
            workloads:
              - name: busy
                command: [{json.dumps(PY)}, busy.py, "{n2}"]
            """)
        )
        res = tmp / "r.json"
        proc = subprocess.run(
            cg_script + ["run", "-q", "-c", str(cfg), "--results", str(res), "--report", ""],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not res.exists():
            print(f"\n4. noise: `carbon-gate run` failed (exit {proc.returncode}):\n{proc.stderr[-800:]}")
        else:
            doc = json.loads(res.read_text())
            w = doc["workloads"][0]
            s = w["summary"]
            counted = [x for x in w["samples"] if not x["warmup"]]
            energies = [x["energy_wh"] for x in counted]
            methods = ", ".join(f"{e['component']} {e['method']}" for e in counted[0]["energy"])
            print(
                f"\n4. noise: a ~{args.noise_seconds:g} s CPU-bound workload, `carbon-gate run` with warm-up 1 + "
                f"{s['n']} counted runs (median wall {s['median_wall_s']:.3f} s)"
            )
            print(
                f"  total energy median {s['median_wh'] * 1000:.4f} mWh, "
                f"min {s['min_wh'] * 1000:.4f}, max {s['max_wh'] * 1000:.4f}"
            )
            print(f"  relative spread (max - min) / median {s['spread'] * 100:.2f} %, CV {s['cv'] * 100:.2f} %")
            print(f"  per-run total energy (mWh): {', '.join(f'{e * 1000:.4f}' for e in energies)}")
            walls = ", ".join(f"{x['wall_s']:.3f}" for x in counted)
            print(f"  per-run wall (s): {walls}")
            print(f"  components: {methods}")
            raw["noise"] = {"summary": s, "energies_wh": energies, "methods": methods}
        raw["machine"]["load_end"] = _machine.load_now()
        print(f"\nload average (1 min) at the end: {raw['machine']['load_end']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
