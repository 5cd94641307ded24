"""A local OpenAI-compatible chat-completions endpoint (real HTTP on 127.0.0.1).

Tests queue what it does next: answer with a message (`reply`, `summary`), fail with a status,
rate-limit with 429 and Retry-After; once the queue is empty it keeps doing the last thing.
Every request is recorded (body and headers) for assertions.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import ThreadedServer


@dataclass(frozen=True)
class Act:
    status: int = 200
    content: str = ""  # the assistant message's text
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a whole body instead of a chat completion


def reply(content: str) -> Act:
    return Act(content=content)


def summary(relevant: bool = True, tags: list[str] | None = None, tldr: str = "") -> Act:
    body = {"relevant": relevant, "tags": tags or [], "tldr": tldr}
    return Act(content=json.dumps(body))


def error(status: int = 500) -> Act:
    return Act(status=status, raw=b'{"error": {"message": "boom"}}')


def rate_limited(retry_after: float = 7) -> Act:
    return Act(status=429, headers={"Retry-After": str(retry_after)}, raw=b'{"error": "slow down"}')


class FakeOpenAI:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Act] = deque()
        self._last = summary(True, [], "A default TL;DR with 1 number.")
        self.requests: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self._server = ThreadedServer(self._app)

    def start(self) -> FakeOpenAI:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url + "/v1"

    def queue(self, *acts: Act) -> None:
        with self._lock:
            self._queue.extend(acts)

    def titles(self) -> list[str]:
        """The paper titles asked about, in order."""
        with self._lock:
            found = []
            for body in self.requests:
                text = body["messages"][-1]["content"]
                found.append(text.split("\n", 1)[0].removeprefix("Title: "))
            return found

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            self.keys.append(request.headers.get("Authorization", ""))
            act = self._queue.popleft() if self._queue else self._last
            self._last = act
        if act.raw is not None:
            return web.Response(
                status=act.status,
                body=act.raw,
                headers=act.headers,
                content_type="application/json",
            )
        completion = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": act.content},
                    "finish_reason": "stop",
                }
            ],
        }
        return web.json_response(completion, status=act.status, headers=act.headers)
