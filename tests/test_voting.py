"""The voting policy: signals -> current votes -> a verdict, on injected aware datetimes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.models import Outcome, Signal, Verdict, Vote
from bot.voting import (
    BUTTON,
    BY_EXPIRY,
    BY_FINAL,
    BY_VOTES,
    VotePolicy,
    apply_signal,
    decide,
    normalize_emoji,
    tally,
    vote_value,
)

POSTED = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
SOON = POSTED + timedelta(hours=1)
USERS = [f"slack:U{i}" for i in range(4)] + [f"discord:{i}" for i in range(4)]
REACTIONS = [("+1", 1), ("-1", -1), ("👍", 1), ("👎", -1)]  # normalized emoji, value


def button(user: str, value: int) -> Signal:
    return Signal(user, value, "button")


def react(user: str, emoji: str, *, added: bool = True) -> Signal:
    value = vote_value(emoji)
    assert value is not None
    return Signal(user, value, "reaction", normalize_emoji(emoji), added)


def fold(signals: Iterable[Signal], start: Mapping[str, Vote] | None = None) -> dict[str, Vote]:
    """Apply signals in order to per-user current votes, as the service would."""
    state: dict[str, Vote | None] = dict(start or {})
    for signal in signals:
        state[signal.user] = apply_signal(state.get(signal.user), signal)
    return {user: vote for user, vote in state.items() if vote is not None}


def values(state: Mapping[str, Vote]) -> dict[str, int]:
    return {user: vote.value for user, vote in state.items()}


def verdict(votes: Mapping[str, int], policy: VotePolicy, now: datetime = SOON) -> Verdict:
    return decide(votes, policy, posted_at=POSTED, now=now)


# --- strategies --------------------------------------------------------------------------


def signals_of(user: str) -> st.SearchStrategy[Signal]:
    buttons = st.sampled_from([1, -1]).map(lambda v: Signal(user, v, "button"))
    reactions = st.builds(
        lambda pair, added: Signal(user, pair[1], "reaction", pair[0], added),
        st.sampled_from(REACTIONS),
        st.booleans(),
    )
    return st.one_of(buttons, reactions)


any_signal = st.sampled_from(USERS).flatmap(signals_of)
any_vote = st.one_of(
    st.none(),
    st.builds(Vote, st.sampled_from([1, -1]), st.just(BUTTON)),
    st.sampled_from(REACTIONS).map(lambda pair: Vote(pair[1], f"reaction:{pair[0]}")),
)
vote_maps = st.dictionaries(st.sampled_from(USERS), any_vote).map(
    lambda votes: {user: vote for user, vote in votes.items() if vote is not None}
)


@st.composite
def policies(draw: st.DrawFn) -> VotePolicy:
    curators = draw(st.frozensets(st.sampled_from(USERS)))
    return VotePolicy(
        accept_at=draw(st.integers(1, 4)),
        reject_at=draw(st.integers(1, 4)),
        curator_veto=bool(curators) and draw(st.booleans()),
        expire_days=draw(st.integers(1, 10)),
        curators=curators,
    )


def closings(user: str) -> st.SearchStrategy[list[Signal]]:
    """A user's last signal(s): whatever came before, these fix the final vote."""
    return st.one_of(
        st.sampled_from([1, -1]).map(lambda v: [Signal(user, v, "button")]),
        st.sampled_from(REACTIONS).map(lambda p: [Signal(user, p[1], "reaction", p[0])]),
        # No vote in the end: add a reaction, then remove it.
        st.sampled_from(REACTIONS).map(
            lambda p: [
                Signal(user, p[1], "reaction", p[0]),
                Signal(user, p[1], "reaction", p[0], added=False),
            ]
        ),
    )


