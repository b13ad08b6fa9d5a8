"""Paired mode end to end: a real git repository in tmp_path, the real CLI in a subprocess, the base
commit checked out in a worktree and run interleaved with HEAD (docs/statistics.md).

Workloads sleep for a duration read from a committed file, so their modelled energy is about idle
power × wall time and stable run to run; the base and head commits differ only in that file.
Every CLI run gets its own TMPDIR, so "no carbon-gate-base-* directory is left" is checked exactly
(and the setup log proves the worktree really was created there).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from helpers import commit, git, modelled_config, paired_run

pytestmark = pytest.mark.usefixtures("no_ci_env")


SLEEP = 'sleep "$(cat duration.txt)"'


def config(
    workloads: str,
    *,
    repeats: int = 6,
    warmup: int = 0,
    tolerance: str = "5%",
    baseline: str = "",
    extra: str = "",
    max_rounds: int = 8,
) -> str:
    """A carbon-gate.yml with modelled energy only (no RAPL/GPU), so sleeps cost ~ idle power × wall.
    At most 8 rounds unless a test asks for more: tiny workloads such as `true` rarely decide, and would
    otherwise add rounds until the default 60 s budget is spent."""
    defaults = f'{{repeats: {repeats}, warmup: {warmup}, tolerance: "{tolerance}", max_rounds: {max_rounds}}}'
    return modelled_config(workloads, defaults=defaults, baseline=baseline, extra=extra)


def run_paired(cli, repo: Path, tmp_path: Path, seed: int):
    """`carbon-gate run` paired with HEAD~1 under a fixed seed: results in repo/out.json, no report."""
    return cli(
        *paired_run(seed=seed, results="out.json", report=""),
        cwd=repo,
        env=run_env(tmp_path),
    )


def new_repo(tmp_path: Path, files: dict[str, str]) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "checkout", "-q", "-b", "main")
    return repo, commit(repo, files, "base")


def tmpdir_for(tmp_path: Path) -> Path:
    d = tmp_path / "tmp"
    d.mkdir(exist_ok=True)
    return d


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"TMPDIR": str(tmpdir_for(tmp_path)), **extra}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def counted(samples: list[dict]) -> list[dict]:
    return [s for s in samples if not s["warmup"] and s["error"] is None]


def worktrees(repo: Path) -> list[str]:
    out = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


def assert_clean(repo: Path, tmp_path: Path) -> None:
    """Only the main tree is registered, and no carbon-gate-base-* directory is left in the run's TMPDIR."""
    assert [Path(p).resolve() for p in worktrees(repo)] == [repo.resolve()]
    assert list(tmpdir_for(tmp_path).glob("carbon-gate-base-*")) == []
    assert "prunable" not in git(repo, "worktree", "list", "--porcelain")


def setup_logger(log: Path) -> str:
    """baseline.setup that appends the tree it runs in to `log` (outside the repository)."""
    return json.dumps(f"pwd -P >> {log}")


def assert_setup_ran_in_both_trees(log: Path, repo: Path, tmp_path: Path) -> Path:
    lines = log.read_text().splitlines()
    assert len(lines) == 2, lines
    assert str(repo.resolve()) in lines
    (other,) = [Path(x) for x in lines if x != str(repo.resolve())]
    assert other.name == "tree" and other.parent.name.startswith("carbon-gate-base-")
    assert other.parent.parent == tmpdir_for(tmp_path).resolve(), "the worktree was not made in TMPDIR"
    assert not other.exists()
    return other


# --------------------------------------------------------------------------- verdicts


