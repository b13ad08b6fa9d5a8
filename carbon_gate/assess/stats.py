"""Did a change make a workload more energy-hungry? Rank-based statistics on the head/base energy ratio.

Everything works on logarithms of energies, so a shift of the logs is a ratio of energies and
the methods are scale-free. Estimates are Hodges–Lehmann, intervals and p-values come from the
Wilcoxon signed-rank test (paired rounds) or the Mann–Whitney test (unpaired runs), with their
exact null distributions for small samples (Hollander & Wolfe, *Nonparametric Statistical
Methods*, ch. 3–4; Hodges & Lehmann 1963). Multiple workloads are controlled with Holm (1979).

Standard library only: the CLI imports this module and must start fast, so no numpy/scipy.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate

from ..domain import DEFAULT_INTERVAL, Change, Looks

EXACT_MAX_N = 50  # paired rounds up to which the signed-rank distribution is exact
EXACT_MAX_MN = 2500  # m*n up to which the Mann–Whitney distribution is exact
POWER = 0.80  # power the minimum detectable change is quoted at
ZERO_ENERGY = "zero energy samples"  # marker in `Change.method` that `classify` reports

_MAD_TO_SD = 1.4826  # makes the MAD a consistent estimate of a normal standard deviation
_DECIMALS = 12  # log-energies are rounded so that float noise does not break ties or zeros
_SLACK = 1e-12  # 1 - 0.95 is 0.05000000000000004 in floating point; don't let that flip a bound
_NORMAL = statistics.NormalDist()


# --------------------------------------------------------------------------- public API


def paired_change(head: Sequence[float], base: Sequence[float], confidence: float = 0.95) -> Change:
    """Ratio of paired rounds (head_i and base_i run back to back): Hodges–Lehmann + Wilcoxon signed-rank."""
    _alpha(confidence)
    h, b = _floats(head, base)
    if len(h) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(h)} head and {len(b)} base runs")
    n = len(h)
    if why := _unusable(h, b):
        return _not_computable(h, b, True, confidence, why)
    # Per-round log-ratios: drift shared by both runs of a round cancels out.
    d = [round(math.log(x) - math.log(y), _DECIMALS) for x, y in zip(h, b)]
    walsh = sorted((d[i] + d[j]) / 2 for i in range(n) for j in range(i, n))
    kind = "exact" if n <= EXACT_MAX_N else "normal approximation"
    method = f"Hodges–Lehmann estimate, Wilcoxon signed-rank interval ({kind})"
    c = signed_rank_critical(n, confidence)
    if c is None:
        low, high, mde = 0.0, math.inf, math.inf
        method += (
            f"; interval unbounded: {_plural(n, 'round')} cannot reach {_pct_label(confidence)} confidence"
            f" (needs >= {min_repeats(confidence, paired=True)})"
        )
    else:
        # Hollander & Wolfe: the interval runs from the (c+1)-th smallest to the (c+1)-th largest Walsh average.
        low, high = _exp(walsh[c]), _exp(walsh[-1 - c])
        mde = paired_mde(_spread([d]), n, confidence)
    return _change(
        (_exp(statistics.median(walsh)), low, high), mde, (n, n), True, _signed_rank_p(d), confidence, method
    )


def unpaired_change(head: Sequence[float], base: Sequence[float], confidence: float = 0.95) -> Change:
    """Ratio of independent head and base runs: Hodges–Lehmann shift + Mann–Whitney interval."""
    _alpha(confidence)
    h, b = _floats(head, base)
    m, n = len(h), len(b)
    if why := _unusable(h, b):
        return _not_computable(h, b, False, confidence, why)
    x = [round(math.log(v), _DECIMALS) for v in h]
    y = [round(math.log(v), _DECIMALS) for v in b]
    diffs = sorted(a - c for a in x for c in y)
    kind = "exact" if m * n <= EXACT_MAX_MN else "normal approximation"
    method = f"Hodges–Lehmann shift, Mann–Whitney interval ({kind})"
    c = rank_sum_critical(m, n, confidence)
    if c is None:
        low, high, mde = 0.0, math.inf, math.inf
        need = min_repeats(confidence, paired=False)
        method += (
            f"; interval unbounded: {m} + {n} runs cannot reach {_pct_label(confidence)} confidence"
            f" (needs e.g. {need} + {need})"
        )
    else:
        low, high = _exp(diffs[c]), _exp(diffs[-1 - c])
        mde = unpaired_mde(_spread([x, y]), m, n, confidence)
    return _change(
        (_exp(statistics.median(diffs)), low, high), mde, (m, n), False, _rank_sum_p(x, y), confidence, method
    )


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm–Bonferroni step-down at family-wise level `alpha`; True = rejected, in input order."""
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    k = len(p_values)
    # NaN p-values sort last and are never rejected: "not computable" is not evidence.
    p = [x if not math.isnan(x) else math.inf for x in map(float, p_values)]
    rejected = [False] * k
    for rank, i in enumerate(sorted(range(k), key=p.__getitem__)):
        if p[i] > alpha / (k - rank):
            break  # step-down: once one hypothesis stands, all larger p-values stand too
        rejected[i] = True
    return rejected


