"""``ItemIndex``: the recommendable catalog rows nearest to query vectors (inner product).

Exact search costs a ``(q, n)`` matrix product and a partition of it per query chunk: about
2 ms per query at 100k items on one core, which caps a worker at a few hundred
recommendations a second. Above ``min_rows`` recommendable rows the index is an inverted
file (faiss, inner product): ``lists × √n`` lists trained by k-means on a sample, ``nprobe``
of them scanned per query. What the lists hold (``codes``):

- ``"pq4"`` (the default): 4-bit product codes of ``d/4`` sub-vectors (faiss
  ``IndexIVFPQFastScan``, residuals to the list centroid), scanned with faiss's SIMD
  fast-scan kernels: 48 bytes per item at 384 dimensions, so a probe reads little memory.
  The codes only *select* ``⌈rerank × k⌉`` candidates; those are re-scored exactly and the
  best ``k`` kept. A scan of float vectors is memory-bound: at 100k items, k = 100 on the
  2-core VM (``bench/item_index.py``, 2026-12-03) ``pq4`` with 32 lists probed and 400
  candidates took 308 µs per query at recall 0.993, ``fp16`` with 16 probed 519–609 µs at
  0.995; about half of ``pq4``'s time is re-scoring (400 random catalog rows). At k = 25
  (the default since, ``recommend.semantic_candidates``) re-ranking 8 × k: 192 µs at recall
  0.992 (4 × k: 154 µs, 0.959).
- ``"fp16"``: the vectors as float16 (``IndexIVFScalarQuantizer``), ``k`` plus a slack of
  ``min(k, 16)`` candidates by those rounded scores, re-scored exactly. Scanning every list
  (``nprobe`` ≥ lists) answers exactly what exact search does.

Re-scoring is exact float32 (faiss ``fvec_inner_products_by_idx``: each query against its
own candidate rows of the catalog, one call for all queries), so the scores are exact; only
which items reach the top ``k`` is approximate (recall, ``bench/item_index.py``).

The catalog changes while the index is in use. Every upsert and delete stamps the row with
the catalog's version (:attr:`state.catalog.Catalog.row_version`); rows stamped after the
index was built are *fresh*: their index entries are ignored and their current vectors are
scored exactly, next to the index's answer. When fresh rows exceed ``rebuild_fraction`` of
the indexed ones the index is rebuilt. Results are deterministic for a given catalog history
(k-means and the product quantiser are seeded and trained single-threaded).

A rebuild at 100k items takes about 5 s. In line (the default, and what ``replay`` does, so
its results do not depend on timing) the search that finds it due waits for it. With
``background=True`` (the worker) it runs in a thread over a snapshot of the catalog while
the old index and the exact pass over the fresh rows keep answering, and the first search
after it finished installs it: no batch waits for a rebuild, at the price of which index
answers depending on timing. The first build, and :meth:`ItemIndex.prepare`, stay in line.
A build's duration (:attr:`ItemIndex.last_build`) is measured with the process's clock for
the logs only; nothing depends on it.

Below ``min_rows`` the search is exact, so small catalogs (and the tests that compare paths)
get exact answers; above it, the recall of the true top ``k`` is what ``nprobe`` buys
(``bench/item_index.py`` measures it).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from state.catalog import Catalog
from state.kernels import top_k_per_row

__all__ = ["BuildInfo", "ItemIndex", "row_products"]

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
Codes = Literal["pq4", "fp16"]


def _nearest(catalog: Catalog, q: F32, k: int, mask: B) -> tuple[I64, F32]:
    """:meth:`Catalog.nearest` over ``mask`` as ``(q, k)``, padded with ``-1`` / ``-inf``."""
    rows = np.full((len(q), k), -1, np.int64)
    scores = np.full((len(q), k), -np.inf, np.float32)
    found, sims = catalog.nearest(q, k, mask)
    hit = np.isfinite(sims)
    rows[:, : found.shape[1]] = np.where(hit, found, -1)
    scores[:, : found.shape[1]] = sims
    return rows, scores


def row_products(queries: F32, matrix: F32, rows: I64) -> F32:
    """``queries[i] · matrix[rows[i, j]]`` as float32 ``(q, k)``; ``-1`` rows give ``-inf``.

    One faiss call (``fvec_inner_products_by_idx``) for every query and its own rows: no
    gathered copy of the rows, no per-query Python step. The products are float32 sums,
    like a NumPy ``matrix[rows] @ q`` (the two may differ in the last bits), and the same
    numbers whatever the other queries or rows (each product is computed alone).
    """
    import faiss  # noqa: PLC0415

    q = np.ascontiguousarray(queries, np.float32)
    mat = np.ascontiguousarray(matrix, np.float32)
    ids = np.ascontiguousarray(rows, np.int64)
    out = np.empty(ids.shape, np.float32)
    if ids.size:
        if len(q) != len(ids) or q.shape[1] != mat.shape[1]:
            raise ValueError(f"row_products: {q.shape} queries, {ids.shape} rows, {mat.shape}")
        ptr = faiss.swig_ptr
        faiss.fvec_inner_products_by_idx(  # type: ignore[attr-defined]  # SWIG, no stub
            ptr(out), ptr(q), ptr(mat), ptr(ids), mat.shape[1], len(q), ids.shape[1]
        )
    return out


def _set_threads(n: int) -> None:
    """faiss's OpenMP threads for the calling thread (set before each use, it is cheap)."""
    import faiss  # noqa: PLC0415

    if faiss.omp_get_max_threads() != n:
        faiss.omp_set_num_threads(n)


