"""Write transactions per complete checkout on the embedded platform, by origin.

`python -m benchmarks.transactions [--checkouts 20] [--shoppers 1]`

`shopfleet up` runs in its own process as the checkout benchmark starts it, but through
`python -m benchmarks.transactions serve`, which first wraps `sqlite3.connect` so every
connection of the process (each service's database, the local pub/sub file, the state
store) reports its statements. A write transaction is what runs from a `BEGIN` to its
`COMMIT` (or `ROLLBACK`); at its end it is classed by its file and what it wrote:

- pub/sub (`pubsub.db`): publish (rows routed to queues), claim (due rows claimed, or
  rows a publish handed straight to idle handlers), settle (acks: rows deleted), retry,
  dead-letter; a transaction that does several is named by all (`publish+claim+settle`);
- a service's database: inbox (an event's effect with its inbox row, `+events` when it
  also queued events in the outbox), relay (outbox rows marked published or failed),
  request (a request's writes, `+events` when it queued events), other;
- the state store: state.

The driver signs `--shoppers` shoppers in, runs `--checkouts` complete checkouts (each
until the order is paid), waits until the counts stop moving (the last events are
delivered), and prints the transactions per checkout. The counts are taken in the
platform process with SIGUSR1 (written to a JSON file), so nothing is measured twice.

`--statements` also counts every statement per database and kind (SELECT, INSERT, UPDATE,
DELETE, BEGIN, …), in a transaction or not (the fast read path's reads run in autocommit),
and prints them per checkout for the databases named (`--statements orders,payments`;
`all` for every one).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.procs import shopfleet_up, temp_dir
from benchmarks.shoppers import checkout, prepare

COUNTS_ENV = "BENCH_TRANSACTIONS_FILE"
console = Console(stderr=True)

_WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)
STATEMENT_PREFIX = "statement "  # the statements' counts share the file: "statement db KIND"


def statement_kind(statement: str) -> str:
    """SELECT, INSERT, UPDATE, … (the statement's first word; `WITH …` counts as SELECT)."""
    words = statement.split(None, 1)
    kind = words[0].upper() if words else "?"
    return "SELECT" if kind == "WITH" else kind


def classify(file: str, statements: list[str]) -> str:
    """The origin of one committed write transaction, from its file and its statements."""
    text = "\n".join(statements)
    if file == "pubsub.db":
        if "INSERT INTO dead_letters" in text:
            return "pubsub dead-letter"
        # One transaction may do several of these (a publish that also claims rows for idle
        # handlers and records earlier answers): named by all of them, in this order.
        kinds = [
            kind
            for kind, present in (
                ("publish", "INSERT INTO deliveries" in text),
                ("claim", "claimed = 1" in text or "RETURNING id, consumer, claimed" in text),
                ("settle", "DELETE FROM deliveries" in text),
                ("retry", "claimed = 0, attempts" in text),
            )
            if present
        ]
        return f"pubsub {'+'.join(kinds) or 'other'}"
    if file.startswith("state"):
        return "state store"
    service = file.removesuffix(".db")
    events = "+events" if "INSERT INTO outbox" in text else ""
    if "INSERT INTO inbox" in text:
        return f"inbox {service}{events}"
    if "UPDATE outbox SET" in text:
        return f"relay {service}"
    if any(_WRITES.match(s) for s in statements):
        return f"request {service}{events}"
    return f"empty {service}"  # BEGIN … COMMIT that wrote nothing


class _Tracer:
    """Collects each connection's statements from BEGIN to COMMIT/ROLLBACK."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def connection(self, path: str) -> Any:
        file, in_tx = Path(path).name, False
        database = f"{STATEMENT_PREFIX}{file.removesuffix('.db')}"
        open_tx: list[str] = []

        def trace(statement: str) -> None:
            nonlocal in_tx
            self.counts[f"{database} {statement_kind(statement)}"] += 1
            head = statement.lstrip()[:8].upper()
            if head.startswith("BEGIN"):
                in_tx = True
                open_tx.clear()
            elif head.startswith(("COMMIT", "END")) and in_tx:
                in_tx = False
                self.counts[classify(file, open_tx)] += 1
            elif head.startswith("ROLLBACK") and in_tx:
                in_tx = False
                self.counts[f"rolled back ({classify(file, open_tx)})"] += 1
            elif in_tx:
                open_tx.append(statement)

        return trace

    def dump(self, *_: Any) -> None:
        target = Path(os.environ[COUNTS_ENV])
        target.with_suffix(".tmp").write_text(json.dumps(self.counts))
        target.with_suffix(".tmp").replace(target)


def serve() -> None:
    """`shopfleet up` with every SQLite connection traced (the `serve` subcommand)."""
    tracer, connect = _Tracer(), sqlite3.connect

    def traced_connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(database, *args, **kwargs)
        conn.set_trace_callback(tracer.connection(str(database)))
        return conn

    setattr(sqlite3, "connect", traced_connect)  # noqa: B010 - every connection, as opened
    signal.signal(signal.SIGUSR1, tracer.dump)
    atexit.register(tracer.dump)
    from shopfleet.cli import app

    sys.argv = ["shopfleet", *sys.argv[2:]]
    app()


def _mtime_ns(file: Path) -> int:
    return file.stat().st_mtime_ns if file.exists() else 0


def _counts(file: Path) -> Counter[str]:
    return Counter(json.loads(file.read_text()))


async def snapshot(pid: int, file: Path) -> Counter[str]:
    """The platform's counts now (it writes them to `file` on SIGUSR1)."""
    before = _mtime_ns(file)
    os.kill(pid, signal.SIGUSR1)
    for _ in range(200):
        if _mtime_ns(file) != before:
            break
        await asyncio.sleep(0.01)
    return _counts(file)


async def settled(
    pid: int, file: Path, quiet_s: float = 2.0, limit_s: float = 30.0
) -> Counter[str]:
    """The counts once they stayed the same for `quiet_s` (the last events delivered)."""
    last, since, deadline = await snapshot(pid, file), time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now = await snapshot(pid, file)
        if now != last:
            last, since = now, time.monotonic()
    return last


async def measure(args: argparse.Namespace) -> Counter[str]:
    async with temp_dir() as tmp:
        counts_file = tmp / "transactions.json"
        env = {COUNTS_ENV: str(counts_file), "SHOPFLEET_LOG_LEVEL": "WARNING"}
        module = ("benchmarks.transactions", "serve")
        async with shopfleet_up(tmp, env, connections=args.shoppers * 2, module=module) as up:
            people, product_ids = await prepare(up.session, up.data_dir, args.shoppers, "tx")
            for shopper, address in people:  # a first checkout each warms every path up
                await checkout(shopper, address, product_ids, args.poll_s)
            before = await settled(up.proc.pid, counts_file, limit_s=args.settle_limit_s)
            per_shopper = args.checkouts // args.shoppers
            await asyncio.gather(
                *(
                    _checkouts(shopper, address, product_ids, per_shopper, args.poll_s)
                    for shopper, address in people
                )
            )
            after = await settled(up.proc.pid, counts_file, limit_s=args.settle_limit_s)
    done = per_shopper * args.shoppers
    return Counter({k: v / done for k, v in (after - before).items()})


async def _checkouts(shopper: Any, address: str, products: list[str], n: int, poll: float) -> None:
    for _ in range(n):
        await checkout(shopper, address, products, poll)


def report(per_checkout: Counter[str], args: argparse.Namespace) -> None:
    if args.statements:
        report_statements(per_checkout, args.statements.split(","))
    table = Table(title=f"Write transactions per checkout ({args.shoppers} shopper(s))")
    table.add_column("origin")
    table.add_column("per checkout", justify="right")
    groups: Counter[str] = Counter()
    transactions = {k: v for k, v in per_checkout.items() if not k.startswith(STATEMENT_PREFIX)}
    for origin, n in sorted(transactions.items()):
        table.add_row(origin, f"{n:.2f}")
        groups[origin.split()[0]] += n
    table.add_section()
    for group, n in sorted(groups.items()):
        table.add_row(f"all {group}", f"{n:.2f}")
    table.add_row("all", f"{sum(transactions.values()):.2f}")
    Console().print(table)


def report_statements(per_checkout: Counter[str], databases: list[str]) -> None:
    """Statements per checkout by database and kind (`databases`: names, or `all`)."""
    by_db: dict[str, Counter[str]] = {}
    for key, n in per_checkout.items():
        if key.startswith(STATEMENT_PREFIX):
            db, kind = key.removeprefix(STATEMENT_PREFIX).rsplit(" ", 1)
            if "all" in databases or db in databases:
                by_db.setdefault(db, Counter())[kind] += n
    kinds = sorted({kind for counts in by_db.values() for kind in counts})
    table = Table(title="Statements per checkout")
    table.add_column("database")
    for kind in kinds:
        table.add_column(kind, justify="right")
    table.add_column("all", justify="right")
    for db, counts in sorted(by_db.items()):
        row = [f"{counts[kind]:.2f}" for kind in kinds]
        table.add_row(db, *row, f"{sum(counts.values()):.2f}")
    Console().print(table)


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkouts", type=int, default=20)
    parser.add_argument("--shoppers", type=int, default=1)
    parser.add_argument("--poll-s", type=float, default=0.1, help="order status poll interval")
    parser.add_argument(
        "--settle-limit-s",
        type=float,
        default=30.0,
        help="how long to wait for the counts to stop moving (shipments keep moving orders "
        "along for minutes after a checkout, so they rarely stop: the wait ends here)",
    )
    parser.add_argument(
        "--statements",
        default="",
        help="also count statements per checkout for these databases (comma-separated; 'all')",
    )
    args = parser.parse_args()
    report(asyncio.run(measure(args)), args)


if __name__ == "__main__":
    main()
