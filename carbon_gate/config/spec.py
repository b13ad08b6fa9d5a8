"""What `carbon-gate.yml` may hold: one declarative spec of every key (docs/configuration.md).

The loader validates against it, the JSON Schema for editors is generated from it and the docs'
key table is checked against it, so the three cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ..domain import DEFAULT_HISTORY, DEFAULT_PREPUSH_REPEATS, DEFAULT_TOLERANCE
from ..intensity import PROVIDERS

Kind = Literal[
    "string",
    "integer",
    "number",
    "boolean",
    "energy",
    "mass",
    "duration",
    "percent",
    "intensity",
    "power",
    "command",
    "strings",
    "env",
    "choice",
    "choices",
    "object",
    "workloads",
]

VERDICTS = ("regression", "over-budget", "inconclusive", "error", "improvement", "unchanged", "new")


@dataclass(frozen=True)
class Key:
    """One key of the config: its kind, default, description, and children for objects."""

    kind: Kind
    description: str
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    children: dict[str, Key] = field(default_factory=dict)
    minimum: float | None = None  # inclusive bounds
    maximum: float | None = None
    above: float | None = None  # exclusive bounds: 0 units or a 0 Wh budget make no sense
    below: float | None = None
    example: Any = None


def _limits(text: str, *, energy: tuple[str, str], co2e: tuple[str, str]) -> Key:
    """An object of an energy and a CO2e limit, each (help, example) and above 0."""
    return Key(
        "object",
        text,
        children={
            "energy": Key("energy", energy[0], example=energy[1], above=0.0),
            "co2e": Key("mass", co2e[0], example=co2e[1], above=0.0),
        },
    )


# A budget of 0 can never be met (and would make "% of budget" infinite): leave the key out for no limit.
BUDGET_KEYS = {
    "energy": Key("energy", "Largest median energy per run.", example="40 Wh", above=0.0),
    "projected": _limits(
        "Limits on the projected full run (with `extrapolate`) or the forecast (`estimate`).",
        energy=("Largest projected energy of the full run.", "2 MWh"),
        co2e=("Largest projected CO2e of the full run.", "50 kg"),
    ),
    "co2e": Key("mass", "Largest median CO2e per run (operational + embodied).", example="15 g", above=0.0),
    "per_unit": _limits(
        "Limits per functional unit (SCI).",
        energy=("Largest median energy per unit.", "2 Wh"),
        co2e=("Largest SCI: CO2e per unit.", "1 g"),
    ),
}

# Live intensity, forecasts and shifting advice (docs/carbon-aware.md). No key can hold a URL or a
# key: the config picks a provider and names the variables that hold its credentials.
CARBON_AWARE_KEYS = {
    "provider": Key(
        "choice",
        "Live grid intensity beside the pinned figure: reported, never gated unless gate_on is live.",
        "none",
        choices=PROVIDERS,
    ),
    "zone": Key(
        "string",
        "The provider's zone: uk-carbon-intensity national, a region id 1-17 or an outward postcode; "
        "electricitymaps e.g. DE or US-CAL-CISO (default grid.country); watttime e.g. CAISO_NORTH.",
        example="DE",
    ),
    "latitude": Key("number", "Instead of zone (electricitymaps): latitude.", minimum=-90.0, maximum=90.0),
    "longitude": Key("number", "Instead of zone (electricitymaps): longitude.", minimum=-180.0, maximum=180.0),
    "key_env": Key(
        "string",
        "Name of the environment variable holding the provider's key (electricitymaps, default "
        "ELECTRICITYMAPS_API_KEY) or password (watttime, default WATTTIME_PASSWORD); never the key.",
        example="ELECTRICITYMAPS_API_KEY",
    ),
    "user_env": Key(
        "string",
        "Name of the environment variable holding the WattTime user name (default WATTTIME_USER).",
        example="WATTTIME_USER",
    ),
    "timeout": Key(
        "duration",
        "Longest wait for the provider; on a timeout the pinned figure is used, with a note.",
        "5s",
        above=0.0,
        maximum=60.0,
    ),
    "gate_on": Key(
        "choice",
        "pinned: CO2e budgets use the pinned intensity (reproducible); live: they use the live "
        "figure when there is one.",
        "pinned",
        choices=("pinned", "live"),
    ),
    "advice": Key(
        "object",
        "Time and location shifting advice for big workloads.",
        children={
            "above": Key(
                "energy",
                "Workloads (or their projected full run) using at least this much get a 'greener if' line.",
                "1 kWh",
                above=0.0,
            ),
            "window": Key("duration", "How far ahead the report looks for a cleaner start.", "24h", above=0.0),
            "candidates": Key(
                "strings",
                "Other zones or countries to compare (provider zones, else the annual dataset).",
                example=["FR", "SE"],
            ),
        },
    ),
}
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")
KEY_ENV_HINTS = ("ELECTRICITYMAPS", "ELECTRICITY_MAPS", "WATTTIME", "CARBON_GATE_")

RUN_KEYS = {
    "repeats": Key("integer", "Measured runs per workload (statistics use their median).", 5, minimum=1),
    "warmup": Key("integer", "Runs before the measured ones; measured but not counted.", 1, minimum=0),
    "timeout": Key("duration", "Kill a run (and its whole process group) after this long.", "20m"),
    "tolerance": Key("percent", "Largest increase vs the baseline that still passes.", f"{DEFAULT_TOLERANCE:.0%}"),
    "max_rounds": Key(
        "integer",
        "Paired rounds at most: after the first `repeats`, rounds are added until the verdict "
        "is decided or this or `max_time` is reached.",
        60,
        minimum=2,
    ),
    "max_time": Key(
        "duration",
        "Time at most for one workload's paired rounds (warm-ups included; the first `repeats` rounds always run).",
        "60s",
        above=0.0,
    ),
}

# Keys that were removed: a clear pointer to what replaced them instead of "unknown key".
REMOVED_KEYS = {
    "confirm": "was replaced by `max_rounds` and `max_time`: the gate now keeps adding paired rounds until the "
    "verdict is decided or a budget is spent (docs/statistics.md, 'Sequential rounds')",
}

# An estimate's size keys: meaningless with `hours`, which fixes the run's length (refused together).
ESTIMATE_SIZE_KEYS = ("params", "tokens", "moe_active_params", "mfu")

SPEC: dict[str, Key] = {
    "version": Key(
        "integer", "Config format version (this carbon-gate reads version 1).", 1, required=True, minimum=1, maximum=1
    ),
    "grid": Key(
        "object",
        "The pinned grid intensity used for CO2e.",
        children={
            "country": Key(
                "string", "ISO-2, ISO-3 or English name; intensity from the packaged Ember/OWID dataset.", example="FR"
            ),
            "intensity": Key("intensity", "A fixed intensity instead of a country.", example="472 g/kWh"),
            "source": Key("string", "Where a fixed intensity comes from (shown in reports)."),
            "pue": Key("number", "Data-centre power usage effectiveness multiplier.", 1.0, minimum=1.0),
            "wue": Key(
                "number",
                "On-site water usage effectiveness, litres per kWh of facility energy; water is counted only when set.",
                above=0.0,
                example=1.8,
            ),
            "live": Key(
                "choice",
                "Older spelling of `provider` (uk = uk-carbon-intensity).",
                "none",
                choices=("none", "electricitymaps", "uk", "watttime"),
            ),
            **CARBON_AWARE_KEYS,
        },
    ),
    "machine": Key(
        "object",
        "How energy is measured or modelled on this machine.",
        children={
            "profile": Key("string", "auto, a packaged runner profile name, or a path to a profile file.", "auto"),
            "host_threads": Key("integer", "Threads of the physical host, to scale a TDP in a VM.", minimum=1),
            "sockets": Key("integer", "CPU sockets of the host, whose TDPs add up (default: detected).", minimum=1),
            "attribution": Key(
                "choice",
                "RAPL energy billed to the workload: by CPU share, or all of it.",
                "process",
                choices=("process", "machine"),
            ),
            "rapl": Key("choice", "Use RAPL counters when readable.", "auto", choices=("auto", "off")),
            "dram": Key("boolean", "Also read the RAPL DRAM domain for memory.", False),
            "gpu": Key("choice", "Measure NVIDIA GPUs through NVML when present.", "auto", choices=("auto", "off")),
            "embodied": Key(
                "choice", "Include embodied emissions (SCI's M) from the profile.", "auto", choices=("auto", "off")
            ),
        },
    ),
    "environment": Key(
        "object",
        "What workloads and setup see of this process's environment (an allow-list).",
        children={
            "pass": Key(
                "strings",
                "Variables (or globs) passed on top of the defaults (PATH, HOME, LANG, VIRTUAL_ENV, ...).",
                example=["HF_HOME", "AWS_REGION"],
            ),
            "secrets": Key(
                "strings", "Variables (or globs) never passed, even when `pass` matches them.", example=["HF_TOKEN"]
            ),
        },
    ),
    "defaults": Key("object", "Defaults for every workload.", children=dict(RUN_KEYS)),
    "baseline": Key(
        "object",
        "What a run is compared with.",
        children={
            "mode": Key(
                "choice",
                "paired: base commit run interleaved; stored: the baseline file; auto: paired when a base is known.",
                "auto",
                choices=("auto", "paired", "stored", "none"),
            ),
            "file": Key("string", "The committed baseline file.", ".carbon-gate/baseline.json"),
            "setup": Key(
                "command",
                "Run once in each tree before measuring (paired mode); not measured.",
                example="pip install -e .",
            ),
            "history": Key(
                "integer", "Entries of history kept per workload in the baseline file.", DEFAULT_HISTORY, minimum=0
            ),
            "seed": Key("integer", "Seed for the order of base and head within each round (random when unset)."),
            "pairing": Key(
                "choice",
                "How a paired round runs base and head: one after the other (sequential), at the same "
                "time on separate CPUs (duet), or auto (see docs/statistics.md).",
                "auto",
                choices=("auto", "sequential", "duet"),
            ),
        },
    ),
    "gate": Key(
        "object",
        "What fails the gate.",
        children={
            "fail_on": Key("choices", "Verdicts that fail the gate.", ["regression", "over-budget"], choices=VERDICTS),
            "confidence": Key("number", "Confidence level of the intervals.", 0.95, minimum=0.5, below=1.0),
            "family": Key("choice", "Family-wise error control across workloads.", "holm", choices=("holm", "none")),
        },
    ),
    "prepush": Key(
        "object",
        "The quicker profile of `carbon-gate check --pre-push` (and --quick).",
        children={
            "repeats": Key(
                "integer",
                "Paired rounds per workload before a push (raised to the statistical minimum).",
                DEFAULT_PREPUSH_REPEATS,
                minimum=1,
            ),
            "warmup": Key("integer", "Warm-up runs per side before a push.", 0, minimum=0),
        },
    ),
    "workloads": Key(
        "workloads",
        "The workloads to measure.",
        required=True,
        children={
            "name": Key("string", "Unique name.", required=True, example="train-small"),
            "command": Key(
                "command",
                "A string (run by /bin/sh) or a list (exec'd directly). One of command, estimate, source.",
                example="python train.py --epochs 1",
            ),
            "estimate": Key(
                "object",
                "Instead of a command: forecast a planned training run (see `carbon-gate estimate`).",
                children={
                    "accelerator": Key(
                        "string",
                        "Accelerator key, e.g. A100-80GB, H100-SXM, V100, TPUv4.",
                        required=True,
                        example="H100-SXM",
                    ),
                    "count": Key("integer", "Number of accelerators.", required=True, minimum=1, example=64),
                    "params": Key("number", "Model parameters.", above=0.0, example=7e9),
                    "tokens": Key("number", "Training tokens.", above=0.0, example=1e12),
                    "moe_active_params": Key(
                        "number", "Active parameters per token (mixture of experts); at most params.", above=0.0
                    ),
                    "hours": Key("number", "Instead of params/tokens: the run's length in hours.", above=0.0),
                    "mfu": Key("number", "Model FLOPs utilisation (default 0.4).", above=0.0, maximum=1.0),
                    "avg_power": Key(
                        "power",
                        "Average power per accelerator, e.g. '330 W' (default: TDP).",
                        above=0.0,
                        example="330 W",
                    ),
                    "dtype": Key("string", "Which peak throughput to use (default: the accelerator's training dtype)."),
                },
            ),
            "source": Key(
                "object",
                "Instead of a command: import samples someone else measured.",
                children={
                    "codecarbon_csv": Key(
                        "string",
                        "A CodeCarbon emissions.csv (relative to the config file); each row is a sample.",
                        required=True,
                        example="emissions.csv",
                    ),
                },
            ),
            "extrapolate": Key(
                "object",
                "Project the full run from the measured per-unit energy.",
                children={
                    "to": Key(
                        "number", "Units of the full run (e.g. 90 epochs).", required=True, above=0.0, example=90
                    ),
                },
            ),
            "cwd": Key("string", "Working directory, relative to the config file's directory.", "."),
            "env": Key("env", "Extra environment variables for the command."),
            **RUN_KEYS,
            "unit": Key(
                "object",
                "The functional unit R for SCI.",
                children={
                    "name": Key("string", "What one unit is.", "run", example="epoch"),
                    "count": Key(
                        "number",
                        "Units processed by one run; leave it out when the workload reports its units "
                        "(carbon_gate.report_units or $CARBON_GATE_UNITS_FILE).",
                        above=0.0,
                    ),
                },
            ),
            "budget": Key("object", "Absolute limits on the median run.", children=BUDGET_KEYS),
            "energy_per_point": Key(
                "strings",
                "Quality metrics (reported with carbon_gate.report_metric) to show energy "
                "per point of: the median energy divided by the metric's median.",
                example=["accuracy"],
            ),
            "paths": Key("strings", "Globs: pre-push runs this workload only when they change.", example=["src/**"]),
        },
    ),
}


def iter_keys(spec: dict[str, Key] = SPEC, prefix: str = "") -> list[tuple[str, Key]]:
    """Every key as (dotted path, Key), workloads' keys as `workloads[].name`; for docs and tests."""
    out = []
    for name, key in spec.items():
        dotted = f"{prefix}{name}"
        out.append((dotted, key))
        if key.children:
            out.extend(iter_keys(key.children, dotted + ("[]." if key.kind == "workloads" else ".")))
    return out
