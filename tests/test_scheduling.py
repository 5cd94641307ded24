"""Schedules, from the triggers' own fire times with a given `now`, and guarded jobs on a real
AsyncIOScheduler."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from hypothesis import assume, example, given
from hypothesis import strategies as st

from bot.listing_calendar import is_listing_day
from bot.scheduling import (
    DEFAULT_POLL_SCHEDULE,
    DEFAULT_POLL_TIMEZONE,
    MISFIRE_GRACE_SECONDS,
    add_job,
    crontab_trigger,
    guarded,
    next_fire,
    poll_triggers,
    post_delay,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Python's weekday() order
CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab's: 0 = sun
# Monday 2026-11-23, 12:00 Eastern: a week from here is an ordinary week (no DST change).
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=NY)


def fires(trigger: BaseTrigger, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time in (start, end], by asking the trigger, never by waiting."""
    out: list[datetime] = []
    fire = next_fire(trigger, start)
    while fire is not None and fire <= end:
        out.append(fire)
        fire = next_fire(trigger, fire)
    return out


def fire_days(expr: str) -> list[str]:
    """Eastern weekday names of one week of fire times, in firing order from Monday noon."""
    trigger = crontab_trigger(expr, "America/New_York")
    week = fires(trigger, MONDAY_NOON, MONDAY_NOON + timedelta(days=7))
    return [DAYS[f.astimezone(NY).weekday()] for f in week]


def in_zone(moments: list[datetime], zone: ZoneInfo) -> list[str]:
    return [m.astimezone(zone).isoformat() for m in moments]


# --- crontab meaning ----------------------------------------------------------------------------


def test_announcement_times_fire_sunday_to_thursday_at_20_eastern() -> None:
    trigger = crontab_trigger("0 20 * * 0-4", "America/New_York")
    week = fires(trigger, MONDAY_NOON, MONDAY_NOON + timedelta(days=7))
    assert in_zone(week, NY) == [
        "2026-11-23T20:00:00-05:00",  # Monday
        "2026-11-24T20:00:00-05:00",
        "2026-11-25T20:00:00-05:00",
        "2026-11-26T20:00:00-05:00",  # Thursday
        "2026-11-29T20:00:00-05:00",  # Sunday; no Friday, no Saturday
    ]


def test_apscheduler_from_crontab_is_the_trap_we_avoid() -> None:
    """If this starts failing, APScheduler changed its numbering: revisit the translation."""
    theirs = CronTrigger.from_crontab("0 20 * * 0-4", timezone=NY)
    week = fires(theirs, MONDAY_NOON, MONDAY_NOON + timedelta(days=7))
    assert sorted({DAYS[f.astimezone(NY).weekday()] for f in week}) == sorted(
        ["mon", "tue", "wed", "thu", "fri"]
    )
    with pytest.raises(ValueError):  # noqa: PT011 - APScheduler's own message
        CronTrigger.from_crontab("0 9 * * sun-thu", timezone=NY)


@pytest.mark.parametrize(
    ("dow", "days"),
    [
        ("mon-fri", "mon tue wed thu fri"),
        ("sun-thu", "mon tue wed thu sun"),
        ("0-4", "mon tue wed thu sun"),
        ("1-5", "mon tue wed thu fri"),
        ("7", "sun"),
        ("0", "sun"),
        ("SUN", "sun"),
        ("sat,sun", "sat sun"),
        ("5-1", "mon fri sat sun"),
        ("thu-sun", "thu fri sat sun"),
        ("fri-mon/2", "fri sun"),
        ("1-5/2", "mon wed fri"),
        ("*/2", "tue thu sat sun"),
        ("0-7", "mon tue wed thu fri sat sun"),
        ("1-7", "mon tue wed thu fri sat sun"),
        ("6-0", "sat sun"),
        ("sat-sat", "sat"),
        ("5/1", "fri sat sun"),
        ("mon,wed-fri,sun", "mon wed thu fri sun"),
        ("*", "mon tue wed thu fri sat sun"),
    ],
)
def test_day_of_week_fields_fire_on_crontab_days(dow: str, days: str) -> None:
    assert sorted(set(fire_days(f"0 9 * * {dow}"))) == sorted(days.split())


def test_weekday_nine_o_clock() -> None:
    assert fire_days("0 9 * * mon-fri") == ["tue", "wed", "thu", "fri", "mon"]  # from Mon noon
    assert fire_days("0 9 * * sun-thu") == ["tue", "wed", "thu", "sun", "mon"]


