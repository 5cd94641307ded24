"""The chat used when no platform is configured: posts, digests and notices go to the log.

Curators decide from the CLI instead (`paperbot accept ID`, `paperbot reject ID`), so the
whole loop runs with no tokens at all.
"""

from __future__ import annotations

import itertools
import logging

from bot.chat.base import EventHandler, Failure, ReactionVotes
from bot.display import post_content
from bot.models import PostView, Reply

log = logging.getLogger(__name__)


class ConsoleChat:
    platform = "console"

    def __init__(self) -> None:
        self._refs = itertools.count(1)
        self._posts: dict[tuple[str, str], str] = {}
        self.failed = Failure()

    async def start(self, handler: EventHandler) -> None:
        log.info("no chat platform configured: posts go to this log; decide with the CLI")

    async def close(self) -> None:
        return None

    async def check_channel(self, channel: str) -> None:
        return None

    async def post_paper(self, channel: str, view: PostView, nonce: str) -> str:
        ref = f"console-{next(self._refs)}"
        self._posts[(channel, view.paper.id)] = ref
        content = post_content(view)
        why = "; ".join(content.reasons) or "no reason given"
        log.info(
            "[%s] new paper %s: %s <%s> (%s)",
            channel,
            content.paper_id,
            content.title,
            content.url,
            why,
        )
        return ref

    async def find_post(self, channel: str, paper_id: str) -> str | None:
        return self._posts.get((channel, paper_id))

    async def update_post(self, channel: str, ref: str, view: PostView) -> None:
        content = post_content(view)
        log.info("[%s] %s: %s · %s", channel, content.paper_id, content.status, content.votes)

    async def send_text(self, channel: str, text: str) -> None:
        log.info("[%s] %s", channel, text)

    async def reply_in_thread(self, channel: str, ref: str, text: str) -> None:
        log.info("[%s] (reply to %s) %s", channel, ref, text)

    async def send_reply(self, channel: str, reply: Reply) -> None:
        log.info("[%s] %s", channel, reply.as_text())

    async def read_votes(self, channel: str, ref: str) -> ReactionVotes:
        return {}  # nobody reacts in a log
