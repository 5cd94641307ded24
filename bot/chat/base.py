"""The seam between the core and a chat platform: the `Chat` protocol adapters implement.

An adapter posts, finds its own post again after a crash, updates posts and sends replies;
it turns platform events into `VoteEvent`/`CommandEvent` for the core's `EventHandler`.
Adapters translate; they hold no business rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from bot.errors import ChatError
from bot.models import CommandEvent, PostView, Reply, VoteEvent

ReactionVotes = Mapping[str, Mapping[str, int]]
"""platform:user -> {normalized voting emoji -> +1/-1}: the reactions on a post right now."""
"""Called with (platform:channel, message ref) when a post's reactions changed in bulk."""


class ChannelUnusable(ChatError):
    """Permanent for one channel (archived, deleted, no access, a missing scope): not retried
    until the routes file changes or the bot restarts."""


class ChatDead(ChatError):
    """The chat as a whole can no longer work (token revoked, gateway closed for good)."""


class Failure:
    """Set once when a chat can no longer work; `paperbot run` then exits non-zero."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._event = asyncio.Event()

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> str:
        await self._event.wait()
        return self.reason or "a chat stopped working"


class EventHandler(Protocol):
    async def on_vote(self, event: VoteEvent) -> str | None:
        """Handle a vote; returns a short confirmation for buttons (None when ignored)."""

    async def on_command(self, event: CommandEvent) -> Reply: ...

    async def on_votes_changed(self, channel: str, ref: str) -> None:
        """Reactions on a post changed in bulk (cleared): the core reads its votes again."""


class Chat(Protocol):
    """One chat platform. Channel arguments are the platform's own ids (no prefix)."""

    platform: str
    failed: Failure  # set when the chat can no longer work

    async def start(self, handler: EventHandler) -> None:
        """Connect and start delivering events; raises ChatError with one clear sentence."""

    async def close(self) -> None: ...

    async def check_channel(self, channel: str) -> None:
        """Raise ChatError saying what to do when the bot cannot post in `channel`."""

    async def post_paper(self, channel: str, view: PostView, nonce: str) -> str:
        """Post a paper; returns the message reference."""

    async def find_post(self, channel: str, paper_id: str) -> str | None:
        """The bot's existing post of this paper in the channel, if any."""

    async def update_post(self, channel: str, ref: str, view: PostView) -> None: ...

    async def reply_in_thread(self, channel: str, ref: str, text: str) -> None:
        """Reply to the post `ref` (a thread reply on Slack, a reply on Discord); `<@id>`
        mentions in `text` stay mentions."""

    async def send_text(self, channel: str, text: str) -> None: ...

    async def send_reply(self, channel: str, reply: Reply) -> None:
        """A digest or notice, rendered in the platform's own markup and size."""

    async def read_votes(self, channel: str, ref: str) -> ReactionVotes:
        """The voting reactions on a post now, one entry per user (bots left out)."""


ChatFactory = Callable[..., Awaitable[Chat]]