def test_every_five_minutes_after_midnight_on_weekdays() -> None:
    trigger = crontab_trigger("*/5 0-2 * * 1-5", "America/New_York")
    start = datetime(2026, 11, 20, 23, 0, tzinfo=NY)  # Friday evening
    weekend_and_monday = fires(trigger, start, start + timedelta(days=2, hours=4))
    local = [f.astimezone(NY) for f in weekend_and_monday]
    assert {f.date() for f in local} == {date(2026, 11, 23)}  # nothing Saturday or Sunday
    assert len(local) == 36
    assert local[0].isoformat() == "2026-11-23T00:00:00-05:00"
    assert local[-1].isoformat() == "2026-11-23T02:55:00-05:00"
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(local))


def test_zero_and_seven_are_both_sunday() -> None:
    assert fire_days("0 0 * * 7") == ["sun"]
    assert fire_days("0 0 * * 7") == fire_days("0 0 * * 0") == fire_days("0 0 * * sun")


def test_other_fields() -> None:
    trigger = crontab_trigger("15 6 1,15 jan-mar *", "UTC")
    year = fires(trigger, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert [f.strftime("%m-%d %H:%M") for f in year] == [
        "01-01 06:15",
        "01-15 06:15",
        "02-01 06:15",
        "02-15 06:15",
        "03-01 06:15",
        "03-15 06:15",
    ]
    every_other = crontab_trigger("0 0 */10 * *", "UTC")
    march = fires(every_other, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    assert [f.day for f in march] == [11, 21, 31]  # the 1st is not after the start


@given(days=st.sets(st.integers(0, 7), min_size=1), names=st.booleans())
def test_any_list_of_days_fires_on_exactly_those_days(days: set[int], names: bool) -> None:
    field = ",".join(CRON_DAY_NAMES[d % 7] if names else str(d) for d in sorted(days))
    expected = {DAYS[(d + 6) % 7] for d in days}  # crontab 0 = Sunday -> Python 6
    assert set(fire_days(f"0 9 * * {field}")) == expected


@given(first=st.integers(0, 6), last=st.integers(0, 6), names=st.booleans())
def test_a_range_and_its_reverse_cover_the_week(first: int, last: int, names: bool) -> None:
    """a-b and b-a (wrapping) share only their ends and together make the whole week."""
    assume(first != last)

    def spell(d: int) -> str:
        return CRON_DAY_NAMES[d] if names else str(d)

    forward = set(fire_days(f"0 9 * * {spell(first)}-{spell(last)}"))
    backward = set(fire_days(f"0 9 * * {spell(last)}-{spell(first)}"))
    ends = {DAYS[(first + 6) % 7], DAYS[(last + 6) % 7]}
    assert forward & backward == ends
    assert forward | backward == set(DAYS)


# --- DST --------------------------------------------------------------------------------------


def test_nine_eastern_stays_nine_across_both_dst_changes() -> None:
    trigger = crontab_trigger("0 9 * * *", "America/New_York")
    spring = fires(trigger, datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))
    assert [f.strftime("%d %H:%M") for f in spring] == ["07 14:00", "08 13:00", "09 13:00"]
    autumn = fires(trigger, datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    assert [f.strftime("%d %H:%M") for f in autumn] == ["31 13:00", "01 14:00", "02 14:00"]


def test_new_york_spring_gap_and_autumn_repeat() -> None:
    """APScheduler 3.11's behaviour, pinned: a gap time runs an hour late, a repeated time twice."""
    gap = crontab_trigger("30 2 * * *", "America/New_York")
    spring = fires(gap, datetime(2026, 3, 7, 12, tzinfo=NY), datetime(2026, 3, 9, 12, tzinfo=NY))
    assert in_zone(spring, NY) == ["2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"]

    repeat = crontab_trigger("30 1 * * *", "America/New_York")
    autumn = fires(repeat, datetime(2026, 10, 31, 12, tzinfo=NY), datetime(2026, 11, 2, tzinfo=NY))
    assert in_zone(autumn, NY) == ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00"]

    hourly_steps = crontab_trigger("*/30 0-3 * * *", "America/New_York")
    skipped = fires(
        hourly_steps, datetime(2026, 3, 8, tzinfo=NY), datetime(2026, 3, 8, 4, tzinfo=NY)
    )
    assert [f.astimezone(NY).strftime("%H:%M") for f in skipped] == [
        "00:30",
        "01:00",
        "01:30",
        "03:00",  # 02:00 and 02:30 do not exist that night
        "03:30",
    ]


def test_berlin_dst_changes() -> None:
    nine = crontab_trigger("0 9 * * *", "Europe/Berlin")
    spring = fires(nine, datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    assert [f.strftime("%d %H:%M") for f in spring] == ["28 08:00", "29 07:00", "30 07:00"]
    autumn = fires(nine, datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC))
    assert [f.strftime("%d %H:%M") for f in autumn] == ["24 07:00", "25 08:00", "26 08:00"]

    half_past_two = crontab_trigger("30 2 * * *", "Europe/Berlin")
    gap = fires(
        half_past_two, datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN)
    )
    assert in_zone(gap, BERLIN) == ["2026-03-29T03:30:00+02:00"]
    repeat = fires(
        half_past_two, datetime(2026, 10, 25, tzinfo=BERLIN), datetime(2026, 10, 26, tzinfo=BERLIN)
    )
    assert in_zone(repeat, BERLIN) == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]


