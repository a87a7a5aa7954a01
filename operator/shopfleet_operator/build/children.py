"""Every object a shop should have, in the order to create them."""

from __future__ import annotations

from shopfleet_operator.build.access import network_policy, secret_reader_rbac
from shopfleet_operator.build.accounts import TenantAccount
from shopfleet_operator.build.dapr import (
    dapr_configuration,
    dedicated_components,
    resiliency,
    shared_components,
)
from shopfleet_operator.build.names import services
from shopfleet_operator.build.namespace import limit_range, namespace, resource_quota
from shopfleet_operator.build.routing import ingresses
from shopfleet_operator.build.secrets import account_secret, callers_secret, shop_secret
from shopfleet_operator.build.workloads import service_objects
from shopfleet_operator.config import Config
from shopfleet_operator.crd import Shop


def dedicated_objects(shop: Shop, config: Config) -> list[dict]:
    """The namespace first, then everything in it."""
    objects = [namespace(shop), resource_quota(shop, config), limit_range(shop)]
    objects.append(network_policy(shop, config))
    objects.extend(dedicated_components(shop, config))
    objects.append(dapr_configuration(shop, config))
    objects.extend(resiliency(shop, config))
    if config.platform_token:
        objects.append(callers_secret(shop, config))
    for name in services():
        objects.extend(secret_reader_rbac(shop, name))  # before its pods start
        objects.extend(service_objects(shop, config, name))
    return objects


def children(
    shop: Shop,
    config: Config,
    secret_values: dict[str, str],
    account: TenantAccount | None = None,
) -> list[dict]:
    """Every object the shop should have (the route table aside), in creation order: the
    shop's Secret before the components and pods that read it (a sidecar that starts
    before its component's Secret exists cannot start; a container whose env names a
    missing Secret waits in CreateContainerConfigError)."""
    secret = shop_secret(shop, config, secret_values, account)
    objects: list[dict] = []
    if shop.spec.tier == "dedicated":
        assert account is not None
        dedicated = dedicated_objects(shop, config)
        # Its namespace first (the Secret lives there), then the Secret, the record of the
        # shop's account (in the operator's namespace), then the rest.
        objects.extend([dedicated[0], secret, account_secret(shop, config, account)])
        objects.extend(dedicated[1:])
    else:
        objects.extend([secret, *shared_components(shop, config)])
    objects.extend(ingresses(shop, config))
    return objects
