"""The pure flood and backlog policy, and the one finality rule, as properties."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.models import Outcome
from bot.posting_policy import plan_posts
from bot.voting import BY_EXPIRY, BY_VOTES, is_final

DAY = date(2026, 11, 24)
queued_lists = st.lists(
    st.tuples(
        st.integers(0, 10_000).map(lambda n: f"2611.{n:05d}"),
        st.one_of(st.none(), st.integers(0, 5).map(lambda d: DAY - timedelta(days=d))),
    ),
    unique_by=lambda item: item[0],
    max_size=40,
)


@given(queued_lists, st.integers(0, 50), st.booleans())
def test_every_queued_paper_is_posted_or_held_exactly_once(
    queued: list[tuple[str, date | None]], limit: int, new_channel: bool
) -> None:
    plan = plan_posts(queued, limit=limit, new_channel=new_channel)
    assert sorted(plan.post + plan.held) == sorted(pid for pid, _ in queued)
    assert len(plan.post) <= limit
    if not new_channel:
        assert plan.backlog == ()


@given(queued_lists, st.integers(1, 50))
def test_posts_go_newest_listing_first_and_a_new_channel_gets_only_the_latest(
    queued: list[tuple[str, date | None]], limit: int
) -> None:
    day_of = dict(queued)
    plan = plan_posts(queued, limit=limit, new_channel=True)
    shown = [day_of[pid] or date.min for pid in plan.post]
    assert shown == sorted(shown, reverse=True)
    assert len({day_of[pid] for pid in plan.post}) <= 1
    if queued:
        newest = max((day or date.min) for _, day in queued)
        assert all((day_of[pid] or date.min) == newest for pid in plan.post + plan.over)
        assert all((day_of[pid] or date.min) != newest for pid in plan.backlog)


def test_overflow_keeps_the_order_given_within_a_day() -> None:
    queued = [(f"2611.0000{i}", DAY) for i in range(5)]
    plan = plan_posts(queued, limit=2, new_channel=False)
    assert plan.post == ("2611.00000", "2611.00001")
    assert plan.over == ("2611.00002", "2611.00003", "2611.00004")


scored = queued_lists.flatmap(
    lambda queued: st.tuples(
        st.just(queued),
        st.dictionaries(
            st.sampled_from([pid for pid, _ in queued] or ["none"]),
            st.floats(0, 1, allow_nan=False),
        ),
    )
)


@given(scored, st.integers(0, 50), st.booleans())
def test_within_a_listing_the_best_go_first_and_flood_control_holds_the_worst(
    queued_scores: tuple[list[tuple[str, date | None]], dict[str, float]],
    limit: int,
    new_channel: bool,
) -> None:
    queued, scores = queued_scores
    plan = plan_posts(queued, limit=limit, new_channel=new_channel, scores=scores)
    assert sorted(plan.post + plan.held) == sorted(pid for pid, _ in queued)
    day_of = dict(queued)

    def key(pid: str) -> tuple[date, bool, float]:  # newest day, then scored, then best
        return (day_of[pid] or date.min, pid in scores, scores.get(pid, 0.0))

    shown = [key(pid) for pid in plan.post + plan.over]
    assert shown == sorted(shown, reverse=True)
    for kept in plan.post:  # an over-limit paper never beats a posted one of its listing
        for held in plan.over:
            if day_of[kept] == day_of[held] and held in scores:
                assert kept in scores and scores[kept] >= scores[held]


def test_without_scores_the_order_given_is_kept_and_a_score_moves_a_paper_up() -> None:
    queued = [(f"2611.0000{i}", DAY) for i in range(4)]
    plan = plan_posts(queued, limit=2, new_channel=False, scores={"2611.00003": 0.9})
    assert plan.post == ("2611.00003", "2611.00000")
    assert plan.over == ("2611.00001", "2611.00002")


statuses = st.sampled_from([Outcome.ACCEPTED, Outcome.REJECTED, Outcome.EXPIRED])


@given(statuses, st.sampled_from([BY_VOTES, BY_EXPIRY, "cli:alice", "import", "hand"]))
def test_a_decision_by_hand_or_an_expiry_is_always_final(status: Outcome, by: str) -> None:
    if by not in (BY_VOTES, BY_EXPIRY) or status == Outcome.EXPIRED:
        assert is_final(status, by, past_expiry=False)
    assert is_final(status, by, past_expiry=True)


@given(st.sampled_from([Outcome.ACCEPTED, Outcome.REJECTED]))
def test_a_vote_made_decision_freezes_only_once_voting_time_is_over(status: Outcome) -> None:
    assert not is_final(status, BY_VOTES, past_expiry=False)
    assert is_final(status, BY_VOTES, past_expiry=True)
