"""`LocalSecrets`: per-shop secrets from the environment, then from a JSON file.

`SHOPFLEET_SECRET__<SHOP>__<NAME>` (shop and name upper-cased, `-` and `.` as `_`) wins
over the file `{"<shop>": {"<name>": "<value>"}}`. The file is private to its owner
(mode 0600) and replaced atomically on `put`, so a reader never sees half a write.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from pathlib import Path

import orjson

from shopfleet.kit.blocks.ports import Secrets

ENV_PREFIX = "SHOPFLEET_SECRET__"
_ENV_UNSAFE = re.compile(r"[-.]")

SecretsData = dict[str, dict[str, str]]


def env_name(shop: str, name: str) -> str:
    """The environment variable that overrides `name` for `shop`."""
    return f"{ENV_PREFIX}{_env_part(shop)}__{_env_part(name)}"


def _env_part(part: str) -> str:
    return _ENV_UNSAFE.sub("_", part).upper()


class LocalSecrets(Secrets):
    """Secrets for the embedded platform. `path=None` reads the environment only."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self._environ = os.environ if environ is None else environ
        self._lock = asyncio.Lock()
        self._cache: SecretsData = {}
        self._cache_stamp: tuple[int, int, int] | None = None  # the cached file's stat

    async def get(self, shop: str, name: str) -> str | None:
        value = self._environ.get(env_name(shop, name))
        if value is not None:
            return value
        return self._load().get(shop, {}).get(name)

    async def put(self, shop: str, name: str, value: str) -> None:
        """Store a secret in the file (the environment, if set, still wins on `get`)."""
        if self.path is None:
            raise RuntimeError("LocalSecrets has no file to write to")
        if not shop or not name:
            raise ValueError("shop and name must not be empty")
        async with self._lock:  # read-modify-write: one writer at a time in this process
            await asyncio.to_thread(_put_sync, self.path, shop, name, value)
        self._cache_stamp = None

    def _load(self) -> SecretsData:
        """The file's contents, re-read only when it changed (a stat per call)."""
        if self.path is None:
            return {}
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # a replace changes the inode
        if stamp != self._cache_stamp:
            self._cache, self._cache_stamp = _read(self.path), stamp
        return self._cache


def _put_sync(path: Path, shop: str, name: str, value: str) -> None:
    data = _read(path) if path.exists() else {}
    data.setdefault(shop, {})[name] = value
    _write_atomically(path, orjson.dumps(data, option=orjson.OPT_INDENT_2))


def _read(path: Path) -> SecretsData:
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f'{path} must hold {{"<shop>": {{"<name>": "<value>"}}}}')
    return {
        shop: {name: value for name, value in names.items() if isinstance(value, str)}
        for shop, names in data.items()
    }


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a leftover tmp file
        file.write(content)
        file.flush()
        os.fsync(fd)
    os.replace(tmp, path)
