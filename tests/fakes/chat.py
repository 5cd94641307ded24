"""A chat that keeps its messages in memory: the seam's behaviour without a platform."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from bot.chat.base import EventHandler, Failure, ReactionVotes
from bot.errors import ChatError
from bot.models import PostView, Reply


@dataclass
class Message:
    channel: str
    ref: str
    view: PostView | None = None
    text: str = ""
    nonce: str = ""
    edits: list[PostView] = field(default_factory=list)
    reply: Reply | None = None
    reactions: dict[str, dict[str, int]] = field(default_factory=dict)  # user -> emoji -> value


class MemoryChat:
    platform = "test"

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.replies: list[tuple[str, str, str]] = []  # (channel, post ref, text) in threads
        self.handler: EventHandler | None = None
        self.fail_posts = 0  # the next N posts fail as a platform error would
        self.updates_open: asyncio.Event | None = None  # set: post updates wait until it is set
        self.updates_started = 0
        self.visible: set[str] | None = None  # channels the bot can see (None: all)
        self._refs = itertools.count(1)
        self.failed = Failure()
        self.finds = 0  # find_post calls

    async def start(self, handler: EventHandler) -> None:
        self.handler = handler

    async def close(self) -> None:
        return None

    async def check_channel(self, channel: str) -> None:
        if self.visible is not None and channel not in self.visible:
            raise ChatError(f"the bot cannot see channel {channel}; invite it there")

    async def post_paper(self, channel: str, view: PostView, nonce: str) -> str:
        if self.fail_posts:
            self.fail_posts -= 1
            raise ChatError("the platform answered 500")
        ref = f"m{next(self._refs)}"
        self.messages.append(Message(channel, ref, view=view, nonce=nonce))
        return ref

    async def find_post(self, channel: str, paper_id: str) -> str | None:
        self.finds += 1
        for message in self.messages:
            if message.channel == channel and message.view and message.view.paper.id == paper_id:
                return message.ref
        return None

    async def update_post(self, channel: str, ref: str, view: PostView) -> None:
        self.updates_started += 1
        if self.updates_open is not None:
            await self.updates_open.wait()  # a rate-limited or hanging platform
        for message in self.messages:
            if message.ref == ref:
                message.edits.append(view)

    async def reply_in_thread(self, channel: str, ref: str, text: str) -> None:
        self.replies.append((channel, ref, text))

    async def send_text(self, channel: str, text: str) -> None:
        self.messages.append(Message(channel, f"m{next(self._refs)}", text=text))

    async def send_reply(self, channel: str, reply: Reply) -> None:
        self.messages.append(
            Message(channel, f"m{next(self._refs)}", text=reply.as_text(), reply=reply)
        )

    async def read_votes(self, channel: str, ref: str) -> ReactionVotes:
        for message in self.messages:
            if message.channel == channel and message.ref == ref:
                return {u: dict(r) for u, r in message.reactions.items() if r}
        return {}

    # --- for assertions ---
    def posts(self, channel: str | None = None) -> list[Message]:
        return [m for m in self.messages if m.view is not None and channel in (None, m.channel)]

    def texts(self, channel: str | None = None) -> list[str]:
        return [m.text for m in self.messages if m.view is None and channel in (None, m.channel)]
