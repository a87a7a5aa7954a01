"""The data dir and its files are their owner's only (issue 12, hole 5)."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from shopfleet.kit.private_files import owner_only_umask, private_sqlite_file, tighten_tree


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_what_an_older_version_left_readable_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    os.chmod(data, 0o755)
    (data / "identity.db").write_bytes(b"")
    (data / "images" / "a.png").write_bytes(b"")
    for path in (data / "identity.db", data / "images" / "a.png"):
        os.chmod(path, 0o644)
    tighten_tree(data)
    assert _mode(data) == _mode(data / "images") == 0o700
    assert _mode(data / "identity.db") == _mode(data / "images" / "a.png") == 0o600


def test_a_sqlite_database_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    path = private_sqlite_file(tmp_path / "new" / "state.db")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
        side = [Path(f"{path}{suffix}") for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in side)
        assert {_mode(p) for p in [path, *side]} == {0o600}
    assert _mode(path.parent) == 0o700


def test_files_made_under_the_owner_only_umask_are_private(tmp_path: Path) -> None:
    with owner_only_umask():
        (tmp_path / "logs").mkdir()
        (tmp_path / "logs" / "emulator.log").write_text("x")
    assert _mode(tmp_path / "logs") == 0o700
    assert _mode(tmp_path / "logs" / "emulator.log") == 0o600
