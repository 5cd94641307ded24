"""When paperbot polls: crontab expressions with crontab's meaning on APScheduler 3.x.

Fire times come from the triggers, never from waiting; jobs are coalesced and guarded.
Day-of-week numbering, wrapping ranges, DST behaviour: docs/scheduling.md.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

DEFAULT_POLL_TIMEZONE = "America/New_York"
"""arXiv's own clock: the listing feed rebuilds at midnight here, EST or EDT."""

DEFAULT_POLL_SCHEDULE: tuple[str, ...] = (
    "*/5 0-2 * * mon-fri",
    "0 * * * *",
)
"""Crontab expressions (in :data:`DEFAULT_POLL_TIMEZONE`) for polling the listing feeds.

A new listing appears at the feed's midnight rebuild, Monday to Friday, sometimes up to about
two hours late. Every 5 minutes from 00:00 to 02:55 on those nights bounds the wait from
appearing to being polled at under 5 minutes for anything that appears by 03:00. Hourly the
rest of the week still notices holidays, deferrals, late rebuilds and stale categories on the
same day. Polls are conditional requests (ETag), so an unchanged feed costs arXiv a 304; the
total is 333 polls a week, half of a flat 15-minute interval (672) and a sixth of polling every
5 minutes all week (2016). See ``bench/schedule_delay.py`` for the measured delays.
"""

MISFIRE_GRACE_SECONDS = 3600
"""How late a run may start and still run, when the event loop stalled or the machine slept.

Runs are coalesced, so however many were missed, one runs. Within an hour, a late poll or
digest is still worth doing once; later than that, waiting for the next regular time is better
than a digest hours out of place. APScheduler's default (1 s) would skip a run over a brief
stall.
"""


# --- crontab -> APScheduler 3.x ---------------------------------------------------------------

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab order: sun = 0
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_APS_DAY_ORDER = (1, 2, 3, 4, 5, 6, 0)  # APScheduler 3.x's week: Monday first
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # 29: leap years exist


@dataclass(frozen=True)
class _Field:
    label: str  # "a minute", for messages
    low: int
    high: int  # largest value written, e.g. 7 for day-of-week
    hint: str
    names: tuple[str, ...] = ()  # names[i] means low + i
    star_high: int | None = None  # where "*" ends, when not at `high`
    week: int | None = None  # day-of-week only: values count modulo 7, ranges may wrap


_MINUTE = _Field("a minute", 0, 59, "0-59")
_HOUR = _Field("an hour", 0, 23, "0-23")
_DAY = _Field("a day of the month", 1, 31, "1-31")
_MONTH = _Field("a month", 1, 12, "1-12 or jan..dec", names=_MONTH_NAMES)
_WEEKDAY = _Field(
    "a day of the week",
    0,
    7,
    "sun..sat or 0-7",
    names=_DAY_NAMES,
    star_high=6,
    week=7,
)


