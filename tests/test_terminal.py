"""What a person sees in a terminal or a CI log: the progress display (live on a TTY, plain lines in a
log, ::group:: per workload under GitHub Actions, silent with -q), the run table and `machine` fitted to
the width, and colour on a terminal that honours NO_COLOR and FORCE_COLOR.

The CLI runs as a real subprocess; "a terminal" is a real pseudo-terminal (os.openpty)."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_report import suite  # noqa: F401 (a real results document with every verdict)

from carbon_gate.progress import Display, Event, clock
from carbon_gate.render.terminal import Screen, run_summary, screen

PY = sys.executable
ESC = "\x1b["
QUIET_ENV = {"COLUMNS": "", "NO_COLOR": "", "FORCE_COLOR": "", "GITHUB_ACTIONS": "", "CI": "", "TERM": "xterm-256color"}
CONFIG = """version: 1
grid: {country: FR}
machine: {rapl: "off", gpu: "off", embodied: "off"}
defaults: {repeats: 2, warmup: 1}
workloads:
  - name: first
    command: sleep 0.01
    budget: {energy: 1 Wh}
  - name: second-with-a-rather-long-name
    command: sleep 0.01
    budget: {energy: 1 Wh}
"""


def cg(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "-m", "carbon_gate", *args],
        cwd=cwd,
        env={**os.environ, **QUIET_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def in_pty(*args: str, cwd: Path, env: dict[str, str] | None = None, columns: int = 80) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a real pseudo-terminal; returns (exit code, what it drew)."""
    import fcntl
    import struct
    import termios

    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    full_env = {**os.environ, **QUIET_ENV, **(env or {})}
    full_env.pop("COLUMNS")
    on_pty = {"stdin": follower, "stdout": follower, "stderr": follower}
    proc = subprocess.Popen([PY, "-m", "carbon_gate", *args], cwd=cwd, env=full_env, close_fds=True, **on_pty)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=30)
    os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "carbon-gate.yml").write_text(CONFIG)
    return tmp_path


def test_plain_lines_in_a_log_count_workloads_runs_and_time(project):
    r = cg("run", "--report", "", cwd=project)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith("[1/2] first: 1 warm-up + 2 runs of sleep 0.01")
    assert any(line.startswith("[2/2] second-with-a-rather-long-name:") for line in lines)
    runs = [line for line in lines if "first: " in line and " s, " in line]
    assert len(runs) == 3
    assert re.search(r"first: run 2/2: .*\(workload 1/2 · 3/3 runs · \d+:\d\d elapsed · ETA 0:00\)$", runs[-1])
    assert not any(ESC in line or "\r" in line or line.startswith("::") for line in lines)
    assert lines[-1] == "results: carbon-gate-results.json"


