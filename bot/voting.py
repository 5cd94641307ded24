"""The voting policy, pure: signals -> votes -> a verdict, and when a decision is final.

Votes, thresholds, vetoes, expiry and finality are specified in docs/voting.md.
No I/O and no clock: `now` is always a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import datetime

from bot.models import Outcome, Signal, Verdict, Vote, VotePolicy

DEFAULT_UP: frozenset[str] = frozenset({"+1", "thumbsup", "👍"})
DEFAULT_DOWN: frozenset[str] = frozenset({"-1", "thumbsdown", "👎"})

BUTTON = "button"  # `Vote.cast_by` of a vote cast with a button
BY_VOTES = "votes"  # `Verdict.by` of a decision the vote counts made
BY_EXPIRY = "expiry"  # `Verdict.by` of an expired paper
BY_FINAL = "final"  # `Verdict.by` when `decide` returns a `final` status it was given
AUTOMATIC = (BY_VOTES, BY_EXPIRY)  # who decided, for decisions the votes may still change

_SLACK_ALIASES = {"thumbsup": "+1", "thumbsdown": "-1"}
_SLACK_SKIN_TONE = re.compile(r"::skin-tone-\d+$")
# Fitzpatrick modifiers U+1F3FB..U+1F3FF and the emoji-presentation selector U+FE0F.
_UNICODE_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")


def normalize_emoji(name: str) -> str:
    """The base emoji of a Slack reaction name or a Discord unicode emoji.

    ``thumbsup`` -> ``+1``, ``+1::skin-tone-3`` -> ``+1``, ``:thumbsdown:`` -> ``-1``,
    ``👍🏽`` -> ``👍``, ``👍️`` (with U+FE0F) -> ``👍``. Anything else passes through.
    """
    base = name.strip()
    if len(base) > 2 and base.startswith(":") and base.endswith(":"):
        base = base[1:-1]
    base = _SLACK_SKIN_TONE.sub("", base)
    base = _UNICODE_MODIFIERS.sub("", base)
    return _SLACK_ALIASES.get(base, base)


def vote_value(
    emoji: str, up: Collection[str] = DEFAULT_UP, down: Collection[str] = DEFAULT_DOWN
) -> int | None:
    """+1 or -1 for a voting emoji (any spelling, any skin tone), None for any other.

    The ``up`` and ``down`` sets are normalized too, so ``thumbsup`` in a config means
    ``+1``. An emoji in both sets is ambiguous and does not vote.
    """
    base = normalize_emoji(emoji)
    is_up = base in {normalize_emoji(e) for e in up}
    is_down = base in {normalize_emoji(e) for e in down}
    if is_up == is_down:
        return None
    return 1 if is_up else -1


def apply_signal(current: Vote | None, signal: Signal) -> Vote | None:
    """The user's vote after ``signal`` (None: no vote).

    A button click or an added reaction replaces the vote; removing the reaction that cast
    the vote withdraws it; removing any other reaction changes nothing. Applying the same
    signal twice in a row is the same as applying it once.
    """
    if signal.kind == "button":
        return Vote(signal.value, BUTTON)
    cast_by = f"reaction:{normalize_emoji(signal.emoji or '')}"
    if signal.added:
        return Vote(signal.value, cast_by)
    if current is not None and current.cast_by == cast_by:
        return None
    return current


def tally(votes: Mapping[str, int]) -> tuple[int, int]:
    """(ups, downs) of a vote map (user id -> +1/-1), every vote counted."""
    ups = downs = 0
    for value in votes.values():
        if value == 1:
            ups += 1
        elif value == -1:
            downs += 1
        else:
            raise ValueError(f"A vote is +1 or -1, got {value!r}.")
    return ups, downs


def decide(
    votes: Mapping[str, int],
    policy: VotePolicy,
    *,
    posted_at: datetime,
    now: datetime,
    final: str | None = None,
) -> Verdict:
    """The verdict on a paper from its current votes (user id -> +1/-1).

    ``final`` is a status already final (expired, or a manual curator decision); it is
    returned unchanged. ``posted_at`` and ``now`` must be timezone-aware. See the module
    docstring for when the caller must start passing ``final``.
    """
    if final is not None:
        if final not in (Outcome.ACCEPTED, Outcome.REJECTED, Outcome.EXPIRED):
            raise ValueError(f"final is 'accepted', 'rejected' or 'expired', got {final!r}.")
        return Verdict(Outcome(final), f"already {final}", BY_FINAL)
    if posted_at.utcoffset() is None or now.utcoffset() is None:
        raise ValueError("posted_at and now must be timezone-aware datetimes.")

    counted = {user: value for user, value in votes.items() if policy.counts(user)}
    ups, downs = tally(counted)
    counts = f"{ups} up, {downs} down"

    if policy.curator_veto:
        vetoes = sorted(user for user, value in counted.items() if value == -1)
        if vetoes:
            return Verdict(Outcome.REJECTED, f"vetoed by curator {vetoes[0]}", vetoes[0])
    if policy.accepts(ups, downs):
        return Verdict(Outcome.ACCEPTED, f"{counts}: accepted at {policy.accept_at}", BY_VOTES)
    if policy.rejects(ups, downs):
        return Verdict(Outcome.REJECTED, f"{counts}: rejected at {policy.reject_at}", BY_VOTES)
    if now >= policy.expires_at(posted_at):
        days = f"{policy.expire_days} day{'s' if policy.expire_days != 1 else ''}"
        return Verdict(Outcome.EXPIRED, f"{counts}: undecided after {days}, expired", BY_EXPIRY)
    return Verdict(
        Outcome.PENDING,
        f"{counts}: pending (accept at {policy.accept_at}, reject at {policy.reject_at})",
        BY_VOTES,
    )


def is_final(status: str, decided_by: str, *, past_expiry: bool) -> bool:
    """Whether votes can no longer change a decision (the one finality rule).

    Final: a decision made by hand (a curator, an import, a hand edit), an expiry, and an
    accepted or rejected decision still standing once the paper's voting time is over.
    """
    if decided_by not in AUTOMATIC or status == Outcome.EXPIRED:
        return True
    return past_expiry and status in (Outcome.ACCEPTED, Outcome.REJECTED)
