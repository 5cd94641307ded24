"""Where a route's papers go: its channels on the chats that are running.

A channel is named `platform:channel-id` everywhere in the core and the database.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.chat.base import Chat
from bot.config import RulesSource
from bot.errors import PaperbotError
from bot.models import Reply, Route

log = logging.getLogger(__name__)

CHAT_PLATFORMS = ("slack", "discord")  # other chats (console, tests) get one channel per route


class Channels:
    def __init__(self, rules: RulesSource, chats: Mapping[str, Chat]) -> None:
        self.rules = rules
        self.chats = dict(chats)

    def routes(self) -> tuple[Route, ...]:
        return self.rules.current()[0].routes

    def route(self, name: str) -> Route | None:
        return next((r for r in self.routes() if r.name == name), None)

    def of_route(self, route: Route) -> list[str]:
        """The route's channels on the running chats, as platform:channel-id."""
        found = []
        if route.slack_channel and "slack" in self.chats:
            found.append(f"slack:{route.slack_channel}")
        if route.discord_channel and "discord" in self.chats:
            found.append(f"discord:{route.discord_channel}")
        if not found:  # console and test chats: one channel per route, named after it
            found += [f"{p}:{route.name}" for p in self.chats if p not in CHAT_PLATFORMS]
        return found

    def routes_of(self, channel: str) -> list[Route]:
        return [r for r in self.routes() if channel in self.of_route(r)]

    def is_running(self, channel: str) -> bool:
        return channel.partition(":")[0] in self.chats

    def chat(self, channel: str) -> tuple[Chat, str]:
        platform, _, channel_id = channel.partition(":")
        return self.chats[platform], channel_id

    async def check(self) -> None:
        """At start-up: every configured channel must be visible to the bot."""
        for route in self.routes():
            for channel in self.of_route(route):
                chat, channel_id = self.chat(channel)
                await chat.check_channel(channel_id)

    async def send(self, channel: str, reply: Reply) -> None:
        """Send a message (a digest, a notice); a failure is logged, never raised."""
        chat, channel_id = self.chat(channel)
        try:
            await chat.send_text(channel_id, reply.as_text())
        except PaperbotError as exc:
            log.warning("could not send a message to %s: %s", channel, exc)
