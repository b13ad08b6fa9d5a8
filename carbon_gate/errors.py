"""Errors a user can hit, each mapped to a documented exit code (docs/configuration.md, "Validation and exit codes")."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_PASS = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_WORKLOAD = 3
EXIT_DEFER = 75  # `forecast --defer-above`: wait for a cleaner window (sysexits' EX_TEMPFAIL, "try again later")


class CarbonGateError(Exception):
    """Base class for errors shown to the user as one clear message (never a traceback)."""

    exit_code = EXIT_USAGE


@dataclass
class ConfigProblem:
    """One validation problem, located in the config file."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(CarbonGateError):
    """The config file is malformed or invalid; carries every problem found."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UsageError(CarbonGateError):
    """Bad command-line usage or an unusable input file."""


class WorkloadError(CarbonGateError):
    """Something a workload needs could not run (setup, the command itself)."""

    exit_code = EXIT_WORKLOAD
