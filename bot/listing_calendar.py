"""arXiv's announcement calendar, as far as the poller needs it (pure).

Listings are dated Monday to Friday, holidays excepted; used only to notice gaps
(docs/scheduling.md). What is new is always decided by the ids already stored.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")


def is_listing_day(day: date, holidays: Collection[date] = ()) -> bool:
    return day.weekday() < 5 and day not in holidays


def latest_listing_date(now: datetime, holidays: Collection[date] = ()) -> date:
    """The newest listing date the feed should show at `now` (an aware datetime)."""
    day = now.astimezone(EASTERN).date()
    while not is_listing_day(day, holidays):
        day -= timedelta(days=1)
    return day


def listing_dates_between(after: date, until: date, holidays: Collection[date] = ()) -> list[date]:
    """Listing dates d with after < d <= until, oldest first."""
    days = []
    day = after + timedelta(days=1)
    while day <= until:
        if is_listing_day(day, holidays):
            days.append(day)
        day += timedelta(days=1)
    return days