def crontab_trigger(expr: str, timezone: str) -> CronTrigger:
    """A CronTrigger that fires when the 5-field crontab `expr` says, in `timezone`.

    Fields: minute, hour, day of month, month, day of week. Each is a comma list of ``*``,
    ``N``, ``A-B``, each optionally ``/STEP`` (``N/STEP`` runs from N to the field's end).
    Months may be named ``jan``..``dec``; days of the week ``sun``..``sat`` or 0-7 (0 and 7 are
    Sunday), and day-of-week ranges may wrap (``sun-thu``, ``5-1``; a step counts from the
    range's start). Names are case-insensitive. Raises ValueError naming the expression and the
    problem.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise _invalid(
            expr,
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}",
        )
    minute, hour, day, month, weekday = fields
    minutes, hours = _parse(expr, minute, _MINUTE), _parse(expr, hour, _HOUR)
    days, months = _parse(expr, day, _DAY), _parse(expr, month, _MONTH)
    weekdays = _parse(expr, weekday, _WEEKDAY)
    zone = _zone(expr, timezone)
    if not day.startswith("*") and not weekday.startswith("*"):
        raise _invalid(
            expr,
            "day-of-month and day-of-week are both restricted, which crontab reads as either "
            "and APScheduler as both; write two expressions instead",
        )
    if not any(d <= _DAYS_IN_MONTH[m - 1] for d in days for m in months):
        raise _invalid(expr, "none of its days of the month occur in its months, so it never fires")
    return CronTrigger(
        minute=_numbers(minutes, _MINUTE),
        hour=_numbers(hours, _HOUR),
        day=_numbers(days, _DAY),
        month=_numbers(months, _MONTH),
        day_of_week=_day_names(weekdays),
        timezone=zone,
    )


def _invalid(expr: str, problem: str) -> ValueError:
    return ValueError(f"cron {expr!r}: {problem}")


def _zone(expr: str, timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise _invalid(
            expr, f"{timezone!r} is not a known timezone (use an IANA name like America/New_York)"
        ) from None


def _parse(expr: str, text: str, field: _Field) -> set[int]:
    """The set of values one field selects (day-of-week as 0..6, Sunday = 0)."""
    values: set[int] = set()
    for item in text.split(","):
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
                raise _invalid(
                    expr, f"{step_text!r} in {item!r} is not a step (use a positive number)"
                )
            step = int(step_text)
        if body == "*":
            start = field.low
            end = field.high if field.star_high is None else field.star_high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = _value(expr, first, field), _value(expr, last, field)
            if end < start:
                if field.week is None:
                    raise _invalid(
                        expr,
                        f"{item!r} runs backwards (only day-of-week ranges may wrap round)",
                    )
                end += field.week  # fri-mon = 5-8: Fri, Sat, Sun (7), Mon (8)
        else:
            start = _value(expr, body, field)
            end = field.high if slash else start
        for value in range(start, end + 1, step):
            values.add(value % field.week if field.week else value)
    return values


def _value(expr: str, text: str, field: _Field) -> int:
    word = text.lower()
    if word in field.names:
        return field.low + field.names.index(word)
    if word.isascii() and word.isdigit() and field.low <= int(word) <= field.high:
        return int(word)
    shown = repr(text) if text else "an empty value"
    raise _invalid(expr, f"{shown} is not {field.label} (use {field.hint})")


def _numbers(values: set[int], field: _Field) -> str:
    """APScheduler's spelling of a numeric field: '*', or a list of values and A-B runs."""
    if values == set(range(field.low, field.high + 1)):
        return "*"
    runs: list[list[int]] = []
    for value in sorted(values):
        if runs and runs[-1][-1] == value - 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _day_names(days: set[int]) -> str:
    """APScheduler's spelling of day-of-week: '*', or day names, never numbers."""
    if len(days) == 7:
        return "*"
    return ",".join(_DAY_NAMES[d] for d in _APS_DAY_ORDER if d in days)


# --- schedules as data ------------------------------------------------------------------------


def poll_triggers(exprs: Sequence[str], timezone: str) -> CronTrigger | OrTrigger:
    """One trigger that fires whenever any of the crontab `exprs` does, in `timezone`."""
    if isinstance(exprs, str):
        raise TypeError("poll_triggers takes a sequence of crontab expressions, not one string")
    triggers = [crontab_trigger(expr, timezone) for expr in exprs]
    if not triggers:
        raise ValueError("a poll schedule needs at least one crontab expression")
    return triggers[0] if len(triggers) == 1 else OrTrigger(triggers)


