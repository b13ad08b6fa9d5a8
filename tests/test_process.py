"""Process handling (docs/methodology.md): exit codes, exact CPU time of the tree, sampling, and killing the
whole process group on timeout, Ctrl-C and SIGTERM. Everything here runs real processes."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from carbon_gate.meters.process import run_process

PY = sys.executable


def busy(seconds: float) -> str:
    """Python source that spins for `seconds` of its own CPU time, then prints its process_time()."""
    return (
        "import time\n"
        "t0 = time.process_time()\n"
        f"while time.process_time() - t0 < {seconds}:\n"
        "    pass\n"
        "print(time.process_time(), flush=True)\n"
    )


def write_busy_script(tmp_path: Path, seconds: float, name: str = "busy.py") -> Path:
    path = tmp_path / name
    path.write_text(busy(seconds))
    return path


def gone(pid: int, within: float = 3.0) -> bool:
    """True once `pid` no longer runs (a zombie waiting for init to reap it counts as gone)."""
    deadline = time.monotonic() + within
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def read_pid(path: Path, within: float = 5.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            text = ""
        if text:
            return int(text)
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


def reap_stray(pid: int) -> None:
    """Clean up a process one of our own tests started (by pid only), if a bug left it running."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --- exit codes ---------------------------------------------------------------------------------


def test_exit_code_passes_through():
    run = run_process([PY, "-c", "import sys; sys.exit(3)"])
    assert run.exit_code == 3
    assert run.signal is None and run.launch_error is None and not run.timed_out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_by_signal_gives_128_plus_n(sig):
    # The shell kills itself: the leader dies of the signal, not with an exit status.
    run = run_process(f"kill -{int(sig)} $$")
    assert run.exit_code == 128 + int(sig)
    assert run.signal == int(sig)


def test_list_command_not_found_is_127_and_named():
    run = run_process(["carbon-gate-no-such-command-xyz", "--flag"])
    assert run.exit_code == 127
    assert run.launch_error is not None and "carbon-gate-no-such-command-xyz" in run.launch_error
    assert run.cpu_s == 0.0


