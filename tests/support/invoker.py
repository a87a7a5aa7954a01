"""An invoker double for clients of other services: it answers only the calls a test
scripts, in order, so a call to another app, method or path fails the test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from shopfleet.kit.blocks import Invoker, InvokeResponse, ServiceUnavailable

Answer = InvokeResponse | ServiceUnavailable


@dataclass
class Sent:
    app_id: str
    method: str
    path: str
    body: bytes
    headers: list[tuple[bytes, bytes]]
    query: str
    timeout_s: float | None


@dataclass
class ScriptedInvoker(Invoker):
    """Answers the calls it expects, in order: a call to another app, method or path fails
    the test; `sent` keeps what each call carried."""

    script: list[tuple[str, str, str, Answer]]
    sent: list[Sent] = field(default_factory=list)

    async def invoke(
        self,
        app_id: str,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Sequence[tuple[bytes, bytes]] = (),
        query: str = "",
        timeout_s: float | None = None,
    ) -> InvokeResponse:
        assert self.script, f"unexpected call {method} {app_id}{path}"
        want_app, want_method, want_path, answer = self.script.pop(0)
        assert (app_id, method, path) == (want_app, want_method, want_path)
        self.sent.append(Sent(app_id, method, path, body, list(headers), query, timeout_s))
        if isinstance(answer, ServiceUnavailable):
            raise answer
        return answer

    def done(self) -> None:
        assert not self.script, f"calls not made: {self.script}"


def answer(status: int, body: Any) -> InvokeResponse:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return InvokeResponse(status=status, headers=[], body=raw)


def problem(status: int, slug: str, detail: str = "") -> InvokeResponse:
    return answer(status, {"type": f"https://shopfleet.io/problems/{slug}", "detail": detail})
