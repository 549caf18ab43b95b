"""Every YAML the tool reads goes through here: safe, and bounded in size.

A YAML document of a few hundred bytes can hold a "billion laughs": anchors whose aliases
nest, ``b: &b [*a, *a, ...]``, so that the value expands to a billion nodes. PyYAML builds
it cheaply (aliases share one object), but anything that walks the value (``repr`` in a
message, ``json.dumps`` in a record, a line-number walk) runs out of memory. So the
document is composed first, its size counted with aliases expanded (memoized per node, so
the count is cheap whatever the expansion), and refused past a limit before any value is
built. Files are refused past a byte size before they are parsed at all.

Syntax errors are left to the caller as :class:`yaml.YAMLError`, since each kind of input
words them its own way; a refusal is an :class:`~runbook.errors.InputTooLarge` (exit 2)
naming the file, the line and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import InputTooLarge, Problem

#: Front matter and ``-p`` values: a few keys and short lists.
SMALL_NODES = 10_000
#: Front matter and ``-p`` values, in characters: checked before parsing, which is slow
#: (pure-Python PyYAML reads about 100 KB a second).
SMALL_CHARS = 100_000
#: Profiles, FAQ files and ``-f`` files: the real ones hold a few hundred values.
FILE_NODES = 100_000
#: Deeper nesting than this is no configuration anyone writes (and PyYAML recurses on it).
MAX_DEPTH = 100
#: YAML files: profiles, FAQ files, ``-f`` files (the real ones are a few KB).
MAX_YAML_BYTES = 1_000_000

ALIASES_EXPAND = (
    "{what}YAML aliases expand to more than {limit} nodes; write the values out instead of nesting aliases"
)
TOO_MANY_NODES = "{what}more than {limit} YAML values; keep YAML input small and move bulk data elsewhere"
TOO_DEEP = "{what}YAML nested more than {depth} levels deep; flatten it"
TOO_LONG = "{what}YAML longer than {chars} characters; keep YAML input small and move bulk data elsewhere"
FILE_TOO_LARGE = "the file is larger than {size}; {fix}"
YAML_FILE_FIX = "keep YAML input small and move bulk data elsewhere"

Key = str | int


@dataclass(frozen=True)
class YamlDocument:
    """A composed YAML document: its value, and the file line of each key and item."""

    root: yaml.Node | None
    """The composed nodes; None for an empty document."""
    data: Any
    """The value, as ``yaml.safe_load`` gives it."""
    first_line: int = 1
    """The file line of the document's first line (front matter starts on line 2)."""

    def line(self, *path: Key) -> int | None:
        """The file line of the deepest key or item of ``path`` the document has.

        A path is mapping keys and 1-based list positions: ``line("entries", 2, "answer")``
        is the line of entry 2's ``answer`` key, or of entry 2 when it has none. None when
        not even the first step is there.
        """
        node, found = self.root, None
        for step in path:
            child = _child(node, step)
            if child is None:
                break
            found, node = child
        return None if found is None else found + self.first_line


def _child(node: yaml.Node | None, step: Key) -> tuple[int, yaml.Node] | None:
    """``(line index, value node)`` of a mapping key or 1-based list item, or None."""
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == step:
                return key.start_mark.line, value
    elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 < step <= len(node.value):
        item = node.value[step - 1]
        return item.start_mark.line, item
    return None


def read_limited(path: Path, where: str, limit: int = MAX_YAML_BYTES, fix: str = YAML_FILE_FIX) -> bytes:
    """The file's bytes, refusing a file larger than ``limit`` without reading all of it.

    Raises:
        OSError: the file cannot be read (callers word this their own way).
        InputTooLarge: the file is larger than ``limit``.
    """
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        message = FILE_TOO_LARGE.format(size=_megabytes(limit), fix=fix)
        raise InputTooLarge.located([Problem(where, message)])
    return data


#: libyaml's parser where PyYAML has it (about ten times faster), the same safe constructor.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:g} MB"


def compose(
    text: str,
    where: str,
    *,
    max_nodes: int = FILE_NODES,
    max_chars: int = MAX_YAML_BYTES,
    first_line: int = 1,
    what: str = "",
) -> YamlDocument:
    """Compose and load one YAML document, refusing it when it expands past ``max_nodes``.

    Args:
        text: the YAML.
        where: the file or option it came from, for the refusal (``environments/x.yml``).
        max_nodes: how many nodes the document may have with its aliases expanded.
        max_chars: how long the text may be.
        first_line: the file line the text starts on.
        what: a prefix for the refusal's message, e.g. ``"front matter: "``.

    Returns:
        The document, with its value and its key lines.

    Raises:
        yaml.YAMLError: the text is not valid YAML.
        InputTooLarge: too long, too many nodes once aliases are expanded, or nested too deep.
    """
    if len(text) > max_chars:
        message = TOO_LONG.format(what=what, chars=max_chars)
        raise InputTooLarge.located([Problem(where, message, first_line)])
    try:
        return _compose(_SafeLoader, text, where, max_nodes, first_line, what)
    except yaml.YAMLError:
        if _SafeLoader is yaml.SafeLoader:
            raise
    # libyaml said no: PyYAML's own parser words the problem better, with its line.
    return _compose(yaml.SafeLoader, text, where, max_nodes, first_line, what)


def _compose(
    loader_class: type[yaml.SafeLoader], text: str, where: str, max_nodes: int, first_line: int, what: str
) -> YamlDocument:
    loader = loader_class(text)
    try:
        try:
            root = loader.get_single_node()
        except RecursionError:
            raise InputTooLarge.located(
                [Problem(where, TOO_DEEP.format(what=what, depth=MAX_DEPTH), first_line)]
            ) from None
        if root is None:
            return YamlDocument(None, None, first_line)
        _check_size(root, where, max_nodes, first_line, what)
        return YamlDocument(root, loader.construct_document(root), first_line)
    finally:
        loader.dispose()


def load(text: str, where: str) -> Any:
    """The value of a short YAML text (a ``-p`` value), like ``yaml.safe_load`` but bounded.

    Raises:
        yaml.YAMLError: the text is not valid YAML.
        InputTooLarge: see :func:`compose`; the limits are the small ones.
    """
    return compose(text, where, max_nodes=SMALL_NODES, max_chars=SMALL_CHARS).data


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _check_size(root: yaml.Node, where: str, limit: int, first_line: int, what: str) -> None:
    """Count the nodes with aliases expanded, each shared node once; refuse past ``limit``.

    Iterative and memoized by node identity: a node an alias points to again is counted
    from the memo, and a node that contains itself expands without end.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = {id(root)}
    stack: list[tuple[yaml.Node, Iterator[yaml.Node]]] = [(root, _children(root))]
    aliased = False

    def refuse(node: yaml.Node, template: str) -> InputTooLarge:
        message = template.format(what=what, limit=limit, depth=MAX_DEPTH)
        return InputTooLarge.located([Problem(where, message, node.start_mark.line + first_line)])

    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is not None:
            if id(child) in sizes:
                aliased = True
            elif id(child) in on_path:
                raise refuse(child, ALIASES_EXPAND)
            elif len(stack) >= MAX_DEPTH:
                raise refuse(child, TOO_DEEP)
            else:
                on_path.add(id(child))
                stack.append((child, _children(child)))
            continue
        stack.pop()
        on_path.discard(id(node))
        size = 1 + sum(sizes[id(c)] for c in _children(node))
        if size > limit:
            raise refuse(node, ALIASES_EXPAND if aliased else TOO_MANY_NODES)
        sizes[id(node)] = size
