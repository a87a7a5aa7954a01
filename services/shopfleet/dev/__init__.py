"""The multi-process platform: every service as its own process next to its own sidecar
(double), plus the gateway, on PostgreSQL, Redis and RabbitMQ. `shopfleet dev` runs it for a
developer without a cluster; the multi-process e2e tests and `benchmarks.multiprocess` run
it too.

What it starts, per part (every service of `SERVICES`, then the gateway):

- **a database**: PostgreSQL, one per service that keeps relational data. Given by the
  caller (`database_urls`, the tests' per-run databases), else created on the admin DSN as
  `<database_prefix><service>` and kept (`shopfleet dev`: `shopfleet_dev_catalog`, ...).
- **a sidecar double** (`python -m shopfleet.devtools.sidecar_double`: there is no Dapr
  runtime here). All doubles of one platform share one `prefix`, which makes them one
  "cluster": an app-id registry in Redis, one durable RabbitMQ exchange, one durable queue
  per subscriber and topic, state keys in Redis. They apply the platform's Configuration
  (`sidecar_configuration`: who may invoke what, the built-in secret store closed). The
  double is a development tool that ships in the package, so no checkout is needed.
- **`shopfleet serve <service>`** with `SHOPFLEET_BLOCKS=dapr`, `DAPR_GRPC_PORT` /
  `DAPR_HTTP_PORT` of its double, its own database, its own data dir, the platform token,
  `SHOPFLEET_PUBLIC_URL` = the gateway (the Stripe emulator's webhooks go there), small
  database pools (`db_pool_size`: eight services must fit PostgreSQL's default
  `max_connections`); it migrates its database at start-up.

Readiness: every double's `/v1.0/healthz/outbound`, every service's `/readyz`, every
double's `/v1.0/healthz` (the app's subscriptions are bound to their queues: no event
published from then on can miss a subscriber), and last the gateway's `/readyz` (which asks
every service through the sidecars). Then the demo shop is seeded through the gateway's
public API (`shopfleet.seed`). Each process runs in its own session (a Ctrl-C in the
terminal reaches only the launcher, which then stops everything in order) and logs to
`<run dir>/logs/<part>.log` and `<part>-sidecar.log`.

Stopping: the gateway first, then the services (SIGTERM: in-flight requests finish, each
outbox relay publishes what is pending while its sidecar still runs), then the doubles
(deliveries in flight finish and are acked); whatever has not exited after the grace period
is killed, with its children (payments' Stripe emulator).

Faults, for tests: `kill_service` (SIGKILL of the process and its children, like a pod
killed by the kubelet), `stop_service`, `start_service`; the same for the doubles
(`kill_sidecar`, ... : the app's connection to its broker and its peers drops).

Modules: plan.py (what runs, with which ports, environment and arguments), processes.py
(one child process), multiprocess.py (`MultiProcessPlatform`: start, readiness, faults,
stop), databases.py (the PostgreSQL databases), cleanup.py (the doubles' queues and keys).
"""
