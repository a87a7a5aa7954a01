"""The shopfleet Kubernetes operator (kopf). Built in the operator issue; empty for now."""
