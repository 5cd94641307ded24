"""`paperbot run`: the scheduler, the chats and the event consumer in one asyncio process.

Start-up: take the database's run lock (a second `run` on the same database refuses to
start), read the rules, open the chats and check their channels, settle posts whose outcome
is unknown, poll once, then follow the schedule. SIGTERM or Ctrl-C: stop scheduling, let
in-flight work finish (a few seconds at most), close connections, exit 0.
"""

from __future__ import annotations

import asyncio
import fcntl
import importlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, cast

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import open_store, pipeline, publisher
from bot.arxiv.api import build_query_url, parse_api_page
from bot.chat.base import Chat
from bot.chat.console import ConsoleChat
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.curator import Curator
from bot.errors import ConfigError
from bot.models import Paper, Route
from bot.publish import PublishResult
from bot.scheduling import add_job, crontab_trigger, guarded, next_fire, poll_triggers
from bot.service import Pipeline

log = logging.getLogger(__name__)

LISTING_CHECK = "0 3 * * mon-fri"  # US Eastern: well after the midnight rebuild's poll window
SHUTDOWN_GRACE = 6.0  # seconds in-flight work may take after SIGTERM (exit within 10 s)


@contextmanager
def run_lock(db_path: Path) -> Any:
    """An OS lock beside the database: released by the OS if the process dies."""
    path = db_path.with_name(db_path.name + ".run.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(
            f"cannot use the database folder {db_path.parent}: {exc.strerror}; "
            "check PAPERBOT_DB and that its folder exists and is writable"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            raise ConfigError(
                f"another paperbot run (pid {other}) is using {db_path}; stop it first, "
                "or set PAPERBOT_DB to another database"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


class InFlight:
    """Work started by jobs, tracked so that shutdown can let it finish."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def job(
        self, name: str, work: Callable[[], Awaitable[object]]
    ) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.create_task(_named(work), name=name)
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            await asyncio.shield(task)

        run.__name__ = name
        return run

    async def drain(self, grace: float) -> None:
        if self.tasks:
            log.info("waiting for %d job(s) to finish", len(self.tasks))
            _, late = await asyncio.wait(set(self.tasks), timeout=grace)
            for task in late:
                task.cancel()


async def _named(work: Callable[[], Awaitable[object]]) -> object:
    return await work()


async def build_chats(settings: Settings) -> dict[str, Chat]:
    """The chats the settings enable; the console chat when none is."""
    chats: dict[str, Chat] = {}
    if settings.paperbot_chat_plugin:
        module_name, _, attr = settings.paperbot_chat_plugin.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"PAPERBOT_CHAT_PLUGIN={settings.paperbot_chat_plugin} cannot be loaded: {exc}"
            ) from exc
        chat = cast(Chat, await factory(settings))
        chats[chat.platform] = chat
    if settings.slack_bot_token is not None:
        from bot.chat.slack import create_slack  # imported only when Slack is configured

        chats["slack"] = await create_slack(settings)
    if settings.discord_token is not None:
        from bot.chat.discord import create_discord

        chats["discord"] = await create_discord(settings)
    if not chats:
        chats["console"] = ConsoleChat()
    return chats


def fetcher(pipe: Pipeline, settings: Settings) -> Callable[[str], Awaitable[Paper | None]]:
    async def fetch(paper_id: str) -> Paper | None:
        url = build_query_url(settings.arxiv_api_url, id_list=[paper_id], max_results=1)
        fetched = await pipe.client.get(url, parse_api_page)
        page = fetched.value
        return page.papers[0] if page and page.papers else None

    return fetch


def publish_in_thread(settings: Settings, clock: Clock) -> Callable[[Route], PublishResult]:
    """Publishing runs in a worker thread with its own database connection."""

    def publish(route: Route) -> PublishResult:
        with open_store(settings, clock) as store:
            return publisher(settings, store).publish(route)

    return publish


@asynccontextmanager
async def running(
    settings: Settings, *, clock: Clock = system_clock
) -> AsyncIterator[tuple[Curator, Pipeline, dict[str, Chat]]]:
    """Everything `run` needs, opened in order and closed in reverse."""
    async with pipeline(settings, clock=clock) as pipe:
        chats = await build_chats(settings)
        curator = Curator(
            store=pipe.store,
            chats=chats,
            rules=pipe.rules,
            clock=clock,
            publish=publish_in_thread(settings, clock),
            fetch_paper=fetcher(pipe, settings),
            holidays=settings.paperbot_holidays,
        )
        started: list[Chat] = []
        try:
            for chat in chats.values():
                await chat.start(curator)
                started.append(chat)
            await curator.check_channels()
            yield curator, pipe, chats
        finally:
            for chat in reversed(started):
                try:
                    await chat.close()
                except Exception:  # closing must not hide why we stop
                    log.exception("closing the %s chat failed", chat.platform)


async def serve(settings: Settings, *, clock: Clock = system_clock) -> None:
    """Run until SIGTERM/SIGINT. Start-up problems raise PaperbotError (one sentence)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with run_lock(settings.paperbot_db):
        async with running(settings, clock=clock) as (curator, pipe, _chats):
            await curator.reconcile()
            flight = InFlight()
            scheduler = AsyncIOScheduler(timezone="UTC")

            async def poll() -> None:
                report = await pipe.poll_once()
                if report.matches:
                    log.info("%d new matches", len(report.matches))
                await curator.post_queued()

            poll_trigger = poll_triggers(
                settings.paperbot_poll_schedule, settings.paperbot_poll_timezone
            )
            add_job(scheduler, flight.job("poll", poll), poll_trigger, id="poll", name="poll")
            add_job(
                scheduler,
                flight.job("post", curator.post_queued),
                IntervalTrigger(seconds=60),
                id="post",
                name="post queued papers",
            )
            add_job(
                scheduler,
                flight.job("publish", curator.publish_due),
                IntervalTrigger(seconds=max(1.0, settings.paperbot_publish_interval)),
                id="publish",
                name="publish the lists",
            )
            add_job(
                scheduler,
                flight.job("expire", curator.expire_due),
                IntervalTrigger(minutes=30),
                id="expire",
                name="expire undecided papers",
            )
            add_job(
                scheduler,
                flight.job("listings", curator.check_listings),
                crontab_trigger(LISTING_CHECK, "America/New_York"),
                id="listings",
                name="missed-listing check",
            )
            for route in curator.routes():
                if route.digest is None:
                    continue
                name = route.name

                async def digest(name: str = name) -> None:
                    await curator.send_digest(name)

                add_job(
                    scheduler,
                    flight.job(f"digest:{name}", digest),
                    crontab_trigger(route.digest.cron, route.digest.timezone),
                    id=f"digest:{name}",
                    name=f"digest of {name}",
                )
            curator.next_poll = lambda: next_fire(poll_trigger, clock())
            scheduler.start()
            log.info("paperbot running; next poll at %s", next_fire(poll_trigger, clock()))
            first = asyncio.create_task(guarded(flight.job("poll", poll), name="first poll")())
            await stop.wait()
            log.info("stopping")
            scheduler.pause()
            await flight.drain(SHUTDOWN_GRACE)
            if not first.done():
                first.cancel()
            scheduler.shutdown(wait=False)
    log.info("paperbot stopped")
