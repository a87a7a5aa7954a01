"""Shipping's rules, pure: no I/O, no HTTP, nothing but values in and values out.

A decision reads what `store.py` loaded and answers what to write (and the event to
publish with it, in one transaction), or it raises a refusal (`refusals`, kinds of
`kit.refusals`: the kit alone picks the HTTP status). The use cases (`service.py`,
`shipments.py`) load, call a decision, and store what it says.

- `costs`: what a method charges for some lines to a country; which method and products a
  quote may use.
- `methods`: a shop's methods as stored; an admin's change or deletion of one.
- `shipments`: statuses and the table of moves; what `order.paid`, `order.cancelled` and
  an admin do to a shipment.
- `edits`: what a PATCH changes; how many methods or addresses one may keep.
- `refusals`: what these rules refuse, one class per problem slug.
"""
