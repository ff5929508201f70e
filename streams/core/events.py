"""The input value objects: ``Event`` and ``Item`` (already validated)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Event", "Item"]


@dataclass(frozen=True, slots=True)
class Item:
    """A catalog item. ``category`` is a ``/``-separated path, coarse to fine."""

    item_id: str
    title: str = ""
    description: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    deleted: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Item:
        """An item from a *validated* JSON object (see ``item.schema.json``)."""
        tags = data.get("tags") or ()
        assert isinstance(tags, list | tuple)
        return cls(
            item_id=str(data["item_id"]),
            title=str(data.get("title", "")),
            description=str(data.get("description", "")),
            category=str(data.get("category", "")),
            tags=tuple(str(t) for t in tags),
            deleted=data.get("deleted") is True,
        )

    def __reduce__(self) -> tuple[type[Item], tuple[str, str, str, str, tuple[str, ...], bool]]:
        """Pickled as its fields (a frozen dataclass's default sets each field by hand: the
        parse-ahead process sends many)."""
        return (
            Item,
            (self.item_id, self.title, self.description, self.category, self.tags, self.deleted),
        )

    def to_json(self) -> bytes:
        """The item as compact JSON with a stable field order."""
        if self.deleted:
            return json.dumps({"item_id": self.item_id, "deleted": True}).encode()
        obj = {
            "item_id": self.item_id,
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "tags": list(self.tags),
        }
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Event:
    """One validated interaction; ``ts`` is epoch milliseconds (ISO input already converted)."""

    event_id: str
    user_id: str
    item_id: str
    type: str
    ts: int
    value: float | None = None
    text: str | None = None
    item: Item | None = None
