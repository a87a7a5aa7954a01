"""The state store of a platform on local blocks: the data dir's SQLite file, or the Redis
named by `SHOPFLEET_STATE_STORE_URL`. One place, for `shopfleet up`, `serve` on local blocks
and the CLI's commands that work on the platform's state (e.g. `users unlock`)."""

from __future__ import annotations

from shopfleet.kit.blocks.local import LocalStateStore
from shopfleet.kit.blocks.ports import StateStore
from shopfleet.kit.blocks.redis_state import RedisStateStore
from shopfleet.kit.settings import PlatformSettings


async def open_state_store(platform: PlatformSettings) -> StateStore:
    if platform.state_store_url:
        redis = RedisStateStore(platform.state_store_url, key_prefix=platform.state_key_prefix)
        return await redis.open()
    return await LocalStateStore.open(platform.data_dir / "state.db")
