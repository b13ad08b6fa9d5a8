"""Mermaid `xychart-beta` charts for the Markdown report and `carbon-gate machine --format markdown`.

Pure: numbers in, chart text out. GitHub renders Mermaid blocks in comments and job summaries, but its
xychart lexer reads a number only as `[+-]?(\\d+(\\.\\d+)?|\\.\\d+)`: no exponent, no trailing dot. A
value such as `1.2e+04` ends the diagram with a parse error, so every number goes through
`mermaid_number`. Band labels must be unique (duplicates collapse into one band and the line loses
points) and may not contain a double quote; titles are reduced to safe characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

# What Mermaid's xychart lexer accepts as a number (xychart.jison, NUMBER_WITH_DECIMAL).
NUMBER_GRAMMAR = re.compile(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)")
SIGNIFICANT = 4


def mermaid_number(x: float, significant: int = SIGNIFICANT) -> str:
    """`x` rounded to `significant` digits in plain decimal notation: 12500 → '12500', 1e-6 → '0.000001'."""
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {x!r}")
    text = format(Decimal(f"{x:.{significant}g}"), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def unique_labels(labels: Sequence[str]) -> list[str]:
    """Labels made distinct: a repeated one gains ' (2)', ' (3)'… so each point keeps its own band."""
    seen: dict[str, int] = {}
    taken = set(labels)
    out = []
    for label in labels:
        n = seen.get(label, 0) + 1
        seen[label] = n
        candidate = label
        while n > 1 and (candidate := f"{label} ({n})") in taken:
            n += 1
        if n > 1:
            seen[label] = n
            taken.add(candidate)
        out.append(candidate)
    return out


def safe_text(text: str, limit: int = 60) -> str:
    """Text that can sit inside a Mermaid string: letters, digits and a few punctuation marks."""
    # No double quote (it ends the string) and no '%%' (a Mermaid comment): '%' alone is kept for '50%'.
    return re.sub(r"%+", "%", re.sub(r"[^A-Za-z0-9µ ,:._/()%+-]", "", str(text)))[:limit].strip()


@dataclass(frozen=True)
class Series:
    kind: str  # line | bar
    values: tuple[float, ...]


def xychart(title: str, labels: Sequence[str], series: Sequence[Series], y_title: str, x_title: str = "") -> str:
    """The body of a ```mermaid block: a band x axis of `labels`, a y axis from 0, one statement per series."""
    top = max((v for s in series for v in s.values), default=0.0)
    top = top * 1.1 if top > 0 else 1.0  # from 0, with head-room: a flat line still has an axis
    quoted = ", ".join(f'"{label}"' for label in unique_labels([safe_text(x, 32) or "?" for x in labels]))
    x_axis = f'"{safe_text(x_title)}" ' if x_title else ""
    lines = [
        "xychart-beta",
        f'    title "{safe_text(title, 100)}"',
        f"    x-axis {x_axis}[{quoted}]",
        f'    y-axis "{safe_text(y_title)}" 0 --> {mermaid_number(top, 3)}',
    ]
    for s in series:
        lines.append(f"    {s.kind} [{', '.join(mermaid_number(v) for v in s.values)}]")
    return "\n".join(lines)


def power_curve_chart(curve_w: Sequence[Sequence[float]], title: str = "CPU power curve") -> str:
    """The machine's CPU power model: watts at each utilisation point."""
    return xychart(
        title, [f"{p:g}%" for p, _ in curve_w], [Series("line", tuple(w for _, w in curve_w))], "W", "CPU utilisation"
    )
