"""A local server that answers like arXiv's listing feeds and API.

Tests queue answers per path (status, body, headers, delay); once a path's queue is empty it
keeps serving its last answer. It honours If-None-Match like rss.arxiv.org, and records every
request so tests can check headers, pacing and what was asked.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.server import ThreadedServer


@dataclass
class Answer:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/rss+xml"


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


class FakeArxiv:
    def __init__(self, *, record: bool = True) -> None:
        self.record = record  # benches turn it off: 10k recorded requests are 10 MB
        self.served = 0
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Answer]] = {}
        self._last: dict[str, Answer] = {}
        self.requests: list[Seen] = []
        self._server = ThreadedServer(self._app)

    # --- control, from any thread ----------------------------------------------------------

    def start(self) -> FakeArxiv:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    def queue(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self._queues.setdefault(path, deque()).extend(answers)

    def serve(self, path: str, answer: Answer) -> None:
        """From now on answer `path` with this, dropping anything queued."""
        with self._lock:
            self._queues.pop(path, None)
            self._last[path] = answer

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # --- serving ---------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        with self._lock:
            self.served += 1
            if self.record:
                self.requests.append(
                    Seen(path, dict(request.query), dict(request.headers), time.monotonic())
                )
            queue = self._queues.get(path)
            if queue:
                answer = queue.popleft()
                self._last[path] = answer
            else:
                answer = self._last.get(path) or Answer(
                    b"not found", 404, content_type="text/plain"
                )
        if answer.delay:
            await asyncio.sleep(answer.delay)
        etag = answer.headers.get("ETag")
        if etag and request.headers.get("If-None-Match") == etag and answer.status == 200:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=answer.body,
            status=answer.status,
            headers=answer.headers,
            content_type=answer.content_type,
        )
