"""All of the catalog's SQL, by subject: `products` (products, prices, images' rows, the
shops projection), `stock` (stock levels, reservations, lookups) and `categories` (the
category projection and product links).

The caller owns the transaction (the session) and decides (`catalog.domain`); these
functions only load, lock and write. The hot listing path reads on its own connection
pool (`catalog.listing`, `catalog.reader`), Core compiled once.
"""
