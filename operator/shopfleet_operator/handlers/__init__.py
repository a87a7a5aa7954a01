"""One module per reaction of the operator; `main.py` wires them to kopf."""
