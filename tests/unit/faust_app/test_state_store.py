"""The users table's store: faust's RocksDB store without RocksDB's write-ahead log."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import rocksdict
from faust.types import TP

from streams.faust_app import state_store
from streams.faust_app.app import build_faust
from streams.faust_app.state_store import ChangelogBackedStore
from streams.settings import Settings

_WRITER = textwrap.dedent(
    """
    import os, sys
    import rocksdict
    from faust.stores.rocksdb import RocksDBOptions
    from streams.faust_app.state_store import without_wal

    db = RocksDBOptions(use_rocksdict=True).open(sys.argv[1])
    if sys.argv[2] == "off":
        without_wal(db)
    db.put(b"user-1", b"state")
    if sys.argv[3] == "crash":
        os._exit(0)  # no close: what RocksDB holds in memory is lost without the log
    db.close()
    """
)


def _write(path: Path, wal: str, end: str) -> bytes | None:
    subprocess.run([sys.executable, "-c", _WRITER, str(path), wal, end], check=True)
    db = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True))
    try:
        value = db.get(b"user-1")
    finally:
        db.close()
    assert value is None or isinstance(value, bytes)
    return value


@pytest.mark.parametrize(
    ("wal", "end", "kept"),
    [("on", "crash", True), ("off", "crash", False), ("off", "close", True)],
)
def test_without_the_log_a_crash_loses_the_unflushed_writes_and_a_close_keeps_them(
    tmp_path: Path, wal: str, end: str, kept: bool
) -> None:
    assert (_write(tmp_path / "db", wal, end) == b"state") is kept


def test_the_users_table_uses_the_store_without_the_log(tmp_path: Path) -> None:
    parts = build_faust(Settings(state_dir=tmp_path), partitions=2)
    store = parts.users.data
    assert isinstance(store, ChangelogBackedStore)
    assert store.use_rocksdict
    # where faust's own store for the table (``rocksdb:users``) keeps it: existing state stays
    assert store.partition_path(0) == tmp_path / "v1" / "tables" / "users-0.db"


_STORE_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from faust.types import TP
    from streams.faust_app.app import build_faust
    from streams.settings import Settings

    store = build_faust(Settings(state_dir=Path(sys.argv[1])), partitions=1).users.data
    db = store._db_for_partition(0)
    db.put(b"user-1", b"state")
    store.set_persisted_offset(TP("users-changelog", 0), 41)  # the first: flushed at once
    deadline = time.monotonic() + 20
    while not db.live_files() and time.monotonic() < deadline:
        time.sleep(0.02)  # the flush runs in RocksDB's background
    os._exit(0)
    """
)


def test_a_persisted_offset_is_flushed_so_a_crash_keeps_it_with_its_states(
    tmp_path: Path,
) -> None:
    subprocess.run([sys.executable, "-c", _STORE_WRITER, str(tmp_path)], check=True)
    db = rocksdict.Rdict(
        str(tmp_path / "v1" / "tables" / "users-0.db"), options=rocksdict.Options(raw_mode=True)
    )
    try:
        assert db.get(b"user-1") == b"state"
        assert db.get(b"__faust\x00offset__") == b"41"
    finally:
        db.close()


def test_memtables_are_flushed_at_most_every_flush_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr("streams.faust_app.state_store.time.monotonic", lambda: now[0])
    store = build_faust(Settings(state_dir=tmp_path), partitions=2).users.data
    tp = TP("users-changelog", 1)
    store.set_persisted_offset(tp, 1)
    assert store._flushed_at == {1: 1000.0}
    now[0] += state_store.FLUSH_EVERY_S - 1
    store.set_persisted_offset(tp, 2)
    assert store._flushed_at == {1: 1000.0}
    now[0] += 1
    store.set_persisted_offset(tp, 3)
    assert store._flushed_at == {1: 1000.0 + state_store.FLUSH_EVERY_S}
    assert store.persisted_offset(tp) == 3