def test_clear_increase_is_a_regression_with_full_paired_results(tmp_path, cli):
    log = tmp_path / "setup.log"
    order_log = tmp_path / "order.log"
    workload = f"""
        - name: sleepy
          command: {json.dumps(SLEEP + f"; pwd -P >> {order_log}")}
        """
    repo, base = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config(workload, repeats=8, warmup=1, baseline=f"{{setup: {setup_logger(log)}}}"),
            "duration.txt": "0.15\n",
        },
    )
    head = commit(repo, {"duration.txt": "0.25\n"}, "slower")

    r = run_paired(cli, repo, tmp_path, seed=11)

    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    doc = load(repo / "out.json")
    assert doc["verdict"] == "fail"
    assert doc["interrupted"] is False
    assert doc["git"]["head"] == head and doc["git"]["base"] == base
    assert doc["git"]["mode"] == "paired" and doc["git"]["seed"] == 11
    (w,) = doc["workloads"]
    assert w["verdict"] == "regression", w["reasons"]
    b = w["baseline"]
    # 0.15 s runs are batched 2 per side per round (a round lasts >= 0.25 s); so clear a change is decided
    # at the first look, after the 8 rounds of `repeats`.
    k = b["batch"]
    assert k == 2
    assert (b["mode"], b["commit"], b["n"], b["seed"], b["error"]) == ("paired", base, 8 * k, 11, None)
    assert (b["rounds"], b["stop"], b["pairing"], b["interval"]) == (8, "decided", "sequential", "trimmed-t")
    assert b["looks"]["rounds"][0] == 8 and abs(sum(b["looks"]["alphas"]) - 0.05) < 1e-6
    assert len(b["round_wh"]["head"]) == len(b["round_wh"]["base"]) == 8
    c = w["change"]
    assert {"ratio", "low", "high", "confidence", "mde"} <= set(c)
    assert c["paired"] is True and c["confidence"] == 0.95
    assert c["n_head"] == c["n_base"] == 8
    assert 1.3 < c["ratio"] < 2.0 and 1.05 < c["low"] <= c["ratio"] <= c["high"]
    assert any(
        r.startswith("decision: 8 sequential rounds, 2 runs per side") and "stopped: decided" in r for r in w["reasons"]
    ), w["reasons"]
    # One warm-up then 8 rounds of 2 counted runs on each side, aligned by round (head slept longer in each).
    for side in ("samples", "base_samples"):
        assert [s["warmup"] for s in w[side]] == [True] + [False] * 8 * k
    h, bs = counted(w["samples"]), counted(w["base_samples"])
    assert len(h) == len(bs) == 8 * k
    assert all(x["wall_s"] > y["wall_s"] for x, y in zip(h, bs))
    # The recorded order is what really ran: warm-ups head then base, then per round H first or B first,
    # balanced in pairs of rounds (HB or BH) so a slot effect cancels.
    orders = b["orders"]
    assert len(orders) == 8 and set(orders) <= {"H", "B"}
    assert all({orders[i], orders[i + 1]} == {"H", "B"} for i in range(0, 8, 2))
    ran = order_log.read_text().splitlines()
    tree = assert_setup_ran_in_both_trees(log, repo, tmp_path)
    who = ["H" if line == str(repo.resolve()) else "B" for line in ran]
    assert all(line in (str(repo.resolve()), str(tree)) for line in ran)
    assert who[:2] == ["H", "B"]
    assert [who[2 + 2 * k * i] for i in range(8)] == list(orders)
    assert sorted(who[2:]) == ["B"] * 8 * k + ["H"] * 8 * k
    assert_clean(repo, tmp_path)


@pytest.mark.parametrize(
    ("head_files", "verdict", "code", "low", "high"),
    [
        # A README-only commit: the same workload on both sides. At the default 5 % tolerance the gate adds
        # rounds until the whole interval lies inside +-5 % (an equivalence decision, not "no significant change").
        ({"README.md": "# docs only\n"}, "unchanged", 0, 0.95, 1.05),
        ({"duration.txt": "0.39\n"}, "regression", 1, 1.2, 1.4),  # 30 % more work
    ],
)
def test_identical_commit_is_unchanged_and_30_percent_more_is_a_regression(
    tmp_path, cli, head_files, verdict, code, low, high
):
    repo, base = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config(f"- name: w\n  command: {json.dumps(SLEEP)}\n  max_time: 5m\n", max_rounds=60),
            "duration.txt": "0.3\n",
        },
    )
    commit(repo, head_files, "head")

    r = cli(
        "run",
        "--base",
        "HEAD~1",
        "--seed",
        "3",
        "--results",
        "out.json",
        "--report",
        "",
        cwd=repo,
        env=run_env(tmp_path),
    )

    (w,) = load(repo / "out.json")["workloads"]
    assert w["verdict"] == verdict, (w["reasons"], w["change"])
    assert r.returncode == code, r.stderr
    assert w["baseline"]["commit"] == base and w["baseline"]["stop"] == "decided"
    c = w["change"]
    if verdict == "unchanged":
        assert low < c["low"] <= c["ratio"] <= c["high"] < high
    else:
        assert low < c["ratio"] < high and c["low"] > 1
    assert_clean(repo, tmp_path)


