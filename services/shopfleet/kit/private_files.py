"""Files only their owner may read: the data dir is 0700 and what lives in it 0600.

The embedded platform keeps databases (signing keys, password hashes), state (the
emulator's webhook secrets), secrets, routes and logs in one data dir; another local user
must read none of it. New files get these modes from the start (SQLite creates a
database's -wal/-shm files with the database file's own mode); files and directories left
by an older version, or made by hand, are tightened when the platform starts.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
OWNER_ONLY_UMASK = 0o077
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) readable by its owner only; tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if it is missing; tighten it if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # O_CREAT's mode does not apply to an existing file
    finally:
        os.close(fd)
    return path


def private_sqlite_file(path: Path) -> Path:
    """A SQLite database file (made 0600 before SQLite opens it) and its side files."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=PRIVATE_DIR)
    private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path.with_name(path.name + suffix), PRIVATE_FILE)
    return path


def tighten_tree(root: Path) -> None:
    """`root` and every directory under it 0700, every file 0600 (symlinks are left alone)."""
    private_dir(root)
    for parent, dirs, files in os.walk(root):
        for name in dirs:
            entry = Path(parent, name)
            if not entry.is_symlink():
                os.chmod(entry, PRIVATE_DIR)
        for name in files:
            entry = Path(parent, name)
            if not entry.is_symlink():
                with contextlib.suppress(FileNotFoundError):  # a WAL checkpointed away meanwhile
                    os.chmod(entry, PRIVATE_FILE)


@contextlib.contextmanager
def owner_only_umask() -> Iterator[None]:
    """While inside, every file and directory this process creates is its owner's only.

    The umask is process-wide: it covers what no single writer sets a mode for (images,
    logs, a child process's files) in the embedded platform, whose process is its own.
    """
    previous = os.umask(OWNER_ONLY_UMASK)
    try:
        yield
    finally:
        os.umask(previous)
