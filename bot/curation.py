"""The voting policy: how members' votes turn into a decision on a posted paper.

Pure: no I/O and no clock (``now`` is always a parameter). The service stores the votes and
the decisions; this module only says what they are.

Votes, as a member casts them:

* A user has at most one vote per paper: +1 or -1. It comes from a reaction (thumbs up or
  down, any skin tone, Slack or Discord spelling) or from an Accept/Reject button.
* The latest signal wins: reacting 👎 after clicking Accept makes the vote -1.
* Removing the reaction that cast the current vote withdraws it (no vote at all, even if
  the user still has an older reaction on the message). Removing any other reaction changes
  nothing. Buttons cannot be removed, only overridden.
* Skin tones count as the base emoji: ``+1::skin-tone-3`` is ``+1`` and 👍🏽 is 👍; the Slack
  aliases ``thumbsup``/``thumbsdown`` are ``+1``/``-1``.
* Votes are kept as the current state per (paper, user) (``apply_signal`` folds one signal
  into it), so a redelivered signal changes nothing, and the decision depends only on the
  final set of votes, never on the order they came in.

The decision, per route (``[routes.votes]``):

* Only votes from ``curators`` count when that list is not empty; anyone's count otherwise.
* accepted: at least ``accept_at`` up-votes and more ups than downs.
* rejected: at least ``reject_at`` down-votes and at least as many downs as ups.
  The two can never both hold (one needs ups > downs, the other downs >= ups).
* ``curator_veto``: one down-vote from a listed curator rejects at once, whatever the ups.
* Otherwise the paper is pending; once ``now >= posted_at + expire_days`` a paper that is
  still undecided is expired (and never listed).

The contract with the service, which stores the decision:

* Until the paper expires, every vote re-evaluates the decision with ``decide`` (a paper may
  go from accepted back to pending or to rejected as votes change).
* Once ``now >= posted_at + expire_days`` the service calls ``decide`` one last time with the
  votes it holds and then treats the result as final: it stops applying signals and passes
  the stored status as ``final`` to any later call, which ``decide`` returns unchanged.
  Without ``final``, a late call simply evaluates the votes it is given (so an accepted
  paper whose votes were withdrawn after expiry would come out expired): only ``final``
  keeps a verdict fixed.
* A manual curator decision is final too and is passed the same way.
* Signals are de-duplicated here only when a redelivery repeats the current state; a stale
  signal replayed after a newer one would win as "latest", so dropping already-seen event
  ids is the service's job.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from bot.models import VotePolicy

__all__ = [
    "BUTTON",
    "BY_EXPIRY",
    "BY_FINAL",
    "BY_VOTES",
    "DEFAULT_DOWN",
    "DEFAULT_UP",
    "Outcome",
    "Signal",
    "Verdict",
    "Vote",
    "VotePolicy",
    "apply_signal",
    "decide",
    "normalize_emoji",
    "tally",
    "vote_value",
]

DEFAULT_UP: frozenset[str] = frozenset({"+1", "thumbsup", "👍"})
DEFAULT_DOWN: frozenset[str] = frozenset({"-1", "thumbsdown", "👎"})

BUTTON = "button"  # `Vote.cast_by` of a vote cast with a button
BY_VOTES = "votes"  # `Verdict.by` of a decision the vote counts made
BY_EXPIRY = "expiry"  # `Verdict.by` of an expired paper
BY_FINAL = "final"  # `Verdict.by` when `decide` returns a `final` status it was given

SignalKind = Literal["reaction", "button"]

_SLACK_ALIASES = {"thumbsup": "+1", "thumbsdown": "-1"}
_SLACK_SKIN_TONE = re.compile(r"::skin-tone-\d+$")
# Fitzpatrick modifiers U+1F3FB..U+1F3FF and the emoji-presentation selector U+FE0F.
_UNICODE_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")


class Outcome(StrEnum):
    """Where a paper stands on a route."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PENDING = "pending"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Signal:
    """One vote event as the core sees it, already translated from the platform."""

    user: str  # platform-prefixed, e.g. "slack:U123" or "discord:4242"
    value: int  # +1 or -1
    kind: SignalKind
    emoji: str | None = None  # the normalized base emoji of a reaction; None for a button
    added: bool = True  # False: the reaction was removed

    def __post_init__(self) -> None:
        if not self.user:
            raise ValueError("A signal needs a user id.")
        if self.value not in (1, -1):
            raise ValueError(f"A vote is +1 or -1, got {self.value!r}.")
        if self.kind == "reaction":
            if not self.emoji:
                raise ValueError("A reaction signal needs its emoji.")
        elif self.kind == "button":
            if self.emoji is not None:
                raise ValueError("A button signal has no emoji.")
            if not self.added:
                raise ValueError("A button cannot be removed, only overridden.")
        else:
            raise ValueError(f"A signal is a 'reaction' or a 'button', got {self.kind!r}.")


@dataclass(frozen=True, slots=True)
class Vote:
    """A user's current vote on a paper, and what cast it ("reaction:+1", "button")."""

    value: int
    cast_by: str

    def __post_init__(self) -> None:
        if self.value not in (1, -1):
            raise ValueError(f"A vote is +1 or -1, got {self.value!r}.")


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and why: ``by`` is "votes", "expiry", "final" or the vetoing curator."""

    status: Outcome
    reason: str
    by: str


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
