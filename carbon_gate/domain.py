"""The small typed records that flow through the pipeline and into the results JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

MEASURED, MODELLED, DEFAULTED = "measured", "modelled", "defaulted"


@dataclass(frozen=True)
class Energy:
    """Energy of one component (cpu, memory, gpu) in one run, and how it was obtained."""

    component: str
    wh: float
    method: str  # measured | modelled | defaulted
    reason: str
    source: str = ""

    def to_dict(self) -> dict:
        # Full float precision (JSON floats round-trip exactly): `compare` and `baseline update` must see
        # the very numbers the run's statistics used. Rounding to fixed decimals of a Wh truncated small
        # workloads (1e-6 Wh kept 3 digits) and made `compare` disagree with the run.
        # Field by field, not dataclasses.asdict (which deep-copies): merging big suites serialises
        # hundreds of thousands of these (benchmarks/merge.py).
        return {"component": self.component, "wh": float(self.wh), "method": self.method, "reason": self.reason,
                "source": self.source}


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

    def to_dict(self) -> dict:
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
    def from_dict(d: dict) -> "Sample":
        known = {k: v for k, v in d.items() if k in Sample.__dataclass_fields__}
        known["energy"] = [Energy(**e) for e in d.get("energy", [])]
        known["notes"] = list(d.get("notes", []))
        known["metrics"] = dict(d.get("metrics") or {})
        return Sample(**known)


_SAMPLE_FIELDS = tuple(f.name for f in fields(Sample))
