"""The final recommendations of a replay (``--emit final``): one per user, from the final
state, computed by ``jobs`` processes at once.

The sorted users are cut into ``jobs`` contiguous parts, at multiples of the recommender's
group (:data:`streams.core.recommender.GROUP_USERS`: the groups, and so every number, are
those of one process). Parts ``1..`` are computed in forked
children, which see the engine's final state copy-on-write (nothing is pickled), and written
to temporary files; part ``0`` is computed here. The parts are then written out in order,
so the output is byte-identical whatever ``jobs`` is. Fork is used only where it is safe
enough (Linux); elsewhere, or with ``jobs=1``, everything runs in this process.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from streams.core import recommender
from streams.core.engine import Engine

__all__ = ["FinalRecsError", "fork_available", "write_final"]

MIN_USERS_PER_JOB = 1000
"""Fewer users than this per part: not worth a process."""


class FinalRecsError(RuntimeError):
    """A child computing a part of the final recommendations failed."""


def fork_available() -> bool:
    """Whether parts may run in forked children."""
    return sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()


def _write(engine: Engine, users: Sequence[str], out: IO[bytes]) -> None:
    chunk = 16 * recommender.GROUP_USERS  # whole groups
    for c0 in range(0, len(users), chunk):
        recs = engine.recommend(users[c0 : c0 + chunk])
        out.writelines(rec.to_json() + b"\n" for rec in recs)


def _child(engine: Engine, users: Sequence[str], path: Path) -> None:
    """In a forked child: one part, to ``path``. The item index (faiss) runs single-threaded:
    an OpenMP pool the parent started does not survive a fork."""
    engine.limit_threads(1)
    with path.open("wb") as f:
        _write(engine, users, f)


def write_final(engine: Engine, out: IO[bytes], *, jobs: int = 1) -> int:
    """Write one recommendation per user of ``engine`` (sorted by user id) to ``out``;
    return how many. ``jobs``: processes to use (capped so each has enough users)."""
    users: Sequence[str] = sorted(engine.users.user_ids())
    jobs = max(1, min(jobs, len(users) // MIN_USERS_PER_JOB)) if fork_available() else 1
    if jobs == 1:
        _write(engine, users, out)
        return len(users)
    engine.prepare_recommend()  # shared state built once, before the fork
    group = recommender.GROUP_USERS
    groups = -(-len(users) // group)
    bounds = [min(len(users), groups * j // jobs * group) for j in range(jobs + 1)]
    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="it-final-") as tmp:
        children = []
        for j in range(1, jobs):
            path = Path(tmp) / f"part-{j}.jsonl"
            part = users[bounds[j] : bounds[j + 1]]
            proc = ctx.Process(target=_child, args=(engine, part, path), daemon=True)
            proc.start()
            children.append((proc, path))
        try:
            _write(engine, users[: bounds[1]], out)
        finally:
            for proc, _ in children:
                proc.join()
        for j, (proc, path) in enumerate(children, start=1):
            if proc.exitcode != 0:
                raise FinalRecsError(f"part {j} of {jobs} failed (exit code {proc.exitcode})")
            with path.open("rb") as f:
                shutil.copyfileobj(f, out)
    return len(users)
