"""Read and validate `carbon-gate.yml` (DESIGN §3) into typed settings.

Every problem names the file, the line, the key, the bad value and what was expected. Unknown
keys are errors: a typo must not silently disable a budget. The same declarative spec that
validates the file also generates the JSON Schema shipped for editors (`carbon-gate schema`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import units
from .errors import ConfigError, ConfigProblem
from .intensity import LEGACY_LIVE, PROVIDERS, CarbonAware
from .meters.environ import EnvironmentSettings
from .meters.meter import MeterSettings

VERDICTS = ("regression", "over-budget", "inconclusive", "error", "improvement", "unchanged", "new")


# ---------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Key:
    """One key of the config: its kind, default, description, and children for objects."""

    kind: str  # string | integer | number | boolean | energy | mass | duration | percent | intensity | power | command | strings | env | choice | choices | object | workloads
    description: str
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    children: dict[str, "Key"] = field(default_factory=dict)
    minimum: float | None = None  # inclusive bounds
    maximum: float | None = None
    above: float | None = None  # exclusive bounds: 0 units or a 0 Wh budget make no sense
    below: float | None = None
    example: Any = None


# A budget of 0 can never be met (and would make "% of budget" infinite): leave the key out for no limit.
_BUDGET = {
    "energy": Key("energy", "Largest median energy per run.", example="40 Wh", above=0.0),
    "projected": Key("object", "Limits on the projected full run (with `extrapolate`) or the forecast (`estimate`).", children={
        "energy": Key("energy", "Largest projected energy of the full run.", example="2 MWh", above=0.0),
        "co2e": Key("mass", "Largest projected CO2e of the full run.", example="50 kg", above=0.0),
    }),
    "co2e": Key("mass", "Largest median CO2e per run (operational + embodied).", example="15 g", above=0.0),
    "per_unit": Key("object", "Limits per functional unit (SCI).", children={
        "energy": Key("energy", "Largest median energy per unit.", example="2 Wh", above=0.0),
        "co2e": Key("mass", "Largest SCI: CO2e per unit.", example="1 g", above=0.0),
    }),
}

# Live intensity, forecasts and shifting advice (docs/carbon-aware.md). No key can hold a URL or a
# key: the config picks a provider and names the variables that hold its credentials.
_CARBON_AWARE = {
    "provider": Key("choice", "Live grid intensity beside the pinned figure: reported, never gated unless gate_on is live.",
                    "none", choices=PROVIDERS),
    "zone": Key("string", "The provider's zone: uk-carbon-intensity national, a region id 1-17 or an outward postcode; "
                          "electricitymaps e.g. DE or US-CAL-CISO (default grid.country); watttime e.g. CAISO_NORTH.",
                example="DE"),
    "latitude": Key("number", "Instead of zone (electricitymaps): latitude.", minimum=-90.0, maximum=90.0),
    "longitude": Key("number", "Instead of zone (electricitymaps): longitude.", minimum=-180.0, maximum=180.0),
    "key_env": Key("string", "Name of the environment variable holding the provider's key (electricitymaps, default "
                             "ELECTRICITYMAPS_API_KEY) or password (watttime, default WATTTIME_PASSWORD); never the key.",
                   example="ELECTRICITYMAPS_API_KEY"),
    "user_env": Key("string", "Name of the environment variable holding the WattTime user name (default WATTTIME_USER).",
                    example="WATTTIME_USER"),
    "timeout": Key("duration", "Longest wait for the provider; on a timeout the pinned figure is used, with a note.", "5s",
                   above=0.0, maximum=60.0),
    "gate_on": Key("choice", "pinned: CO2e budgets use the pinned intensity (reproducible); live: they use the live "
                             "figure when there is one.", "pinned", choices=("pinned", "live")),
    "advice": Key("object", "Time and location shifting advice for big workloads.", children={
        "above": Key("energy", "Workloads (or their projected full run) using at least this much get a 'greener if' line.",
                     "1 kWh", above=0.0),
        "window": Key("duration", "How far ahead the report looks for a cleaner start.", "24h", above=0.0),
        "candidates": Key("strings", "Other zones or countries to compare (provider zones, else the annual dataset).",
                          example=["FR", "SE"]),
    }),
}
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")
_KEY_ENV_HINTS = ("ELECTRICITYMAPS", "ELECTRICITY_MAPS", "WATTTIME", "CARBON_GATE_")

_RUN_KEYS = {
    "repeats": Key("integer", "Measured runs per workload (statistics use their median).", 5, minimum=1),
    "warmup": Key("integer", "Runs before the measured ones; measured but not counted.", 1, minimum=0),
    "timeout": Key("duration", "Kill a run (and its whole process group) after this long.", "20m"),
    "tolerance": Key("percent", "Largest increase vs the baseline that still passes.", "5%"),
    "max_rounds": Key("integer", "Paired rounds at most: after the first `repeats`, rounds are added until the verdict "
                                 "is decided or this or `max_time` is reached.", 60, minimum=2),
    "max_time": Key("duration", "Time at most for one workload's paired rounds (warm-ups included; the first "
                                "`repeats` rounds always run).", "60s", above=0.0),
}

# Keys that were removed: a clear pointer to what replaced them instead of "unknown key".
_REMOVED = {
    "confirm": "was replaced by `max_rounds` and `max_time`: the gate now keeps adding paired rounds until the "
               "verdict is decided or a budget is spent (docs/statistics.md, 'Sequential rounds')",
}

# An estimate's size keys: meaningless with `hours`, which fixes the run's length (refused together).
ESTIMATE_SIZE_KEYS = ("params", "tokens", "moe_active_params", "mfu")

SPEC: dict[str, Key] = {
    "version": Key("integer", "Config format version (this carbon-gate reads version 1).", 1, required=True, minimum=1,
                   maximum=1),
    "grid": Key("object", "The pinned grid intensity used for CO2e.", children={
        "country": Key("string", "ISO-2, ISO-3 or English name; intensity from the packaged Ember/OWID dataset.", example="FR"),
        "intensity": Key("intensity", "A fixed intensity instead of a country.", example="472 g/kWh"),
        "source": Key("string", "Where a fixed intensity comes from (shown in reports)."),
        "pue": Key("number", "Data-centre power usage effectiveness multiplier.", 1.0, minimum=1.0),
        "wue": Key("number", "On-site water usage effectiveness, litres per kWh of facility energy; water is "
                             "counted only when set.", above=0.0, example=1.8),
        "live": Key("choice", "Older spelling of `provider` (uk = uk-carbon-intensity).", "none",
                    choices=("none", "electricitymaps", "uk", "watttime")),
        **_CARBON_AWARE,
    }),
    "machine": Key("object", "How energy is measured or modelled on this machine.", children={
        "profile": Key("string", "auto, a packaged runner profile name, or a path to a profile file.", "auto"),
        "host_threads": Key("integer", "Threads of the physical host, to scale a TDP in a VM.", minimum=1),
        "sockets": Key("integer", "CPU sockets of the host, whose TDPs add up (default: detected).", minimum=1),
        "attribution": Key("choice", "RAPL energy billed to the workload: by CPU share, or all of it.", "process",
                           choices=("process", "machine")),
        "rapl": Key("choice", "Use RAPL counters when readable.", "auto", choices=("auto", "off")),
        "dram": Key("boolean", "Also read the RAPL DRAM domain for memory.", False),
        "gpu": Key("choice", "Measure NVIDIA GPUs through NVML when present.", "auto", choices=("auto", "off")),
        "embodied": Key("choice", "Include embodied emissions (SCI's M) from the profile.", "auto", choices=("auto", "off")),
    }),
    "environment": Key("object", "What workloads and setup see of this process's environment (an allow-list).", children={
        "pass": Key("strings", "Variables (or globs) passed on top of the defaults (PATH, HOME, LANG, VIRTUAL_ENV, ...).",
                    example=["HF_HOME", "AWS_REGION"]),
        "secrets": Key("strings", "Variables (or globs) never passed, even when `pass` matches them.",
                       example=["HF_TOKEN"]),
    }),
    "defaults": Key("object", "Defaults for every workload.", children=dict(_RUN_KEYS)),
    "baseline": Key("object", "What a run is compared with.", children={
        "mode": Key("choice", "paired: base commit run interleaved; stored: the baseline file; auto: paired when a base is known.",
                    "auto", choices=("auto", "paired", "stored", "none")),
        "file": Key("string", "The committed baseline file.", ".carbon-gate/baseline.json"),
        "setup": Key("command", "Run once in each tree before measuring (paired mode); not measured.", example="pip install -e ."),
        "history": Key("integer", "Entries of history kept per workload in the baseline file.", 100, minimum=0),
        "seed": Key("integer", "Seed for the order of base and head within each round (random when unset)."),
        "pairing": Key("choice", "How a paired round runs base and head: one after the other (sequential), at the same "
                                 "time on separate CPUs (duet), or auto (see docs/statistics.md).", "auto",
                       choices=("auto", "sequential", "duet")),
    }),
    "gate": Key("object", "What fails the gate.", children={
        "fail_on": Key("choices", "Verdicts that fail the gate.", ["regression", "over-budget"], choices=VERDICTS),
        "confidence": Key("number", "Confidence level of the intervals.", 0.95, minimum=0.5, below=1.0),
        "family": Key("choice", "Family-wise error control across workloads.", "holm", choices=("holm", "none")),
    }),
    "prepush": Key("object", "The quicker profile of `carbon-gate check --pre-push` (and --quick).", children={
        "repeats": Key("integer", "Paired rounds per workload before a push (raised to the statistical minimum).", 6, minimum=1),
        "warmup": Key("integer", "Warm-up runs per side before a push.", 0, minimum=0),
    }),
    "workloads": Key("workloads", "The workloads to measure.", required=True, children={
        "name": Key("string", "Unique name.", required=True, example="train-small"),
        "command": Key("command", "A string (run by /bin/sh) or a list (exec'd directly). One of command, estimate, source.",
                       example="python train.py --epochs 1"),
        "estimate": Key("object", "Instead of a command: forecast a planned training run (see `carbon-gate estimate`).", children={
            "accelerator": Key("string", "Accelerator key, e.g. A100-80GB, H100-SXM, V100, TPUv4.", required=True, example="H100-SXM"),
            "count": Key("integer", "Number of accelerators.", required=True, minimum=1, example=64),
            "params": Key("number", "Model parameters.", above=0.0, example=7e9),
            "tokens": Key("number", "Training tokens.", above=0.0, example=1e12),
            "moe_active_params": Key("number", "Active parameters per token (mixture of experts); at most params.", above=0.0),
            "hours": Key("number", "Instead of params/tokens: the run's length in hours.", above=0.0),
            "mfu": Key("number", "Model FLOPs utilisation (default 0.4).", above=0.0, maximum=1.0),
            "avg_power": Key("power", "Average power per accelerator, e.g. '330 W' (default: TDP).", above=0.0, example="330 W"),
            "dtype": Key("string", "Which peak throughput to use (default: the accelerator's training dtype)."),
        }),
        "source": Key("object", "Instead of a command: import samples someone else measured.", children={
            "codecarbon_csv": Key("string", "A CodeCarbon emissions.csv (relative to the config file); each row is a sample.",
                                  required=True, example="emissions.csv"),
        }),
        "extrapolate": Key("object", "Project the full run from the measured per-unit energy.", children={
            "to": Key("number", "Units of the full run (e.g. 90 epochs).", required=True, above=0.0, example=90),
        }),
        "cwd": Key("string", "Working directory, relative to the config file's directory.", "."),
        "env": Key("env", "Extra environment variables for the command."),
        **_RUN_KEYS,
        "unit": Key("object", "The functional unit R for SCI.", children={
            "name": Key("string", "What one unit is.", "run", example="epoch"),
            "count": Key("number", "Units processed by one run; leave it out when the workload reports its units "
                                   "(carbon_gate.report_units or $CARBON_GATE_UNITS_FILE).", above=0.0),
        }),
        "budget": Key("object", "Absolute limits on the median run.", children=_BUDGET),
        "energy_per_point": Key("strings", "Quality metrics (reported with carbon_gate.report_metric) to show energy "
                                           "per point of: the median energy divided by the metric's median.",
                                example=["accuracy"]),
        "paths": Key("strings", "Globs: pre-push runs this workload only when they change.", example=["src/**"]),
    }),
}


# ---------------------------------------------------------------- the typed result


@dataclass(frozen=True)
class Budget:
    energy_wh: float | None = None
    co2e_g: float | None = None
    per_unit_energy_wh: float | None = None
    per_unit_co2e_g: float | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False)
    projected_energy_wh: float | None = None
    projected_co2e_g: float | None = None

    def limits(self) -> dict[str, float]:
        """The limits that are set, by name."""
        all_ = {"energy": self.energy_wh, "co2e": self.co2e_g, "per_unit.energy": self.per_unit_energy_wh,
                "per_unit.co2e": self.per_unit_co2e_g, "projected.energy": self.projected_energy_wh,
                "projected.co2e": self.projected_co2e_g}
        return {k: v for k, v in all_.items() if v is not None}


@dataclass(frozen=True)
class Workload:
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
    estimate: dict | None = None
    codecarbon_csv: str | None = None
    extrapolate_to: float | None = None
    energy_per_point: tuple[str, ...] = ()  # metrics to divide the energy by, in the report
    max_rounds: int = 60  # paired mode: rounds at most (sequential gate)
    max_time_s: float = 60.0  # paired mode: seconds at most for the workload's warm-ups and rounds

    @property
    def kind(self) -> str:
        return "estimate" if self.estimate else ("codecarbon" if self.codecarbon_csv else "command")

    def workdir(self, root: Path) -> Path:
        """The directory the command runs in, for a tree rooted at `root`."""
        return root / self.cwd

    def command_text(self) -> str:
        import shlex

        if self.estimate:
            return "estimate: " + ", ".join(f"{k}={v:g} W" if k == "avg_power" else f"{k}={v}" for k, v in self.estimate.items())
        if self.codecarbon_csv:
            return f"import CodeCarbon {self.codecarbon_csv}"
        return self.command if isinstance(self.command, str) else shlex.join(self.command)


@dataclass(frozen=True)
class GridSettings:
    country: str | None = None
    intensity: float | None = None
    source: str | None = None
    pue: float = 1.0
    live: str = "none"
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # key -> line, for errors found later
    carbon_aware: CarbonAware = CarbonAware()
    wue: float | None = None  # L/kWh; None: water is not counted


@dataclass(frozen=True)
class BaselineSettings:
    mode: str = "auto"
    file: Path = Path(".carbon-gate/baseline.json")
    setup: str | tuple[str, ...] | None = None
    history: int = 100
    seed: int | None = None
    pairing: str = "auto"


@dataclass(frozen=True)
class GateSettings:
    fail_on: tuple[str, ...] = ("regression", "over-budget")
    confidence: float = 0.95
    family: str = "holm"


@dataclass(frozen=True)
class PrepushSettings:
    repeats: int = 6
    warmup: int = 0


@dataclass(frozen=True)
class Config:
    path: Path
    version: int
    grid: GridSettings
    machine: MeterSettings
    baseline: BaselineSettings
    gate: GateSettings
    workloads: tuple[Workload, ...]
    prepush: PrepushSettings = PrepushSettings()
    environment: EnvironmentSettings = EnvironmentSettings()

    @property
    def root(self) -> Path:
        return self.path.parent


# ---------------------------------------------------------------- loading


def load(path: str | os.PathLike) -> Config:
    """Read, validate and type the config at `path`; raises ConfigError listing every problem."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(p), None, "", "file not found (create one, or pass -c PATH)")]) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError([ConfigProblem(str(p), None, "", f"cannot read: {getattr(exc, 'strerror', None) or exc}")]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([ConfigProblem(str(p), None, "", f"larger than {MAX_CONFIG_BYTES // 1024} KiB: not a budget file")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError([ConfigProblem(str(p), line, "", f"not UTF-8 text (byte {exc.start}: "
                                                           f"0x{data[exc.start]:02x}); save the file as UTF-8")]) from None
    return parse(text, str(p))


