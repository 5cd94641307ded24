"""The seam between the core and a chat platform.

A platform adapter implements `Chat`: it posts papers, finds its own post of a paper again
(for reconciliation after a crash), updates a post when its decision changes, and sends plain
text (digests, notices). It turns the platform's events into `VoteEvent` and `CommandEvent`
and hands them to the `EventHandler` the core gives it. Adapters translate; they hold no
business rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.curation import Signal
from bot.models import Paper, Reason


@dataclass(frozen=True, slots=True)
class PostView:
    """What a paper's post shows."""

    paper: Paper
    routes: tuple[str, ...]
    reasons: tuple[Reason, ...]
    status: str = "pending"  # pending | accepted | rejected | expired
    note: str = ""  # e.g. "accepted by votes: 2 up, 0 down"
    ups: int = 0
    downs: int = 0
    final: bool = False  # votes can no longer change it (expired, or decided by hand)


@dataclass(frozen=True, slots=True)
class VoteEvent:
    """A reaction or button press on a message, as the platform reported it."""

    channel: str  # platform:channel-id
    message_ref: str
    signal: Signal
    from_bot: bool = False  # the bot's own reactions are never votes


@dataclass(frozen=True, slots=True)
class ReplyItem:
    paper_id: str
    title: str
    url: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """A command's answer; adapters render it their own way."""

    text: str
    items: tuple[ReplyItem, ...] = ()
    public: bool = False  # False: only the asker sees it (where the platform can do that)
    ok: bool = True

    def as_text(self) -> str:
        lines = [self.text]
        lines += [
            f"- {item.title} <{item.url}>" + (f" ({item.detail})" if item.detail else "")
            for item in self.items
        ]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class CommandEvent:
    channel: str  # platform:channel-id
    user: str  # platform:user-id
    text: str  # everything after the command name, e.g. "search kv cache"
    extra: dict[str, str] = field(default_factory=dict)


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
