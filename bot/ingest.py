"""Ingest: fetch arXiv listings and API pages -> store -> match; catch-up and backfill.

What is new is decided by the ids already in the store, never by dates or memory, so a
re-poll, a restart or a second process changes nothing already recorded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from bot.arxiv.api import build_query_url, category_query, parse_api_page
from bot.arxiv.client import ArxivClient
from bot.arxiv.feeds import parse_listing
from bot.clock import Clock
from bot.config import RulesSource, Settings
from bot.errors import ArxivUnavailable, FeedError, PaperbotError
from bot.listing_calendar import first_listing_date, latest_listing_date, listing_dates_between
from bot.matching import Matcher
from bot.models import ApiPage, FeedBatch, FeedRun, Incoming, Match, Paper, StoredPaper
from storage.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]  # (papers done, total if known)


@dataclass(frozen=True, slots=True)
class NewMatch:
    paper: StoredPaper
    match: Match


@dataclass
class PollReport:
    matches: list[NewMatch] = field(default_factory=list)
    runs: list[FeedRun] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(run.status == "error" for run in self.runs)


@dataclass
class BackfillReport:
    fetched: int = 0
    new_papers: int = 0
    splits: int = 0  # windows halved because they held more than one query serves
    matches: list[NewMatch] = field(default_factory=list)


def feed_key(categories: Sequence[str]) -> str:
    """One name for a set of categories, whatever order a route lists them in."""
    return "+".join(sorted(set(categories)))


def ids_digest(batch: FeedBatch) -> str:
    """A fingerprint of what a batch announces: ids with versions and announce types."""
    keys = sorted(
        {f"{item.paper.id}v{item.paper.version} {item.announce_type}" for item in batch.listings}
    )
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


class Ingest:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        client: ArxivClient,
        rules: RulesSource,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.rules = rules
        self.clock = clock

    async def fetch_by_id(self, paper_id: str) -> Paper | None:
        """One paper from the API by its id (None: arXiv has no such paper)."""
        url = build_query_url(self.settings.arxiv_api_url, id_list=[paper_id], max_results=1)
        fetched = await self.client.get(url, parse_api_page)
        page = fetched.value
        return page.papers[0] if page and page.papers else None

    # --- polling -----------------------------------------------------------------------------

    async def poll_once(self) -> PollReport:
        """Poll every route's combined listing feed once; catch up through the API on gaps."""
        config, matcher = self.rules.current()
        report = PollReport()
        feeds = {feed_key(route.categories): route.categories for route in config.routes}
        for key in feeds:
            await self._poll_feed(key, matcher, report)
        return report

    async def _poll_feed(self, key: str, matcher: Matcher, report: PollReport) -> None:
        fmt = self.settings.arxiv_feed_format
        source = f"{fmt}:{key}"
        url = self.settings.feed_url(key.split("+"))
        started = self.clock()
        last_ok = self.store.last_feed_run(source, ["ok", "quiet"])
        last_200 = self.store.last_feed_run(source, ["ok", "quiet", "stale"])
        covered = self._covered(source)

        try:
            fetched = await self.client.get(
                url,
                parse_listing,
                etag=last_200.etag if last_200 else None,
                last_modified=last_200.last_modified if last_200 else None,
            )
        except (FeedError, ArxivUnavailable) as exc:
            log.error("listing feed %s failed: %s", url, exc)
            self._record(report, FeedRun(source, started, "error", error=str(exc)))
            return

        delivered: date | None = None
        if fetched.not_modified or fetched.value is None:
            self._record(
                report,
                FeedRun(
                    source,
                    started,
                    "not-modified",
                    listing_date=last_200.listing_date if last_200 else None,
                    etag=fetched.etag,
                    last_modified=fetched.last_modified,
                ),
            )
            delivered = last_200.listing_date if last_200 else None
        else:
            batch = fetched.value
            digest = ids_digest(batch)
            common = {
                "listing_date": batch.listing_date,
                "items": len(batch.listings),
                "etag": fetched.etag,
                "last_modified": fetched.last_modified,
                "ids_digest": digest,
            }
            if (
                batch.listings
                and last_ok is not None
                and last_ok.ids_digest == digest
                and last_ok.listing_date != batch.listing_date
            ):
                log.warning(
                    "listing feed %s serves the batch of %s again under %s: stale, ignored",
                    url,
                    last_ok.listing_date,
                    batch.listing_date,
                )
                self._record(report, FeedRun(source, started, "stale", **common))  # type: ignore[arg-type]
            elif not batch.listings:
                log.info("listing feed %s: a quiet day (no papers) on %s", url, batch.listing_date)
                self._record(report, FeedRun(source, started, "quiet", **common))  # type: ignore[arg-type]
                delivered = batch.listing_date
            else:
                incoming = [
                    Incoming(
                        paper=listing.paper,
                        listing_date=batch.listing_date,
                        candidate=listing.announce_type.is_candidate,
                        source=source,
                    )
                    for listing in batch.listings
                ]
                new = self._store_and_match(incoming, matcher, "poll", report.matches)
                self._record(
                    report,
                    FeedRun(source, started, "ok", new_papers=new, **common),  # type: ignore[arg-type]
                )
                delivered = batch.listing_date

        await self._catch_up_gaps(source, key, covered, delivered, matcher, report)

    async def _catch_up_gaps(
        self,
        source: str,
        key: str,
        covered: date | None,
        delivered: date | None,
        matcher: Matcher,
        report: PollReport,
    ) -> None:
        """Fetch through the API every listing day between the last covered one and today's.

        Today's own listing is left to the feed (it may not be rebuilt yet); a day the feed
        never showed, because the bot was down or the feed was stale, is fetched here.
        """
        if covered is None:
            if delivered is not None:
                self._set_covered(source, delivered)
            return
        latest = latest_listing_date(self.clock(), self.settings.paperbot_holidays)
        missing = [
            day
            for day in listing_dates_between(covered, latest, self.settings.paperbot_holidays)
            if day != delivered and day < latest
        ]
        if missing:
            since = datetime.combine(missing[0], time(), UTC) - timedelta(
                days=self.settings.arxiv_catchup_days
            )
            log.info(
                "catching up %s through the API: listings of %s missed",
                key,
                ", ".join(d.isoformat() for d in missing),
            )
            try:
                await self._fetch_window(key, since, self.clock(), matcher, "catch-up", report)
            except PaperbotError as exc:
                log.error("catch-up of %s failed, will retry at the next poll: %s", key, exc)
                self._record(report, FeedRun(f"api:{key}", self.clock(), "error", error=str(exc)))
                return
        newest = max([covered, *missing, *([delivered] if delivered else [])])
        self._set_covered(source, newest)

    def _covered(self, source: str) -> date | None:
        return self.store.covered_until(source)

    def _set_covered(self, source: str, day: date) -> None:
        self.store.set_covered_until(source, day)

    # --- API windows (catch-up and backfill) -------------------------------------------------

    async def _fetch_window(
        self,
        key: str,
        since: datetime,
        until: datetime,
        matcher: Matcher,
        origin: str,
        report: PollReport | BackfillReport,
        *,
        resume_key: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Page through the API's answer for these categories over [since, until].

        A window with more results than one query serves (ARXIV_QUERY_LIMIT) is split in
        halves, oldest first, until each part fits. With `resume_key` the store keeps a valid
        point: all before the current part is done, and the part up to an offset within it.
        """
        limit = self.settings.arxiv_query_limit
        since, until = _minute(since), _minute(until)
        parts, offset = self._resume_point(resume_key, since, until)
        done = offset
        whole: int | None = None  # the whole window's result count, once seen
        start = offset if offset < limit else 0  # past the limit: not a point to resume from
        while parts:
            lo, hi = parts[-1]
            size = min(self.settings.arxiv_page_size, limit - start)
            url = build_query_url(
                self.settings.arxiv_api_url,
                search_query=category_query(key.split("+"), lo, hi),
                start=start,
                max_results=size,
            )
            fetched = await self.client.get(url, _page_checker(start))
            page = fetched.value
            assert page is not None
            total = page.total_results or 0
            if (lo, hi) == (since, until):
                whole = total
            if total > limit:
                parts.pop()
                parts.extend(reversed(_halves(key, lo, hi, total, limit)))
                start = 0
                if isinstance(report, BackfillReport):
                    report.splits += 1
                continue
            incoming = [
                Incoming(
                    paper=paper,
                    listing_date=first_listing_date(
                        paper.published, self.settings.paperbot_holidays
                    )
                    if paper.published
                    else None,
                    candidate=True,
                    source=f"api:{key}",
                )
                for paper in page.papers
            ]
            found: list[NewMatch] = []
            new = self._store_and_match(incoming, matcher, origin, found)
            report.matches.extend(found)
            if isinstance(report, BackfillReport):
                report.fetched += len(page.papers)
                report.new_papers += new
            self.store.record_feed_run(
                FeedRun(f"api:{key}", self.clock(), "ok", items=len(page.papers), new_papers=new)
            )
            start += len(page.papers)
            done += len(page.papers)
            finished = not page.papers or start >= total
            if resume_key:
                self._save_resume_point(resume_key, lo, hi, start, finished)
            if progress:
                progress(done, whole)
            if finished:
                parts.pop()
                start = 0
        if resume_key:
            for suffix in ("", ":from", ":to"):
                self.store.clear_backfill_resume(resume_key + suffix)

    def _resume_point(
        self, resume_key: str | None, since: datetime, until: datetime
    ) -> tuple[list[tuple[datetime, datetime]], int]:
        """The parts left (a stack, next on top) and the offset within the first of them."""
        if not resume_key:
            return [(since, until)], 0
        offset = self.store.backfill_resume(resume_key)
        lo = _from_minutes(self.store.backfill_resume(resume_key + ":from"))
        hi = _from_minutes(self.store.backfill_resume(resume_key + ":to"))
        if lo is None or not since <= lo <= until:
            return [(since, until)], offset  # a fresh start, or one saved before splitting
        if hi is None or not lo <= hi <= until:
            return [(lo, until)], 0
        rest = [(hi + _MINUTE, until)] if hi < until else []
        return [*rest, (lo, hi)], offset

    def _save_resume_point(
        self,
        resume_key: str,
        lo: datetime,
        hi: datetime,
        start: int,
        finished: bool,
    ) -> None:
        with self.store.atomic():
            if finished:  # the next part starts after this one, at its beginning
                self.store.set_backfill_resume(resume_key + ":from", _to_minutes(hi + _MINUTE))
                self.store.set_backfill_resume(resume_key + ":to", 0)
                self.store.set_backfill_resume(resume_key, 0)
            else:
                self.store.set_backfill_resume(resume_key + ":from", _to_minutes(lo))
                self.store.set_backfill_resume(resume_key + ":to", _to_minutes(hi))
                self.store.set_backfill_resume(resume_key, start)

    async def backfill(
        self,
        since: date,
        until: date,
        route: str | None = None,
        progress: Progress | None = None,
    ) -> BackfillReport:
        """Store and match every paper submitted in [since, until]; never posts. Resumable."""
        config, matcher = self.rules.current()
        routes = [config.route(route)] if route else list(config.routes)
        report = BackfillReport()
        start = datetime.combine(since, time(), UTC)
        end = datetime.combine(until, time(23, 59), UTC)
        for key in dict.fromkeys(feed_key(r.categories) for r in routes):
            await self._fetch_window(
                key,
                start,
                end,
                matcher,
                "backfill",
                report,
                resume_key=f"{key}:{since}:{until}",
                progress=progress,
            )
        return report

    # --- shared steps ------------------------------------------------------------------------

    def _store_and_match(
        self, incoming: Sequence[Incoming], matcher: Matcher, origin: str, out: list[NewMatch]
    ) -> int:
        """Store papers; match the candidates among those the store had never seen.

        One transaction: a crash can never leave a paper stored but unmatched (and so never
        posted), since "new" is decided by what the store has seen.
        """
        with self.store.atomic():
            result = self.store.upsert_papers(incoming)
            new_ids = set(result.new_ids)
            candidates: dict[str, Paper] = {
                i.paper.id: i.paper for i in incoming if i.candidate and i.paper.id in new_ids
            }
            fresh = self.store.add_matches(matcher.match_many(list(candidates.values())), origin)
        stored = {s.paper.id: s for s in self.store.get_papers([m.paper_id for m in fresh])}
        out.extend(NewMatch(stored[m.paper_id], m) for m in fresh)
        return len(new_ids)

    def _record(self, report: PollReport, run: FeedRun) -> None:
        self.store.record_feed_run(run)
        report.runs.append(run)


def _page_checker(start: int) -> Callable[[bytes], ApiPage]:
    """Parse an API page and refuse the empty page arXiv's throttling sometimes sends."""

    def check(body: bytes) -> ApiPage:
        page = parse_api_page(body)
        if not page.papers and page.total_results is not None and start < page.total_results:
            raise FeedError(
                f"arXiv sent an empty page at {start} of {page.total_results} results "
                "(throttled); retrying"
            )
        return page

    return check


_MINUTE = timedelta(minutes=1)


def _minute(moment: datetime) -> datetime:
    """Cut to the minute: the API's resolution for submittedDate."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _to_minutes(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def _from_minutes(minutes: int) -> datetime | None:
    return datetime.fromtimestamp(minutes * 60, UTC) if minutes > 0 else None


def _halves(
    key: str, lo: datetime, hi: datetime, total: int, limit: int
) -> list[tuple[datetime, datetime]]:
    """[lo, hi] in two halves, oldest first; FeedError when a minute alone is too large."""
    if hi - lo < _MINUTE:
        raise FeedError(
            f"arXiv holds {total} papers in {key} submitted at {lo:%Y-%m-%d %H:%M} UTC alone, "
            f"more than the {limit} one query serves; raise ARXIV_QUERY_LIMIT (at most 30000)"
        )
    mid = lo + (hi - lo) // 2
    mid = mid.replace(second=0, microsecond=0)
    log.info(
        "%s: %d papers submitted from %s to %s, more than one query serves (%d): "
        "fetching the window in two halves",
        key,
        total,
        f"{lo:%Y-%m-%d %H:%M}",
        f"{hi:%Y-%m-%d %H:%M}",
        limit,
    )
    return [(lo, mid), (mid + _MINUTE, hi)]
