"""Post delay: from a listing appearing in the feed to the first poll that can see it.

Run by hand:  .venv/bin/python -m bench.schedule_delay [--start 2026-10-19] [--weeks 4]

For every listing day (Monday to Friday) in the period and every appearance time from 00:00 to
02:00 US Eastern, each minute (the midnight rebuild, on time or up to two hours late), the delay
to the first poll at or after it, computed from the triggers' own fire times (no waiting). The
default period, 2026-10-19 to 2026-11-15, spans the end of DST on 2026-11-01.

Baseline: the old daily keyword script. Its crontab is not in the repository; it is taken to
have run once a day in the morning, `0 9 * * *` US Eastern, and to have seen that day's listing.
For cost only, a flat 15-minute interval is also shown (
the first release's 15-minute interval, here aligned to the clock as `*/15 * * * *`).

Goal: the default schedule's maximum delay under 5 minutes.
"""

from __future__ import annotations

import argparse
import math
import platform
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

from bot.listing_calendar import EASTERN, is_listing_day
from bot.scheduling import (
    DEFAULT_POLL_SCHEDULE,
    DEFAULT_POLL_TIMEZONE,
    next_fire,
    poll_triggers,
    post_delay,
)

BASELINE = ("0 9 * * *",)
FLAT_15 = ("*/15 * * * *",)
GOAL = timedelta(minutes=5)


def appearances(start: date, weeks: int, late_minutes: int) -> list[datetime]:
    """Every minute from 00:00 to 00:00 + late_minutes ET on each listing day."""
    moments = []
    for number in range(weeks * 7):
        day = start + timedelta(days=number)
        if is_listing_day(day):
            midnight = datetime.combine(day, datetime.min.time(), tzinfo=EASTERN)
            moments += [midnight + timedelta(minutes=m) for m in range(late_minutes + 1)]
    return moments


def percentile(ordered: Sequence[timedelta], p: float) -> timedelta:
    """Nearest-rank percentile of an ordered sample."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def polls_between(trigger: BaseTrigger, start: datetime, end: datetime) -> int:
    count = 0
    fire = next_fire(trigger, start - timedelta(microseconds=1))
    while fire is not None and fire < end:
        count += 1
        fire = next_fire(trigger, fire)
    return count


def measure(
    exprs: Sequence[str], moments: Sequence[datetime], start: datetime, weeks: int
) -> tuple[list[timedelta], float]:
    trigger = poll_triggers(exprs, DEFAULT_POLL_TIMEZONE)
    delays = sorted(post_delay(trigger, moment) for moment in moments)
    polls = polls_between(trigger, start, start + timedelta(weeks=weeks))
    return delays, polls / weeks


def _ratio(base: timedelta, ours: timedelta) -> str:
    return f"{base / ours:,.0f}x" if ours else "inf"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.schedule_delay", description=__doc__)
    parser.add_argument(
        "--start", type=date.fromisoformat, default=date(2026, 10, 19), help="(2026-10-19)"
    )
    parser.add_argument("--weeks", type=int, default=4, help="(4)")
    parser.add_argument("--late", type=int, default=120, help="latest appearance, minutes (120)")
    args = parser.parse_args(argv)

    start = datetime.combine(args.start, datetime.min.time(), tzinfo=EASTERN)
    end = start + timedelta(weeks=args.weeks)
    moments = appearances(args.start, args.weeks, args.late)
    zones = sorted({m.tzname() or "?" for m in moments})
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}")
    print(
        f"{args.start} to {(end - timedelta(days=1)).date()}: {len(moments) // (args.late + 1)} "
        f"listing days x {args.late + 1} appearance times (00:00-{args.late // 60:02d}:"
        f"{args.late % 60:02d} ET, each minute) = {len(moments):,} samples; zones {zones}"
    )

    rows = {}
    for label, exprs in (
        ("default (" + " | ".join(DEFAULT_POLL_SCHEDULE) + ")", DEFAULT_POLL_SCHEDULE),
        ("baseline: old daily script (0 9 * * *)", BASELINE),
        ("flat 15 min (*/15 * * * *)", FLAT_15),
    ):
        delays, per_week = measure(exprs, moments, start, args.weeks)
        assert all(d >= timedelta(0) for d in delays)
        rows[label] = delays
        p50, p99, worst = percentile(delays, 50), percentile(delays, 99), delays[-1]
        print(
            f"{label:<46} p50 {p50!s:>8}  p99 {p99!s:>8}  max {worst!s:>8}  "
            f"{per_week:6.0f} polls/week"
        )

    ours, base = list(rows.values())[:2]
    print(
        "baseline / default: "
        f"p50 {_ratio(percentile(base, 50), percentile(ours, 50))}, "
        f"p99 {_ratio(percentile(base, 99), percentile(ours, 99))}, "
        f"max {_ratio(base[-1], ours[-1])}"
    )
    print(f"goal max < {GOAL}: {'met' if ours[-1] < GOAL else 'MISSED'} ({ours[-1]})")


if __name__ == "__main__":
    main()