def _quiet_interrupts() -> None:
    """Stop faiss from taking the interpreter lock inside long operations.

    faiss's Python module installs a callback that its loops (k-means, adding, searching)
    call to check for Ctrl-C, and each check takes the interpreter lock. A build in a
    thread then waits for the lock at every check while the engine's thread computes: on
    the 2-core VM a 100k-item build took 32 s instead of 5 s next to a busy thread, and
    5 s once the callback was cleared (the engine's thread did not slow down either way).
    The cost: a long faiss call in this process no longer stops at Ctrl-C, only after it.
    """
    import faiss  # noqa: PLC0415

    faiss.InterruptCallback.clear_instance()  # type: ignore[attr-defined]  # SWIG, no stub


class ItemIndex:
    """Nearest recommendable rows of ``catalog``: exact below ``min_rows``, IVF above."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        min_rows: int = 20_000,
        nprobe: int = 32,
        lists: float = 2.0,
        codes: Codes = "pq4",
        rerank: float = 8.0,
        rebuild_fraction: float = 0.1,
        seed: int = 1234,
        threads: int = 1,
        background: bool = False,
    ) -> None:
        self.catalog = catalog
        self.min_rows = min_rows
        self.nprobe = nprobe
        self.lists = lists
        self.codes = codes
        self.rerank = rerank
        self.rebuild_fraction = rebuild_fraction
        self.seed = seed
        self.threads = threads
        self.background = background
        """Rebuild in a thread while the old index serves (see :meth:`_fresh`)."""
        self._pending: _Background | None = None
        self._ivf: Any = None
        self._pq = False  # whether the built index holds product codes
        self._built_at = -1  # the catalog version the index was built at
        self._indexed = 0
        self.builds = 0
        self.last_build: BuildInfo | None = None

    @property
    def approximate(self) -> bool:
        """Whether the last search went through the inverted file."""
        return self._ivf is not None

    def search(self, queries: F32, k: int) -> tuple[I64, F32]:
        """``(rows (q, k), scores (q, k))`` of the largest inner products, best first.

        Only recommendable rows; padded with ``-1`` / ``-inf`` when fewer exist.
        """
        cat = self.catalog
        q = np.ascontiguousarray(queries, np.float32).reshape(-1, cat.dim)
        ok = cat.recommendable()
        if not self.inverted(ok):
            self._ivf = None
            self._pending = None  # a build still running is for a catalog that is gone
            return _nearest(cat, q, k, ok)
        fresh = self._fresh(ok)
        n_fresh = int(fresh.sum())
        ivf_rows, ivf_scores = self._ivf_search(q, k, ok)
        if n_fresh == 0:
            return ivf_rows, ivf_scores
        f_rows, f_scores = _nearest(cat, q, k, fresh)
        both_rows = np.concatenate([ivf_rows, f_rows], axis=1)
        both = np.concatenate([ivf_scores, f_scores], axis=1)
        best = np.lexsort((both_rows, -both), axis=1)[:, :k]
        return np.take_along_axis(both_rows, best, axis=1), np.take_along_axis(both, best, axis=1)

    def prepare(self) -> None:
        """Build (or rebuild) the index now if the next search would, after waiting for a
        build running in the background (e.g. before forking processes that search it:
        no build thread runs after this returns)."""
        ok = self.catalog.recommendable()
        if self.inverted(ok):
            self._fresh(ok, wait=True)
        elif self._pending is not None:
            self._pending.wait(None)
            self._pending = None

    def inverted(self, ok: B) -> bool:
        """Whether a search over the recommendable rows ``ok`` goes through the inverted
        file (at least ``min_rows`` of them) rather than an exact pass."""
        return int(ok.sum()) >= self.min_rows

    @property
    def building(self) -> bool:
        """Whether a background build is running or waits to be installed."""
        return self._pending is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no background build runs (the next search installs a finished one);
        ``False`` when ``timeout`` seconds passed first."""
        pending = self._pending
        return pending is None or pending.wait(timeout)

    def _fresh(self, ok: B, *, wait: bool = False) -> B:
        """The recommendable rows changed since the build, after (re)building when needed.

        In the background (:attr:`background`, once an index exists, unless ``wait``) a
        due rebuild starts in a thread and is installed by the first search after it
        finished; until then the old index answers and the fresh rows are scored exactly.
        A background build that failed is logged and the rebuild runs here instead.
        Otherwise the rebuild runs here (a background build still running is dropped: the
        one built here is newer).
        """
        in_line = wait or not self.background or self._ivf is None
        pending = self._pending
        if pending is not None and (wait or pending.done()):
            self._pending = None
            try:
                self._install(pending.take(), background=True)
            except Exception:
                log.exception("background build of the item index failed; building in line")
                in_line = True
        fresh = ok & (self.catalog.row_version[: len(ok)] > self._built_at)
        due = self._ivf is None or int(fresh.sum()) > self.rebuild_fraction * max(self._indexed, 1)
        if not due:
            return fresh
        if not in_line:
            if self._pending is None:
                _quiet_interrupts()
                self._pending = _Background(self._snapshot(ok))
            return fresh
        self._pending = None
        self._install(self._snapshot(ok)())
        fresh[:] = False
        return fresh

    def _slack(self, k: int) -> int:
        """Candidates the index returns per query for a top ``k`` (re-scored exactly)."""
        if self._pq:
            return max(k, math.ceil(self.rerank * k))
        return k + min(k, 16)

    def _ivf_search(self, q: F32, k: int, ok: B) -> tuple[I64, F32]:
        """The index's answer, without rows that changed or left since it was built."""

        cat = self.catalog
        _set_threads(self.threads)
        _, rows = self._ivf.search(q, self._slack(k))
        rows = np.ascontiguousarray(rows, np.int64)
        valid = rows >= 0
        safe = np.where(valid, rows, 0)
        valid &= ok[safe] & (cat.row_version[safe] <= self._built_at)
        exact = row_products(q, cat.matrix(), safe)
        scores = np.where(valid, exact, np.float32(-np.inf))
        return top_k_per_row(np.where(valid, rows, -1), scores, k)

    def _snapshot(self, ok: B) -> Callable[[], _Built]:
        """A build of the index over the rows ``ok`` as they are now, to run now or in
        another thread: it reads only what is captured here. Rows changed after this
        moment are stamped with a later version, so the built index ignores their entries
        and the search scores them as fresh (a torn read of such a row does no harm)."""
        return partial(
            _train,
            self.catalog.matrix(),
            np.flatnonzero(ok),
            self.catalog.version,
            _Config(self.lists, self.codes, self.nprobe, self.seed, self.threads),
        )

    def _install(self, built: _Built, *, background: bool = False) -> None:
        self._ivf = built.ivf
        self._pq = built.pq
        self._built_at = built.version
        self._indexed = built.indexed
        self.builds += 1
        self.last_build = BuildInfo(built.indexed, built.seconds, background)


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """What the index installed last was built over, how long that took, and where."""

    rows: int
    seconds: float
    background: bool


