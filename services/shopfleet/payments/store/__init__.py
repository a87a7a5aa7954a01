"""All of payments' SQL: loads as typed records, and conditional updates.

Every update that moves a payment or a refund names the states it may move from (the
guard), and says whether it moved the row: of two sources telling the same thing, only
the first changes anything. The caller owns the transaction (the session).

- `payments`: `PaymentsStore` (a payment's loads, pages, moves; its `refunds`), the
  `reading`/`writing` transactions, and the insert of an order's open payment.
- `refunds`: `RefundsStore` (refunds' loads and settlement, with what they hold of their
  payment).
- `webhooks`: the Stripe event ids seen already.
- `rows`: the tables, rows into records, and the guarded update both stores share.
"""
