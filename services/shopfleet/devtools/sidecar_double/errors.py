"""What loading components and reading secrets can fail with."""


class ComponentLoadError(Exception):
    """daprd: `process component <name> error: ...`, fatal for the sidecar."""


class SecretNotFound(Exception):
    pass
