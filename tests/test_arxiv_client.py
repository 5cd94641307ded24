"""The arXiv client against a local server: pacing, retries, conditional requests."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from bot.arxiv.client import ArxivClient, Pacer
from bot.arxiv.feeds import parse_listing
from bot.errors import ArxivUnavailable, FeedError
from tests.fakes.arxiv import Answer, FakeArxiv
from tests.fakes.feeds import Item, rss

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
) -> ArxivClient:
    sleep = sleeps or Sleeps()
    return ArxivClient(
        pacer=Pacer(tmp_path / "pace.lock", interval, sleep=sleep),
        user_agent="paperbot-test/1.0 (+https://example.org)",
        timeout=timeout,
        retries=retries,
        retry_wait=retry_wait,
        sleep=sleep,
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
