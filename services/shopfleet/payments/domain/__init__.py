"""Payments' rules, with no I/O and no HTTP: the states of a payment and its refunds, and
what to do about an order, a confirmation, a refund or what Stripe says of an intent.

Each decision is a function of what was loaded. It raises a refusal (a `kit.refusals`
kind) when a rule refuses, or returns what to change; a change names the statuses it may
move a payment from, and the store applies it only while the payment is still in one of
them, so a change decided on a row that moved meanwhile is not applied (the caller loads
again and decides again).

- `payment`: payment and refund statuses, the table of moves, `PaymentRecord`, `RefundRecord`.
- `from_stripe`: what Stripe says of an intent or a refund (`Intent`, `StripeRefund`).
- `access`: whose payments a caller sees.
- `intents`: asking for an order's intent (make, reuse, follow its total) and confirming it.
- `settling`: what Stripe's word on an intent changes (`Capture`, `Fail`, `Move`), its events.
- `rechecks`: when the reconciler asks Stripe again.
- `refunds`: a refund's amount, order.cancelled, what Stripe's word on a refund changes.
- `refusals`: what these rules refuse, one class per problem slug.
"""
