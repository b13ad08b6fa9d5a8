"""Run a command as its own process group and observe it: the side-effect edge of `measure`.

Exact CPU-seconds come from the kernel (`wait4` rusage of the leader, which includes every
descendant it waited for); the utilisation *shape* and RSS come from psutil samples taken at an
adaptive interval. Timeout, Ctrl-C and SIGTERM kill the whole group, so nothing survives the run.

Processes that leave the group (`setsid cmd &`, a child calling `setpgrp`) are still ours: as a
child subreaper we inherit them when their parent exits, so at the end of the run every remaining
descendant is killed, reaped and its CPU time counted, and the run says how many escaped. If
carbon-gate itself is killed outright (SIGKILL), the leader dies with it (PR_SET_PDEATHSIG) and a
small watchdog process, which notices the closed pipe, kills the workload's group.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, TypedDict

import psutil

# Fast sampling first, so short commands still get a shape, then at most every 0.5 s (at least once a second).
SAMPLE_SCHEDULE = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
KILL_GRACE_S = 3.0


@dataclass(frozen=True)
class Tick:
    """One observation of the running tree: seconds since start, cumulative tree CPU-s, RSS bytes."""

    t: float
    cpu_s: float
    rss_bytes: int


@dataclass
class ProcessRun:
    """What happened when a command ran."""

    wall_s: float
    cpu_s: float  # exact, from the kernel
    exit_code: int  # the command's code, or 128+N if killed by signal N, 127 not found, 126 not executable
    ticks: list[Tick] = field(default_factory=list)
    peak_rss_bytes: int = 0
    overhead_cpu_s: float = 0.0
    timed_out: bool = False
    launch_error: str | None = None  # the command could not be started at all
    signal: int | None = None
    escaped: int = 0  # processes that left the workload's group and were still running at its end


TickHook = Callable[[float], None]


class Launch(TypedDict, total=False):
    """How to start a command (`run_process`'s options, passed through by the meters that wrap it)."""

    cwd: str | os.PathLike[str] | None
    env: dict[str, str] | None
    timeout_s: float | None
    stdin: int | IO[Any] | None
    stdout: int | IO[Any] | None
    stderr: int | IO[Any] | None
    cpus: frozenset[int] | None  # pin the command and its whole tree to these CPUs


def run_process(
    command: str | Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    on_tick: TickHook | None = None,
    cpus: frozenset[int] | None = None,
) -> ProcessRun:
    """Run `command` (a string goes through /bin/sh, a list is exec'd) and observe it until it exits.

    `on_tick(t)` is called at every sample so other meters (RAPL, NVML) can read their counters on
    the same clock. Raises KeyboardInterrupt (or whatever interrupted us) only after the process
    group has been killed and reaped. `cpus` pins the command and everything it starts to those CPUs
    (duet runs: base and head side by side, each on its own CPU set).
    """
    from .. import interrupts

    _become_subreaper()
    watchdog = _watchdog()
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    try:
        proc = _launch(command, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, cpus=cpus)
    except _LaunchFailed as failed:
        return ProcessRun(
            wall_s=time.perf_counter() - start, cpu_s=0.0, exit_code=failed.exit_code, launch_error=failed.message
        )
    reaper = _Reaper(proc.pid)
    interrupts.track_group(proc.pid)  # a second Ctrl-C SIGKILLs it at once
    watchdog.track(proc.pid)
    try:
        ticks, timed_out = _sample(proc.pid, reaper.done, start, timeout_s, on_tick, watchdog.pid)
    except BaseException:
        try:
            _kill_group(proc.pid, reaper.done)
        finally:  # even when a second signal cut the grace period short
            _kill_leftovers(proc.pid)
            reaper.join()
            _sweep(proc.pid, watchdog.pid)
            _reap_orphans(proc.pid)
            proc.returncode = -1  # reaped by us; stop Popen from waiting again
            watchdog.untrack(proc.pid)
            interrupts.untrack_group(proc.pid)
        raise
    ended = reaper.join()
    _kill_leftovers(proc.pid)
    escaped, escaped_cpu = _sweep(proc.pid, watchdog.pid)
    orphan_cpu = _reap_orphans(proc.pid) + escaped_cpu
    watchdog.untrack(proc.pid)
    interrupts.untrack_group(proc.pid)
    proc.returncode = os.waitstatus_to_exitcode(ended.status)
    killed_by = os.WTERMSIG(ended.status) if os.WIFSIGNALED(ended.status) else None
    return ProcessRun(
        wall_s=ended.end - start,
        cpu_s=_cpu(ended.usage) + orphan_cpu,
        exit_code=128 + killed_by if killed_by else os.WEXITSTATUS(ended.status),
        ticks=ticks,
        peak_rss_bytes=int(ended.usage.ru_maxrss) * 1024,  # Linux reports KiB
        overhead_cpu_s=_cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(self_before),
        timed_out=timed_out,
        signal=killed_by,
        escaped=escaped,
    )


class _LaunchFailed(Exception):
    """The command could not be started: the shell's exit code for it (127 not found, 126 not executable)."""

    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code, self.message = exit_code, message


def _launch(
    command: str | Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None,
    env: dict[str, str] | None,
    stdin: int | IO[Any] | None,
    stdout: int | IO[Any] | None,
    stderr: int | IO[Any] | None,
    cpus: frozenset[int] | None,
) -> subprocess.Popen[bytes]:
    """Start the command as the leader of its own session and process group, pinned to `cpus` if given."""
    shell = isinstance(command, str)
    # Linux affinity is per thread and inherited across fork: pin this thread just around the fork, so
    # the child and its whole tree start pinned (no window in which a grandchild escapes), while our
    # sampler and reaper stay free. No preexec_fn: it is unsafe with the duet's two threads.
    unpinned = os.sched_getaffinity(0) if cpus else None
    try:
        if cpus:
            os.sched_setaffinity(0, cpus)
        return subprocess.Popen(
            command if shell else list(command),
            shell=shell,
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # own session and process group: we can kill the whole tree
            preexec_fn=_die_with_parent(),
        )
    except FileNotFoundError as exc:
        what = exc.filename if exc.filename else (command if shell else command[0])
        if cwd is not None and not os.path.isdir(cwd):
            raise _LaunchFailed(127, f"working directory not found: {cwd}") from None
        raise _LaunchFailed(127, f"command not found: {what}") from None
    except PermissionError:
        raise _LaunchFailed(126, f"command not executable: {command if shell else command[0]}") from None
    except OSError as exc:
        raise _LaunchFailed(126, f"command could not start: {exc.strerror or exc}") from None
    finally:
        if unpinned is not None:
            os.sched_setaffinity(0, unpinned)


@dataclass(frozen=True)
class _Ended:
    """What wait4 told the reaper: when the leader ended, its wait status, and the rusage of it and every
    descendant it reaped (exact CPU-seconds)."""

    end: float
    status: int
    usage: resource.struct_rusage


class _Reaper:
    """Waits for the leader in its own thread, so the sampler can stop the moment it exits."""

    def __init__(self, pid: int):
        self.done = threading.Event()
        self._ended: _Ended | None = None
        self._thread = threading.Thread(target=self._wait, args=(pid,), name="carbon-gate-reaper", daemon=True)
        self._thread.start()

    def _wait(self, pid: int) -> None:
        _, status, usage = os.wait4(pid, 0)
        self._ended = _Ended(time.perf_counter(), status, usage)
        self.done.set()

    def join(self) -> _Ended:
        self._thread.join()
        if self._ended is None:  # wait4 itself failed: nothing we started can explain that
            raise RuntimeError("the workload's process could not be waited for")
        return self._ended


def _sample(
    pgid: int,
    done: threading.Event,
    start: float,
    timeout_s: float | None,
    on_tick: TickHook | None,
    watchdog_pid: int | None,
) -> tuple[list[Tick], bool]:
    """Observe the tree on SAMPLE_SCHEDULE until the leader exits (`done`) or the timeout kills the group:
    the ticks, and whether it timed out."""
    ticks: list[Tick] = []
    deadline = start + timeout_s if timeout_s else None
    ps = _psutil_process(os.getpid())
    step = 0
    while True:
        interval = SAMPLE_SCHEDULE[min(step, len(SAMPLE_SCHEDULE) - 1)]
        step += 1
        if deadline is not None:
            interval = max(0.0, min(interval, deadline - time.perf_counter()))
        if done.wait(interval):
            return ticks, False
        now = time.perf_counter() - start
        if deadline is not None and time.perf_counter() >= deadline:
            _kill_group(pgid, done)
            return ticks, True
        tick = _observe(ps, now, watchdog_pid)
        if tick is not None:
            ticks.append(tick)
        if on_tick is not None:
            on_tick(now)


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _psutil_process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def _observe(us: psutil.Process | None, now: float, watchdog_pid: int | None = None) -> Tick | None:
    """Cumulative CPU-s and RSS of the live tree: every descendant of ours but the watchdog, so
    processes that left the workload's group and were re-parented to us still count.

    Each process's `children_*` times hold its reaped descendants, so the sum stays close to
    monotonic as children come and go; the exact total closes the last interval anyway.
    """
    if us is None:
        return None
    try:
        members = [p for p in us.children(recursive=True) if p.pid != watchdog_pid]
    except psutil.Error:
        return None
    cpu = 0.0
    rss = 0
    for p in members:
        try:
            with p.oneshot():
                t = p.cpu_times()
                cpu += t.user + t.system + t.children_user + t.children_system
                rss += p.memory_info().rss
        except psutil.Error:
            continue  # exited between listing and reading: its time reappears in its parent's children_*
    return Tick(now, cpu, rss)


def _kill_group(pgid: int, done: threading.Event) -> None:
    """SIGTERM the group, give it a grace period, then SIGKILL (at once if a second signal arrives)."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        if done.wait(KILL_GRACE_S):
            return
    finally:
        _kill_leftovers(pgid)


def _in_groups(p: psutil.Process, groups: frozenset[int]) -> bool:
    try:
        return os.getpgid(p.pid) in groups
    except OSError:
        return False


def _sweep(pgid: int, watchdog_pid: int | None) -> tuple[int, float]:
    """Kill and reap every descendant still alive after the leader ended: its group's background
    processes and those that escaped the group (setsid, setpgrp), which were re-parented to us.
    Returns how many escaped, and the CPU-seconds of the escapees reaped here."""
    escaped: set[int] = set()
    cpu = 0.0
    us = _psutil_process(os.getpid())
    for _ in range(200):  # bounded: a fork bomb racing the sweep is killed round by round
        try:
            alive = [p for p in us.children(recursive=True) if p.pid != watchdog_pid] if us else []
            # A duet round runs two workloads at once: the other one's group is not ours to sweep.
            from .. import interrupts

            others = interrupts.tracked_groups() - {pgid}
            alive = [p for p in alive if not _in_groups(p, others)] if others else alive
        except psutil.Error:
            alive = []
        if not alive:
            break
        for p in alive:
            try:
                other_group = os.getpgid(p.pid) != pgid
                if other_group and p.status() != psutil.STATUS_ZOMBIE:
                    escaped.add(p.pid)
                os.kill(p.pid, signal.SIGKILL)
            except (OSError, psutil.Error):
                continue
        for p in alive:  # reap the direct children (the killed escapees' children come to us next round)
            try:
                if p.ppid() != os.getpid():
                    continue
                pid, _, usage = os.wait4(p.pid, 0)
            except (OSError, psutil.Error):
                continue
            if pid:
                cpu += usage.ru_utime + usage.ru_stime
        time.sleep(0.005)
    return len(escaped), cpu


def _become_subreaper() -> None:
    """Make descendants that detach (double fork) re-parent to us instead of init, so their CPU time
    can still be collected with wait4 (Linux PR_SET_CHILD_SUBREAPER). Best effort elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _reap_orphans(pgid: int) -> float:
    """CPU-seconds of the command's descendants that outlived their parents and were re-parented to us
    (as subreaper) — killed with the group, now reaped here so none is left a zombie or uncounted."""
    total = 0.0
    while True:
        try:
            pid, _, usage = os.wait4(-pgid, 0)
        except ChildProcessError:
            return total
        except InterruptedError:
            continue
        if pid == 0:
            return total
        total += usage.ru_utime + usage.ru_stime


def _kill_leftovers(pgid: int) -> None:
    # Background children the command left behind would keep drawing power and outlive the gate.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec function making the workload's leader receive SIGKILL when carbon-gate dies, even
    by SIGKILL (Linux PR_SET_PDEATHSIG); None where prctl is not available."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def child() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # carbon-gate died between fork and prctl
            os._exit(137)

    return child


# The watchdog: a tiny process reading "+PGID"/"-PGID" lines on its stdin. When the pipe closes
# without "-" (carbon-gate was killed outright), it SIGKILLs the groups still registered.
_WATCHDOG_CODE = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    sign, pgid = line[:1], int(line[1:])
    (groups.add if sign == "+" else groups.discard)(pgid)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class _Watchdog:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        try:
            import sys

            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG_CODE],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                text=True,
                bufsize=1,
            )
        except OSError:
            self.proc = None
        else:
            import atexit

            atexit.register(self.close)

    def close(self) -> None:
        """At exit: close the pipe (nothing is registered any more, so the watchdog just ends) and reap it."""
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=2)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _send(self, line: str) -> None:
        if self.proc is None or self.proc.stdin is None:
            return
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.proc = None  # the watchdog is gone; PR_SET_PDEATHSIG still covers the leader

    def track(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def untrack(self, pgid: int) -> None:
        self._send(f"-{pgid}")


_WATCHDOGS: dict[int, _Watchdog] = {}  # one per process (a fork gets its own)


def _watchdog() -> _Watchdog:
    pid = os.getpid()
    current = _WATCHDOGS.get(pid)
    if current is None or (current.proc is not None and current.proc.poll() is not None):
        _WATCHDOGS[pid] = current = _Watchdog()
    return current