def classify(change: Change, tolerance: float) -> tuple[str, str]:
    """(verdict, one-line reason): regression, improvement, inconclusive or unchanged."""
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite fraction >= 0, got {tolerance!r}")
    c = change
    tol = f"{tolerance * 100:g} %"
    if math.isnan(c.ratio):
        why = c.method.removeprefix("not computable: ")
        return "inconclusive", f"{why}: no energy ratio can be computed"
    est = _pct(c.ratio)
    if not (c.low > 0 and math.isfinite(c.high)):
        need = min_repeats(c.confidence, c.paired)
        runs = _plural(c.n_head, "paired round") if c.paired else f"{c.n_head} + {c.n_base} runs"
        needs = f"{need} paired rounds" if c.paired else f"{need} + {need} runs"
        return "inconclusive", (
            f"{est} from {runs}, but no {_pct_label(c.confidence)} interval is possible"
            f" with so few repeats (needs at least {needs})"
        )
    ci = f"({_pct_label(c.confidence)} CI {_pct(c.low)} … {_pct(c.high)})"
    if c.low > 1 and c.ratio - 1 > tolerance:
        return "regression", f"{est} {ci} exceeds the {tol} tolerance"
    if c.high < 1 and 1 - c.ratio > tolerance:
        return "improvement", f"{est} {ci} is an improvement beyond the {tol} tolerance"
    # `unchanged` is an equivalence decision: the whole interval inside +-tolerance, not just "not significant".
    if c.high > 1 + tolerance or c.low < 1 - tolerance:
        side = "a regression" if c.high > 1 + tolerance else "an improvement"
        if c.high > 1 + tolerance and c.low < 1 - tolerance:
            side = "a change either way"
        mde = f"; this run can only detect changes of about {c.mde * 100:.1f} %" if math.isfinite(c.mde) else ""
        return "inconclusive", f"{est} {ci} cannot rule out {side} beyond the {tol} tolerance{mde}"
    if c.low > 1:
        return "unchanged", f"{est} {ci} is a real increase but within the {tol} tolerance"
    if c.high < 1:
        return "unchanged", f"{est} {ci} is a real decrease but within the {tol} tolerance"
    return "unchanged", f"{est} {ci}: no significant change, nothing beyond the {tol} tolerance"


def paired_mde(spread: float, n: int, confidence: float = 0.95, power: float = POWER) -> float:
    """Smallest relative change `n` paired rounds detect with `power`, given the log-ratio spread."""
    alpha = _alpha(confidence)
    if n < 2 or signed_rank_critical(n, confidence) is None or not math.isfinite(spread):
        return math.inf
    if spread <= 0:
        return 0.0
    # Student-t quantiles (df = n-1) instead of normal ones: the spread is itself estimated.
    q = student_t_quantile(1 - alpha / 2, n - 1) + student_t_quantile(power, n - 1)
    return _exp(q * spread * math.sqrt(1 / n)) - 1


