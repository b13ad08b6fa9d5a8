"""The small typed records that flow through the pipeline and into the results JSON.

The lowest layer of the package (tests/test_layers.py): it imports nothing of carbon_gate but `units`, so every
stage (measure, account, assess, render, publish) can share these records without importing each other.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final, Literal

from .units import format_energy, format_mass

Method = Literal["measured", "modelled", "defaulted"]  # how a component's energy was obtained
MEASURED: Final = "measured"
MODELLED: Final = "modelled"
DEFAULTED: Final = "defaulted"

# The config's defaults that other stages need too (a results file without a `gate`, a replayed workload without
# a tolerance): one home each, documented in docs/configuration.md.
DEFAULT_TOLERANCE = 0.05  # workloads' `tolerance`: a change within ±5 % is `unchanged`
DEFAULT_FAIL_ON = ("regression", "over-budget")  # `gate.fail_on`
DEFAULT_HISTORY = 100  # `baseline.history`: entries kept per workload in the baseline file
DEFAULT_PREPUSH_REPEATS = 6  # `prepush.repeats`: paired rounds before a push


@dataclass(frozen=True)
class Energy:
    """Energy of one component (cpu, memory, gpu) in one run, and how it was obtained."""

    component: str
    wh: float
    method: Method
    reason: str
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Full float precision (JSON floats round-trip exactly): `compare` and `baseline update` must see
        # the very numbers the run's statistics used. Rounding to fixed decimals of a Wh truncated small
        # workloads (1e-6 Wh kept 3 digits) and made `compare` disagree with the run.
        # Field by field, not dataclasses.asdict (which deep-copies): merging big suites serialises
        # hundreds of thousands of these (benchmarks/merge.py).
        return {
            "component": self.component,
            "wh": float(self.wh),
            "method": self.method,
            "reason": self.reason,
            "source": self.source,
        }


@dataclass
class Sample:
    """One run of a workload: wall time, exact CPU-seconds, RSS, energy per component, exit code."""

    wall_s: float
    cpu_s: float
    exit_code: int
    energy: list[Energy]
    rss_peak_mb: float = 0.0
    rss_avg_mb: float = 0.0
    overhead_cpu_s: float = 0.0
    started_at: str = ""
    timed_out: bool = False
    error: str | None = None  # why the run failed (not found, timeout, non-zero exit)
    stderr_tail: str = ""
    warmup: bool = False
    units: float | None = None  # functional units the workload reported
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # quality metrics the workload reported
    run_id: str | None = None  # an imported row's own id (CodeCarbon's run_id), kept for the CSV export
    tracking_mode: str | None = None  # an imported row's CodeCarbon tracking_mode (machine | process)

    @property
    def energy_wh(self) -> float:
        """Total energy of the run over all components."""
        return sum(e.wh for e in self.energy)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in _SAMPLE_FIELDS}  # shallow: asdict's deep copy cost 70 % of a merge
        d["energy"] = [e.to_dict() for e in self.energy]
        d["notes"], d["metrics"] = list(self.notes), dict(self.metrics)
        d["energy_wh"] = self.energy_wh  # unrounded, like the components: it is what the statistics use
        for k in ("wall_s", "cpu_s", "overhead_cpu_s"):
            d[k] = round(d[k], 6)
        for k in ("rss_peak_mb", "rss_avg_mb"):
            d[k] = round(d[k], 3)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Sample:
        known = {k: v for k, v in d.items() if k in Sample.__dataclass_fields__}
        known["energy"] = [Energy(**e) for e in d.get("energy", [])]
        known["notes"] = list(d.get("notes", []))
        known["metrics"] = dict(d.get("metrics") or {})
        return Sample(**known)


_SAMPLE_FIELDS = tuple(f.name for f in fields(Sample))


@dataclass(frozen=True)
class Embodied:
    """Embodied emissions of the host and the share of it this job reserves (SCI's M)."""

    total_g: float
    lifetime_s: float
    share: float
    source: str


# Fingerprint fields that must match for two results to be compared directly (docs/methodology.md).
COMPARABLE_FIELDS = ("cpu_model", "logical_cpus", "gpus", "cpu_method", "profile")


@dataclass(frozen=True, kw_only=True)
class Fingerprint:
    """What travels with every result so that only like is compared with like."""

    cpu_model: str
    logical_cpus: int
    ram_gb: float
    gpus: tuple[str, ...]
    os: str
    arch: str
    image_os: str | None
    image_version: str | None
    profile: str | None
    cpu_method: str
    methods: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gpus"] = list(self.gpus)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Fingerprint:
        return Fingerprint(
            cpu_model=d.get("cpu_model", ""),
            logical_cpus=int(d.get("logical_cpus", 0)),
            ram_gb=float(d.get("ram_gb", 0.0)),
            gpus=tuple(d.get("gpus", ())),
            os=d.get("os", ""),
            arch=d.get("arch", ""),
            image_os=d.get("image_os"),
            image_version=d.get("image_version"),
            profile=d.get("profile"),
            cpu_method=d.get("cpu_method", ""),
            methods=dict(d.get("methods", {})),
        )


def fingerprint_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Names of the comparable fields on which two fingerprints (as dicts) differ."""
    return [f for f in COMPARABLE_FIELDS if a.get(f) != b.get(f)]


@dataclass(frozen=True)
class EnvironmentSettings:
    """The config's `environment:` section: names (or globs) to pass on top of the defaults, and secrets."""

    passes: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Summary:
    """Statistics of a workload's counted runs: median, min, max and spread of total energy."""

    n: int
    median_wh: float
    min_wh: float
    max_wh: float
    spread: float  # (max - min) / median: the relative range
    cv: float  # standard deviation / mean
    median_wall_s: float
    median_cpu_s: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 9) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Summary:
        return Summary(**{f.name: d[f.name] for f in fields(Summary)})


