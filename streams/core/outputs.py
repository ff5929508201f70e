"""The output value objects and their JSON (stable field order, compact, UTF-8).

Their JSON Schemas are ``streams/core/schemas/{recommendation,drift_alert,rejection}.schema.json``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, Literal

__all__ = [
    "RECOMMENDATION_VERSION",
    "DriftAlert",
    "Interest",
    "RecItem",
    "Recommendation",
    "Rejection",
    "Severity",
]

RECOMMENDATION_VERSION = 1
"""Schema version of the recommendation contract (``Recommendation.version``)."""

Severity = Literal["low", "medium", "high"]


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _r(x: float) -> float:
    return round(float(x), 6)


def _num(x: float) -> str:
    """``json.dumps(_r(x))``, the way ``json`` spells the rounded float.

    For ``1e-4 <= |x| < 1e9`` the rounded value has at most 15 significant digits, so its
    ``repr`` is exactly the correctly rounded ``.6f`` digits without trailing zeros (``round``
    and ``format`` round alike); that is much cheaper than ``repr(round(x, 6))``.
    """
    x = float(x)
    if 1e-4 <= abs(x) < 1e9:
        s = f"{x:.6f}".rstrip("0")
        return s + "0" if s[-1] == "." else s
    r = round(x, 6)
    return repr(r) if math.isfinite(r) else json.dumps(r)


def _strs(xs: tuple[str, ...]) -> str:
    """``json.dumps(list(xs))`` compact, without the brackets."""
    return ",".join(map(encode_basestring, xs))


@dataclass(frozen=True, slots=True)
class RecItem:
    """One recommended item, its blended score and why it was recommended."""

    item_id: str
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Interest:
    """A category the user is into: share of short- and long-term mass at its level."""

    category: str
    short: float
    long: float


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The recommendations of one user at event time ``ts`` (the newest applied event)."""

    user_id: str
    ts: int
    items: tuple[RecItem, ...]
    interests: tuple[Interest, ...]
    version: int = RECOMMENDATION_VERSION

    def to_dict(self) -> dict[str, object]:
        """The JSON-able form, fields in contract order."""
        return {
            "user_id": self.user_id,
            "ts": self.ts,
            "items": [
                {"item_id": i.item_id, "score": _r(i.score), "reasons": list(i.reasons)}
                for i in self.items
            ],
            "interests": [
                {"category": c.category, "short": _r(c.short), "long": _r(c.long)}
                for c in self.interests
            ],
            "version": self.version,
        }

    def to_json(self) -> bytes:
        """Compact JSON with a stable field order: the bytes of ``_dumps(self.to_dict())``.

        Spelled directly (the recommendations are the bulk of the output): strings through
        ``json``'s own escaping, numbers as ``json`` writes them.
        """
        s = encode_basestring
        items = ",".join(
            [
                f'{{"item_id":{s(i.item_id)},"score":{_num(i.score)},"reasons":[{_strs(i.reasons)}]}}'
                for i in self.items
            ]
        )
        interests = ",".join(
            [
                f'{{"category":{s(c.category)},"short":{_num(c.short)},"long":{_num(c.long)}}}'
                for c in self.interests
            ]
        )
        return (
            f'{{"user_id":{s(self.user_id)},"ts":{int(self.ts)!r},"items":[{items}],'
            f'"interests":[{interests}],"version":{int(self.version)!r}}}'
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str | Mapping[str, Any]) -> Recommendation:
        """Parse what :meth:`to_json` wrote."""
        obj: Mapping[str, Any] = json.loads(data) if isinstance(data, bytes | str) else data
        items = obj["items"]
        interests = obj["interests"]
        assert isinstance(items, list)
        assert isinstance(interests, list)
        return cls(
            user_id=str(obj["user_id"]),
            ts=int(obj["ts"]),
            items=tuple(
                RecItem(str(i["item_id"]), float(i["score"]), tuple(i["reasons"])) for i in items
            ),
            interests=tuple(
                Interest(str(c["category"]), float(c["short"]), float(c["long"])) for c in interests
            ),
            version=int(obj["version"]),
        )


@dataclass(frozen=True, slots=True)
class DriftAlert:
    """The user's short-term interests moved away from the long-term ones (one per episode)."""

    user_id: str
    ts: int
    score: float
    severity: Severity
    from_categories: tuple[str, ...]
    to_categories: tuple[str, ...]
    similarity: float
    evidence: int

    def to_dict(self) -> dict[str, object]:
        """The JSON-able form (``from``/``to`` are the contract's names)."""
        return {
            "user_id": self.user_id,
            "ts": self.ts,
            "score": _r(self.score),
            "severity": self.severity,
            "from": list(self.from_categories),
            "to": list(self.to_categories),
            "similarity": _r(self.similarity),
            "evidence": self.evidence,
        }

    def to_json(self) -> bytes:
        """Compact JSON with a stable field order."""
        return _dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | str) -> DriftAlert:
        """Parse what :meth:`to_json` wrote."""
        o = json.loads(data)
        return cls(
            user_id=o["user_id"],
            ts=int(o["ts"]),
            score=float(o["score"]),
            severity=o["severity"],
            from_categories=tuple(o["from"]),
            to_categories=tuple(o["to"]),
            similarity=float(o["similarity"]),
            evidence=int(o["evidence"]),
        )


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input that was not applied: reason code, detail, the original bytes and position."""

    reason: str
    detail: str
    value: bytes
    topic: str = ""
    partition: int = -1
    offset: int = -1

    def to_dict(self) -> dict[str, object]:
        """The JSON-able form; the original bytes are base64 (they may not be UTF-8)."""
        return {
            "reason": self.reason,
            "detail": self.detail,
            "value_b64": base64.b64encode(self.value).decode("ascii"),
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }

    def to_json(self) -> bytes:
        """Compact JSON with a stable field order."""
        return _dumps(self.to_dict())
