"""What the chats say, decided once: a post's content (`post_content`) and the sentences sent.

Pure: imports only `bot.models` and the standard library. Adapters only escape, mark up and
fit this text to their platform's limits; they choose no wording of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.models import MODEL_FIELD, PostView, Reason

AUTHORS_SHOWN = 5  # the et al. rule: the first five authors, then "et al."
AUTHOR_CHARS = 100  # one author's name, clipped
REASONS_SHOWN = 5  # then "…and N more"
TERM_CHARS = 100
FIELD_CHARS = 40
MATCH_CHARS = 200  # the matched text quoted in a reason
ABSTRACT_CHARS = 1000
NOTE_CHARS = 300
TLDR_CHARS = 500
ITEM_TITLE_CHARS = 200  # a paper's title in a command's answer
ITEM_DETAIL_CHARS = 100

STATUS_LABELS = {
    "pending": "Pending",
    "accepted": "Accepted",
    "rejected": "Rejected",
    "expired": "Expired",
}
VOTE_HINT = "Vote with a 👍/👎 reaction or the buttons."
REASONS_HEADING = "Why it matched"

# --- sentences both adapters send in the same situations ---------------------------------

NOT_READY = "paperbot is not ready; try again in a minute."
VOTE_NOT_TAKEN = "This post does not take votes here."
VOTE_FAILED = "Sorry, that vote could not be counted; please try again."
COMMAND_FAILED = "That command failed; the details are in paperbot's log."
UNKNOWN_COMMAND = "paperbot does not know that command (yet); try /papers help"
NO_SEARCH_WORDS = "search needs words to look for, such as: kv cache"
SERVERS_ONLY = "/papers works in a server's route channel, not in direct messages."


def refused(error: BaseException) -> str:
    """A command or vote the core refused on purpose (a `PaperbotError`), in one sentence."""
    return f"That did not work: {error}"


def unreadable_arguments(detail: str) -> str:
    return f"That command's arguments could not be read ({detail}); try /papers help"


def bad_days(days: int) -> str:
    return f"{days} is not a number of days from 1 to 365."


def not_an_arxiv_id(text: str) -> str:
    return f"'{text[:40]}' is not an arXiv id such as 2503.12228 or arXiv:2503.12228v2."


def more(count: int) -> str:
    """The line standing for `count` entries left out."""
    return f"…and {count} more"


# --- a paper's post --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostContent:
    """A post's text, platform-neutral: plain text with whitespace folded, nothing escaped."""

    paper_id: str
    title: str
    url: str
    authors: str  # "A, B, C, D, E et al."; "" when the paper lists none
    categories: str  # "cs.DC, cs.LG", the primary category first; "" when none
    reasons: tuple[str, ...]  # one line each, at most REASONS_SHOWN then "…and N more"
    abstract: str  # clipped; "" when the paper has none
    votes: str  # "👍 2 · 👎 1"
    status: str  # "Pending", "Accepted (by votes)", "Rejected (by slack:U0123)"...
    state: str  # pending | accepted | rejected | expired: for a colour or an icon
    reference: str  # "arXiv:2611.00002 · llm-systems"
    hint: str  # how to vote; "" once final
    final: bool  # votes can no longer change it: no buttons
    tags: str = ""  # "serving · kernel": the paper's topic tags, once known
    tldr: str = ""  # "TL;DR: ...", once the summariser wrote one
    fit: str = ""  # "fits 0.86 · 2nd of 31 today" (after "suggested · " for a suggestion)

    @property
    def buttons(self) -> bool:
        """Whether the post shows Accept/Reject: until it is final."""
        return not self.final


def post_content(view: PostView, *, abstract_chars: int = ABSTRACT_CHARS) -> PostContent:
    """What a paper's post says, on every platform."""
    paper = view.paper
    return PostContent(
        paper_id=paper.id,
        title=fold(paper.title) or paper.id,
        url=paper.url,
        authors=authors_line(paper.authors),
        categories=categories_line(paper.primary_category, paper.categories),
        reasons=reason_lines(view.reasons),
        abstract=clip(fold(paper.abstract), abstract_chars),
        votes=votes_line(view.ups, view.downs),
        status=status_line(view.status, view.note),
        state=view.status if view.status in STATUS_LABELS else "pending",
        reference=" · ".join(filter(None, (f"arXiv:{paper.id}", ", ".join(view.routes)))),
        hint="" if view.final else VOTE_HINT,
        final=view.final,
        tags=" · ".join(fold(t) for t in view.tags),
        tldr=f"TL;DR: {clip(fold(view.tldr), TLDR_CHARS)}" if fold(view.tldr) else "",
        fit=fit_text(view),
    )


def fit_text(view: PostView) -> str:
    """The learnt taste's line: "suggested · fits 0.86 · 2nd of 31 today"; "" while silent."""
    suggested = any(r.field == MODEL_FIELD for r in view.reasons)
    fit = fit_line(view.score, view.rank, view.of) if view.score is not None else ""
    return " · ".join(p for p in ("suggested" if suggested else "", fit) if p)


def fit_line(score: float, rank: int, total: int) -> str:
    """How well a paper fits the team's taste: "fits 0.86 · 2nd of 31 today"."""
    line = f"fits {score:.2f}"
    return f"{line} · {ordinal(rank)} of {total} today" if rank > 0 and total > 0 else line


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def authors_line(authors: Sequence[str]) -> str:
    """The et al. rule: the first AUTHORS_SHOWN authors, then "et al." when there are more."""
    names = [clip(fold(a), AUTHOR_CHARS) for a in authors]
    shown = ", ".join(n for n in names[:AUTHORS_SHOWN] if n)
    if len(names) > AUTHORS_SHOWN and shown:
        shown += " et al."
    return shown


def categories_line(primary: str, categories: Sequence[str]) -> str:
    """The primary category first, each one once."""
    found = [fold(c) for c in (primary, *categories)]
    return ", ".join(dict.fromkeys(c for c in found if c))


def reason_text(reason: Reason) -> str:
    """Why a paper matched, in words: `'llm' in title: "LLMs"`; a request is its own text."""
    term = clip(fold(reason.term), TERM_CHARS)
    matched = clip(fold(reason.text), MATCH_CHARS)
    if reason.field == MODEL_FIELD:  # no rule matched: the words that drove the score
        return f"suggested (no rule matched); it fits for: {matched}" if matched else term
    if reason.field == "request" or not matched:  # e.g. "added by slack:U0123"
        return term
    return f"'{term}' in {clip(fold(reason.field), FIELD_CHARS)}: \"{matched}\""


def reason_lines(reasons: Sequence[Reason]) -> tuple[str, ...]:
    lines = [reason_text(r) for r in reasons[:REASONS_SHOWN]]
    if len(reasons) > REASONS_SHOWN:
        lines.append(more(len(reasons) - REASONS_SHOWN))
    return tuple(lines)


def votes_line(ups: int, downs: int) -> str:
    return f"👍 {ups} · 👎 {downs}"


def status_line(status: str, note: str = "") -> str:
    """ "Pending"; "Accepted (by votes)" for the note "accepted by votes"."""
    label = STATUS_LABELS.get(status, fold(status).capitalize() or "Pending")
    detail = fold(note)
    if detail.startswith(f"{status} "):
        detail = detail[len(status) + 1 :]
    return f"{label} ({clip(detail, NOTE_CHARS)})" if detail else label


# --- text helpers, the same meaning in every adapter -------------------------------------------


def fold(text: str) -> str:
    """One line: runs of whitespace (arXiv's hard line breaks included) become one space."""
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    """At most `limit` characters; a cut text ends at a word where it can, with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"
