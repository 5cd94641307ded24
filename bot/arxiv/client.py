"""The one way paperbot talks to arXiv: paced, retried, conditional, identified.

arXiv asks for at most one request every 3 seconds over one connection, across all of a
user's machines. Every paperbot process on the same database shares one pace through a lock
file beside the database: the lock is held for the whole request (one connection at a time)
and records when the last request ended. Retries back off on 429, 5xx, timeouts, connection
errors and bodies that are not a usable answer (arXiv's throttling sometimes answers 200 with
an empty page). Waits are settings, so tests run them at zero.

Bodies are read in chunks and decompressed here, with a bounded output per step, so a body
(or a gzip bomb) larger than `max_body` bytes, decompressed, is refused without being held in
memory. Parsing (feedparser, lxml) runs in a worker thread, so votes and commands keep flowing.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Generic, NoReturn, TypeVar

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from bot.errors import ArxivUnavailable, FeedError

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_MAX_BODY = 64 * 1024 * 1024  # bytes, decompressed; Settings.arxiv_max_body
_CHUNK = 256 * 1024  # bytes read, and at most decompressed, per step
_DECODERS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """A successful answer: the parsed body, or `None` with `not_modified` on a 304."""

    value: T | None
    not_modified: bool
    etag: str | None
    last_modified: str | None


class _Retryable(Exception):
    """A failure worth another try after a pause."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        feed_error: FeedError | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.feed_error = feed_error


class Pacer:
    """At most one request per `interval` seconds and one at a time, across processes.

    The lock file holds the wall-clock time the previous request ended. `flock` is released
    by the OS when a process dies, so a killed poller never blocks the next one.
    """

    def __init__(
        self,
        lock_path: Path,
        interval: float,
        sleep: Sleep = asyncio.sleep,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self.lock_path = lock_path
        self.interval = interval
        self.sleep = sleep
        self.wall_time = wall_time
        self._local = asyncio.Lock()

    async def run(self, request: Callable[[], Awaitable[T]]) -> T:
        async with self._local:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
                last = _read_float(fd)
                wait = last + self.interval - self.wall_time()
                if wait > 0:
                    await self.sleep(min(wait, self.interval))
                try:
                    return await request()
                finally:
                    os.lseek(fd, 0, os.SEEK_SET)
                    os.ftruncate(fd, 0)
                    os.write(fd, repr(self.wall_time()).encode())
            finally:
                os.close(fd)  # closing releases the flock


def _read_float(fd: int) -> float:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        return float(os.read(fd, 64).decode() or 0)
    except ValueError:
        return 0.0


class ArxivClient:
    """GET with pacing, retries and conditional headers; bodies checked by a parser."""

    def __init__(
        self,
        *,
        pacer: Pacer,
        user_agent: str,
        timeout: float,
        retries: int,
        retry_wait: float,
        sleep: Sleep = asyncio.sleep,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.pacer = pacer
        self.max_body = max_body
        self.user_agent = user_agent
        self.timeout = timeout
        self.retries = retries
        self.retry_wait = retry_wait
        self.sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ArxivClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1),
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip"},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            auto_decompress=False,  # _read_body decompresses, counting what comes out
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(
        self,
        url: str,
        parse: Callable[[bytes], T],
        *,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Fetched[T]:
        """Fetch `url` and parse it, retrying what is worth retrying.

        Raises ArxivUnavailable when every try failed to get an answer, and FeedError when
        arXiv kept answering with something `parse` rejects.
        """
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified

        async def attempt() -> Fetched[T]:
            raw = await self.pacer.run(lambda: self._request(url, headers))
            status, body, resp_etag, resp_modified = raw
            if status == 304:
                return Fetched(None, True, etag, last_modified)
            if status == 400:  # arXiv's answer to a malformed query: final, not retried
                await asyncio.to_thread(parse, body)  # raises FeedError with arXiv's message
                raise FeedError(f"arXiv answered HTTP 400 to {url}; check the query")
            try:
                value = await asyncio.to_thread(parse, body)
            except FeedError as exc:
                raise _Retryable(str(exc), feed_error=exc) from exc
            return Fetched(value, False, resp_etag, resp_modified)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self.sleep,
            before_sleep=lambda state: log.warning(
                "arXiv request failed (%s); try %d of %d in %.0f s",
                state.outcome.exception() if state.outcome else "?",
                state.attempt_number + 1,
                self.retries + 1,
                state.upcoming_sleep,
            ),
            reraise=True,
        )
        try:
            return await retrying(attempt)
        except _Retryable as exc:
            if exc.feed_error is not None:
                raise exc.feed_error from None
            raise ArxivUnavailable(
                f"arXiv did not answer usefully after {self.retries + 1} tries ({exc}); "
                "paperbot will try again at the next poll"
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, 300.0) if self.retry_wait else 0.0
        return float(wait_exponential(multiplier=self.retry_wait, max=300)(state))

    async def _request(
        self, url: str, headers: dict[str, str]
    ) -> tuple[int, bytes, str | None, str | None]:
        assert self._session is not None, "use ArxivClient as an async context manager"
        try:
            async with self._session.get(url, headers=headers) as resp:
                if resp.status == 429 or resp.status >= 500:
                    raise _Retryable(
                        f"HTTP {resp.status} from {url}",
                        retry_after=_retry_after(resp.headers.get("Retry-After")),
                    )
                body = await self._read_body(resp, url)
                if resp.status not in (200, 304, 400):
                    raise _Retryable(f"HTTP {resp.status} from {url}")
                return (
                    resp.status,
                    body,
                    resp.headers.get("ETag"),
                    resp.headers.get("Last-Modified"),
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _Retryable(f"{type(exc).__name__} talking to {url}: {exc}") from exc

    async def _read_body(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        """The decompressed body; FeedError (final, not retried) once it passes max_body."""
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in _DECODERS and encoding != "identity":
            raise _Retryable(f"{url} answered in an encoding paperbot did not ask for: {encoding}")
        if encoding == "identity" and (resp.content_length or 0) > self.max_body:
            self._too_large(resp, url, bytearray())
        decoder = zlib.decompressobj(_DECODERS[encoding]) if encoding in _DECODERS else None
        # One growing buffer: a large one is its own mapping, given back whole when dropped.
        body = bytearray()
        try:
            async for data in resp.content.iter_chunked(_CHUNK):
                while data:  # inflate at most _CHUNK bytes at a time: a bomb stays small
                    if decoder is None:
                        body += data
                        data = b""
                    else:
                        body += decoder.decompress(data, _CHUNK)
                        data = b"" if decoder.eof else decoder.unconsumed_tail
                    if len(body) > self.max_body:
                        self._too_large(resp, url, body)
            while decoder is not None and not decoder.eof:
                out = decoder.decompress(b"", _CHUNK)
                if not out:
                    break
                body += out
                if len(body) > self.max_body:
                    self._too_large(resp, url, body)
        except zlib.error as exc:
            body.clear()
            raise _Retryable(f"{url} sent a body that does not decompress ({exc})") from exc
        return bytes(body)

    def _too_large(self, resp: aiohttp.ClientResponse, url: str, body: bytearray) -> NoReturn:
        # Free the buffer now: the traceback keeps this frame, and so `body`, until the next
        # garbage collection, and another poll may come first.
        body.clear()
        resp.close()  # drop the connection rather than read the rest
        raise FeedError(
            f"arXiv's answer from {url} is larger than ARXIV_MAX_BODY ({self.max_body} bytes); "
            "raise ARXIV_MAX_BODY if arXiv's listings really grew that large"
        )


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
