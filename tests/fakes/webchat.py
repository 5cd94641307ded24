"""A test chat over HTTP: a small service that keeps its messages, and the seam's client.

`paperbot run` loads the client with PAPERBOT_CHAT_PLUGIN=tests.fakes.webchat:create and
TEST_CHAT_URL pointing at a `ChatService`, so a real process posts to something that
survives its crashes: the crash test kills the process and counts the messages.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from typing import Any

import aiohttp
from aiohttp import web

from bot.chat.base import EventHandler, Failure, ReactionVotes
from bot.config import Settings
from bot.errors import ChatError
from bot.models import PostView, Reply
from tests.fakes.server import ThreadedServer


class ChatService:
    """Keeps every message; answers post, find, update and text requests."""

    def __init__(self, post_delay: float = 0.0) -> None:
        self.post_delay = post_delay
        self._lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self._refs = itertools.count(1)
        self._server = ThreadedServer(self._app)

    def start(self) -> ChatService:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    def posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m["kind"] == "post"]

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/post", self._post)
        app.router.add_get("/find", self._find)
        app.router.add_post("/update", self._update)
        app.router.add_post("/text", self._text)
        return app

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.post_delay:
            await asyncio.sleep(self.post_delay)
        with self._lock:
            ref = f"r{next(self._refs)}"
            self.messages.append({"kind": "post", "ref": ref, **body})
        return web.json_response({"ref": ref})

    async def _find(self, request: web.Request) -> web.Response:
        channel, paper = request.query["channel"], request.query["paper_id"]
        with self._lock:
            for m in self.messages:
                if m["kind"] == "post" and m["channel"] == channel and m["paper_id"] == paper:
                    return web.json_response({"ref": m["ref"]})
        return web.json_response({"ref": None})

    async def _update(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.messages.append({"kind": "update", **body})
        return web.json_response({"ok": True})

    async def _text(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.messages.append({"kind": "text", **body})
        return web.json_response({"ok": True})


class WebChat:
    """The seam's test implementation, speaking to a ChatService."""

    platform = "web"

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self.failed = Failure()

    async def start(self, handler: EventHandler) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def check_channel(self, channel: str) -> None:
        return None

    async def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        assert self._session is not None
        try:
            async with self._session.request(method, self.url + path, **kw) as resp:
                resp.raise_for_status()
                data: dict[str, Any] = await resp.json()
                return data
        except aiohttp.ClientError as exc:
            raise ChatError(f"test chat failed: {exc}") from exc

    async def post_paper(self, channel: str, view: PostView, nonce: str) -> str:
        data = await self._call(
            "POST",
            "/post",
            json={"channel": channel, "paper_id": view.paper.id, "nonce": nonce},
        )
        return str(data["ref"])

    async def find_post(self, channel: str, paper_id: str) -> str | None:
        data = await self._call("GET", "/find", params={"channel": channel, "paper_id": paper_id})
        ref = data["ref"]
        return str(ref) if ref is not None else None

    async def update_post(self, channel: str, ref: str, view: PostView) -> None:
        await self._call("POST", "/update", json={"channel": channel, "ref": ref})

    async def send_text(self, channel: str, text: str) -> None:
        await self._call("POST", "/text", json={"channel": channel, "text": text})

    async def send_reply(self, channel: str, reply: Reply) -> None:
        await self.send_text(channel, reply.as_text())

    async def read_votes(self, channel: str, ref: str) -> ReactionVotes:
        return {}  # the test service keeps no reactions


async def create(settings: Settings) -> WebChat:
    return WebChat(os.environ["TEST_CHAT_URL"])
