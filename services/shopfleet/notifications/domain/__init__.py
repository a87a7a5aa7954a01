"""Notifications' rules, pure: no I/O, no HTTP, values in and values out.

- `messages`: which message (if any) each event makes for its shopper, and of which kind.
- `retries`: what becomes of a delivery after an attempt: delivered, retried after a
  back-off, or given up.
- `listing`: whose notifications a reader may list, the list's cursors, and the refusals.

`notifications/service.py` stores what these decide; `deliveries.py` (the worker) sends.
"""
