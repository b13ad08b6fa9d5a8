"""Papercuts a daily user meets: help text on every option, one name for the results file (old spelling
kept as a hidden alias), counts printed as integers, and packaging metadata that says what it is."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from carbon_gate.cli import main

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def test_every_option_has_help_text():
    missing = [
        f"{' '.join(path)} {'/'.join(p.opts)}"
        for path, cmd in commands(main)
        for p in cmd.params
        if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()
    ]
    assert missing == []


def test_results_file_has_one_name(tmp_path, cli):
    """Every command that writes a results JSON calls the option --results; measure's old --json still works."""
    writers = {
        path: cmd
        for path, cmd in commands(main)
        if any("results JSON" in (p.help or "") for p in cmd.params if isinstance(p, click.Option))
    }
    assert {" ".join(p) for p in writers} >= {"measure", "run", "compare", "action", "import codecarbon"}
    for path, cmd in writers.items():
        names = [
            o for p in cmd.params if isinstance(p, click.Option) and "results JSON" in (p.help or "") for o in p.opts
        ]
        assert names == ["--results"], (path, names)
    r = cli("measure", "--results", "new.json", "--", PY, "-c", "pass")
    assert r.returncode == 0, r.stderr
    r = cli("measure", "--json", "old.json", "--", PY, "-c", "pass")
    assert r.returncode == 0, r.stderr
    assert (
        json.loads((tmp_path / "new.json").read_text())["schema"]
        == json.loads((tmp_path / "old.json").read_text())["schema"]
    )
    assert "--json" not in cli("measure", "--help").stdout


def test_estimate_prints_counts_as_integers(cli):
    r = cli("estimate", "--params", "7e9", "--tokens", "2e12", "--accelerator", "H100-SXM", "--count", "256")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^  tokens\s+2,000,000,000,000$", r.stdout, re.M), r.stdout
    assert re.search(r"^  active_params\s+7,000,000,000$", r.stdout, re.M)
    assert "e+" not in r.stdout


def test_pre_commit_manifest_declares_its_minimum_version():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", h["minimum_pre_commit_version"]) for h in hooks)
    r = subprocess.run(
        [str(Path(PY).parent / "pre-commit"), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_package_metadata_has_urls_and_python_classifiers():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert {"Homepage", "Source", "Issues", "Changelog", "Documentation"} <= set(project["urls"])
    minimum = int(re.fullmatch(r">=3\.(\d+)", project["requires-python"]).group(1))
    versions = {
        int(m) for c in project["classifiers"] for m in re.findall(r"^Programming Language :: Python :: 3\.(\d+)$", c)
    }
    assert min(versions) == minimum and versions == set(range(minimum, max(versions) + 1))
    assert "Programming Language :: Python :: 3 :: Only" in project["classifiers"]