def test_next_fire_walks_through_the_repeated_hour() -> None:
    """Every 20 real minutes through 01:00-02:00 twice; asking with a UTC `previous` would stick."""
    trigger = crontab_trigger("*/20 * * * *", "America/New_York")
    night = fires(
        trigger, datetime(2026, 11, 1, 0, 50, tzinfo=NY), datetime(2026, 11, 1, 7, tzinfo=UTC)
    )
    assert night[0] == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # 01:00 EDT
    assert night[-1] == datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # 02:00 EST
    assert all(b - a == timedelta(minutes=20) for a, b in itertools.pairwise(night))
    assert len(night) == 7


# --- next_fire, post_delay, the default poll schedule ------------------------------------------


def test_next_fire_is_strictly_after_and_in_utc() -> None:
    trigger = crontab_trigger("0 9 * * *", "America/New_York")
    nine = datetime(2026, 11, 24, 9, 0, tzinfo=NY)
    assert next_fire(trigger, nine) == datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert next_fire(trigger, nine - timedelta(microseconds=1)) == nine
    assert next_fire(trigger, nine - timedelta(hours=1)) == nine
    assert next_fire(trigger, nine).tzinfo is UTC  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="aware"):
        next_fire(trigger, datetime(2026, 11, 24, 9, 0))


def test_next_fire_of_a_finished_trigger_is_none() -> None:
    once = DateTrigger(run_date=datetime(2026, 1, 1, tzinfo=UTC))
    assert next_fire(once, datetime(2026, 6, 1, tzinfo=UTC)) is None
    with pytest.raises(ValueError, match="never fires"):
        post_delay(once, datetime(2026, 6, 1, tzinfo=UTC))


def test_post_delay_counts_to_the_first_poll_at_or_after() -> None:
    trigger = poll_triggers(DEFAULT_POLL_SCHEDULE, DEFAULT_POLL_TIMEZONE)
    midnight = datetime(2026, 11, 24, 0, 0, tzinfo=NY)
    assert post_delay(trigger, midnight) == timedelta(0)
    assert post_delay(trigger, midnight + timedelta(seconds=1)) == timedelta(minutes=5, seconds=-1)
    assert post_delay(trigger, midnight + timedelta(minutes=121)) == timedelta(minutes=4)
    saturday = datetime(2026, 11, 28, 0, 1, tzinfo=NY)
    assert post_delay(trigger, saturday) == timedelta(minutes=59)


def _is_default_poll_minute(moment: datetime) -> bool:
    """The default schedule written out by hand, for one UTC minute."""
    local = moment.astimezone(NY)
    in_window = local.weekday() < 5 and local.hour <= 2 and local.minute % 5 == 0
    return local.minute == 0 or in_window


YEAR_2026 = datetime(2026, 1, 1, tzinfo=UTC)


