"""Categories' rules, pure: no I/O, no HTTP, values in and values out.

- `tree`: a shop's categories as a tree: order, paths, descendants, depth and cycle checks.
- `rules`: `CategoryRecord`, slugs, limits, and what a create, an edit or a delete changes.
- `products`: what the products projection keeps of catalog's events; listing cursors.
- `refusals`: what these rules refuse, one class per problem slug.

`categories/service.py` loads a shop's tree (`store`), asks a decision here, and stores
what it says with its events, in one transaction.
"""
