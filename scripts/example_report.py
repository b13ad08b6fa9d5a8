"""Regenerate docs/example-report.md: a real, unedited report for the bundled quickstart example.

    python scripts/example_report.py [-o docs/example-report.md]

What it does, in a temp dir: copies examples/quickstart into a new git repository, records the stored
baseline on the first commit (`carbon-gate baseline update`, three times, so the trend chart has
points), then makes a "pull request" commit that also sieves the lower half of the range (about half as
much work again) and runs the gate in paired mode against the first commit (`carbon-gate run --mode
paired --base HEAD~1`). The report that run writes is pasted below a short preamble naming the machine
it came from. Nothing is edited.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CG = [sys.executable, "-m", "carbon_gate"]


def sh(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "example",
        "GIT_AUTHOR_EMAIL": "example@example.invalid",
        "GIT_COMMITTER_NAME": "example",
        "GIT_COMMITTER_EMAIL": "example@example.invalid",
        # the example says `python`: make it this interpreter, as an activated venv would
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "example-report.md")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cg-example-") as tmp_s:
        repo = Path(tmp_s) / "quickstart"
        shutil.copytree(ROOT / "examples" / "quickstart", repo)
        sh(["git", "init", "-q", "-b", "main"], repo)
        sh(["git", "add", "-A"], repo)
        sh(["git", "commit", "-qm", "quickstart"], repo)
        for _ in range(3):
            sh([*CG, "baseline", "update", "-q"], repo)
        sh(["git", "add", "-A"], repo)
        sh(["git", "commit", "-qm", "record the baseline"], repo)
        work = repo / "work.py"
        before = "    print(primes_below(n))"
        assert before in work.read_text(), "examples/quickstart/work.py changed: update this script"
        work.write_text(work.read_text().replace(before, "    print(primes_below(n), primes_below(n // 2))"))
        sh(["git", "commit", "-qam", "also count the primes below n/2"], repo)
        run = sh([*CG, "run", "-q", "--mode", "paired", "--base", "HEAD~1", "--seed", str(args.seed)], repo)
        report = (repo / "carbon-gate-report.md").read_text()
        doc = json.loads((repo / "carbon-gate-results.json").read_text())
    m, w = doc["machine"]["fingerprint"], doc["workloads"][0]
    methods = ", ".join(f"{k} energy `{v}`" for k, v in (m.get("methods") or {}).items() if v != "none")
    preamble = f"""# Example report

This is a real, unedited report for the bundled example, produced on {dt.date.today().isoformat()} with
carbon-gate {doc["tool_version"]} by `python scripts/example_report.py`: a copy of `examples/quickstart` made into
a git repository, its stored baseline recorded three times (`carbon-gate baseline update`, for the trend
chart), then a "pull request" commit that also counts the primes below n/2 (half as much work again), gated with
`carbon-gate run --mode paired --base HEAD~1` (base and head interleaved in random order, round by round, on
the same machine). The command exited {run.returncode}; the verdict was `{w["verdict"]}`. Below the reasons, the
"Base vs head" chart shows the paired rounds behind that verdict (base as bars, head as a line), and the trend
chart the three recorded medians (one commit, so its label repeats with a count) and this run.

The machine was a shared Linux VM ({m.get("cpu_model")}, {m.get("logical_cpus")} vCPUs, {m.get("ram_gb")} GB RAM)
with {methods}: see [methodology.md](methodology.md) for what each method means and
[reports.md](reports.md) for each part of the report. This is what a pull request comment looks like.

---

"""
    args.output.write_text(preamble + report)
    print(f"wrote {args.output} (exit {run.returncode}, verdict {w['verdict']})")


if __name__ == "__main__":
    main()