# Limits that keep a hostile file from exhausting the loader (a YAML alias bomb, deep nesting) and
# keep every value finite through the arithmetic after measuring (1e-320 units, a 1e308 PUE).
MAX_CONFIG_BYTES = 1024 * 1024
MAX_NODES = 100_000  # after alias expansion
MAX_DEPTH = 64
MAGNITUDE = (1e-12, 1e15)  # the smallest and largest non-zero magnitude a quantity may have
MAX_INTEGER = 10**9


def parse(text: str, filename: str = "carbon-gate.yml") -> Config:
    """Validate config text; `filename` is used in messages and as the base for relative paths."""
    data, lines = _load_yaml(text, filename)
    v = _Validator(filename, lines)
    if not isinstance(data, dict):
        v.problem((), f"expected a mapping with 'version' and 'workloads', got {_kind(data)}")
        raise ConfigError(v.problems)
    values = v.check_object((), data, SPEC)
    if isinstance(values.get("grid"), dict):
        v.check_carbon_aware(("grid",), values["grid"])
    profile = (values.get("machine") or {}).get("profile")
    if not v.problems and profile not in (None, "auto"):
        v.check_profile(("machine", "profile"), profile)
    if v.problems:
        raise ConfigError(v.problems)
    return _build(Path(filename), values, lines)


