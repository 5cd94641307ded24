"""The background job that completes posts: tags (terms, learnt tagger, summariser), a TL;DR,
an edit of the post in place, then the subscribers' mention. Posting never waits for it.

With `llm_filter`, unmatched papers the summariser judges relevant become candidates too.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.channels import Channels
from bot.clock import Clock
from bot.models import Match, Paper, Reason, Route
from bot.posting import Poster
from bot.subscriptions import Subscriptions
from bot.summarise import Summariser
from bot.tagging import Tagger
from storage.store import Store

log = logging.getLogger(__name__)

WINDOW = timedelta(days=2)  # posts (and papers, for llm_filter) older than this are left alone
LLM_REASON = "no term matched; the summariser judged it relevant"
HUMAN = ("list", "curator:")  # tags given by people are never replaced


class Notes:
    def __init__(
        self,
        *,
        store: Store,
        channels: Channels,
        poster: Poster,
        clock: Clock,
        tagger: Tagger,
        subscriptions: Subscriptions,
        summariser: Summariser | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.poster = poster
        self.clock = clock
        self.tagger = tagger
        self.subscriptions = subscriptions
        self.summariser = summariser
        self.lock = asyncio.Lock()

    async def run(self) -> int:
        """One round: the llm filter, then every post not completed yet. Returns posts done."""
        async with self.lock:
            since = self.clock() - WINDOW
            await self.filter()
            done = 0
            for post in self.store.posts_without_reply(since):
                stored = self.store.get_paper(post.paper_id)
                if stored is None:
                    continue
                for name in post.routes:
                    route = self.channels.route(name)
                    if route is not None:
                        await self.complete(route, stored.paper)
                await self.poster.refresh(post.paper_id)
                await self.subscriptions.notify(post)
                done += 1
            return done

    async def complete(self, route: Route, paper: Paper) -> None:
        """Give the paper its tags and TL;DR on the route, as far as they can be had now."""
        note = self.store.note(paper.id, route.name)
        human = note is not None and note.tags_by.startswith(HUMAN)
        if note is None and route.tags:
            tags = await self.tagger.tags_async(route, paper)
            self.store.set_note(paper.id, route.name, tags=tags, tags_by="auto")
        if self.summariser is None or (note is not None and note.tldr):
            return
        summary = await self.summariser.summarise(route, paper)
        if summary is None or summary.status != "ok":
            return  # budget spent, or no usable answer: the post stays as it is
        if summary.tags and not human:
            self.store.set_note(
                paper.id,
                route.name,
                tags=summary.tags,
                tags_by="llm",
                tldr=summary.tldr,
                tldr_by="llm",
            )
        else:
            self.store.set_note(paper.id, route.name, tldr=summary.tldr, tldr_by="llm")

    async def filter(self) -> None:
        """Routes with `llm_filter`: papers of their categories no term matched, judged now."""
        if self.summariser is None:
            return
        for route in self.channels.routes():
            if not route.llm_filter:
                continue
            for stored in self.store.unmatched_candidates(route.name, self.clock() - WINDOW):
                paper = stored.paper
                cats = {paper.primary_category} if route.primary_only else set(paper.categories)
                if cats.isdisjoint(route.categories):
                    continue
                summary = await self.summariser.summarise(route, paper)
                if summary is None:
                    return  # the day's budget is spent
                if summary.relevant:
                    reason = Reason(LLM_REASON, "request", "")
                    self.store.add_matches([Match(paper.id, route.name, (reason,))], "poll")
                    log.info("%s: %s judged relevant by the summariser", route.name, paper.id)
