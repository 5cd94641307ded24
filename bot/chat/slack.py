"""Slack: papers as Block Kit posts, votes from reactions and buttons, `/papers` commands.

slack-bolt's `AsyncApp` (Socket Mode, or HTTP with SLACK_SIGNING_SECRET) on an `AsyncWebClient`
built here (SLACK_API_URL, SLACK_PROXY). A post names its paper in metadata, button value and
text, so `find_post` finds it again; a revoked token sets `failed` so `run` exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot import display
from bot.chat.base import (
    ChannelUnusable,
    ChatDead,
    EventHandler,
    Failure,
    ReactionVotes,
)
from bot.config import Settings
from bot.display import PostContent, clip, fold, post_content
from bot.errors import ChatError, PaperbotError
from bot.models import CommandEvent, PostView, Reply, Signal, VoteEvent
from bot.voting import normalize_emoji, vote_value

log = logging.getLogger(__name__)

__all__ = [
    "ACCEPT_ACTION",
    "METADATA_TYPE",
    "REJECT_ACTION",
    "SlackChat",
    "create_slack",
    "escape",
    "post_blocks",
    "post_metadata",
    "post_text",
    "render_reply",
    "render_text",
    "slack_button_to_vote",
    "slack_command_to_event",
    "slack_reaction_to_vote",
]

PLATFORM = "slack"
ACCEPT_ACTION = "paperbot_accept"
REJECT_ACTION = "paperbot_reject"
VOTE_BLOCK = "paperbot_vote"
METADATA_TYPE = "paperbot_paper"
COMMAND = "/papers"
EVENTS_PATH = "/slack/events"
HISTORY_LIMIT = 200  # messages per conversations.history page
HISTORY_PAGES = 3  # how far back find_post looks
SEEN_EVENTS = 2000  # event ids remembered to drop Slack's redeliveries
HTTP_TIMEOUT = 30.0
CONNECT_TIMEOUT = 30.0
MAX_RETRY_AFTER = 120.0  # a longer Retry-After fails the call; the core retries it later

# Slack's limits, and what fits them
SECTION_LIMIT = 3000  # Slack refuses a section block with more text than this
TEXT_LIMIT = 39_000  # a message's top-level text (Slack's limit is 40,000)
REPLY_LIMIT = 4000  # an answer or digest: Slack folds longer messages; "…and N more" instead
TITLE_CHARS = 300  # a title in a link label: escaped, it still fits a section

ICONS = {"pending": "🗳️", "accepted": "✅", "rejected": "❌", "expired": "⌛"}
# auth.test errors that mean the token itself is no good
TOKEN_REJECTED = frozenset(
    {"invalid_auth", "token_revoked", "token_expired", "account_inactive", "not_authed"}
)
# errors that make one channel unusable until a person acts (Web API method docs)
CHANNEL_REFUSED = {
    "channel_not_found": "does not exist or the bot cannot see it",
    "not_in_channel": "does not have the bot as a member",
    "is_archived": "is archived",
    "restricted_action": "does not let the bot post",
    "access_denied": "does not let the bot in",
    "ekm_access_denied": "is locked by the workspace's key management",
}

Sleep = Callable[[float], Awaitable[None]]


# --- construction ----------------------------------------------------------------------------


async def create_slack(settings: Settings, *, sleep: Sleep = asyncio.sleep) -> SlackChat:
    """The chat `paperbot run` starts when SLACK_BOT_TOKEN is set; `sleep` waits out 429s."""
    return SlackChat(settings, sleep=sleep)


class SlackChat:
    """The `Chat` for one Slack workspace. Channel arguments are bare channel ids ("C0123")."""

    platform = PLATFORM

    def __init__(self, settings: Settings, *, sleep: Sleep = asyncio.sleep) -> None:
        if settings.slack_bot_token is None:
            raise ChatError("SLACK_BOT_TOKEN is not set; put the bot token (xoxb-...) in .env")
        self.settings = settings
        self._token = settings.slack_bot_token.get_secret_value()
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._client = self._make_client(None)
        self._app: AsyncApp | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._handler: EventHandler | None = None
        self._bot_user_id: str | None = None
        self._bot_id: str | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._bots: dict[str, bool] = {}  # user id -> is a bot (users.info), cached
        self.failed = Failure()

    def _make_client(self, session: aiohttp.ClientSession | None) -> AsyncWebClient:
        return AsyncWebClient(
            token=self._token,
            base_url=_with_slash(self.settings.slack_api_url),
            proxy=self.settings.slack_proxy or None,
            session=session,
            timeout=int(HTTP_TIMEOUT),
            retry_handlers=retry_handlers(self._sleep),
        )

    @property
    def bot_user_id(self) -> str | None:
        """The bot's own user id, known once `start()` has run."""
        return self._bot_user_id

    @property
    def http_url(self) -> str | None:
        """Where HTTP mode listens (with the real port when SLACK_HTTP_PORT is 0)."""
        if self._runner is None or not self._runner.addresses:
            return None
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}{EVENTS_PATH}"

    # --- start and close ---------------------------------------------------------------------

    async def start(self, handler: EventHandler) -> None:
        """Check the token, then listen (Socket Mode or HTTP); ChatError says what to fix."""
        self._check_settings()
        self._handler = handler
        try:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
            self._client = self._make_client(self._session)
            await self._identify()
            self._app = self._build_app()
            if self.settings.slack_mode == "socket":
                await self._start_socket(self._app)
            else:
                await self._start_http(self._app)
        except BaseException:
            await self.close()
            raise
        log.info("connected to Slack as %s (%s mode)", self._bot_user_id, self.settings.slack_mode)

    def _check_settings(self) -> None:
        s = self.settings
        if s.slack_mode == "socket" and s.slack_app_token is None:
            raise ChatError(
                "SLACK_MODE=socket needs SLACK_APP_TOKEN (xapp-..., an app-level token with "
                "connections:write); set it in .env, or set SLACK_MODE=http"
            )
        if s.slack_mode == "http" and s.slack_signing_secret is None:
            raise ChatError(
                "SLACK_MODE=http needs SLACK_SIGNING_SECRET (the app's Basic Information page "
                "shows it); set it in .env"
            )

    async def _identify(self) -> None:
        """auth.test: learn who the bot is; a token Slack refuses is one clear sentence."""
        with _chat_errors(self.settings, "auth.test"):
            auth = await self._client.auth_test()
        self._bot_user_id = _str(auth.get("user_id"))
        self._bot_id = _str(auth.get("bot_id"))

    def _build_app(self) -> AsyncApp:
        secret = self.settings.slack_signing_secret
        app = AsyncApp(
            name="paperbot",
            client=self._client,
            signing_secret=secret.get_secret_value() if secret is not None else "",
        )
        app.event("reaction_added")(self._on_reaction)
        app.event("reaction_removed")(self._on_reaction)
        app.action(ACCEPT_ACTION)(self._on_button)
        app.action(REJECT_ACTION)(self._on_button)
        app.command(COMMAND)(self._on_command)
        return app

    async def _start_socket(self, app: AsyncApp) -> None:
        assert self.settings.slack_app_token is not None
        app_token = self.settings.slack_app_token.get_secret_value()
        # a bad app token would make the socket client retry forever: check it first
        with _chat_errors(self.settings, "apps.connections.open"):
            opened = await self._client.apps_connections_open(app_token=app_token)
        self._socket = AsyncSocketModeHandler(
            app,
            app_token=app_token,
            web_client=self._client,
            proxy=self.settings.slack_proxy or None,
        )
        self._socket.client.wss_uri = str(opened["url"])
        self._watch_app_token(self._socket)
        try:
            await asyncio.wait_for(
                self._socket.connect_async(),  # type: ignore[no-untyped-call]
                CONNECT_TIMEOUT,
            )
        except TimeoutError:
            raise ChatError(
                f"Slack's Socket Mode connection did not open within {CONNECT_TIMEOUT:g} s; "
                "check the network (and SLACK_PROXY)"
            ) from None

    def _watch_app_token(self, socket: AsyncSocketModeHandler) -> None:
        """slack_sdk retries a refused reconnect forever, every 10 s, while no event comes:
        a refused app token ends the chat instead (`failed`), so the bot is restarted."""
        client = socket.client
        issue = client.issue_new_wss_url

        async def issue_new_wss_url() -> str:
            try:
                return await issue()
            except SlackApiError as exc:
                error = _error_code(exc)
                if error in TOKEN_REJECTED or error == "not_allowed_token_type":
                    self.failed.set(str(_refusal(exc, "apps.connections.open", None)))
                raise

        client.issue_new_wss_url = issue_new_wss_url  # type: ignore[method-assign]

    @contextlib.contextmanager
    def _errors(self, method: str, channel: str | None = None) -> Iterator[None]:
        """`_chat_errors`, and a token Slack refuses is reported as `failed`."""
        try:
            with _chat_errors(self.settings, method, channel):
                yield
        except ChatDead as exc:
            self.failed.set(str(exc))
            raise

    async def _start_http(self, app: AsyncApp) -> None:
        host, port = self.settings.slack_http_host, self.settings.slack_http_port
        self._runner = web.AppRunner(app.web_app(path=EVENTS_PATH), shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as exc:
            raise ChatError(
                f"cannot listen for Slack on {host}:{port} ({exc.strerror or exc}); set "
                "SLACK_HTTP_HOST/SLACK_HTTP_PORT to a free address"
            ) from None
        log.info("listening for Slack requests at %s", self.http_url)

    async def close(self) -> None:
        socket, self._socket = self._socket, None
        runner, self._runner = self._runner, None
        session, self._session = self._session, None
        try:
            if socket is not None:
                await socket.close_async()  # type: ignore[no-untyped-call]
            if runner is not None:
                await runner.cleanup()
        finally:
            self._client = self._make_client(None)
            if session is not None:
                await session.close()

    # --- posting -----------------------------------------------------------------------------

    async def check_channel(self, channel: str) -> None:
        """The channel exists, is open, has the bot, and its history can be read (the
        channels:history scope `find_post` needs); a refusal names what to fix."""
        with _chat_errors(self.settings, "conversations.info", channel):
            info = await self._client.conversations_info(channel=channel)
        found = info.get("channel") or {}
        if found.get("is_archived"):
            raise ChannelUnusable(
                f"Slack channel {channel} is archived; unarchive it or set another slack_channel"
            )
        if found.get("is_member") is False:
            raise _cannot_see(channel)
        with _chat_errors(self.settings, "conversations.history", channel):
            await self._client.conversations_history(channel=channel, limit=1)

    async def post_paper(self, channel: str, view: PostView, nonce: str) -> str:
        """One chat.postMessage; the nonce is not needed: find_post covers unknown outcomes."""
        with self._errors("chat.postMessage", channel):
            sent = await self._client.chat_postMessage(
                channel=channel,
                text=post_text(view),
                blocks=post_blocks(view),
                metadata=post_metadata(view),
                unfurl_links=False,
                unfurl_media=False,
            )
        _log_warnings(sent.data, "chat.postMessage", channel)
        return str(sent["ts"])

    async def send_text(self, channel: str, text: str) -> None:
        with self._errors("chat.postMessage", channel):
            await self._client.chat_postMessage(
                channel=channel, text=render_text(text), unfurl_links=False, unfurl_media=False
            )

    async def reply_in_thread(self, channel: str, ref: str, text: str) -> None:
        """A thread reply under the post; `<@U123>` mentions stay mentions, the rest is text."""
        parts = re.split(r"(<@[A-Z0-9]+>)", text)
        shown = "".join(p if re.fullmatch(r"<@[A-Z0-9]+>", p) else render_text(p) for p in parts)
        with self._errors("chat.postMessage", channel):
            await self._client.chat_postMessage(
                channel=channel, thread_ts=ref, text=_fit(shown, TEXT_LIMIT), unfurl_links=False
            )

    async def send_reply(self, channel: str, reply: Reply) -> None:
        """A digest or notice: linked papers, capped with "…and N more"."""
        with self._errors("chat.postMessage", channel):
            await self._client.chat_postMessage(
                channel=channel, text=render_reply(reply), unfurl_links=False, unfurl_media=False
            )

    async def read_votes(self, channel: str, ref: str) -> ReactionVotes:
        """reactions.get: who reacts with a voting emoji now (bots left out)."""
        with self._errors("reactions.get", channel):
            got = await self._client.reactions_get(channel=channel, timestamp=ref, full=True)
        up, down = self.settings.paperbot_up_emoji, self.settings.paperbot_down_emoji
        found: dict[str, dict[str, int]] = {}
        for reaction in (got.get("message") or {}).get("reactions") or []:
            name = str(reaction.get("name") or "")
            value = vote_value(name, up, down) if name else None
            if value is None:
                continue
            for user in reaction.get("users") or []:
                if user in (self._bot_user_id, None) or await self._is_bot(str(user)):
                    continue
                found.setdefault(f"{PLATFORM}:{user}", {})[normalize_emoji(name)] = value
        return found

    async def _is_bot(self, user: str) -> bool:
        """Whether a user is a bot (users.info, cached); a lookup that fails counts as a person."""
        if user not in self._bots:
            try:
                with _chat_errors(self.settings, "users.info"):
                    info = await self._client.users_info(user=user)
            except ChatError as exc:
                log.warning("%s; that user's reactions count as a person's", exc)
                self._bots[user] = False
                return False
            found = info.get("user") or {}
            self._bots[user] = bool(found.get("is_bot")) or user == "USLACKBOT"
        return self._bots[user]

    # --- finding -----------------------------------------------------------------------------

    async def find_post(self, channel: str, paper_id: str) -> str | None:
        """The bot's recent message of this paper: by its metadata, else (Slack may drop
        metadata) by the paper id in its buttons' value or its text."""
        if self._bot_user_id is None and self._bot_id is None:
            await self._identify()
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            with self._errors("conversations.history", channel):
                page = await self._client.conversations_history(
                    channel=channel, limit=HISTORY_LIMIT, include_all_metadata=True, cursor=cursor
                )
            for message in page.get("messages") or []:
                if self._is_mine(message) and names_paper(message, paper_id):
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return None

    def _is_mine(self, message: Mapping[str, Any]) -> bool:
        return (self._bot_id is not None and message.get("bot_id") == self._bot_id) or (
            self._bot_user_id is not None and message.get("user") == self._bot_user_id
        )

    # --- updating ----------------------------------------------------------------------------

    async def update_post(self, channel: str, ref: str, view: PostView) -> None:
        with self._errors("chat.update", channel):
            updated = await self._client.chat_update(
                channel=channel,
                ts=ref,
                text=post_text(view),
                blocks=post_blocks(view),
                metadata=post_metadata(view),
            )
        _log_warnings(updated.data, "chat.update", channel)

    # --- events ------------------------------------------------------------------------------

    async def _on_reaction(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        handler = self._handler
        if handler is None or not self._first_delivery(body.get("event_id")):
            return
        vote = slack_reaction_to_vote(
            event,
            up=self.settings.paperbot_up_emoji,
            down=self.settings.paperbot_down_emoji,
            bot_user_id=self._bot_user_id,
        )
        if vote is None or vote.from_bot:
            return
        if await self._is_bot(str(event.get("user"))):
            return  # other bots' reactions are no votes
        try:
            await handler.on_vote(vote)
        except Exception:
            log.exception("a Slack reaction on message %s could not be counted", vote.message_ref)

    async def _on_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()  # within Slack's 3 seconds, before any slow work
        handler = self._handler
        vote = slack_button_to_vote(body, bot_user_id=self._bot_user_id)
        if handler is None or vote is None:
            return
        try:
            said = await handler.on_vote(vote) or display.VOTE_NOT_TAKEN
        except PaperbotError as exc:
            said = display.refused(exc)
        except Exception:
            log.exception(
                "a Slack button click on message %s could not be counted", vote.message_ref
            )
            said = display.VOTE_FAILED
        channel = vote.channel.partition(":")[2]
        user = vote.signal.user.partition(":")[2]
        with _best_effort(self.settings, "chat.postEphemeral", channel):
            await self._client.chat_postEphemeral(channel=channel, user=user, text=escape(said))

    def _first_delivery(self, event_id: object) -> bool:
        """False for an event id seen before (Slack redelivers when an ack is late)."""
        if not isinstance(event_id, str) or not event_id:
            return True
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        while len(self._seen) > SEEN_EVENTS:
            self._seen.popitem(last=False)
        return True

    # --- commands ----------------------------------------------------------------------------

    async def _on_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()  # within Slack's 3 seconds, before any slow work
        handler = self._handler
        event = slack_command_to_event(command)
        if handler is None:
            reply = Reply(display.NOT_READY, ok=False)
        else:
            try:
                reply = await handler.on_command(event)
            except PaperbotError as exc:
                reply = Reply(display.refused(exc), ok=False)
            except Exception:
                log.exception("/papers %s failed", event.text[:80])
                reply = Reply(display.COMMAND_FAILED, ok=False)
        with _best_effort(self.settings, "response_url", event.channel.partition(":")[2]):
            answer = await respond(
                text=render_reply(reply),
                response_type="in_channel" if reply.public else "ephemeral",
                unfurl_links=False,
                unfurl_media=False,
            )
            if answer.status_code != 200:
                log.warning("Slack refused the /papers answer (HTTP %s)", answer.status_code)


# --- translating events (pure) ---------------------------------------------------------------


def slack_reaction_to_vote(
    event: Mapping[str, Any],
    *,
    up: Sequence[str],
    down: Sequence[str],
    bot_user_id: str | None,
) -> VoteEvent | None:
    """A `reaction_added`/`reaction_removed` event as a vote; None for anything else."""
    item = event.get("item") or {}
    name, user = event.get("reaction"), event.get("user")
    channel, ts = item.get("channel"), item.get("ts")
    if item.get("type") != "message" or not (name and user and channel and ts):
        return None
    value = vote_value(str(name), up, down)
    if value is None:
        return None
    return VoteEvent(
        channel=f"{PLATFORM}:{channel}",
        message_ref=str(ts),
        signal=Signal(
            f"{PLATFORM}:{user}",
            value,
            "reaction",
            normalize_emoji(str(name)),
            added=event.get("type") != "reaction_removed",
        ),
        from_bot=user == bot_user_id,
    )


def slack_button_to_vote(body: Mapping[str, Any], *, bot_user_id: str | None) -> VoteEvent | None:
    """A click on Accept/Reject (`block_actions`) as a vote on the message it is under."""
    actions = body.get("actions") or []
    action_id = actions[0].get("action_id") if actions else None
    value = {ACCEPT_ACTION: 1, REJECT_ACTION: -1}.get(str(action_id))
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    ts = (body.get("message") or {}).get("ts") or container.get("message_ts")
    user = (body.get("user") or {}).get("id")
    if value is None or not (channel and ts and user):
        return None
    return VoteEvent(
        channel=f"{PLATFORM}:{channel}",
        message_ref=str(ts),
        signal=Signal(f"{PLATFORM}:{user}", value, "button"),
        from_bot=user == bot_user_id,
    )


def slack_command_to_event(command: Mapping[str, Any]) -> CommandEvent:
    """A `/papers ...` slash command as the core's command: everything after `/papers`."""
    return CommandEvent(
        channel=f"{PLATFORM}:{command.get('channel_id') or ''}",
        user=f"{PLATFORM}:{command.get('user_id') or ''}",
        text=str(command.get("text") or ""),
    )


# --- rendering (pure) ------------------------------------------------------------------------


def post_text(view: PostView) -> str:
    """The notification text of a post (shown where blocks are not)."""
    content = post_content(view)
    title = clip(content.title, TITLE_CHARS)
    return _fit(escape(f"{title} ({content.paper_id}) · {content.status}"), SECTION_LIMIT)


def post_metadata(view: PostView) -> dict[str, Any]:
    return {
        "event_type": METADATA_TYPE,
        "event_payload": {"arxiv_id": view.paper.id, "routes": list(view.routes)},
    }


def post_blocks(view: PostView) -> list[dict[str, Any]]:
    """`PostContent` as blocks: title link, byline, reasons, abstract, status, buttons."""
    content = post_content(view)
    blocks: list[dict[str, Any]] = [
        _section(f"*{_link(content.url, clip(content.title, TITLE_CHARS))}*"),
        _context(" · ".join(escape(part) for part in _byline(content))),
    ]
    if content.tags or content.tldr:
        blocks.append(_section("\n".join(escape(p) for p in (content.tags, content.tldr) if p)))
    if content.fit:
        blocks.append(_context(f"🎯 {escape(content.fit)}"))
    if content.reasons:
        lines = [f"*{display.REASONS_HEADING}:*", *(f"• {escape(r)}" for r in content.reasons)]
        blocks.append(_section("\n".join(lines)))
    if content.abstract:
        blocks.append(_section(escape(content.abstract)))
    state = f"{ICONS[content.state]} *{escape(content.status)}* · {content.votes}"
    blocks.append(_context(state + (f" · {escape(content.hint)}" if content.hint else "")))
    if content.buttons:
        blocks.append(
            {
                "type": "actions",
                "block_id": VOTE_BLOCK,
                "elements": [
                    _button("Accept", ACCEPT_ACTION, content.paper_id, "primary"),
                    _button("Reject", REJECT_ACTION, content.paper_id, "danger"),
                ],
            }
        )
    return blocks


def render_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """Core text (bullets, `<arXiv link>`s) as inert mrkdwn: everything escaped but the
    core's own links to arxiv.org; a `<https://...>` or `<!channel>` in a title stays text."""
    return _fit(_LINK.sub(r"<\1>", escape(text)), limit)


def render_reply(reply: Reply, limit: int = REPLY_LIMIT) -> str:
    """An answer or digest: its text, then one linked line per paper while they fit in
    `limit` (a readable size), then "…and N more"."""
    head = render_text(reply.text, limit - 40)
    lines, size = [head], len(head)
    for n, item in enumerate(reply.items):
        line = f"• {_link(item.url, clip(fold(item.title), display.ITEM_TITLE_CHARS))}"
        if item.detail:
            line += f" ({escape(clip(fold(item.detail), display.ITEM_DETAIL_CHARS))})"
        if size + len(line) + 1 > limit - 30:
            lines.append(display.more(len(reply.items) - n))
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def escape(text: str) -> str:
    """Slack's three control characters; anything else is shown as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"&lt;(https://arxiv\.org/abs/[\w./-]+)&gt;")


def _byline(content: PostContent) -> list[str]:
    return [p for p in (content.authors, content.categories, content.reference) if p]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(_fit(text, SECTION_LIMIT))}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(_fit(text, SECTION_LIMIT))]}


def _mrkdwn(text: str) -> dict[str, Any]:
    """verbatim: Slack turns no bare URL, channel or user name in it into a link."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _button(label: str, action_id: str, value: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value[:2000],
        "style": style,
    }


def _link(url: str, label: str) -> str:
    """`<url|label>` with the label escaped; a url Slack could misread is shown as text."""
    if not re.fullmatch(r"https?://[^\s<>|]+", url):
        return escape(label)
    return f"<{url.replace('&', '&amp;')}|{escape(label)}>"


def _fit(text: str, limit: int) -> str:
    """Escaped text cut to Slack's `limit` without splitting an `&amp;` entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


# --- errors ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _chat_errors(settings: Settings, method: str, channel: str | None = None) -> Iterator[None]:
    """Slack refusals and network failures inside become one ChatError saying what to do."""
    try:
        yield
    except SlackApiError as exc:
        raise _refusal(exc, method, channel) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ChatError(
            f"cannot reach Slack at {settings.slack_api_url} for {method} ({reason}); "
            "check the network, SLACK_API_URL and SLACK_PROXY"
        ) from None


@contextlib.contextmanager
def _best_effort(settings: Settings, method: str, channel: str | None = None) -> Iterator[None]:
    """As `_chat_errors`, but the ChatError is logged and the caller goes on."""
    try:
        with _chat_errors(settings, method, channel):
            yield
    except ChatError as exc:
        log.warning("%s", exc)


def _refusal(exc: SlackApiError, method: str, channel: str | None) -> ChatError:
    error = _error_code(exc)
    where = f" in {channel}" if channel else ""
    data = getattr(exc.response, "data", None)
    if method == "apps.connections.open":
        return ChatError(
            f"Slack rejected SLACK_APP_TOKEN ({error}); create an app-level token with the "
            "connections:write scope (Basic Information: App-Level Tokens) and put it in .env"
        )
    if error in TOKEN_REJECTED:
        return ChatDead(
            f"Slack rejected SLACK_BOT_TOKEN ({error}); create a new bot token (reinstall the "
            "app: OAuth & Permissions) and put it in .env"
        )
    if error == "missing_scope":
        needed = data.get("needed", "?") if isinstance(data, dict) else "?"
        kind = ChannelUnusable if channel else ChatError
        return kind(
            f"the Slack app lacks the {needed} scope for {method}; add it to the app "
            "(docs/slack.md lists every scope) and reinstall it"
        )
    if error in ("channel_not_found", "not_in_channel") and channel:
        return _cannot_see(channel)
    if error in CHANNEL_REFUSED and channel:
        return ChannelUnusable(
            f"Slack channel {channel} {CHANNEL_REFUSED[error]} ({error}); fix that in Slack "
            "or set another slack_channel in the routes file"
        )
    if error == "ratelimited":
        return ChatError(f"Slack kept rate-limiting {method}{where}; it is retried later")
    if method == "auth.test":
        return ChatError(f"Slack refused auth.test ({error}); check SLACK_BOT_TOKEN")
    return ChatError(f"Slack refused {method}{where} ({error})")


def _cannot_see(channel: str) -> ChatError:
    return ChannelUnusable(
        f"the bot cannot see Slack channel {channel}; invite it there with /invite @paperbot "
        "(or check slack_channel in the routes file)"
    )


def _error_code(exc: SlackApiError) -> str:
    response = exc.response
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    status = getattr(response, "status_code", "?")
    return f"HTTP {status}"


# --- helpers ---------------------------------------------------------------------------------


def names_paper(message: Mapping[str, Any], paper_id: str) -> bool:
    """Whether one of the bot's messages is the post of `paper_id`: its metadata, its
    buttons' value, or the `(id)` in its fallback text."""
    if _metadata_id(message) == paper_id:
        return True
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            button = element.get("action_id") in (ACCEPT_ACTION, REJECT_ACTION)
            if button and element.get("value") == paper_id:
                return True
    return f"({paper_id})" in str(message.get("text") or "")


def _log_warnings(data: object, method: str, channel: str) -> None:
    """Slack accepts a call yet drops a part (metadata, say) with a warning: log it."""
    if not isinstance(data, dict):
        return
    warnings = [data.get("warning"), *(data.get("response_metadata") or {}).get("warnings", [])]
    found = sorted({str(w) for w in warnings if w})
    if found:
        log.warning("Slack accepted %s in %s with warnings: %s", method, channel, ", ".join(found))


def _metadata_id(message: Mapping[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_TYPE:
        return None
    found = (metadata.get("event_payload") or {}).get("arxiv_id")
    return str(found) if found else None


def _str(value: object) -> str | None:
    return str(value) if value else None


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


# --- slack_sdk plumbing: retries -------------------------------------------------------------


class RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """A 429 is waited out for exactly its Retry-After seconds, then the call is sent again.

    Slack did not act on a rate-limited call, so resending it posts nothing twice.
    """

    def __init__(self, sleep: Sleep, max_retry_count: int = 3) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code == 429
            and _retry_after(response) <= MAX_RETRY_AFTER
        )

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        await self._sleep(_retry_after(response) if response is not None else 1.0)
        state.increment_current_attempt()


class ConnectionRetry(AsyncConnectionErrorRetryHandler):
    """Connection errors are retried, except where a message may already have gone out.

    A chat.postMessage whose connection broke after sending may have posted: it is not
    resent here; the core records the intent and finds the post by its metadata instead.
    """

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        ):
            return False
        if request.url.rstrip("/").endswith("chat.postMessage"):
            return isinstance(error, aiohttp.ClientConnectorError)  # never reached Slack
        return True


def retry_handlers(sleep: Sleep = asyncio.sleep) -> list[AsyncRetryHandler]:
    return [
        RateLimitRetry(sleep),
        ConnectionRetry(
            max_retry_count=2,
            interval_calculator=BackoffRetryIntervalCalculator(backoff_factor=0.5),
            error_types=[aiohttp.ServerConnectionError, aiohttp.ClientOSError],
        ),
    ]


def _retry_after(response: HttpResponse) -> float:
    for key, values in response.headers.items():
        if key.lower() == "retry-after":
            raw = values[0] if isinstance(values, list) else values
            try:
                return max(0.0, float(raw))
            except ValueError:
                break
    return 1.0
