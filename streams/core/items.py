"""Items into the catalog: compose the text, fingerprint, encode what is new or changed.

One encoder call per batch covers the items to (re-)encode *and* any extra texts (the
events' free ``text``), so the engine keeps its "one encode per batch" promise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from encoders.item_text import compose_item_text
from encoders.protocol import TextEncoder
from state.catalog import Catalog
from streams.core.errors import EngineError
from streams.core.events import Item

__all__ = ["changed_items", "encode_and_upsert", "fingerprint", "item_text"]

F32 = npt.NDArray[np.float32]


def item_text(item: Item) -> str:
    """The text the encoder sees for ``item`` (:func:`encoders.item_text.compose_item_text`)."""
    return compose_item_text(item.title, item.description, item.category, item.tags)


@lru_cache(maxsize=65_536)
def fingerprint(item: Item) -> int:
    """A stable 63-bit hash of what determines the item's vector and categories.

    Memoised by value (items are frozen): inline items repeat in many events.
    """
    blob = "\x1f".join((item_text(item), item.category)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "little") >> 1


def changed_items(items: Sequence[Item], catalog: Catalog) -> list[Item]:
    """The live items that are unknown or differ from the catalog (last one per id wins)."""
    latest: dict[str, Item] = {}
    for item in items:
        if not item.deleted:
            latest[item.item_id] = item
    return [it for it in latest.values() if catalog.fingerprint(it.item_id) != fingerprint(it)]


def encode_and_upsert(
    items: Sequence[Item], texts: Sequence[str], catalog: Catalog, encoder: TextEncoder
) -> F32:
    """Upsert ``items`` with fresh vectors; return the vectors of ``texts`` (one encode call)."""
    all_texts = [item_text(it) for it in items] + list(texts)
    if not all_texts:
        return np.zeros((0, catalog.dim), np.float32)
    vectors = np.asarray(encoder.encode(all_texts), np.float32)
    if vectors.shape != (len(all_texts), catalog.dim):
        raise EngineError(
            f"encoder returned shape {vectors.shape} for {len(all_texts)} texts, dim {catalog.dim}"
        )
    n = len(items)
    if n:
        catalog.upsert(
            [it.item_id for it in items],
            [it.category for it in items],
            vectors[:n],
            [fingerprint(it) for it in items],
        )
    return vectors[n:]
