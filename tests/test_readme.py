"""The README's two set-up blocks, pasted one after the other into one shell in a fresh copy of the
repository, both succeed — the way a newcomer runs them.

Network-free: the blocks' own commands run unchanged (`python3 -m venv`, `pip install -e …`,
`carbon-gate run`, `python -m pytest -q`), with pip told through its environment to use no index, to
build without isolation (hatchling comes from the test extras), and to find every dependency already
installed in this test environment (on PYTHONPATH). The suite the second block starts is cut down to
one quick test with PYTEST_ADDOPTS: running the whole suite inside the suite would take minutes and
recurse into this test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_blocks(readme: str) -> list[str]:
    """The ```sh blocks of the README's set-up section, in order."""
    section = readme.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_readme_has_exactly_two_set_up_blocks_that_return_to_the_root():
    blocks = setup_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) == 2
    for block in blocks:
        # a `cd` may only happen inside a subshell, so the next block starts at the root again
        outside = re.sub(r"\([^()]*\)", "", block)
        assert not re.search(r"(^|&&|;)\s*cd\s", outside), block


def fresh_copy(dest: Path) -> Path:
    """The files git would check out (tracked, plus new ones not ignored), as a clone holds them."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_both_set_up_blocks_run_in_order_in_a_fresh_copy(tmp_path):
    blocks = setup_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    clone = fresh_copy(tmp_path / "carbon-gate")
    assert not (clone / ".venv").exists()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON", "GITHUB_", "CARBON_GATE_"))
    }
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),  # python3: this Python
        PYTHONPATH=sysconfig.get_paths()["purelib"],  # the dependencies, already installed here
        PIP_NO_INDEX="1",
        PIP_NO_BUILD_ISOLATION="0",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTEST_ADDOPTS="-p no:cacheprovider tests/test_terminal.py::test_eta_is_the_pace_so_far_times_the_runs_left",
    )
    env.pop("CI", None)
    script = "set -e\n" + "\n".join(blocks)
    r = subprocess.run(
        ["bash", "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert re.search(r"^carbon-gate: PASS", r.stdout, re.M), r.stdout  # block 1: the example's gate passed
    assert (clone / "examples/quickstart/carbon-gate-results.json").is_file()
    assert re.search(r"^1 passed", r.stdout, re.M), r.stdout[-2000:]  # block 2: pytest ran, from the root
    # the package both blocks installed is this copy's, editable
    venv_python = clone / ".venv" / "bin" / "python"
    where = subprocess.run(
        [str(venv_python), "-c", "import carbon_gate; print(carbon_gate.__file__)"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.strip() == str(clone / "carbon_gate" / "__init__.py"), where


def test_release_references_agree():
    """The README's `rev:` and `@vN`, the examples, the workflow `init` writes, the package version and
    the changelog tell one story (docs/releasing.md says how a release updates them together)."""
    from carbon_gate import __version__

    major = __version__.split(".")[0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.findall(r"^\s*rev: (\S+)", readme, re.M) == [f"v{__version__}"]
    refs = {}
    for path in [
        ROOT / "README.md",
        ROOT / "templates/workflow.yml",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "examples").glob("**/*.yml")),
        *sorted((ROOT / "examples").glob("**/*.md")),
    ]:
        for ref in re.findall(r"carbon-gate/carbon-gate@([\w.-]+)", path.read_text(encoding="utf-8")):
            refs.setdefault(ref, []).append(path.relative_to(ROOT).as_posix())
    assert set(refs) == {f"v{major}"}, refs
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(__version__)}\]", changelog, re.M)
    assert re.search(r"^## \[Unreleased\]", changelog, re.M)
    assert (ROOT / "docs/releasing.md").is_file() and "docs/releasing.md" in readme
