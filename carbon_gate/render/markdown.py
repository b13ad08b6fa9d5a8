"""The Markdown report: one document for the PR comment and the job summary (docs/reports.md).

Pure: a results document in, text out. The layout lives in the jinja2 template
`templates/report.md.j2` (packaged into the wheel); this module builds the template's context,
escapes everything that comes from config or workloads, and degrades the document until it fits
GitHub's comment limit: full → no charts or statistics table → unchanged rows (and the quality
metrics table) dropped with a count → failing workloads listed by name only → cut at a line, open code
fences and <details> closed, with a note. "Failing" follows the gate: the results' `gate.fail_on`, plus `error`.
"""

from __future__ import annotations

import os
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, cast

from .. import __version__
from ..domain import DEFAULT_FAIL_ON
from ..units import energy_unit, format_energy, format_mass

if TYPE_CHECKING:
    import jinja2

MARKER = "<!-- carbon-gate-report -->"
COMMENT_LIMIT = 65_536
SUMMARY_LIMIT = 1_048_576
ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "❌", "interrupted": "⏹️"}
# fmt: off
VERDICT_ICONS = {"regression": "❌", "over-budget": "❌", "error": "💥", "inconclusive": "⚠️", "improvement": "🟢",
                 "unchanged": "✅", "new": "🆕"}
# fmt: on
COUNT_ORDER = (
    ("regression", "regression", "regressions"),
    ("over-budget", "over budget", "over budget"),
    ("improvement", "improvement", "improvements"),
    ("unchanged", "unchanged", "unchanged"),
    ("inconclusive", "inconclusive", "inconclusive"),
    ("new", "new", "new"),
    ("error", "error", "errors"),
)
TOP = ("error", "over-budget", "regression", "inconclusive", "improvement", "new")
MAX_CHARTS = 5  # of each kind: evidence (paired rounds) and trend
EVIDENCE_VERDICTS = ("regression", "inconclusive")
BUDGET_IN_VIEW = 3.0  # the budget line is drawn when it is at most this many times the highest point
MAX_CHART_POINTS = 30


def md(text: Any) -> str:
    """Escape text for inline Markdown and table cells: no HTML, no links (nor GitHub's autolinks and issue
    references), no emphasis, no @-mentions, no pipes or newlines that would break a table row."""
    s = str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = re.sub(r"([\\`*_\[\]|~])", r"\\\1", s)
    s = re.sub(r"^([#+\-=>])", r"\\\1", s)  # nothing may start a heading, list or quote
    s = re.sub(r"^(\d+)([.)])", r"\1\\\2", s)  # nor an ordered list: '1\.' (a backslash before a digit shows)
    s = s.replace("@", "@\u200b")  # a zero-width space after @ stops GitHub from notifying anyone
    # ... and from linking: `#123` / `GH-123` (issue references), bare URLs and `www.` (autolinks).
    s = re.sub(r"(#|\bGH-)(?=\d)", "\\1\u200b", s, flags=re.IGNORECASE)
    s = s.replace("://", ":\u200b//")
    s = re.sub(r"\b(www)\.", "\\1\u200b.", s, flags=re.IGNORECASE)
    return re.sub(r"[\r\n]+", " ", s)


def code_span(text: Any) -> str:
    """An inline code span showing `text` verbatim (no escapes: they would be literal inside it) that
    nothing inside can end early: the fence outruns any backtick run, and line breaks become spaces so
    the span cannot leave its paragraph."""
    s = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text)) or " "
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space on each side when both are present; pad so the text survives as is.
    pad = " " if s[0] == "`" or s[-1] == "`" or (s[0] == " " and s[-1] == " " and s.strip(" ")) else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def short_sha(commit: Any, n: int = 12) -> str:
    """A commit id reduced to its first `n` alphanumeric characters (it may come from a baseline file)."""
    return re.sub(r"[^0-9A-Za-z]", "", str(commit or ""))[:n]


