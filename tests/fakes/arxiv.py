"""A local server that answers like arXiv's listing feeds and API.

Tests queue answers per path (status, body, headers, delay); once a path's queue is empty it
keeps serving its last answer. It honours If-None-Match like rss.arxiv.org, and records every
request so tests can check headers, pacing and what was asked. Hostile answers: `streamed`
sends a huge body without holding it, `gzip_bomb` a small body that inflates enormously.
"""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
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
    stream: int = 0  # if set: send this many bytes of `body` repeated, chunk by chunk
    chunked: bool = False  # stream without a Content-Length (HTTP chunked encoding)


def streamed(size: int, *, chunked: bool = False) -> Answer:
    """An answer of `size` bytes, written a chunk at a time (the server never holds it)."""
    return Answer(b"<item>" + b"x" * 1018, stream=size, chunked=chunked)


def gzip_bomb(size: int) -> Answer:
    """A gzip body that inflates to `size` bytes of spaces (about 1000:1), sent as such."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b" " * (1 << 20)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    parts += [packer.compress(b" " * (size % len(block))), packer.flush()]
    return Answer(b"".join(parts), headers={"Content-Encoding": "gzip"})


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
        if answer.stream:
            return await self._stream(request, answer)
        etag = answer.headers.get("ETag")
        if etag and request.headers.get("If-None-Match") == etag and answer.status == 200:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=answer.body,
            status=answer.status,
            headers=answer.headers,
            content_type=answer.content_type,
        )

    async def _stream(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        response.content_type = answer.content_type
        if not answer.chunked:
            response.content_length = answer.stream
        await response.prepare(request)
        block = answer.body * max(1, (1 << 20) // len(answer.body))
        left = answer.stream
        try:
            while left > 0:
                await response.write(block[:left])
                left -= min(left, len(block))
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should on a body this large
        return response
