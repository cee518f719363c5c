"""Bounds on the size and depth of a config, checked before anything walks it recursively.

A YAML alias names a node already built, so a few hundred bytes of nested aliases describe a
tree of billions of values (the "billion laughs"), and an alias inside the node it names makes
a cycle (``model: &x [*x]``). Factorization, its cache key and ``dump_config`` walk configs as
trees, recursively. :func:`check_config` walks the config once, without recursion and without
expanding shared nodes (each is measured once and counted as often as it is referenced), and
refuses a config whose expanded tree is larger than :data:`MAX_CONFIG_VALUES`, deeper than
:data:`MAX_CONFIG_DEPTH` or cyclic, naming the path and the limit. Imports only ``errors``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from registry.errors import ValidationError

__all__ = ["MAX_CONFIG_DEPTH", "MAX_CONFIG_VALUES", "check_config"]

#: Nesting levels a config may have (real ones have a few dozen at most).
MAX_CONFIG_DEPTH = 100
#: Values (mappings, lists and scalars) a config may expand to, aliases counted every time.
MAX_CONFIG_VALUES = 1_000_000

_CONTAINERS = (dict, list, tuple)
# Exact scalar types answer without the ``isinstance(value, Mapping)`` check, an ABC check
# that costs as much as the rest of the walk.
_SCALARS = frozenset({str, int, float, bool, type(None), bytes})


def _children(node: Any) -> Iterator[tuple[object, Any]]:
    if type(node) is dict or isinstance(node, Mapping):
        return iter(node.items())
    return enumerate(node)


def _is_container(value: Any) -> bool:
    cls = type(value)
    if cls in _SCALARS:
        return False
    return cls in _CONTAINERS or isinstance(value, (Mapping, list, tuple))


def _shown(path: str) -> str:
    """A path short enough for a message (the full one is in the error's context)."""
    return path if len(path) <= 60 else f"{path[:28]}...{path[-28:]}"


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def check_config(
    config: Any,
    *,
    source: str = "",
    max_values: int = MAX_CONFIG_VALUES,
    max_depth: int = MAX_CONFIG_DEPTH,
) -> None:
    """Refuse ``config`` if its expanded tree is too large, too deep or cyclic.

    Args:
        config: parsed config data (mappings, lists, scalars).
        source: the file or URL it came from, for messages.

    Raises:
        ValidationError: naming the path, the limit and (for size) what the path expands to.
    """
    if not _is_container(config) or _is_small_tree(config, max_values, max_depth):
        return
    where = f" in {source}" if source else ""
    sizes: dict[int, int] = {}  # id of a finished container -> values in its expanded tree
    heights: dict[int, int] = {}  # id of a finished container -> levels it spans
    open_ids: set[int] = set()  # containers on the current path (a second visit is a cycle)
    # frame: [node, path, depth, children, values so far, tallest child so far]
    stack: list[list[Any]] = [[config, "", 1, _children(config), 0, 0]]
    open_ids.add(id(config))
    while stack:
        frame = stack[-1]
        node, path, depth, children = frame[0], frame[1], frame[2], frame[3]
        for key, child in children:
            if not _is_container(child):
                frame[4] += 1
                frame[5] = max(frame[5], 1)
                continue
            child_id = id(child)
            child_path = _join(path, key)
            if child_id in open_ids:
                raise ValidationError(
                    f"The config{where} refers to itself at {_shown(child_path)!r} (such as a "
                    "YAML alias inside the node it names): it would never end",
                    suggestions=["Repeat the values instead of aliasing the enclosing node"],
                    context={"path": child_path, "source": source},
                )
            if child_id in sizes:
                frame[4] += sizes[child_id]
                frame[5] = max(frame[5], heights[child_id])
                if depth + heights[child_id] > max_depth:
                    raise _too_deep(child_path, max_depth, where, source)
                continue
            if depth + 1 > max_depth:
                raise _too_deep(child_path, max_depth, where, source)
            open_ids.add(child_id)
            stack.append([child, child_path, depth + 1, _children(child), 0, 0])
            break
        else:
            stack.pop()
            open_ids.discard(id(node))
            size, height = 1 + frame[4], 1 + frame[5]
            if size > max_values:
                raise ValidationError(
                    f"The config{where} expands to more than {max_values:,} values at "
                    f"{_shown(path) or '<root>'!r} ({size:,}, counting every repetition of a "
                    "YAML alias)",
                    suggestions=[
                        "Write the values out, or load large data from a file in the artifact "
                        "itself instead of through the config"
                    ],
                    context={"path": path, "limit": max_values, "values": size, "source": source},
                )
            sizes[id(node)], heights[id(node)] = size, height
            if stack:
                parent = stack[-1]
                parent[4] += size
                parent[5] = max(parent[5], height)


class _Unsure(Exception):
    pass


def _is_small_tree(config: Any, max_values: int, max_depth: int) -> bool:
    """Return True for a config the full walk would pass at a glance: dicts, lists and tuples
    that reach no container twice (no aliases, no cycles), well inside both limits. A quick
    recursive walk (the depth it recurses to is bounded); anything else is left to the full
    walk, which names what is wrong."""
    seen: set[int] = set()
    budget = [max_values // 2]

    def walk(node: Any, depth: int) -> None:
        if depth >= max_depth or id(node) in seen:
            raise _Unsure
        seen.add(id(node))
        children = node.values() if type(node) is dict else node
        budget[0] -= len(children) + 1
        if budget[0] < 0:
            raise _Unsure
        for child in children:
            cls = type(child)
            if cls in _SCALARS:
                continue
            if cls not in _CONTAINERS:
                if _is_container(child):
                    raise _Unsure  # other mappings and sequences: the full walk measures them
                continue
            walk(child, depth + 1)

    if type(config) not in _CONTAINERS:
        return False
    try:
        walk(config, 1)
    except (_Unsure, RecursionError):  # a caller's own stack may already be deep
        return False
    return True


def _too_deep(path: str, limit: int, where: str, source: str) -> ValidationError:
    return ValidationError(
        f"The config{where} is nested more than {limit} levels deep at {_shown(path)!r}",
        suggestions=["Flatten the config; nesting this deep is almost always generated by mistake"],
        context={"path": path, "limit": limit, "source": source},
    )
