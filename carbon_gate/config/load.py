"""Read `carbon-gate.yml` into a typed `Config`: bounded read, YAML with lines, the spec's checks,
the rules that cross keys, then the records with every default filled in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import settings
from ..errors import ConfigError, ConfigProblem
from ..intensity import LEGACY_LIVE, CarbonAware
from ..settings import Config, GateSettings, Workload
from .spec import CARBON_AWARE_KEYS, ENV_NAME, ESTIMATE_SIZE_KEYS, KEY_ENV_HINTS, REMOVED_KEYS, RUN_KEYS, SPEC
from .validate import Validator, kind_of, parsed_default
from .yaml_lines import KeyPath, Lines, load_yaml

# A budget file is small: a larger one is refused before YAML sees it.
MAX_CONFIG_BYTES = 1024 * 1024


def load(path: str | os.PathLike[str]) -> Config:
    """Read, validate and type the config at `path`; raises ConfigError listing every problem."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(p), None, "", "file not found (create one, or pass -c PATH)")]) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError(
            [ConfigProblem(str(p), None, "", f"cannot read: {getattr(exc, 'strerror', None) or exc}")]
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            [ConfigProblem(str(p), None, "", f"larger than {MAX_CONFIG_BYTES // 1024} KiB: not a budget file")]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                ConfigProblem(
                    str(p),
                    line,
                    "",
                    f"not UTF-8 text (byte {exc.start}: 0x{data[exc.start]:02x}); save the file as UTF-8",
                )
            ]
        ) from None
    return parse(text, str(p))


def parse(text: str, filename: str = "carbon-gate.yml") -> Config:
    """Validate config text; `filename` is used in messages and as the base for relative paths."""
    data, lines = load_yaml(text, filename)
    v = _ConfigValidator(filename, lines, REMOVED_KEYS)
    if not isinstance(data, dict):
        v.problem((), f"expected a mapping with 'version' and 'workloads', got {kind_of(data)}")
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


class _ConfigValidator(Validator):
    """The spec's checks plus the rules of carbon-gate.yml that cross keys."""

    def check_item(self, path: KeyPath, raw: dict[Any, Any], checked: dict[str, Any]) -> None:
        """A workload: one way to get its energy, and a forecast's keys that agree."""
        if isinstance(checked.get("estimate"), dict):
            self.check_estimate(path + ("estimate",), checked["estimate"])
        kinds = [k for k in ("command", "estimate", "source") if k in raw]
        if len(kinds) != 1:
            self.problem(
                path,
                "a workload needs exactly one of command, estimate or source"
                + (f" (found {', '.join(kinds)})" if kinds else " (missing command)"),
            )

    def check_carbon_aware(self, path: KeyPath, g: dict[str, Any]) -> None:
        """A pull request must not point a key at an unrelated secret (GITHUB_TOKEN): variables named
        for the key have to say what they are for."""
        for name in ("key_env", "user_env"):
            var = g.get(name)
            if isinstance(var, str) and not (ENV_NAME.match(var) and any(h in var for h in KEY_ENV_HINTS)):
                self.problem(
                    path + (name,),
                    f"expected an environment variable name in capitals containing "
                    f"ELECTRICITYMAPS or WATTTIME, or starting with CARBON_GATE_, got {var!r}",
                )
        live, provider = LEGACY_LIVE.get(g.get("live", "none"), g.get("live", "none")), g.get("provider")
        if provider is not None and live != "none" and live != provider:
            self.problem(
                path + ("live",), f"grid.live {g['live']!r} disagrees with grid.provider {provider!r}: keep provider"
            )
        if (g.get("latitude") is None) != (g.get("longitude") is None):
            self.problem(path + ("latitude" if "latitude" in g else "longitude",), "latitude and longitude go together")

    def check_profile(self, path: KeyPath, profile: str) -> None:
        """A packaged profile's name or a readable profile file (read as the meters will read it)."""
        from ..meters.cpu_model import ProfileError, load_profile, packaged_profiles  # only for a named profile

        names = [p.name for p in packaged_profiles()]
        if profile in names:
            return
        try:
            load_profile(Path(profile))
        except ProfileError as exc:
            self.problem(path, f"expected auto, a packaged profile ({', '.join(names)}) or a profile file: {exc}")

    def check_estimate(self, path: KeyPath, e: dict[str, Any]) -> None:
        """What no single key can check: a forecast needs a size, and its active parameters are a
        subset of all of them (`estimate()` refuses both at run time, naming the CLI flags)."""
        params, moe = e.get("params"), e.get("moe_active_params")
        if isinstance(params, float) and isinstance(moe, float) and moe > params:
            self.problem(
                path + ("moe_active_params",),
                f"must not exceed params ({params:g}): active parameters are a subset of all of them, got {moe:g}",
            )
        sized = [k for k in ESTIMATE_SIZE_KEYS if k in e]
        if "hours" in e and sized:
            self.problem(
                path + ("hours",),
                f"give either hours or params and tokens, not both: hours fixes the "
                f"run's length, so {', '.join(sized)} would be ignored",
            )
        if "hours" not in e and not ("params" in e and "tokens" in e):
            missing = " and ".join(k for k in ("params", "tokens") if k not in e)
            self.problem(path, f"a forecast needs params and tokens, or hours (missing {missing})")


