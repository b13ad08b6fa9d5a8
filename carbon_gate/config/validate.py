"""The generic half of config validation: walk a parsed document against a spec of `Key`s.

Every problem is collected with its line (never only the first), and each kind of key has one
checker in `CHECKERS`: the parsers for quantities, and the structural kinds (objects, lists,
commands) beside them. What crosses keys (a forecast's size, a provider's variables) is the
loader's, which subclasses `Validator`.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

from .. import units
from ..errors import ConfigProblem
from .spec import Key
from .yaml_lines import KeyPath, Lines, dotted, short

# Limits that keep every value finite through the arithmetic after measuring (1e-320 units, a 1e308 PUE).
MAGNITUDE = (1e-12, 1e15)  # the smallest and largest non-zero magnitude a quantity may have
MAX_INTEGER = 10**9


class Validator:
    """Checks a parsed document against a spec, collecting every problem with its line."""

    def __init__(self, filename: str, lines: Lines, removed: Mapping[str, str] | None = None):
        self.filename = filename
        self.lines = lines
        self.removed = removed or {}  # removed key -> what replaced it
        self.problems: list[ConfigProblem] = []

    def problem(self, path: KeyPath, message: str) -> None:
        """Record a problem at `path`, on its line or else the nearest enclosing key's."""
        line = self.lines.get(path)
        probe = path
        while line is None and probe:
            probe = probe[:-1]
            line = self.lines.get(probe)
        self.problems.append(ConfigProblem(self.filename, line, dotted(path), message))

    def check_object(self, path: KeyPath, data: dict[Any, Any], spec: dict[str, Key]) -> dict[str, Any]:
        """The checked values of a mapping's known keys; unknown, removed and missing keys are problems."""
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key not in spec and key in self.removed:
                self.problem(path + (key,), f"{key!r} {self.removed[key]}")
                continue
            if key not in spec:
                close = _close(str(key), spec)
                self.problem(
                    path + (key,),
                    f"unknown key {key!r}"
                    + (f" (did you mean {close!r}?)" if close else "")
                    + f"; expected one of: {', '.join(spec)}",
                )
                continue
            out[key] = self.check(path + (key,), value, spec[key])
        for key, k in spec.items():
            if k.required and key not in data:
                where = f" in {dotted(path)}" if path else ""
                self.problem(path, f"missing required key {key!r}{where}")
        return out

    def check(self, path: KeyPath, value: Any, key: Key) -> Any:
        """The checked (and, for quantities, parsed) value of one key."""
        return CHECKERS[key.kind](self, path, value, key)

    def check_item(self, path: KeyPath, raw: dict[Any, Any], checked: dict[str, Any]) -> None:
        """Cross-key rules of one item of a list of objects: none here, the loader adds its own."""


def _shown(value: Any) -> str:
    return f"got {value!r}" if not isinstance(value, (dict, list)) else f"got {kind_of(value)}"


def _check_object(v: Validator, path: KeyPath, value: Any, key: Key) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        v.problem(path, f"expected a mapping, {_shown(value)}")
        return {}
    return v.check_object(path, value, key.children)


def _check_workloads(v: Validator, path: KeyPath, value: Any, key: Key) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        v.problem(path, f"expected a non-empty list of workloads, {_shown(value)}")
        return []
    seen: dict[str, int] = {}
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            v.problem(path + (i,), f"expected a workload mapping with name and command, got {kind_of(item)}")
            continue
        w = v.check_object(path + (i,), item, key.children)
        v.check_item(path + (i,), item, w)
        name = w.get("name")
        if isinstance(name, str):
            if name in seen:
                v.problem(path + (i, "name"), f"duplicate workload name {name!r} (first defined on line {seen[name]})")
            else:
                seen[name] = v.lines.get(path + (i, "name"), 0)
        out.append(w)
    return out


def _check_parsed(parser: Callable[[Any], Any], v: Validator, path: KeyPath, value: Any, key: Key) -> Any:
    """A quantity or number: parsed to canonical units, then bounded."""
    try:
        parsed = parser(value)
    except (ValueError, OverflowError) as exc:  # OverflowError: an integer beyond float range
        v.problem(path, str(exc) if isinstance(exc, ValueError) else f"{short(value)} is out of range")
        return None
    out_of_range = _out_of_range(parsed, key) or _beyond(parsed, key.kind)
    if out_of_range:
        v.problem(path, f"{out_of_range}, got {value!r}")
    return parsed


def _check_string(v: Validator, path: KeyPath, value: Any, key: Key) -> Any:
    if not isinstance(value, str) or not value.strip():
        v.problem(path, f"expected a non-empty string, {_shown(value)}")
    elif _bad_chars(value):
        v.problem(path, f"{_bad_chars(value)}, got {short(value)}")
        return None
    return value


def _check_choice(v: Validator, path: KeyPath, value: Any, key: Key) -> Any:
    if value is False and "off" in key.choices:
        value = "off"  # YAML 1.1 reads a bare `off` (as docs/configuration.md writes it) as false
    if value not in key.choices:
        v.problem(path, f"expected one of {', '.join(key.choices)}, {_shown(value)}")
    return value


def _check_choices(v: Validator, path: KeyPath, value: Any, key: Key) -> tuple[Any, ...]:
    items = value if isinstance(value, list) else [value]
    bad = [x for x in items if x not in key.choices]
    if bad:
        v.problem(path, f"expected a list of {', '.join(key.choices)}, got {bad[0]!r}")
    return tuple(items)