@given(offset=st.integers(0, 365 * 24 * 3600 - 1), micros=st.integers(0, 999_999))
@example(
    offset=int((datetime(2026, 3, 8, 6, 59, tzinfo=UTC) - YEAR_2026).total_seconds()), micros=0
)
@example(
    offset=int((datetime(2026, 11, 1, 5, 55, tzinfo=UTC) - YEAR_2026).total_seconds()), micros=0
)
@example(
    offset=int((datetime(2026, 11, 1, 6, 0, tzinfo=UTC) - YEAR_2026).total_seconds()), micros=0
)
def test_default_schedule_next_fire_matches_a_minute_by_minute_scan(
    offset: int, micros: int
) -> None:
    trigger = poll_triggers(DEFAULT_POLL_SCHEDULE, DEFAULT_POLL_TIMEZONE)
    after = YEAR_2026 + timedelta(seconds=offset, microseconds=micros)
    minute = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while not _is_default_poll_minute(minute):
        minute += timedelta(minutes=1)
    assert next_fire(trigger, after) == minute


LISTING_DAYS_2026 = [
    day for day in (date(2026, 1, 1) + timedelta(days=n) for n in range(365)) if is_listing_day(day)
]


@given(
    listing_day=st.sampled_from(LISTING_DAYS_2026),
    minutes=st.integers(0, 120),
    seconds=st.integers(0, 59),
)
def test_default_schedule_posts_within_five_minutes_of_a_listing(
    listing_day: date, minutes: int, seconds: int
) -> None:
    appeared = datetime.combine(listing_day, datetime.min.time(), tzinfo=NY) + timedelta(
        minutes=minutes, seconds=seconds
    )
    trigger = poll_triggers(DEFAULT_POLL_SCHEDULE, DEFAULT_POLL_TIMEZONE)
    assert timedelta(0) <= post_delay(trigger, appeared) < timedelta(minutes=5)


def test_default_schedule_follows_eastern_midnight_across_dst() -> None:
    trigger = poll_triggers(DEFAULT_POLL_SCHEDULE, DEFAULT_POLL_TIMEZONE)
    before = next_fire(trigger, datetime(2026, 3, 1, 23, 59, tzinfo=NY))  # Sunday, EST
    after = next_fire(trigger, datetime(2026, 3, 8, 23, 59, tzinfo=NY))  # Sunday, EDT
    assert before == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    assert after == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)


def test_poll_triggers_shapes() -> None:
    one = poll_triggers(["0 * * * *"], "UTC")
    assert isinstance(one, CronTrigger)
    with pytest.raises(ValueError, match="at least one"):
        poll_triggers([], "UTC")
    with pytest.raises(TypeError):
        poll_triggers("0 * * * *", "UTC")
    with pytest.raises(ValueError, match="'0 9 \\* \\* funday'"):
        poll_triggers(["0 * * * *", "0 9 * * funday"], "UTC")


# --- invalid expressions ------------------------------------------------------------------------