def test_clear_decrease_is_an_improvement(tmp_path, cli):
    repo, base = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config(f"- name: faster\n  command: {json.dumps(SLEEP)}\n", repeats=8),
            "duration.txt": "0.15\n",
        },
    )
    commit(repo, {"duration.txt": "0.08\n"}, "faster")

    r = run_paired(cli, repo, tmp_path, seed=5)

    assert r.returncode == 0, r.stderr
    (w,) = load(repo / "out.json")["workloads"]
    assert w["verdict"] == "improvement", w["reasons"]
    assert w["change"]["high"] < 0.95 and w["change"]["ratio"] < 0.8
    assert w["baseline"]["commit"] == base
    assert_clean(repo, tmp_path)


def test_round_order_is_random_but_reproducible_with_a_seed(tmp_path, cli):
    repo, _ = new_repo(tmp_path, {"carbon-gate.yml": config("- name: quick\n  command: 'true'\n", repeats=8)})
    commit(repo, {"README.md": "x\n"}, "docs")

    def orders(seed: int, out: str) -> str:
        r = cli(
            *paired_run("-q", seed=seed, results=out, report=""),
            cwd=repo,
            env=run_env(tmp_path),
        )
        assert r.returncode in (0, 1), r.stderr
        doc = load(repo / out)
        assert doc["git"]["seed"] == seed and doc["workloads"][0]["baseline"]["seed"] == seed
        assert_clean(repo, tmp_path)
        return doc["workloads"][0]["baseline"]["orders"]

    first, again, other = orders(7, "a.json"), orders(7, "b.json"), orders(6, "c.json")
    assert len(first) == 8
    assert first == again
    assert {"H", "B"} <= set(first), "the order is not randomised per round"
    assert other != first, "a different seed gave the same order"


# --------------------------------------------------------------------------- interruption


