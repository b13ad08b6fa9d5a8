"""Choose, fit and validate the CPU power curve carbon-gate models with when there is no counter.

Inputs (both in scripts/data/, with their sources and licences in their headers):
- specpower-sample.csv: published SPECpower_ssj2008 results (wall power at 0, 10 .. 100 % load). The
  candidate curves are fitted and compared on these only, leave-one-family-out (every machine of one
  CPU micro-architecture held out in turn, the curve fitted on the other families).
- codecarbon-cpu-load-profiling.csv: CodeCarbon's measured RAPL package power at load steps on five
  CPUs. The independent check: never fitted on, only scored, for the validation table.

Output: carbon_gate/data/cpu-power-model.json (the curve as fractions of TDP, the error band, sources),
and the markdown tables for docs/methodology.md on stdout. Run: python scripts/fit_cpu_power.py
(--check: only compare with the packaged file).
"""

from __future__ import annotations

import csv
import itertools
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "scripts" / "data"
OUT = ROOT / "carbon_gate" / "data" / "cpu-power-model.json"
LOADS = tuple(range(0, 101, 10))
# Package C-states and per-core power gating arrived with Sandy Bridge (2011/12) and AMD's Zen: older
# servers idle at 60-90 % of full power and say nothing about the CPUs CI runs on today.
FIRST_YEAR = 2012
TEADS = ((0.0, 0.12), (0.10, 0.32), (0.50, 0.75), (1.00, 1.02))


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def interp(points, u: float) -> float:
    """Linear interpolation on sorted (u, value) points, clamped at the ends."""
    u = min(max(u, points[0][0]), points[-1][0])
    for (u0, v0), (u1, v1) in itertools.pairwise(points):
        if u <= u1:
            return v0 + (v1 - v0) * (u - u0) / (u1 - u0)
    return points[-1][1]


def spec_machines() -> list[dict]:
    """Each SPECpower result as {family, cpu, r}: r = power at each load / power at 100 %."""
    out = []
    for row in _rows(DATA / "specpower-sample.csv"):
        if int(row["hw_year"]) < FIRST_YEAR:
            continue
        watts = [float(row["idle"])] + [float(row[f"p{p}"]) for p in range(10, 101, 10)]
        out.append(
            {"family": row["architecture"], "cpu": row["cpu"], "row": row["row"], "r": [w / watts[-1] for w in watts]}
        )
    return out


# --- candidate curves: each fit(machines) -> curve as [(u, fraction of full power)] at LOADS -------------


def fit_teads(_machines) -> list[tuple[float, float]]:
    """Not fitted: the Teads curve, normalised to 1 at full load for the shape comparison."""
    return [(p / 100, interp(TEADS, p / 100) / TEADS[-1][1]) for p in LOADS]


def _family_medians(machines) -> dict[str, list[float]]:
    fams: dict[str, list[list[float]]] = {}
    for m in machines:
        fams.setdefault(m["family"], []).append(m["r"])
    return {f: [statistics.median(col) for col in zip(*rs)] for f, rs in fams.items()}


def fit_median(machines) -> list[tuple[float, float]]:
    """The median over families of each family's median curve (so no family outweighs the rest)."""
    fam = _family_medians(machines).values()
    return [(p / 100, statistics.median(col)) for p, col in zip(LOADS, zip(*fam))]


def fit_power_law(machines) -> list[tuple[float, float]]:
    """r(u) = a + (1 - a) u^k, least squares over the family medians, by grid search."""
    fam = list(_family_medians(machines).values())
    best = None
    for ai in range(61):
        a = ai / 200
        for ki in range(30, 301, 2):
            k = ki / 100
            sse = sum((a + (1 - a) * (p / 100) ** k - r[i]) ** 2 for r in fam for i, p in enumerate(LOADS))
            if best is None or sse < best[0]:
                best = (sse, a, k)
    _, a, k = best
    return [(p / 100, a + (1 - a) * (p / 100) ** k) for p in LOADS]


def fit_linear(machines) -> list[tuple[float, float]]:
    """CCF's form: a straight line from the median idle fraction to full power."""
    a = statistics.median(r[0] for r in _family_medians(machines).values())
    return [(p / 100, a + (1 - a) * p / 100) for p in LOADS]


CANDIDATES = {"teads": fit_teads, "median-curve": fit_median, "power-law": fit_power_law, "linear": fit_linear}


def mape(curve, r: list[float]) -> float:
    return statistics.fmean(abs(interp(curve, p / 100) - ri) / ri for p, ri in zip(LOADS, r))


def leave_one_family_out(machines) -> dict[str, dict[str, float]]:
    """Per candidate, per held-out family: mean over its machines of the curve's MAPE."""
    families = sorted({m["family"] for m in machines})
    out: dict[str, dict[str, float]] = {}
    for name, fit in CANDIDATES.items():
        out[name] = {}
        for fam in families:
            curve = fit([m for m in machines if m["family"] != fam])
            out[name][fam] = statistics.fmean(mape(curve, m["r"]) for m in machines if m["family"] == fam)
    return out


