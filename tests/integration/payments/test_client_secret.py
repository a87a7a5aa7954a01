"""The client secret of a PaymentIntent: shown to the payer, to nobody else."""

from __future__ import annotations

from tests.integration.payments.conftest import Payments


async def test_only_the_payer_sees_the_client_secret(payments: Payments) -> None:
    """Issue 12, authorization matrix: the client secret completes a payment (Stripe: only
    for the customer); an Admin sees the payment, never its secret."""
    mine = payments.order()
    made = await payments.intent(mine, payments.admin)  # made by an Admin for the shopper
    assert made.status_code == 201 and made.json()["client_secret"] is None
    payment_id = made.json()["id"]
    assert (await payments.get(payment_id)).json()["client_secret"]
    assert (await payments.get(payment_id, payments.admin)).json()["client_secret"] is None
    listed = await payments.http.get(payments.api("/payments"), headers=payments.admin)
    assert [p["client_secret"] for p in listed.json()["items"]] == [None]
    again = await payments.intent(mine, payments.admin)
    assert again.status_code == 200 and again.json()["client_secret"] is None
