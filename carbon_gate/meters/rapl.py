"""CPU package (and optionally DRAM) energy from Linux RAPL counters in powercap sysfs (`measured`).

Counters are µJ that wrap at `max_energy_range_uj`; they are read at every sample tick so each
wrap is seen. Any read failure or a wrap we cannot undo turns the whole reading into a reason to
fall back to the model, never into a negative or zero energy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROOT = Path("/sys/class/powercap")


@dataclass
class RaplDomain:
    path: Path
    name: str  # package-0, dram, ...
    max_range_uj: int | None
    last_uj: int = 0
    total_uj: int = 0


@dataclass
class RaplReading:
    """Energy per domain in joules, or the reason there is none."""

    joules: dict[str, float] = field(default_factory=dict)
    error: str | None = None


class RaplError(Exception):
    pass


def discover(root: Path = DEFAULT_ROOT, include_dram: bool = False) -> tuple[list[RaplDomain], str]:
    """Package domains (and DRAM sub-domains if asked); core/uncore/psys are skipped to avoid double counting.

    Returns the domains and, when there are none, why.
    """
    if not root.is_dir():
        return [], f"no RAPL powercap interface at {root}"
    domains: list[RaplDomain] = []
    for zone in sorted(root.glob("intel-rapl:*")):
        parts = zone.name.split(":")
        name = _read_text(zone / "name")
        if name is None:
            continue
        top_level = len(parts) == 2
        if (top_level and name.startswith("package")) or (include_dram and not top_level and name == "dram"):
            max_range = _read_text(zone / "max_energy_range_uj")
            domains.append(RaplDomain(zone, name if top_level else f"dram-{parts[1]}", _int_or_none(max_range)))
    if not domains:
        return [], f"no RAPL package domain under {root}"
    return domains, ""


class RaplMeter:
    """Accumulates energy of the discovered domains between `start()` and `stop()`."""

    def __init__(self, domains: list[RaplDomain]):
        self.domains = domains
        self.error: str | None = None

    def start(self) -> None:
        for d in self.domains:
            d.total_uj = 0
            try:
                d.last_uj = _read_counter(d)
            except RaplError as exc:
                self.error = str(exc)

    def tick(self, _now: float = 0.0) -> None:
        if self.error is not None:
            return
        for d in self.domains:
            try:
                value = _read_counter(d)
            except RaplError as exc:
                self.error = str(exc)
                return
            if value >= d.last_uj:
                d.total_uj += value - d.last_uj
            elif d.max_range_uj:
                d.total_uj += value + d.max_range_uj - d.last_uj
            else:
                self.error = f"{d.path / 'energy_uj'} wrapped and max_energy_range_uj is unknown"
                return
            d.last_uj = value

    def stop(self) -> RaplReading:
        self.tick()
        if self.error is not None:
            return RaplReading(error=self.error)
        return RaplReading(joules={d.name: d.total_uj / 1e6 for d in self.domains})


def _read_counter(d: RaplDomain) -> int:
    text = _read_text(d.path / "energy_uj", raise_errors=True)
    value = _int_or_none(text)
    if value is None or value < 0:
        raise RaplError(f"{d.path / 'energy_uj'} holds no counter value ({text!r})")
    return value


def _read_text(path: Path, raise_errors: bool = False) -> str | None:
    try:
        return path.read_text().strip()
    except OSError as exc:
        if raise_errors:
            reason = (
                "permission denied (energy_uj is root-only since Linux 5.10)"
                if isinstance(exc, PermissionError)
                else (exc.strerror or str(exc))
            )
            raise RaplError(f"cannot read {path}: {reason}") from exc
        return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
