"""The shopfleet Kubernetes operator (kopf): `main.py` registers the handlers, `handlers/`
holds the reactions, `build/` the objects a Shop becomes (one module per kind of object)."""