def unpaired_mde(spread: float, m: int, n: int, confidence: float = 0.95, power: float = POWER) -> float:
    """Smallest relative change `m` head and `n` base runs detect with `power`, given the log-energy spread."""
    alpha = _alpha(confidence)
    if m < 1 or n < 1 or m + n < 3 or rank_sum_critical(m, n, confidence) is None or not math.isfinite(spread):
        return math.inf
    if spread <= 0:
        return 0.0
    df = m + n - 2
    q = student_t_quantile(1 - alpha / 2, df) + student_t_quantile(power, df)
    return _exp(q * spread * math.sqrt(1 / m + 1 / n)) - 1


def min_repeats(confidence: float = 0.95, paired: bool = True, family: int = 1) -> int:
    """Fewest paired rounds (or runs per side, unpaired) for which a bounded interval exists and, with
    `family` workloads under Holm, the smallest attainable p-value survives the correction.

    Rank tests are discrete: n paired rounds can never give p below 2 / 2**n, so with k workloads
    Holm's first threshold alpha / k is out of reach below some n, however clear the regression.
    """
    for n in range(1, 1000):
        if _decidable(n, n, confidence, paired, family):
            return n
    raise ValueError(f"confidence {confidence!r} is unreachable")  # only for absurd confidences


def min_head_runs(n_base: int, confidence: float = 0.95, family: int = 1, limit: int = 1000) -> int | None:
    """Unpaired: fewest head runs that, against `n_base` stored base runs, bound the interval and can
    survive Holm across `family` workloads; None if more than `limit` would be needed (or n_base < 1)."""
    if n_base < 1:
        return None
    for m in range(1, limit + 1):
        if _decidable(m, n_base, confidence, False, family):
            return m
    return None


def smallest_p(n_head: int, n_base: int, paired: bool) -> float:
    """The smallest two-sided p-value these sample sizes can produce: every round (paired) or every
    head run (unpaired) above its base. Exact: 2 / 2**n paired, 2 / C(m+n, n) unpaired (small n)."""
    if n_head < 1 or n_base < 1:
        return 1.0
    # Closed forms of what _signed_rank_p / _rank_sum_p return for such samples (tests check they agree).
    if paired:
        n = n_head
        if n <= EXACT_MAX_N:
            outcomes: int = 2**n  # typeshed types int ** int as Any (a negative exponent gives a float)
            return min(1.0, 2 / outcomes)
        z = (n * (n + 1) / 2 - 1) / math.sqrt(n * (n + 1) * (2 * n + 1) / 6)  # doubled ranks, as there
        return min(1.0, 2 * _NORMAL.cdf(-z))
    m, n = n_head, n_base
    if m * n <= EXACT_MAX_MN:
        return min(1.0, 2 / math.comb(m + n, m))
    z = (m * n / 2 - 0.5) / math.sqrt(m * n * (m + n + 1) / 12)
    return min(1.0, 2 * _NORMAL.cdf(-z))


def survives_holm(m: int, n: int, paired: bool, family: int, confidence: float = 0.95) -> bool:
    """Can these sample sizes ever fail the gate in a Holm family of `family` workloads? True when
    `family` equally extreme p-values, the smallest `m` head and `n` base runs can give (`smallest_p`),
    would all be rejected at family-wise level 1 - `confidence`."""
    _check_family(family)
    return all(holm([smallest_p(m, n, paired)] * family, _alpha(confidence)))


