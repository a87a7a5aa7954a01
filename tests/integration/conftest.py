"""Fixtures every service's integration tests share (a package's conftest may override)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shopfleet.kit.blocks import Blocks
from tests.support.http import LocalBlocks
from tests.support.pubsub import RecordingPubSub


@pytest.fixture
def pubsub() -> RecordingPubSub:
    """Records what the service publishes; tests wait on it and deliver from it."""
    return RecordingPubSub()


@pytest.fixture
async def blocks(tmp_path: Path, pubsub: RecordingPubSub) -> AsyncIterator[Blocks]:
    async with LocalBlocks(tmp_path, pubsub) as blocks:
        yield blocks
