"""A local Discord: the REST API and the gateway websocket, as much as paperbot uses.

The real discord.py talks to it over HTTP and a websocket on 127.0.0.1 (see
tests/README.md for how the fakes work): point `discord.http.Route.BASE` at
`api_url` and `DiscordWebSocket.DEFAULT_GATEWAY` at `gateway_url`.

REST answers with `Content-Type: application/json` exactly (discord.py's login fails on
`; charset=utf-8`). The gateway says HELLO, takes IDENTIFY, sends READY (its
`resume_gateway_url` points back here) and one GUILD_CREATE, answers heartbeats, and then
sends whatever a test dispatches: reactions and interactions. Messages are kept per channel,
create honours `nonce` + `enforce_nonce`, the bot's own reactions come back as gateway
events as on Discord, and failures can be set: a bad token (401), 429s (any length, any
scope) on message create, channels the bot cannot see, refusals by error code (archived,
missing access), permissions denied in a channel, a gateway closed with a code. Reactions
are kept per message (normal and super), readable as on Discord, and clearable in bulk.

It runs in its own thread and event loop (`ThreadedServer`), so async tests and `paperbot
run` processes can both use it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from tests.fakes.server import ThreadedServer

T = TypeVar("T")
DISCORD_EPOCH_MS = 1_420_070_400_000

TOKEN = "fake-bot-token.paperbot.test"
BOT_ID = "1300000000000000001"
APP_ID = "1300000000000000002"
OWNER_ID = "1300000000000000003"
GUILD_ID = "1300000000000000010"
CHANNEL_ID = "1300000000000000020"  # the route's channel
OTHER_CHANNEL_ID = "1300000000000000021"  # another text channel the bot can see
ALICE = "1300000000000000101"
BOB = "1300000000000000102"
CAROL = "1300000000000000103"
OTHER_BOT = "1300000000000000199"

# what the @everyone role may do in the test server
EVERYONE_PERMISSIONS = 1024 | 2048 | 16384 | 64 | 65536 | (1 << 31)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def user(user_id: str, name: str | None = None, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": name or f"user{user_id[-3:]}",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def member(user_id: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "user": user(user_id, bot=bot),
        "roles": [],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "nick": None,
        "avatar": None,
        "pending": False,
        "permissions": str(EVERYONE_PERMISSIONS),
    }


@dataclass
class Request:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


class FakeDiscord:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.frames: list[dict[str, Any]] = []  # what clients sent on the gateway
        self.channels: dict[str, dict[str, Any]] = {
            CHANNEL_ID: self._channel(CHANNEL_ID, "papers"),
            OTHER_CHANNEL_ID: self._channel(OTHER_CHANNEL_ID, "general"),
        }
        self.messages: dict[str, list[dict[str, Any]]] = {cid: [] for cid in self.channels}
        self.nonces: dict[tuple[str, str], str] = {}  # (channel, nonce) -> message id
        self.reactions: list[tuple[str, str, str]] = []  # (channel, message id, emoji) by the bot
        self.commands: dict[str | None, list[dict[str, Any]]] = {}  # guild id or None (global)
        self.callbacks: dict[str, list[dict[str, Any]]] = {}  # interaction id -> callback bodies
        self.followups: dict[str, list[dict[str, Any]]] = {}  # interaction token -> messages
        self.originals: dict[str, list[dict[str, Any]]] = {}  # token -> edits of @original
        self.deleted_originals: list[str] = []
        self.hidden: dict[str, int] = {}  # channel id -> 404 or 403
        self.rate_limit_posts = 0  # the next N message creates get a 429
        self.rate_limit_after = 0.05  # its retry_after, in seconds
        self.rate_limit_scope = "user"  # user | shared | global (X-RateLimit-Scope)
        self.refusals: dict[str, tuple[int, int, str]] = {}  # channel -> (status, code, text)
        # (channel, message id) -> [(emoji, user id, burst)]: every reaction, the bot's too
        self.message_reactions: dict[tuple[str, str], list[tuple[str, str, bool]]] = {}
        self.bots: set[str] = {BOT_ID, OTHER_BOT}
        self.echo_reactions = True  # the bot's own reactions come back on the gateway
        self.gateway_token: str | None = None  # IDENTIFY wants this token when set (else 4004)
        self.gateway_upgrades_left: int | None = None  # then the gateway answers 503
        self.gateway_connections = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._server = ThreadedServer(self._app)

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> FakeDiscord:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.submit(self._close_sockets()).result(10)
        self._server.stop()

    async def _close_sockets(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    @property
    def api_url(self) -> str:
        return f"{self._server.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._server.port}/"

    # --- the test server's data ------------------------------------------------------------

    def snowflake(self) -> str:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (next(self._ids) & 0x3FFFFF))

    @staticmethod
    def _channel(channel_id: str, name: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "type": 0,
            "guild_id": GUILD_ID,
            "name": name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def deny(self, channel_id: str, permissions: int) -> None:
        """Deny the bot these permissions in a channel (a member overwrite)."""
        with self.lock:
            self.channels[channel_id]["permission_overwrites"] = [
                {"id": BOT_ID, "type": 1, "allow": "0", "deny": str(permissions)}
            ]

    def guild(self) -> dict[str, Any]:
        with self.lock:
            channels = [dict(c) for c in self.channels.values()]
        return {
            "id": GUILD_ID,
            "name": "paperbot test server",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": OWNER_ID,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                {
                    "id": GUILD_ID,
                    "name": "@everyone",
                    "permissions": str(EVERYONE_PERMISSIONS),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "joined_at": "2026-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": 4,
            "members": [member(BOT_ID, bot=True)],
            "channels": channels,
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def bot_user(self) -> dict[str, Any]:
        return {**user(BOT_ID, "paperbot", bot=True), "verified": True, "mfa_enabled": False}

    # --- assertions -------------------------------------------------------------------------

    def seen(self, method: str, path_start: str) -> list[Request]:
        with self.lock:
            return [
                r for r in self.requests if r.method == method and r.path.startswith(path_start)
            ]

    def channel_messages(self, channel_id: str = CHANNEL_ID) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(json.dumps(m)) for m in self.messages.get(channel_id, [])]

    def message(self, message_id: str) -> dict[str, Any] | None:
        with self.lock:
            for messages in self.messages.values():
                for m in messages:
                    if m["id"] == message_id:
                        copy: dict[str, Any] = json.loads(json.dumps(m))
                        return copy
        return None

    def replies(self, interaction_id: str) -> list[dict[str, Any]]:
        """Everything the bot said in answer to an interaction, in order."""
        with self.lock:
            said = list(self.callbacks.get(interaction_id, []))
            token = f"token-{interaction_id}"
            said += self.originals.get(token, [])
            said += self.followups.get(token, [])
            return said

    # --- the test drives the gateway ----------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH to every connected, identified client."""
        await asyncio.wrap_future(self._server.submit(self._dispatch(event, data)))

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_str(
                    json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data})
                )

    def reaction_payload(
        self,
        message_id: str,
        user_id: str,
        emoji: str,
        *,
        channel_id: str = CHANNEL_ID,
        bot: bool = False,
        added: bool = True,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user_id": user_id,
            "channel_id": channel_id,
            "message_id": message_id,
            "guild_id": GUILD_ID,
            "emoji": {"id": None, "name": emoji},
            "type": 0,
            "burst": False,
        }
        if added:
            data["member"] = member(user_id, bot=bot)
            data["message_author_id"] = BOT_ID
            data["burst_colors"] = []
        return data

    async def react(
        self,
        message_id: str,
        user_id: str,
        emoji: str = "👍",
        *,
        channel_id: str = CHANNEL_ID,
        added: bool = True,
        bot: bool = False,
        burst: bool = False,
        dispatch: bool = True,
    ) -> None:
        event = "MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE"
        payload = self.reaction_payload(
            message_id, user_id, emoji, channel_id=channel_id, bot=bot, added=added
        )
        payload["burst"] = burst
        payload["type"] = 1 if burst else 0
        self.keep_reaction(channel_id, message_id, emoji, user_id, burst=burst, added=added)
        if bot:
            self.bots.add(user_id)
        if dispatch:
            await self.dispatch(event, payload)

    def keep_reaction(
        self,
        channel_id: str,
        message_id: str,
        emoji: str,
        user_id: str,
        *,
        burst: bool = False,
        added: bool = True,
    ) -> None:
        """Change the reactions Discord keeps (without telling anyone: the bot may be down)."""
        with self.lock:
            kept = self.message_reactions.setdefault((channel_id, message_id), [])
            entry = (emoji, user_id, burst)
            if added and entry not in kept:
                kept.append(entry)
            elif not added and entry in kept:
                kept.remove(entry)

    async def clear_reactions(
        self, message_id: str, emoji: str | None = None, *, channel_id: str = CHANNEL_ID
    ) -> None:
        """A moderator removes every reaction (or every `emoji` one) from a message."""
        with self.lock:
            kept = self.message_reactions.get((channel_id, message_id), [])
            kept[:] = [r for r in kept if emoji is not None and r[0] != emoji]
        data: dict[str, Any] = {
            "channel_id": channel_id,
            "message_id": message_id,
            "guild_id": GUILD_ID,
        }
        if emoji is None:
            await self.dispatch("MESSAGE_REACTION_REMOVE_ALL", data)
        else:
            data["emoji"] = {"id": None, "name": emoji}
            await self.dispatch("MESSAGE_REACTION_REMOVE_EMOJI", data)

    async def close_gateway(self, code: int, reason: str = "") -> None:
        """Discord ends every gateway session with this close code (4004: token reset)."""
        await asyncio.wrap_future(self._server.submit(self._close_with(code, reason)))

    async def _close_with(self, code: int, reason: str) -> None:
        for ws in list(self._sockets):
            await ws.close(code=code, message=reason.encode())

    def _interaction(
        self, kind: int, user_id: str, channel_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        interaction_id = self.snowflake()
        with self.lock:
            channel = dict(self.channels.get(channel_id) or self._channel(channel_id, "x"))
        return {
            "id": interaction_id,
            "application_id": APP_ID,
            "type": kind,
            "token": f"token-{interaction_id}",
            "version": 1,
            "guild_id": GUILD_ID,
            "guild": {"id": GUILD_ID, "locale": "en-US", "features": []},
            "channel_id": channel_id,
            "channel": channel,
            "member": member(user_id),
            "data": data,
            "app_permissions": str(EVERYONE_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": GUILD_ID},
            "context": 0,
            "attachment_size_limit": 10_485_760,
        }

    async def click(
        self, message_id: str, custom_id: str, user_id: str, *, channel_id: str = CHANNEL_ID
    ) -> str:
        """A member clicks a button under a message; returns the interaction id."""
        message = self.message(message_id) or self._message(channel_id, {"content": "gone"})
        payload = self._interaction(
            3, user_id, channel_id, {"custom_id": custom_id, "component_type": 2}
        )
        payload["message"] = message
        await self.dispatch("INTERACTION_CREATE", payload)
        return str(payload["id"])

    async def slash(
        self,
        subcommand: str,
        options: Mapping[str, int | str] | None = None,
        *,
        user_id: str = ALICE,
        channel_id: str = CHANNEL_ID,
    ) -> str:
        """A member runs `/papers <subcommand> ...`; returns the interaction id."""
        args = [
            {"name": k, "type": 4 if isinstance(v, int) else 3, "value": v}
            for k, v in (options or {}).items()
        ]
        data = {
            "id": self._command_id("papers"),
            "name": "papers",
            "type": 1,
            "options": [{"name": subcommand, "type": 1, "options": args}],
        }
        payload = self._interaction(2, user_id, channel_id, data)
        await self.dispatch("INTERACTION_CREATE", payload)
        return str(payload["id"])

    def _command_id(self, name: str) -> str:
        with self.lock:
            for commands in self.commands.values():
                for command in commands:
                    if command["name"] == name:
                        return str(command["id"])
        return "1300000000000000900"

    # --- HTTP --------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        return app

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        # exactly application/json: discord.py reads JSON only then
        return web.Response(
            body=json.dumps(data).encode(),
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    @staticmethod
    def _error(status: int, message: str, code: int) -> web.Response:
        return FakeDiscord._json({"message": message, "code": code}, status)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = "/" + request.match_info["path"]
        with self.lock:
            self.requests.append(
                Request(request.method, path, dict(request.query), body, dict(request.headers))
            )
        is_webhook = path.startswith(("/interactions/", "/webhooks/"))
        if not is_webhook and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._error(401, "401: Unauthorized", 0)
        for pattern, method, handler in self._routes():
            if method != request.method:
                continue
            parts = pattern.split("/")
            given = path.split("/")
            if len(parts) != len(given):
                continue
            args = {}
            for want, got in zip(parts, given, strict=True):
                if want.startswith("{"):
                    args[want[1:-1]] = got
                elif want != got:
                    break
            else:
                answer: web.StreamResponse = await handler(request, body, **args)
                return answer
        return self._error(404, f"404: Not Found ({request.method} {path})", 0)

    def _routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            ("/users/@me", "GET", self._me),
            ("/oauth2/applications/@me", "GET", self._application),
            ("/channels/{channel}", "GET", self._get_channel),
            ("/channels/{channel}/messages", "POST", self._create_message),
            ("/channels/{channel}/messages", "GET", self._history),
            ("/channels/{channel}/messages/{message}", "PATCH", self._edit_message),
            ("/channels/{channel}/messages/{message}", "GET", self._get_message),
            ("/channels/{channel}/messages/{message}/reactions/{emoji}", "GET", self._reactors),
            ("/channels/{channel}/messages/{message}/reactions/{emoji}/@me", "PUT", self._react),
            ("/applications/{app}/commands", "PUT", self._put_commands),
            ("/applications/{app}/guilds/{guild}/commands", "PUT", self._put_commands),
            ("/interactions/{interaction}/{token}/callback", "POST", self._callback),
            ("/webhooks/{app}/{token}", "POST", self._followup),
            ("/webhooks/{app}/{token}/messages/@original", "PATCH", self._edit_original),
            ("/webhooks/{app}/{token}/messages/@original", "DELETE", self._delete_original),
        ]

    async def _me(self, request: web.Request, body: Any) -> web.Response:
        return self._json(self.bot_user())

    async def _application(self, request: web.Request, body: Any) -> web.Response:
        return self._json(
            {
                "id": APP_ID,
                "name": "paperbot",
                "icon": None,
                "description": "",
                "summary": "",
                "rpc_origins": [],
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": user(OWNER_ID, "owner"),
                "verify_key": "0" * 64,
                "team": None,
                "flags": 0,
                "bot": self.bot_user(),
                "interactions_endpoint_url": None,
            }
        )

    def _visible(self, channel: str) -> web.Response | None:
        with self.lock:
            status = self.hidden.get(channel)
            known = channel in self.channels
            refusal = self.refusals.get(channel)
        if refusal is not None:
            return self._error(refusal[0], refusal[2], refusal[1])
        if status == 403:
            return self._error(403, "Missing Access", 50001)
        if status is not None or not known:
            return self._error(404, "Unknown Channel", 10003)
        return None

    async def _get_channel(self, request: web.Request, body: Any, channel: str) -> web.Response:
        if (refused := self._visible(channel)) is not None:
            return refused
        with self.lock:
            return self._json(self.channels[channel])

    def _message(self, channel: str, body: dict[str, Any], author: Any = None) -> dict[str, Any]:
        embeds = [{"type": "rich", **e} for e in body.get("embeds") or []]
        return {
            "id": self.snowflake(),
            "channel_id": channel,
            "author": author or self.bot_user(),
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": embeds,
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": body.get("flags") or 0,
            "nonce": body.get("nonce"),
            **(
                {"message_reference": body["message_reference"]}
                if body.get("message_reference")
                else {}
            ),
            "x_allowed_mentions": body.get("allowed_mentions"),  # for tests; clients ignore it
        }

    def forget_nonces(self) -> None:
        """Discord remembers a nonce for a few minutes only; this is those minutes passing."""
        with self.lock:
            self.nonces.clear()

    def post_as(self, user_id: str, content: str, channel_id: str = CHANNEL_ID) -> str:
        """A member writes a message (not through the bot); returns its id."""
        message = self._message(channel_id, {"content": content}, author=user(user_id))
        with self.lock:
            self.messages[channel_id].append(message)
        return str(message["id"])

    async def _create_message(self, request: web.Request, body: Any, channel: str) -> web.Response:
        if (refused := self._visible(channel)) is not None:
            return refused
        if problems := invalid_message(body):
            return self._json(
                {"message": "Invalid Form Body", "code": 50035, "errors": problems}, 400
            )
        with self.lock:
            if self.rate_limit_posts > 0:
                self.rate_limit_posts -= 1
                after = self.rate_limit_after
                return self._json(
                    {
                        "message": "You are being rate limited.",
                        "retry_after": after,
                        "global": self.rate_limit_scope == "global",
                    },
                    429,
                    {
                        "Retry-After": str(max(1, round(after))),
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": f"{time.time() + after:.3f}",
                        "X-RateLimit-Reset-After": f"{after:.3f}",
                        "X-RateLimit-Bucket": "fake-message-bucket",
                        "X-RateLimit-Scope": self.rate_limit_scope,
                        "Via": "1.1 google",
                    },
                )
            nonce = body.get("nonce")
            if nonce and body.get("enforce_nonce") and (channel, nonce) in self.nonces:
                existing = self.nonces[(channel, nonce)]
                for message in self.messages[channel]:
                    if message["id"] == existing:
                        return self._json(message)
            message = self._message(channel, body)
            self.messages[channel].append(message)
            if nonce:
                self.nonces[(channel, nonce)] = message["id"]
            return self._json(message)

    async def _history(self, request: web.Request, body: Any, channel: str) -> web.Response:
        if (refused := self._visible(channel)) is not None:
            return refused
        limit = min(100, int(request.query.get("limit", "50")))
        before = request.query.get("before")
        after = request.query.get("after")
        with self.lock:
            newest_first = list(reversed(self.messages[channel]))
        if before:
            newest_first = [m for m in newest_first if int(m["id"]) < int(before)]
        if after:
            newest_first = [m for m in newest_first if int(m["id"]) > int(after)]
            return self._json(list(reversed(newest_first))[:limit][::-1])
        return self._json(newest_first[:limit])

    async def _edit_message(
        self, request: web.Request, body: Any, channel: str, message: str
    ) -> web.Response:
        if (refused := self._visible(channel)) is not None:
            return refused
        if problems := invalid_message(body):
            return self._json(
                {"message": "Invalid Form Body", "code": 50035, "errors": problems}, 400
            )
        with self.lock:
            for stored in self.messages[channel]:
                if stored["id"] == message:
                    if "content" in body:
                        stored["content"] = body["content"] or ""
                    if "embeds" in body:
                        stored["embeds"] = [{"type": "rich", **e} for e in body["embeds"] or []]
                    if "components" in body:
                        stored["components"] = body["components"] or []
                    stored["edited_timestamp"] = _now()
                    return self._json(stored)
        return self._error(404, "Unknown Message", 10008)

    async def _get_message(
        self, request: web.Request, body: Any, channel: str, message: str
    ) -> web.Response:
        if (refused := self._visible(channel)) is not None:
            return refused
        found = self.message(message)
        if found is None or found["channel_id"] != channel:
            return self._error(404, "Unknown Message", 10008)
        with self.lock:
            kept = list(self.message_reactions.get((channel, message), []))
        counts: dict[str, dict[str, Any]] = {}
        for emoji, who, burst in kept:
            entry = counts.setdefault(
                emoji,
                {
                    "emoji": {"id": None, "name": emoji},
                    "count": 0,
                    "count_details": {"normal": 0, "burst": 0},
                    "me": False,
                    "me_burst": False,
                    "burst_colors": [],
                },
            )
            entry["count"] += 1
            entry["count_details"]["burst" if burst else "normal"] += 1
            if who == BOT_ID:
                entry["me_burst" if burst else "me"] = True
        found["reactions"] = list(counts.values())
        return self._json(found)

    async def _reactors(
        self, request: web.Request, body: Any, channel: str, message: str, emoji: str
    ) -> web.Response:
        """Who reacted with `emoji`: normal reactions, or super ones with `type=1`."""
        if (refused := self._visible(channel)) is not None:
            return refused
        burst = request.query.get("type", "0") == "1"
        after = int(request.query.get("after") or 0)
        limit = int(request.query.get("limit") or 25)
        name = unquote(emoji)
        with self.lock:
            kept = list(self.message_reactions.get((channel, message), []))
            bots = set(self.bots)
        who = sorted({int(u) for e, u, b in kept if e == name and b == burst and int(u) > after})[
            :limit
        ]
        return self._json([user(str(u), bot=str(u) in bots) for u in who])

    async def _react(
        self, request: web.Request, body: Any, channel: str, message: str, emoji: str
    ) -> web.StreamResponse:
        if (refused := self._visible(channel)) is not None:
            return refused
        with self.lock:
            self.reactions.append((channel, message, emoji))
            kept = self.message_reactions.setdefault((channel, message), [])
            if (unquote(emoji), BOT_ID, False) not in kept:
                kept.append((unquote(emoji), BOT_ID, False))
        if self.echo_reactions:  # Discord tells every client, the reacting bot included
            payload = self.reaction_payload(message, BOT_ID, emoji, channel_id=channel, bot=True)
            asyncio.get_running_loop().create_task(self._dispatch("MESSAGE_REACTION_ADD", payload))
        return web.Response(status=204)

    async def _put_commands(
        self, request: web.Request, body: Any, app: str, guild: str | None = None
    ) -> web.Response:
        stored = [
            {
                **command,
                "id": self.snowflake(),
                "application_id": app,
                "guild_id": guild,
                "version": "1",
                "default_member_permissions": None,
            }
            for command in body
        ]
        with self.lock:
            self.commands[guild] = stored
        return self._json(stored)

    async def _callback(
        self, request: web.Request, body: Any, interaction: str, token: str
    ) -> web.Response:
        with self.lock:
            self.callbacks.setdefault(interaction, []).append(body)
        kind = body.get("type")
        data = body.get("data") or {}
        message = self._message("0", data)
        return self._json(
            {
                "interaction": {
                    "id": interaction,
                    "type": 2,
                    "response_message_id": message["id"],
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(int(data.get("flags") or 0) & 64),
                },
                "resource": {"type": kind, "message": message},
            }
        )

    async def _followup(
        self, request: web.Request, body: Any, app: str, token: str
    ) -> web.Response:
        message = self._message("0", body if isinstance(body, dict) else {})
        with self.lock:
            self.followups.setdefault(token, []).append(body)
        return self._json(message)

    async def _edit_original(
        self, request: web.Request, body: Any, app: str, token: str
    ) -> web.Response:
        with self.lock:
            self.originals.setdefault(token, []).append(body)
        return self._json(self._message("0", body))

    async def _delete_original(
        self, request: web.Request, body: Any, app: str, token: str
    ) -> web.Response:
        with self.lock:
            self.deleted_originals.append(token)
        return web.Response(status=204)

    # --- the gateway -------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        with self.lock:
            self.gateway_connections += 1
            if self.gateway_upgrades_left is not None:
                if self.gateway_upgrades_left <= 0:
                    return self._error(503, "upstream connect error", 0)
                self.gateway_upgrades_left -= 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                with self.lock:
                    self.frames.append(frame)
                op = frame.get("op")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    await self._identify(ws, frame["d"])
                elif op == 6:
                    self._sockets.append(ws)
                    await ws.send_str(
                        json.dumps({"op": 0, "t": "RESUMED", "s": next(self._seq), "d": {}})
                    )
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != (self.gateway_token or self.token):
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        ready = {
            "v": 10,
            "user": self.bot_user(),
            "guilds": [{"id": GUILD_ID, "unavailable": True}],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": APP_ID, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
        }
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": next(self._seq), "d": ready}))
        await ws.send_str(
            json.dumps({"op": 0, "t": "GUILD_CREATE", "s": next(self._seq), "d": self.guild()})
        )


def invalid_message(body: Any) -> list[str]:
    """What Discord would refuse in a message body (its documented limits)."""
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems = []
    content = body.get("content") or ""
    if len(content) > 2000:
        problems.append(f"content is {len(content)} characters, over 2000")
    embeds = body.get("embeds") or []
    if not content and not embeds and not body.get("components") and "content" in body:
        problems.append("cannot send an empty message")
    for embed in embeds:
        total = 0
        for key, limit in (("title", 256), ("description", 4096)):
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                problems.append(f"embed {key} is {len(text)} characters, over {limit}")
        url = embed.get("url")
        if url is not None and not str(url).startswith(("http://", "https://")):
            problems.append(f"embed url {url!r} is not a URL")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems.append("an embed has over 25 fields")
        for field in fields:
            name, value = field.get("name") or "", field.get("value") or ""
            total += len(name) + len(value)
            if not name or not value:
                problems.append("an embed field's name or value is empty")
            if len(name) > 256 or len(value) > 1024:
                problems.append(f"embed field {name[:20]!r} is over its limit")
        footer = (embed.get("footer") or {}).get("text") or ""
        total += len(footer)
        if len(footer) > 2048:
            problems.append("embed footer is over 2048 characters")
        if total > 6000:
            problems.append(f"embed is {total} characters in all, over 6000")
    return problems


async def until(predicate: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Wait until `predicate()` holds (checked every 10 ms), at most `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(0.01)
