"""Signals as an outcome: SIGINT, SIGTERM and SIGHUP at any moment end a run as `interrupted`
(exit 128+N), never as a traceback, and never before what was measured is written.

Signal handlers are process-wide by nature, so the state they share lives here, in one place:

* while measuring, the first signal raises `Interrupted` where the main thread is, so the running
  workload's group is killed and the pipeline keeps what it has;
* inside `deferred()` (assessing, writing, rendering, removing worktrees) a signal is only recorded,
  so the finishing work completes and the caller exits with the signal's code afterwards;
* a second signal never waits: it SIGKILLs every registered workload group at once (the grace
  period after the first one is for the workload, not for an impatient user).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeAlias

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What signal.signal() takes and returns: a function, SIG_DFL/SIG_IGN, or None (not installed from Python).
Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Interrupted(BaseException):
    """A signal arrived; like KeyboardInterrupt, it must not be swallowed by `except Exception`."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"signal {signum}")


@dataclass
class _State:
    signum: int | None = None  # the first signal received
    count: int = 0
    raised: bool = False  # the first signal has been raised as Interrupted
    closed: bool = False  # the outcome is final: later signals change nothing
    sections: list[bool] = field(default_factory=list)  # innermost last: True interruptible, False deferred
    groups: set[int] = field(default_factory=set)  # workload process groups to SIGKILL on a second signal

    def raises_now(self) -> bool:
        return not self.sections or self.sections[-1]


_STATE = _State()


def install() -> dict[int, Handler]:
    """Install the handlers (idempotent) and return the previous ones; call it before anything else."""
    previous: dict[int, Handler] = {}
    for sig in SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread, or an embedded interpreter
            previous[sig] = signal.signal(sig, _handler)
    return previous


def restore(previous: dict[int, Handler]) -> None:
    """Put back the handlers `install()` replaced (the CLI called in-process, as tests do)."""
    for sig, handler in previous.items():
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(sig, handler)


def ours(handlers: dict[int, Handler]) -> bool:
    """Whether `handlers` (from `install()`) were already this module's: the entry point installed them."""
    return bool(handlers) and all(h is _handler for h in handlers.values())


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _STATE.closed:
        return
    _STATE.count += 1
    if _STATE.signum is None:
        _STATE.signum = signum
    if _STATE.count > 1:
        for pgid in list(_STATE.groups):
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        return  # the first signal is already being handled
    if _STATE.raises_now():
        _STATE.raised = True
        raise Interrupted(signum)


def within(exc: BaseException) -> Interrupted | KeyboardInterrupt | None:
    """The interrupt inside `exc`'s chain, if any: raised in a class body or an import, an interrupt
    comes out wrapped (RuntimeError: Error calling __set_name__ …)."""
    seen = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if isinstance(link, (Interrupted, KeyboardInterrupt)):
            return link
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return None


def received() -> int | None:
    """The first signal received since `reset()`, if any."""
    return _STATE.signum


def reset() -> None:
    """Forget earlier signals (tests run several commands in one process)."""
    _STATE.signum = None
    _STATE.count = 0
    _STATE.raised = False
    _STATE.closed = False
    _STATE.groups.clear()


def exit_code(signum: int | None = None) -> int:
    """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + (signum if signum is not None else (_STATE.signum or signal.SIGINT))


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A section that must finish (writing results, removing a worktree): a signal in it is recorded
    and raised as `Interrupted` when the section ends, like a blocked signal on unblocking."""
    with _section(False):
        yield


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """A section a signal stops at once (measuring), even inside a deferred one; a signal recorded
    before it is raised on entry."""
    with _section(True):
        pending()
        yield


@contextlib.contextmanager
def _section(raises: bool) -> Iterator[None]:
    _STATE.sections.append(raises)
    try:
        yield
    finally:
        _STATE.sections.pop()
    pending()


def close(exiting: bool = False) -> None:
    """The outcome is final (results written, exit code chosen): ignore any later signal, so the exit
    code and the results' `interrupted` flag always agree. When the process is `exiting`, the signals
    are set to SIG_IGN: the interpreter's shutdown restores SIG_DFL for handlers it installed, and a late
    Ctrl-C would then kill the process after its results said it finished."""
    _STATE.closed = True
    if exiting:
        for sig in SIGNALS:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, signal.SIG_IGN)


def pending() -> None:
    """Raise a recorded, not yet raised signal now, if signals raise here."""
    if _STATE.signum is not None and not _STATE.raised and not _STATE.closed and _STATE.raises_now():
        _STATE.raised = True
        raise Interrupted(_STATE.signum)


def track_group(pgid: int) -> None:
    """Register a running workload's process group: a second signal SIGKILLs it at once."""
    _STATE.groups.add(pgid)


def untrack_group(pgid: int) -> None:
    _STATE.groups.discard(pgid)


def tracked_groups() -> frozenset[int]:
    """The process groups of workloads running now (two at once in a duet round)."""
    return frozenset(_STATE.groups)
