"""The methods an evaluation compares: the engine's blend and its single-signal baselines.

A baseline is the same engine, trained once, scored with ``EngineParams.weights`` keeping one
signal: ``popularity`` (trending only), ``covis`` (co-visitation only), ``semantic`` (text
vectors only), ``category`` (category affinity only). ``engine`` is the configured blend.

>>> method_weights("covis", Weights())
Weights(covis=1.0, semantic=0.0, category=0.0, trending=0.0)
"""

from __future__ import annotations

from streams.core.params import Weights

__all__ = ["BASELINES", "METHODS", "method_weights"]

BASELINES: dict[str, Weights] = {
    "popularity": Weights(covis=0.0, semantic=0.0, category=0.0, trending=1.0),
    "covis": Weights(covis=1.0, semantic=0.0, category=0.0, trending=0.0),
    "semantic": Weights(covis=0.0, semantic=1.0, category=0.0, trending=0.0),
    "category": Weights(covis=0.0, semantic=0.0, category=1.0, trending=0.0),
}
METHODS: tuple[str, ...] = ("engine", *BASELINES)


def method_weights(method: str, configured: Weights) -> Weights:
    """The weights ``method`` scores with (``ValueError`` for an unknown method)."""
    if method == "engine":
        return configured
    try:
        return BASELINES[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}") from None
