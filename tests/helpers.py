"""Helpers the test modules share: git in temporary repositories, and an environment without CI."""

from __future__ import annotations

import copy
import os
import subprocess
import textwrap
from pathlib import Path

from carbon_gate.meters.hardware import Hardware

# Git with a fixed identity and none of the user's signing or hooks, so commits work on any machine.
GIT = [
    "git",
    "-c",
    "user.name=carbon-gate tests",
    "-c",
    "user.email=tests@example.invalid",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "core.hooksPath=/dev/null",
]
GIT_ID = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}

# What would make a run think it is a pull request's check on GitHub (a base to pair with, a summary to
# write, a token) or read a sysfs tree other than the machine's.
CI_VARS = tuple(
    "GITHUB_BASE_REF GITHUB_HEAD_REF GITHUB_EVENT_NAME GITHUB_EVENT_PATH"
    " GITHUB_ACTIONS GITHUB_STEP_SUMMARY GITHUB_OUTPUT GITHUB_TOKEN"
    " GITHUB_REPOSITORY CARBON_GATE_POWERCAP_ROOT".split()
)


def without_ci(**extra: str) -> dict[str, str]:
    """This process's environment without CI_VARS, plus `extra`: for a subprocess."""
    return {**{k: v for k, v in os.environ.items() if k not in CI_VARS}, **extra}


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in `repo` (with GIT's settings and identity, in `env` or this environment); its stdout."""
    return subprocess.run(
        [*GIT, *args],
        cwd=repo,
        env={**(env if env is not None else os.environ), **GIT_ID},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) files, commit everything, return the new sha."""
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


# Modelled energy only (no RAPL, GPU or embodied) at a pinned intensity: a sleep costs about idle power ×
# wall time on any machine, so tests of verdicts, baselines and reports do not depend on counters.
MODELLED_HEADER = """\
version: 1
grid: {intensity: 400 g/kWh, source: test value}
machine: {rapl: "off", gpu: "off", embodied: "off"}
"""


def suite_config(
    workloads: str, *, header: str = "version: 1\n", defaults: str = "", baseline: str = "", extra: str = ""
) -> str:
    """A carbon-gate.yml: `header`, then `defaults:` and `baseline:` (flow mappings, when given), `extra`
    (whole lines) and the `workloads` list (a YAML list, dedented here)."""
    text = header + (f"defaults: {defaults}\n" if defaults else "") + (f"baseline: {baseline}\n" if baseline else "")
    return text + extra + "workloads:\n" + textwrap.indent(textwrap.dedent(workloads).strip("\n"), "  ") + "\n"


def modelled_config(workloads: str, **sections: str) -> str:
    """suite_config with MODELLED_HEADER."""
    return suite_config(workloads, header=MODELLED_HEADER, **sections)


def paired_run(*more: str, seed: int | None = None, results: str | None = None, report: str | None = None) -> list[str]:
    """The arguments of `carbon-gate run` paired with HEAD~1: under a fixed `seed`, into the `results` and `report`
    files ("": no report) where given, then `more`."""
    args = ["run", "--mode", "paired", "--base", "HEAD~1"]
    for flag, value in (("--seed", seed), ("--results", results), ("--report", report)):
        if value is not None:
            args += [flag, str(value)]
    return [*args, *more]


def hardware(
    cpu_model: str = "Carbon Gate Test CPU", cpus: int = 2, *, virtualised: bool = False, ram_bytes: int = 8 * 2**30
) -> Hardware:
    """A Linux x86_64 machine with `cpus` logical CPUs, all of them this process's; the default CPU model is in no
    table, so a power model for it is `defaulted`."""
    return Hardware(
        cpu_model=cpu_model,
        logical_cpus=cpus,
        machine_cpus=cpus,
        virtualised=virtualised,
        ram_bytes=ram_bytes,
        os="Linux test",
        arch="x86_64",
    )


def counted_sample(template: dict, wh: float, reason: str) -> dict:
    """A copy of the results sample `template` as a counted, successful run that took `wh` Wh of modelled CPU
    energy (set by hand for `reason`)."""
    s = copy.deepcopy(template)
    s.update(
        warmup=False,
        error=None,
        exit_code=0,
        energy_wh=wh,
        timed_out=False,
        energy=[{"component": "cpu", "wh": wh, "method": "modelled", "reason": reason, "source": "test"}],
    )
    return s
