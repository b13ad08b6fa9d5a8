"""`carbon-gate machine --markdown`: what the meters use on this machine, with the CPU power curve as a
Mermaid chart (for a job summary, an issue or a wiki page). Pure: the `machine` dict in, text out."""

from __future__ import annotations

from typing import Any

from .charts import power_curve_chart
from .markdown import md


def machine_markdown(info: dict[str, Any]) -> str:
    """A heading, a table of how each component is obtained, and the power curve as an xychart."""
    fp, cpu = info["fingerprint"], info["cpu"]
    emb = info.get("embodied")
    rows = [
        ("CPU", f"{fp.get('cpu_model', '?')}, {fp.get('logical_cpus', '?')} vCPUs"),
        ("RAM", "not known (pretended machine)" if info.get("pretended") else f"{fp.get('ram_gb', '?')} GB"),
        (
            "Platform",
            f"{fp.get('os', '')} {fp.get('arch', '')}".strip()
            + (f", runner image {fp['image_os']} {fp.get('image_version') or ''}" if fp.get("image_os") else ""),
        ),
        (
            "CPU energy",
            f"{cpu['method']}: {cpu['reason']}" + (f" (no counters: {cpu['fallback']})" if cpu.get("fallback") else ""),
        ),
        ("Power curve source", cpu["source"]),
        *(
            [("Typical error", f"±{cpu['error_band_pct']:g} % ({cpu.get('error_source') or 'validation'})")]
            if cpu.get("error_band_pct") is not None
            else []
        ),
        ("GPU", info.get("gpu", "none")),
        (
            "Embodied",
            f"{emb['total_kg']:g} kg × share {emb['share']:g} over {emb['lifetime_years']:g} years ({emb['source']})"
            if emb
            else "none: no embodied data for this machine",
        ),
    ]
    out = ["## carbon-gate machine", "", "| | |", "|---|---|"]
    out += [f"| {name} | {md(value)} |" for name, value in rows]
    if cpu.get("curve_w"):
        points = ", ".join(f"{p:g}% {w:g} W" for p, w in cpu["curve_w"])
        out += [
            "",
            f"CPU power by utilisation: {md(points)}.",
            "",
            "```mermaid",
            power_curve_chart(cpu["curve_w"], "CPU power (W) by utilisation"),
            "```",
        ]
    return "\n".join(out) + "\n"
