"""Category paths (``sports/shoes/running``) and a growing index of their nodes.

A path's *nodes* are its prefixes, coarse to fine: interests are kept at every level.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["CategoryIndex", "category_nodes"]


@lru_cache(maxsize=65_536)
def category_nodes(path: str) -> tuple[str, ...]:
    """The prefixes of a ``/``-separated path; blank segments are ignored.

    >>> category_nodes("sports/shoes/running")
    ('sports', 'sports/shoes', 'sports/shoes/running')
    >>> category_nodes(" a//b ")
    ('a', 'a/b')
    >>> category_nodes("")
    ()
    """
    parts = [p.strip() for p in path.split("/")]
    parts = [p for p in parts if p]
    return tuple("/".join(parts[: i + 1]) for i in range(len(parts)))


class CategoryIndex:
    """Node name ↔ dense id (process-local), with each node's depth (1 = top level)."""

    __slots__ = ("_depth", "_ids", "_names")

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._names: list[str] = []
        self._depth: list[int] = []

    def __len__(self) -> int:
        return len(self._names)

    def id(self, name: str) -> int:
        """The id of ``name``, added when new."""
        i = self._ids.get(name)
        if i is None:
            i = len(self._names)
            self._ids[name] = i
            self._names.append(name)
            self._depth.append(name.count("/") + 1)
        return i

    def get(self, name: str) -> int | None:
        """The id of ``name`` or ``None``."""
        return self._ids.get(name)

    @property
    def ids(self) -> dict[str, int]:
        """Name → id (the live mapping: do not mutate)."""
        return self._ids

    @property
    def names(self) -> list[str]:
        """Every node's name, indexed by id (the live list: do not mutate)."""
        return self._names

    def name(self, node: int) -> str:
        """The name of node ``node``."""
        return self._names[node]

    def depth(self, node: int) -> int:
        """1 for a top-level node, 2 for its children, ..."""
        return self._depth[node]
