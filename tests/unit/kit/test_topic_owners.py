"""Only a topic's owner publishes it: every publish site in the services names a typed topic
of kit/contracts/events.py that the service around it owns (`Outbox.add` checks it again
at run time, from the session's database)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.topics import Topic

PACKAGE = Path(ev.__file__).resolve().parents[2]  # services/shopfleet


def publish_sites() -> Iterator[tuple[str, str, ast.Call]]:
    """(service, file, call) for each `<something outbox>.add(...)` in the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative == Path("kit/outbox.py"):  # where `add` is defined
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and _is_outbox_add(node.func):
                yield relative.parts[0], str(relative), node


def _is_outbox_add(func: ast.expr) -> bool:
    if not (isinstance(func, ast.Attribute) and func.attr == "add"):
        return False
    receiver = func.value
    name = receiver.id if isinstance(receiver, ast.Name) else getattr(receiver, "attr", "")
    return "outbox" in name.lower()


def topic_named(call: ast.Call) -> Topic[ev.EventPayload] | None:
    """The contract topic a call publishes (its second argument), if it names one."""
    argument = call.args[1] if len(call.args) > 1 else None
    if isinstance(argument, ast.Name):
        value = getattr(ev, argument.id, None)
    elif isinstance(argument, ast.Attribute):
        value = getattr(ev, argument.attr, None)
    else:
        value = None
    return value if isinstance(value, Topic) else None


def test_every_publish_site_names_a_topic_its_service_owns() -> None:
    wrong = []
    published: set[str] = set()
    for service, file, call in publish_sites():
        topic = topic_named(call)
        if topic is None:
            wrong.append(f"{file}:{call.lineno} publishes no topic of kit/contracts/events.py")
        elif topic.owner != service:
            wrong.append(f"{file}:{call.lineno}: {service} publishes {topic}, {topic.owner}'s")
        else:
            published.add(topic.name)
    assert wrong == []
    # The scan sees every topic published (so it looks where the publishing is).
    assert published == set(ev.TOPICS)