@st.composite
def shuffled_histories(draw: st.DrawFn) -> tuple[dict[str, Vote], list[Signal]]:
    """Per-user final votes, and one random signal sequence ending in them.

    Every user's earlier signals are shuffled freely among everyone's; only each user's
    closing signal(s) stay after that user's own earlier ones.
    """
    users = draw(st.lists(st.sampled_from(USERS), unique=True, max_size=6))
    earlier = [sig for user in users for sig in draw(st.lists(signals_of(user), max_size=5))]
    earlier = draw(st.permutations(earlier))
    slots: list[tuple[float, list[Signal]]] = [(i, [sig]) for i, sig in enumerate(earlier)]
    finals: dict[str, Vote] = {}
    for user in users:
        closing = draw(closings(user))
        finals.update(fold(closing))
        last_own = max((i for i, sig in enumerate(earlier) if sig.user == user), default=-1)
        slots.append((draw(st.integers(last_own, len(earlier))) + 0.5, closing))
    slots.sort(key=lambda slot: slot[0])
    return finals, [sig for _, block in slots for sig in block]


# --- order, redelivery, add-then-remove (hypothesis) -------------------------------------


@given(shuffled_histories(), policies(), st.integers(0, 12))
def test_any_interleaving_ending_in_the_same_votes_gives_the_same_verdict(
    history: tuple[dict[str, Vote], list[Signal]], policy: VotePolicy, days: int
) -> None:
    finals, signals = history
    now = POSTED + timedelta(days=days)

    state = fold(signals)

    assert state == finals
    assert verdict(values(state), policy, now) == verdict(values(finals), policy, now)


@given(st.lists(any_signal, max_size=12), st.permutations(range(8)))
def test_the_verdict_depends_only_on_the_vote_set_not_its_order(
    signals: list[Signal], order: list[int]
) -> None:
    votes = values(fold(signals))
    reordered = dict(sorted(votes.items(), key=lambda kv: order[USERS.index(kv[0])]))
    policy = VotePolicy(accept_at=1, reject_at=1, curator_veto=True, curators=frozenset(USERS))

    assert verdict(reordered, policy) == verdict(votes, policy)


@given(vote_maps, st.sampled_from(USERS), st.sampled_from(REACTIONS), policies())
def test_adding_then_removing_a_reaction_without_a_vote_is_a_no_op(
    state: dict[str, Vote], user: str, reaction: tuple[str, int], policy: VotePolicy
) -> None:
    state.pop(user, None)  # the user has no vote yet
    emoji, value = reaction
    add = Signal(user, value, "reaction", emoji)
    remove = Signal(user, value, "reaction", emoji, added=False)

    after = fold([add, remove], state)

    assert after == state
    assert verdict(values(after), policy) == verdict(values(state), policy)


@given(any_vote, st.sampled_from(USERS), st.sampled_from(REACTIONS))
def test_adding_then_removing_a_reaction_leaves_no_vote(
    current: Vote | None, user: str, reaction: tuple[str, int]
) -> None:
    # The removed reaction cast the latest vote, so it is withdrawn, whatever came before.
    emoji, value = reaction
    added = apply_signal(current, Signal(user, value, "reaction", emoji))

    assert apply_signal(added, Signal(user, value, "reaction", emoji, added=False)) is None


@given(any_vote, any_signal)
def test_a_redelivered_signal_changes_nothing(current: Vote | None, signal: Signal) -> None:
    once = apply_signal(current, signal)

    assert apply_signal(once, signal) == once


@given(st.lists(st.tuples(any_signal, st.integers(1, 3)), max_size=15))
def test_redelivered_signals_in_a_sequence_change_nothing(
    deliveries: list[tuple[Signal, int]],
) -> None:
    signals = [signal for signal, _ in deliveries]
    redelivered = [signal for signal, times in deliveries for _ in range(times)]

    assert fold(redelivered) == fold(signals)


@given(vote_maps, st.sampled_from(USERS), st.sampled_from(REACTIONS))
def test_removing_a_reaction_that_did_not_cast_the_vote_changes_nothing(
    state: dict[str, Vote], user: str, reaction: tuple[str, int]
) -> None:
    emoji, value = reaction
    current = state.get(user)
    if current is not None and current.cast_by == f"reaction:{emoji}":
        state.pop(user)
    current = state.get(user)

    assert apply_signal(current, Signal(user, value, "reaction", emoji, added=False)) == current


# --- the two rules (hypothesis) ----------------------------------------------------------


@given(
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(1, 10_000),
    st.integers(1, 10_000),
)
def test_accept_and_reject_never_both_hold(
    ups: int, downs: int, accept_at: int, reject_at: int
) -> None:
    policy = VotePolicy(accept_at=accept_at, reject_at=reject_at)

    assert not (policy.accepts(ups, downs) and policy.rejects(ups, downs))