class _Validator:
    def __init__(self, filename: str, lines: dict[tuple, int]):
        self.filename = filename
        self.lines = lines
        self.problems: list[ConfigProblem] = []

    def problem(self, path: tuple, message: str) -> None:
        line = self.lines.get(path)
        probe = path
        while line is None and probe:
            probe = probe[:-1]
            line = self.lines.get(probe)
        self.problems.append(ConfigProblem(self.filename, line, _dotted(path), message))

    def check_object(self, path: tuple, data: dict, spec: dict[str, Key]) -> dict:
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key not in spec and key in _REMOVED:
                self.problem(path + (key,), f"{key!r} {_REMOVED[key]}")
                continue
            if key not in spec:
                close = _close(str(key), spec)
                self.problem(path + (key,), f"unknown key {key!r}" + (f" (did you mean {close!r}?)" if close else "")
                             + f"; expected one of: {', '.join(spec)}")
                continue
            out[key] = self.check(path + (key,), value, spec[key])
        for key, k in spec.items():
            if k.required and key not in data:
                where = f" in {_dotted(path)}" if path else ""
                self.problem(path, f"missing required key {key!r}{where}")
        return out

    def check(self, path: tuple, value: Any, key: Key) -> Any:
        kind = key.kind
        shown = f"got {value!r}" if not isinstance(value, (dict, list)) else f"got {_kind(value)}"
        if kind == "object":
            if value is None:
                return {}
            if not isinstance(value, dict):
                self.problem(path, f"expected a mapping, {shown}")
                return {}
            return self.check_object(path, value, key.children)
        if kind == "workloads":
            if not isinstance(value, list) or not value:
                self.problem(path, f"expected a non-empty list of workloads, {shown}")
                return []
            seen: dict[str, int] = {}
            out = []
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    self.problem(path + (i,), f"expected a workload mapping with name and command, got {_kind(item)}")
                    continue
                w = self.check_object(path + (i,), item, key.children)
                if isinstance(w.get("estimate"), dict):
                    self.check_estimate(path + (i, "estimate"), w["estimate"])
                kinds = [k for k in ("command", "estimate", "source") if k in item]
                if len(kinds) != 1:
                    self.problem(path + (i,), "a workload needs exactly one of command, estimate or source"
                                 + (f" (found {', '.join(kinds)})" if kinds else " (missing command)"))
                name = w.get("name")
                if isinstance(name, str):
                    if name in seen:
                        self.problem(path + (i, "name"), f"duplicate workload name {name!r} (first defined on line {seen[name]})")
                    else:
                        seen[name] = self.lines.get(path + (i, "name"), 0)
                out.append(w)
            return out
        parser = _PARSERS.get(kind)
        if parser is not None:
            try:
                parsed = parser(value)
            except (ValueError, OverflowError) as exc:  # OverflowError: an integer beyond float range
                self.problem(path, str(exc) if isinstance(exc, ValueError) else f"{_short(value)} is out of range")
                return None
            out_of_range = _out_of_range(parsed, key) or _beyond(parsed, kind)
            if out_of_range:
                self.problem(path, f"{out_of_range}, got {value!r}")
            return parsed
        if kind == "string":
            if not isinstance(value, str) or not value.strip():
                self.problem(path, f"expected a non-empty string, {shown}")
            elif _bad_chars(value):
                self.problem(path, f"{_bad_chars(value)}, got {_short(value)}")
                return None
            return value
        if kind == "choice":
            if value is False and "off" in key.choices:
                value = "off"  # YAML 1.1 reads a bare `off` (as DESIGN §3 writes it) as false
            if value not in key.choices:
                self.problem(path, f"expected one of {', '.join(key.choices)}, {shown}")
            return value
        if kind == "choices":
            items = value if isinstance(value, list) else [value]
            bad = [x for x in items if x not in key.choices]
            if bad:
                self.problem(path, f"expected a list of {', '.join(key.choices)}, got {bad[0]!r}")
            return tuple(items)
        if kind == "boolean":
            if not isinstance(value, bool):
                self.problem(path, f"expected true or false, {shown}")
            return value
        if kind == "command":
            if isinstance(value, str) and value.strip():
                if "\0" in value:
                    self.problem(path, f"a command cannot contain a NUL character, got {_short(value)}")
                    return None
                return value
            if isinstance(value, list) and value:
                bad = [(i, x) for i, x in enumerate(value) if isinstance(x, bool) or not isinstance(x, (str, int, float))]
                nul = [i for i, x in enumerate(value) if isinstance(x, str) and "\0" in x]
                if nul:
                    self.problem(path + (nul[0],), f"a command cannot contain a NUL character, got {_short(value[nul[0]])}")
                    return None
                if not bad:
                    return tuple(str(x) for x in value)
                i, x = bad[0]
                hint = " (YAML reads bare yes/no/on/off/true/false as booleans: quote it)" if isinstance(x, bool) else ""
                self.problem(path + (i,), f"expected each item of a list command to be a string, "
                                          f"item {i + 1} is {x!r}{hint}")
                return None
            hint = (" (YAML reads bare true/false/yes/no/on/off as a boolean: quote the command, e.g. "
                    f"command: \"{str(value).lower()}\")") if isinstance(value, bool) else ""
            self.problem(path, f"expected a command: a non-empty string or a list of strings, {shown}{hint}")
            return None
        if kind == "strings":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                self.problem(path, f"expected a list of strings, {shown}")
                return ()
            return tuple(value)
        if kind == "env":
            if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, (str, int, float)) and not isinstance(v, bool) for k, v in value.items()):
                self.problem(path, f"expected a mapping of variable names to strings, {shown}")
                return {}
            for k, v in value.items():
                if not k or "=" in k or "\0" in k or "\0" in str(v):
                    self.problem(path + (k,), f"{_short(k)}: a variable name is not empty and has no '=' or NUL, "
                                              "and a value has no NUL")
                    return {}
            return {k: str(v) for k, v in value.items()}
        raise AssertionError(f"unhandled kind {kind}")  # a bug in SPEC, not user input

    def check_carbon_aware(self, path: tuple, g: dict) -> None:
        """A pull request must not point a key at an unrelated secret (GITHUB_TOKEN): variables named
        for the key have to say what they are for."""
        for name in ("key_env", "user_env"):
            var = g.get(name)
            if isinstance(var, str) and not (_ENV_NAME.match(var) and any(h in var for h in _KEY_ENV_HINTS)):
                self.problem(path + (name,), f"expected an environment variable name in capitals containing "
                                             f"ELECTRICITYMAPS or WATTTIME, or starting with CARBON_GATE_, got {var!r}")
        live, provider = LEGACY_LIVE.get(g.get("live", "none"), g.get("live", "none")), g.get("provider")
        if provider is not None and live != "none" and live != provider:
            self.problem(path + ("live",), f"grid.live {g['live']!r} disagrees with grid.provider {provider!r}: keep provider")
        if (g.get("latitude") is None) != (g.get("longitude") is None):
            self.problem(path + ("latitude" if "latitude" in g else "longitude",), "latitude and longitude go together")

    def check_profile(self, path: tuple, profile: str) -> None:
        """A packaged profile's name or a readable profile file (read as the meters will read it)."""
        from .meters.cpu_model import ProfileError, load_profile, packaged_profiles

        names = [p.name for p in packaged_profiles()]
        if profile in names:
            return
        try:
            load_profile(Path(profile))
        except ProfileError as exc:
            self.problem(path, f"expected auto, a packaged profile ({', '.join(names)}) or a profile file: {exc}")

    def check_estimate(self, path: tuple, e: dict) -> None:
        """What no single key can check: a forecast needs a size, and its active parameters are a
        subset of all of them (`estimate()` refuses both at run time, naming the CLI flags)."""
        params, moe = e.get("params"), e.get("moe_active_params")
        if isinstance(params, float) and isinstance(moe, float) and moe > params:
            self.problem(path + ("moe_active_params",), f"must not exceed params ({params:g}): active parameters are "
                                                        f"a subset of all of them, got {moe:g}")
        sized = [k for k in ESTIMATE_SIZE_KEYS if k in e]
        if "hours" in e and sized:
            self.problem(path + ("hours",), f"give either hours or params and tokens, not both: hours fixes the "
                                            f"run's length, so {', '.join(sized)} would be ignored")
        if "hours" not in e and not ("params" in e and "tokens" in e):
            missing = " and ".join(k for k in ("params", "tokens") if k not in e)
            self.problem(path, f"a forecast needs params and tokens, or hours (missing {missing})")


