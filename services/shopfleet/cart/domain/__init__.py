"""The cart's rules, pure: stored documents and catalog snapshots in, new documents out,
or a refusal (refusals.py) that says what the shopper should change. No I/O, no HTTP.

- lines.py: a cart's lines and their limits (adding, setting a quantity, putting back);
- removed.py: removed lines (removing, clearing, restoring) and merging a guest's cart
  into a signed-in user's;
- checkout.py: the cart's side of the checkout (what orders reads, what `order.placed`
  takes out and remembers, the lines of a cancelled order put back).
"""
