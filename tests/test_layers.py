"""The package's import layers: every module imports only modules of lower layers, so there are no cycles.

A "unit" is a top-level module or a subpackage of carbon_gate (`meters`, `assess`, ...); a dotted entry
(`config.spec`, say) makes one module of a package a unit of its own. LAYERS lists the units from the bottom
up: a unit may import the units before it, never one after it. Imports inside functions count too (a
deferred import hides a cycle, it does not remove it). The walk is static (ast), so it sees every import
whether or not a test runs the code that holds it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import carbon_gate

# The units are grouped by stage, several to a line.
# fmt: off
LAYERS = (
    # Foundations: no carbon_gate imports, or only of the units above them here.
    "errors", "units", "fsutil", "interrupts", "functional_units", "estimate", "grid",
    "domain",  # the plain records every stage shares (Sample, Fingerprint, Summary, Change, Baseline, ...)
    "intensity", "shifting", "advice",  # grid-intensity providers and carbon-aware advice
    "settings",  # the typed config records (Config, Workload, MeterSettings, ...); config re-exports them
    "account",  # energy -> CO2e, pure
    "results",  # the results document: typed records, to_dict/from_dict, load/write
    "render",  # results -> Markdown, terminal, charts, CSV: pure text
    "publish",  # GitHub: workflow commands, the PR comment, the event
    "progress",  # the live progress display (uses publish's workflow commands for log groups)
    "meters",  # measure: processes, RAPL, GPU, power models
    "config",  # the config file: spec, validator, loader, JSON Schema
    "assess",  # budgets, statistics, verdicts: pure
    "baseline", "shard", "gitctx", "codecarbon_import",
    "pipeline",  # plan -> measure -> account -> assess, over a whole suite
    "replay", "merge", "rank", "api", "dataframe", "forecast", "scaffold", "prepush",
    "machine", "import_codecarbon", "comment_job", "baseline_update",  # the logic of the CLI commands of those names
    "action",  # the GitHub Action's run: pipeline + render + publish
    "cli", "__main__",
)
# fmt: on

# Upward imports not yet removed, each with the change that removes it. Keep this empty: a listed import
# that no longer exists fails the test, so the list cannot outlive its reason.
KNOWN_UPWARD: Mapping[tuple[str, str], str] = {}

PACKAGE = Path(carbon_gate.__file__).parent


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path) -> dict[str, set[tuple[str, int]]]:
    """Each module of the package under `root` -> the package's modules it imports (name, line)."""
    package = root.name
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    out: dict[str, set[tuple[str, int]]] = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[tuple[str, int]] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found.update((a.name, node.lineno) for a in node.names if a.name.split(".")[0] == package)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1])
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                if target.split(".")[0] != package:
                    continue
                # `from . import x`: x may be a module (import it) or a name in the package (import the package).
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
                found.update((t, node.lineno) for t in (subs or [target]))
        # Importing a package's module first runs the package's __init__: that is an import too.
        found.update((".".join(t.split(".")[:i]), line) for t, line in list(found) for i in range(2, t.count(".") + 1))
        out[name] = found
    return out


def unit_of(module: str, package: str, units: Iterable[str]) -> str | None:
    """The declared unit a module belongs to (the longest matching entry); None for the package itself."""
    rest = module.removeprefix(package).lstrip(".")
    if not rest:
        return None  # carbon_gate/__init__.py: __version__ and the lazy public API (PEP 562), importable by all
    matches = [u for u in units if rest == u or rest.startswith(u + ".")]
    return max(matches, key=len) if matches else rest.split(".")[0]


def edges(root: Path, units: Iterable[str]) -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> where, for every import that crosses units."""
    units = tuple(units)
    out: dict[tuple[str, str], list[str]] = {}
    for module, targets in imports(root).items():
        a = unit_of(module, root.name, units)
        for target, line in targets:
            b = unit_of(target, root.name, units)
            if a is not None and b is not None and a != b:
                out.setdefault((a, b), []).append(f"{module}:{line}")
    return out


def cycles(graph: Mapping[tuple[str, str], object]) -> list[list[str]]:
    """The strongly connected components of more than one unit (Tarjan), each sorted."""
    succ: dict[str, list[str]] = {}
    for a, b in graph:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(succ) + 100))
    for v in sorted(succ):
        if v not in index:
            visit(v)
    return found


def violations(
    graph: Mapping[tuple[str, str], list[str]], layers: tuple[str, ...], known: Mapping[tuple[str, str], str] = {}
) -> list[str]:
    """Every undeclared unit and upward import (not in `known`), and every cycle, as readable lines."""
    rank = {u: i for i, u in enumerate(layers)}
    problems = [
        f"{u}: not in LAYERS (place it in tests/test_layers.py)"
        for u in sorted({u for pair in graph for u in pair} - set(rank))
    ]
    for (a, b), where in sorted(graph.items()):
        if a in rank and b in rank and rank[b] > rank[a] and (a, b) not in known:
            problems.append(f"{a} imports {b}, a higher layer ({', '.join(sorted(where))})")
    problems += [f"cycle between {', '.join(c)}" for c in cycles({e: 0 for e in graph if e not in known})]
    return problems


# --------------------------------------------------------------------------- the package


def test_package_imports_only_downward():
    graph = edges(PACKAGE, LAYERS)
    assert violations(graph, LAYERS, KNOWN_UPWARD) == []


def test_known_upward_imports_still_exist():
    graph = edges(PACKAGE, LAYERS)
    stale = [pair for pair in KNOWN_UPWARD if pair not in graph]
    assert stale == [], f"these imports are gone: remove them from KNOWN_UPWARD: {stale}"


def test_every_layer_names_a_real_unit():
    names = {module_name(p, PACKAGE).removeprefix("carbon_gate.") for p in PACKAGE.rglob("*.py")}
    assert [u for u in LAYERS if u not in names] == []


# --------------------------------------------------------------------------- the check itself can fail


def _package(tmp_path: Path, files: Mapping[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def test_check_reports_an_upward_import_and_a_cycle(tmp_path):
    root = _package(
        tmp_path,
        {
            "low.py": "def f():\n    from .high import g  # deferred, still counted\n",
            "high.py": "from . import low\n",
        },
    )
    problems = violations(edges(root, ("low", "high")), ("low", "high"))
    assert problems == ["low imports high, a higher layer (pkg.low:2)", "cycle between high, low"]


def test_check_sees_subpackages_absolute_imports_and_undeclared_units(tmp_path):
    root = _package(
        tmp_path,
        {
            "sub/__init__.py": "",
            "sub/a.py": "import pkg.top\n",
            "sub/records.py": "",
            "top.py": "from .sub.records import X\nfrom pkg import extra\n",
            "extra.py": "",
        },
    )
    layers = ("sub.records", "sub", "top")
    # A dotted unit stands on its own, but importing it runs its package's __init__: `top` imports `sub` too.
    assert {("top", "sub.records"), ("top", "sub")} <= set(edges(root, layers))
    assert violations(edges(root, layers), layers) == [
        "extra: not in LAYERS (place it in tests/test_layers.py)",
        "sub imports top, a higher layer (pkg.sub.a:1)",
        "cycle between sub, top",
    ]