def _integer(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # `repeats: 5.0` is a whole number (and JSON Schema's "integer" says so too)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {_short(value)}")
    if abs(value) > MAX_INTEGER:
        raise ValueError(f"must be at most {MAX_INTEGER:,}, got {_short(value)}")
    return value


def _beyond(value: Any, kind: str) -> str | None:
    """Why a parsed quantity would overflow or underflow the arithmetic after measuring, or None."""
    if kind == "integer" or not isinstance(value, (int, float)) or value == 0:
        return None
    low, high = MAGNITUDE
    if not low <= abs(value) <= high:
        return f"must be between {low:g} and {high:g} in magnitude (or 0 where allowed)"
    return None


def _short(value: Any) -> str:
    """A value for a message: repr, cut to a readable length (a 400-digit integer, a long string)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + f"… ({len(text)} characters)"


def _bad_chars(text: str) -> str | None:
    """Why a string from the config cannot be used as a name, path or argument, or None."""
    if "\0" in text:
        return "contains a NUL character"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return "contains a lone surrogate (not valid Unicode)"
    return None


def _number(value: Any) -> float:
    # YAML 1.1 reads `7.0e9` (no exponent sign) as a string: accept such numerals.
    number: float | None = None
    if isinstance(value, str):
        try:
            number = float(value.replace("_", ""))
        except ValueError:
            pass
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    # float() also reads 'nan' and 'inf' (YAML: .nan, .inf): no limit or factor can be either.
    if number is None or not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def _out_of_range(value: float, key: Key) -> str | None:
    """Why `value` (already parsed) is outside the key's bounds, or None."""
    if key.minimum is not None and value < key.minimum:
        return f"must be at least {key.minimum:g}"
    if key.maximum is not None and value > key.maximum:
        return f"must be at most {key.maximum:g}"
    if key.above is not None and value <= key.above:
        return f"must be greater than {key.above:g}"
    if key.below is not None and value >= key.below:
        return f"must be less than {key.below:g}"
    return None


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "integer": _integer,
    "number": _number,
    "energy": units.parse_energy,
    "mass": units.parse_mass,
    "duration": units.parse_duration,
    "percent": units.parse_percent,
    "intensity": units.parse_intensity,
    "power": units.parse_power,
}


