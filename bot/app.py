"""The composition root: the one place that constructs the bot's parts and wires them.

`open_app` opens everything (store, arXiv client, chats) and closes it in reverse; `wire`
builds the team loop from parts already open (tests use it with their own chats).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
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
from bot.mail import Mailer, Smtp
from bot.models import CommandEvent, Reply, Route, VoteEvent
from bot.notes import Notes
from bot.papers_command import FetchPaper, PapersCommand, StatusInfo
from bot.posting import Poster
from bot.publish import Publisher, PublishResult
from bot.subscriptions import Subscriptions
from bot.summarise import Summariser
from bot.tagging import Tagger
from bot.taste_loop import Taste
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
    notes: Notes | None = None  # tags, TL;DRs and subscribers' mentions, after posting
    mailer: Mailer | None = None  # e-mail digests, when PAPERBOT_SMTP_URL is set
    taste: Taste | None = None  # each route's learnt taste: scores, suggestions, retraining

    async def on_vote(self, event: VoteEvent) -> str | None:
        return await self.decisions.on_vote(event)

    async def on_command(self, event: CommandEvent) -> Reply:
        return await self.commands.on_command(event)

    async def on_votes_changed(self, channel: str, ref: str) -> None:
        await self.decisions.reconcile_post(channel, ref)


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
    summariser: Summariser | None = None,
    smtp: Smtp | None = None,
) -> App:
    """The team loop from parts already open. Without chats, `add` only queues."""
    channels = Channels(rules, chats, store)  # channel problems are kept for `status`
    taste = taste_for(store, lambda: rules.current()[0].routes, clock)
    poster = Poster(store=store, channels=channels, clock=clock, taste=taste)
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
        taste=taste,
    )
    notes = Notes(
        store=store,
        channels=channels,
        poster=poster,
        clock=clock,
        tagger=Tagger(store),
        subscriptions=Subscriptions(store=store, channels=channels),
        summariser=summariser,
    )
    mailer = Mailer(store=store, rules=rules, clock=clock, smtp=smtp) if smtp else None
    return App(
        store, clock, channels, poster, decisions, digests, commands, ingest, notes, mailer, taste
    )


def taste_for(store: Store, routes: Callable[[], Sequence[Route]], clock: Clock) -> Taste:
    """The routes' learnt taste over this store; the models live beside its file."""
    return Taste(store=store, routes=routes, clock=clock)


def summariser_from(settings: Settings, store: Store, clock: Clock) -> Summariser | None:
    """The summariser when LLM_API_KEY is set; None runs everything without it."""
    if settings.llm_api_key is None:
        return None
    return Summariser(
        store=store,
        clock=clock,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value(),
        model=settings.llm_model,
        max_calls_per_day=settings.llm_max_calls_per_day,
        timeout=settings.llm_timeout,
        retries=settings.llm_retries,
        retry_wait=settings.llm_retry_wait,
    )


def smtp_from(settings: Settings) -> Smtp | None:
    """Where e-mail digests go, when PAPERBOT_SMTP_URL is set."""
    if settings.paperbot_smtp_url is None:
        return None
    password = settings.paperbot_smtp_password
    return Smtp.from_url(
        settings.paperbot_smtp_url,
        user=settings.paperbot_smtp_user,
        password=password.get_secret_value() if password else None,
        sender=settings.paperbot_smtp_from,
        starttls=settings.paperbot_smtp_starttls,
        timeout=settings.paperbot_smtp_timeout,
    )


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


def publisher(settings: Settings, store: Store, abort: threading.Event | None = None) -> Publisher:
    token = settings.paperbot_git_token.get_secret_value() if settings.paperbot_git_token else None
    return Publisher(store, token=token, holidays=settings.paperbot_holidays, abort=abort)


class ThreadPublish:
    """Publishing (and syncing from the remote) in a worker thread, each call with its own
    database connection; setting `abort` kills the git call in flight (on SIGTERM)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.abort = threading.Event()

    def __call__(self, route: Route) -> PublishResult:
        with open_store(self.settings, self.clock) as store:
            return publisher(self.settings, store, self.abort).publish(route)

    def sync(self, route: Route) -> bool:
        with open_store(self.settings, self.clock) as store:
            return publisher(self.settings, store, self.abort).sync(route)


def publish_in_thread(settings: Settings, clock: Clock) -> ThreadPublish:
    """Publishing runs in a worker thread with its own database connection."""
    return ThreadPublish(settings, clock)


@asynccontextmanager
async def open_ingest(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    dry_run: bool = False,
    sleep: Sleep | None = None,
    one_shot: bool = False,
) -> AsyncIterator[Ingest]:
    """Open what a poll needs (rules, store, arXiv client) and close it afterwards.

    With `dry_run` ingest works on an in-memory copy of the database: nothing is written.
    `one_shot` (a command, not `run`): an unknown host or a refused connection fails at once.
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
        fail_fast=one_shot,
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


def warn_unused_channels(routes: Sequence[Route], chats: Mapping[str, Chat]) -> None:
    """A route naming a channel on a platform with no token posts nothing there: say so."""
    token = {"slack": "SLACK_BOT_TOKEN", "discord": "DISCORD_TOKEN"}
    for route in routes:
        for platform, channel in (
            ("slack", route.slack_channel),
            ("discord", route.discord_channel),
        ):
            if channel and platform not in chats:
                log.warning(
                    "route %s names %s channel %s, but %s is not set: nothing is posted there;"
                    " set %s in .env (or remove %s_channel)",
                    route.name,
                    platform,
                    channel,
                    token[platform],
                    token[platform],
                    platform,
                )


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
        if chats is None:
            warn_unused_channels(ingest.rules.current()[0].routes, opened)
        app = wire(
            store=ingest.store,
            rules=ingest.rules,
            clock=clock,
            chats=opened,
            publish=publish_in_thread(settings, clock),
            ingest=ingest,
            holidays=settings.paperbot_holidays,
            next_poll=next_poll,
            summariser=summariser_from(settings, ingest.store, clock),
            smtp=smtp_from(settings),
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
            if app.notes is not None and app.notes.summariser is not None:
                await app.notes.summariser.close()
