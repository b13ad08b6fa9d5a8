"""Progress of a run: the events the pipeline emits, and the one display `run`, `measure`, `check`,
`baseline update` and the action show them with.

The display adapts to where it writes: a live status line on a terminal (workload i/N, runs done,
round, elapsed and ETA, refreshed every second even while a long run is silent), plain lines in a
CI log, and each workload in its own `::group::` under GitHub Actions. `-q` simply passes no display.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TextIO

EventKind = Literal["workload", "run", "note"]
DisplayMode = Literal["actions", "live", "plain"]


@dataclass(frozen=True, kw_only=True)
class Event:
    """One thing that happened. `text` is the plain log line; the rest lets a display count.

    kind "workload": a workload starts (or, for the same name again, is extended by confirmation
    rounds) and `runs` is how many runs it now plans, warm-ups and both sides of a pair included;
    kind "run": one run finished (`label`: "warm-up", "run 2/5", "round 3/7 base"); kind "note": anything else.
    """

    text: str
    kind: EventKind = "note"
    workload: str = ""
    index: int = 0  # this workload is number `index` of `count` that run
    count: int = 0
    runs: int = 0
    label: str = ""

    def __str__(self) -> str:
        return self.text


Progress = Callable[[Event], None]


def display_mode(stream: TextIO, env: Mapping[str, str] | None = None) -> DisplayMode:
    """ "actions" under GitHub Actions, "live" on a terminal, else "plain" (a CI log, a pipe, a file)."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        return "actions"
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty() and env.get("TERM") != "dumb":
        return "live"
    return "plain"


def clock(seconds: float) -> str:
    """1:05, 12:00, 1:02:03."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


@dataclass
class _Workload:
    name: str
    index: int
    count: int
    runs: int
    started: float
    done: int = 0
    label: str = ""

    def eta(self, now: float) -> float | None:
        """The time the remaining runs take at this workload's pace so far (None before the first run)."""
        if self.done == 0:
            return None
        return (now - self.started) / self.done * max(0, self.runs - self.done)

    def status(self, now: float) -> str:
        """ "workload 1/3 · 4/12 runs · 0:42 elapsed · ETA 1:24" (the round is in the line itself)."""
        eta = self.eta(now)
        parts = [
            f"workload {self.index}/{self.count}" if self.count else "",
            f"{self.done}/{self.runs} runs" if self.runs else "",
            f"{clock(now - self.started)} elapsed",
            f"ETA {clock(eta)}" if eta is not None else "",
        ]
        return " · ".join(p for p in parts if p)


class Display:
    """The progress display; a context manager, called with each `Event`.

    mode "live" draws a status line with rich (imported only here, only then); "plain" writes one
    line per event with the counters appended; "actions" writes plain lines grouped per workload.
    With `guard`, every line that carries workload or config text is written inside a
    `::stop-commands::` block, so it cannot forge a workflow command (the action's log).
    """

    def __init__(
        self,
        stream: TextIO,
        mode: DisplayMode = "plain",
        *,
        guard: bool = False,
        now: Callable[[], float] = time.monotonic,
    ):
        self.stream, self.mode, self.guard, self.now = stream, mode, guard, now
        self.current: _Workload | None = None
        self._group = False
        self._token: str | None = None
        self._live: Any = None
        self._task: Any = None

    def __enter__(self) -> Display:
        if self.mode == "live":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn
            from rich.text import Text

            now = self.now

            class Elapsed(ProgressColumn):
                def render(self, task: Any) -> Text:
                    return Text(clock(task.elapsed or 0.0))

            class Eta(ProgressColumn):
                """The ETA at the last finished run, counting down between runs (a run can take minutes)."""

                def render(self, task: Any) -> Text:
                    at, eta = task.fields.get("eta_at", (0.0, None))
                    return Text("" if eta is None else f"ETA {clock(max(0.0, eta - (now() - at)))}")

            console = Console(file=self.stream, highlight=False, force_terminal=True)  # display_mode decided
            self._live = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TextColumn("runs · {task.fields[label]}"),
                Elapsed(),
                Eta(),
                console=console,
                transient=True,
                refresh_per_second=4,
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._end_group()
        self._unguard()

    def __call__(self, event: Event) -> None:
        now = self.now()
        if event.kind == "workload":
            self._start(event, now)
            self._refresh(now)
            self._line(f"[{event.index}/{event.count}] {event.text}" if event.count else event.text)
        elif event.kind == "run" and self.current is not None and self.current.name == event.workload:
            w = self.current
            w.done += 1
            w.label = event.label
            self._line(event.text if self.mode == "live" else f"{event.text}  ({w.status(now)})")
        else:
            self._line(event.text)
        self._refresh(now)

    def _start(self, event: Event, now: float) -> None:
        if self.current is not None and self.current.name == event.workload:
            self.current.runs = event.runs  # confirmation rounds extend the same workload
            return
        if self.mode == "actions":
            self._end_group()
            from .publish.actions import escape_data

            counter = f" ({event.index}/{event.count})" if event.count else ""
            self._command(f"::group::{escape_data(event.workload)}{counter}")
            self._group = True
        self.current = _Workload(event.workload, event.index, event.count, event.runs, now)
        if self._live is not None:
            if self._task is not None:
                self._live.remove_task(self._task)
            self._task = self._live.add_task("", total=event.runs or None, label="", eta_at=(now, None))

    def _refresh(self, now: float) -> None:
        w = self.current
        if self._live is None or w is None or self._task is None:
            return
        self._live.update(
            self._task,
            description=f"[{w.index}/{w.count}] {w.name}",
            total=w.runs or None,
            completed=w.done,
            label=w.label,
            eta_at=(now, w.eta(now)),
        )

    def _line(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False, soft_wrap=True)
            return
        if self.guard and self._token is None:
            self._token = secrets.token_hex(16)
            self._write(f"::stop-commands::{self._token}")
        self._write(text)

    def _command(self, text: str) -> None:
        self._unguard()
        self._write(text)

    def _unguard(self) -> None:
        if self._token is not None:
            self._write(f"::{self._token}::")
            self._token = None

    def _end_group(self) -> None:
        if self._group:
            self._command("::endgroup::")
            self._group = False

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def display_for(
    stream: TextIO, quiet: bool = False, *, live: bool = True, guard: bool = False, env: Mapping[str, str] | None = None
) -> Display | None:
    """The display for this stream and environment, or None with `quiet`. `live=False` keeps a
    terminal to plain lines (for `measure`, whose command writes to the same terminal)."""
    if quiet:
        return None
    mode = display_mode(stream, env)
    return Display(stream, "plain" if mode == "live" and not live else mode, guard=guard)
