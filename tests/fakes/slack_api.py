"""A local fake Slack: Web API, Socket Mode websocket, response_url, and request signing.

The real slack_sdk and slack-bolt talk to it over HTTP and websockets on 127.0.0.1 (see
tests/README.md): point `SLACK_API_URL` at `fake.api_url`. It runs in its own thread and event
loop (`ThreadedServer`), so a `paperbot` process started with subprocess can use it too.

What it does:
- Web API at `/api/<method>`, GET or POST, arguments in the query, a form body or JSON;
  answers `{"ok": true, ...}` with real-looking `ts`/`channel`, or `{"ok": false, "error"}`.
  Every call is recorded (`calls`, `calls_to(method)`). Implemented: auth.test,
  apps.connections.open, conversations.info, conversations.history (metadata only with
  `include_all_metadata`, paged with cursors), chat.postMessage, chat.update,
  chat.postEphemeral, reactions.get, users.info. Sections over 3000 characters fail as
  `invalid_blocks`, as on Slack. `drop_metadata` makes Slack ignore metadata with a warning;
  `react()` keeps reactions on messages (and `push`es the event unless the bot is down).
- `fail(method, ...)`: the next call(s) answer 429 with Retry-After, or an error such as
  `token_revoked`.
- `limit(method, calls, per)`: Slack's rate limit tiers. A call over `calls` per `per`
  seconds is not acted on: it answers HTTP 429 `{"ok": false, "error": "ratelimited"}` with
  `Retry-After` (whole seconds until a call is allowed again), as Slack documents; each such
  call is recorded in `limited` too.
- Socket Mode at `/socket/<n>` (the URL apps.connections.open returns): sends `hello`;
  `await push(type, payload)` sends an envelope; the app's acks are collected (`acks`).
- `/response/<key>` stands in for `response_url` (what `respond()` posts is in `responses`).
- `sign(body, secret)` signs an HTTP-mode request the way Slack does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.server import ThreadedServer

TEAM_ID = "TFAKE00001"
APP_ID = "AFAKE00001"
BOT_USER_ID = "UPAPERBOT1"  # differs from every test user, or bolt drops their events
BOT_ID = "BPAPERBOT1"
SECTION_LIMIT = 3000
BASE_TS = 1732800000


@dataclass(frozen=True)
class Call:
    method: str
    args: dict[str, Any]
    http_method: str
    token_type: str  # "bot", "app" or "none": never the token itself


@dataclass
class Failure:
    status: int = 200
    error: str = "ratelimited"
    retry_after: int | None = None
    times: int | None = 1  # None: every call from now on
    extra: dict[str, Any] = field(default_factory=dict)  # more of the answer: {"needed": ...}


@dataclass
class Limit:
    calls: int  # at most this many calls...
    per: float  # ...in any window of this many seconds
    clock: Callable[[], float]
    accepted: deque[float] = field(default_factory=deque)  # when the calls in the window came

    def retry_after(self) -> int | None:
        """None when a call may go through now (and counts it), else Retry-After seconds."""
        now = self.clock()
        while self.accepted and now - self.accepted[0] >= self.per:
            self.accepted.popleft()
        if len(self.accepted) < self.calls:
            self.accepted.append(now)
            return None
        return max(1, math.ceil(self.accepted[0] + self.per - now))


@dataclass
class Channel:
    id: str
    name: str
    is_member: bool = True
    messages: list[dict[str, Any]] = field(default_factory=list)  # oldest first


class FakeSlack:
    def __init__(
        self,
        channels: Iterable[str] = ("C0123456789",),
        *,
        not_member: Iterable[str] = (),
        history_page: int = 200,
    ) -> None:
        outside = set(not_member)
        self.channels = {
            cid: Channel(cid, f"channel-{i}", cid not in outside)
            for i, cid in enumerate([*channels, *outside])
        }
        self.history_page = history_page  # at most this many messages per history page
        self.calls: list[Call] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []
        self.acks: list[dict[str, Any]] = []
        self.limited: list[Call] = []  # calls answered 429 by a `limit`
        self.hellos = 0
        self.drop_metadata: str | None = None  # a warning: metadata is ignored, as Slack does
        self.bot_users: set[str] = set()  # users.info says is_bot for these
        self.archived: set[str] = set()
        self._failures: dict[str, list[Failure]] = {}
        self._limits: dict[str, Limit] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._ts = itertools.count(1)
        self._envelopes = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = ThreadedServer(self._make_app)

    # --- running ------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, key: str) -> str:
        return f"{self.url}/response/{key}"

    def _make_app(self) -> web.Application:
        self._loop = asyncio.get_running_loop()  # ThreadedServer builds the app in its loop
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/socket/{n}", self._socket)
        app.router.add_post("/response/{key}", self._response)
        return app

    # --- for tests ----------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        error: str = "ratelimited",
        status: int = 200,
        retry_after: int | None = None,
        times: int | None = 1,
        **extra: Any,
    ) -> None:
        """The next `times` calls of `method` fail (429 when `retry_after` is given); `extra`
        joins the answer, as `needed` and `provided` do for `missing_scope`."""
        if retry_after is not None:
            status = 429
        with self._lock:
            self._failures.setdefault(method, []).append(
                Failure(status, error, retry_after, times, extra)
            )

    def limit(
        self,
        method: str,
        *,
        calls: int = 1,
        per: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Rate-limit `method` from now on: over `calls` per `per` seconds, Slack answers 429
        with Retry-After and does nothing. `clock` lets a test hold the window still."""
        with self._lock:
            self._limits[method] = Limit(calls, per, clock)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def call_count(self) -> int:
        with self._lock:
            return len(self.calls)

    def history(self, channel: str) -> list[dict[str, Any]]:
        """The channel's messages, oldest first (copies)."""
        with self._lock:
            copied: list[dict[str, Any]] = json.loads(json.dumps(self.channels[channel].messages))
            return copied

    def add_message(self, channel: str, **fields: Any) -> str:
        """A message someone else (or the bot, before a crash) posted; returns its ts."""
        with self._lock:
            ts = self._next_ts()
            self.channels[channel].messages.append({"type": "message", "ts": ts, **fields})
            return ts

    def acked(self, envelope_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [a for a in self.acks if a.get("envelope_id") == envelope_id]

    def responses_to(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for k, body in self.responses if k == key]

    async def push(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0) -> str:
        """Send a Socket Mode envelope (`events_api`, `slash_commands`, `interactive`)."""
        envelope_id = f"env-{next(self._envelopes)}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "timeout" if retry_attempt else ""
        assert self._loop is not None, "start() the fake first"
        sent = asyncio.run_coroutine_threadsafe(self._send(envelope), self._loop)
        await asyncio.wrap_future(sent)
        return envelope_id

    def keep_reaction(
        self, channel: str, ts: str, user: str, name: str, *, added: bool = True
    ) -> None:
        """Change the reactions Slack keeps on a message (the bot may not be running)."""
        with self._lock:
            for message in self.channels[channel].messages:
                if message["ts"] != ts:
                    continue
                reactions = message.setdefault("reactions", [])
                entry = next((r for r in reactions if r["name"] == name), None)
                if added:
                    if entry is None:
                        entry = {"name": name, "users": [], "count": 0}
                        reactions.append(entry)
                    if user not in entry["users"]:
                        entry["users"].append(user)
                elif entry is not None and user in entry["users"]:
                    entry["users"].remove(user)
                if entry is not None:
                    entry["count"] = len(entry["users"])
                message["reactions"] = [r for r in reactions if r["users"]]

    async def disconnect_sockets(self) -> None:
        """Slack asks every Socket Mode client to reconnect (a `disconnect` frame)."""
        assert self._loop is not None, "start() the fake first"
        frame = {"type": "disconnect", "reason": "refresh_requested"}

        async def send() -> None:
            for ws in list(self._sockets):
                await ws.send_json(frame)

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(send(), self._loop))

    async def _send(self, envelope: dict[str, Any]) -> None:
        deadline = time.monotonic() + 10
        while not self._sockets:
            if time.monotonic() > deadline:
                raise AssertionError("no Socket Mode connection to push to")
            await asyncio.sleep(0.01)
        await self._sockets[-1].send_json(envelope)

    # --- the Web API --------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        for key in ("blocks", "metadata", "attachments"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        auth = request.headers.get("Authorization", "")
        token = (
            auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.pop("token", "")
        )
        token_type = "app" if token.startswith("xapp-") else "bot" if token else "none"
        call = Call(method, args, request.method, token_type)
        with self._lock:
            self.calls.append(call)
            failure = self._take_failure(method)
            limit = self._limits.get(method)
            if failure is None and limit is not None and token_type != "none":
                wait = limit.retry_after()
                if wait is not None:
                    self.limited.append(call)
                    failure = Failure(429, "ratelimited", wait)
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            return web.json_response(
                {"ok": False, "error": failure.error, **failure.extra},
                status=failure.status,
                headers=headers,
            )
        if token_type == "none":
            return web.json_response({"ok": False, "error": "not_authed"})
        handler: Callable[[dict[str, Any]], dict[str, Any]] | None = getattr(
            self, "_m_" + method.replace(".", "_"), None
        )
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        if (method == "apps.connections.open") != (token_type == "app"):
            return web.json_response({"ok": False, "error": "not_allowed_token_type"})
        with self._lock:
            answer = handler(args)
        return web.json_response(answer)

    def _take_failure(self, method: str) -> Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        if failure.times is not None:
            failure.times -= 1
            if failure.times <= 0:
                queue.pop(0)
        return failure

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{BASE_TS + n // 10000}.{n % 10000 * 100:06d}"

    def _channel(self, args: dict[str, Any]) -> Channel | None:
        return self.channels.get(str(args.get("channel", "")))

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.test/",
            "team": "Fake Team",
            "user": "paperbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        url = self.url.replace("http://", "ws://")
        return {"ok": True, "url": f"{url}/socket/{len(self.calls)}"}

    def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": True,
                "is_private": False,
                "is_archived": channel.id in self.archived,
                "is_member": channel.is_member,
            },
        }

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not channel.is_member:
            return {"ok": False, "error": "not_in_channel"}
        newest_first = list(reversed(channel.messages))
        start = int(args.get("cursor") or 0)
        size = min(int(args.get("limit") or 100), self.history_page)
        page = newest_first[start : start + size]
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        messages = [
            m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page
        ]
        more = start + size < len(newest_first)
        return {
            "ok": True,
            "messages": json.loads(json.dumps(messages)),
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + size) if more else ""},
        }

    def _m_reactions_get(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        for message in channel.messages:
            if message["ts"] == args.get("timestamp"):
                return {
                    "ok": True,
                    "type": "message",
                    "channel": channel.id,
                    "message": json.loads(json.dumps(message)),
                }
        return {"ok": False, "error": "message_not_found"}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user", ""))
        bot = user in self.bot_users or user == BOT_USER_ID
        return {"ok": True, "user": {"id": user, "name": user.lower(), "is_bot": bot}}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.id in self.archived:
            return {"ok": False, "error": "is_archived"}
        if not channel.is_member:
            return {"ok": False, "error": "not_in_channel"}
        problem = _check_message(args)
        if problem:
            return {"ok": False, "error": problem}
        message = {
            "type": "message",
            "ts": self._next_ts(),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": args.get("text", ""),
        }
        for key in ("blocks", "metadata", "thread_ts"):
            if args.get(key) and not (key == "metadata" and self.drop_metadata):
                message[key] = args[key]
        channel.messages.append(message)
        answer = {"ok": True, "channel": channel.id, "ts": message["ts"], "message": message}
        if self.drop_metadata and args.get("metadata"):
            answer["warning"] = self.drop_metadata
            answer["response_metadata"] = {"warnings": [self.drop_metadata]}
        return answer

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        problem = _check_message(args)
        if problem:
            return {"ok": False, "error": problem}
        for message in channel.messages:
            if message["ts"] == args.get("ts"):
                if message.get("user") != BOT_USER_ID:
                    return {"ok": False, "error": "cant_update_message"}
                for key in ("text", "blocks", "metadata"):
                    if key in args:
                        message[key] = args[key]
                message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
                return {
                    "ok": True,
                    "channel": channel.id,
                    "ts": message["ts"],
                    "text": message.get("text", ""),
                    "message": message,
                }
        return {"ok": False, "error": "message_not_found"}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        self.ephemerals.append(dict(args))
        return {"ok": True, "message_ts": self._next_ts()}

    # --- Socket Mode and response_url -------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        with self._lock:
            self.hellos += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    frame = json.loads(msg.data)
                    if "envelope_id" in frame:
                        with self._lock:
                            self.acks.append(frame)
        finally:
            self._sockets.remove(ws)
        return ws

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.responses.append((request.match_info["key"], body))
        return web.Response(text="ok", content_type="text/plain")


def _check_message(args: dict[str, Any]) -> str | None:
    """What real Slack refuses: long sections, too many blocks, no text at all."""
    blocks = args.get("blocks") or []
    if len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if block.get("type") == "section" and len(block["text"]["text"]) > SECTION_LIMIT:
            return "invalid_blocks"
        if block.get("type") == "context" and any(
            len(e.get("text", "")) > SECTION_LIMIT for e in block["elements"]
        ):
            return "invalid_blocks"
    if not blocks and not args.get("text"):
        return "no_text"
    if len(str(args.get("text", ""))) > 40_000:
        return "msg_too_long"
    return None


# --- payloads as Slack sends them ---------------------------------------------------------


def event_payload(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An Events API callback around `event`."""
    return {
        "token": "verification-token",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": BASE_TS,
        "authorizations": [
            {"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True, "enterprise_id": None}
        ],
        "is_ext_shared_channel": False,
    }


def reaction_event(
    user: str,
    reaction: str,
    channel: str,
    ts: str,
    *,
    added: bool = True,
    item_type: str = "message",
) -> dict[str, Any]:
    item: dict[str, Any] = {"type": item_type, "channel": channel, "ts": ts}
    if item_type == "file":
        item = {"type": "file", "file": "F0001"}
    return {
        "type": "reaction_added" if added else "reaction_removed",
        "user": user,
        "reaction": reaction,
        "item_user": BOT_USER_ID,
        "item": item,
        "event_ts": f"{BASE_TS}.999999",
    }


def block_actions(
    user: str, channel: str, ts: str, action_id: str, value: str, response_url: str
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "verification-token",
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "1111.2222.abcd",
        "channel": {"id": channel, "name": "papers"},
        "message": {"type": "message", "ts": ts, "user": BOT_USER_ID, "bot_id": BOT_ID},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "paperbot_vote",
                "value": value,
                "action_ts": f"{BASE_TS}.123456",
            }
        ],
    }


def slash_command(text: str, user: str, channel: str, response_url: str) -> dict[str, str]:
    return {
        "token": "verification-token",
        "team_id": TEAM_ID,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "papers",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/papers",
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": "1111.2222.abcd",
    }


def sign(body: str | bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature: `v0=` HMAC-SHA256 over `v0:{ts}:{body}`."""
    raw = body.encode() if isinstance(body, str) else body
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


async def until(check: Callable[[], object], what: str, seconds: float = 10.0) -> None:
    """Wait until `check()` is true: at most `seconds`, then fail saying `what`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"gave up after {seconds:g} s waiting for {what}")
        await asyncio.sleep(0.01)
