# %% [markdown]
# # A workload's energy history, in a notebook
#
# Notebook-style (`# %%` cells: open it in Jupyter with jupytext, or in VS Code, or run it as a script).
# It reads results files (one per run, e.g. the `carbon-gate-results` artifacts of your CI runs) and the
# committed baseline file, with `carbon_gate.to_dataframe`, and plots one workload's energy per run
# over time with the baseline's recorded medians.
#
#     pip install -r requirements.txt
#     python plot_history.py RESULTS.json [MORE.json ...] [--baseline .carbon-gate/baseline.json]
#                            [--workload NAME] [-o history.png]

# %%
import argparse
import sys
from pathlib import Path

import carbon_gate

ap = argparse.ArgumentParser(description="Plot a workload's energy history from carbon-gate results files.")
ap.add_argument("results", nargs="+", type=Path, help="carbon-gate results files (one per run)")
ap.add_argument("--baseline", type=Path, help="the committed baseline file, for its recorded medians")
ap.add_argument("--workload", help="which workload (default: the first one)")
ap.add_argument("-o", "--output", type=Path, default=Path("history.png"), help="the chart (PNG)")
args = ap.parse_args(sys.argv[1:] if "ipykernel" not in sys.modules else [])

# %% One row per sample: workload, verdict, side (head/base), commit, round, energy per component, metrics.
runs = carbon_gate.to_dataframe(args.results)
workload = args.workload or runs["workload"].iloc[0]
counted = runs[(runs["workload"] == workload) & (runs["side"] == "head") & ~runs["warmup"] & runs["error"].isna()]
if counted.empty:
    sys.exit(f"no counted runs of {workload!r} in the results given")
per_run = (
    counted.groupby(["created_at", "commit"], dropna=False)
    .agg(median_wh=("energy_wh", "median"), runs=("energy_wh", "size"), verdict=("verdict", "first"))
    .reset_index()
    .sort_values("created_at")
)
print(f"{workload}: {len(per_run)} runs")
print(per_run.to_string(index=False))

# %% The baseline file's history: one row per recorded median.
history = None
if args.baseline:
    history = carbon_gate.to_dataframe(args.baseline)
    history = history[history["workload"] == workload].sort_values("date")
    print(f"baseline history: {len(history)} points")

# %% The chart.
try:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("matplotlib is not installed (pip install -r requirements.txt): no chart; the table above is the data")
if plt is not None:
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(counted["created_at"], counted["energy_wh"] * 1000, "o", alpha=0.3, label="each run")
    ax.plot(per_run["created_at"], per_run["median_wh"] * 1000, "-o", label="median per CI run")
    if history is not None and not history.empty:
        ax.plot(history["date"], history["median_wh"] * 1000, "s--", label="baseline file")
    ax.set(title=f"{workload}: energy per run", ylabel="mWh", ylim=(0, None))
    ax.legend()
    fig.autofmt_xdate()
    fig.savefig(args.output, dpi=120, bbox_inches="tight")
    print(f"wrote {args.output}")
