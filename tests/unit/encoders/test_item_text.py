"""Item text composition: deterministic, template-driven, never fails on field content."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

import encoders.item_text
from encoders.errors import EncoderConfigError
from encoders.item_text import ItemTextTemplate, compose_item_text


def test_doctests() -> None:
    assert doctest.testmod(encoders.item_text).failed == 0


def test_default_layout_puts_the_description_last() -> None:
    text = compose_item_text(
        "  Trail   Runner ", "A very\nlong description.", "sports//shoes/", ["a", " ", "b"]
    )
    assert text == "Trail Runner. sports > shoes. a, b. A very long description."


def test_empty_parts_are_skipped() -> None:
    assert compose_item_text("", None, "", []) == ""
    assert compose_item_text("", "only a description", "", []) == "only a description"


def test_truncation_cuts_at_a_word_boundary() -> None:
    template = ItemTextTemplate(max_chars=20)
    text = compose_item_text("title", "word " * 50, "", [], template=template)
    assert len(text) <= 20
    assert not text.endswith(" ")
    assert text.startswith("title. word")


@pytest.mark.parametrize(
    "parts",
    [(), ("{title!r}",), ("{price}",), ("{title:>10}",), ("no fields",), ("{title",)],
)
def test_bad_templates_are_refused(parts: tuple[str, ...]) -> None:
    with pytest.raises(EncoderConfigError):
        ItemTextTemplate(parts=parts)


def test_template_with_labels() -> None:
    template = ItemTextTemplate(parts=("{title}", "tags: {tags}"), separator=" | ")
    assert compose_item_text("Mug", "ignored", "x", ["tea"], template=template) == "Mug | tags: tea"
    assert compose_item_text("Mug", None, "x", [], template=template) == "Mug"


@given(
    st.text(),
    st.none() | st.text(),
    st.text(),
    st.lists(st.text(), max_size=5),
    st.integers(1, 300),
)
def test_never_fails_and_is_bounded(
    title: str, description: str | None, category: str, tags: list[str], max_chars: int
) -> None:
    template = ItemTextTemplate(max_chars=max_chars)
    text = compose_item_text(title, description, category, tags, template=template)
    assert len(text) <= max_chars
    assert text == compose_item_text(title, description, category, tags, template=template)
    assert text == text.strip()
