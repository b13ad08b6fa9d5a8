"""Tests for carbon_gate.assess.stats: verdicts on simulated workloads, exact distributions, Holm."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from itertools import combinations, pairwise, product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbon_gate.assess import stats
from carbon_gate.assess.stats import (
    Change,
    classify,
    holm,
    min_head_runs,
    min_repeats,
    paired_change,
    paired_mde,
    rank_sum_critical,
    signed_rank_critical,
    smallest_p,
    student_t_quantile,
    survives_holm,
    unpaired_change,
    unpaired_mde,
)


def paired_runs(seed: int, n: int, sigma: float, shift: float) -> tuple[list[float], list[float]]:
    """n rounds; each shares a machine drift (which pairing cancels) plus per-run lognormal noise."""
    rng = random.Random(seed)
    head, base = [], []
    for _ in range(n):
        drift = 100 * math.exp(rng.gauss(0, 0.05))
        base.append(drift * math.exp(rng.gauss(0, sigma)))
        head.append(drift * shift * math.exp(rng.gauss(0, sigma)))
    return head, base


def unpaired_runs(seed: int, n: int, sigma: float, shift: float) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    head = [100 * shift * math.exp(rng.gauss(0, sigma)) for _ in range(n)]
    base = [100 * math.exp(rng.gauss(0, sigma)) for _ in range(n)]
    return head, base


BOTH = [(paired_change, paired_runs), (unpaired_change, unpaired_runs)]


# --------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("change", [paired_change, unpaired_change])
def test_identical_samples_are_unchanged(change):
    values = unpaired_runs(1, 10, 0.02, 1.0)[0]
    c = change(values, values)
    assert c.ratio == 1.0
    assert c.low <= 1.0 <= c.high and c.high < 1.03
    assert c.p_value == 1.0
    assert classify(c, 0.05)[0] == "unchanged"

    flat = change([5.0] * 8, [5.0] * 8)
    assert (flat.ratio, flat.low, flat.high, flat.mde, flat.p_value) == (1.0, 1.0, 1.0, 0.0, 1.0)
    assert classify(flat, 0.0)[0] == "unchanged"


def test_identical_paired_samples_give_a_point_interval():
    values = unpaired_runs(2, 10, 0.02, 1.0)[0]
    c = paired_change(values, values)
    assert (c.low, c.high, c.mde) == (1.0, 1.0, 0.0)


@pytest.mark.parametrize("change, runs", BOTH)
def test_small_real_shift_is_a_regression_or_improvement(change, runs):
    up = change(*runs(11, 10, 0.005, 1.05))
    verdict, reason = classify(up, 0.03)
    assert verdict == "regression", reason
    assert up.ratio == pytest.approx(1.05, abs=0.01)
    assert 1.0 < up.low <= up.ratio <= up.high < 1.07
    assert up.p_value < 0.01
    assert reason.startswith(f"{(up.ratio - 1) * 100:+.1f} % (95 % CI +")
    assert reason.endswith("exceeds the 3 % tolerance")

    down = change(*runs(12, 10, 0.005, 0.95))
    verdict, reason = classify(down, 0.03)
    assert verdict == "improvement", reason
    assert down.ratio == pytest.approx(0.95, abs=0.01)
    assert down.high < 1.0


@pytest.mark.parametrize("change, runs", BOTH)
def test_real_shift_within_tolerance_is_unchanged_but_said_to_be_real(change, runs):
    c = change(*runs(13, 12, 0.005, 1.02))
    assert c.low > 1
    verdict, reason = classify(c, 0.05)
    assert verdict == "unchanged"
    assert "real increase but within the 5 % tolerance" in reason


def test_heavy_noise_with_few_repeats_is_inconclusive():
    # Paired n=5 can never reach 95 %: always inconclusive, with an unbounded interval.
    for seed in range(5):
        c = paired_change(*paired_runs(seed, 5, 0.3, 1.05))
        assert (c.low, c.high, c.mde) == (0.0, math.inf, math.inf)
        assert classify(c, 0.05)[0] == "inconclusive"
    # Unpaired 5 + 5 has a (wide) interval; it straddles both 1 and the tolerance.
    seeds = [0, 1, 3, 4, 5]
    for seed in seeds:
        c = unpaired_change(*unpaired_runs(seed, 5, 0.3, 1.05))
        assert 0 < c.low <= 1.0 and 1.05 < c.high < math.inf
        assert c.mde > 0.3
        verdict, reason = classify(c, 0.05)
        assert verdict == "inconclusive"
        assert "cannot rule out a change either way beyond the 5 % tolerance" in reason
    # And over many seeds it is the typical outcome, not a lucky pick.
    verdicts = [classify(unpaired_change(*unpaired_runs(s, 5, 0.3, 1.05)), 0.05)[0] for s in range(100)]
    assert verdicts.count("inconclusive") >= 85
    assert verdicts.count("regression") <= 10


@pytest.mark.parametrize("change", [paired_change, unpaired_change])
def test_single_run_is_inconclusive_and_unbounded(change):
    c = change([12.0], [10.0])
    assert c.ratio == pytest.approx(1.2, rel=1e-9)
    assert (c.low, c.high, c.mde, c.p_value) == (0.0, math.inf, math.inf, 1.0)
    assert "interval unbounded" in c.method
    verdict, reason = classify(c, 0.05)
    assert verdict == "inconclusive"
    assert "+20.0 %" in reason and "needs at least" in reason
    assert c.to_dict()["high"] is None


@pytest.mark.parametrize("change", [paired_change, unpaired_change])
@pytest.mark.parametrize("bad", [0.0, -3.0])
def test_zero_or_negative_energy_is_inconclusive(change, bad):
    c = change([10.0, bad, 11.0], [10.0, 10.5, 10.2])
    assert math.isnan(c.ratio)
    assert c.p_value == 1.0 and c.mde == math.inf
    verdict, reason = classify(c, 0.05)
    assert verdict == "inconclusive"
    assert "zero energy samples" in reason
    json.dumps(c.to_dict(), allow_nan=False)


def test_non_finite_energy_is_inconclusive():
    c = paired_change([10.0, math.nan], [10.0, 10.0])
    assert math.isnan(c.ratio)
    assert classify(c, 0.05)[0] == "inconclusive"


@pytest.mark.parametrize("change, runs", BOTH)
def test_one_tenfold_outlier_does_not_make_a_regression(change, runs):
    head, base = runs(21, 10, 0.02, 1.0)
    head[3] *= 10
    c = change(head, base)
    assert classify(c, 0.05)[0] != "regression"
    assert abs(c.ratio - 1) < 0.03
    # The same data through a mean would report a huge regression: the test has teeth.
    assert sum(head) / sum(base) > 1.8


# --------------------------------------------------------------------------- exact distributions


def test_exact_signed_rank_p_for_all_positive_differences():
    base = [100.0 + i for i in range(10)]
    head = [b * (1 + 0.01 * (i + 1)) for i, b in enumerate(base)]
    c = paired_change(head, base)
    assert c.p_value == pytest.approx(2 / 1024, rel=1e-12)
    assert "exact" in c.method


def test_signed_rank_critical_values_match_the_published_table():
    # Two-sided alpha = 0.05 (Hollander & Wolfe, table A.4; any standard table).
    table = {
        5: None,
        6: 0,
        7: 2,
        8: 3,
        9: 5,
        10: 8,
        11: 10,
        12: 13,
        13: 17,
        14: 21,
        15: 25,
        16: 29,
        17: 34,
        18: 40,
        19: 46,
        20: 52,
        25: 89,
        30: 137,
    }
    assert {n: signed_rank_critical(n, 0.95) for n in table} == table


def test_rank_sum_critical_values_match_the_published_table():
    table = {3: None, 4: 0, 5: 2, 6: 5, 7: 8, 8: 13, 9: 17, 10: 23, 15: 64, 20: 127}
    assert {n: rank_sum_critical(n, n, 0.95) for n in table} == table
    assert rank_sum_critical(5, 10, 0.95) == rank_sum_critical(10, 5, 0.95) == 8


def test_min_repeats():
    assert min_repeats(0.95, paired=True) == 6
    assert min_repeats(0.95, paired=False) == 4
    assert min_repeats(0.99, paired=True) == 8
    assert min_repeats(0.90, paired=True) == 5


def test_min_repeats_lets_a_clear_regression_survive_holm():
    # n rounds give at best p = 2 / 2**n: beating 0.05 / k needs 2**n >= 40 k.
    assert [min_repeats(0.95, paired=True, family=k) for k in (1, 2, 3, 5, 10, 100)] == [6, 7, 7, 8, 9, 12]
    # n + n runs give at best p = 2 / C(2n, n): C(8, 4) = 70 < 2 / (0.05 / 2) = 80 <= C(10, 5).
    assert [min_repeats(0.95, paired=False, family=k) for k in (1, 2, 7, 30)] == [4, 5, 6, 7]
    for k in (1, 2, 3, 7, 25):
        for paired in (True, False):
            n = min_repeats(0.95, paired=paired, family=k)
            change = paired_change if paired else unpaired_change
            # k workloads that all clearly regressed (every head run above every base run) at the floor ...
            base = [100.0 + i for i in range(n)]
            head = [200.0 + i for i in range(n)]
            c = change(head, base)
            assert c.p_value == pytest.approx(smallest_p(n, n, paired), rel=1e-12)
            assert classify(c, 0.05)[0] == "regression"
            assert all(holm([c.p_value] * k, 0.05)), (k, paired, n)
            # ... and one run fewer cannot survive the family however clear the change.
            fewer = change(head[:-1], base[:-1])
            assert not all(holm([fewer.p_value] * k, 0.05)) or classify(fewer, 0.05)[0] != "regression", (k, paired)


def test_min_head_runs_against_a_fixed_stored_baseline():
    # 2 / C(m + n, m) <= alpha / k, and a bounded interval (the documented 3 + 5 and 2 + 8 cases for k = 1).
    assert [min_head_runs(n, 0.95) for n in (1, 2, 3, 4, 5, 8)] == [39, 8, 5, 4, 3, 2]
    assert [min_head_runs(n, 0.95, family=2) for n in (2, 3, 4, 5)] == [12, 6, 5, 4]
    assert min_head_runs(1, 0.95, family=2, limit=50) is None
    assert min_head_runs(0, 0.95) is None
    for n in (2, 3, 5):
        for k in (1, 2, 4):
            m = min_head_runs(n, 0.95, family=k)
            assert all(holm([smallest_p(m, n, False)] * k, 0.05))
            assert rank_sum_critical(m, n, 0.95) is not None
            assert m == 1 or not (
                all(holm([smallest_p(m - 1, n, False)] * k, 0.05)) and rank_sum_critical(m - 1, n, 0.95) is not None
            )


@pytest.mark.parametrize("m, n", [(1, 1), (3, 5), (6, 6), (50, 50), (51, 50), (60, 60), (100, 3), (1000, 1)])
def test_smallest_p_is_what_the_tests_return_for_complete_separation(m, n):
    if m == n:
        d = [float(i) for i in range(1, n + 1)]
        assert smallest_p(n, n, True) == pytest.approx(stats._signed_rank_p(d), rel=1e-12)
    x, y = [float(n + i) for i in range(1, m + 1)], [float(i) for i in range(1, n + 1)]
    assert smallest_p(m, n, False) == pytest.approx(stats._rank_sum_p(x, y), rel=1e-12)


@pytest.mark.parametrize("family", [0, -1, 1.5, 2.0, None])
def test_family_must_be_a_whole_number_of_workloads(family):
    for call in (
        lambda: min_repeats(0.95, family=family),
        lambda: min_repeats(0.95, paired=False, family=family),
        lambda: min_head_runs(3, 0.95, family=family),
        lambda: survives_holm(10, 10, True, family),
    ):
        with pytest.raises(ValueError, match="family must be a whole number"):
            call()


def test_survives_holm_is_whether_the_smallest_p_beats_holms_first_threshold():
    # The documented cases: 6 paired rounds give at best p = 2/64 = 0.031, fine alone, > 0.05/2 for two workloads;
    # 4 + 4 runs give 2/70 = 0.029 > 0.025, 5 + 4 give 2/126 = 0.016.
    assert survives_holm(6, 6, True, 1) and not survives_holm(6, 6, True, 2) and survives_holm(7, 7, True, 2)
    assert survives_holm(4, 4, False, 1) and not survives_holm(4, 4, False, 2) and survives_holm(5, 4, False, 2)
    assert not survives_holm(0, 4, False, 1) and not survives_holm(4, 0, False, 1)  # no runs: p = 1
    assert survives_holm(6, 6, True, 2, confidence=0.9) and not survives_holm(6, 6, True, 1, confidence=0.99)
    for m, n, paired, k, conf in product((1, 2, 5, 8, 12), (1, 3, 8), (True, False), (1, 2, 7, 30), (0.9, 0.95)):
        n = m if paired else n
        expected = all(holm([smallest_p(m, n, paired)] * k, 1 - conf))
        assert survives_holm(m, n, paired, k, conf) is expected, (m, n, paired, k, conf)
    # The floors are where a bounded interval exists and survives_holm turns true.
    for k in (1, 2, 7, 30):
        for paired in (True, False):
            floor = min_repeats(0.95, paired, k)
            assert survives_holm(floor, floor, paired, k)
        for n in (2, 3, 5):
            assert survives_holm(min_head_runs(n, 0.95, k), n, False, k)


def _brute_signed_rank_p(d: list[float]) -> float:
    nz = [x for x in d if x != 0]
    r2 = stats._doubled_midranks([abs(x) for x in nz])
    t = sum(r for r, x in zip(r2, nz) if x > 0)
    sums = [sum(r for r, s in zip(r2, signs) if s) for signs in product((0, 1), repeat=len(nz))]
    lower = sum(s <= t for s in sums) / len(sums)
    upper = sum(s >= t for s in sums) / len(sums)
    return min(1.0, 2 * min(lower, upper))


@pytest.mark.parametrize("seed", range(4))
def test_signed_rank_p_matches_brute_force_enumeration(seed):
    rng = random.Random(seed)
    base = [rng.uniform(50, 150) for _ in range(9)]
    head = [b * math.exp(rng.gauss(0.01, 0.03)) for b in base]
    if seed == 3:  # ties and a zero: tie-aware exact distribution, zero dropped
        head[1] = base[1]
        head[2], base[2] = 110.0, 100.0
        head[4], base[4] = 55.0, 50.0
    d = [round(math.log(h) - math.log(b), 12) for h, b in zip(head, base)]
    assert paired_change(head, base).p_value == pytest.approx(_brute_signed_rank_p(d), rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_rank_sum_p_and_interval_match_brute_force_enumeration(seed):
    rng = random.Random(seed)
    head = [100 * math.exp(rng.gauss(0.03, 0.05)) for _ in range(5)]
    base = [100 * math.exp(rng.gauss(0, 0.05)) for _ in range(6)]
    pooled = sorted(head + base)
    rank = {v: i + 1 for i, v in enumerate(pooled)}
    u = sum(rank[h] for h in head) - 15
    us = [sum(c) - 15 for c in combinations(range(1, 12), 5)]
    p = min(1.0, 2 * min(sum(x <= u for x in us), sum(x >= u for x in us)) / len(us))
    c = unpaired_change(head, base)
    assert c.p_value == pytest.approx(p, rel=1e-12)
    # The interval is the (c+1)-th smallest and largest of the 30 pairwise log-differences.
    crit = max(k for k in range(31) if sum(x <= k for x in us) / len(us) <= 0.025)
    diffs = sorted(math.log(h) - math.log(b) for h in head for b in base)
    assert c.low == pytest.approx(math.exp(diffs[crit]), rel=1e-9)
    assert c.high == pytest.approx(math.exp(diffs[-1 - crit]), rel=1e-9)


def test_rank_sum_distribution_is_the_binomial_count():
    for m, n in [(1, 1), (3, 4), (10, 10), (7, 30)]:
        assert stats._rank_sum_cdf(m, n)[-1] == math.comb(m + n, m)


def test_normal_approximation_above_the_exact_limit():
    c = paired_change(*paired_runs(31, 60, 0.005, 1.05))
    assert "normal approximation" in c.method
    assert classify(c, 0.03)[0] == "regression" and c.p_value < 1e-9
    a = paired_change(*paired_runs(32, 60, 0.02, 1.0))
    assert a.low < 1 < a.high and a.p_value > 0.05
    u = unpaired_change(*unpaired_runs(33, 60, 0.02, 1.0))
    assert "normal approximation" in u.method and u.low < 1 < u.high


@pytest.mark.parametrize("seed", range(3))
def test_p_values_agree_with_scipy(seed):
    sp = pytest.importorskip("scipy.stats")
    head, base = paired_runs(seed, 12, 0.03, 1.02)
    d = [math.log(h / b) for h, b in zip(head, base)]
    assert paired_change(head, base).p_value == pytest.approx(sp.wilcoxon(d, method="exact").pvalue, rel=1e-6)
    head, base = unpaired_runs(seed, 9, 0.03, 1.02)
    expected = sp.mannwhitneyu(head, base, alternative="two-sided", method="exact").pvalue
    assert unpaired_change(head, base).p_value == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------- coverage and MDE


@pytest.mark.parametrize(
    ("change", "runs", "trials", "n"),
    [(paired_change, paired_runs, 400, 10), (unpaired_change, unpaired_runs, 200, 8)],
    ids=["paired", "unpaired"],
)
def test_interval_coverage_on_aa_runs(change, runs, trials, n):
    hits = 0
    for seed in range(trials):
        c = change(*runs(seed, n, 0.02, 1.0))
        hits += c.low <= 1.0 <= c.high
    assert hits >= 0.92 * trials


def test_mde_decreases_with_repeats():
    paired = [paired_mde(0.02, n) for n in range(6, 80)]
    assert all(a > b for a, b in pairwise(paired))
    unpaired = [unpaired_mde(0.02, n, n) for n in range(4, 80)]
    assert all(a > b for a, b in pairwise(unpaired))
    assert paired_mde(0.02, 5) == math.inf and unpaired_mde(0.02, 3, 3) == math.inf
    # Hand check: n = 10, s = 2 %: exp((t_.975,9 + t_.8,9) * 0.02 / sqrt(10)) - 1.
    assert paired_mde(0.02, 10) == pytest.approx(math.exp((2.262157 + 0.883404) * 0.02 / math.sqrt(10)) - 1, rel=1e-5)
    # And from data: more rounds of the same workload, smaller MDE.
    from_data = [paired_change(*paired_runs(41, n, 0.02, 1.0)).mde for n in (8, 32, 128)]
    assert from_data[0] > from_data[1] > from_data[2] > 0


def test_student_t_quantiles():
    assert student_t_quantile(0.975, 1) == pytest.approx(12.706205, rel=1e-6)
    assert student_t_quantile(0.975, 9) == pytest.approx(2.262157, rel=1e-6)
    assert student_t_quantile(0.8, 9) == pytest.approx(0.883404, rel=1e-5)
    assert student_t_quantile(0.975, 30) == pytest.approx(2.042272, rel=1e-6)
    assert student_t_quantile(0.025, 9) == pytest.approx(-2.262157, rel=1e-6)
    assert student_t_quantile(0.975, 1e9) == pytest.approx(1.959964, rel=1e-6)


# --------------------------------------------------------------------------- Holm


def test_holm_hand_worked():
    # Sorted: 0.005 <= .05/4, 0.01 <= .05/3, 0.03 > .05/2 -> stop; 0.04 stands too.
    assert holm([0.01, 0.04, 0.03, 0.005], 0.05) == [True, False, False, True]
    # Holm rejects all three where Bonferroni (.05/3 each) would reject only the first.
    assert holm([0.01, 0.02, 0.04], 0.05) == [True, True, True]
    # Step-down stops at the first failure even if a later p would pass its own threshold.
    assert holm([0.03, 0.04], 0.05) == [False, False]
    assert holm([0.2, math.nan, 0.001], 0.05) == [False, False, True]
    assert holm([], 0.05) == []


def test_holm_across_results_uses_the_unrounded_p_value():
    from carbon_gate.assess.verdict import family_control
    from carbon_gate.results import WorkloadResult

    # 31 rounds whose exact two-sided p is 0.0020004, just above 0.05 / 25 (rounded to 4 digits: 0.002).
    n = 31
    cdf = stats._signed_rank_cdf(n)  # cumulative counts of T <= t out of 2**n
    t = next(t for t in range(len(cdf)) if 0.002 < 2 * cdf[t] / 2**n < 0.0020005)
    negative, left = set(), t  # the ranks of the negative differences sum to t
    for r in range(n, 0, -1):
        if r <= left:
            negative.add(r)
            left -= r
    d = [(-0.001 if r in negative else 0.001) * r for r in range(1, n + 1)]
    c = paired_change([math.exp(x) for x in d], [1.0] * n)
    assert 0.05 / 25 < c.p_value < 0.0020005 and classify(c, 0.0)[0] == "regression"

    results = [WorkloadResult(name="hot", command="true", verdict="regression", reasons=[], samples=[])]
    results[0].change = c
    for i in range(24):
        results.append(WorkloadResult(name=f"w{i}", command="true", verdict="unchanged", reasons=[], samples=[]))
        results[-1].change = dataclasses.replace(c, p_value=1.0)
    family_control(results, 0.95)
    assert results[0].verdict == "inconclusive", results[0].reasons


# --------------------------------------------------------------------------- API details


def test_to_dict_is_json_friendly():
    c = Change(
        ratio=1.1234567891,
        low=1.05,
        high=math.inf,
        confidence=0.95,
        mde=0.0412345,
        n_head=10,
        n_base=10,
        paired=True,
        p_value=1.23456789e-9,
        method="m",
    )
    d = c.to_dict()
    assert list(d) == ["ratio", "low", "high", "confidence", "mde", "n_head", "n_base", "paired", "p_value", "method"]
    assert d["ratio"] == 1.12346 and d["high"] is None and d["mde"] == 0.04123 and d["p_value"] == 1.23456789e-9
    json.dumps(d, allow_nan=False)


def test_programmer_errors_raise():
    with pytest.raises(ValueError):
        paired_change([], [])
    with pytest.raises(ValueError):
        unpaired_change([1.0], [])
    with pytest.raises(ValueError):
        paired_change([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        paired_change([1.0], [1.0], confidence=1.0)
    with pytest.raises(ValueError):
        classify(paired_change([1.0], [1.0]), -0.1)
    with pytest.raises(ValueError):
        holm([0.1], 0.0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=14),
    st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=14),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_interval_contains_the_estimate(head, base, confidence):
    n = min(len(head), len(base))
    for c in (paired_change(head[:n], base[:n], confidence), unpaired_change(head, base, confidence)):
        assert 0 <= c.low <= c.ratio <= c.high
        assert 0 <= c.p_value <= 1
        assert c.mde >= 0
        assert classify(c, 0.05)[0] in {"regression", "improvement", "inconclusive", "unchanged"}
