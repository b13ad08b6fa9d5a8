"""Re-measure the reliability table of issue 14 (docs/reliability.md) on this machine.

    python benchmarks/reliability.py [--seed 14] [--mutants 440] [--signals 60] [--quick] [--json FILE]

Run it with the interpreter that has carbon-gate installed. Five areas, each tried as a hostile or unlucky
user would, every trial classified:

  as documented  the documented exit code (0/1/2/3, 130/143 for a signal) and, where a run started,
                 valid results (the shipped schema);
  traceback      a Python traceback or carbon-gate's "internal error" line;
  data lost      a run that measured something but whose results are missing, invalid, or stale (an earlier
                 run's file, or one not marked `interrupted` after a signal);
  left running   a workload process alive after carbon-gate exited, a worktree left registered, or a
                 trial that hung (no exit within its time limit).

Areas: config mutants (a valid config with hostile values or bytes spliced in, seeded; loaded in a child
process with a time and memory limit), workload faults (crashes, signals, timeouts, floods of output,
escapes from the process group, a workload that deletes the output directory), signals to `run` (SIGINT,
SIGTERM, a second SIGINT during the grace period, SIGKILL, at seeded random moments of a real paired run),
corrupt results and baseline files (each field dropped or retyped, read by report/compare/baseline), and
git edge cases (shallow clones, submodules, a dirty tree, bad --base, failing setup).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

# The test suite's process probes (carbon-gate's handlers installed; a workload's processes by a token).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_robustness import handlers_installed, processes_with

PY = sys.executable
GIT = [
    "git",
    "-c",
    "user.name=bench",
    "-c",
    "user.email=bench@example.invalid",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "protocol.file.allow=always",
]
HEADER = (
    'version: 1\ngrid: {intensity: 400 g/kWh, source: bench}\nmachine: {rapl: "off", gpu: "off", embodied: "off"}\n'
)
NOTES: list[str] = []
COLUMNS = ("as documented", "traceback", "data lost", "left running")
CI_VARS = (
    "GITHUB_BASE_REF",
    "GITHUB_HEAD_REF",
    "GITHUB_EVENT_NAME",
    "GITHUB_EVENT_PATH",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_OUTPUT",
    "CARBON_GATE_DEBUG",
)


def env(tmp: Path) -> dict[str, str]:
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    return {
        **{k: v for k, v in os.environ.items() if k not in CI_VARS},
        "TMPDIR": str(tmp / "tmp"),
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "protocol.file.allow",
        "GIT_CONFIG_VALUE_0": "always",
    }


def cg(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int | None, str]:
    try:
        r = subprocess.run(
            [PY, "-m", "carbon_gate", *args], cwd=cwd, env=env(cwd), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, "hung"
    return r.returncode, r.stdout + r.stderr


def traced(output: str) -> bool:
    return "Traceback" in output or "internal error" in output


def valid(path: Path) -> dict | None:
    from carbon_gate.results import schema_problem

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if schema_problem(doc) is None else None


def alive(token: str) -> bool:
    return bool(processes_with(token))


def git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def repo_with(path: Path, files: dict[str, str], second: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    git(path, "checkout", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "base")
    for name, text in (second or {"README": "x\n"}).items():
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "head")
    return path


def worktrees_left(repo: Path) -> bool:
    """More than the main worktree registered, or a registration git cannot even list (counted as left)."""
    r = subprocess.run([*GIT, "worktree", "list", "--porcelain"], cwd=repo, capture_output=True, text=True)
    return r.returncode != 0 or r.stdout.count("worktree ") > 1


# ---------------------------------------------------------------------------------------------- areas

_LOAD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from carbon_gate import config
from carbon_gate.errors import CarbonGateError
try:
    config.load(sys.argv[1])
except CarbonGateError as exc:
    print(str(exc).splitlines()[0]); sys.exit(exc.exit_code)
"""


