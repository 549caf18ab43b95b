"""A bounded in-process memo, for the values a long-lived process reads again and again.

``runbook serve`` renders the whole site again on every change. The parse cache, the run
store and the render cache all live on disk, and reading them back for a thousand
runbooks costs more than the one page that changed. Each keeps a :class:`Memo` in front of
its disk reads, keyed on what makes the disk entry valid (content hash, file identity),
so a memo hit is never staler than the disk read it replaces.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Values by key; past ``size`` entries, the least recently used goes first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
