"""Development tools shipped with the package, never part of a deployment: what
`shopfleet dev` and the test tiers run where the real infrastructure cannot (the Dapr
sidecar double, `sidecar_double`)."""
