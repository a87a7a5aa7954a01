"""The catalog's use cases, by subject: `products` (admin CRUD, prices, the products
quota), `stock` (stock levels, reservations for orders, lookups), `images` and
`categories` (the projection of the categories service's events).

Each loads what it needs (`catalog.store`), lets the rules decide (`catalog.domain`: they
refuse with `kit.refusals`, never an HTTP status), then writes the change and its events
(`catalog.emit`, the outbox) in one transaction, which it commits.
"""