def code(text: str) -> str:
    """A fenced code block that nothing inside can close early (the fence outruns any backtick run)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def load_template(path: str | Path | None = None) -> jinja2.Template:
    """The packaged report template, or the user's file."""
    import jinja2

    source = Path(path).read_text(encoding="utf-8") if path is not None else _packaged_template("report.md.j2")
    env = jinja2.Environment(
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md
    env.filters["code"] = code
    env.filters["code_span"] = code_span
    return env.from_string(source)


def _packaged_template(name: str) -> str:
    packaged = resources.files("carbon_gate") / "templates" / name
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # A source checkout (editable install): templates/ sits next to the package.
    return (Path(__file__).resolve().parents[2] / "templates" / name).read_text(encoding="utf-8")


def render_markdown(
    results: dict[str, Any],
    template: str | Path | None = None,
    limit: int = COMMENT_LIMIT,
    results_name: str = "carbon-gate-results.json",
) -> str:
    """Render the report; the text never exceeds `limit` characters."""
    tpl = load_template(template)
    text = ""
    for level in range(4):
        text = tpl.render(**report_context(results, level, limit, results_name))
        if len(text) <= limit:
            return text
    note = (
        f"\n\n> ⚠️ Truncated at {limit} characters; the full report is in the job summary and in "
        f"{code_span(results_name)}.\n"
    )
    return truncate(text, limit, note)


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)")
_DETAILS_TAG = re.compile(r"<(/?)details\b", re.IGNORECASE)


def _closers(text: str) -> str:
    """What `text` needs appended to end every code fence and <details> block it leaves open."""
    fence: str | None = None
    depth = 0
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end() :].strip():
                fence = None
            continue
        if m and not (m.group(1)[0] == "`" and "`" in line[m.end() :]):
            fence = m.group(1)
            continue
        for tag in _DETAILS_TAG.finditer(_CODE_SPAN.sub("", line)):
            depth = max(depth - 1, 0) if tag.group(1) else depth + 1
    return ("\n" + fence if fence else "") + "\n\n</details>" * depth


def truncate(text: str, limit: int, note: str) -> str:
    """Cut `text` at a line boundary so that, with open fences and <details> closed and `note` appended
    outside all of them, it fits in `limit` characters."""
    if len(note) >= limit:
        return note[:limit]
    end = limit - len(note)
    while True:
        head = text[:end]
        head = head[: max(head.rfind("\n"), 0)]
        closers = _closers(head)
        if len(head) + len(closers) + len(note) <= limit:
            return head + closers + note
        end = len(head) - 1


def report_context(
    results: dict[str, Any], level: int = 0, limit: int = COMMENT_LIMIT, results_name: str = "carbon-gate-results.json"
) -> dict[str, Any]:
    """Everything the template shows, escaped. `level` 0..3 trades detail for size."""
    workloads = results["workloads"]
    confidence = (results.get("gate") or {}).get("confidence", 0.95)
    rows = [_row(w) for w in workloads]
    order = {v: i for i, v in enumerate(TOP)}
    top = sorted((r for r in rows if r["_verdict"] in TOP), key=lambda r: order[r["_verdict"]])
    rest = [r for r in rows if r["_verdict"] not in TOP]
    dropped = 0
    if level >= 2:
        dropped, rest = len(rest), []
    failing = failing_verdicts(results)
    failing_names: list[str] = []
    failures = [_failure(w, with_stderr=level < 3) for w in workloads if w["verdict"] in failing]
    if level >= 3:
        failing_names = [md(w["name"]) for w in workloads if w["verdict"] in failing]
        top, failures = [], []
    return {
        "marker": MARKER,
        "headline": _headline(results, failing),
        "totals": _totals(workloads),
        "confidence": f"{confidence:.0%}",
        "top_rows": top,
        "rest_rows": rest,
        "dropped_rows": dropped,
        "failures": failures,
        "guard": _guard(results.get("guard")),
        "projections": _projections(workloads),
        "metrics": _metrics(workloads) if level < 2 else [],
        "carbon": _carbon_aware(results),
        "notes": [md(n) for n in results.get("notes") or []],
        "failing_names": failing_names,
        "charts": _charts(workloads) if level == 0 else [],
        "disclosure": _disclosure(results, with_stats=level == 0),
        "truncated": level > 0,
        "limit": f"{limit:,}",
        "results_name": code_span(results_name),
        "footer": _footer(results),
        "version": __version__,
    }


def _carbon_aware(results: dict[str, Any]) -> dict[str, Any]:
    """The live grid line and "greener if" lines (render/carbon_aware.py), escaped."""
    from .carbon_aware import greener_lines, live_line

    ca = results.get("carbon_aware")
    return {"live": live_line(ca, md), "greener": greener_lines(ca, md)}


