"""Identity's rules, free of I/O: login throttling (`throttle`), sessions and tokens
(`sessions`), accounts and roles (`accounts`), tenant bootstrap and ownership (`tenants`),
and what they refuse (`refusals`). The use cases in `service.py`, `tenants.py` and
`sessions.py` load with `store.py`, decide here, and write what was decided."""