BudgetUnit = Literal["Wh", "g"]


@dataclass(frozen=True)
class BudgetCheck:
    """One limit against its measured value."""

    limit: str  # energy | co2e | per_unit.energy | per_unit.co2e | projected.energy | projected.co2e
    allowed: float
    actual: float
    unit: BudgetUnit
    line: int | None = None

    @property
    def use(self) -> float:
        """Fraction of the budget used (1.0 = exactly at the limit)."""
        return self.actual / self.allowed if self.allowed > 0 else float("inf")

    @property
    def exceeded(self) -> bool:
        return self.actual > self.allowed

    def describe(self) -> str:
        fmt = format_energy if self.unit == "Wh" else format_mass
        per = {"per_unit": " per unit", "projected": " of the projected full run"}.get(self.limit.split(".")[0], "")
        what = "energy" if self.limit.endswith("energy") else "CO2e"
        over = self.actual - self.allowed
        if self.exceeded:
            value = "projection" if self.limit.startswith("projected") else "median"
            return (
                f"{what} budget{per} exceeded: {value} {fmt(self.actual)} > {fmt(self.allowed)} "
                f"(+{fmt(over)}, {self.use:.0%} of budget)"
            )
        return f"{what}{per} {fmt(self.actual)} within {fmt(self.allowed)} ({self.use:.0%} of budget)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "allowed": self.allowed,
            "actual": round(self.actual, 9),
            "unit": self.unit,
            "use_pct": round(self.use * 100, 2),
            "exceeded": self.exceeded,
        }