def independent_check(curve) -> list[dict]:
    """Score TDP × sockets × curve (new) and TDP × sockets × Teads (old) on CodeCarbon's RAPL profiles."""
    profiles: dict[tuple[str, str], list[dict]] = {}
    for row in _rows(DATA / "codecarbon-cpu-load-profiling.csv"):
        profiles.setdefault((row["folder"], row["load_type"]), []).append(row)
    out = []
    for (folder, load_type), rows in profiles.items():
        tdp = float(rows[0]["tdp_w"]) * int(rows[0]["sockets"])
        meas = [float(r["rapl_power"]) for r in rows]
        loads = [float(r["cpu_load"]) / 100 for r in rows]
        preds = {
            "teads": [tdp * interp(TEADS, u) for u in loads],
            "new": [tdp * interp(curve, u) for u in loads],
            "codecarbon": [float(r["estimated_power"]) for r in rows],
        }
        scores = {}
        for k, pred in preds.items():
            wape = sum(abs(p - m) for p, m in zip(pred, meas)) / sum(meas)
            # Readings under 1 W are CodeCarbon's first (idle) step, far below any real package idle:
            # a relative error there says nothing, so the per-point mean leaves them out.
            kept = [(p, m) for p, m in zip(pred, meas) if m >= 1.0]
            scores[k] = (wape, statistics.fmean(abs(p - m) / m for p, m in kept))
        out.append({"machine": f"{rows[0]['cpu_name']} ({folder}, {load_type})", "tdp": tdp, "scores": scores})
    return out


def main() -> int:
    machines = spec_machines()
    lofo = leave_one_family_out(machines)
    mean_err = {name: statistics.fmean(per.values()) for name, per in lofo.items()}
    fitted = [n for n in mean_err if n != "teads"]
    chosen = min(fitted, key=mean_err.get)
    curve = CANDIDATES[chosen](machines)
    check = independent_check(curve)
    check_new = [c["scores"]["new"][0] for c in check]
    # The band users see: the larger of the held-out-family error (wall-power shape) and the independent
    # check's median (package power), rounded up to 5 points. It is measured, never tuned.
    worst = max(mean_err[chosen], statistics.median(check_new))
    band = int(-(-worst * 100 // 5) * 5)

    families = sorted({m["family"] for m in machines})
    print(
        f"## Leave-one-family-out on SPECpower ({len(machines)} results, {len(families)} families, "
        f"hardware from {FIRST_YEAR})\n"
    )
    print("| held-out family | results | " + " | ".join(CANDIDATES) + " |")
    print("|---|---|" + "---|" * len(CANDIDATES))
    for fam in families:
        n = sum(m["family"] == fam for m in machines)
        print(f"| {fam} | {n} | " + " | ".join(f"{lofo[c][fam] * 100:.1f} %" for c in CANDIDATES) + " |")
    print("| **mean** | | " + " | ".join(f"**{mean_err[c] * 100:.1f} %**" for c in CANDIDATES) + " |")
    print(f"\nchosen: {chosen}; curve (fraction of TDP): " + ", ".join(f"{int(u * 100)} %: {v:.3f}" for u, v in curve))
    print("\n## Independent check: CodeCarbon's measured RAPL package power\n")
    print("| machine | TDP × sockets | measured | old model (TDP × Teads) | new model | CodeCarbon's estimate |")
    print("|---|---|---|---|---|---|")
    for c in check:
        s = c["scores"]
        print(
            f"| {c['machine']} | {c['tdp']:g} W | RAPL package | "
            + " | ".join(f"{s[k][0] * 100:.0f} % ({s[k][1] * 100:.0f} %)" for k in ("teads", "new", "codecarbon"))
            + " |"
        )
    agg = {
        k: (statistics.fmean(c["scores"][k][0] for c in check), statistics.median(c["scores"][k][0] for c in check))
        for k in ("teads", "new", "codecarbon")
    }
    print(
        "| **mean (median)** | | | "
        + " | ".join(f"**{agg[k][0] * 100:.0f} % ({agg[k][1] * 100:.0f} %)**" for k in ("teads", "new", "codecarbon"))
        + " |"
    )
    better = sum(c["scores"]["new"][0] < c["scores"]["teads"][0] for c in check)
    print(f"\nnew better than Teads on {better} of {len(check)} profiles; band ±{band} %")

    model = {
        "name": f"specpower-{chosen}",
        "curve": [[round(u * 100), round(v, 4)] for u, v in curve],
        "error_band_pct": band,
        "validation": {
            "lofo_mean_mape_pct": round(mean_err[chosen] * 100, 1),
            "lofo_teads_mape_pct": round(mean_err["teads"] * 100, 1),
            "check_mean_wape_pct": round(statistics.fmean(check_new) * 100, 1),
            "check_median_wape_pct": round(statistics.median(check_new) * 100, 1),
            "check_teads_mean_wape_pct": round(agg["teads"][0] * 100, 1),
        },
        "source": (
            "SPECpower_ssj2008 published results (45 transcribed, hardware from 2012: "
            f"{len(machines)}), {chosen} chosen by leave-one-family-out error; scripts/fit_cpu_power.py"
        ),
    }
    text = json.dumps(model, indent=1) + "\n"
    if "--check" in sys.argv[1:]:  # CI: the packaged file must be what this script derives
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is not what scripts/fit_cpu_power.py derives: run it and commit the result", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
