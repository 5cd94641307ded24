"""arXiv's announcement calendar, as far as the poller needs it (pure).

Listings are dated Monday to Friday, holidays excepted; used to notice gaps (docs/scheduling.md)
and to date a paper found through the API. What is new is decided by the ids already stored.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
CUTOFF = time(14, 0)  # US Eastern: submissions before it are announced at 20:00 the same day


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


def first_listing_date(submitted: datetime, holidays: Collection[date] = ()) -> date:
    """The first listing a paper submitted at `submitted` (aware) could appear in.

    A submission before the 14:00 ET cut-off is announced that evening, after it the next
    evening; an announcement on day X is the listing dated X + 1, the next listing day on.
    """
    local = submitted.astimezone(EASTERN)
    announced = local.date() if local.time() < CUTOFF else local.date() + timedelta(days=1)
    day = announced + timedelta(days=1)
    while not is_listing_day(day, holidays):
        day += timedelta(days=1)
    return day