@given(st.integers(0, 6), st.integers(0, 6), st.integers(1, 6), st.integers(1, 6))
def test_decide_follows_the_rules(ups: int, downs: int, accept_at: int, reject_at: int) -> None:
    votes = {f"u:{i}": 1 for i in range(ups)} | {f"d:{i}": -1 for i in range(downs)}
    policy = VotePolicy(accept_at=accept_at, reject_at=reject_at)

    status = verdict(votes, policy).status

    if ups >= accept_at and ups > downs:
        assert status is Outcome.ACCEPTED
    elif downs >= reject_at and downs >= ups:
        assert status is Outcome.REJECTED
    else:
        assert status is Outcome.PENDING


# --- emoji -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "base"),
    [
        ("+1", "+1"),
        ("+1::skin-tone-3", "+1"),
        ("-1::skin-tone-6", "-1"),
        ("thumbsup", "+1"),
        ("thumbsup::skin-tone-2", "+1"),
        ("thumbsdown", "-1"),
        (":thumbsup:", "+1"),
        ("👍", "👍"),
        ("👍🏻", "👍"),
        ("👍🏽", "👍"),
        ("👎🏿", "👎"),
        ("👍\ufe0f", "👍"),
        ("heart", "heart"),
        ("white_check_mark", "white_check_mark"),
    ],
)
def test_normalize_emoji(raw: str, base: str) -> None:
    assert normalize_emoji(raw) == base


@pytest.mark.parametrize(
    ("emoji", "value"),
    [
        ("+1", 1),
        ("thumbsup::skin-tone-4", 1),
        ("👍🏾", 1),
        ("-1", -1),
        ("thumbsdown", -1),
        ("👎🏼", -1),
        ("heart", None),
        ("🎉", None),
    ],
)
def test_vote_value_with_the_default_sets(emoji: str, value: int | None) -> None:
    assert vote_value(emoji) == value


def test_vote_value_with_configured_sets() -> None:
    up, down = {"white_check_mark", "👍🏽"}, {"x"}

    assert vote_value("white_check_mark", up, down) == 1
    assert vote_value("👍", up, down) == 1  # the config's skin tone counts as the base emoji
    assert vote_value("x", up, down) == -1
    assert vote_value("+1", up, down) is None
    assert vote_value("ok", {"ok"}, {"ok"}) is None  # in both sets: ambiguous, not a vote


def test_a_skin_toned_reaction_is_withdrawn_by_removing_it_in_another_tone() -> None:
    cast = fold([react("slack:U1", "+1::skin-tone-3"), react("discord:7", "👎🏽")])
    assert cast == {"slack:U1": Vote(1, "reaction:+1"), "discord:7": Vote(-1, "reaction:👎")}

    gone = fold([react("slack:U1", "+1::skin-tone-5", added=False), react("discord:7", "👎")], cast)
    assert gone == {"discord:7": Vote(-1, "reaction:👎")}
    assert fold([react("discord:7", "👎🏿", added=False)], gone) == {}


def test_slack_aliases_are_the_same_reaction() -> None:
    cast = fold([react("slack:U1", "thumbsup")])

    assert cast == {"slack:U1": Vote(1, "reaction:+1")}
    assert fold([react("slack:U1", "+1", added=False)], cast) == {}


def test_apply_signal_normalizes_what_it_is_given() -> None:
    vote = apply_signal(None, Signal("slack:U1", 1, "reaction", "thumbsup::skin-tone-2"))

    assert vote == Vote(1, "reaction:+1")


# --- votes -------------------------------------------------------------------------------


def test_the_latest_signal_wins() -> None:
    user = "slack:U1"

    assert fold([button(user, 1), react(user, "-1")]) == {user: Vote(-1, "reaction:-1")}
    assert fold([react(user, "-1"), button(user, 1)]) == {user: Vote(1, BUTTON)}
    assert fold([react(user, "+1"), react(user, "-1")]) == {user: Vote(-1, "reaction:-1")}


