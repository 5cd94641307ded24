"""`paperbot run`: the run lock, signals, the schedule, and a graceful drain on SIGTERM.

Start-up: lock, open the app (rules, chats, channels checked), settle unknown posts, poll
once, then follow the schedule. SIGTERM or Ctrl-C: stop scheduling, let in-flight work
finish (SHUTDOWN_GRACE seconds at most), close connections, exit 0.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterable
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import ThreadPublish, open_app
from bot.chat.base import Chat
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.errors import ChatError, ConfigError
from bot.scheduling import guarded, next_fire, poll_triggers, register_jobs

log = logging.getLogger(__name__)

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


async def serve(settings: Settings, *, clock: Clock = system_clock) -> None:
    """Run until SIGTERM/SIGINT. Start-up problems raise PaperbotError (one sentence)."""
    stop, started = asyncio.Event(), asyncio.Event()
    main = asyncio.current_task()

    def on_signal() -> None:
        stop.set()
        if not started.is_set() and main is not None:
            main.cancel()  # start-up may wait on a chat or a lock: cut it short

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await _serve(settings, clock, stop, started)
    except asyncio.CancelledError:
        if not stop.is_set() or started.is_set():
            raise
        log.info("stopped during start-up")
    log.info("paperbot stopped")


async def _serve(
    settings: Settings, clock: Clock, stop: asyncio.Event, started: asyncio.Event
) -> None:
    poll_trigger = poll_triggers(settings.paperbot_poll_schedule, settings.paperbot_poll_timezone)

    def next_poll() -> datetime | None:
        return next_fire(poll_trigger, clock())

    with run_lock(settings.paperbot_db):
        async with open_app(settings, clock=clock, next_poll=next_poll) as app:
            app.store.verify()  # a read-only or corrupt database stops start-up, not a poll
            await app.poster.reconcile()
            await app.decisions.reconcile_votes()  # votes cast while the bot was down
            assert app.ingest is not None
            ingest = app.ingest

            async def poll() -> None:
                try:
                    report = await ingest.poll_once()
                finally:
                    app.store.set_next_poll(next_poll())  # what `paperbot status` reports
                if report.matches:
                    log.info("%d new matches", len(report.matches))
                await app.poster.post_queued()

            flight = InFlight()
            scheduler = AsyncIOScheduler(timezone="UTC")
            register_jobs(
                scheduler,
                app,
                poll=poll,
                poll_trigger=poll_trigger,
                publish_interval=settings.paperbot_publish_interval,
                wrap=flight.job,
            )
            scheduler.start()
            app.store.set_next_poll(next_poll())
            log.info("paperbot running; next poll at %s", next_poll())
            started.set()  # from here a signal drains in-flight work instead of cancelling
            first = asyncio.create_task(guarded(flight.job("poll", poll), name="first poll")())
            dead = await _until_stopped(stop, app.channels.chats.values())
            log.info("stopping")
            scheduler.pause()
            await flight.drain(SHUTDOWN_GRACE)
            if isinstance(app.decisions.publish, ThreadPublish):
                app.decisions.publish.abort.set()  # a git call still hanging is killed
            if not first.done():
                first.cancel()
            scheduler.shutdown(wait=False)
            if dead is not None:
                raise ChatError(dead)  # exit non-zero, so the supervisor restarts the bot


async def _until_stopped(stop: asyncio.Event, chats: Iterable[Chat]) -> str | None:
    """Wait for SIGTERM/SIGINT (None) or a chat that can no longer work (its sentence)."""
    waits = {asyncio.create_task(c.failed.wait()): c for c in chats}
    stopped = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({stopped, *waits}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopped, *waits):
            task.cancel()
    for task in done:
        if task in waits:
            return str(task.result())
    return None