def _check_boolean(v: Validator, path: KeyPath, value: Any, key: Key) -> Any:
    if not isinstance(value, bool):
        v.problem(path, f"expected true or false, {_shown(value)}")
    return value


def _check_command(v: Validator, path: KeyPath, value: Any, key: Key) -> str | tuple[str, ...] | None:
    if isinstance(value, str) and value.strip():
        if "\0" in value:
            v.problem(path, f"a command cannot contain a NUL character, got {short(value)}")
            return None
        return value
    if isinstance(value, list) and value:
        return _check_argv(v, path, value)
    hint = (
        (
            " (YAML reads bare true/false/yes/no/on/off as a boolean: quote the command, e.g. "
            f'command: "{str(value).lower()}")'
        )
        if isinstance(value, bool)
        else ""
    )
    v.problem(path, f"expected a command: a non-empty string or a list of strings, {_shown(value)}{hint}")
    return None


def _check_argv(v: Validator, path: KeyPath, value: list[Any]) -> tuple[str, ...] | None:
    bad = [(i, x) for i, x in enumerate(value) if isinstance(x, bool) or not isinstance(x, (str, int, float))]
    nul = [i for i, x in enumerate(value) if isinstance(x, str) and "\0" in x]
    if nul:
        v.problem(path + (nul[0],), f"a command cannot contain a NUL character, got {short(value[nul[0]])}")
        return None
    if not bad:
        return tuple(str(x) for x in value)
    i, x = bad[0]
    hint = " (YAML reads bare yes/no/on/off/true/false as booleans: quote it)" if isinstance(x, bool) else ""
    v.problem(path + (i,), f"expected each item of a list command to be a string, item {i + 1} is {x!r}{hint}")
    return None


def _check_strings(v: Validator, path: KeyPath, value: Any, key: Key) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]  # one glob may be a plain string
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        v.problem(path, f"expected a list of strings, {_shown(value)}")
        return ()
    return tuple(value)


def _check_env(v: Validator, path: KeyPath, value: Any, key: Key) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(x, (str, int, float)) and not isinstance(x, bool) for k, x in value.items()
    ):
        v.problem(path, f"expected a mapping of variable names to strings, {_shown(value)}")
        return {}
    for k, x in value.items():
        if not k or "=" in k or "\0" in k or "\0" in str(x):
            v.problem(
                path + (k,), f"{short(k)}: a variable name is not empty and has no '=' or NUL, and a value has no NUL"
            )
            return {}
    return {k: str(x) for k, x in value.items()}


def _integer(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # `repeats: 5.0` is a whole number (and JSON Schema's "integer" says so too)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {short(value)}")
    if abs(value) > MAX_INTEGER:
        raise ValueError(f"must be at most {MAX_INTEGER:,}, got {short(value)}")
    return value


def _number(value: Any) -> float:
    # YAML 1.1 reads `7.0e9` (no exponent sign) as a string: accept such numerals.
    number: float | None = None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # not a numeral: refused below
            number = float(value.replace("_", ""))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    # float() also reads 'nan' and 'inf' (YAML: .nan, .inf): no limit or factor can be either.
    if number is None or not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


# Kinds whose value is parsed to a number in canonical units (Wh, g, s, a fraction, g/kWh, W).
PARSERS: dict[str, Callable[[Any], Any]] = {
    "integer": _integer,
    "number": _number,
    "energy": units.parse_energy,
    "mass": units.parse_mass,
    "duration": units.parse_duration,
    "percent": units.parse_percent,
    "intensity": units.parse_intensity,
    "power": units.parse_power,
}

Checker = Callable[[Validator, KeyPath, Any, Key], Any]
CHECKERS: dict[str, Checker] = {
    **{kind: functools.partial(_check_parsed, parser) for kind, parser in PARSERS.items()},
    "object": _check_object,
    "workloads": _check_workloads,
    "string": _check_string,
    "choice": _check_choice,
    "choices": _check_choices,
    "boolean": _check_boolean,
    "command": _check_command,
    "strings": _check_strings,
    "env": _check_env,
}


def parsed_default(key: Key) -> Any:
    """A key's default in the units its parser gives (`"5%"` -> 0.05)."""
    parser = PARSERS.get(key.kind)
    return parser(key.default) if parser and key.default is not None else key.default


def _beyond(value: Any, kind: str) -> str | None:
    """Why a parsed quantity would overflow or underflow the arithmetic after measuring, or None."""
    if kind == "integer" or not isinstance(value, (int, float)) or value == 0:
        return None
    low, high = MAGNITUDE
    if not low <= abs(value) <= high:
        return f"must be between {low:g} and {high:g} in magnitude (or 0 where allowed)"
    return None


def _bad_chars(text: str) -> str | None:
    """Why a string from the config cannot be used as a name, path or argument, or None."""
    if "\0" in text:
        return "contains a NUL character"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return "contains a lone surrogate (not valid Unicode)"
    return None


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


def kind_of(value: Any) -> str:
    """What a value is, for a message: a mapping, a list, a string, nothing, or its type."""
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _close(key: str, spec: dict[str, Key]) -> str | None:
    m = difflib.get_close_matches(key, list(spec), n=1, cutoff=0.6)
    return m[0] if m else None