def signed_rank_critical(n: int, confidence: float = 0.95) -> int | None:
    """Largest c with P(T+ <= c) <= alpha/2 under H0 (two-sided); None if even c = 0 is too likely."""
    alpha = _alpha(confidence)
    if n < 1:
        return None
    if n <= EXACT_MAX_N:
        c = bisect_right(_signed_rank_cdf(n), (alpha / 2 + _SLACK) * 2**n) - 1
        return c if c >= 0 else None
    mean, sd = n * (n + 1) / 4, math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    return _normal_critical(mean, sd, alpha)


def rank_sum_critical(m: int, n: int, confidence: float = 0.95) -> int | None:
    """Largest c with P(U <= c) <= alpha/2 under H0 (two-sided); None if even c = 0 is too likely."""
    alpha = _alpha(confidence)
    if m < 1 or n < 1:
        return None
    if m * n <= EXACT_MAX_MN:
        cdf = _rank_sum_cdf(min(m, n), max(m, n))
        c = bisect_right(cdf, (alpha / 2 + _SLACK) * cdf[-1]) - 1
        return c if c >= 0 else None
    mean, sd = m * n / 2, math.sqrt(m * n * (m + n + 1) / 12)
    return _normal_critical(mean, sd, alpha)


def student_t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t with `df` degrees of freedom (normal for huge df)."""
    if not 0 < p < 1 or not df > 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p!r}, df={df!r}")
    return _t_quantile(float(p), float(df))


# --------------------------------------------------------------------------- helpers


def _decidable(m: int, n: int, confidence: float, paired: bool, family: int) -> bool:
    """A bounded interval exists and `family` equally extreme p-values would all be rejected by Holm."""
    _check_family(family)  # first, so a bad family is an error even where no interval exists
    if (signed_rank_critical(m, confidence) if paired else rank_sum_critical(m, n, confidence)) is None:
        return False
    return survives_holm(m, n, paired, family, confidence)


def _check_family(family: int) -> None:
    if not (isinstance(family, int) and family >= 1):
        raise ValueError(f"family must be a whole number of workloads >= 1, got {family!r}")


def _alpha(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return 1 - confidence


def _floats(head: Sequence[float], base: Sequence[float]) -> tuple[list[float], list[float]]:
    h, b = [float(x) for x in head], [float(x) for x in base]
    if not h or not b:
        raise ValueError("head and base need at least one energy sample each")
    return h, b


def _unusable(h: list[float], b: list[float]) -> str | None:
    """Why logs cannot be taken, or None. A 0 Wh run is a broken measurement, not data to drop."""
    total = len(h) + len(b)
    if k := sum(not math.isfinite(x) for x in h + b):
        return f"non-finite energy samples ({k} of {total} runs)"
    if k := sum(x <= 0 for x in h + b):
        return f"{ZERO_ENERGY} ({k} of {total} runs <= 0 Wh)"
    return None


def _not_computable(h: list[float], b: list[float], paired: bool, confidence: float, why: str) -> Change:
    return _change(
        (math.nan, 0.0, math.inf), math.inf, (len(h), len(b)), paired, 1.0, confidence, f"not computable: {why}"
    )


def _change(
    ratio_low_high: tuple[float, float, float],
    mde: float,
    n_head_base: tuple[int, int],
    paired: bool,
    p_value: float,
    confidence: float,
    method: str,
) -> Change:
    """One place that builds a Change, so each test above states its figures in one line."""
    (ratio, low, high), (n_head, n_base) = ratio_low_high, n_head_base
    # fmt: off
    return Change(ratio=ratio, low=low, high=high, confidence=confidence, mde=mde,
                  n_head=n_head, n_base=n_base, paired=paired, p_value=p_value, method=method)
    # fmt: on


def _exp(x: float) -> float:
    return math.exp(x) if x < 709 else math.inf  # never raise OverflowError on absurd ratios


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f} %"


def _pct_label(confidence: float) -> str:
    return f"{confidence * 100:g} %"


def _spread(groups: list[list[float]]) -> float:
    """Robust pooled spread of values around their own group's median: MAD*1.4826, else the SD."""
    resid = [v - statistics.median(g) for g in groups for v in g]
    mad = _MAD_TO_SD * statistics.median(abs(r) for r in resid)
    if mad > 0:
        return mad
    # MAD is 0 when over half the values coincide; the SD still sees the rest of the noise.
    df = len(resid) - len(groups)
    if df <= 0:
        return 0.0
    ss = sum((v - statistics.fmean(g)) ** 2 for g in groups for v in g)
    return math.sqrt(ss / df)


