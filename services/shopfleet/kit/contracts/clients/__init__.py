"""One typed client per called service: `CatalogClient`, `CartClient`, `ShippingClient`,
`OrdersClient`, `IdentityClient`. Each call goes through the service-invocation block with
a timeout, maps the answer's status once (`base.ServiceClient`) and validates its body
against the contract model in `kit.contracts`."""
