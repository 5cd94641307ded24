"""Where a route's papers go: its channels on the chats that are running.

A channel is named `platform:channel-id` everywhere in the core and the database. A channel
a chat refuses for good is set aside (logged once, kept in the store) until the routes change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.chat.base import ChannelUnusable, Chat
from bot.config import Config, RulesSource
from bot.errors import PaperbotError
from bot.models import Reply, Route
from storage.store import Store

log = logging.getLogger(__name__)

CHAT_PLATFORMS = ("slack", "discord")  # other chats (console, tests) get one channel per route


class Channels:
    def __init__(
        self, rules: RulesSource, chats: Mapping[str, Chat], store: Store | None = None
    ) -> None:
        self.rules = rules
        self.chats = dict(chats)
        self.store = store
        self._unusable: dict[str, Config] = {}  # channel -> the rules in force when refused
        self._recorded: set[str] | None = None  # channels with a problem in the store

    def usable(self, channel: str) -> bool:
        """False for a channel refused for good, until the routes file changes."""
        refused_under = self._unusable.get(channel)
        if refused_under is None:
            return True
        if refused_under is not self.rules.current()[0]:
            del self._unusable[channel]  # the routes changed: try it again
            return True
        return False

    def failed(self, channel: str, error: PaperbotError, doing: str) -> None:
        """Log a chat failure: a permanent one once, at ERROR, and recorded for `status`."""
        if isinstance(error, ChannelUnusable):
            if channel not in self._unusable:
                log.error("%s is set aside until the routes file changes: %s", channel, error)
                if self.store is not None:
                    self.store.set_channel_problem(channel, str(error))
                    self._problems().add(channel)
            self._unusable[channel] = self.rules.current()[0]
        else:
            log.warning("%s in %s failed, will retry: %s", doing, channel, error)

    def worked(self, channel: str) -> None:
        """The channel works (again): clear a problem recorded before."""
        if self.store is not None and channel in self._problems():
            self.store.set_channel_problem(channel, None)
            self._problems().discard(channel)

    def _problems(self) -> set[str]:
        if self._recorded is None:
            self._recorded = set(self.store.channel_problems()) if self.store else set()
        return self._recorded

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
        if not self.usable(channel):
            return
        chat, channel_id = self.chat(channel)
        try:
            await chat.send_reply(channel_id, reply)
        except PaperbotError as exc:
            self.failed(channel, exc, "sending a message")