def config_mutants(n: int, rng: random.Random, tmp: Path) -> Counter:
    """A valid config with hostile values or bytes spliced in, loaded in a child (1 GiB, 20 s)."""
    hostile = [
        0,
        -1,
        10**400,
        1e-320,
        1e308,
        float("nan"),
        True,
        None,
        "",
        "1e-320 Wh",
        "1e308 kg",
        "a\x00b",
        "a=b",
        "\ud800",
        [],
        {},
        [None],
        "x" * 5000,
        "/nonexistent",
        "no-such-runner",
        2,
        "20m",
        "5%",
        "UK",
    ]
    paths = [
        ("version",),
        ("grid", "intensity"),
        ("grid", "pue"),
        ("machine", "profile"),
        ("defaults", "timeout"),
        ("defaults", "repeats"),
        ("baseline", "file"),
        ("gate", "confidence"),
        (0, "name"),
        (0, "command"),
        (0, "cwd"),
        (0, "env"),
        (0, "unit", "count"),
        (0, "budget", "energy"),
        (1, "estimate", "hours"),
        (1, "estimate", "params"),
        (1, "estimate", "count"),
        (0, "extrapolate", "to"),
    ]
    splices = ["\x00", "\x01", "&a ", "*a", "[", "{", "'", '"', "\n  ", "!!int ", "\xff", "? ", "\ud800"]
    bombs = [
        "version: 1\na: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)),
        "version: 1\nworkloads: " + "[" * 1000 + "]" * 1000 + "\n",
        "",
        "# only a comment\n",
    ]
    out: Counter = Counter()
    for i in range(n):
        doc = {
            "version": 1,
            "grid": {"intensity": "400 g/kWh", "pue": 1.2},
            "machine": {"rapl": "off"},
            "defaults": {"repeats": 3},
            "baseline": {"file": "b.json"},
            "gate": {"confidence": 0.95},
            "workloads": [
                {
                    "name": "w",
                    "command": "true",
                    "unit": {"name": "u", "count": 2},
                    "budget": {"energy": "1 Wh"},
                    "extrapolate": {"to": 10},
                },
                {"name": "e", "estimate": {"accelerator": "H100-SXM", "count": 8, "hours": 2}},
            ],
        }
        if i % 20 == 0:
            text = bombs[(i // 20) % len(bombs)]
        else:
            for _ in range(rng.randint(1, 3)):
                where = rng.choice(paths)
                node = doc["workloads"][where[0]] if isinstance(where[0], int) else doc
                keys = where[1:] if isinstance(where[0], int) else where
                for key in keys[:-1]:
                    if not isinstance(node.get(key), dict):
                        node[key] = {}
                    node = node[key]
                node[keys[-1]] = rng.choice(hostile)
            try:
                text = yaml.safe_dump(doc, allow_unicode=True, width=10_000)
            except (yaml.YAMLError, ValueError, OverflowError):
                text = json.dumps(doc, default=str)
            if rng.random() < 0.4:
                at = rng.randrange(len(text) + 1)
                text = text[:at] + rng.choice(splices) + text[at:]
        path = tmp / f"m{i}.yml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            r = subprocess.run([PY, "-c", _LOAD, str(path)], capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            out["left running"] += 1  # a hang
            continue
        if traced(r.stderr) or r.returncode not in (0, 2):
            out["traceback"] += 1
        elif r.returncode == 2 and not r.stdout.startswith(f"{path}:"):
            out["traceback"] += 1  # not a traceback, but not located at file:line either: counted as a failure
        else:
            out["as documented"] += 1
    return out


FAULTS = {
    "exit 3": "exit 3",
    "SIGSEGV": "kill -SEGV $$",
    "timeout": "sleep 30",
    "no such command": "no-such-command-xyz",
    "200 MB output": f"{PY} -c \"import sys; sys.stdout.write('x' * 200_000_000)\"",
    "invalid UTF-8 stderr": "printf '\\377\\376 broken\\n' >&2; exit 1",
    "setsid escape": "setsid sleep 31.{tok} & sleep 0.2",
    "setpgrp escape": f"{PY} -c 'import os, time; os.setpgrp(); time.sleep(31.{{tok}})' & sleep 0.3",
    "double fork": "( ( sleep 31.{tok} & ) & ) ; sleep 0.2",
    "background child": "sleep 31.{tok} & true",
    "ignores SIGTERM + timeout": "trap '' TERM; sleep 31.{tok}",
    "deletes the output directory": "rm -rf out && touch out",
    "deletes its cwd": "rm -rf ../work",
    "fork bomb (bounded)": "for i in 1 2 3 4 5 6 7 8; do sleep 31.{tok} & done; true",
}


def workload_faults(rng: random.Random, tmp: Path) -> Counter:
    out: Counter = Counter()
    for i, (_name, cmd) in enumerate(FAULTS.items()):
        d = tmp / f"f{i}"
        (d / "work").mkdir(parents=True)
        tok = f"{os.getpid() % 100:02d}{i:02d}"
        command = cmd.format(tok=tok)
        (d / "carbon-gate.yml").write_text(
            HEADER + "defaults: {repeats: 1, warmup: 0, timeout: 2s}\nworkloads:\n"
            f"  - name: f\n    command: {json.dumps(command)}\n    cwd: work\n"
        )
        rc, output = cg(["run", "--mode", "none", "-q", "--results", "out/results.json", "--report", ""], d)
        time.sleep(0.3)
        rescued = output.split("the results were saved to ")[1].split(" instead")[0] if "saved to " in output else None
        doc = valid(Path(rescued)) if rescued else valid(d / "out" / "results.json")
        if rc is None or alive(f"31.{tok}"):
            out["left running"] += 1
        elif traced(output):
            out["traceback"] += 1
        elif doc is None or not doc["workloads"]:
            out["data lost"] += 1
        else:
            out["as documented"] += 1
    return out


def _signal_trial(d: Path, kind: str, delay: float, started: bool, tok: str) -> str:
    cfg = HEADER + textwrap.dedent(f"""\
        defaults: {{repeats: 2, warmup: 0}}
        gate: {{family: none}}
        baseline: {{setup: "sleep 0.05"}}
        workloads:
          - name: nap
            command: "trap '' TERM; sleep 0.03; sleep 0.0{tok}"
        """)
    repo = repo_with(d, {"carbon-gate.yml": cfg})
    (repo / "out.json").write_text('{"stale": true}')
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "carbon_gate",
            "run",
            "--mode",
            "paired",
            "--base",
            "HEAD~1",
            "--results",
            "out.json",
            "--report",
            "out.md",
        ],
        cwd=repo,
        env=env(d.parent),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    # From the moment carbon-gate's handlers are in (SIGHUP caught): a signal before that lands in the
    # interpreter's own start-up, which no Python program can handle (see docs/reliability.md).
    while time.monotonic() < deadline and proc.poll() is None and not handlers_installed(proc.pid):
        time.sleep(0.005)
    while started and time.monotonic() < deadline and proc.poll() is None:
        if (repo / "out.json").read_text() != '{"stale": true}':
            break
        time.sleep(0.01)
    time.sleep(delay)
    killed = proc.poll() is None
    if killed:
        if kind == "SIGKILL":
            proc.kill()
        else:
            proc.send_signal(signal.SIGINT if kind in ("SIGINT", "double") else signal.SIGTERM)
            if kind == "double":
                time.sleep(0.2)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "left running"
    time.sleep(0.3)
    if kind == "SIGKILL":
        cg(["run", "--mode", "paired", "--base", "HEAD~1", "-q", "--report", "", "--results", "next.json"], repo)
    if alive(f"0.0{tok}") or worktrees_left(repo) or list((d.parent / "tmp").glob("carbon-gate-base-*")):
        return "left running"
    if traced(err):
        return "traceback"
    doc = valid(repo / "out.json")
    rc = proc.returncode
    if doc is None:
        # Stale or missing: only acceptable when nothing had started (the signal came during start-up).
        if kind == "SIGKILL" and killed:  # the placeholder comes before any workload: nothing had run
            return "killed before the placeholder"
        return "as documented" if rc in (130, 143) and "nap:" not in err and "setup" not in err else "data lost"
    if kind == "SIGKILL" and killed:  # the placeholder, or complete results if it came after the last write
        return "as documented"
    if rc in (130, 143):
        return "as documented" if doc["interrupted"] else "data lost"
    return "as documented" if rc in (0, 1) and not doc["interrupted"] else "data lost"


def signals(n: int, rng: random.Random, tmp: Path) -> Counter:
    kinds = ("SIGINT", "SIGTERM", "double", "SIGKILL")
    trials = [
        (
            tmp / f"s{i}" / "repo",
            kinds[i % 4],
            rng.uniform(0, 0.4) if i % 5 == 0 else rng.uniform(0, 2.0),
            i % 5 != 0,
            f"{os.getpid() % 100:02d}{i:03d}",
        )
        for i in range(n)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        out = Counter(pool.map(lambda t: _signal_trial(*t), trials))
    # Shown apart: SIGKILL before the placeholder leaves an earlier run's file (nothing had run yet).
    early = out.pop("killed before the placeholder", 0)
    out["as documented"] += early
    NOTES.append(
        f"signals: {early} SIGKILL(s) landed before the placeholder was written (nothing had run; an "
        "earlier results file stays as it was)"
    )
    return out


def corrupt_files(tmp: Path) -> Counter:
    d = tmp / "corrupt"
    d.mkdir()
    (d / "carbon-gate.yml").write_text(
        HEADER + "defaults: {repeats: 2, warmup: 0}\nbaseline: {file: b.json}\n"
        "workloads:\n  - {name: a, command: 'true'}\n"
    )
    cg(["run", "--mode", "none", "-q", "--report", ""], d)
    doc = json.loads((d / "carbon-gate-results.json").read_text())
    variants = []
    for parent in ((), ("workloads", 0), ("workloads", 0, "samples", 0), ("machine",), ("grid",)):
        node = doc
        for p in parent:
            node = node[p]
        for key in list(node):
            for value in ("<drop>", None, "x", -5, [], {}, float("nan")):
                v = json.loads(json.dumps(doc))
                target = v
                for p in parent:
                    target = target[p]
                if value == "<drop>":
                    del target[key]
                else:
                    target[key] = value
                variants.append(v)
    out: Counter = Counter()
    from click.testing import CliRunner

    from carbon_gate.cli import main

    runner = CliRunner()
    commands = (
        ["report", "r.json"],
        ["compare", "r.json", "--report", ""],
        ["report", "r.json", "--format", "csv"],
        ["baseline", "update", "--from", "r.json"],
    )
    os.chdir(d)
    for i, v in enumerate(variants):
        Path("r.json").write_text(json.dumps(v))
        r = runner.invoke(main, commands[i % len(commands)])
        ok = r.exception is None or isinstance(r.exception, SystemExit)
        out["as documented" if ok and r.exit_code in (0, 1, 2, 3) and not traced(r.output) else "traceback"] += 1
    for entry in (
        {"history": 5},
        {"samples_wh": ["1"]},
        {"samples_wh": [None]},
        {"fingerprint": "x"},
        "x",
        5,
        {"samples_wh": "NaN"},
        {"history": [5]},
        {"commit": 5},
    ):
        Path("b.json").write_text(json.dumps({"schema": "carbon-gate/baseline@1", "workloads": {"a": entry}}))
        r = runner.invoke(main, ["run", "--mode", "stored", "-q", "--report", ""])
        out["as documented" if r.exit_code == 2 and not traced(r.output) else "traceback"] += 1
    return out


def git_cases(rng: random.Random, tmp: Path, signal_trials: int) -> Counter:
    out: Counter = Counter()
    base = (
        HEADER
        + "defaults: {repeats: 2, warmup: 0}\ngate: {family: none}\n"
        + "workloads:\n  - {name: a, command: 'cat lib/d 2>/dev/null; true'}\n"
    )

    def record(ok: bool, lost: bool = False, left: bool = False, trace: bool = False) -> None:
        out[
            "left running"
            if left
            else "traceback"
            if trace
            else "data lost"
            if lost
            else "as documented"
            if ok
            else "data lost"
        ] += 1

    # failing setup, dirty tree, --base "", outside a repo, submodule, shallow clone
    r = repo_with(tmp / "g-setup", {"carbon-gate.yml": base + "baseline: {setup: 'exit 4'}\n"})
    rc, o = cg(["run", "--mode", "paired", "--base", "HEAD~1", "-q"], r)
    doc = valid(r / "carbon-gate-results.json")
    record(rc == 3 and doc is not None and doc["verdict"] == "error", lost=doc is None, trace=traced(o))
    r = repo_with(tmp / "g-dirty", {"carbon-gate.yml": base})
    (r / "README").write_text("dirty")
    rc, o = cg(["run", "--mode", "paired", "--base", "HEAD~1", "-q"], r)
    doc = valid(r / "carbon-gate-results.json")
    record(doc is not None and doc["git"].get("dirty") is True, trace=traced(o))
    rc, o = cg(["run", "--base", ""], r)
    record(rc == 2, trace=traced(o))
    outside = tmp / "g-outside"
    outside.mkdir()
    (outside / "carbon-gate.yml").write_text(base)
    rc, o = cg(["run", "--base", "main"], outside)
    record(rc == 2, trace=traced(o))
    sub = repo_with(tmp / "g-subsrc", {"d": "payload"})
    r = repo_with(tmp / "g-sub", {"carbon-gate.yml": base.replace("cat lib/d 2>/dev/null; true", "cat lib/d")})
    git(r, "submodule", "add", "-q", str(sub), "lib")
    git(r, "commit", "-q", "-m", "sub")
    (r / "x").write_text("1")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "x")
    rc, o = cg(["run", "--mode", "paired", "--base", "HEAD~1", "-q"], r)
    doc = valid(r / "carbon-gate-results.json")
    record(
        doc is not None and doc["workloads"][0]["baseline"]["error"] is None, trace=traced(o), left=worktrees_left(r)
    )
    origin = repo_with(tmp / "g-origin", {"carbon-gate.yml": base})
    fork = git(origin, "rev-parse", "HEAD~1")
    git(origin, "checkout", "-q", "-b", "feature", "HEAD~1")
    (origin / "f").write_text("f")
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "f")
    git(origin, "checkout", "-q", "main")
    for depth in ("1", "0"):
        clone = tmp / f"g-clone{depth}"
        subprocess.run(
            [
                *GIT,
                "clone",
                "-q",
                *(["--depth", depth] if depth != "0" else []),
                "--branch",
                "feature",
                f"file://{origin}",
                str(clone),
            ],
            check=True,
            capture_output=True,
        )
        if depth != "0":
            git(clone, "fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main")
        rc, o = cg(["run", "--mode", "paired", "--base", "origin/main", "-q", "--report", ""], clone)
        doc = valid(clone / "carbon-gate-results.json")
        record(doc is not None and doc["git"]["base"] == fork, trace=traced(o))
    # signals during `git worktree add` and its removal: the run is short, the signal lands early
    for i in range(signal_trials):
        d = tmp / f"g-sig{i}"
        repo = repo_with(d / "repo", {"carbon-gate.yml": base})
        proc = subprocess.Popen(
            [PY, "-m", "carbon_gate", "run", "--mode", "paired", "--base", "HEAD~1", "-q", "--report", ""],
            cwd=repo,
            env=env(d),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not (repo / "carbon-gate-results.json").exists():
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.15))
        if proc.poll() is None:
            proc.send_signal(rng.choice((signal.SIGINT, signal.SIGTERM)))
        _, err = proc.communicate(timeout=60)
        time.sleep(0.2)
        record(
            True,
            left=worktrees_left(repo) or bool(list((d / "tmp").glob("carbon-gate-base-*"))),
            trace=traced(err),
            lost=valid(repo / "carbon-gate-results.json") is None,
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--mutants", type=int, default=440)
    ap.add_argument("--signals", type=int, default=60)
    ap.add_argument("--git-signals", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="40 mutants, 12 signal and 4 git-signal trials")
    ap.add_argument("--json", help="Also write the table as JSON here.")
    args = ap.parse_args()
    if args.quick:
        args.mutants, args.signals, args.git_signals = 40, 12, 4
    rng = random.Random(args.seed)
    rows: dict[str, Counter] = {}
    tmp = Path(tempfile.mkdtemp(prefix="carbon-gate-reliability-"))
    here = os.getcwd()
    started = time.monotonic()
    try:
        rows["config mutants"] = config_mutants(args.mutants, rng, tmp)
        rows["workload faults"] = workload_faults(rng, tmp)
        rows["signals to `run`"] = signals(args.signals, rng, tmp)
        rows["corrupt results/baseline files"] = corrupt_files(tmp)
        os.chdir(here)
        rows["git / `--base`"] = git_cases(rng, tmp, args.git_signals)
    finally:
        os.chdir(here)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"carbon-gate reliability, seed {args.seed}, {time.monotonic() - started:.0f} s, "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB\n"
    )
    print("| area | tried | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for area, c in rows.items():
        print(f"| {area} | {sum(c.values())} | " + " | ".join(str(c.get(k, 0)) for k in COLUMNS) + " |")
    for note in NOTES:
        print(f"\n{note}")
    if args.json:
        Path(args.json).write_text(json.dumps({a: dict(c) for a, c in rows.items()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
