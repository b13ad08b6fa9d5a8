"""The JSON Schema (draft 2020-12) of `carbon-gate.yml`, generated from the spec for editors.

The patterns mirror the parsers in units.py, so an editor accepts exactly what the loader reads
(tests/test_schema_agreement.py holds them to it).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from .. import units
from .spec import ESTIMATE_SIZE_KEYS, SPEC, Key, Kind


def _any_case(word: str) -> str:
    """A regex matching `word` in any case: JSON Schema patterns (ECMA-262) have no inline (?i) flag."""
    return "".join(
        f"[{c.lower()}{c.upper()}]" if c.isalpha() and c.lower() != c.upper() else re.escape(c) for c in word
    )


def _quantity_pattern(unit_alternatives: list[str], optional: bool = False) -> str:
    # The numerals units._split reads; signs other than '+' are left to the loader (a negative is an error there).
    number = r"\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    unit = f"(?:{'|'.join(unit_alternatives)})" + ("?" if optional else "")
    return rf"^\s*{number}\s*{unit}\s*$"


# Mirrors of the parsers in units.py, so the editor accepts exactly what the loader reads.
_CO2 = f"(?:{_any_case('co2')}|{_any_case('co')}₂)[eE]?"
_QUANTITY_PATTERNS: dict[Kind, str] = {
    "energy": _quantity_pattern([*units.ENERGY_EXACT] + [_any_case(u) for u in units.ENERGY_ANY_CASE]),
    "mass": _quantity_pattern([f"(?:{_any_case(u)})(?:{_CO2})?" for u in units.MASS_UNITS]),
    "duration": _quantity_pattern([_any_case(u) for u in units.DURATION_UNITS], optional=True),
    "percent": _quantity_pattern(["%"]),
    "intensity": _quantity_pattern(
        [
            _any_case(u.split("/")[0]) + f"(?:{_any_case('co2')}[eE]?)?/" + _any_case(u.split("/")[1])
            for u in units.INTENSITY_UNITS
        ],
        optional=True,
    ),
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


def _object(key: Key) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: _convert(child) for name, child in key.children.items()},
    }
    required = [n for n, c in key.children.items() if c.required]
    if required:
        obj["required"] = required
    if "hours" in key.children and "params" in key.children:  # an estimate: hours or a size, not both
        obj["dependentSchemas"] = {"hours": {"not": {"anyOf": [{"required": [n]} for n in ESTIMATE_SIZE_KEYS]}}}
    if key.kind == "workloads":
        return {"type": "array", "minItems": 1, "items": obj}
    return {**obj, "type": ["object", "null"]}  # an empty section (`grid:`) reads as null


def _quantity(key: Key) -> dict[str, Any]:
    k = key.kind
    s: dict[str, Any] = {
        "pattern": _QUANTITY_PATTERNS[k],
        "type": "string" if k in ("energy", "mass", "percent") else ["string", "number"],
    }
    # What the parsers refuse beyond the pattern: a zero duration, a zero where the key is `above`
    # 0, and a negative bare number (the string pattern already has no minus sign).
    if k == "duration" or key.above is not None:
        s["not"] = {"type": "string", "pattern": _ZERO_QUANTITY}
    if k == "duration":
        s["exclusiveMinimum"] = 0
    elif k in ("intensity", "power") and key.above is None:
        s["minimum"] = 0
    return s


def _number(key: Key) -> dict[str, Any]:
    non_negative = (key.minimum is not None and key.minimum >= 0) or (key.above is not None and key.above >= 0)
    # The pattern applies to strings only; string bounds other than 0 (`pue: "0.5"`) are left to the loader.
    s: dict[str, Any] = {
        "type": ["number", "string"],
        "pattern": _NON_NEGATIVE_NUMBER_PATTERN if non_negative else _NUMBER_PATTERN,
    }
    if key.above == 0:
        s["not"] = {"type": "string", "pattern": _ZERO_NUMBER}
    return s


def _choice(key: Key) -> dict[str, Any]:
    return {"enum": list(key.choices) + ([False] if "off" in key.choices else [])}  # YAML 1.1 reads `off` as false


def _choices(key: Key) -> dict[str, Any]:
    return {"anyOf": [{"enum": list(key.choices)}, {"type": "array", "items": {"enum": list(key.choices)}}]}


def _fixed(schema: dict[str, Any]) -> Callable[[Key], dict[str, Any]]:
    """A kind whose schema does not depend on the key (a fresh copy each time)."""
    return lambda _key: copy.deepcopy(schema)


# Each kind of key -> the schema of its values (the description, bounds, default and example are added for all).
_SCHEMA_OF: dict[Kind, Callable[[Key], dict[str, Any]]] = {
    "object": _object,
    "workloads": _object,
    **dict.fromkeys(_QUANTITY_PATTERNS, _quantity),
    "integer": _fixed({"type": "integer"}),
    "number": _number,
    "boolean": _fixed({"type": "boolean"}),
    "string": _fixed({"type": "string", "minLength": 1}),
    "choice": _choice,
    "choices": _choices,
    "command": _fixed(
        {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "minItems": 1, "items": {"type": ["string", "number"]}},
            ]
        }
    ),
    "strings": _fixed({"type": ["array", "string"], "items": {"type": "string"}}),  # one glob may be a plain string
    "env": _fixed({"type": "object", "additionalProperties": {"type": ["string", "number"]}}),
}
_BOUNDED: tuple[Kind, ...] = ("integer", "number", "power", "duration")  # JSON Schema bounds numbers only: not '330 W'


def _convert(key: Key) -> dict[str, Any]:
    s: dict[str, Any] = {"description": key.description, **_SCHEMA_OF[key.kind](key)}
    if key.kind in _BOUNDED:
        bounds = {
            "minimum": key.minimum,
            "maximum": key.maximum,
            "exclusiveMinimum": key.above,
            "exclusiveMaximum": key.below,
        }
        s.update({name: bound for name, bound in bounds.items() if bound is not None})
    if key.default is not None and key.kind not in ("object", "workloads"):
        s["default"] = list(key.default) if isinstance(key.default, tuple) else key.default
    if key.example is not None:
        s["examples"] = [key.example]
    return s


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of carbon-gate.yml, generated from SPEC."""
    root = _convert(Key("object", "carbon-gate budget file (carbon-gate.yml)", children=SPEC))
    # The one cross-key rule JSON Schema can say: a position needs both coordinates.
    root["properties"]["grid"]["dependentRequired"] = {"latitude": ["longitude"], "longitude": ["latitude"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://carbon-gate.dev/schemas/config-1.json",
        "title": "carbon-gate.yml",
        **root,
    }
