"""GitHub Actions workflow commands and files: step summary, outputs, annotations, stop-commands.

Everything a workload or config controls is escaped so it cannot forge a workflow command.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from ..render.markdown import SUMMARY_LIMIT  # GitHub refuses a step summary over 1 MiB

MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step


def in_actions(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: str, message: str, file: str | None = None, line: int | None = None, title: str | None = None
) -> str:
    """`::error file=...,line=...,title=...::message`, escaped."""
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
    if line:
        props.append(f"line={int(line)}")
    if title:
        props.append(f"title={escape_property(title)}")
    return f"::{level}{' ' + ','.join(props) if props else ''}::{escape_data(message)}"


def annotations_for(results: dict[str, Any], config_file: str) -> list[str]:
    """One error annotation per failing workload, pointing at its line in the config (at most 10)."""
    failing = ("error", "over-budget", "regression")
    out = []
    for w in results["workloads"]:
        if w["verdict"] in failing:
            reason = "; ".join(w.get("reasons", [])[:2])
            out.append(
                annotation(
                    "error",
                    f"{w['name']}: {w['verdict']}: {reason}",
                    config_file,
                    w.get("line"),
                    f"carbon-gate: {w['verdict']}",
                )
            )
    if len(out) > MAX_ANNOTATIONS:
        extra = len(out) - (MAX_ANNOTATIONS - 1)
        out = out[: MAX_ANNOTATIONS - 1] + [
            annotation("error", f"{extra} more failing workloads: see the job summary", config_file)
        ]
    return out


def error_annotations(exc: Exception, root: Path) -> list[str]:
    """`::error` annotations for an error that stopped the run: one per config problem, at its file
    (relative to the repository `root`, as GitHub expects) and line; else one for the whole message."""
    problems = getattr(exc, "problems", None) or []
    out = []
    for p in problems[:MAX_ANNOTATIONS]:
        try:
            file = Path(p.file).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            file = p.file
        message = (f"{p.key}: " if p.key else "") + p.message
        out.append(annotation("error", message, file, p.line, "carbon-gate: configuration error"))
    return out or [annotation("error", str(exc), title="carbon-gate: error")]


def error_summary(title: str, message: str, exit_code: int) -> str:
    """The job summary for a run that stopped on an error: the title and the message, verbatim in a
    code block (fenced longer than any backtick run in it, so the text cannot close it)."""
    fence = "`" * max(3, 1 + max(map(len, re.findall(r"`+", message)), default=0))
    return (
        f"## ❌ {title}\n\nThe run stopped on this error; the step exits {exit_code}.\n\n"
        f"{fence}text\n{message}\n{fence}\n"
    )


def write_outputs(values: Mapping[str, str], path: str | None = None) -> None:
    """Append to $GITHUB_OUTPUT with a random heredoc delimiter, so no value can end it early."""
    path = path or os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        for name, value in values.items():
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            f.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def write_summary(markdown: str, path: str | None = None) -> bool:
    """Append the report to $GITHUB_STEP_SUMMARY (within GitHub's 1 MiB); False when there is none."""
    path = path or os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    data = markdown.encode("utf-8")
    if len(data) > SUMMARY_LIMIT:
        note = "\n\n> ⚠️ Summary truncated at GitHub's 1 MiB limit; the full report is in the results file.\n".encode()
        data = data[: SUMMARY_LIMIT - len(note)].decode("utf-8", "ignore").encode("utf-8") + note
    with Path(path).open("ab") as f:
        f.write(data)
    return True


@contextmanager
def stop_commands(stream: TextIO, enabled: bool = True) -> Iterator[None]:
    """Between `::stop-commands::TOKEN` and `::TOKEN::` GitHub ignores workflow commands, so workload
    output and names echoed in the log cannot forge annotations, masks or outputs."""
    if not enabled:
        yield
        return
    token = secrets.token_hex(16)
    stream.write(f"::stop-commands::{token}\n")
    stream.flush()
    try:
        yield
    finally:
        stream.write(f"::{token}::\n")
        stream.flush()