def _build(path: Path, v: dict[str, Any], lines: Lines) -> Config:
    grid = v.get("grid", {})
    machine = v.get("machine", {})
    defaults = {k: v.get("defaults", {}).get(k, parsed_default(RUN_KEYS[k])) for k in RUN_KEYS}
    base, base_default = v.get("baseline", {}), settings.BaselineSettings()
    gate, gate_default = v.get("gate", {}), GateSettings()
    prepush, prepush_default = v.get("prepush", {}), settings.PrepushSettings()
    environment = v.get("environment", {})
    return Config(
        path=path,
        version=v["version"],
        grid=settings.GridSettings(
            country=grid.get("country"),
            intensity=grid.get("intensity"),
            source=grid.get("source"),
            pue=grid.get("pue", 1.0),
            live=grid.get("live", "none"),
            lines={k: lines[("grid", k)] for k in grid if ("grid", k) in lines},
            carbon_aware=_carbon_aware(grid),
            wue=grid.get("wue"),
        ),
        machine=settings.MeterSettings(**{k: machine[k] for k in machine}),
        baseline=settings.BaselineSettings(
            mode=base.get("mode", "auto"),
            file=Path(base.get("file", base_default.file)),
            setup=base.get("setup"),
            history=base.get("history", base_default.history),
            seed=base.get("seed"),
            pairing=base.get("pairing", "auto"),
        ),
        gate=GateSettings(
            tuple(gate.get("fail_on", gate_default.fail_on)),
            gate.get("confidence", gate_default.confidence),
            gate.get("family", gate_default.family),
        ),
        workloads=tuple(_workload(i, w, defaults, lines) for i, w in enumerate(v["workloads"])),
        prepush=settings.PrepushSettings(
            prepush.get("repeats", prepush_default.repeats), prepush.get("warmup", prepush_default.warmup)
        ),
        # The live-grid provider's key variables are secrets too: `CARBON_GATE_*` names pass by default.
        environment=settings.EnvironmentSettings(
            environment.get("pass", ()),
            tuple(environment.get("secrets", ())) + tuple(n for n in (grid.get("key_env"), grid.get("user_env")) if n),
        ),
    )


def _workload(i: int, w: dict[str, Any], defaults: dict[str, Any], lines: Lines) -> Workload:
    run = {k: w.get(k, defaults[k]) for k in RUN_KEYS}
    unit = w.get("unit", {})
    return Workload(
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
        budget=_budget(("workloads", i, "budget"), w.get("budget", {}), lines),
        paths=w.get("paths", ()),
        line=lines.get(("workloads", i)),
        estimate=w.get("estimate") or None,
        codecarbon_csv=(w.get("source") or {}).get("codecarbon_csv"),
        extrapolate_to=(w.get("extrapolate") or {}).get("to"),
        energy_per_point=tuple(w.get("energy_per_point", ())),
    )


def _budget(at: KeyPath, b: dict[str, Any], lines: Lines) -> settings.Budget:
    per_unit = b.get("per_unit", {})
    projected = b.get("projected", {})
    names = ("energy", "co2e", "per_unit.energy", "per_unit.co2e", "projected.energy", "projected.co2e")
    budget_lines = {name: lines[at + tuple(name.split("."))] for name in names if at + tuple(name.split(".")) in lines}
    return settings.Budget(
        b.get("energy"),
        b.get("co2e"),
        per_unit.get("energy"),
        per_unit.get("co2e"),
        budget_lines,
        projected.get("energy"),
        projected.get("co2e"),
    )


def _carbon_aware(grid: dict[str, Any]) -> CarbonAware:
    advice = grid.get("advice") or {}
    spec = CARBON_AWARE_KEYS["advice"].children
    return CarbonAware(
        provider=grid.get("provider") or LEGACY_LIVE.get(grid.get("live", "none"), grid.get("live", "none")),
        zone=grid.get("zone"),
        latitude=grid.get("latitude"),
        longitude=grid.get("longitude"),
        key_env=grid.get("key_env"),
        user_env=grid.get("user_env"),
        timeout_s=grid.get("timeout", parsed_default(CARBON_AWARE_KEYS["timeout"])),
        gate_on=grid.get("gate_on", "pinned"),
        candidates=tuple(advice.get("candidates", ())),
        advise_above_wh=advice.get("above", parsed_default(spec["above"])),
        window_s=advice.get("window", parsed_default(spec["window"])),
    )
