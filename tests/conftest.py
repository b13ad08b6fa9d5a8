"""Shared fixtures: run the real CLI in a subprocess, write configs into temp dirs."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fake_github import FakeGitHub
from helpers import CI_VARS
from pytest_httpserver import HTTPServer


@pytest.fixture
def no_ci_env(monkeypatch):
    """No pull request, summary or token from the environment the tests run in (a CI job): a module
    that runs the gate in auto mode uses it with `pytestmark = pytest.mark.usefixtures("no_ci_env")`."""
    for var in CI_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def cli(tmp_path: Path):
    """Run `carbon-gate ARGS...` as a real subprocess (python -m carbon_gate) in `cwd` (default tmp_path)."""

    def run(
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "carbon_gate", *args],
            cwd=cwd or tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )

    return run


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a dedented carbon-gate.yml (or another name) into tmp_path and return its path."""

    def write(text: str, name: str = "carbon-gate.yml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


@pytest.fixture
def quick_config(write_config):
    """A config with one instant workload (`python -c pass`, one run, no warm-up), `grid` and `machine`
    sections given as YAML flow mappings: for tests about accounting and models, not measuring."""

    def write(grid: str = "{intensity: 100 g/kWh}", machine: str = '{rapl: "off", embodied: "off"}') -> Path:
        return write_config(f"""
            version: 1
            grid: {grid}
            machine: {machine}
            defaults: {{repeats: 1, warmup: 0}}
            workloads:
              - name: quick
                command: {shlex.quote(sys.executable)} -c pass
            """)

    return write


@pytest.fixture(scope="module")
def server():
    """One local HTTP server per test module, standing in for GitHub's API host."""
    s = HTTPServer(host="127.0.0.1", port=0)
    s.start()
    yield s
    s.clear()
    s.stop()


@pytest.fixture
def github(server):
    """A fresh stand-in for GitHub's REST API (fake_github.FakeGitHub) on the module's server."""
    server.clear()
    fake = FakeGitHub(server)
    assert fake.base.startswith("http://127.0.0.1:")
    yield fake
    server.check_handler_errors()  # an exception in the stand-in itself fails the test
    server.clear()
