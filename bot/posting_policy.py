"""Pure: which of a route's queued papers a poll posts now, and which it holds and why.

A new channel gets only the latest listing (older ones are backlog, held); at most
`limit` are posted per poll, newest listing first and, within a listing, best score first;
the rest (the worst) are held and announced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class PostPlan:
    post: tuple[str, ...]  # paper ids to post now, newest listing first
    backlog: tuple[str, ...] = ()  # older listings a new channel does not get
    over: tuple[str, ...] = ()  # beyond the per-poll limit: held, announced as "...and N more"

    @property
    def held(self) -> tuple[str, ...]:
        return self.backlog + self.over


def plan_posts(
    queued: Sequence[tuple[str, date | None]],
    *,
    limit: int,
    new_channel: bool,
    scores: Mapping[str, float] | None = None,
) -> PostPlan:
    """Split (paper id, listing date) pairs into what to post, backlog and overflow.

    Within a listing date, papers with a score go best first, then those without one, each
    group in the order given (`scores`: the route's learnt taste, when it speaks).
    """
    if limit < 0:
        raise ValueError(f"limit must be at least 0, got {limit}")
    score = scores or {}
    ordered = sorted(
        queued,
        key=lambda item: (
            -(item[1] or date.min).toordinal(),
            item[0] not in score,
            -score.get(item[0], 0.0),
        ),
    )
    backlog: list[str] = []
    if new_channel and ordered:
        latest = ordered[0][1]
        backlog = [pid for pid, day in ordered if day != latest]
        ordered = [(pid, day) for pid, day in ordered if day == latest]
    ids = [pid for pid, _ in ordered]
    return PostPlan(tuple(ids[:limit]), tuple(backlog), tuple(ids[limit:]))
