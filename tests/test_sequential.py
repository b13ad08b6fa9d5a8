"""The sequential paired gate: its stopping rule on seeded synthetic rounds, the equivalence decision,
the budget, batching, and duet pinning checked on real processes through /proc."""

from __future__ import annotations

import math
import os
import random
import sys
from pathlib import Path

import pytest

from carbon_gate.assess.stats import (
    INTERVALS,
    Looks,
    classify,
    decided,
    plan_looks,
    sequential_change,
    student_t_quantile,
)
from carbon_gate.config import Budget, MeterSettings, Workload
from carbon_gate.meters.meter import plan_meters
from carbon_gate.meters.paired import DUET, MAX_BATCH, MIN_ROUND_S, PairedRuns, batch_size, duet_cpu_sets, run_rounds
from carbon_gate.meters.process import run_process


def gate(rounds: list[float], looks: Looks, tolerance: float, method: str = "trimmed-t") -> tuple[str, int]:
    """What the pipeline does with log-ratios `rounds`: look at each planned look, stop once decided."""
    verdict, n = "inconclusive", 0
    for n in looks.rounds:
        if n > len(rounds):
            break
        change = sequential_change([math.exp(x) for x in rounds[:n]], [1.0] * n, looks, method)
        verdict = classify(change, tolerance)[0]
        if decided(verdict):
            break
    return verdict, n


def false_alarms(looks: Looks, gates: int, seed: int) -> float:
    """Share of A/A gates (normal noise, no change) that end regression or improvement at tolerance 0,
    where any rejection of "no change" is an error."""
    rng = random.Random(seed)
    wrong = 0
    for _ in range(gates):
        rounds = [rng.gauss(0.0, 0.05) for _ in range(looks.rounds[-1])]
        wrong += gate(rounds, looks, 0.0)[0] in ("regression", "improvement")
    return wrong / gates


def test_looks_spend_exactly_alpha_and_end_at_max_rounds():
    looks = plan_looks(6, 60, 0.05)
    assert looks.rounds[0] == 6 and looks.rounds[-1] == 60
    assert list(looks.rounds) == sorted(set(looks.rounds))
    assert sum(looks.alphas) == pytest.approx(0.05) and all(a > 0 for a in looks.alphas)
    # The last look is not squeezed in a few rounds after the one before (it would get almost no alpha).
    assert looks.alphas[-1] > looks.alphas[0] / 4
    assert looks.index(6) == 0 and looks.index(7) == 1 and looks.index(1000) == len(looks.rounds) - 1
    assert plan_looks(6, 6, 0.05).rounds == (6,)


def test_two_thousand_aa_gates_under_the_stopping_rule_stay_within_alpha():
    looks = plan_looks(6, 30, 0.05)
    rate = false_alarms(looks, 2000, seed=1)
    # Bonferroni over looks: 3.4-4.0 % here (binomial sd ~0.5 %); a 20 %-trimmed t was liberal enough to reach 5 %.
    assert rate <= 0.05, rate
    # The same looks with the full 5 % spent at each (an unadjusted repeated look) inflate false alarms:
    # this is what the spending prevents, and why this test can fail.
    naive = Looks(looks.rounds, (0.05,) * len(looks.rounds))
    naive_rate = false_alarms(naive, 2000, seed=1)
    assert naive_rate > 0.08, naive_rate
    assert naive_rate > 2 * rate


def test_identical_tight_samples_are_unchanged_at_the_first_look():
    rng = random.Random(2)
    base = [1.0 + rng.gauss(0, 0.01) for _ in range(6)]
    head = [b * (1 + rng.gauss(0, 0.002)) for b in base]
    looks = plan_looks(6, 60, 0.05)
    change = sequential_change(head, base, looks)
    verdict, reason = classify(change, 0.05)
    assert verdict == "unchanged", reason
    assert 0.95 < change.low <= change.ratio <= change.high < 1.05  # equivalence: all of it inside +-5 %