@dataclass(frozen=True, slots=True)
class _Config:
    lists: float
    codes: Codes
    nprobe: int
    seed: int
    threads: int


@dataclass(frozen=True, slots=True)
class _Built:
    ivf: Any
    pq: bool
    version: int  # the catalog version the index reflects
    indexed: int
    seconds: float


def _train(mat: F32, rows: I64, version: int, cfg: _Config) -> _Built:
    """An inverted file over ``mat[rows]`` (ids: the rows), trained and filled."""
    import faiss  # noqa: PLC0415 - only catalogs above min_rows load it

    start = time.perf_counter()
    _set_threads(cfg.threads)
    dim = mat.shape[1]
    vecs = np.ascontiguousarray(mat[rows], np.float32)
    nlist = max(8, int(cfg.lists * math.sqrt(len(rows))))
    quantizer = faiss.IndexFlatIP(dim)
    pq = cfg.codes == "pq4" and dim % 4 == 0 and len(rows) >= 16
    ivf: Any
    if pq:  # 4 dimensions per 4-bit sub-quantizer (16 centroids: >= 16 rows)
        ivf = faiss.IndexIVFPQFastScan(
            quantizer, dim, nlist, dim // 4, 4, faiss.METRIC_INNER_PRODUCT
        )
        ivf.by_residual = True
        ivf.pq.cp.seed = cfg.seed
    else:
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
    ivf.cp.seed = cfg.seed
    ivf.cp.max_points_per_centroid = 64  # a sample: training stays well under a second
    ivf.cp.min_points_per_centroid = 1  # small catalogs (tests): no warning, still fine
    ivf.train(vecs)
    ivf.add_with_ids(vecs, rows)
    ivf.nprobe = min(cfg.nprobe, nlist)
    return _Built(ivf, pq, version, len(rows), time.perf_counter() - start)


class _Background:
    """One build running in a daemon thread (an engine process that exits does not wait
    for it); :meth:`take` joins it and returns its index or raises its error."""

    def __init__(self, build: Callable[[], _Built]) -> None:
        self._build: Callable[[], _Built] | None = build
        self._result: _Built | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="item-index-build", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            assert self._build is not None
            self._result = self._build()
        except BaseException as exc:  # handed to the engine's thread by take()
            self._error = exc
        finally:
            self._build = None  # the snapshot (and the catalog arrays it holds) goes now

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None) -> bool:
        self._thread.join(timeout)
        return self.done()

    def take(self) -> _Built:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result