def test_removing_the_casting_reaction_withdraws_even_over_an_older_one() -> None:
    # 👍 then 👎: the vote is -1; removing 👎 leaves no vote (the 👍 was superseded).
    user = "discord:1"

    assert fold([react(user, "👍"), react(user, "👎"), react(user, "👎", added=False)]) == {}


def test_removing_another_reaction_keeps_the_vote() -> None:
    user = "slack:U1"

    assert fold([react(user, "+1"), button(user, -1), react(user, "+1", added=False)]) == {
        user: Vote(-1, BUTTON)
    }
    assert fold([react(user, "+1"), react(user, "-1", added=False)]) == {
        user: Vote(1, "reaction:+1")
    }


def test_tally() -> None:
    assert tally({}) == (0, 0)
    assert tally({"a": 1, "b": 1, "c": -1}) == (2, 1)
    with pytest.raises(ValueError, match="vote is \\+1 or -1"):
        tally({"a": 0})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": 0}, "vote is \\+1 or -1"),
        ({"user": ""}, "needs a user id"),
        ({"kind": "reaction"}, "needs its emoji"),
        ({"emoji": "+1"}, "button signal has no emoji"),
        ({"added": False}, "button cannot be removed"),
        ({"kind": "poll"}, "'reaction' or a 'button'"),
    ],
)
def test_malformed_signals_are_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"user": "slack:U1", "value": 1, "kind": "button"} | kwargs
    with pytest.raises(ValueError, match=message):
        Signal(**fields)  # type: ignore[arg-type]


# --- policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accept_at": 0}, "accept_at must be at least 1, got 0"),
        ({"reject_at": -1}, "reject_at must be at least 1, got -1"),
        ({"expire_days": 0}, "expire_days must be at least 1, got 0"),
        ({"curator_veto": True}, "curator_veto needs a non-empty curators list"),
        ({"curators": "slack:U1"}, "curators must be a list of user ids"),
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VotePolicy(**kwargs)  # type: ignore[arg-type]


def test_curators_may_be_given_as_any_collection() -> None:
    policy = VotePolicy(curators=["slack:U1", "slack:U1"])  # type: ignore[arg-type]

    assert policy.curators == frozenset({"slack:U1"})


def test_verdicts_and_their_reasons() -> None:
    policy = VotePolicy()

    assert verdict({"a": 1, "b": 1}, policy) == Verdict(
        Outcome.ACCEPTED, "2 up, 0 down: accepted at 2", BY_VOTES
    )
    assert verdict({"a": 1, "b": -1, "c": -1}, policy) == Verdict(
        Outcome.REJECTED, "1 up, 2 down: rejected at 2", BY_VOTES
    )
    assert verdict({"a": 1, "b": 1, "c": -1, "d": -1}, policy).status is Outcome.REJECTED
    assert verdict({"a": 1}, policy) == Verdict(
        Outcome.PENDING, "1 up, 0 down: pending (accept at 2, reject at 2)", BY_VOTES
    )
    assert verdict({"a": 1, "b": 1, "c": 1, "d": -1, "e": -1, "f": -1}, policy).status == "rejected"


def test_non_curators_are_ignored() -> None:
    policy = VotePolicy(curators=frozenset({"slack:U1", "slack:U2"}))
    crowd = {f"slack:X{i}": 1 for i in range(10)}

    assert verdict(crowd, policy).status is Outcome.PENDING
    assert verdict(crowd | {"slack:U1": 1}, policy).reason.startswith("1 up, 0 down: pending")
    assert verdict(crowd | {"slack:U1": 1, "slack:U2": 1}, policy).status is Outcome.ACCEPTED


def test_without_a_veto_a_curators_down_vote_is_one_vote() -> None:
    policy = VotePolicy(curators=frozenset({"slack:U1", "slack:U2", "slack:U3"}))

    assert verdict({"slack:U1": -1, "slack:U2": 1, "slack:U3": 1}, policy).status == "accepted"