def _sleep_processes(token: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if token in (p.info["cmdline"] or []):
                found.append(p)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_paired_run_cleans_up_and_writes_partial_results(tmp_path, sig, code):
    token = f"30.{os.getpid() % 1000:03d}{int(sig):02d}1"  # a unique `sleep` argument to find the child by
    workloads = f"""
        - name: quick
          command: 'true'
        - name: long
          command: sleep {token}
        """
    repo, _ = new_repo(tmp_path, {"carbon-gate.yml": config(workloads)})
    commit(repo, {"README.md": "x\n"}, "docs")
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbon_gate", *paired_run(seed=1, results="out.json", report="")],
        cwd=repo,
        env={**os.environ, **run_env(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(worktrees(repo)) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the base worktree never appeared"
            time.sleep(0.05)
        tree = Path(worktrees(repo)[1])
        assert tree.resolve().is_relative_to(tmpdir_for(tmp_path).resolve())
        while not _sleep_processes(token):  # the long workload is running (head or base side)
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the long workload never started"
            time.sleep(0.05)
        os.kill(proc.pid, sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == code, err
    assert "Traceback" not in err
    doc = load(repo / "out.json")
    assert doc["interrupted"] is True
    names = [w["name"] for w in doc["workloads"]]
    assert "quick" in names, names  # the finished workload's results survive
    quick = doc["workloads"][names.index("quick")]
    # `true` runs in batches (or, on a fast machine, is too short to compare): at most 8 rounds.
    assert 6 <= quick["baseline"]["rounds"] <= 8
    assert not tree.exists()
    assert_clean(repo, tmp_path)
    time.sleep(0.2)
    assert _sleep_processes(token) == [], "the workload's sleep outlived the run"


# --------------------------------------------------------------------------- setup


def test_setup_runs_once_in_each_tree(tmp_path, cli):
    log = tmp_path / "setup.log"
    workloads = "- name: one\n  command: 'true'\n- name: two\n  command: 'true'\n"
    repo, _ = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config(
                workloads, baseline=f"{{setup: {setup_logger(log)}}}", extra="gate: {family: none}\n"
            ),
        },
    )
    commit(repo, {"README.md": "x\n"}, "docs")

    r = run_paired(cli, repo, tmp_path, seed=2)

    assert r.returncode in (0, 1), r.stderr  # tiny workloads: the verdict itself is not the point here
    assert_setup_ran_in_both_trees(log, repo, tmp_path)  # two workloads, still once per tree
    assert_clean(repo, tmp_path)


def test_failing_setup_in_the_base_is_not_blamed_on_the_change(tmp_path, cli):
    # setup needs a file that only the head commit has: it fails in the base worktree only.
    workloads = f"""
        - name: sleepy
          command: {json.dumps(SLEEP)}
          budget: {{energy: 1 Wh}}
        """
    repo, _ = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config(
                workloads, baseline="{setup: 'test -f setup-ok || { echo no setup-ok here >&2; exit 4; }'}"
            ),
            "duration.txt": "0.05\n",
        },
    )
    commit(repo, {"setup-ok": "", "duration.txt": "0.1\n"}, "head can set up")

    r = run_paired(cli, repo, tmp_path, seed=2)

    assert r.returncode == 0, r.stderr
    doc = load(repo / "out.json")
    (w,) = doc["workloads"]
    assert w["verdict"] == "new", w["reasons"]
    assert "base" in w["reasons"][0] and "setup" in w["reasons"][0], w["reasons"]
    assert w["baseline"]["error"] and "base" in w["baseline"]["error"]
    # the head was still measured (6 rounds of its batch) and budget-checked
    assert len(counted(w["samples"])) == 6 * w["baseline"]["batch"]
    assert w["budget"]["checks"] and not any(c.get("exceeded") for c in w["budget"]["checks"])
    assert counted(w["base_samples"]) == []
    assert_clean(repo, tmp_path)


def test_failing_setup_in_the_head_is_a_workload_error(tmp_path, cli):
    repo, _ = new_repo(
        tmp_path,
        {
            "carbon-gate.yml": config("- name: quick\n  command: 'true'\n", baseline="{setup: 'test -f setup-ok'}"),
            "setup-ok": "",
        },
    )
    commit(repo, {"setup-ok": None}, "head broke its setup")

    r = cli(
        "run", "--mode", "paired", "--base", "HEAD~1", "--seed", "2", "--report", "", cwd=repo, env=run_env(tmp_path)
    )

    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "setup" in r.stderr and "head" in r.stderr
    assert "Traceback" not in r.stderr
    assert_clean(repo, tmp_path)


def test_workload_missing_at_the_base_is_new(tmp_path, cli):
    workloads = """
        - name: fresh
          command: sh fresh.sh
        """
    repo, _ = new_repo(tmp_path, {"carbon-gate.yml": config(workloads)})
    commit(repo, {"fresh.sh": "sleep 0.02\n"}, "add the workload's script")

    r = run_paired(cli, repo, tmp_path, seed=2)

    assert r.returncode == 0, r.stderr
    (w,) = load(repo / "out.json")["workloads"]
    assert w["verdict"] == "new", w["reasons"]
    assert "base" in w["reasons"][0]
    assert w["baseline"]["error"]
    assert len(counted(w["samples"])) == 6 * w["baseline"]["batch"]
    assert_clean(repo, tmp_path)


# --------------------------------------------------------------------------- choosing the base


def test_paired_mode_without_a_base_is_a_usage_error(tmp_path, cli):
    repo, _ = new_repo(tmp_path, {"carbon-gate.yml": config("- name: quick\n  command: 'true'\n")})

    r = cli("run", "--mode", "paired", "--report", "", cwd=repo, env=run_env(tmp_path))

    assert r.returncode == 2, r.stderr
    assert "--base" in r.stderr and "base commit" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (repo / "carbon-gate-results.json").exists()
    assert_clean(repo, tmp_path)


