"""The simulated cluster: an API server, controllers, a node and Dapr sidecars (README.md)."""