def _normal_critical(mean: float, sd: float, alpha: float) -> int | None:
    # Continuity-corrected: P(S <= c) ~ Phi((c + 0.5 - mean) / sd) <= alpha/2.
    c = math.floor(mean - 0.5 - _NORMAL.inv_cdf(1 - alpha / 2) * sd)
    return c if c >= 0 else None


def _doubled_midranks(values: list[float]) -> list[int]:
    """2 x the midrank of each value (1-based); doubling keeps tied ranks integral for exact counting."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = i + j + 2
        i = j + 1
    return ranks


@lru_cache(maxsize=64)
def _signed_rank_cdf(n: int) -> tuple[int, ...]:
    """Cumulative counts of sign patterns with T+ <= t (no ties), t = 0..n(n+1)/2; total 2**n."""
    return tuple(accumulate(_subset_sum_counts(tuple(range(1, n + 1)))))


@lru_cache(maxsize=256)
def _subset_sum_counts(weights: tuple[int, ...]) -> list[int]:
    """counts[s] = number of subsets of `weights` summing to s (the signed-rank null, by DP)."""
    counts = [1] + [0] * sum(weights)
    top = 0
    for w in weights:
        top += w
        for s in range(top, w - 1, -1):
            counts[s] += counts[s - w]
    return counts


@lru_cache(maxsize=256)
def _rank_sum_cdf(m: int, n: int) -> tuple[int, ...]:
    """Cumulative counts of arrangements with U <= u (no ties), u = 0..mn; total C(m+n, m).

    The counts are the coefficients of the Gaussian binomial [m+n choose m]_q, built as
    prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i); each step is an exact polynomial division, O(m * mn).
    """
    size = m * n + m + 1
    c = [1] + [0] * (size - 1)
    for i in range(1, m + 1):
        a = n + i
        for k in range(size - 1, a - 1, -1):
            c[k] -= c[k - a]
        for k in range(i, size):
            c[k] += c[k - i]
    return tuple(accumulate(c[: m * n + 1]))


def _signed_rank_p(d: list[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value; zeros dropped (Wilcoxon), ties get midranks.

    Exact for up to EXACT_MAX_N non-zero differences, ties included (the DP runs on doubled
    midranks, so it is the exact conditional null distribution); normal approximation above.
    """
    nz = [x for x in d if x != 0.0]
    if not nz:
        return 1.0
    r2 = _doubled_midranks([abs(x) for x in nz])
    t2 = sum(r for r, x in zip(r2, nz) if x > 0)
    if len(nz) <= EXACT_MAX_N:
        counts = _subset_sum_counts(tuple(sorted(r2)))
        lower, upper = sum(counts[: t2 + 1]), sum(counts[t2:])
        outcomes: int = 2 ** len(nz)  # int, as above
        return min(1.0, 2 * min(lower, upper) / outcomes)
    mean, var = sum(r2) / 2, sum(r * r for r in r2) / 4  # includes the tie correction
    z = max(0.0, (abs(t2 - mean) - 1) / math.sqrt(var))  # continuity: half a rank = 1 doubled unit
    return min(1.0, 2 * _NORMAL.cdf(-z))


