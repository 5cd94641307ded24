"""The arXiv client against a local server: pacing, retries, conditional requests, limits."""

from __future__ import annotations

import asyncio
import fcntl
import gzip
import json
import os
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pytest

from bot.arxiv.client import ArxivClient, Pacer
from bot.arxiv.feeds import parse_listing
from bot.errors import ArxivUnavailable, FeedError
from tests.fakes.arxiv import Answer, FakeArxiv, gzip_bomb, streamed
from tests.fakes.feeds import Item, rss

ROOT = Path(__file__).resolve().parents[1]

GOOD = rss(date(2026, 11, 24), [Item("2611.00001", "A paper")])


class Sleeps:
    """Records the waits asked for instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(
    tmp_path: Path,
    *,
    retries: int = 2,
    retry_wait: float = 0,
    timeout: float = 5,
    sleeps: Sleeps | None = None,
    interval: float = 0,
    max_body: int = 64 * 1024 * 1024,
) -> ArxivClient:
    sleep = sleeps or Sleeps()
    return ArxivClient(
        pacer=Pacer(tmp_path / "pace.lock", interval, sleep=sleep),
        user_agent="paperbot-test/1.0 (+https://example.org)",
        timeout=timeout,
        retries=retries,
        retry_wait=retry_wait,
        sleep=sleep,
        max_body=max_body,
    )


async def test_sends_identifying_user_agent(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.queue("/rss/cs.DC", Answer(GOOD))
    async with client(tmp_path) as c:
        got = await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)
    assert got.value is not None and got.value.listings[0].paper.id == "2611.00001"
    assert (
        fake_arxiv.requests[0].headers["User-Agent"] == "paperbot-test/1.0 (+https://example.org)"
    )


async def test_conditional_request_gets_not_modified(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.queue("/rss/cs.DC", Answer(GOOD, headers={"ETag": '"abc"'}))
    async with client(tmp_path) as c:
        first = await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)
        second = await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing, etag=first.etag)
    assert first.etag == '"abc"' and not first.not_modified
    assert second.not_modified and second.value is None
    assert fake_arxiv.requests[1].headers["If-None-Match"] == '"abc"'


@pytest.mark.parametrize(
    "failure",
    [
        Answer(b"Rate exceeded.", 429, content_type="text/plain"),
        Answer(b"oops", 500, content_type="text/plain"),
        Answer(b"", 200),  # throttled: an empty page with HTTP 200
        Answer(GOOD[: len(GOOD) // 2]),  # truncated XML
        Answer(b"<html><body>Service Unavailable</body></html>", 200, content_type="text/html"),
    ],
    ids=["429", "500", "empty-200", "truncated", "html"],
)
async def test_retries_a_failure_then_succeeds(
    tmp_path: Path, fake_arxiv: FakeArxiv, failure: Answer
) -> None:
    fake_arxiv.queue("/rss/cs.DC", failure, Answer(GOOD))
    async with client(tmp_path) as c:
        got = await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)
    assert got.value is not None and len(got.value.listings) == 1
    assert len(fake_arxiv.requests) == 2


async def test_backs_off_exponentially_and_honours_retry_after(
    tmp_path: Path, fake_arxiv: FakeArxiv
) -> None:
    fake_arxiv.queue(
        "/rss/cs.DC",
        Answer(b"", 503, content_type="text/plain"),
        Answer(b"", 503, content_type="text/plain"),
        Answer(b"slow down", 429, headers={"Retry-After": "42"}, content_type="text/plain"),
        Answer(GOOD),
    )
    sleeps = Sleeps()
    async with client(tmp_path, retries=3, retry_wait=5, sleeps=sleeps) as c:
        await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)
    assert sleeps.waits == [5.0, 10.0, 42.0]


async def test_gives_up_with_a_clear_error(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.queue("/rss/cs.DC", Answer(b"", 502, content_type="text/plain"))
    async with client(tmp_path, retries=2) as c:
        with pytest.raises(ArxivUnavailable, match=r"after 3 tries.*HTTP 502"):
            await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)
    assert len(fake_arxiv.requests) == 3


async def test_a_feed_that_stays_broken_reports_what_is_wrong(
    tmp_path: Path, fake_arxiv: FakeArxiv
) -> None:
    fake_arxiv.queue("/rss/cs.DC", Answer(GOOD[:300]))
    async with client(tmp_path, retries=1) as c:
        with pytest.raises(FeedError):
            await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)


async def test_timeout_is_retried(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.queue("/rss/cs.DC", Answer(GOOD, delay=2), Answer(GOOD))
    async with client(tmp_path, timeout=0.3) as c:
        got = await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)
    assert got.value is not None
    assert len(fake_arxiv.requests) == 2


async def test_unreachable_server_is_arxiv_unavailable(tmp_path: Path) -> None:
    async with client(tmp_path, retries=1) as c:
        with pytest.raises(ArxivUnavailable, match="paperbot will try again"):
            await c.get("http://127.0.0.1:9/rss/cs.DC", parse_listing)


async def test_pace_is_shared_through_the_lock_file(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    """Two pacers on one lock file stand for two processes on one database."""
    fake_arxiv.queue("/rss/cs.DC", Answer(GOOD))
    now = [1000.0]
    sleeps = Sleeps()
    first = Pacer(tmp_path / "pace.lock", 3.0, sleep=sleeps, wall_time=lambda: now[0])
    second = Pacer(tmp_path / "pace.lock", 3.0, sleep=sleeps, wall_time=lambda: now[0])

    async def request() -> None:
        return None

    await first.run(request)
    now[0] += 1.0
    await second.run(request)  # 1 s after the first one ended: must wait 2 more
    now[0] += 10.0
    await first.run(request)  # long after: no wait
    assert sleeps.waits == [2.0]


async def test_one_request_at_a_time_across_pacers(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.queue("/rss/cs.DC", Answer(GOOD, delay=0.2))
    a = client(tmp_path)
    b = client(tmp_path)  # its own Pacer on the same lock file
    async with a, b:
        await asyncio.gather(
            a.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing),
            b.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing),
        )
    first, second = fake_arxiv.requests
    assert second.at - first.at >= 0.2  # the second began only after the first was answered


# ---------------------------------------------------------------- hostile bodies


async def test_a_gzip_body_is_decompressed(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.queue(
        "/rss/cs.DC", Answer(gzip.compress(GOOD), headers={"Content-Encoding": "gzip"})
    )
    async with client(tmp_path) as c:
        got = await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)
    assert got.value is not None and got.value.listings[0].paper.id == "2611.00001"
    assert fake_arxiv.requests[0].headers["Accept-Encoding"] == "gzip"


@pytest.mark.parametrize(
    "answer",
    [
        streamed(3 * 1024 * 1024),
        streamed(3 * 1024 * 1024, chunked=True),
        gzip_bomb(3 * 1024 * 1024),
    ],
    ids=["content-length", "chunked", "gzip-bomb"],
)
async def test_a_body_over_the_cap_is_refused_once(
    tmp_path: Path, fake_arxiv: FakeArxiv, answer: Answer
) -> None:
    fake_arxiv.queue("/rss/cs.DC", answer)
    async with client(tmp_path, max_body=1024 * 1024) as c:
        with pytest.raises(FeedError, match=r"larger than ARXIV_MAX_BODY \(1048576 bytes\)"):
            await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)
    assert len(fake_arxiv.requests) == 1  # not retried: it would only be as large again


async def test_a_body_just_under_the_cap_is_read(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    body = gzip.compress(GOOD)
    fake_arxiv.queue("/rss/cs.DC", Answer(body, headers={"Content-Encoding": "gzip"}))
    async with client(tmp_path, max_body=len(GOOD)) as c:
        got = await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)
    assert got.value is not None


async def test_a_corrupt_gzip_body_is_retried(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    fake_arxiv.queue(
        "/rss/cs.DC",
        Answer(b"\x1f\x8b not gzip at all", headers={"Content-Encoding": "gzip"}),
        Answer(GOOD),
    )
    async with client(tmp_path) as c:
        got = await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)
    assert got.value is not None and len(fake_arxiv.requests) == 2


MEMORY_SCRIPT = """
import asyncio, json, resource, sys, tempfile
from pathlib import Path
from bot.arxiv.client import ArxivClient, Pacer
from bot.arxiv.feeds import parse_listing
from bot.errors import FeedError
from tests.fakes.arxiv import FakeArxiv, gzip_bomb, streamed

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