def next_fire(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The trigger's first fire time strictly after `after` (aware), in UTC; None if none.

    Asked as ``get_next_fire_time(None, after + 1 µs)``: with no previous fire time, a cron or
    interval trigger answers "the first fire time at or after now" (cron rounds up to a whole
    second). A date or calendar-interval trigger answers its first fire time ever, however long
    ago, as the scheduler wants for misfires: such answers are stepped past with the trigger's
    ``(previous, now)`` form, `previous` as the trigger gave it (in its own zone, with its fold).
    """
    after = _utc(after, "after")
    moment = after + timedelta(microseconds=1)
    fire = trigger.get_next_fire_time(None, moment)
    while fire is not None and _utc(fire, "fire time") <= after:
        fire = trigger.get_next_fire_time(fire, moment)
    return None if fire is None else _utc(fire, "fire time")


def post_delay(trigger: BaseTrigger, appeared_at: datetime) -> timedelta:
    """How long a listing that appeared in the feed at `appeared_at` waits for its first poll.

    The first poll is the first fire time at or after `appeared_at` (a poll at that very second
    sees it). Raises ValueError when the trigger never fires again.
    """
    appeared = _utc(appeared_at, "appeared_at")
    poll = next_fire(trigger, appeared - timedelta(microseconds=1))
    if poll is None:
        raise ValueError(f"{trigger} never fires at or after {appeared.isoformat()}")
    return poll - appeared


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


# --- guarded jobs -----------------------------------------------------------------------------

JobFunc = Callable[[], Awaitable[object]]


def guarded(func: JobFunc, *, name: str) -> Callable[[], Coroutine[Any, Any, None]]:
    """`func` as a job that logs and swallows its exceptions; cancellation passes through."""

    @functools.wraps(func)
    async def run() -> None:
        try:
            await func()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s failed; the scheduler carries on", name)

    return run


def add_job(
    scheduler: AsyncIOScheduler,
    func: JobFunc,
    trigger: BaseTrigger,
    *,
    id: str,
    name: str,
    misfire_grace_time: int = MISFIRE_GRACE_SECONDS,
) -> Job:
    """Schedule the coroutine function `func` on `trigger`, guarded, as job `id`.

    Coalesced (missed runs run once), never two at a time, late runs allowed for
    `misfire_grace_time` seconds, and replacing any job with the same id.
    """
    if not inspect.iscoroutinefunction(func):
        raise TypeError(f"job {name!r} must be an async function, got {func!r}")
    return scheduler.add_job(
        guarded(func, name=name),
        trigger,
        id=id,
        name=name,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=misfire_grace_time,
        replace_existing=True,
    )


# --- the bot's jobs ------------------------------------------------------------------------

LISTING_CHECK = "0 3 * * mon-fri"  # US Eastern: well after the midnight rebuild's poll window
NIGHTLY_RETRAIN = "30 4 * * *"  # US Eastern: every route's model, from everything so far
RETRAIN_EVERY_MINUTES = 10  # a batch of decisions retrains within this (a no-op otherwise)
Wrap = Callable[[str, JobFunc], JobFunc]  # e.g. the runner's in-flight tracking


def register_jobs(
    scheduler: AsyncIOScheduler,
    app: App,
    *,
    poll: JobFunc,
    poll_trigger: BaseTrigger,
    publish_interval: float,
    wrap: Wrap,
) -> DigestJobs:
    """Every job `paperbot run` schedules: poll, post, publish, expire, listings, digests,
    and the learnt taste's retraining (after decisions, and nightly).

    After each poll the model's suggestions are queued and posted, and the digest jobs
    follow the routes file (added, changed or removed).
    """
    digests = DigestJobs(scheduler, app, wrap)
    taste = app.taste

    async def poll_then_follow_routes() -> None:
        try:
            await poll()
            if taste is not None and await taste.suggest():
                await app.poster.post_queued()
        finally:
            digests.sync()

    jobs: list[tuple[str, str, JobFunc, BaseTrigger]] = [
        ("poll", "poll", poll_then_follow_routes, poll_trigger),
        ("post", "post queued papers", app.poster.post_queued, IntervalTrigger(seconds=60)),
        (
            "publish",
            "publish the lists",
            app.decisions.publish_due,
            IntervalTrigger(seconds=max(1.0, publish_interval)),
        ),
        (
            "expire",
            "expire undecided papers",
            app.decisions.expire_due,
            IntervalTrigger(minutes=30),
        ),
        (
            "listings",
            "missed-listing check",
            app.digests.check_listings,
            crontab_trigger(LISTING_CHECK, "America/New_York"),
        ),
    ]
    if app.notes is not None:  # tags, TL;DRs, mentions: after posting, never in its way
        jobs.append(
            ("notes", "tag and summarise posts", app.notes.run, IntervalTrigger(seconds=60))
        )
    if app.mailer is not None:
        jobs.append(("mail", "e-mail digests", app.mailer.send_due, IntervalTrigger(minutes=15)))
    if taste is not None:  # training runs in a worker thread: votes are never kept waiting

        async def retrain_nightly() -> None:
            await taste.retrain(force=True)

        jobs += [
            (
                "retrain",
                "retrain after decisions",
                taste.retrain,
                IntervalTrigger(minutes=RETRAIN_EVERY_MINUTES),
            ),
            (
                "retrain-nightly",
                "retrain nightly",
                retrain_nightly,
                crontab_trigger(NIGHTLY_RETRAIN, "America/New_York"),
            ),
        ]
    for job_id, name, func, trigger in jobs:
        add_job(scheduler, wrap(job_id, func), trigger, id=job_id, name=name)
    digests.sync()
    return digests


class DigestJobs:
    """One job per route with a `[routes.digest]`, kept in step with the routes file."""

    def __init__(self, scheduler: AsyncIOScheduler, app: App, wrap: Wrap) -> None:
        self.scheduler = scheduler
        self.app = app
        self.wrap = wrap
        self.scheduled: dict[str, tuple[str, str]] = {}  # route -> (cron, timezone)

    def sync(self) -> None:
        wanted = {
            r.name: (r.digest.cron, r.digest.timezone)
            for r in self.app.channels.routes()
            if r.digest is not None
        }
        for name in set(self.scheduled) - set(wanted):
            if self.scheduler.get_job(f"digest:{name}") is not None:
                self.scheduler.remove_job(f"digest:{name}")
            log.info("digest of %s removed", name)
        for name, (cron, timezone) in wanted.items():
            if self.scheduled.get(name) == (cron, timezone):
                continue
            send = functools.partial(self.app.digests.send_digest, name)
            job_id = f"digest:{name}"
            add_job(
                self.scheduler,
                self.wrap(job_id, send),
                crontab_trigger(cron, timezone),
                id=job_id,
                name=f"digest of {name}",
            )
            if name in self.scheduled:
                log.info("digest of %s now at '%s' (%s)", name, cron, timezone)
        self.scheduled = wanted
