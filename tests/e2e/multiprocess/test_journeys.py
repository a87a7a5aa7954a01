"""The embedded platform's e2e journeys, unchanged, against the multi-process platform:
gateway and services in processes of their own, every hop through the sidecar doubles,
events through RabbitMQ, state in Redis, each service on its own PostgreSQL database.

Each test calls the embedded journey of the same name with this platform's fixtures
(conftest.py). Left out: the embedded platform's own restart (`test_data_survives_a_restart`;
here test_faults.py restarts processes) and the fuzzing of the OpenAPI document.
"""

from __future__ import annotations

import httpx
import pytest

from shopfleet.dev.multiprocess import MultiProcessPlatform
from tests.e2e import test_checkout_journey as checkout
from tests.e2e import test_identity_journey as identity
from tests.e2e import test_shop_journey as shop
from tests.e2e import test_tenant_promises as promises
from tests.support.multiprocess import DeadLetters
from tests.support.platform import Shopper

Served = tuple[MultiProcessPlatform, httpx.AsyncClient]


# ----------------------------------------------------------------------------- identity


async def test_register_login_me_refresh_logout(shopper: Shopper) -> None:
    await identity.test_register_login_me_refresh_logout(shopper)


async def test_reusing_a_spent_refresh_token_revokes_the_family(shopper: Shopper) -> None:
    await identity.test_reusing_a_spent_refresh_token_revokes_the_family(shopper)


async def test_a_token_of_shop_a_is_refused_on_shop_b(
    platform: MultiProcessPlatform, client: httpx.AsyncClient
) -> None:
    await identity.test_a_token_of_shop_a_is_refused_on_shop_b(platform, client)  # type: ignore[arg-type]


async def test_a_user_gets_403_on_admin_routes_and_an_admin_gets_through(
    platform: MultiProcessPlatform, shopper: Shopper
) -> None:
    await identity.test_a_user_gets_403_on_admin_routes_and_an_admin_gets_through(
        platform,  # type: ignore[arg-type]
        shopper,
    )


async def test_bad_input_is_a_4xx_problem_naming_the_field(shopper: Shopper) -> None:
    await identity.test_bad_input_is_a_4xx_problem_naming_the_field(shopper)


async def test_login_throttling_answers_429_with_retry_after(shopper: Shopper) -> None:
    await identity.test_login_throttling_answers_429_with_retry_after(shopper)


async def test_platform_endpoints_and_aggregated_openapi(client: httpx.AsyncClient) -> None:
    await identity.test_platform_endpoints_and_aggregated_openapi(client)


async def test_concurrent_requests_are_served(shopper: Shopper) -> None:
    await identity.test_concurrent_requests_are_served(shopper)


# ----------------------------------------------------------------------------- the shop


async def test_admin_builds_a_category_tree_and_a_product(
    platform: MultiProcessPlatform, shopper: Shopper
) -> None:
    await shop.test_admin_builds_a_category_tree_and_a_product(platform, shopper)  # type: ignore[arg-type]


async def test_shopper_browses_searches_and_fills_a_cart(
    platform: MultiProcessPlatform, shopper: Shopper
) -> None:
    await shop.test_shopper_browses_searches_and_fills_a_cart(platform, shopper)  # type: ignore[arg-type]


async def test_bad_shop_input_is_refused_and_changes_nothing(
    platform: MultiProcessPlatform, shopper: Shopper
) -> None:
    await shop.test_bad_shop_input_is_refused_and_changes_nothing(platform, shopper)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- checkout


@pytest.mark.usefixtures("well_stocked")
async def test_a_shopper_checks_out_and_the_admin_ships(served: Served) -> None:
    await checkout.test_a_shopper_checks_out_and_the_admin_ships(served)  # type: ignore[arg-type]


@pytest.mark.usefixtures("well_stocked")
async def test_a_declined_card_fails_the_order_releases_stock_and_restores_the_cart(
    served: Served,
) -> None:
    await checkout.test_a_declined_card_fails_the_order_releases_stock_and_restores_the_cart(
        served  # type: ignore[arg-type]
    )


@pytest.mark.usefixtures("well_stocked")
async def test_cancel_after_payment_refunds_in_full_and_puts_stock_back(served: Served) -> None:
    await checkout.test_cancel_after_payment_refunds_in_full_and_puts_stock_back(served)  # type: ignore[arg-type]


@pytest.mark.usefixtures("well_stocked")
async def test_nobody_sees_another_shoppers_checkout(served: Served) -> None:
    await checkout.test_nobody_sees_another_shoppers_checkout(served)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the Shop's promises


async def test_a_products_quota_holds_under_a_burst(
    platform: MultiProcessPlatform, client: httpx.AsyncClient
) -> None:
    await promises.test_a_products_quota_holds_under_a_burst(platform, client)


@pytest.mark.usefixtures("well_stocked")
async def test_an_orders_per_day_quota_holds_under_a_burst(
    platform: MultiProcessPlatform, client: httpx.AsyncClient
) -> None:
    await promises.test_an_orders_per_day_quota_holds_under_a_burst(platform, client)


async def test_purging_a_shop_deletes_its_rows_in_every_service(
    platform: MultiProcessPlatform, client: httpx.AsyncClient
) -> None:
    await promises.test_purging_a_shop_deletes_its_rows_in_every_service(platform, client)


async def test_no_event_was_dead_lettered_on_the_journeys(dead_letters: DeadLetters) -> None:
    """Every event of the journeys above reached its subscribers: none was given up on."""
    assert await dead_letters.drain() == []
