"""The chat used when no platform is configured: posts, digests and notices go to the log.

Curators decide from the CLI instead (`paperbot accept ID`, `paperbot reject ID`), so the
whole loop runs with no tokens at all.
"""

from __future__ import annotations

import itertools
import logging

from bot.chat.base import EventHandler, PostView

log = logging.getLogger(__name__)


class ConsoleChat:
    platform = "console"

    def __init__(self) -> None:
        self._refs = itertools.count(1)
        self._posts: dict[tuple[str, str], str] = {}

    async def start(self, handler: EventHandler) -> None:
        log.info("no chat platform configured: posts go to this log; decide with the CLI")

    async def close(self) -> None:
        return None

    async def check_channel(self, channel: str) -> None:
        return None

    async def post_paper(self, channel: str, view: PostView, nonce: str) -> str:
        ref = f"console-{next(self._refs)}"
        self._posts[(channel, view.paper.id)] = ref
        terms = ", ".join(dict.fromkeys(r.term for r in view.reasons))
        log.info(
            "[%s] new paper %s: %s <%s> (matched %s)",
            channel,
            view.paper.id,
            view.paper.title,
            view.paper.url,
            terms,
        )
        return ref

    async def find_post(self, channel: str, paper_id: str) -> str | None:
        return self._posts.get((channel, paper_id))

    async def update_post(self, channel: str, ref: str, view: PostView) -> None:
        log.info("[%s] %s is now %s%s", channel, view.paper.id, view.status, _note(view))

    async def send_text(self, channel: str, text: str) -> None:
        log.info("[%s] %s", channel, text)


def _note(view: PostView) -> str:
    return f" ({view.note})" if view.note else ""
