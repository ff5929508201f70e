"""``EventColumns``: a batch's valid events as parallel columns (no object per event).

:meth:`streams.core.contract.EventParser.batch` fills them; admission and the numpy steps
read them. Position ``j`` is the ``j``-th valid event of the batch in arrival order; ``msg[j]``
is its message's index in the batch (for rejections and offset marks). ``value`` holds
``nan`` where the event has none; ``text`` and ``item`` are sparse (position → value) because
few events carry them, and keep arrival order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from streams.core.events import Event, Item

__all__ = ["EventColumns"]


@dataclass(slots=True)
class EventColumns:
    """The columns; every list has one entry per valid event."""

    msg: list[int] = field(default_factory=list)
    event_id: list[str] = field(default_factory=list)
    user_id: list[str] = field(default_factory=list)
    item_id: list[str] = field(default_factory=list)
    type: list[int] = field(default_factory=list)
    """Index into the configured event types (``EngineParams.event_types`` order)."""
    ts: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    text: dict[int, str] = field(default_factory=dict)
    item: dict[int, Item] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.msg)

    def append(self, msg: int, ev: Event, type_index: int) -> None:
        """Add one already validated event (the general path)."""
        j = len(self.msg)
        self.msg.append(msg)
        self.event_id.append(ev.event_id)
        self.user_id.append(ev.user_id)
        self.item_id.append(ev.item_id)
        self.type.append(type_index)
        self.ts.append(ev.ts)
        self.value.append(float("nan") if ev.value is None else ev.value)
        if ev.text is not None:
            self.text[j] = ev.text
        if ev.item is not None:
            self.item[j] = ev.item

    def event(self, j: int, type_names: tuple[str, ...]) -> Event:
        """Position ``j`` as an ``Event`` (tests and diagnostics; not on the hot path)."""
        v = self.value[j]
        return Event(
            self.event_id[j],
            self.user_id[j],
            self.item_id[j],
            type_names[self.type[j]],
            self.ts[j],
            None if math.isnan(v) else v,
            self.text.get(j),
            self.item.get(j),
        )
