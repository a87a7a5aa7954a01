"""Accounts' and tenants' rules (identity/domain/accounts.py, tenants.py), with no database:
roles a shop may set, the last Admin, changing a password, pages, tenant ownership and what
bootstrapping an existing tenant changes; and the problems identity's refusals become."""

from __future__ import annotations

import pytest

from shopfleet.identity.domain.accounts import (
    check_admins_left,
    check_password_change,
    new_user_roles,
    normalize_email,
    page_of,
    roles_after_set,
)
from shopfleet.identity.domain.refusals import (
    CurrentPasswordRequired,
    EmailTaken,
    LastAdmin,
    ShopNotFound,
    TenantOwned,
    UserNotFound,
    WrongCredentials,
    WrongCurrentPassword,
)
from shopfleet.identity.domain.tenants import (
    ExistingBootstrap,
    may_take,
    owner_of,
    plan_existing_bootstrap,
)
from shopfleet.kit.contracts.tenants import TENANT_OWNED, TenantOwner, TenantQuotas
from shopfleet.kit.cursors import BadCursor
from shopfleet.kit.errors import Problem, field_problem, problem_for
from shopfleet.kit.refusals import Refusal

TEAM_A = TenantOwner(namespace="team-a", uid="uid-1")
TEAM_A_AGAIN = TenantOwner(namespace="team-a", uid="uid-2")
TEAM_B = TenantOwner(namespace="team-b", uid="uid-3")
QUOTAS = TenantQuotas(products=100, orders_per_day=50)


def test_emails_are_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Ann@Example.COM ") == "ann@example.com"


def test_a_new_users_roles_are_deduplicated_and_sorted() -> None:
    assert new_user_roles(["User", "Admin", "User"]) == ["Admin", "User"]


@pytest.mark.parametrize("roles", [[], ["Owner"], ["User", "root"]])
def test_a_new_user_needs_known_roles(roles: list[str]) -> None:
    with pytest.raises(ValueError, match="non-empty subset"):
        new_user_roles(roles)


def test_a_shop_cannot_take_platform_admin_away() -> None:
    assert roles_after_set(["PlatformAdmin", "User"], ["Admin"]) == ["Admin", "PlatformAdmin"]


def test_a_shop_cannot_grant_more_than_it_asks() -> None:
    assert roles_after_set(["User"], ["Admin", "Admin"]) == ["Admin"]


def test_the_last_admin_keeps_the_role() -> None:
    with pytest.raises(LastAdmin):
        check_admins_left(["Admin"], ["User"], other_admins=0)


@pytest.mark.parametrize(
    ("current", "new", "others"),
    [(["Admin"], ["User"], 1), (["Admin"], ["Admin", "User"], 0), (["User"], ["User"], 0)],
)
def test_roles_change_when_an_admin_remains(
    current: list[str], new: list[str], others: int
) -> None:
    check_admins_left(current, new, other_admins=others)


def test_no_new_password_is_no_password_change() -> None:
    assert check_password_change(None, None) is False


def test_a_new_password_with_the_current_one_is_a_change() -> None:
    assert check_password_change("new secret 123", "old secret 123") is True


@pytest.mark.parametrize("current", [None, ""])
def test_a_new_password_needs_the_current_one(current: str | None) -> None:
    with pytest.raises(CurrentPasswordRequired):
        check_password_change("new secret 123", current)


@pytest.mark.parametrize(
    ("rows", "limit", "page"), [(3, 2, ([0, 1], True)), (2, 2, ([0, 1], False))]
)
def test_a_page_reads_one_row_more_to_know_if_more_follow(
    rows: int, limit: int, page: tuple[list[int], bool]
) -> None:
    assert page_of(list(range(rows)), limit) == page


def test_a_tenant_without_a_namespace_has_no_owner() -> None:
    assert owner_of(None, "uid") is None
    assert owner_of("team-a", "uid-1") == TEAM_A


@pytest.mark.parametrize(
    ("current", "claimant", "allowed"),
    [
        (None, None, True),
        (None, TEAM_B, True),
        (TEAM_A, TEAM_A_AGAIN, True),
        (TEAM_A, TEAM_B, False),
        (TEAM_A, None, False),
    ],
)
def test_only_the_owning_namespace_may_take_a_tenant(
    current: TenantOwner | None, claimant: TenantOwner | None, allowed: bool
) -> None:
    assert may_take(current, claimant) is allowed


def test_bootstrapping_anothers_tenant_is_refused_naming_the_owner() -> None:
    with pytest.raises(TenantOwned) as refused:
        plan_existing_bootstrap("acme", TEAM_A, TEAM_B, QUOTAS, QUOTAS)
    problem = problem_for(refused.value)
    assert problem.status == 409 and problem.slug == TENANT_OWNED
    assert problem.title == "Tenant owned by another namespace"
    assert problem.extra == {"owner_namespace": "team-a"}
    assert "shopfleet shops purge acme" in problem.detail


def test_the_same_shop_again_changes_nothing() -> None:
    plan = plan_existing_bootstrap("acme", TEAM_A, TEAM_A, QUOTAS, QUOTAS)
    assert plan == ExistingBootstrap(adopt=None, quotas=None)


def test_an_unowned_tenant_is_adopted_by_its_first_shop() -> None:
    assert plan_existing_bootstrap("acme", None, TEAM_B, QUOTAS, QUOTAS).adopt == TEAM_B


def test_a_recreated_shop_of_the_namespace_adopts_it_with_its_new_uid() -> None:
    assert (
        plan_existing_bootstrap("acme", TEAM_A, TEAM_A_AGAIN, QUOTAS, QUOTAS).adopt == TEAM_A_AGAIN
    )


def test_a_bootstrap_sets_the_specs_quotas() -> None:
    wanted = TenantQuotas(products=5, orders_per_day=1)
    assert plan_existing_bootstrap("acme", None, None, QUOTAS, wanted).quotas == wanted


@pytest.mark.parametrize(
    ("refusal", "status", "slug"),
    [
        (ShopNotFound.of("acme"), 404, "not-found"),
        (UserNotFound.of("acme", "u1"), 404, "not-found"),
        (EmailTaken.of("ann@example.com"), 409, "email-taken"),
        (LastAdmin(), 409, "last-admin"),
        (WrongCredentials(), 401, "unauthenticated"),
    ],
)
def test_refusals_keep_their_problems(refusal: Refusal, status: int, slug: str) -> None:
    problem = problem_for(refusal)
    assert (problem.status, problem.slug) == (status, slug)


def _same(a: Problem, b: Problem) -> None:
    assert (a.status, a.slug, a.title, a.detail, a.headers, a.extra) == (
        b.status,
        b.slug,
        b.title,
        b.detail,
        b.headers,
        b.extra,
    )


@pytest.mark.parametrize(
    ("refusal", "was"),
    [
        (
            WrongCurrentPassword(),
            field_problem(400, "body.current_password", "is not your current password"),
        ),
        (
            CurrentPasswordRequired(),
            field_problem(422, "body.current_password", "required to change the password"),
        ),
        (
            BadCursor(),
            field_problem(
                400,
                "query.cursor",
                "not a cursor of this listing: pass the next_cursor of the previous page "
                "unchanged, or omit it to start at the first page",
                slug="bad-cursor",
            ),
        ),
    ],
)
def test_field_refusals_answer_as_the_field_problems_did(refusal: Refusal, was: Problem) -> None:
    _same(problem_for(refusal), was)