def test_unknown_day_name_message() -> None:
    with pytest.raises(ValueError, match=r"^cron '0 9 \* \* funday': ") as caught:
        crontab_trigger("0 9 * * funday", "UTC")
    assert str(caught.value) == (
        "cron '0 9 * * funday': 'funday' is not a day of the week (use sun..sat or 0-7)"
    )


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("0 9 * *", "expected 5 fields"),
        ("0 9 * * * *", "got 6"),
        ("", "got 0"),
        ("60 * * * *", "'60' is not a minute (use 0-59)"),
        ("0 24 * * *", "'24' is not an hour"),
        ("0 0 0 * *", "'0' is not a day of the month"),
        ("0 0 * 13 *", "'13' is not a month (use 1-12 or jan..dec)"),
        ("0 0 * * 8", "'8' is not a day of the week"),
        ("0 0 * * monday", "'monday' is not a day of the week"),
        ("0 0 * * -1", "an empty value is not a day of the week"),
        ("1,,2 * * * *", "an empty value is not a minute"),
        ("x * * * *", "'x' is not a minute"),
        ("٣ * * * *", "'٣' is not a minute"),
        ("0 5-2 * * *", "'5-2' runs backwards"),
        ("0 0 * dec-jan *", "'dec-jan' runs backwards"),
        ("*/0 * * * *", "is not a step"),
        ("*/x * * * *", "is not a step"),
        ("*/ * * * *", "is not a step"),
        ("0 9 1 * mon", "both restricted"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 30,31 feb *", "never fires"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expr: str, problem: str) -> None:
    with pytest.raises(ValueError, match=r"^cron ") as caught:
        crontab_trigger(expr, "UTC")
    message = str(caught.value)
    assert repr(expr) in message
    assert problem in message
    assert message.count("\n") == 0


@pytest.mark.parametrize("zone", ["Mars/Base", "", "America", "../etc/passwd", "EST5EDT/x"])
def test_unknown_timezones(zone: str) -> None:
    with pytest.raises(ValueError, match=f"cron '0 0 \\* \\* \\*': {zone!r} is not a known"):
        crontab_trigger("0 0 * * *", zone)


def test_leap_day_and_dom_with_star_step_are_fine() -> None:
    leap = crontab_trigger("0 0 29 2 *", "UTC")
    assert next_fire(leap, datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2028, 2, 29, tzinfo=UTC)
    odd_mondays = crontab_trigger("0 0 */2 * mon", "UTC")  # "*..." day-of-month: both must match
    march = fires(odd_mondays, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert [f.day for f in march] == [9, 23]


@given(st.text(max_size=40))
def test_garbage_raises_only_value_error(text: str) -> None:
    try:
        crontab_trigger(text, "UTC")
    except ValueError as error:
        message = str(error)
    else:
        return
    assert message.startswith(f"cron {text!r}: ")
    assert "\n" not in message


@given(
    st.lists(
        st.sampled_from(["*", "*/5", "0", "7", "1-5", "sun-thu", "5-1", "0-7", "mon", "x", "9"]),
        min_size=5,
        max_size=5,
    )
)
def test_field_soup_either_builds_or_raises_value_error(fields: list[str]) -> None:
    expr = " ".join(fields)
    try:
        trigger = crontab_trigger(expr, "Europe/Berlin")
    except ValueError as error:
        message = str(error)
    else:
        assert next_fire(trigger, YEAR_2026) is not None
        return
    assert message.startswith(f"cron {expr!r}: ")


# --- guarded jobs -------------------------------------------------------------------------------


async def test_guarded_logs_and_swallows_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise RuntimeError("feed exploded")

    caplog.set_level(logging.ERROR, logger="bot.scheduling")
    await guarded(boom, name="poll")()  # does not raise
    [record] = caplog.records
    assert "poll" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_guarded_lets_cancellation_through(caplog: pytest.LogCaptureFixture) -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await guarded(cancelled, name="poll")()

    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(guarded(forever, name="digest")())
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert caplog.records == []


async def test_add_job_options_and_replacement() -> None:
    async def poll() -> None:
        pass

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start(paused=True)
    try:
        trigger = poll_triggers(DEFAULT_POLL_SCHEDULE, DEFAULT_POLL_TIMEZONE)
        add_job(scheduler, poll, trigger, id="poll", name="poll arXiv")
        job = add_job(scheduler, poll, trigger, id="poll", name="poll arXiv")
        assert [j.id for j in scheduler.get_jobs()] == ["poll"]
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time == MISFIRE_GRACE_SECONDS
        assert job.name == "poll arXiv"
        assert inspect.iscoroutinefunction(job.func)
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)


def test_add_job_refuses_a_plain_function() -> None:
    def plain() -> None:
        pass

    scheduler = AsyncIOScheduler(timezone=UTC)
    with pytest.raises(TypeError, match="async function"):
        add_job(scheduler, plain, soon(0), id="x", name="x")  # type: ignore[arg-type]


def soon(milliseconds: int) -> DateTrigger:
    return DateTrigger(run_date=datetime.now(UTC) + timedelta(milliseconds=milliseconds))


async def test_scheduler_runs_a_guarded_job_once() -> None:
    calls: list[str] = []
    ran = asyncio.Event()

    async def job() -> None:
        calls.append("ran")
        ran.set()

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    try:
        add_job(scheduler, job, soon(20), id="once", name="once")
        await asyncio.wait_for(ran.wait(), timeout=5)
        assert calls == ["ran"]
        assert scheduler.get_job("once") is None  # its trigger is done: it cannot run again
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)


async def test_a_failing_job_does_not_stop_the_next(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="bot.scheduling")
    failed = asyncio.Event()
    second = asyncio.Event()

    async def failing() -> None:
        failed.set()
        raise RuntimeError("no feed today")

    async def healthy() -> None:
        second.set()

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    try:
        add_job(scheduler, failing, soon(10), id="failing", name="failing poll")
        add_job(scheduler, healthy, soon(40), id="healthy", name="healthy poll")
        await asyncio.wait_for(asyncio.gather(failed.wait(), second.wait()), timeout=5)
        assert scheduler.running
        messages = [r.getMessage() for r in caplog.records if r.name == "bot.scheduling"]
        assert any("failing poll" in m for m in messages)
    finally:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)
