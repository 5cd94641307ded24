"""Chat subscriptions: `/papers subscribe serving` (a tag, a term, or author:Name); when a
matching paper is posted, its subscribers are mentioned once, in one reply under the post, in
the channel where they subscribed (so only in channels they can see).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.channels import Channels
from bot.errors import PaperbotError, TermError, UsageError
from bot.matching import Matcher, check_term
from bot.models import Paper, Post, Reply, Route, Subscription
from bot.tagging import MAX_TAGS, canonical
from storage.store import Store

log = logging.getLogger(__name__)

KINDS = ("tag", "term", "author")


def parse_subscription(text: str, routes: Sequence[Route]) -> str:
    """`serving` -> "tag:serving" (a tag of these routes), `author:Jane Doe`, else a term."""
    text = " ".join(text.split())
    if not text:
        raise UsageError("subscribe needs a tag, a term or author:Name, such as: subscribe serving")
    kind, colon, rest = text.partition(":")
    if colon and kind.lower() in KINDS and rest.strip():
        kind, text = kind.lower(), rest.strip()
    else:
        kind = "tag" if _tag(routes, text) else "term"
    if kind == "tag":
        name = _tag(routes, text)
        if name is None:
            raise UsageError(f"'{text[:40]}' is not a tag of this channel's routes")
        return f"tag:{name}"
    try:
        check_term("subscription", "authors" if kind == "author" else "accept", text)
    except TermError as exc:
        raise UsageError(str(exc)) from exc
    return f"{kind}:{text}"


def _tag(routes: Sequence[Route], text: str) -> str | None:
    return next((t for r in routes if (t := canonical(r.tags, text))), None)


def wants(subscription: Subscription, paper: Paper, tags: Sequence[str]) -> bool:
    """Whether the paper (with these tags) is one the subscription asks for."""
    kind, _, value = subscription.what.partition(":")
    if kind == "tag":
        return value.casefold() in {t.casefold() for t in tags}
    route = Route(
        "subscription",
        ("any",),
        accept=(value,) if kind == "term" else (),
        authors=(value,) if kind == "author" else (),
    )
    anywhere = Paper(paper.id, paper.title, authors=paper.authors, abstract=paper.abstract)
    return bool(Matcher([route]).match(_with_category(anywhere)))


def _with_category(paper: Paper) -> Paper:
    return Paper(paper.id, paper.title, 1, paper.authors, paper.abstract, ("any",), "any")


def mention(user: str) -> str:
    """A platform user id ("slack:U123", "discord:42") as the mention both platforms read."""
    return f"<@{user.partition(':')[2] or user}>"


class Subscriptions:
    """Mentions subscribers under each post of a paper they asked for, once per post."""

    def __init__(self, *, store: Store, channels: Channels) -> None:
        self.store = store
        self.channels = channels

    async def notify(self, post: Post) -> bool:
        """Reply under the post mentioning its subscribers; True when a reply was sent."""
        stored = self.store.get_paper(post.paper_id)
        subscribers = self.store.subscriptions(channel=post.channel)
        if stored is None or post.ref is None or not subscribers:
            self.store.reply_intent(post.paper_id, post.channel, "none")
            return False
        tags = [t for r in post.routes if (n := self.store.note(post.paper_id, r)) for t in n.tags]
        found: dict[str, list[str]] = {}
        for sub in subscribers:
            if wants(sub, stored.paper, tags):
                found.setdefault(sub.user, []).append(sub.what)
        if not found:
            self.store.reply_intent(post.paper_id, post.channel, "none")
            return False
        if not self.channels.is_running(post.channel):
            return False  # settled when that chat runs again
        if not self.store.reply_intent(post.paper_id, post.channel):
            return False  # replied before (or a crash left it unknown: never twice)
        text = "For " + ", ".join(
            f"{mention(user)} ({', '.join(whats)})" for user, whats in found.items()
        )
        chat, channel_id = self.channels.chat(post.channel)
        try:
            await chat.reply_in_thread(channel_id, post.ref, text)
        except PaperbotError as exc:
            log.warning("could not mention subscribers under %s: %s", post.paper_id, exc)
            return False
        self.store.reply_sent(post.paper_id, post.channel)
        return True


# --- the `/papers` commands that change tags and subscriptions ---------------------------


def subscription_command(
    store: Store, routes: Sequence[Route], user: str, channel: str, name: str, words: Sequence[str]
) -> Reply:
    """`subscribe X`, `unsubscribe X`, `subscriptions`, for this user in this channel."""
    if name == "subscriptions":
        mine = store.subscriptions(user=user, channel=channel)
        listed = ", ".join(s.what for s in mine) or "none"
        return Reply(f"Your subscriptions here: {listed}")
    try:
        what = parse_subscription(" ".join(words), routes)
    except UsageError as exc:
        return Reply(f"That did not work: {exc}.", ok=False)
    if name == "subscribe":
        new = store.subscribe(user, channel, what)
        return Reply(
            f"Subscribed to {what}: you will be mentioned under matching posts here"
            if new
            else f"You were already subscribed to {what} here"
        )
    if store.unsubscribe(user, channel, what):
        return Reply(f"Unsubscribed from {what}")
    return Reply(f"You had no subscription to {what} here", ok=False)


def tag_command(store: Store, routes: Sequence[Route], user: str, words: Sequence[str]) -> Reply:
    """`tag ID +serving -edge`: a curator changes a paper's tags on these routes."""
    from bot.papers_command import parse_paper_id  # the command module imports this one

    if len(words) < 2 or not all(w[:1] in "+-" and len(w) > 1 for w in words[1:]):
        raise UsageError("tag needs an id and changes, such as: tag 2503.12228 +serving -edge")
    paper_id = parse_paper_id(words[0])
    if store.get_paper(paper_id) is None:
        return Reply(f"{paper_id} is not in the database; /papers add {paper_id} fetches it")
    changed = []
    for route in routes:
        note = store.note(paper_id, route.name)
        tags = list(note.tags if note else ())
        for word in words[1:]:
            name = canonical(route.tags, word[1:])
            if name is None:
                known = " ".join(t.name for t in route.tags) or "none"
                return Reply(f"'{word[1:40]}' is not a tag of {route.name} ({known})", ok=False)
            if word[0] == "+" and name not in tags:
                tags.append(name)
            elif word[0] == "-" and name in tags:
                tags.remove(name)
        if len(tags) > MAX_TAGS:
            return Reply(f"a paper has at most {MAX_TAGS} tags; remove one first", ok=False)
        store.set_note(paper_id, route.name, tags=tags, tags_by=f"curator:{user}")
        store.mark_unpublished(route.name)  # its list line is rewritten at the next publish
        changed.append(f"{route.name}: {' '.join(tags) or 'no tags'}")
    return Reply(f"Tags of {paper_id} now: " + "; ".join(changed), public=True)