def test_a_curator_veto_rejects_at_once() -> None:
    policy = VotePolicy(curator_veto=True, curators=frozenset({"slack:U1", "slack:U2", "d:3"}))
    ups = {"slack:U2": 1, "d:3": 1}

    assert verdict(ups, policy).status is Outcome.ACCEPTED
    assert verdict(ups | {"slack:U1": -1}, policy) == Verdict(
        Outcome.REJECTED, "vetoed by curator slack:U1", "slack:U1"
    )
    assert verdict({"slack:X": -1, "slack:U2": 1}, policy).status is Outcome.PENDING


def test_the_vetoing_curator_does_not_depend_on_vote_order() -> None:
    policy = VotePolicy(curator_veto=True, curators=frozenset({"slack:U1", "slack:U2"}))

    first = verdict({"slack:U2": -1, "slack:U1": -1}, policy)

    assert first == verdict({"slack:U1": -1, "slack:U2": -1}, policy)
    assert first.by == "slack:U1"


# --- expiry and final verdicts -----------------------------------------------------------


def test_expiry_is_exactly_expire_days_after_the_post() -> None:
    policy = VotePolicy(expire_days=7)
    deadline = POSTED + timedelta(days=7)
    votes = {"a": 1}

    assert policy.expires_at(POSTED) == deadline
    assert verdict(votes, policy, deadline - timedelta(microseconds=1)).status == "pending"
    assert verdict(votes, policy, deadline) == Verdict(
        Outcome.EXPIRED, "1 up, 0 down: undecided after 7 days, expired", BY_EXPIRY
    )
    assert verdict({}, policy, deadline + timedelta(days=30)).status is Outcome.EXPIRED


def test_expiry_compares_instants_across_time_zones() -> None:
    eastern = timezone(timedelta(hours=-5))
    policy = VotePolicy(expire_days=1)
    deadline_eastern = (POSTED + timedelta(days=1)).astimezone(eastern)

    just_before = decide({}, policy, posted_at=POSTED, now=deadline_eastern - timedelta(seconds=1))
    at = decide({}, policy, posted_at=POSTED.astimezone(eastern), now=POSTED + timedelta(days=1))

    assert just_before.status is Outcome.PENDING
    assert at == Verdict(Outcome.EXPIRED, "0 up, 0 down: undecided after 1 day, expired", "expiry")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide({}, VotePolicy(), posted_at=POSTED, now=datetime(2026, 11, 25, 12, 0))


def test_a_decided_paper_is_re_evaluated_until_expiry() -> None:
    policy = VotePolicy()
    before = POSTED + timedelta(days=3)
    after = POSTED + timedelta(days=7)

    assert verdict({"a": 1, "b": 1}, policy, before).status is Outcome.ACCEPTED
    assert verdict({"a": 1}, policy, before).status is Outcome.PENDING  # b withdrew
    # The service's last call at expiry, with the votes as they stand, keeps the decision...
    assert verdict({"a": 1, "b": 1}, policy, after).status is Outcome.ACCEPTED
    # ...and from then on only `final` holds it: votes changed later would count otherwise.
    assert verdict({"a": 1}, policy, after).status is Outcome.EXPIRED
    late = decide({"a": 1}, policy, posted_at=POSTED, now=after, final="accepted")
    assert late == Verdict(Outcome.ACCEPTED, "already accepted", BY_FINAL)


@pytest.mark.parametrize("final", ["accepted", "rejected", "expired", Outcome.EXPIRED])
@pytest.mark.parametrize("days", [0, 3, 7, 100])
@pytest.mark.parametrize(
    "votes", [{}, {"a": 1, "b": 1, "c": 1}, {"a": -1, "b": -1}, {"slack:U1": -1}]
)
def test_a_final_status_is_returned_unchanged(final: str, days: int, votes: dict[str, int]) -> None:
    policy = VotePolicy(curator_veto=True, curators=frozenset({"slack:U1", "a", "b", "c"}))
    now = POSTED + timedelta(days=days)

    result = decide(votes, policy, posted_at=POSTED, now=now, final=final)

    assert result.status == final
    assert result.by == BY_FINAL


@pytest.mark.parametrize("final", ["pending", "maybe", ""])
def test_a_final_status_must_be_a_decision(final: str) -> None:
    with pytest.raises(ValueError, match="final is 'accepted', 'rejected' or 'expired'"):
        decide({}, VotePolicy(), posted_at=POSTED, now=SOON, final=final)
