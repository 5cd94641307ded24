"""The one way paperbot talks to arXiv: paced, retried, conditional, identified, capped.

One request at a time and one pace per database, shared by every process through a lock
file; retries back off on 429, 5xx, timeouts and unusable bodies; bodies are capped after
decompression; parsing runs in a worker thread. The details: docs/arxiv.md.
"""

from __future__ import annotations

import asyncio
import email.utils
import fcntl
import logging
import os
import socket
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

from bot.errors import ArxivUnavailable, ConfigError, FeedError

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_MAX_BODY = 64 * 1024 * 1024  # bytes, decompressed; Settings.arxiv_max_body
_LOCK_POLL = 0.01  # seconds between tries for a pace lock another process holds
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
    by the OS when a process dies, so a killed poller never blocks the next one. The wait for
    the lock is bounded (`lock_wait`) and cancellable: it polls, never blocks a thread.
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

    async def run(self, request: Callable[[], Awaitable[T]], *, lock_wait: float = 60.0) -> T:
        """Run `request` holding the pace; _Retryable if another process holds it too long."""
        async with self._local:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise ConfigError(
                    f"cannot open the arXiv pace lock {self.lock_path}: {exc.strerror}; "
                    "check that the database folder (PAPERBOT_DB) exists and is writable"
                ) from exc
            try:
                await self._lock(fd, lock_wait)
                last = _read_float(fd)
                wait = last + self.interval - self.wall_time()
                if wait > 0:
                    await self.sleep(min(wait, self.interval))
                try:
                    return await request()
                finally:
                    _write_time(fd, self.wall_time())
            finally:
                os.close(fd)  # closing releases the flock

    async def _lock(self, fd: int, lock_wait: float) -> None:
        """Take the flock, polling: a cancelled wait leaves no thread blocked behind."""
        deadline = time.monotonic() + lock_wait
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                raise _Retryable(
                    f"another paperbot process held the arXiv pace lock {self.lock_path} "
                    f"for over {lock_wait:.0f} s"
                )
            if not waiting:
                waiting = True
                log.info("waiting for the arXiv pace lock %s (another process)", self.lock_path)
            await asyncio.sleep(_LOCK_POLL)


def _write_time(fd: int, moment: float) -> None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, repr(moment).encode())
    except OSError as exc:  # a full disk must not hide the request's own outcome
        log.warning("cannot record the arXiv pace in the lock file: %s", exc.strerror)


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
        fail_fast: bool = False,
    ) -> None:
        self.pacer = pacer
        self.fail_fast = fail_fast  # one-shot commands: no address or no listener is final
        self.max_body = max_body
        self.user_agent = user_agent
        self.timeout = timeout
        # Another process holds the pace for at most its pause and one request.
        self.lock_wait = 2 * (timeout + pacer.interval)
        self.retries = retries
        self.retry_wait = retry_wait
        self.sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ArxivClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1),
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip"},
            # `total` bounds the whole exchange: connect, headers and every byte of the body.
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
            raw = await self.pacer.run(
                lambda: self._request(url, headers), lock_wait=self.lock_wait
            )
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
                + (
                    "try again later"
                    if self.fail_fast
                    else "paperbot will try again at the next poll"
                )
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
                if 400 < resp.status < 500:  # a wrong address or a refusal: final
                    raise FeedError(
                        f"arXiv answered HTTP {resp.status} to {url}; "
                        "check ARXIV_RSS_URL, ARXIV_ATOM_URL and ARXIV_API_URL"
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
        except aiohttp.ClientConnectorError as exc:
            if self.fail_fast and _unreachable(exc):
                raise ArxivUnavailable(
                    f"cannot reach {url} ({exc}); check the network and the ARXIV_*_URL settings"
                ) from exc
            raise _Retryable(f"{type(exc).__name__} talking to {url}: {exc}") from exc
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


def _retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After in seconds, from either form: a number of seconds or an HTTP date."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now())


def _unreachable(exc: aiohttp.ClientConnectorError) -> bool:
    """No such host, or nothing listening: retrying within seconds will not change it."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return True
    return isinstance(exc.os_error, ConnectionRefusedError | socket.gaierror)
