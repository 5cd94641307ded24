"""The display policy: what every chat's post of a paper says, decided once in `bot.display`."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot import display
from bot.display import (
    AUTHORS_SHOWN,
    REASONS_SHOWN,
    VOTE_HINT,
    authors_line,
    clip,
    fold,
    post_content,
    reason_text,
    status_line,
)
from bot.models import Paper, PostView, Reason

LLM = Reason("llm", "title", "LLMs")


def view(**kw: Any) -> PostView:
    paper = kw.pop("paper", None) or Paper(
        "2611.00002",
        "Serving  LLMs\nat Scale",
        authors=("Ada Lovelace", "Bob Kahn"),
        abstract="We serve\n\nlarge language models   faster.",
        categories=("cs.LG", "cs.DC", "cs.LG"),
        primary_category="cs.DC",
    )
    return PostView(paper, kw.pop("routes", ("llm-systems",)), kw.pop("reasons", (LLM,)), **kw)


def test_a_pending_post_says_everything_once_in_plain_words() -> None:
    content = post_content(view(ups=2, downs=1))
    assert content.paper_id == "2611.00002"
    assert content.title == "Serving LLMs at Scale"
    assert content.url == "https://arxiv.org/abs/2611.00002"
    assert content.authors == "Ada Lovelace, Bob Kahn"
    assert content.categories == "cs.DC, cs.LG"  # the primary first, each once
    assert content.reasons == ("'llm' in title: \"LLMs\"",)
    assert content.abstract == "We serve large language models faster."
    assert content.votes == "👍 2 · 👎 1"
    assert (content.status, content.state) == ("Pending", "pending")
    assert content.reference == "arXiv:2611.00002 · llm-systems"
    assert content.hint == VOTE_HINT
    assert content.buttons


def test_the_et_al_rule_shows_the_first_five_authors() -> None:
    names = [f"Author {i}" for i in range(12)]
    assert authors_line(names[:5]) == "Author 0, Author 1, Author 2, Author 3, Author 4"
    assert authors_line(names[:6]) == "Author 0, Author 1, Author 2, Author 3, Author 4 et al."
    assert authors_line(names) == authors_line(names[:6])
    assert authors_line([]) == ""
    assert authors_line(["  Ada\n Lovelace "]) == "Ada Lovelace"


@given(st.lists(st.from_regex(r"[A-Z][a-z]{1,12}( [A-Z][a-z]{1,12})?", fullmatch=True)))
def test_never_more_than_five_authors_and_et_al_exactly_when_some_are_left_out(
    names: list[str],
) -> None:
    line = authors_line(names)
    shown = line.removesuffix(" et al.").split(", ") if line else []
    assert shown == names[:AUTHORS_SHOWN]
    assert line.endswith(" et al.") == (len(names) > AUTHORS_SHOWN)


def test_a_final_post_has_no_buttons_and_no_hint() -> None:
    decided = post_content(view(status="accepted", note="accepted by votes", ups=2))
    assert decided.buttons  # votes may still change an automatic decision
    assert decided.status == "Accepted (by votes)"
    final = post_content(view(status="rejected", note="rejected by slack:U0CURATOR", final=True))
    assert not final.buttons
    assert final.final
    assert final.hint == ""
    assert (final.status, final.state) == ("Rejected (by slack:U0CURATOR)", "rejected")
    expired = post_content(view(status="expired", note="expired by expiry", final=True))
    assert (expired.status, expired.buttons) == ("Expired (by expiry)", False)


def test_the_status_line() -> None:
    assert status_line("pending") == "Pending"
    assert status_line("accepted", "accepted by votes") == "Accepted (by votes)"
    assert status_line("accepted", "accepted by votes (a); pending (b)") == (
        "Accepted (by votes (a); pending (b))"
    )
    assert status_line("weird", "") == "Weird"
    assert post_content(view(status="weird")).state == "pending"


def test_reasons_are_worded_once_and_capped() -> None:
    assert reason_text(LLM) == "'llm' in title: \"LLMs\""
    assert reason_text(Reason("added by slack:U0123", "request", "")) == "added by slack:U0123"
    assert reason_text(Reason("kv cache", "abstract", "  a\nKV   cache ")) == (
        "'kv cache' in abstract: \"a KV cache\""
    )
    many = tuple(Reason(f"t{i}", "title", f"T{i}") for i in range(REASONS_SHOWN + 2))
    lines = post_content(view(reasons=many)).reasons
    assert len(lines) == REASONS_SHOWN + 1
    assert lines[-1] == "…and 2 more"
    assert post_content(view(reasons=())).reasons == ()


def test_the_abstract_is_clipped_at_a_word_to_the_length_asked() -> None:
    paper = Paper("2611.00002", "t", abstract="word " * 1000)
    content = post_content(view(paper=paper), abstract_chars=100)
    assert len(content.abstract) <= 100
    assert content.abstract.endswith("word…")
    assert len(post_content(view(paper=paper)).abstract) <= display.ABSTRACT_CHARS


def test_an_empty_paper_still_has_a_title_and_empty_parts() -> None:
    content = post_content(view(paper=Paper("2611.00002", "  "), routes=(), reasons=()))
    assert content.title == "2611.00002"
    assert (content.authors, content.categories, content.abstract) == ("", "", "")
    assert content.reference == "arXiv:2611.00002"


@given(text=st.text(max_size=3000), limit=st.integers(min_value=1, max_value=2000))
def test_clip_fits_and_only_cuts_what_is_too_long(text: str, limit: int) -> None:
    out = clip(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
    else:
        assert out.endswith("…")
        assert text.startswith(out[:-1].rstrip())


@given(
    title=st.text(max_size=500),
    abstract=st.text(max_size=5000),
    authors=st.lists(st.text(max_size=300), max_size=20),
    reasons=st.lists(st.tuples(st.text(), st.text(max_size=30), st.text()), max_size=10),
    note=st.text(max_size=500),
    final=st.booleans(),
)
def test_every_part_is_one_line_and_bounded(
    title: str,
    abstract: str,
    authors: list[str],
    reasons: list[tuple[str, str, str]],
    note: str,
    final: bool,
) -> None:
    paper = Paper("2611.00002", title, authors=tuple(authors), abstract=abstract)
    content = post_content(
        view(
            paper=paper,
            reasons=tuple(Reason(*r) for r in reasons),
            status="accepted",
            note=note,
            final=final,
        )
    )
    parts = [content.title, content.authors, content.abstract, content.status, *content.reasons]
    assert all(part == fold(part) for part in parts)
    assert len(content.abstract) <= display.ABSTRACT_CHARS
    assert len(content.reasons) <= REASONS_SHOWN + 1
    assert all(len(line) <= 400 for line in content.reasons)
    assert content.buttons is not final
    assert content.title