def failing_verdicts(results: dict[str, Any]) -> frozenset[str]:
    """The workload verdicts that fail this gate: its `gate.fail_on`, and `error` (a workload that could
    not run always fails the suite, exit 3)."""
    fail_on = (results.get("gate") or {}).get("fail_on")
    if not isinstance(fail_on, (list, tuple)):
        fail_on = DEFAULT_FAIL_ON  # a document without `gate.fail_on` (e.g. from `measure --json`)
    return frozenset(("error", *fail_on))


def _headline(results: dict[str, Any], failing_set: frozenset[str]) -> dict[str, str]:
    counts = results.get("counts") or {}
    verdict = results["verdict"]
    failing = sum(n for v, n in counts.items() if v in failing_set)
    text = {
        "pass": "passed",
        "warn": "passed with warnings",
        "fail": "failed",
        "error": "could not run every workload",
        "interrupted": "interrupted — partial results, no verdict",
    }.get(verdict, verdict)
    if results.get("interrupted") and verdict != "interrupted":  # results written before this outcome existed
        text += " (interrupted: partial results)"
    parts = []
    for key, one, many in COUNT_ORDER:
        n = counts.get(key, 0)
        if n:
            parts.append(f"**{n}** {one if n == 1 else many}")
    if failing:
        text += f" — {failing} failing workload{'s' if failing != 1 else ''}"
    return {
        "icon": ICONS.get(verdict, "❔"),
        "text": text,
        "counts": " · ".join(parts)
        or ("nothing measured before the signal" if results.get("interrupted") else "no workloads"),
    }


def _totals(workloads: list[dict[str, Any]]) -> dict[str, str | None]:
    # A forecast (`estimate:`) is not a measurement: adding it to measured µWh would hide both.
    forecasts = [w for w in workloads if w.get("estimate") is not None]
    workloads = [w for w in workloads if w.get("estimate") is None]
    energy = sum(w["energy_wh"] or 0.0 for w in workloads)
    co2e = sum(w["co2e_g"] or 0.0 for w in workloads)
    forecast = None
    if any(_is_number(w.get("energy_wh")) for w in forecasts):
        forecast = (
            f"{format_energy(sum(w['energy_wh'] or 0.0 for w in forecasts))} · "
            f"{format_mass(sum(w['co2e_g'] or 0.0 for w in forecasts))} CO2e"
        )
    base_energy = base_co2e = 0.0
    compared = False
    for w in workloads:
        ch = w.get("change") or {}
        if ch.get("ratio") and w.get("energy_wh"):
            compared = True
            base_energy += w["energy_wh"] / ch["ratio"]
            base_co2e += (w["co2e_g"] or 0.0) / ch["ratio"]
    out: dict[str, str | None] = {
        "energy": format_energy(energy) if workloads or not forecasts else None,
        "co2e": format_mass(co2e),
        "base_energy": None,
        "base_co2e": None,
        "delta": None,
        "forecast": forecast,
    }
    if compared and base_energy > 0:
        head_compared = sum(
            w["energy_wh"] for w in workloads if (w.get("change") or {}).get("ratio") and w.get("energy_wh")
        )
        out.update(
            base_energy=format_energy(base_energy),
            base_co2e=format_mass(base_co2e),
            delta=f"{(head_compared / base_energy - 1) * 100:+.1f} % on compared workloads",
        )
    return out


def _pct(ratio: float | None) -> str:
    return "—" if ratio is None else f"{(ratio - 1) * 100:+.1f} %"


def _delta(change: dict[str, Any] | None) -> str:
    if not change or change.get("ratio") is None:
        return "—"
    low, high = change.get("low"), change.get("high")
    interval = "interval unbounded" if low is None or high is None or high == 0 else f"{_pct(low)} … {_pct(high)}"
    return f"{_pct(change['ratio'])} ({interval})"


