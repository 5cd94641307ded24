"""The seam between the core and a chat platform.

A platform adapter implements `Chat`: it posts papers, finds its own post of a paper again
(for reconciliation after a crash), updates a post when its decision changes, and sends plain
text (digests, notices). It turns the platform's events into `VoteEvent` and `CommandEvent`
and hands them to the `EventHandler` the core gives it. Adapters translate; they hold no
business rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.models import CommandEvent, PostView, Reply, VoteEvent


class EventHandler(Protocol):
    async def on_vote(self, event: VoteEvent) -> str | None:
        """Handle a vote; returns a short confirmation for buttons (None when ignored)."""

    async def on_command(self, event: CommandEvent) -> Reply: ...


class Chat(Protocol):
    """One chat platform. Channel arguments are the platform's own ids (no prefix)."""

    platform: str

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

    async def send_text(self, channel: str, text: str) -> None: ...


ChatFactory = Callable[..., Awaitable[Chat]]