@dataclass(frozen=True, kw_only=True)
class Change:
    """The estimated head/base energy ratio of one workload, with its uncertainty."""

    ratio: float  # point estimate of head/base energy ratio (1.10 = +10 %)
    low: float  # lower bound of the confidence interval on the ratio (0.0 when unbounded)
    high: float  # upper bound (inf when unbounded)
    confidence: float  # e.g. 0.95
    mde: float  # minimum detectable change, relative (0.04 = 4 %), at 80 % power; inf if none
    n_head: int
    n_base: int
    paired: bool
    p_value: float  # two-sided, H0: ratio == 1; 1.0 when not computable
    method: str  # human-readable description of how the numbers were obtained

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: floats rounded to significant digits, inf/nan as None. The p-value is
        not rounded: Holm compares it with alpha / k, and 4 digits can round a p just above the
        threshold onto it (31 rounds, p = 0.0020004 -> 0.002 = 0.05 / 25)."""
        return {
            "ratio": _round(self.ratio, 6),
            "low": _round(self.low, 6),
            "high": _round(self.high, 6),
            "confidence": _round(self.confidence, 6),
            "mde": _round(self.mde, 4),
            "n_head": self.n_head,
            "n_base": self.n_base,
            "paired": self.paired,
            "p_value": float(self.p_value) if math.isfinite(self.p_value) else None,
            "method": self.method,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Change:
        """The inverse of to_dict (as far as its rounding allows): None stands for what JSON cannot hold."""

        def number(key: str, missing: float) -> float:
            value = d.get(key)
            return float(value) if value is not None else missing

        return Change(
            ratio=number("ratio", math.nan),
            low=number("low", math.nan),
            high=number("high", math.inf),
            confidence=number("confidence", math.nan),
            mde=number("mde", math.inf),
            n_head=int(d["n_head"]),
            n_base=int(d["n_base"]),
            paired=bool(d["paired"]),
            p_value=number("p_value", math.nan),
            method=str(d.get("method", "")),
        )


def _round(x: float, digits: int) -> float | None:
    # Significant digits rather than decimals: p-values can be 1e-9 and must not become 0.
    return float(f"{x:.{digits}g}") if math.isfinite(x) else None


DEFAULT_INTERVAL = "trimmed-t"  # chosen on recorded rounds (docs/statistics.md, "Which interval")


@dataclass(frozen=True)
class Looks:
    """A group-sequential plan: the round counts at which the gate looks, and the share of alpha it may
    spend at each (a Lan–DeMets spending function of the fraction of `max_rounds` reached).

    Each look's interval is built at level 1 - alpha_k; as the alpha_k sum to at most alpha, the chance
    that *any* look's interval misses the true ratio is at most alpha (Bonferroni), whatever the
    dependence between looks and whenever the gate stops. Stopping early only leaves alpha unspent."""

    rounds: tuple[int, ...]
    alphas: tuple[float, ...]

    @property
    def alpha(self) -> float:
        return sum(self.alphas)

    def index(self, n: int) -> int:
        """The look that `n` rounds use: the first planned look at or after n (a budget can run out
        between looks: then the next look's alpha is spent early, never more than planned)."""
        for k, r in enumerate(self.rounds):
            if n <= r:
                return k
        return len(self.rounds) - 1

    def to_dict(self) -> dict[str, Any]:
        # Full precision: `compare` rebuilds the plan from the results and must reproduce the interval exactly.
        return {"rounds": list(self.rounds), "alphas": list(self.alphas)}


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """What a workload's head runs are compared with."""

    mode: Literal["paired", "stored"]
    samples_wh: tuple[float, ...] = ()  # counted base energies; aligned by round when paired
    commit: str | None = None
    fingerprint: dict[str, Any] | None = None  # stored mode: the baseline's machine
    error: str | None = None  # the base side could not be measured (not the PR's fault)
    seed: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Paired rounds of a sequential gate: the planned looks, the interval method, runs per side per round.
    looks: Looks | None = None
    interval: str = DEFAULT_INTERVAL
    batch: int = 1

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.mode,
            "commit": self.commit,
            "n": len(self.samples_wh),
            "seed": self.seed,
            "error": self.error,
            "notes": list(self.notes),
        }
        if self.looks is not None:
            out.update(looks=self.looks.to_dict(), interval=self.interval, batch=self.batch)
        if self.mode == "stored":  # paired base runs travel as base_samples; stored ones only live here
            out.update(samples_wh=list(self.samples_wh), fingerprint=self.fingerprint)
        return out
