"""The shopfleet Kubernetes operator (kopf): `main.py` registers the handlers, `handlers/`
holds the reactions, `build.py` the objects a Shop becomes."""