def test_not_significant_is_not_unchanged_when_the_interval_is_wider_than_the_tolerance():
    looks = plan_looks(6, 60, 0.05)
    rng = random.Random(3)
    d = [rng.gauss(0, 0.08) for _ in range(6)]
    change = sequential_change([math.exp(x) for x in d], [1.0] * 6, looks)
    assert change.low < 1 < change.high  # not significant...
    assert classify(change, 0.05)[0] == "inconclusive"  # ...but no proof of "unchanged" either


def test_heavy_noise_spends_the_budget_and_is_inconclusive():
    looks = plan_looks(6, 20, 0.05)
    rng = random.Random(4)
    rounds = [rng.gauss(0.0, 0.4) for _ in range(20)]
    verdict, n = gate(rounds, looks, 0.05)
    assert (verdict, n) == ("inconclusive", 20)
    change = sequential_change([math.exp(x) for x in rounds], [1.0] * 20, looks)
    assert "cannot rule out" in classify(change, 0.05)[1] and math.isfinite(change.mde) and change.mde > 0.05


@pytest.mark.parametrize("method", INTERVALS)
def test_a_clear_regression_is_decided_early_with_a_sequential_p_within_alpha(method):
    looks = plan_looks(6, 60, 0.05)
    rng = random.Random(5)
    rounds = [math.log(1.3) + rng.gauss(0, 0.03) for _ in range(60)]
    verdict, n = gate(rounds, looks, 0.05, method)
    assert verdict == "regression" and n <= 13, (verdict, n)
    change = sequential_change([math.exp(x) for x in rounds[:n]], [1.0] * n, looks, method)
    assert change.p_value <= looks.alpha  # so Holm across workloads (each at alpha / k) keeps it
    assert change.low > 1.0 and "look" in change.method and "confidence sequence" in change.method


def test_trimmed_t_interval_matches_the_textbook_formula():
    # Tukey–McLaughlin: 10 % trimmed mean +- t(h-1) * winsorized sd / ((1 - 2g/n) sqrt(n)).
    d = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.50]  # one outlier round
    n, g = 10, 1
    looks = Looks((10,), (0.05,))
    change = sequential_change([math.exp(x) for x in d], [1.0] * n, looks)
    kept = sorted(d)[g : n - g]
    mean = sum(kept) / len(kept)
    w = [kept[0]] * g + kept + [kept[-1]] * g
    wm = sum(w) / n
    sw = math.sqrt(sum((x - wm) ** 2 for x in w) / (n - 1))
    half = student_t_quantile(0.975, n - 2 * g - 1) * sw / ((1 - 2 * g / n) * math.sqrt(n))
    assert math.log(change.ratio) == pytest.approx(mean)
    assert math.log(change.low) == pytest.approx(mean - half)
    assert math.log(change.high) == pytest.approx(mean + half)
    assert change.ratio < math.exp(0.1)  # the outlier round does not drag the estimate


def test_batches_make_a_round_last_the_minimum_and_tiny_runs_are_too_short():
    assert batch_size(1.0) == 1
    assert batch_size(MIN_ROUND_S) == 1
    assert batch_size(0.05) == math.ceil(MIN_ROUND_S / 0.05)
    assert batch_size(MIN_ROUND_S / MAX_BATCH) == MAX_BATCH
    assert batch_size(MIN_ROUND_S / MAX_BATCH / 2) is None


# --------------------------------------------------------------------------- duet pinning (real processes)

needs_two_cpus = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="duet runs need at least two CPUs"
)
# A grandchild (sh -> sh -> grep) reports its own allowed CPUs: pinning must reach the whole tree.
GRANDCHILD = "sh -c 'grep Cpus_allowed_list /proc/$$/status' >> {out}"


