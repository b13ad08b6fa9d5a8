"""The typed settings a `carbon-gate.yml` becomes: plain records, importing nothing of the pipeline.

They live outside the `config` package, below the meters that take them, so importing a record never runs the
loader or the validator (which read the meters' CPU profiles). `carbon_gate.config` re-exports them;
docs/configuration.md documents every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# The defaults with more than one reader, and EnvironmentSettings, live in domain (the lowest layer, which
# render and replay read without importing config); re-exported here beside the other config records.
from .domain import DEFAULT_FAIL_ON
from .domain import DEFAULT_HISTORY as DEFAULT_HISTORY
from .domain import DEFAULT_PREPUSH_REPEATS as DEFAULT_PREPUSH_REPEATS
from .domain import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE
from .domain import EnvironmentSettings as EnvironmentSettings
from .intensity import CarbonAware


@dataclass(frozen=True)
class MeterSettings:
    """The `machine:` section of the config (and the matching CLI options)."""

    profile: str = "auto"
    host_threads: int | None = None
    sockets: int | None = None  # None: detected
    attribution: Literal["process", "machine"] = "process"
    rapl: Literal["auto", "off"] = "auto"
    dram: bool = False
    gpu: Literal["auto", "off"] = "auto"
    embodied: Literal["auto", "off"] = "auto"
    powercap_root: str | None = None


@dataclass(frozen=True)
class Budget:
    """A workload's `budget:`: absolute limits on its median run (None: no limit)."""

    energy_wh: float | None = None
    co2e_g: float | None = None
    per_unit_energy_wh: float | None = None
    per_unit_co2e_g: float | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False)
    projected_energy_wh: float | None = None
    projected_co2e_g: float | None = None

    def limits(self) -> dict[str, float]:
        """The limits that are set, by name."""
        all_ = {
            "energy": self.energy_wh,
            "co2e": self.co2e_g,
            "per_unit.energy": self.per_unit_energy_wh,
            "per_unit.co2e": self.per_unit_co2e_g,
            "projected.energy": self.projected_energy_wh,
            "projected.co2e": self.projected_co2e_g,
        }
        return {k: v for k, v in all_.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class Workload:
    """One entry of `workloads:`, with the defaults filled in."""

    name: str
    command: str | tuple[str, ...]
    cwd: str  # relative to the tree the workload runs in (the config file's directory)
    env: dict[str, str]
    repeats: int
    warmup: int
    timeout_s: float
    tolerance: float
    unit_name: str
    unit_count: float | None  # None: the workload must report its units
    budget: Budget
    paths: tuple[str, ...]
    line: int | None
    estimate: dict[str, Any] | None = None
    codecarbon_csv: str | None = None
    extrapolate_to: float | None = None
    energy_per_point: tuple[str, ...] = ()  # metrics to divide the energy by, in the report
    max_rounds: int = 60  # paired mode: rounds at most (sequential gate)
    max_time_s: float = 60.0  # paired mode: seconds at most for the workload's warm-ups and rounds

    @property
    def kind(self) -> Literal["estimate", "codecarbon", "command"]:
        return "estimate" if self.estimate else ("codecarbon" if self.codecarbon_csv else "command")

    def workdir(self, root: Path) -> Path:
        """The directory the command runs in, for a tree rooted at `root`."""
        return root / self.cwd

    def command_text(self) -> str:
        """The command as a person would type it (or what stands in for one)."""
        import shlex

        if self.estimate:
            return "estimate: " + ", ".join(
                f"{k}={v:g} W" if k == "avg_power" else f"{k}={v}" for k, v in self.estimate.items()
            )
        if self.codecarbon_csv:
            return f"import CodeCarbon {self.codecarbon_csv}"
        return self.command if isinstance(self.command, str) else shlex.join(self.command)


@dataclass(frozen=True, kw_only=True)
class GridSettings:
    """The `grid:` section: the pinned intensity, PUE/WUE and the live provider's settings."""

    country: str | None = None
    intensity: float | None = None
    source: str | None = None
    pue: float = 1.0
    live: Literal["none", "electricitymaps", "uk", "watttime"] = "none"
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # key -> line, for errors found later
    carbon_aware: CarbonAware = field(default_factory=CarbonAware)
    wue: float | None = None  # L/kWh; None: water is not counted


@dataclass(frozen=True, kw_only=True)
class BaselineSettings:
    """The `baseline:` section: what a run is compared with."""

    mode: Literal["auto", "paired", "stored", "none"] = "auto"
    file: Path = Path(".carbon-gate/baseline.json")
    setup: str | tuple[str, ...] | None = None
    history: int = DEFAULT_HISTORY
    seed: int | None = None
    pairing: Literal["auto", "sequential", "duet"] = "auto"


@dataclass(frozen=True)
class GateSettings:
    """The `gate:` section: which verdicts fail, at what confidence, with which family-wise control."""

    fail_on: tuple[str, ...] = DEFAULT_FAIL_ON
    confidence: float = 0.95
    family: Literal["holm", "none"] = "holm"


@dataclass(frozen=True)
class PrepushSettings:
    """The `prepush:` section: the quicker profile of `carbon-gate check --pre-push`."""

    repeats: int = DEFAULT_PREPUSH_REPEATS
    warmup: int = 0


@dataclass(frozen=True, kw_only=True)
class Config:
    """A whole, validated `carbon-gate.yml`."""

    path: Path
    version: int
    grid: GridSettings
    machine: MeterSettings
    baseline: BaselineSettings
    gate: GateSettings
    workloads: tuple[Workload, ...]
    prepush: PrepushSettings = PrepushSettings()
    environment: EnvironmentSettings = field(default_factory=EnvironmentSettings)

    @property
    def root(self) -> Path:
        """The config file's directory: workloads' `cwd` and the baseline file are relative to it."""
        return self.path.parent
