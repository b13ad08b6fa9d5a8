"""YAML with the line of every key and item, so each config problem can name its line.

Hostile input is bounded here: nesting depth before PyYAML's recursive composer sees it, and the
number of values after alias expansion (a "billion laughs" file).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, ConfigProblem

MAX_NODES = 100_000  # after alias expansion
MAX_DEPTH = 64

KeyPath = tuple[Any, ...]  # keys and list indexes from the document's root
Lines = dict[KeyPath, int]


def load_yaml(text: str, filename: str) -> tuple[Any, Lines]:
    """Parse YAML keeping the line of every key and item (1-based); duplicate keys, keys that are not
    scalars and values their tag cannot construct (`!!int abc`) are errors at their line."""
    import yaml

    try:
        _check_depth(text, filename)  # before compose, whose recursion a 1,000-deep file would exhaust
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(exc, text, filename)]) from None
    if node is None:
        raise ConfigError(
            [ConfigProblem(filename, 1, "", "the file is empty (or only comments): expected 'version' and 'workloads'")]
        )
    lines: Lines = {}
    problems: list[ConfigProblem] = []
    loader = yaml.SafeLoader("")
    visited = [0]

    def scalar(n: Any, path: KeyPath) -> Any:
        try:
            value = loader.construct_object(n)
        except Exception as exc:  # noqa: BLE001 - a tag's constructor fed a bad value raises anything (`!!timestamp x`)
            why = first_line(exc) if isinstance(exc, (ValueError, yaml.YAMLError)) else "not a valid value for that tag"
            problems.append(
                ConfigProblem(
                    filename,
                    n.start_mark.line + 1,
                    dotted(path),
                    f"cannot read {short(n.value)} as {n.tag.rsplit(':', 1)[-1]}: {why}",
                )
            )
            return None
        if isinstance(value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            problems.append(
                ConfigProblem(
                    filename,
                    n.start_mark.line + 1,
                    dotted(path),
                    f"{short(value)} contains a lone surrogate (not valid Unicode)",
                )
            )
            return None
        return value

    def convert(n: Any, path: KeyPath, open_nodes: frozenset[int]) -> Any:
        visited[0] += 1
        if visited[0] > MAX_NODES:  # aliases of aliases multiply: a 1 KB "billion laughs" file
            raise ConfigError(
                [
                    ConfigProblem(
                        filename,
                        n.start_mark.line + 1,
                        dotted(path),
                        f"more than {MAX_NODES:,} values after expanding YAML aliases (an alias bomb?)",
                    )
                ]
            )
        lines.setdefault(path, n.start_mark.line + 1)
        if id(n) in open_nodes:  # an alias to one of its own ancestors (`a: &x [*x]`)
            # The alias resolves to the anchored node itself: its mark is the anchor's, so the line is the
            # key's where there is one (`paths: *w`), not the line of the anchor it points back to.
            problems.append(ConfigProblem(filename, lines[path], dotted(path), "recursive YAML alias"))
            return None
        inside = open_nodes | {id(n)}
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for k_node, v_node in n.value:
                if not isinstance(
                    k_node, yaml.ScalarNode
                ):  # `[a]: x` or `? {b: 1}`: unhashable, and never a key we know
                    problems.append(
                        ConfigProblem(
                            filename,
                            k_node.start_mark.line + 1,
                            dotted(path),
                            "expected a plain key name, got "
                            + ("a mapping" if isinstance(k_node, yaml.MappingNode) else "a list")
                            + " as a key",
                        )
                    )
                    continue
                key = scalar(k_node, path)
                if key in out:
                    problems.append(
                        ConfigProblem(
                            filename, k_node.start_mark.line + 1, dotted(path + (key,)), f"duplicate key {key!r}"
                        )
                    )
                    continue
                lines[path + (key,)] = k_node.start_mark.line + 1
                out[key] = convert(v_node, path + (key,), inside)
            return out
        if isinstance(n, yaml.SequenceNode):
            return [convert(item, path + (i,), inside) for i, item in enumerate(n.value)]
        return scalar(n, path)

    data = convert(node, (), frozenset())
    if problems:
        raise ConfigError(problems)
    return data, lines


def _check_depth(text: str, filename: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH, at the line where it gets too deep (the event parser
    keeps a stack, not recursion, so this costs no stack however deep the file goes)."""
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when present
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(
                    [
                        ConfigProblem(
                            filename,
                            event.start_mark.line + 1 if event.start_mark is not None else None,
                            "",
                            f"nested more than {MAX_DEPTH} levels deep",
                        )
                    ]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _yaml_problem(exc: Exception, text: str, filename: str) -> ConfigProblem:
    """Locate a YAML syntax error. When the parser ran off the end of the file (an unclosed quote or
    bracket) the useful line is where the construct began (PyYAML's context mark), not the end."""
    end = len(text.rstrip())
    position = getattr(exc, "position", None)  # a ReaderError (a control character) has no mark, only this
    if position is not None and getattr(exc, "problem_mark", None) is None:
        line = text[:position].count("\n") + 1
        byte = len(text[:position].encode("utf-8", "surrogatepass"))
        ch = getattr(exc, "character", 0)
        code = ch if isinstance(ch, int) else ord(ch[:1] or "\0")
        return ConfigProblem(
            filename,
            line,
            "",
            f"malformed YAML: character U+{code:04X} at byte {byte}: control "
            "characters are not allowed (write them as escapes in a quoted string)",
        )
    problem = getattr(exc, "problem", None) or first_line(exc)
    context = getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    began = None
    if context_mark is not None and context_mark.index < end and (mark is None or mark.index >= end):
        mark = began = context_mark
    message = f"malformed YAML: {problem}" + (f" ({context} that starts here)" if began is not None and context else "")
    # Never a line past the last one: the end of the stream sits after the final newline.
    at = min(mark.line + 1, text[:end].count("\n") + 1) if mark is not None else None
    return ConfigProblem(filename, at, "", message)


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def dotted(path: KeyPath) -> str:
    out = ""
    for p in path:
        is_index = isinstance(p, int) and not isinstance(p, bool)  # a bare `on:` key reads as True, not an index
        out += f"[{p}]" if is_index else (f".{p}" if out else str(p))
    return out


def short(value: Any) -> str:
    """A value for a message: repr, cut to a readable length (a 400-digit integer, a long string)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + f"… ({len(text)} characters)"