def test_unknown_base_ref_is_a_usage_error(tmp_path, cli):
    repo, _ = new_repo(tmp_path, {"carbon-gate.yml": config("- name: quick\n  command: 'true'\n")})

    r = cli("run", "--mode", "paired", "--base", "no-such-branch", "--report", "", cwd=repo, env=run_env(tmp_path))

    assert r.returncode == 2, r.stderr
    assert "no-such-branch" in r.stderr
    assert "Traceback" not in r.stderr
    assert_clean(repo, tmp_path)


def test_github_base_ref_selects_paired_mode_at_the_merge_base(tmp_path, cli):
    repo, fork_point = new_repo(tmp_path, {"carbon-gate.yml": config("- name: quick\n  command: 'true'\n")})
    git(repo, "checkout", "-q", "-b", "feature")
    head = commit(repo, {"feature.txt": "x\n"}, "feature work")
    git(repo, "checkout", "-q", "main")
    main_tip = commit(repo, {"main.txt": "y\n"}, "main moved on")
    git(repo, "checkout", "-q", "feature")

    r = cli(
        "run",
        "--seed",
        "4",
        "--results",
        "out.json",
        "--report",
        "",
        cwd=repo,
        env=run_env(tmp_path, GITHUB_BASE_REF="main"),
    )

    assert r.returncode in (0, 1), r.stderr
    doc = load(repo / "out.json")
    assert doc["git"]["mode"] == "paired"
    assert doc["git"]["head"] == head
    assert doc["git"]["base"] == fork_point != main_tip
    assert doc["workloads"][0]["baseline"]["mode"] == "paired"
    assert doc["workloads"][0]["baseline"]["commit"] == fork_point
    assert_clean(repo, tmp_path)


# --------------------------------------------------------------------------- rounds


def test_too_few_repeats_are_raised_to_the_first_look(tmp_path, cli):
    repo, _ = new_repo(
        tmp_path, {"carbon-gate.yml": config("- name: quick\n  command: 'true'\n", repeats=3, max_rounds=6)}
    )
    commit(repo, {"README.md": "x\n"}, "docs")

    r = run_paired(cli, repo, tmp_path, seed=2)

    assert r.returncode in (0, 1), r.stderr
    (w,) = load(repo / "out.json")["workloads"]
    b = w["baseline"]
    assert len(counted(w["samples"])) == len(counted(w["base_samples"])) == 6 * b["batch"]
    assert len(b["orders"]) == 6 and b["looks"]["rounds"] == [6]
    assert any("3" in n and "6" in n and "raised" in n for n in w["baseline"]["notes"]), w["baseline"]["notes"]
    assert_clean(repo, tmp_path)


def test_two_clear_regressions_at_the_default_floor_fail_the_gate(tmp_path, cli):
    workloads = f"""
        - name: first
          command: {json.dumps(SLEEP)}
        - name: second
          command: {json.dumps(SLEEP)}
        """
    repo, _ = new_repo(tmp_path, {"carbon-gate.yml": config(workloads, repeats=5), "duration.txt": "0.03\n"})
    commit(repo, {"duration.txt": "0.09\n"}, "three times slower")

    r = run_paired(cli, repo, tmp_path, seed=8)

    doc = load(repo / "out.json")
    assert all(w["change"]["ratio"] > 1.5 for w in doc["workloads"])  # both really doubled or more
    assert [w["verdict"] for w in doc["workloads"]] == ["regression", "regression"], [
        w["reasons"][0] for w in doc["workloads"]
    ]
    assert r.returncode == 1
    # Each workload's sequence runs at alpha / 2, so the regression it decides survives Holm across both.
    for w in doc["workloads"]:
        assert w["baseline"]["stop"] == "decided"
        assert abs(sum(w["baseline"]["looks"]["alphas"]) - 0.025) < 1e-6
        assert w["change"]["p_value"] <= 0.025
    assert_clean(repo, tmp_path)