def _row(w: dict[str, Any]) -> dict[str, Any]:
    fp = w.get("footprint") or {}
    use = (w.get("budget") or {}).get("max_use_pct")
    return {
        "_verdict": w["verdict"],
        "name": md(w["name"]),
        "energy": format_energy(w["energy_wh"]) if w.get("energy_wh") is not None else "—",
        "delta": _delta(w.get("change")),
        "co2e": format_mass(w["co2e_g"]) if w.get("co2e_g") is not None else "—",
        "sci": f"{format_mass(fp['sci_g_per_unit'])}/{md(fp['unit'])}" if fp else "—",
        "budget": ("—" if use is None else ("<1 %" if use < 1 else f"{use:.0f} %")),
        "verdict": f"{VERDICT_ICONS.get(w['verdict'], '')} {w['verdict']}".strip(),
    }


def _failure(w: dict[str, Any], with_stderr: bool) -> dict[str, Any]:
    tail = ""
    if with_stderr and w["verdict"] == "error":
        tail = next((s.get("stderr_tail", "") for s in w.get("samples", []) if s.get("error")), "")
        tail = "\n".join(tail.strip().splitlines()[-20:])
    return {
        "icon": VERDICT_ICONS.get(w["verdict"], ""),
        "name": md(w["name"]),
        "verdict": w["verdict"],
        "reasons": [md(r) for r in w.get("reasons", [])],
        "stderr": code(tail) if tail else "",
    }