def test_quiet_prints_only_the_summary(project):
    r = cg("run", "-q", "--report", "", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # no progress, no `results: …` line
    assert r.stdout.splitlines()[-1].startswith("carbon-gate: PASS")
    r = cg("run", "-q", "--report", "", cwd=project, env={"GITHUB_ACTIONS": "true"})
    assert r.stderr == "" and "::group::" not in r.stdout


def test_github_actions_groups_each_workload(project):
    r = cg("run", "--report", "", cwd=project, env={"GITHUB_ACTIONS": "true"})
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    marks = [(i, line) for i, line in enumerate(lines) if line.startswith(("::group::", "::endgroup::"))]
    assert [m for _, m in marks] == [
        "::group::first (1/2)",
        "::endgroup::",
        "::group::second-with-a-rather-long-name (2/2)",
        "::endgroup::",
    ]
    (g1, _), (e1, _), (g2, _), (e2, _) = marks
    assert sum("first: " in x and " s, " in x for x in lines[g1:e1]) == 3  # every run of `first` in its group
    assert sum("second-with-a-rather-long-name: " in x and " s, " in x for x in lines[g2:e2]) == 3
    assert lines[e2 + 1 :] == ["results: carbon-gate-results.json"]


def test_measure_is_one_group_under_actions(tmp_path):
    r = cg("measure", "--", "sleep", "0.01", cwd=tmp_path, env={"GITHUB_ACTIONS": "true"})
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[:2] == ["::group::sleep 0.01", "measuring: sleep 0.01"]
    assert "::endgroup::" in lines and lines.index("::endgroup::") < lines.index(
        next(x for x in lines if "wall time" in x)
    )


def test_plain_mode_does_not_import_rich(project):
    r = subprocess.run(
        [PY, "-X", "importtime", "-m", "carbon_gate", "run", "--report", ""],
        cwd=project,
        env={**os.environ, **QUIET_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert not re.search(r"\|\s+rich(\.|$)", r.stderr, re.M)


def test_a_terminal_gets_a_live_status_line_and_colour(project):
    code, screen_text = in_pty("run", "--report", "", cwd=project)
    assert code == 0, screen_text
    assert "\r" in screen_text and f"{ESC}2K" in screen_text  # a status line redrawn in place
    assert re.search(r"\[2/2\] second-with-a-rather-long-name .*runs · ", screen_text)
    assert f"{ESC}36mnew{ESC}0m" in screen_text  # the verdict, coloured
    table = [line for line in screen_text.splitlines() if line.startswith("  first ")]
    assert table and len(re.sub(r"\x1b\[[0-9;]*m", "", table[0])) <= 80


def test_no_color_on_a_terminal(project):
    code, screen_text = in_pty("run", "--report", "", cwd=project, env={"NO_COLOR": "1"})
    assert code == 0, screen_text
    assert f"{ESC}36mnew" not in screen_text and "new" in screen_text


def test_run_table_fits_80_columns(suite):  # noqa: F811
    r = cg("compare", str(suite["path"]), "--report", "", cwd=suite["dir"], env={"COLUMNS": "80"})
    assert r.returncode == 3, r.stderr
    lines = r.stdout.splitlines()
    assert max(map(len, lines)) <= 80, "\n".join(x for x in lines if len(x) > 80)
    header = lines[0].split()
    assert header[:2] == ["workload", "median"] and header[-1] == "verdict" and "SCI" not in header
    for w in suite["doc"]["workloads"]:
        assert any(line.split()[:1] == [w["name"]] and line.split()[-1] == w["verdict"] for line in lines), w["name"]
    wide = cg("compare", str(suite["path"]), "--report", "", cwd=suite["dir"])
    assert "SCI" in wide.stdout.splitlines()[0].split() and max(map(len, wide.stdout.splitlines())) > 80


@pytest.mark.parametrize("width", [50, 60, 80, 100, 120])
def test_run_summary_fits_any_width(suite, width):  # noqa: F811
    lines = run_summary(suite["doc"], width).splitlines()
    assert max(map(len, lines)) <= width, "\n".join(x for x in lines if len(x) > width)
    assert lines[0].split()[-1] == "verdict"


def test_names_are_shortened_only_when_columns_are_not_enough(suite):  # noqa: F811
    doc = {**suite["doc"], "workloads": [{**w, "name": w["name"] * 6} for w in suite["doc"]["workloads"]]}
    lines = run_summary(doc, 80).splitlines()
    assert max(map(len, lines)) <= 80
    assert any("…" in line.split()[0] for line in lines[2:4])


@pytest.mark.parametrize(
    "env, colour",
    [
        ({}, False),
        ({"FORCE_COLOR": "1"}, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
        ({"FORCE_COLOR": "0"}, False),
    ],
)
def test_colour_in_a_pipe_follows_no_color_and_force_color(suite, env, colour):  # noqa: F811
    r = cg("compare", str(suite["path"]), "--report", "", cwd=suite["dir"], env=env)
    assert r.returncode == 3, r.stderr
    assert (ESC in r.stdout) is colour
    if colour:
        assert f"{ESC}31mregression{ESC}0m" in r.stdout and f"{ESC}31mERROR{ESC}0m" in r.stdout
        assert f"{ESC}32mimprovement{ESC}0m" in r.stdout and f"{ESC}33minconclusive{ESC}0m" in r.stdout


def test_screen_reads_columns_and_colour_from_the_environment():
    pipe = io.StringIO()
    assert screen(pipe, {}) == Screen(None, False)
    assert screen(pipe, {"COLUMNS": "80"}) == Screen(80, False)
    assert screen(pipe, {"COLUMNS": "80", "FORCE_COLOR": "true"}) == Screen(80, True)
    assert screen(pipe, {"NO_COLOR": "1", "FORCE_COLOR": "1"}) == Screen(None, False)


def test_machine_fits_80_columns(tmp_path):
    r = cg("machine", cwd=tmp_path, env={"COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(map(len, lines)) <= 80, "\n".join(x for x in lines if len(x) > 80)
    labels = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert labels == ["CPU", "RAM", "platform", "CPU", "curve", "memory", "GPU", "embodied", "fingerprint"]
    assert all(line.startswith(" " * 13) for line in lines if line.startswith(" "))
    wide = cg("machine", cwd=tmp_path)
    assert " ".join(wide.stdout.split()) == " ".join(r.stdout.split())  # wrapped, nothing lost


def test_eta_is_the_pace_so_far_times_the_runs_left():
    now = [100.0]
    out = io.StringIO()
    with Display(out, "plain", now=lambda: now[0]) as show:
        show(Event(text="w: 1 warm-up + 3 runs", kind="workload", workload="w", index=1, count=2, runs=4))
        now[0] += 10
        show(Event(text="  w: warm-up: 10 s", kind="run", workload="w", label="warm-up"))
        now[0] += 10
        show(
            Event(text="w: confirming", kind="workload", workload="w", index=1, count=2, runs=6)
        )  # confirmation rounds extend the same workload
        show(Event(text="  w: run 1/3: 10 s", kind="run", workload="w", label="run 1/3"))
    lines = out.getvalue().splitlines()
    assert lines[1].endswith("(workload 1/2 · 1/4 runs · 0:10 elapsed · ETA 0:30)")
    assert lines[3].endswith("(workload 1/2 · 2/6 runs · 0:20 elapsed · ETA 0:40)")
    assert [clock(s) for s in (0, 65, 3723)] == ["0:00", "1:05", "1:02:03"]


def test_measure_table_fits_the_width_and_keeps_numbers_with_their_units(tmp_path):
    r = cg("measure", "--", "sleep", "0.01", cwd=tmp_path, env={"COLUMNS": "60"})
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert max(map(len, lines)) <= 60, "\n".join(x for x in lines if len(x) > 60)
    wrapped = [line for line in lines if not re.search(r"sleep 0\.01|exit code", line)]
    assert not any(re.search(r"\d$", line) for line in wrapped), lines  # no "0" here and "mg" on the next line