def _rank_sum_p(x: list[float], y: list[float]) -> float:
    """Two-sided Mann–Whitney p-value: exact without ties for small m*n, else normal with tie correction."""
    m, n = len(x), len(y)
    big = m + n
    r2 = _doubled_midranks(x + y)
    u2 = sum(r2[:m]) - m * (m + 1)  # 2U, U = #(head > base) + ties/2
    distinct = len(set(x + y))
    if distinct == big and m * n <= EXACT_MAX_MN:
        cdf = _rank_sum_cdf(min(m, n), max(m, n))
        u = u2 // 2
        lower, upper = cdf[u], cdf[-1] - (cdf[u - 1] if u > 0 else 0)
        return min(1.0, 2 * min(lower, upper) / cdf[-1])
    ties = sum(t**3 - t for t in _tie_sizes(x + y))
    var = m * n / 12 * ((big + 1) - ties / (big * (big - 1)))
    if var <= 0:
        return 1.0  # every value tied: no evidence either way
    z = max(0.0, (abs(u2 / 2 - m * n / 2) - 0.5) / math.sqrt(var))
    return min(1.0, 2 * _NORMAL.cdf(-z))


def _tie_sizes(values: list[float]) -> list[int]:
    seen: dict[float, int] = {}
    for v in values:
        seen[v] = seen.get(v, 0) + 1
    return list(seen.values())


@lru_cache(maxsize=1024)
def _t_quantile(p: float, df: float) -> float:
    if df > 1e7:
        return _NORMAL.inv_cdf(p)
    if p < 0.5:
        return -_t_quantile(1 - p, df)
    if p == 0.5:
        return 0.0
    # Bisection on the CDF: slow-ish but robust for every df, and cached (few distinct (p, df) pairs).
    lo, hi = 0.0, max(1.0, 2 * _NORMAL.inv_cdf(p))
    while _t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if _t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * hi:
            break
    return (lo + hi) / 2


def _t_cdf(t: float, df: float) -> float:
    """P(T <= t) for t >= 0, via the regularized incomplete beta function."""
    return 1 - 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes §6.4)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    # The continued fraction converges fast only on this side of the mean; use symmetry otherwise.
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


# --------------------------------------------------------------------------- sequential rounds

INTERVALS = ("trimmed-t", "t", "signed-rank")  # interval methods a sequential gate can use
TRIM = 0.1  # fraction trimmed from each end: 20 % (Wilcox's default) was 25 % liberal at n <= 30 here
_LOOK_GROWTH = 1.25  # each look adds a quarter more rounds: few looks, so the union bound costs little


