"""Shipping: each shop's shipping methods, its shoppers' addresses, quotes and shipments."""