def _build(path: Path, v: dict, lines: dict[tuple, int]) -> Config:
    grid = v.get("grid", {})
    machine = v.get("machine", {})
    defaults = {k: v.get("defaults", {}).get(k, _default(_RUN_KEYS[k])) for k in _RUN_KEYS}
    base = v.get("baseline", {})
    gate = v.get("gate", {})
    workloads = []
    for i, w in enumerate(v["workloads"]):
        run = {k: w.get(k, defaults[k]) for k in _RUN_KEYS}
        b = w.get("budget", {})
        per_unit = b.get("per_unit", {})
        unit = w.get("unit", {})
        budget_lines = {name: lines[key] for name, key in (
            ("energy", ("workloads", i, "budget", "energy")), ("co2e", ("workloads", i, "budget", "co2e")),
            ("per_unit.energy", ("workloads", i, "budget", "per_unit", "energy")),
            ("per_unit.co2e", ("workloads", i, "budget", "per_unit", "co2e")),
            ("projected.energy", ("workloads", i, "budget", "projected", "energy")),
            ("projected.co2e", ("workloads", i, "budget", "projected", "co2e"))) if key in lines}
        projected = b.get("projected", {})
        workloads.append(Workload(
            name=w["name"],
            command=w.get("command", ""),
            cwd=w.get("cwd", "."),
            env=w.get("env", {}),
            repeats=run["repeats"],
            warmup=run["warmup"],
            timeout_s=run["timeout"],
            tolerance=run["tolerance"],
            max_rounds=run["max_rounds"],
            max_time_s=run["max_time"],
            unit_name=unit.get("name", "run"),
            unit_count=unit.get("count", None if "name" in unit else 1.0),
            budget=Budget(b.get("energy"), b.get("co2e"), per_unit.get("energy"), per_unit.get("co2e"), budget_lines,
                          projected.get("energy"), projected.get("co2e")),
            paths=w.get("paths", ()),
            line=lines.get(("workloads", i)),
            estimate=w.get("estimate") or None,
            codecarbon_csv=(w.get("source") or {}).get("codecarbon_csv"),
            extrapolate_to=(w.get("extrapolate") or {}).get("to"),
            energy_per_point=tuple(w.get("energy_per_point", ())),
        ))
    return Config(
        path=path,
        version=v["version"],
        grid=GridSettings(grid.get("country"), grid.get("intensity"), grid.get("source"), grid.get("pue", 1.0), grid.get("live", "none"),
                          {k: lines[("grid", k)] for k in grid if ("grid", k) in lines}, _carbon_aware(grid),
                          wue=grid.get("wue")),
        machine=MeterSettings(**{k: machine[k] for k in machine}),
        baseline=BaselineSettings(base.get("mode", "auto"), Path(base.get("file", ".carbon-gate/baseline.json")),
                                  base.get("setup"), base.get("history", 100), base.get("seed"),
                                  base.get("pairing", "auto")),
        gate=GateSettings(tuple(gate.get("fail_on", GateSettings.fail_on)), gate.get("confidence", GateSettings.confidence),
                          gate.get("family", GateSettings.family)),
        workloads=tuple(workloads),
        prepush=PrepushSettings(v.get("prepush", {}).get("repeats", 6), v.get("prepush", {}).get("warmup", 0)),
        # The live-grid provider's key variables are secrets too: `CARBON_GATE_*` names pass by default.
        environment=EnvironmentSettings(
            v.get("environment", {}).get("pass", ()),
            tuple(v.get("environment", {}).get("secrets", ())) + tuple(n for n in (grid.get("key_env"), grid.get("user_env")) if n)),
    )