def plan_looks(first: int, max_rounds: int, alpha: float) -> Looks:
    """Looks at `first` rounds, then about 25 % more each time, up to `max_rounds`; alpha spent with the
    Lan–DeMets Pocock-type function alpha * ln(1 + (e - 1) t), t = rounds / max_rounds (Lan & DeMets 1983)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    first = max(2, first)
    max_rounds = max(first, max_rounds)
    rounds = [first]
    while rounds[-1] < max_rounds:
        rounds.append(min(max_rounds, max(rounds[-1] + 2, math.ceil(rounds[-1] * _LOOK_GROWTH))))
    if len(rounds) >= 3 and rounds[-1] - rounds[-2] < (rounds[-2] - rounds[-3]) / 2:
        del rounds[-2]  # a last look only a few rounds after the one before would get almost no alpha
    spent = [alpha * math.log(1 + (math.e - 1) * r / max_rounds) for r in rounds]
    return Looks(tuple(rounds), tuple(b - a for a, b in zip([0.0, *spent], spent)))


def sequential_change(
    head: Sequence[float], base: Sequence[float], looks: Looks, method: str = DEFAULT_INTERVAL
) -> Change:
    """The paired change after len(head) rounds of a sequential gate that looked as `looks` plans.

    The interval is the current look's (level 1 - alpha_k); the p-value is the sequential one,
    min over the looks so far of p_j * alpha / alpha_j (a weighted Bonferroni p-value), so Holm across
    workloads stays valid: a look that decides `regression` has p_seq <= alpha."""
    if method not in INTERVALS:
        raise ValueError(f"unknown interval method {method!r}; expected one of {', '.join(INTERVALS)}")
    h, b = _floats(head, base)
    if len(h) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(h)} head and {len(b)} base runs")
    overall = looks.alpha
    if why := _unusable(h, b):
        return _not_computable(h, b, True, 1 - overall, why)
    d = [round(math.log(x) - math.log(y), _DECIMALS) for x, y in zip(h, b)]
    n = len(d)
    k = looks.index(n)
    est, low, high, p, se, df = _interval(d, looks.alphas[k], method)
    p_seq = min(1.0, p * overall / looks.alphas[k])
    for j in range(k):  # earlier looks taken on a prefix of these rounds
        if looks.rounds[j] <= n:
            p_seq = min(p_seq, _interval(d[: looks.rounds[j]], looks.alphas[j], method)[3] * overall / looks.alphas[j])
    mde = math.inf
    if math.isfinite(se) and df > 0:
        q = student_t_quantile(1 - looks.alphas[k] / 2, df) + student_t_quantile(POWER, df)
        mde = _exp(q * se) - 1
    label = {
        "trimmed-t": f"{TRIM:.0%}-trimmed mean of log-ratios, Tukey–McLaughlin t interval",
        "t": "mean of log-ratios, Student t interval",
        "signed-rank": "Hodges–Lehmann estimate, Wilcoxon signed-rank interval",
    }[method]
    text = (
        f"{label}; look {k + 1} of {len(looks.rounds)} planned at {n} rounds, "
        f"{_pct_label(1 - looks.alphas[k])} interval (alpha spent by Lan–DeMets Pocock-type spending, "
        f"Bonferroni over looks: a {_pct_label(1 - overall)} confidence sequence)"
    )
    return _change((_exp(est), _exp(low), _exp(high)), mde, (n, n), True, p_seq, 1 - overall, text)


def decided(verdict: str) -> bool:
    """A sequential gate stops on these verdicts; `inconclusive` asks for more rounds."""
    return verdict in ("regression", "improvement", "unchanged")


def _interval(d: list[float], alpha: float, method: str) -> tuple[float, float, float, float, float, int]:
    """(estimate, low, high, two-sided p, standard error for the MDE, df) of the log-ratios `d`."""
    n = len(d)
    if method == "signed-rank":
        walsh = sorted((d[i] + d[j]) / 2 for i in range(n) for j in range(i, n))
        c = signed_rank_critical(n, 1 - alpha)
        low, high = (-math.inf, math.inf) if c is None else (walsh[c], walsh[-1 - c])
        se = _spread([d]) / math.sqrt(n) if n > 1 else math.inf
        return statistics.median(walsh), low, high, _signed_rank_p(d), se, n - 1
    g = math.floor(TRIM * n) if method == "trimmed-t" else 0
    kept = n - 2 * g
    if kept < 2:
        return statistics.fmean(d), -math.inf, math.inf, 1.0, math.inf, 0
    s = sorted(d)
    mean = math.fsum(s[g : n - g]) / kept
    # Winsorized variance: the trimmed values replaced by the nearest kept ones (Tukey & McLaughlin 1963).
    w = [s[g]] * g + s[g : n - g] + [s[n - g - 1]] * g
    wm = math.fsum(w) / n  # plain floats: statistics.stdev's exact fractions are 10x slower here
    se = math.sqrt(math.fsum((x - wm) ** 2 for x in w) / (n - 1)) / ((1 - 2 * g / n) * math.sqrt(n))
    df = kept - 1
    if se == 0:
        p = 1.0 if mean == 0 else 0.0
        return mean, mean, mean, p, 0.0, df
    half = student_t_quantile(1 - alpha / 2, df) * se
    p = 2 * (1 - _t_cdf(abs(mean) / se, df))
    return mean, mean - half, mean + half, min(1.0, max(0.0, p)), se, df
