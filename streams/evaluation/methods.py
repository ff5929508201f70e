"""The methods an evaluation compares: the engine's blend and its single-signal baselines.

A baseline is the same engine, trained once, scored with ``EngineParams.weights`` keeping one
signal: ``popularity`` (trending only), ``covis`` (co-visitation only), ``semantic`` (text
vectors only), ``category`` (category affinity only). ``engine`` is the configured blend over
the whole catalog. ``served`` is what the product publishes: the configured blend's
recommendation lists (``Engine.recommend``: candidates from the item index, diversity), ranked
by their order, every unlisted item tied below them.

>>> method_weights("covis", Weights())
Weights(covis=1.0, semantic=0.0, category=0.0, trending=0.0)
"""

from __future__ import annotations

from streams.core.params import Weights

__all__ = ["BASELINES", "METHODS", "SERVED", "method_weights"]

BASELINES: dict[str, Weights] = {
    "popularity": Weights(covis=0.0, semantic=0.0, category=0.0, trending=1.0),
    "covis": Weights(covis=1.0, semantic=0.0, category=0.0, trending=0.0),
    "semantic": Weights(covis=0.0, semantic=1.0, category=0.0, trending=0.0),
    "category": Weights(covis=0.0, semantic=0.0, category=1.0, trending=0.0),
}
SERVED = "served"
METHODS: tuple[str, ...] = ("engine", SERVED, *BASELINES)


def method_weights(method: str, configured: Weights) -> Weights:
    """The weights ``method`` scores with (``ValueError`` for an unknown method)."""
    if method in ("engine", SERVED):
        return configured
    try:
        return BASELINES[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}") from None