def _carbon_aware(grid: dict) -> CarbonAware:
    advice = grid.get("advice") or {}
    spec = _CARBON_AWARE["advice"].children
    return CarbonAware(
        provider=grid.get("provider") or LEGACY_LIVE.get(grid.get("live", "none"), grid.get("live", "none")),
        zone=grid.get("zone"), latitude=grid.get("latitude"), longitude=grid.get("longitude"),
        key_env=grid.get("key_env"), user_env=grid.get("user_env"),
        timeout_s=grid.get("timeout", _default(_CARBON_AWARE["timeout"])), gate_on=grid.get("gate_on", "pinned"),
        candidates=tuple(advice.get("candidates", ())),
        advise_above_wh=advice.get("above", _default(spec["above"])), window_s=advice.get("window", _default(spec["window"])))


def _default(key: Key) -> Any:
    parser = _PARSERS.get(key.kind)
    return parser(key.default) if parser and key.default is not None else key.default


# ---------------------------------------------------------------- YAML with line numbers


def _load_yaml(text: str, filename: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML keeping the line of every key and item (1-based); duplicate keys, keys that are not
    scalars and values their tag cannot construct (`!!int abc`) are errors at their line."""
    import yaml

    try:
        _check_depth(text, filename)  # before compose, whose recursion a 1,000-deep file would exhaust
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(exc, text, filename)]) from None
    if node is None:
        raise ConfigError([ConfigProblem(filename, 1, "", "the file is empty (or only comments): expected 'version' "
                                                          "and 'workloads'")])
    lines: dict[tuple, int] = {}
    problems: list[ConfigProblem] = []
    loader = yaml.SafeLoader("")
    visited = [0]

    def scalar(n: Any, path: tuple) -> Any:
        try:
            value = loader.construct_object(n)
        except Exception as exc:  # noqa: BLE001 - a tag's constructor fed a bad value raises anything (`!!timestamp x`)
            why = _first_line(exc) if isinstance(exc, (ValueError, yaml.YAMLError)) else "not a valid value for that tag"
            problems.append(ConfigProblem(filename, n.start_mark.line + 1, _dotted(path),
                                          f"cannot read {_short(n.value)} as {n.tag.rsplit(':', 1)[-1]}: {why}"))
            return None
        if isinstance(value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            problems.append(ConfigProblem(filename, n.start_mark.line + 1, _dotted(path),
                                          f"{_short(value)} contains a lone surrogate (not valid Unicode)"))
            return None
        return value

    def convert(n: Any, path: tuple, open_nodes: frozenset[int]) -> Any:
        visited[0] += 1
        if visited[0] > MAX_NODES:  # aliases of aliases multiply: a 1 KB "billion laughs" file
            raise ConfigError([ConfigProblem(filename, n.start_mark.line + 1, _dotted(path),
                                             f"more than {MAX_NODES:,} values after expanding YAML aliases "
                                             "(an alias bomb?)")])
        lines.setdefault(path, n.start_mark.line + 1)
        if id(n) in open_nodes:  # an alias to one of its own ancestors (`a: &x [*x]`)
            # The alias resolves to the anchored node itself: its mark is the anchor's, so the line is the
            # key's where there is one (`paths: *w`), not the line of the anchor it points back to.
            problems.append(ConfigProblem(filename, lines[path], _dotted(path), "recursive YAML alias"))
            return None
        inside = open_nodes | {id(n)}
        if isinstance(n, yaml.MappingNode):
            out: dict = {}
            for k_node, v_node in n.value:
                if not isinstance(k_node, yaml.ScalarNode):  # `[a]: x` or `? {b: 1}`: unhashable, and never a key we know
                    problems.append(ConfigProblem(filename, k_node.start_mark.line + 1, _dotted(path),
                                                  "expected a plain key name, got "
                                                  + ("a mapping" if isinstance(k_node, yaml.MappingNode) else "a list") + " as a key"))
                    continue
                key = scalar(k_node, path)
                if key in out:
                    problems.append(ConfigProblem(filename, k_node.start_mark.line + 1, _dotted(path + (key,)),
                                                  f"duplicate key {key!r}"))
                    continue
                lines[path + (key,)] = k_node.start_mark.line + 1
                out[key] = convert(v_node, path + (key,), inside)
            return out
        if isinstance(n, yaml.SequenceNode):
            return [convert(item, path + (i,), inside) for i, item in enumerate(n.value)]
        return scalar(n, path)

    data = convert(node, (), frozenset())
    if problems:
        raise ConfigError(problems)
    return data, lines


def _check_depth(text: str, filename: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH, at the line where it gets too deep (the event parser
    keeps a stack, not recursion, so this costs no stack however deep the file goes)."""
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when present
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError([ConfigProblem(filename, event.start_mark.line + 1, "",
                                                 f"nested more than {MAX_DEPTH} levels deep")])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _yaml_problem(exc: Exception, text: str, filename: str) -> ConfigProblem:
    """Locate a YAML syntax error. When the parser ran off the end of the file (an unclosed quote or
    bracket) the useful line is where the construct began (PyYAML's context mark), not the end."""
    end = len(text.rstrip())
    position = getattr(exc, "position", None)  # a ReaderError (a control character) has no mark, only this
    if position is not None and getattr(exc, "problem_mark", None) is None:
        line = text[:position].count("\n") + 1
        byte = len(text[:position].encode("utf-8", "surrogatepass"))
        ch = getattr(exc, "character", 0)
        code = ch if isinstance(ch, int) else ord(ch[:1] or "\0")
        return ConfigProblem(filename, line, "", f"malformed YAML: character U+{code:04X} at byte {byte}: control "
                                                 "characters are not allowed (write them as escapes in a quoted string)")
    problem = getattr(exc, "problem", None) or _first_line(exc)
    context = getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    began = None
    if context_mark is not None and context_mark.index < end and (mark is None or mark.index >= end):
        mark = began = context_mark
    message = f"malformed YAML: {problem}" + (f" ({context} that starts here)" if began is not None and context else "")
    # Never a line past the last one: the end of the stream sits after the final newline.
    line = min(mark.line + 1, text[:end].count("\n") + 1) if mark is not None else None
    return ConfigProblem(filename, line, "", message)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        is_index = isinstance(p, int) and not isinstance(p, bool)  # a bare `on:` key reads as True, not an index
        out += f"[{p}]" if is_index else (f".{p}" if out else str(p))
    return out


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(type(value), type(value).__name__)


def _close(key: str, spec: dict[str, Key]) -> str | None:
    import difflib

    m = difflib.get_close_matches(key, list(spec), n=1, cutoff=0.6)
    return m[0] if m else None


# ---------------------------------------------------------------- JSON Schema

def _any_case(word: str) -> str:
    """A regex matching `word` in any case: JSON Schema patterns (ECMA-262) have no inline (?i) flag."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() and c.lower() != c.upper() else re.escape(c) for c in word)


def _quantity_pattern(unit_alternatives: list[str], optional: bool = False) -> str:
    # The numerals units._split reads; signs other than '+' are left to the loader (a negative is an error there).
    number = r"\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    unit = f"(?:{'|'.join(unit_alternatives)})" + ("?" if optional else "")
    return rf"^\s*{number}\s*{unit}\s*$"


# Mirrors of the parsers in units.py, so the editor accepts exactly what the loader reads.
_CO2 = f"(?:{_any_case('co2')}|{_any_case('co')}₂)[eE]?"
_QUANTITY_PATTERNS = {
    "energy": _quantity_pattern([*units.ENERGY_EXACT] + [_any_case(u) for u in units.ENERGY_ANY_CASE]),
    "mass": _quantity_pattern([f"(?:{_any_case(u)})(?:{_CO2})?" for u in units.MASS_UNITS]),
    "duration": _quantity_pattern([_any_case(u) for u in units.DURATION_UNITS], optional=True),
    "percent": _quantity_pattern(["%"]),
    "intensity": _quantity_pattern([_any_case(u.split("/")[0]) + f"(?:{_any_case('co2')}[eE]?)?/" + _any_case(u.split("/")[1])
                                    for u in units.INTENSITY_UNITS], optional=True),
    "power": _quantity_pattern(list(units.POWER_UNITS), optional=True),
}
# Bare numbers the loader takes: YAML reads `7.0e9` as a string, which `_number` still accepts (with
# '_' digit separators, so at least one digit is required).
_NUMBER_PATTERN = r"^(?=[^0-9]*[0-9])\s*[+-]?(?:[0-9_]+(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?\s*$"
_NON_NEGATIVE_NUMBER_PATTERN = _NUMBER_PATTERN.replace("[+-]?", "\\+?", 1)
# A zero, as a string the loader reads: JSON Schema's bounds apply to numbers only, so `0 Wh` (a budget that
# can never be met) or '0' params need their own rule. Units never start with a digit, '.', 'e' or 'E'.
_ZERO_QUANTITY = r"^\s*\+?(?:0+(?:\.0*)?|\.0+)(?:[eE][+-]?[0-9]+)?\s*(?:[^0-9.eE\s].*)?$"
_ZERO_NUMBER = r"^\s*[+-]?(?:[0_]+(?:\.[0_]*)?|\.[0_]+)(?:[eE][+-]?[0-9_]+)?\s*$"


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of carbon-gate.yml, generated from SPEC."""

    def convert(key: Key) -> dict:
        s: dict[str, Any] = {"description": key.description}
        k = key.kind
        if k in ("object", "workloads"):
            obj = {
                "type": "object",
                "additionalProperties": False,
                "properties": {name: convert(child) for name, child in key.children.items()},
            }
            required = [n for n, c in key.children.items() if c.required]
            if required:
                obj["required"] = required
            if "hours" in key.children and "params" in key.children:  # an estimate: hours or a size, not both
                obj["dependentSchemas"] = {"hours": {"not": {"anyOf": [{"required": [n]} for n in ESTIMATE_SIZE_KEYS]}}}
            if k == "workloads":
                s.update({"type": "array", "minItems": 1, "items": obj})
            else:
                s.update({**obj, "type": ["object", "null"]})  # an empty section (`grid:`) reads as null
        elif k in _QUANTITY_PATTERNS:
            s["pattern"] = _QUANTITY_PATTERNS[k]
            s["type"] = "string" if k in ("energy", "mass", "percent") else ["string", "number"]
            # What the parsers refuse beyond the pattern: a zero duration, a zero where the key is `above`
            # 0, and a negative bare number (the string pattern already has no minus sign).
            if k == "duration" or key.above is not None:
                s["not"] = {"type": "string", "pattern": _ZERO_QUANTITY}
            if k == "duration":
                s["exclusiveMinimum"] = 0
            elif k in ("intensity", "power") and key.above is None:
                s["minimum"] = 0
        elif k == "integer":
            s["type"] = "integer"
        elif k == "number":
            non_negative = (key.minimum is not None and key.minimum >= 0) or (key.above is not None and key.above >= 0)
            # The pattern applies to strings only; string bounds other than 0 (`pue: "0.5"`) are left to the loader.
            s.update({"type": ["number", "string"],
                      "pattern": _NON_NEGATIVE_NUMBER_PATTERN if non_negative else _NUMBER_PATTERN})
            if key.above == 0:
                s["not"] = {"type": "string", "pattern": _ZERO_NUMBER}
        elif k == "boolean":
            s["type"] = "boolean"
        elif k == "string":
            s.update({"type": "string", "minLength": 1})
        elif k == "choice":
            s["enum"] = list(key.choices) + ([False] if "off" in key.choices else [])  # YAML 1.1 reads `off` as false
        elif k == "choices":
            s["anyOf"] = [{"enum": list(key.choices)}, {"type": "array", "items": {"enum": list(key.choices)}}]
        elif k == "command":
            s["oneOf"] = [{"type": "string", "minLength": 1},
                          {"type": "array", "minItems": 1, "items": {"type": ["string", "number"]}}]
        elif k == "strings":
            s.update({"type": ["array", "string"], "items": {"type": "string"}})  # one glob may be a plain string
        elif k == "env":
            s.update({"type": "object", "additionalProperties": {"type": ["string", "number"]}})
        if k in ("integer", "number", "power", "duration"):  # JSON Schema bounds numbers only: '330 W', '5m' are not bounded
            bounds = {"minimum": key.minimum, "maximum": key.maximum, "exclusiveMinimum": key.above,
                      "exclusiveMaximum": key.below}
            s.update({name: bound for name, bound in bounds.items() if bound is not None})
        if key.default is not None and k not in ("object", "workloads"):
            s["default"] = list(key.default) if isinstance(key.default, tuple) else key.default
        if key.example is not None:
            s["examples"] = [key.example]
        return s

    root = convert(Key("object", "carbon-gate budget file (carbon-gate.yml)", children=SPEC))
    # The one cross-key rule JSON Schema can say: a position needs both coordinates.
    root["properties"]["grid"]["dependentRequired"] = {"latitude": ["longitude"], "longitude": ["latitude"]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://carbon-gate.dev/schemas/config-1.json", "title": "carbon-gate.yml", **root}


def iter_keys(spec: dict[str, Key] = SPEC, prefix: str = "") -> list[tuple[str, Key]]:
    """Every key as (dotted path, Key), workloads' keys as `workloads[].name`; for docs and tests."""
    out = []
    for name, key in spec.items():
        dotted = f"{prefix}{name}"
        out.append((dotted, key))
        if key.children:
            out.extend(iter_keys(key.children, dotted + ("[]." if key.kind == "workloads" else ".")))
    return out
