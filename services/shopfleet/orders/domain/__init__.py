"""Orders' rules, pure: no I/O, no HTTP, nothing but values in and values out.

A decision reads the order as stored (`OrderRecord`) and what happened, and answers a
`Decision`: the move or note the store writes and the events the outbox publishes with
it, in one transaction; or it raises a refusal (`refusals`, kinds of `kit.refusals`: the
kit alone picks the HTTP status). `orders/service.py` loads, calls a decision, and stores
what it says.

- `order`: statuses, stock states, causes, the table of moves, `OrderRecord`, `Decision`.
- `access`: who may read an order and whose orders a list shows; list cursors.
- `checkout`: placing (the limits, idempotency, a shortage) and re-quoting before payment.
- `pricing`: a cart priced into an order's lines at catalog's prices.
- `saga`: the steps after placing: payments, shipping, cancel, expiry, stock.
- `refusals`: what these rules refuse, one class per problem slug.

Stock: no decision calls catalog. It records what catalog must be told
(`Stock.RELEASE_PENDING` / `Stock.COMMIT_PENDING`); the service tells it after the
commit, and the sweeper retries what a crash or an outage left pending.
"""