async def fetch(url, tmp):
    async def no_wait(_):
        return None
    client = ArxivClient(pacer=Pacer(Path(tmp) / "pace.lock", 0, sleep=no_wait),
                         user_agent="t", timeout=60, retries=0, retry_wait=0, sleep=no_wait)
    async with client:
        try:
            await client.get(url, parse_listing)
        except FeedError as exc:
            return str(exc)
    return "accepted"

fake = FakeArxiv().start()
fake.serve("/huge", streamed(300 * 1024 * 1024, chunked=True))
bomb = gzip_bomb(200 * 1024 * 1024)
fake.serve("/bomb", bomb)
with tempfile.TemporaryDirectory() as tmp:
    before = peak_mb()
    huge = asyncio.run(fetch(fake.url + "/huge", tmp))
    bomb_says = asyncio.run(fetch(fake.url + "/bomb", tmp))
    after = peak_mb()
fake.stop()
print(json.dumps({"growth_mb": after - before, "bomb_kb": len(bomb.body) / 1024,
                  "huge": huge, "bomb": bomb_says}))
"""


@pytest.mark.slow
def test_huge_bodies_and_gzip_bombs_stay_out_of_memory() -> None:
    """300 MB streamed and a ~200 KB gzip of 200 MB, at the default 64 MB cap: both refused,
    and the process's peak memory grows by well under 100 MB (it was 1.8 GB and 1.26 GB)."""
    run = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["bomb_kb"] < 300
    assert "larger than ARXIV_MAX_BODY" in result["huge"]
    assert "larger than ARXIV_MAX_BODY" in result["bomb"]
    assert result["growth_mb"] < 100, result


