"""A local server that answers like arXiv's listing feeds and API.

Tests queue answers per path (status, body, headers, delay); once a path's queue is empty it
keeps serving its last answer. It honours If-None-Match like rss.arxiv.org, and records every
request so tests can check headers, pacing and what was asked. Hostile answers: `streamed`
sends a huge body without holding it, `gzip_bomb` a small body that inflates enormously;
`hanging()` never answers. `catalogue()` makes the API path
answer queries from a set of papers like export.arxiv.org, refusing pages past its limit.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from tests.fakes.feeds import Item, api_page
from tests.fakes.server import ThreadedServer

_CATEGORY = re.compile(r"cat:([\w.-]+)")
_WINDOW = re.compile(r"submittedDate:\[(\d{12}) TO (\d{12})\]")


@dataclass
class Answer:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/rss+xml"
    stream: int = 0  # if set: send this many bytes of `body` repeated, chunk by chunk
    chunked: bool = False  # stream without a Content-Length (HTTP chunked encoding)
    hang: bool = False  # hold the request open, unanswered, until the server stops


def hanging() -> Answer:
    """An answer that never comes: the request stays open until the server stops."""
    return Answer(hang=True)


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
        self._catalogue: dict[str, tuple[list[Item], int]] = {}
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

    def catalogue(self, items: list[Item], *, limit: int = 30000, path: str = "/api/query") -> None:
        """Answer API queries on `path` from `items`, like export.arxiv.org.

        `search_query`'s `cat:` terms and `submittedDate:[A TO B]` (an item's `published`)
        select, newest first; `start`/`max_results` page; a page reaching past `limit` results
        is refused with HTTP 400 and an `Error` entry, as the API refuses it.
        """
        with self._lock:
            self._catalogue[path] = (sorted(items, key=lambda i: (i.published, i.id)), limit)

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
            if path in self._catalogue and not queue:
                items, limit = self._catalogue[path]
                return _query(items, limit, request.query)
            if queue:
                answer = queue.popleft()
                self._last[path] = answer
            else:
                answer = self._last.get(path) or Answer(
                    b"not found", 404, content_type="text/plain"
                )
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.hang:
            await asyncio.sleep(3600)  # cancelled when the server stops
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


def _query(items: list[Item], limit: int, query: Mapping[str, str]) -> web.Response:
    search = query.get("search_query", "")
    start = int(query.get("start", "0"))
    size = int(query.get("max_results", "10"))
    atom = "application/atom+xml"
    if start + size > limit:
        return web.Response(body=_error_feed(start, size, limit), status=400, content_type=atom)
    cats = set(_CATEGORY.findall(search))
    window = _WINDOW.search(search)
    lo, hi = (
        (_stamp(window.group(1)), _stamp(window.group(2)))
        if window
        else (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    )
    chosen = [
        i
        for i in reversed(items)  # newest first, as sortBy=submittedDate descending
        if (not cats or cats & set(i.categories))
        and lo <= i.published.replace(second=0, microsecond=0) <= hi
    ]
    page = chosen[start : start + size]
    return web.Response(
        body=api_page(page, total=len(chosen), start=start), status=200, content_type=atom
    )


def _stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=UTC)


def _error_feed(start: int, size: int, limit: int) -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
        'xmlns="http://www.w3.org/2005/Atom">\n'
        "  <id>https://arxiv.org/</id>\n  <title>arXiv Search Results</title>\n"
        "  <updated>2026-11-28T00:00:00Z</updated>\n"
        "  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>\n"
        "  <opensearch:totalResults>1</opensearch:totalResults>\n"
        "  <opensearch:startIndex>0</opensearch:startIndex>\n"
        "  <entry>\n"
        "    <id>https://arxiv.org/api/errors#start_plus_max_results_too_large</id>\n"
        "    <title>Error</title>\n"
        "    <updated>2026-11-28T00:00:00Z</updated>\n"
        f"    <summary>start ({start}) + max_results ({size}) must not exceed {limit}</summary>\n"
        "    <author>\n      <name>arXiv api core</name>\n    </author>\n"
        "  </entry>\n</feed>\n"
    ).encode()
