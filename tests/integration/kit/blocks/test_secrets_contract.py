"""The Secrets contract: per-shop values, overrides, and `None` for what is not set."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest

from shopfleet.kit.blocks.local import LocalSecrets
from shopfleet.kit.blocks.ports import Secrets

from .conftest import SecretsHarness


async def test_stored_secret_is_returned_for_its_shop_only(
    secrets_harness: SecretsHarness, secrets: Secrets
) -> None:
    await secrets_harness.store("acme", "stripe_api_key", "sk_test_acme")
    await secrets_harness.store("globex", "stripe_api_key", "sk_test_globex")

    assert await secrets.get("acme", "stripe_api_key") == "sk_test_acme"
    assert await secrets.get("globex", "stripe_api_key") == "sk_test_globex"
    assert await secrets.get("initech", "stripe_api_key") is None


async def test_secret_that_is_not_set_is_none(secrets: Secrets) -> None:
    assert await secrets.get("acme", "stripe_webhook_secret") is None


async def test_storing_again_replaces_the_value(
    secrets_harness: SecretsHarness, secrets: Secrets
) -> None:
    await secrets_harness.store("acme", "stripe_api_key", "sk_old")
    await secrets_harness.store("acme", "stripe_webhook_secret", "whsec_1")
    await secrets_harness.store("acme", "stripe_api_key", "sk_new")

    assert await secrets.get("acme", "stripe_api_key") == "sk_new"
    assert await secrets.get("acme", "stripe_webhook_secret") == "whsec_1"


async def test_override_wins_over_stored_value(
    secrets_harness: SecretsHarness, secrets: Secrets
) -> None:
    if secrets_harness.override is None:
        pytest.skip("this adapter has no deployment-level override")
    await secrets_harness.store("acme", "stripe_api_key", "sk_from_store")

    secrets_harness.override("acme", "stripe_api_key", "sk_from_override")

    assert await secrets.get("acme", "stripe_api_key") == "sk_from_override"
    assert await secrets.get("globex", "stripe_api_key") is None


# ----------------------------------------------------------------------------- local adapter


async def test_local_env_variable_names_shop_and_secret_upper_cased(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLEET_SECRET__ACME_EU__STRIPE_API_KEY", "sk_env")
    secrets = LocalSecrets(tmp_path / "secrets.json")

    assert await secrets.get("acme-eu", "stripe.api-key") == "sk_env"
    assert await secrets.get("acme", "stripe.api-key") is None


async def test_local_file_is_private_and_readable_by_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "secrets.json"
    await LocalSecrets(path).put("acme", "stripe_api_key", "sk_1")
    await LocalSecrets(path).put("acme", "stripe_webhook_secret", "whsec_1")

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert orjson.loads(path.read_bytes()) == {
        "acme": {"stripe_api_key": "sk_1", "stripe_webhook_secret": "whsec_1"}
    }
    assert await LocalSecrets(path).get("acme", "stripe_api_key") == "sk_1"


async def test_local_file_edited_by_hand_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    secrets = LocalSecrets(path)
    await secrets.put("acme", "stripe_api_key", "sk_1")
    assert await secrets.get("acme", "stripe_api_key") == "sk_1"

    path.write_bytes(orjson.dumps({"acme": {"stripe_api_key": "sk_rotated_by_hand"}}))

    assert await secrets.get("acme", "stripe_api_key") == "sk_rotated_by_hand"


async def test_local_malformed_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text('{"acme": "not a mapping"}')

    with pytest.raises(ValueError, match=r"secrets\.json"):
        await LocalSecrets(path).get("acme", "stripe_api_key")
