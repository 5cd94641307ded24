"""The composition root: the one place that constructs the bot's parts and wires them.

`open_app` opens everything (store, arXiv client, chats) and closes it in reverse; `wire`
builds the team loop from parts already open (tests use it with their own chats).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import cast

from bot.arxiv.client import ArxivClient, Pacer, Sleep
from bot.channels import Channels
from bot.chat.base import Chat
from bot.chat.console import ConsoleChat
from bot.clock import Clock, system_clock
from bot.config import RulesSource, Settings
from bot.decisions import Decisions, Publish
from bot.digests import Digests
from bot.errors import ConfigError
from bot.ingest import Ingest
from bot.models import CommandEvent, Reply, Route, VoteEvent
from bot.papers_command import FetchPaper, PapersCommand, StatusInfo
from bot.posting import Poster
from bot.publish import Publisher, PublishResult
from storage.store import Store

log = logging.getLogger(__name__)

NextPoll = Callable[[], datetime | None]


@dataclass
class App:
    """The running bot's parts; also the handler the chats deliver events to."""

    store: Store
    clock: Clock
    channels: Channels
    poster: Poster
    decisions: Decisions
    digests: Digests
    commands: PapersCommand
    ingest: Ingest | None = None

    async def on_vote(self, event: VoteEvent) -> str | None:
        return await self.decisions.on_vote(event)

    async def on_command(self, event: CommandEvent) -> Reply:
        return await self.commands.on_command(event)


def wire(
    *,
    store: Store,
    rules: RulesSource,
    clock: Clock,
    chats: Mapping[str, Chat],
    publish: Publish | None = None,
    fetch: FetchPaper | None = None,
    ingest: Ingest | None = None,
    holidays: Sequence[date] = (),
    next_poll: NextPoll | None = None,
) -> App:
    """The team loop from parts already open. Without chats, `add` only queues."""
    channels = Channels(rules, chats)
    poster = Poster(store=store, channels=channels, clock=clock)
    decisions = Decisions(
        store=store, channels=channels, poster=poster, clock=clock, publish=publish
    )
    digests = Digests(store=store, channels=channels, poster=poster, clock=clock, holidays=holidays)
    commands = PapersCommand(
        store,
        clock,
        channels=channels,
        poster=poster if chats else None,
        fetch=fetch or (ingest.fetch_by_id if ingest else None),
        status=lambda: StatusInfo(
            next_poll=next_poll() if next_poll else None,
            unpublished=tuple(decisions.unpublished()),
        ),
    )
    return App(store, clock, channels, poster, decisions, digests, commands, ingest)


def pace_lock_path(db_path: Path) -> Path:
    """The file every paperbot process on this database shares arXiv's pace through."""
    return db_path.with_name(db_path.name + ".arxiv.lock")


@contextmanager
def open_store(settings: Settings, clock: Clock = system_clock) -> Iterator[Store]:
    store = Store.open(settings.paperbot_db, clock)
    try:
        yield store
    finally:
        store.close()


def publisher(settings: Settings, store: Store) -> Publisher:
    token = settings.paperbot_git_token.get_secret_value() if settings.paperbot_git_token else None
    return Publisher(store, token=token)


def publish_in_thread(settings: Settings, clock: Clock) -> Publish:
    """Publishing runs in a worker thread with its own database connection."""

    def publish(route: Route) -> PublishResult:
        with open_store(settings, clock) as store:
            return publisher(settings, store).publish(route)

    return publish


@asynccontextmanager
async def open_ingest(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    dry_run: bool = False,
    sleep: Sleep | None = None,
) -> AsyncIterator[Ingest]:
    """Open what a poll needs (rules, store, arXiv client) and close it afterwards.

    With `dry_run` ingest works on an in-memory copy of the database: nothing is written.
    """
    rules = RulesSource(settings.paperbot_config)
    rules.current()  # a broken routes file stops start-up here, with its line number
    store = Store.open(settings.paperbot_db, clock)
    work = store.copy_in_memory() if dry_run else store
    wait = sleep or asyncio.sleep
    pacer = Pacer(pace_lock_path(settings.paperbot_db), settings.arxiv_min_interval, sleep=wait)
    client = ArxivClient(
        pacer=pacer,
        user_agent=settings.arxiv_user_agent,
        timeout=settings.arxiv_timeout,
        retries=settings.arxiv_retries,
        retry_wait=settings.arxiv_retry_wait,
        max_body=settings.arxiv_max_body,
        sleep=wait,
    )
    try:
        async with client:
            yield Ingest(settings=settings, store=work, client=client, rules=rules, clock=clock)
    finally:
        if work is not store:
            work.close()
        store.close()


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


@asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    chats: Mapping[str, Chat] | None = None,
    next_poll: NextPoll | None = None,
) -> AsyncIterator[App]:
    """Everything the bot needs, opened in order and closed in reverse.

    `chats=None` builds the chats the settings enable and starts them (checking every
    route's channel); the CLI passes `{}`: no chat, and `add` only queues.
    """
    async with open_ingest(settings, clock=clock) as ingest:
        opened = await build_chats(settings) if chats is None else dict(chats)
        app = wire(
            store=ingest.store,
            rules=ingest.rules,
            clock=clock,
            chats=opened,
            publish=publish_in_thread(settings, clock),
            ingest=ingest,
            holidays=settings.paperbot_holidays,
            next_poll=next_poll,
        )
        started: list[Chat] = []
        try:
            for chat in opened.values():
                await chat.start(app)
                started.append(chat)
            await app.channels.check()
            yield app
        finally:
            for chat in reversed(started):
                try:
                    await chat.close()
                except Exception:  # closing must not hide why we stop
                    log.exception("closing the %s chat failed", chat.platform)
