"""The one place that wires settings, storage, arXiv and rules together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from bot.arxiv.client import ArxivClient, Pacer, Sleep
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.publish import Publisher
from bot.service import Pipeline, RulesSource
from storage.store import Store

log = logging.getLogger(__name__)


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


@asynccontextmanager
async def pipeline(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    dry_run: bool = False,
    sleep: Sleep | None = None,
) -> AsyncIterator[Pipeline]:
    """Open everything a poll needs and close it all afterwards.

    With `dry_run` the pipeline works on an in-memory copy of the database: nothing is written.
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
        sleep=wait,
    )
    try:
        async with client:
            yield Pipeline(settings=settings, store=work, client=client, rules=rules, clock=clock)
    finally:
        if work is not store:
            work.close()
        store.close()
