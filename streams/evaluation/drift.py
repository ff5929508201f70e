"""Drift detection against planted interest switches (``drift_truth.jsonl``).

A switched user is *detected* when the engine raised an alert for them at or after the switch
time and within ``horizon_ms`` of it. Alerts of users who never switch, and alerts of switched
users before their switch, are false alarms.

* ``recall``: detected switched users / switched users;
* ``precision``: alerts that detect a switch / all alerts (each switch counts once);
* ``false_alarm_users``: share of never-switching users with at least one alert;
* ``median_delay_h``: median hours from switch to its first detecting alert.

``switched`` and ``alerts`` are counts; a share without anything to share out (recall without
switches, precision without alerts, the false-alarm share without quiet users, the median
delay without a detection) is ``None``, not 0.

>>> t = [SwitchTruth("a", 1000)]
>>> drift_detection(t, [("a", 1_801_000), ("b", 10)], users=["a", "b", "c"], horizon_ms=3_600_000)
{'switched': 1, 'alerts': 2, 'recall': 1.0, 'precision': 0.5, 'false_alarm_users': 0.5, 'median_delay_h': 0.5}
"""  # noqa: E501 - a doctest line

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SwitchTruth", "drift_detection", "read_drift_truth"]

_HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class SwitchTruth:
    """A planted switch: the user and the event time of their first post-switch event."""

    user_id: str
    switch_ts: int


def read_drift_truth(lines: Iterable[bytes | str]) -> list[SwitchTruth]:
    """Parse ``drift_truth.jsonl`` lines (``ValueError`` on a malformed line)."""
    out: list[SwitchTruth] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            out.append(SwitchTruth(str(rec["user_id"]), int(rec["switch_ts"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"drift truth line {n}: {exc}") from exc
    return out


def drift_detection(
    truth: Sequence[SwitchTruth],
    alerts: Iterable[tuple[str, int]],
    users: Iterable[str],
    horizon_ms: int = 7 * 24 * _HOUR_MS,
) -> dict[str, int | float | None]:
    """Detection figures of ``alerts`` (``(user_id, ts)``) against ``truth`` (see above)."""
    switch = {t.user_id: t.switch_ts for t in truth}
    by_user: dict[str, list[int]] = {}
    n_alerts = 0
    for user, ts in alerts:
        by_user.setdefault(user, []).append(ts)
        n_alerts += 1
    delays: list[int] = []
    for user, at in switch.items():
        hits = [ts - at for ts in by_user.get(user, []) if 0 <= ts - at <= horizon_ms]
        if hits:
            delays.append(min(hits))
    quiet = [u for u in set(users) if u not in switch]
    false_users = sum(1 for u in quiet if u in by_user)
    return {
        "switched": len(switch),
        "alerts": n_alerts,
        "recall": len(delays) / len(switch) if switch else None,
        "precision": len(delays) / n_alerts if n_alerts else None,
        "false_alarm_users": false_users / len(quiet) if quiet else None,
        "median_delay_h": float(np.median(delays)) / _HOUR_MS if delays else None,
    }
