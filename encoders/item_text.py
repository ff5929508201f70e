"""What gets encoded for an item: one text composed from its catalog fields.

``compose_item_text`` takes plain fields (the engine calls it; no domain types here) and a
template of *parts*. Each part is a ``str.format`` string over the fields ``title``,
``description``, ``category`` and ``tags``; a part whose fields all render empty is dropped, the
rest are joined with the separator. Defaults put the description last, so when the model
truncates at its ``max_seq_length`` (the encoder's tokenizer does that, exactly, in tokens) it
is the description's tail that goes. ``max_chars`` is only a cheap guard against pathological
inputs (a megabyte of description) before tokenization, not the model's limit.

Event ``text`` (search queries) is encoded as-is: it does not go through this module.

>>> compose_item_text("Trail Runner 2", "Grippy  and light.", "sports/shoes/running",
...                   ["waterproof", "light", "waterproof"])
'Trail Runner 2. sports > shoes > running. waterproof, light. Grippy and light.'
>>> compose_item_text("Mug", None, "", [])
'Mug'
>>> t = ItemTextTemplate(parts=("{title}", "Category: {category}", "Tags: {tags}"), separator=" | ")
>>> compose_item_text("Mug", None, "home/kitchen_ware", [], template=t)
'Mug | Category: home > kitchen ware'
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field

from encoders.errors import EncoderConfigError

__all__ = [
    "DEFAULT_PARTS",
    "DEFAULT_SEPARATOR",
    "DEFAULT_TEMPLATE",
    "FIELDS",
    "ItemTextTemplate",
    "compose_item_text",
]

FIELDS = frozenset({"title", "description", "category", "tags"})
DEFAULT_PARTS: tuple[str, ...] = ("{title}", "{category}", "{tags}", "{description}")
DEFAULT_SEPARATOR = ". "
_SPACES = re.compile(r"\s+")


def _fields_of(part: str) -> frozenset[str]:
    """The field names one template part references; rejects anything but plain fields."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(part))
    except ValueError as exc:
        raise EncoderConfigError(f"item text part {part!r} is not a format string") from exc
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS or spec or conversion:
            raise EncoderConfigError(
                f"item text part {part!r}: only plain fields {sorted(FIELDS)} are allowed"
            )
        names.add(name)
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class ItemTextTemplate:
    """How item fields become one text. Validated on construction (``EncoderConfigError``)."""

    parts: tuple[str, ...] = DEFAULT_PARTS
    separator: str = DEFAULT_SEPARATOR
    max_chars: int = 4096
    _fields: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.parts:
            raise EncoderConfigError("an item text template needs at least one part")
        if self.max_chars < 1:
            raise EncoderConfigError(f"max_chars must be >= 1, got {self.max_chars}")
        fields = tuple(_fields_of(p) for p in self.parts)
        if not any(fields):
            raise EncoderConfigError("an item text template must reference at least one field")
        object.__setattr__(self, "_fields", fields)


DEFAULT_TEMPLATE = ItemTextTemplate()


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _category(path: str) -> str:
    segments = (_clean(s.replace("_", " ")) for s in path.split("/"))
    return " > ".join(s for s in segments if s)


def _tags(tags: Sequence[str]) -> str:
    cleaned = (_clean(t) for t in tags)
    return ", ".join(dict.fromkeys(t for t in cleaned if t))


def _truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return cut[:space] if space > max_chars // 2 else cut


def compose_item_text(
    title: str,
    description: str | None,
    category: str,
    tags: Sequence[str],
    *,
    template: ItemTextTemplate = DEFAULT_TEMPLATE,
) -> str:
    """One text for an item, deterministic in its inputs.

    Whitespace is collapsed, the category path ``a/b_c`` reads ``a > b c``, tags are joined
    with ``", "`` (empty ones and repeats dropped, first occurrence kept), parts whose fields
    are all empty are skipped, and the result is cut to ``template.max_chars`` (at a word
    boundary when one is near). Never raises on field content.
    """
    values = {
        "title": _clean(title),
        "description": _clean(description or ""),
        "category": _category(category),
        "tags": _tags(tags),
    }
    rendered = [
        _clean(part.format(**values))
        for part, names in zip(template.parts, template._fields, strict=True)
        if any(values[n] for n in names)
    ]
    return _truncate(template.separator.join(r for r in rendered if r), template.max_chars)
