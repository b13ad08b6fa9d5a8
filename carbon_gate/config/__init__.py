"""`carbon-gate.yml`: the spec of its keys, the typed records it becomes, the loader, and the JSON Schema.

Every problem names the file, the line, the key, the bad value and what was expected. Unknown
keys are errors: a typo must not silently disable a budget (docs/configuration.md).

- the typed settings (Config, Workload, Budget, MeterSettings, ...) live in `carbon_gate.settings`, below the
  meters that take them, and are re-exported here;
- `spec`: the declarative spec (`SPEC`) every other part reads;
- `yaml_lines`: YAML with the line of every key; `validate`: the generic spec walker;
- `load`: `load`/`parse` with the cross-key rules; `schema`: `json_schema()` for editors.
"""

from __future__ import annotations

from ..errors import ConfigError, ConfigProblem
from ..settings import (
    DEFAULT_HISTORY,
    DEFAULT_PREPUSH_REPEATS,
    DEFAULT_TOLERANCE,
    BaselineSettings,
    Budget,
    Config,
    EnvironmentSettings,
    GateSettings,
    GridSettings,
    MeterSettings,
    PrepushSettings,
    Workload,
)
from .load import MAX_CONFIG_BYTES, load, parse
from .schema import json_schema
from .spec import ESTIMATE_SIZE_KEYS, SPEC, VERDICTS, Key, iter_keys
from .validate import MAGNITUDE, MAX_INTEGER
from .yaml_lines import MAX_DEPTH, MAX_NODES

__all__ = [
    "DEFAULT_HISTORY",
    "DEFAULT_PREPUSH_REPEATS",
    "DEFAULT_TOLERANCE",
    "ESTIMATE_SIZE_KEYS",
    "MAGNITUDE",
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_INTEGER",
    "MAX_NODES",
    "SPEC",
    "VERDICTS",
    "BaselineSettings",
    "Budget",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "EnvironmentSettings",
    "GateSettings",
    "GridSettings",
    "Key",
    "MeterSettings",
    "PrepushSettings",
    "Workload",
    "iter_keys",
    "json_schema",
    "load",
    "parse",
]