def _charts(workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mermaid charts: for each regression or inconclusive result, its paired base and head runs round
    by round (the evidence for the verdict); then energy trends from the baseline file's history."""
    from .charts import Series, xychart

    charts: list[dict[str, Any]] = []
    for w in workloads:
        if w["verdict"] not in EVIDENCE_VERDICTS or sum(c["kind"] == "evidence" for c in charts) >= MAX_CHARTS:
            continue
        evidence = _evidence(w)
        if evidence is None:
            continue
        labels, base, head, what = evidence
        unit, factor = energy_unit(w["energy_wh"] if _is_number(w.get("energy_wh")) else head[0])
        body = xychart(
            f"{w['name']} - base (bars) vs head (line), {what}, {unit}",
            labels,
            [Series("bar", tuple(b / factor for b in base)), Series("line", tuple(h / factor for h in head))],
            unit,
            what,
        )
        charts.append({"kind": "evidence", "open": True, "summary": f"Base vs head: {_chart_title(w)}", "body": body})
    trends = 0
    for w in workloads:
        # History comes from the baseline file: keep points with a number, label them by a sanitised commit.
        history = [h for h in w.get("history") or [] if isinstance(h, dict) and _is_number(h.get("median_wh"))]
        history = history[-(MAX_CHART_POINTS - 1) :]
        if not history or not _is_number(w.get("energy_wh")) or trends >= MAX_CHARTS:
            continue
        points = [h["median_wh"] for h in history] + [w["energy_wh"]]
        unit, factor = energy_unit(w["energy_wh"])  # the table's unit for this workload
        labels = [short_sha(h.get("commit"), 7) or "?" for h in history] + ["this run"]
        series = [Series("line", tuple(p / factor for p in points))]
        budget = ((w.get("budget") or {}).get("limits") or {}).get("energy")
        title = f"{w['name']} - median energy per run, {unit}"
        if _is_number(budget) and budget <= BUDGET_IN_VIEW * max(points):
            series.append(Series("line", (budget / factor,) * len(points)))
            title += " (flat line: budget)"
        elif _is_number(budget):  # drawn, it would flatten the trend against the floor of the chart
            title += f" (budget {format_energy(budget)}, above the chart)"
        charts.append(
            {
                "kind": "trend",
                "open": False,
                "summary": f"Trend: {_chart_title(w)}",
                "body": xychart(title, labels, series, unit),
            }
        )
        trends += 1
    return charts


def _chart_title(w: dict[str, Any]) -> str:
    from .charts import safe_text

    return safe_text(w["name"]) or "workload"


def _round_pairs(b: dict[str, Any]) -> list[tuple[int, float, float]]:
    """The paired rounds the sequential rule tested (`round_wh`: each side's batch summed), as energy per
    run so the chart reads in the table's unit; rounds where a side failed are left out."""
    per_round, batch = b.get("round_wh") or {}, b.get("batch") or 1
    if not isinstance(per_round, dict) or not _is_number(batch) or batch <= 0:
        return []
    pairs = [
        (i, bw / batch, hw / batch)
        for i, (hw, bw) in enumerate(zip(per_round.get("head") or [], per_round.get("base") or []), start=1)
        if _is_number(hw) and _is_number(bw)
    ][-MAX_CHART_POINTS:]
    return pairs if len(pairs) >= 2 else []


def _evidence(w: dict[str, Any]) -> tuple[list[str], list[float], list[float], str] | None:
    """The runs behind a verdict, as (labels, base Wh, head Wh, what the x axis is). Paired: the counted
    rounds in which both sides ran (the pairs `compare` tests). Stored: the baseline's runs and the
    head's, each sorted; the longer side is thinned to the shorter one's length by nearest rank, so the
    two series stay aligned (Mermaid leaves holes where one series is shorter)."""
    head = [s for s in w.get("samples") or [] if isinstance(s, dict) and not s.get("warmup")]
    base = [s for s in w.get("base_samples") or [] if isinstance(s, dict) and not s.get("warmup")]
    rounds = _round_pairs(w.get("baseline") or {})
    if rounds:
        return [f"r{i}" for i, _, _ in rounds], [b for _, b, _ in rounds], [h for _, _, h in rounds], "paired round"
    if base:
        pairs = [
            (i, b["energy_wh"], h["energy_wh"])
            for i, (h, b) in enumerate(zip(head, base), start=1)
            if not h.get("error")
            and not b.get("error")
            and _is_number(h.get("energy_wh"))
            and _is_number(b.get("energy_wh"))
        ][-MAX_CHART_POINTS:]
        if len(pairs) < 2:
            return None
        return [f"r{i}" for i, _, _ in pairs], [b for _, b, _ in pairs], [h for _, _, h in pairs], "paired run"
    stored = (w.get("baseline") or {}).get("samples_wh") or []
    b_wh = sorted(x for x in stored if _is_number(x))
    h_wh = sorted(s["energy_wh"] for s in head if not s.get("error") and _is_number(s.get("energy_wh")))
    n = min(len(b_wh), len(h_wh), MAX_CHART_POINTS)
    if n < 2:
        return None

    def thin(xs: list[float]) -> list[float]:
        return [xs[round(i * (len(xs) - 1) / (n - 1))] for i in range(n)]

    return [f"{i + 1}" for i in range(n)], thin(b_wh), thin(h_wh), "runs sorted low to high"


def _is_number(x: Any) -> TypeGuard[float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


def _decision(b: dict[str, Any]) -> str:
    """How a sequential paired gate reached its verdict, in a table cell: rounds, pairing, why it stopped."""
    if "rounds" not in b:
        return "—"
    batch = f" × {b['batch']} runs" if (b.get("batch") or 1) > 1 else ""
    names: dict[Any, str] = {"trimmed-t": "trimmed t", "t": "t", "signed-rank": "signed-rank"}
    interval = names.get(b.get("interval"), "")
    return md(
        f"{b['rounds']} {b.get('pairing', 'sequential')} rounds{batch}, {b.get('stop') or '?'}"
        + (f"; {interval} interval" if interval else "")
    )


def _stored_commits(workloads: list[dict[str, Any]]) -> str:
    """The commit(s) the stored baselines were recorded at (`workloads[].baseline.commit`), sanitised:
    "baseline commit `abc`", or "baseline commits `abc` (3 workloads), `def` (1 workload)"."""
    per_commit: dict[str, int] = {}
    for w in workloads:
        b = w.get("baseline") or {}
        if b.get("mode") == "stored" and short_sha(b.get("commit")):
            key = short_sha(b.get("commit"))
            per_commit[key] = per_commit.get(key, 0) + 1
    if not per_commit:
        return ""
    if len(per_commit) == 1:
        return f"baseline commit `{next(iter(per_commit))}`"
    shown = sorted(per_commit.items(), key=lambda kv: -kv[1])[:5]
    text = ", ".join(f"`{c}` ({n} workload{'s' if n != 1 else ''})" for c, n in shown)
    if len(per_commit) > len(shown):
        text += f" and {len(per_commit) - len(shown)} more"
    return f"baseline commits {text}"


def _disclosure(results: dict[str, Any], with_stats: bool) -> dict[str, Any]:
    grid = results["grid"]
    machine = results["machine"]
    fp = machine.get("fingerprint") or {}
    year = f", {grid['year']}" if grid.get("year") else ""
    grid_text = (
        f"{grid['g_per_kwh']:g} gCO2e/kWh, {md(grid['location'])} ({md(grid['source'])}{year}; {grid['method']}), "
        f"PUE {grid.get('pue', 1.0):g}"
    )
    if grid["method"] == "defaulted":
        grid_text += " — **defaulted**: set `grid.country` or `grid.intensity` in carbon-gate.yml"
    emb = machine.get("embodied")
    emb_text = (
        f"{emb['total_kg']:g} kgCO2e host × (run time / {emb['lifetime_years']:g} years) × share {emb['share']:g} "
        f"({md(emb['source'])})"
        if emb
        else "not included: no embodied data for this machine"
    )
    methods: dict[tuple[str, str, str], None] = {}
    overheads = []
    for w in results["workloads"]:
        for s in w.get("samples", []):
            overheads.append(s.get("overhead_cpu_s", 0.0))
            for e in s.get("energy", []):
                methods[(e["component"], e["method"], e["reason"])] = None
    git = results.get("git") or {}
    recorded = {(w.get("baseline") or {}).get("mode") for w in results["workloads"] if w.get("baseline")}
    modes: list[str] = sorted(cast("set[str]", recorded - {None}))
    if modes:
        base = f"{', '.join(modes)} mode"
        if short_sha(git.get("base")):
            base += f", base commit `{short_sha(git['base'])}`"
            base += f" ({md(git['base_ref'])})" if git.get("base_ref") else ""
        stored = _stored_commits(results["workloads"]) if "stored" in modes else ""
        if stored:
            base += ", " + ("stored " if len(modes) > 1 else "") + stored
        if _seed(git) is not None:
            base += f", order seed {_seed(git)}"
        base += (
            "; both sides measured with the same methods on this machine"
            if "paired" in modes
            else "; fingerprints compared before gating"
        )
    else:
        base = "none: workloads are checked against their budgets only"
    components = sorted({m[0] for m in methods})
    cpu = machine.get("cpu") or {}
    model_error = None
    if cpu.get("error_band_pct") is not None and any(c == "cpu" and m != "measured" for c, m, _ in methods):
        model_error = (
            f"modelled CPU figures: typical error ±{cpu['error_band_pct']:g} % "
            f"({md(cpu.get('error_source') or 'validation')}; docs/methodology.md §2)"
        )
    water = [(w["footprint"] or {}).get("water_l") for w in results["workloads"] if w.get("footprint")]
    water_text = None
    if grid.get("wue") is not None:
        water_text = f"WUE {grid['wue']:g} L/kWh on site × facility energy" + (
            f": {sum(x for x in water if x is not None):.4g} L for the median runs" if water else ""
        )
    stats = []
    for w in results["workloads"] if with_stats else []:
        s, ch = w.get("summary") or {}, w.get("change") or {}
        stats.append(
            {
                "name": md(w["name"]),
                "n": s.get("n", 0),
                "median": format_energy(s["median_wh"]) if s else "—",
                "spread": f"{s['spread']:.1%}" if s else "—",
                "mde": ("∞" if ch.get("mde") is None else f"{ch['mde']:.1%}") if ch else "—",
                "interval": _delta(ch) if ch else "—",
                "p": f"{ch['p_value']:.3g}" if ch and ch.get("p_value") is not None else "—",
                "tolerance": f"{w['tolerance']:.0%}" if w.get("tolerance") is not None else "—",
                "decision": _decision(w.get("baseline") or {}),
            }
        )
    max_stats = 200
    return {
        "grid": grid_text,
        "embodied": emb_text,
        "model_error": model_error,
        "water": water_text,
        "boundary": f"{', '.join(components) or 'none'} energy of the workload's process tree"
        + ("" if "gpu" in components else f"; GPU: {md(machine.get('gpu', 'none'))}"),
        "baseline": base,
        "machine": md(
            f"{fp.get('cpu_model', '?')}, {fp.get('logical_cpus', '?')} vCPUs, {fp.get('ram_gb', '?')} GB RAM, "
            f"{fp.get('os', '')} {fp.get('arch', '')}"
            + (f", runner image {fp['image_os']} {fp.get('image_version') or ''}" if fp.get("image_os") else "")
            + (f", profile {fp['profile']}" if fp.get("profile") else "")
        ),
        "overhead": f"median {sorted(overheads)[len(overheads) // 2] * 1000:.1f} ms per run" if overheads else "n/a",
        "methods": [
            {"component": md(c), "method": f"**{m}**" if m == "defaulted" else m, "reason": md(r)}
            for c, m, r in list(methods)[:30]
        ],
        "stats": stats[:max_stats],
        "stats_dropped": max(len(stats) - max_stats, 0),
        # Only when a shortened level left out statistics there were (a summary or a change to show).
        "stats_omitted": not with_stats and any(w.get("summary") or w.get("change") for w in results["workloads"]),
    }


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:,.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds:,.1f} s"


def _projections(workloads: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for w in workloads:
        p = w.get("projection")
        if not p:
            continue
        forecast = w.get("estimate") is not None
        rng = "" if forecast else f" ({format_energy(p['low_wh'])} – {format_energy(p['high_wh'])})"
        out.append(
            {
                "name": md(w["name"]),
                "measured": "forecast"
                if forecast
                else (format_energy(w["energy_wh"]) if w.get("energy_wh") is not None else "—"),
                "per_unit": "—" if forecast else f"{format_energy(p['per_unit_wh'])}/{md(p['unit'])}",
                "planned": "full run" if forecast else f"{p['to']:g} {md(p['unit'])}",
                "energy": format_energy(p["energy_wh"]) + rng,
                "co2e": format_mass(p["co2e_g"]),
                "time": _duration(p["wall_s"]),
            }
        )
    return out


def _metrics(workloads: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Quality metrics beside energy: one row per workload and metric (medians of the counted runs)."""
    out = []
    for w in workloads:
        for name, m in (w.get("metrics") or {}).items():
            if not isinstance(m, dict) or not _is_number(m.get("median")):
                continue
            per = m.get("wh_per_point")
            out.append(
                {
                    "name": md(w["name"]),
                    "metric": md(name),
                    "value": f"{m['median']:.4g}",
                    "energy": format_energy(w["energy_wh"]) if _is_number(w.get("energy_wh")) else "—",
                    "per_point": f"{format_energy(per)} per point" if _is_number(per) else "—",
                }
            )
    return out


def _guard(guard: dict[str, Any] | None) -> dict[str, Any] | None:
    if not guard or not guard.get("changes"):
        return None
    loosened = [c for c in guard["changes"] if c["loosened"]]
    label = md(guard.get("label", "carbon-budget-approved"))
    if guard.get("blocked"):
        icon, summary = (
            "❌",
            (
                f"This PR loosens {len(loosened)} limit{'s' if len(loosened) != 1 else ''} of its own gate. "
                f"The base commit's limits were applied; add the `{label}` label to accept the change."
            ),
        )
    elif loosened:
        icon, summary = "✅", f"Loosened limits accepted: the PR carries the `{label}` label."
    else:
        icon, summary = "ℹ️", "No limit is loosened, so this pull request's own limits were applied."
    changes = [
        {
            "what": md(c["what"]),
            "before": md(c["before"]),
            "after": md(c["after"]),
            "effect": "**loosened**" if c["loosened"] else "tightened or added",
        }
        for c in guard["changes"]
    ]
    return {"icon": icon, "summary": summary, "changes": changes}


def _seed(git: dict[str, Any]) -> int | None:
    """The paired order seed, only if it is a whole number: the results file may have been edited, and
    whatever it holds would otherwise land in the report as is."""
    seed = git.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _footer(results: dict[str, Any]) -> dict[str, str]:
    git = results.get("git") or {}
    cmd = "carbon-gate run"
    config = results.get("config")
    # `config` is the path as given to `run -c`, relative to where it ran; only the default needs no -c.
    if isinstance(config, str) and config and os.path.normpath(config) != "carbon-gate.yml":
        cmd += f" -c {shlex.quote(config)}"
    if git.get("mode") == "paired" and short_sha(git.get("base")):
        cmd += f" --base {short_sha(git['base'])}"
        if _seed(git) is not None:
            cmd += f" --seed {_seed(git)}"
    accept = (
        "raise the budget or tolerance in `carbon-gate.yml` in this pull request and add the "
        "`carbon-budget-approved` label; after merging, `carbon-gate baseline update` on the default branch "
        "records the new baseline"
    )
    return {"reproduce": code_span(cmd), "accept": accept}