def _cpus(line: str) -> set[int]:
    out: set[int] = set()
    for part in line.split(":", 1)[1].strip().split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def _duet_rounds(command: str, rounds: int, tmp_path: Path) -> PairedRuns:
    """`rounds` duet rounds of `command` (no early stop, no time limit that could end them), RAPL and GPU off,
    the two sides' trees in tmp_path/head and tmp_path/base."""
    w = Workload(
        name="w",
        command=command,
        cwd=".",
        env={},
        repeats=rounds,
        warmup=0,
        timeout_s=60.0,
        tolerance=0.05,
        unit_name="run",
        unit_count=1.0,
        budget=Budget(),
        paths=(),
        line=None,
        max_rounds=rounds,
        max_time_s=600.0,
    )
    plan = plan_meters(MeterSettings(rapl="off", gpu="off", embodied="off"))
    return run_rounds(
        w,
        plan,
        tmp_path / "head",
        tmp_path / "base",
        random.Random(1),
        first=rounds,
        max_rounds=rounds,
        max_time_s=600,
        stop=lambda r: False,
        looks=(rounds,),
        pairing=DUET,
    )


@needs_two_cpus
def test_pinning_reaches_a_grandchild_and_leaves_the_caller_free(tmp_path):
    out = tmp_path / "allowed"
    before = os.sched_getaffinity(0)
    cpu = min(before)
    run = run_process(GRANDCHILD.format(out=out), cwd=tmp_path, cpus=frozenset({cpu}))
    assert run.exit_code == 0
    assert [_cpus(x) for x in out.read_text().splitlines()] == [{cpu}]
    assert os.sched_getaffinity(0) == before  # only the child tree was pinned


@needs_two_cpus
def test_duet_rounds_pin_each_side_to_its_half_and_swap_every_round(tmp_path):
    for side in ("head", "base"):
        (tmp_path / side).mkdir()
    # Each run takes ~0.3 s (no batching) and appends its grandchild's CPU list to a file in its own tree.
    command = f"{GRANDCHILD.format(out='allowed')}; {sys.executable} -c 'import time; time.sleep(0.3)'"
    runs = _duet_rounds(command, 4, tmp_path)
    assert runs.pairing == DUET and runs.batch == 1 and runs.rounds == 4
    low, high = (set(s) for s in duet_cpu_sets())
    head = [_cpus(x) for x in (tmp_path / "head" / "allowed").read_text().splitlines()]
    base = [_cpus(x) for x in (tmp_path / "base" / "allowed").read_text().splitlines()]
    everything = set(os.sched_getaffinity(0))
    # The warm-up (one per side) runs unpinned; then the sides swap CPU sets every round.
    assert head[0] == base[0] == everything
    assert head[1:] == [low, high, low, high]
    assert base[1:] == [high, low, high, low]
    assert runs.orders == ["h0", "h1", "h0", "h1"]
    h, b = runs.counted_pairs()
    assert len(h) == len(b) == 4 and all(x > 0 for x in h + b)


class _Stop(BaseException):
    pass


@needs_two_cpus
def test_an_interrupt_mid_duet_round_kills_both_sides(tmp_path):
    import signal
    import subprocess
    import threading
    import time

    for side in ("head", "base"):
        (tmp_path / side).mkdir()
    token = f"2.{os.getpid() % 1000:03d}7"  # a unique `sleep` argument to find the children by

    def both_sides_running() -> bool:
        out = subprocess.run(["pgrep", "-fc", f"^sleep {token}"], capture_output=True, text=True).stdout
        return int(out.strip() or 0) >= 2

    def interrupt_when_both_run() -> None:
        deadline = time.monotonic() + 60
        while not both_sides_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    def handler(signum, frame):
        raise _Stop()

    old = signal.signal(signal.SIGTERM, handler)
    try:
        threading.Thread(target=interrupt_when_both_run, daemon=True).start()
        with pytest.raises(_Stop):
            _duet_rounds(f"sleep {token}", 6, tmp_path)
    finally:
        signal.signal(signal.SIGTERM, old)
    time.sleep(0.5)
    assert not both_sides_running()
    left = subprocess.run(["pgrep", "-f", f"^sleep {token}"], capture_output=True, text=True).stdout
    assert left == "", "a duet side's process outlived the interrupt"