# ---------------------------------------------------------------- parsing off the event loop


async def test_parsing_runs_in_a_worker_thread(tmp_path: Path, fake_arxiv: FakeArxiv) -> None:
    """A 2000-item listing takes feedparser ~0.6 s: on the loop, votes would wait that long."""
    fake_arxiv.queue("/rss/cs.DC", Answer(GOOD))
    loop_thread = threading.get_ident()
    parsed_in: list[int] = []

    def parse(body: bytes) -> object:
        parsed_in.append(threading.get_ident())
        return parse_listing(body)

    async with client(tmp_path) as c:
        got = await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse)
    assert got.value is not None
    assert parsed_in and loop_thread not in parsed_in


# ---------------------------------------------------------------- bounded waits


async def test_a_pace_lock_held_by_another_process_is_waited_for_boundedly(
    tmp_path: Path, fake_arxiv: FakeArxiv
) -> None:
    """Another process stuck while holding the pace: this one gives up, it does not hang."""
    fake_arxiv.queue("/rss/cs.DC", Answer(GOOD))
    holder = os.open(tmp_path / "pace.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a separate open file: a second process, to flock
    try:
        async with client(tmp_path, retries=1, timeout=0.1) as c:
            with pytest.raises(ArxivUnavailable, match="pace lock"):
                await asyncio.wait_for(c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing), 20)
            waiting = asyncio.create_task(c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing))
            await asyncio.sleep(0)
            waiting.cancel()  # shutdown: the wait ends at once and leaves no thread behind
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(waiting, 5)
        assert threading.active_count() == 1 + _server_threads()
    finally:
        os.close(holder)
    assert fake_arxiv.requests == []
    async with client(tmp_path) as c:  # released: the next request goes through
        assert (await c.get(f"{fake_arxiv.url}/rss/cs.DC", parse_listing)).value is not None


def _server_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.daemon)
