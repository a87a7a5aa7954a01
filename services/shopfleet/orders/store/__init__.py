"""All of orders' SQL: loads (with row locks), the writes a decision asks for (its history
and outbox rows with it), the placing row, the sweeper's queries, the limits' counts and
locks, and the statements of the fast read path.

Rows leave this package typed: `OrderRecord`, `HistoryEntry`, `OrderListItem`, `OpenOrder`.
Locks: `FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serializes writers, so a
cancel racing a payment sees the other's outcome either way.

- `loads`: one order (locked or not), its history, a page of the list; `FastReads`.
- `writes`: `save`, what a decision says: the row, its history row, its events (outbox).
- `placings`: the row while an order is placed, the limits' lock and count, open orders.
- `stock`: the stock calls to catalog still pending, and catalog's answer recorded once.
- `sweeps`: unpaid orders past their expiry, and placings whose process died.
- `rows`: rows into `OrderRecord`, and the fast read path's statements.
"""