def test_not_executable_is_126(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    run = run_process([str(script)])
    assert run.exit_code == 126
    assert run.launch_error is not None and "not executable" in run.launch_error
    assert str(script) in run.launch_error


def test_shell_form_missing_command_is_127():
    run = run_process("carbon-gate-no-such-command-xyz --flag", stderr=subprocess.DEVNULL)
    assert run.exit_code == 127
    assert run.launch_error is None  # the shell started; it is the shell that says 127


def test_missing_working_directory_is_reported(tmp_path):
    run = run_process([PY, "-c", "pass"], cwd=tmp_path / "nope")
    assert run.exit_code == 127
    assert run.launch_error is not None and "working directory" in run.launch_error


# --- exact CPU time -----------------------------------------------------------------------------


def test_cpu_time_is_exact_for_a_busy_child(tmp_path):
    out = tmp_path / "out.txt"
    with out.open("w") as f:
        run = run_process([PY, "-c", busy(0.5)], stdout=f)
    child_cpu = float(out.read_text().split()[-1])
    assert child_cpu >= 0.5
    assert run.exit_code == 0
    assert run.cpu_s == pytest.approx(child_cpu, rel=0.25)
    assert run.wall_s >= run.cpu_s  # single-threaded: cannot use more than one CPU-second per second


def test_cpu_time_of_grandchildren_counts(tmp_path):
    script = write_busy_script(tmp_path, 0.25)
    out = tmp_path / "out.txt"
    with out.open("w") as f:
        run = run_process(f"{PY} {script}; {PY} {script}", stdout=f)
    reported = [float(x) for x in out.read_text().split()]
    assert len(reported) == 2
    assert run.exit_code == 0
    # Both grandchildren's CPU is in the leader's wait4 rusage (plus the shell's own few ms).
    assert run.cpu_s == pytest.approx(sum(reported), rel=0.25)
    assert run.cpu_s > 0.45


def test_cpu_time_of_orphaned_descendant_counts(tmp_path):
    # `( busy & )` is the classic daemonising double fork: the busy process is reparented to init
    # at once, yet it is part of the command's process group and burns 0.4 s of CPU in the window.
    # The leader waits for the busy process's marker (not a fixed sleep): on a loaded machine 0.4 s of CPU
    # can take longer than any fixed wall-clock window, and what is left over is swept when the leader ends.
    script = write_busy_script(tmp_path, 0.4)
    marker = tmp_path / "done"
    run = run_process(
        f"( {{ {PY} {script} > /dev/null; touch {marker}; }} & ) ; "
        f"for i in $(seq 600); do [ -e {marker} ] && break; sleep 0.05; done"
    )
    assert run.exit_code == 0 and marker.exists()
    assert run.cpu_s > 0.3


# --- killing the group --------------------------------------------------------------------------


def test_timeout_kills_the_whole_group(tmp_path):
    pidfile = tmp_path / "gc.pid"
    start = time.monotonic()
    run = run_process(f"sleep 30 & echo $! > {pidfile}; sleep 30", timeout_s=0.5)
    elapsed = time.monotonic() - start
    pid = read_pid(pidfile)
    try:
        assert run.timed_out
        assert run.exit_code in (143, 137)
        assert elapsed < 4.0
        assert 0.4 < run.wall_s < 4.0
        assert gone(pid), f"grandchild {pid} survived the timeout"
    finally:
        reap_stray(pid)


def test_timeout_kills_a_grandchild_that_ignores_sigterm(tmp_path):
    pidfile = tmp_path / "gc.pid"
    run = run_process(f"(trap '' TERM; exec sleep 30) & echo $! > {pidfile}; sleep 30", timeout_s=0.5)
    pid = read_pid(pidfile)
    try:
        assert run.timed_out and run.exit_code == 143
        assert gone(pid), f"SIGTERM-ignoring grandchild {pid} survived the timeout"
    finally:
        reap_stray(pid)


def test_no_stray_processes_after_normal_exit(tmp_path):
    pidfile = tmp_path / "bg.pid"
    run = run_process(f"sleep 30 & echo $! > {pidfile}; exit 0")
    pid = read_pid(pidfile)
    try:
        assert run.exit_code == 0 and not run.timed_out
        assert run.wall_s < 2.0  # we did not wait for the background child
        assert gone(pid), f"background child {pid} outlived the command"
    finally:
        reap_stray(pid)


def _start_cli(args: list[str], tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    err = tmp_path / "stderr.txt"
    # The test's own process may have inherited SIGINT as ignored (e.g. pytest started in the
    # background); a terminal Ctrl-C reaches a process with the default disposition, so restore it.
    proc = subprocess.Popen(
        [PY, "-m", "carbon_gate", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=err.open("w"),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return proc, err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_kills_the_group_and_exits_128_plus_n(tmp_path, sig, code):
    pidfile = tmp_path / "workload.pid"
    proc, err = _start_cli(["measure", "--", "sh", "-c", f"echo $$ > {pidfile}; exec sleep 30"], tmp_path)
    try:
        pid = read_pid(pidfile)
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(sig)
        rc = proc.wait(timeout=10)
        assert time.monotonic() - sent < 5.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        assert rc == code
        assert "interrupted" in err.read_text()
        assert gone(pid), f"workload {pid} survived {sig.name}"
    finally:
        reap_stray(pid)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_kills_a_grandchild_that_ignores_sigterm(tmp_path, sig, code):
    leader_file, gc_file = tmp_path / "leader.pid", tmp_path / "gc.pid"
    script = (
        f"(trap '' TERM; echo $$ > /dev/null; exec sh -c 'echo $$ > {gc_file}; exec sleep 30') & "
        f"echo $$ > {leader_file}; sleep 30"
    )
    proc, _ = _start_cli(["measure", "--", "sh", "-c", script], tmp_path)
    gc_pid = None
    try:
        read_pid(leader_file)
        gc_pid = read_pid(gc_file)
        time.sleep(0.3)
        proc.send_signal(sig)
        rc = proc.wait(timeout=10)
        assert rc == code
        assert gone(gc_pid, within=1.5), f"grandchild {gc_pid} (ignores SIGTERM) survived {sig.name}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if gc_pid is not None:
            reap_stray(gc_pid)


# --- sampling -----------------------------------------------------------------------------------


def test_ticks_and_overhead_for_a_one_second_sleep():
    run = run_process(["sleep", "1"])
    assert run.exit_code == 0
    assert 0.95 < run.wall_s < 2.0
    assert len(run.ticks) >= 4
    ts = [t.t for t in run.ticks]
    assert all(b > a for a, b in itertools.pairwise(ts)), ts
    assert 0 < ts[0] < 0.1 and ts[-1] <= run.wall_s + 0.05
    assert all(t.rss_bytes > 0 for t in run.ticks)
    assert run.cpu_s < 0.1
    assert 0 < run.overhead_cpu_s < 0.1


# --- the `measure` command ----------------------------------------------------------------------


def test_measure_cli_passes_exit_code_and_prints_methods(cli, tmp_path):
    out = tmp_path / "results.json"
    res = cli("measure", "--json", str(out), "--", PY, "-c", "import sys; sum(range(10**7)); sys.exit(3)")
    assert res.returncode == 3, res.stderr
    err = res.stderr
    assert re.search(r"^\s*cpu\s", err, re.M), err
    assert re.search(r"^\s*memory\s", err, re.M), err
    assert re.search(r"\d\s?(µWh|mWh|Wh|kWh)", err), err
    assert re.search(r"\b(measured|modelled|defaulted)\b", err), err
    assert "exited with code 3" in err

    doc = json.loads(out.read_text())
    assert doc["schema"] == "carbon-gate/results@1"
    sample = doc["workloads"][0]["samples"][0]
    assert sample["exit_code"] == 3
    assert sample["cpu_s"] > 0.05  # sum(range(10**7)) is real work
    energy = sample["energy"]
    assert {e["component"] for e in energy} >= {"cpu", "memory"}
    for e in energy:
        assert set(e) >= {"component", "wh", "method", "reason"}
        assert e["method"] in ("measured", "modelled", "defaulted")
        assert e["wh"] > 0
        assert e["reason"]


def test_measure_cli_command_not_found(cli):
    res = cli("measure", "--", "carbon-gate-no-such-command-xyz")
    assert res.returncode == 127
    assert "carbon-gate-no-such-command-xyz" in res.stderr
