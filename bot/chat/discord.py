"""Discord: papers as embeds with persistent buttons, votes from reactions and clicks, `/papers`.

No privileged intent (guilds and guild reactions); raw reaction events count posts from
before a restart. `/papers` is built from the catalogue and synced only when it changed.
A gateway closed for good sets `failed`, so `paperbot run` exits and can be restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import shlex
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands

from bot import display
from bot.arxiv.ids import parse_arxiv_id
from bot.chat.base import (
    ChannelUnusable,
    ChatDead,
    EventHandler,
    Failure,
    ReactionVotes,
)
from bot.clock import system_clock
from bot.config import Settings
from bot.display import PostContent, clip, fold, post_content
from bot.errors import ChatError, PaperbotError
from bot.models import CommandEvent, Parsed, PostView, Reply, Signal, VoteEvent
from bot.papers_command import (
    CATALOGUE,
    MAX_COUNT,
    MAX_DAYS,
    SPECS,
    SUGGEST_SHOWN,
    CommandSpec,
    command_words,
)
from bot.voting import normalize_emoji, vote_value
from storage.store import Store

log = logging.getLogger(__name__)

__all__ = [
    "ACCEPT_ID",
    "REJECT_ID",
    "DiscordChat",
    "bot_permissions",
    "create_discord",
    "discord_button_to_vote",
    "discord_command_to_event",
    "discord_reaction_to_vote",
    "escape",
    "fetch_application_id",
    "invite_url",
    "render_embed",
    "render_reply",
    "split_text",
]

PLATFORM = "discord"
ACCEPT_ID = "paperbot:accept"  # fixed custom ids: the buttons keep working after a restart
REJECT_ID = "paperbot:reject"
HISTORY_LIMIT = 200  # how far back `find_post` looks for its own post of a paper
READY_TIMEOUT = 60.0  # seconds `start` waits for the gateway to be ready
DEFER_AFTER = 2.0  # an answer not ready by then is deferred (Discord allows 3 s)

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object), and
# what fits them: even at every maximum below, an embed stays under EMBED_LIMIT
# (256 + 2500 + 500 + 200 + 40 + 300 + 1024 + 300 + the field names).
TEXT_LIMIT = 2000  # characters in one message's content
EMBED_LIMIT = 6000
TITLE_LIMIT = 256
FIELD_LIMIT = 1024
DESCRIPTION_CHARS = 2500  # the abstract, escaped (Discord allows 4096)
AUTHORS_CHARS = 500
CATEGORIES_CHARS = 200
STATUS_CHARS = 300
FOOTER_CHARS = 300

COLOURS = {
    "pending": discord.Colour.blurple(),
    "accepted": discord.Colour.green(),
    "rejected": discord.Colour.red(),
    "expired": discord.Colour.light_grey(),
}
LOGIN_REFUSED = (
    "Discord rejected DISCORD_TOKEN; copy the token from the Developer Portal "
    "(your application > Bot > Reset Token) into DISCORD_TOKEN in .env"
)
_CUSTOM_EMOJI = re.compile(r"<a?:\w{2,32}:\d{15,21}>")
# close codes after which Discord will not take the bot back without a fix
CLOSE_REASONS = {
    4004: "the token was refused (reset or revoked); put the bot's current token in DISCORD_TOKEN",
    4010: "the shard setting is invalid; check the shard settings",
    4011: "the bot needs sharding; contact the maintainers",
    4012: "the gateway version is no longer valid; upgrade paperbot",
    4013: "the intents are invalid; upgrade paperbot",
    4014: "the intents are not allowed for this bot; check the bot's settings in the "
    "Developer Portal",
}
CLOSED = (
    "the Discord connection is closed and cannot be used any more; paperbot stops so that "
    "its supervisor restarts it"
)
# Discord JSON error codes that make a channel unusable until someone fixes it
CHANNEL_GONE = {10003: "does not exist (deleted?)", 50001: "is out of the bot's reach"}
CHANNEL_REFUSED = {50013: "denies the bot a permission it needs", 50083: "is archived"}

# Exactly the channel permissions the bot uses (flag, Discord's name for it), and why.
USED_PERMISSIONS = (
    ("view_channel", "View Channel"),  # see the route's channel and get its reaction events
    ("send_messages", "Send Messages"),  # post papers, digests and notices
    ("embed_links", "Embed Links"),  # a bot's embeds are only shown with Embed Links
    ("add_reactions", "Add Reactions"),  # put 👍 and 👎 under each post: voting in one click
    ("read_message_history", "Read Message History"),  # find its post again after a crash
)


# --- construction ----------------------------------------------------------------------------


async def create_discord(settings: Settings) -> DiscordChat:
    """The chat `paperbot run` starts when DISCORD_TOKEN is set."""
    return DiscordChat(settings)


class DiscordChat:
    """The `Chat` for Discord. Channel arguments are bare channel ids ("1234...")."""

    platform = PLATFORM

    def __init__(
        self,
        settings: Settings,
        *,
        ready_timeout: float = READY_TIMEOUT,
        defer_after: float = DEFER_AFTER,
    ) -> None:
        if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
            raise ChatError(
                "DISCORD_TOKEN is empty; put the bot's token in .env, or remove the line to "
                "run without Discord"
            )
        self.settings = settings
        self.ready_timeout = ready_timeout
        self.defer_after = defer_after
        # paperbot has no voice: silence discord.py's warnings about voice libraries
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True  # the bot's channels and its own permissions in them
        intents.guild_reactions = True  # 👍/👎 votes
        self.client = _Client(
            self,
            intents=intents,
            proxy=settings.discord_proxy,
            guild_ready_timeout=settings.discord_guild_ready_timeout,
            application_id=settings.discord_application_id,
            allowed_mentions=discord.AllowedMentions.none(),  # titles may say @everyone
            max_messages=None,  # raw events only: no message cache to keep
            max_ratelimit_timeout=60.0,  # longer waits fail the call; the core retries it
        )
        self.tree = _Tree(self.client)
        self.tree.add_command(papers_group(self))
        self.failed = Failure()
        self._handler: EventHandler | None = None
        self._gateway: asyncio.Task[None] | None = None
        self._sync: asyncio.Task[bool] | None = None
        self._closing = False

    @property
    def bot_user_id(self) -> int | None:
        """The bot's own user id, known once `start()` has run."""
        user = self.client.user
        return user.id if user is not None else None

    # --- start and close ---------------------------------------------------------------------

    async def start(self, handler: EventHandler) -> None:
        """Log in, connect the gateway in a background task, return once the bot is ready."""
        self._handler = handler
        settings = self.settings
        assert settings.discord_token is not None
        # process-wide class attributes of discord.py: where REST and the gateway are
        discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
        connect = f"connect to the Discord gateway at {settings.discord_gateway_url}"
        network = "check DISCORD_GATEWAY_URL, DISCORD_PROXY and the network"
        try:
            with _chat_errors(
                f"log in to Discord at {settings.discord_api_url}",
                hint="check DISCORD_API_URL, DISCORD_PROXY and the network",
            ):
                await self.client.login(settings.discord_token.get_secret_value())
            with _chat_errors(connect, hint=network):
                await self._probe_gateway()
        except ChatError:
            await self.client.close()
            raise

        self._gateway = asyncio.create_task(self._run_gateway(), name="discord gateway")
        ready = asyncio.create_task(self.client.wait_until_ready(), name="discord ready")
        try:
            await asyncio.wait(
                {self._gateway, ready},
                timeout=self.ready_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            if not ready.done():
                ready.cancel()
        if not self.client.is_ready():
            gateway = self._gateway
            failed = gateway.exception() if gateway.done() and not gateway.cancelled() else None
            await self.close()
            if isinstance(failed, discord.ConnectionClosed) and failed.code == 4004:
                raise ChatError(LOGIN_REFUSED) from failed  # the gateway's word for it
            if failed is not None:
                why = _failure(failed)
            elif gateway.done():
                why = "the connection closed before the bot was ready"
            else:
                why = f"not ready after {self.ready_timeout:g} s"
            raise ChatError(_could_not(connect, why, network)) from failed
        self._gateway.add_done_callback(self._gateway_ended)
        log.info("connected to Discord as %s (%s)", self.client.user, self.bot_user_id or "?")
        # registering /papers may be slow or refused; it must not hold start-up back
        self._sync = asyncio.create_task(self._sync_commands(), name="discord command sync")

    async def _probe_gateway(self) -> None:
        """Open and close one websocket to the gateway, so that a gateway that cannot be
        reached is reported at once, with its real cause: discord.py 2.7.1 would retry
        after a back-off and then fail with an unrelated AttributeError."""
        url = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY.with_query(v=10, encoding="json")
        socket = await asyncio.wait_for(self.client.http.ws_connect(str(url)), timeout=30)
        await socket.close()

    async def _run_gateway(self) -> None:
        await self.client.connect(reconnect=True)

    def _gateway_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._closing:
            return
        exc = task.exception()
        self.failed.set(gateway_closed(exc))

    def commands_digest(self) -> str:
        """What the command set and where it goes hash to: sync only when this changes."""
        commands = [c.to_dict(self.tree) for c in self.tree.get_commands()]
        where = sorted(self.settings.discord_guild_ids)
        text = json.dumps({"commands": commands, "guilds": where}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    async def _sync_commands(self, *, force: bool = False) -> bool:
        """Register /papers when the command set changed since the last registration (kept
        in the database), or when forced: in the DISCORD_GUILD_IDS servers, else globally."""
        guilds = ",".join(str(g) for g in sorted(self.settings.discord_guild_ids))
        digest = f"{self.commands_digest()}:{guilds}"
        before = ""
        try:
            with _open_store(self.settings) as store:
                before = store.commands_synced(PLATFORM) or ""
        except PaperbotError as exc:
            log.warning("could not read the command registration from the database: %s", exc)
        if not force and before == digest:
            log.info("/papers is registered already (unchanged)")
            return True
        stale = {int(g) for g in before.partition(":")[2].split(",") if g.isdigit()}
        try:
            await self._register_commands(stale - set(self.settings.discord_guild_ids))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a refusal or a rate limit must not stop the bot
            log.warning(
                "%s",
                exc
                if isinstance(exc, ChatError)
                else _could_not(
                    "register /papers with Discord",
                    _failure(exc),
                    "it is tried again at the next start, or run `paperbot discord sync`",
                ),
            )
            return False
        with _open_store(self.settings) as store:
            store.set_commands_synced(PLATFORM, digest)
        return True

    async def _register_commands(self, stale: set[int]) -> None:
        for guild_id in sorted(stale):  # servers registered before: drop their copies
            with _chat_errors(f"remove the /papers copy from Discord server {guild_id}"):
                await self.tree.sync(guild=discord.Object(id=guild_id))
        if self.settings.discord_guild_ids:
            for guild_id in self.settings.discord_guild_ids:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                with _chat_errors(
                    f"register /papers in Discord server {guild_id}",
                    hint="it is tried again at the next start, or run `paperbot discord sync`",
                    not_found=(
                        f"Discord server {guild_id} (in DISCORD_GUILD_IDS) refused /papers: the "
                        "bot is not a member there; add it with the link from `paperbot "
                        "discord invite`, or remove that id from DISCORD_GUILD_IDS"
                    ),
                ):
                    await self.tree.sync(guild=guild)
            log.info("/papers registered in servers %s", self.settings.discord_guild_ids)
            return
        with _chat_errors(
            "register /papers with Discord",
            hint="it is tried again at the next start, or run `paperbot discord sync`",
        ):
            await self.tree.sync()
        log.info("/papers registered globally (it may take a while to show everywhere)")

    async def sync_commands(self) -> None:
        """`paperbot discord sync`: register /papers now, whatever the database says."""
        if not await self._sync_commands(force=True):
            raise ChatError(
                "Discord did not take the /papers commands (the log above says why); fix "
                "that and run `paperbot discord sync` again"
            )

    async def close(self) -> None:
        self._closing = True
        if self._sync is not None and not self._sync.done():
            self._sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync
        await self.client.close()
        if self._gateway is not None:
            _, late = await asyncio.wait({self._gateway}, timeout=10)
            for task in late:
                task.cancel()
            if self._gateway.done() and not self._gateway.cancelled():
                self._gateway.exception()  # retrieved: it was reported already

    # --- posting -----------------------------------------------------------------------------

    async def check_channel(self, channel: str) -> None:
        channel_id = _snowflake(channel, "channel")
        cannot = (
            f"the bot cannot see Discord channel {channel}; invite it to the server with the "
            "URL from `paperbot discord invite` and give it View Channel, Send Messages, "
            "Embed Links, Add Reactions and Read Message History in that channel"
        )
        with _chat_errors(
            f"look up Discord channel {channel}", hint="retry later", not_found=cannot
        ):
            found = await self.client.fetch_channel(channel_id)
        if not isinstance(found, discord.abc.Messageable):
            raise ChatError(
                f"Discord channel {channel} is not a text channel; "
                "put a text channel's id in discord_channel"
            )
        if isinstance(found, discord.abc.GuildChannel):
            me = found.guild.me
            if me is not None:
                has = found.permissions_for(me)
                missing = [name for flag, name in USED_PERMISSIONS if not getattr(has, flag)]
                if missing:
                    raise ChatError(
                        f"the bot lacks {', '.join(missing)} in Discord channel {channel}; "
                        "give it those permissions in the channel's settings"
                    )

    async def post_paper(self, channel: str, view: PostView, nonce: str) -> str:
        """One message; a retry with the same nonce within minutes returns the same one."""
        target = self._channel(channel)
        with self._errors(f"post {view.paper.id} to Discord channel {channel}", channel):
            message = await target.send(
                embed=render_embed(view),
                view=self._buttons(),
                nonce=nonce,  # discord.py 2.7 sends it with enforce_nonce: true
            )
        await self._seed_reactions(message)
        return str(message.id)

    async def send_text(self, channel: str, text: str) -> None:
        target = self._channel(channel)
        with self._errors(f"send a message to Discord channel {channel}", channel):
            for piece in split_text(text):
                await target.send(piece)

    async def reply_in_thread(self, channel: str, ref: str, text: str) -> None:
        """A reply to the post that pings only the users mentioned as `<@id>` in `text`."""
        target = self._channel(channel)
        parts = re.split(r"(<@[0-9]+>)", text)
        shown = "".join(p if re.fullmatch(r"<@[0-9]+>", p) else render_text(p) for p in parts)
        users = [discord.Object(int(u)) for u in re.findall(r"<@([0-9]+)>", text)]
        with self._errors(f"reply to message {ref} in Discord channel {channel}", channel):
            await target.send(
                shown[:TEXT_LIMIT],
                reference=target.get_partial_message(_snowflake(ref, "message")),
                allowed_mentions=discord.AllowedMentions(
                    everyone=False, roles=False, users=users, replied_user=False
                ),
            )

    async def send_reply(self, channel: str, reply: Reply) -> None:
        """A digest or notice: one message, as many papers as fit, then how many are left."""
        target = self._channel(channel)
        with self._errors(f"send a message to Discord channel {channel}", channel):
            await target.send(render_reply(reply))

    async def read_votes(self, channel: str, ref: str) -> ReactionVotes:
        """Who reacts with a voting emoji now (normal and super reactions; bots left out)."""
        message = self._channel(channel).get_partial_message(_snowflake(ref, "message"))
        up, down = self.settings.paperbot_up_emoji, self.settings.paperbot_down_emoji
        found: dict[str, dict[str, int]] = {}
        with self._errors(f"read the reactions on message {ref} in {channel}", channel):
            full = await message.fetch()
            for reaction in full.reactions:
                name = _emoji_name(reaction.emoji)
                value = vote_value(name, up, down) if name else None
                if value is None:
                    continue
                for kind in (discord.ReactionType.normal, discord.ReactionType.burst):
                    async for member in reaction.users(type=kind):
                        if member.bot:
                            continue
                        found.setdefault(f"{PLATFORM}:{member.id}", {})[normalize_emoji(name)] = (
                            value
                        )
        return found

    @contextlib.contextmanager
    def _errors(self, doing: str, channel: str | None = None) -> Iterator[None]:
        """`_chat_errors`, and a chat that can no longer work is reported as `failed`."""
        try:
            with _chat_errors(doing, channel=channel):
                yield
        except ChatDead as exc:
            if not self._closing:
                self.failed.set(str(exc))
            raise

    def _buttons(self) -> VoteButtons:
        """The buttons to render. A stopped copy: the view registered at start answers the
        clicks, and discord.py keeps no per-message view for a stopped one."""
        buttons = VoteButtons(self)
        buttons.stop()
        return buttons

    async def _seed_reactions(self, message: discord.Message) -> None:
        """👍 and 👎 under a new post, so a vote is one click. Best effort."""
        for emoji in (
            _sendable(self.settings.paperbot_up_emoji),
            _sendable(self.settings.paperbot_down_emoji),
        ):
            if emoji is not None:
                with _best_effort(f"add {emoji} under message {message.id}"):
                    await message.add_reaction(emoji)

    # --- finding -----------------------------------------------------------------------------

    async def find_post(self, channel: str, paper_id: str) -> str | None:
        """The bot's recent message whose embed links this paper."""
        target = self._channel(channel)
        url = f"https://arxiv.org/abs/{paper_id}"
        me = self.bot_user_id
        with self._errors(f"read Discord channel {channel}'s recent messages", channel):
            async for message in target.history(limit=HISTORY_LIMIT):
                if me is not None and message.author.id != me:
                    continue
                if any(embed.url == url for embed in message.embeds):
                    return str(message.id)
        return None

    def _channel(self, channel: str) -> discord.PartialMessageable:
        if self.client.is_closed() and not self._closing:
            self.failed.set(CLOSED)
            raise ChatDead(CLOSED)
        return self.client.get_partial_messageable(_snowflake(channel, "channel"))

    # --- updating ----------------------------------------------------------------------------

    async def update_post(self, channel: str, ref: str, view: PostView) -> None:
        message = self._channel(channel).get_partial_message(_snowflake(ref, "message"))
        content = post_content(view)
        with self._errors(f"update message {ref} in Discord channel {channel}", channel):
            await message.edit(
                embed=_embed(content), view=self._buttons() if content.buttons else None
            )

    # --- events ------------------------------------------------------------------------------

    async def _on_cleared(self, channel_id: int, message_id: int) -> None:
        """Reactions removed in bulk (all, or one emoji): the post's votes are read again."""
        handler = self._handler
        if handler is None:
            return
        try:
            await handler.on_votes_changed(f"{PLATFORM}:{channel_id}", str(message_id))
        except Exception:
            log.exception("the votes on message %s could not be read again", message_id)

    async def _on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        handler = self._handler
        if handler is None:
            return
        if payload.event_type == "REACTION_REMOVE":
            # the user may still hold the same vote by another reaction (a super reaction)
            await self._on_cleared(payload.channel_id, payload.message_id)
            return
        vote = discord_reaction_to_vote(
            payload,
            up=self.settings.paperbot_up_emoji,
            down=self.settings.paperbot_down_emoji,
            bot_user_id=self.bot_user_id,
        )
        if vote is None:
            return
        try:
            await handler.on_vote(vote)
        except Exception:
            log.exception("a Discord reaction on message %s could not be counted", vote.message_ref)

    async def _on_button(self, interaction: discord.Interaction, custom_id: str | None) -> None:
        handler = self._handler
        message = interaction.message
        vote = discord_button_to_vote(
            custom_id,
            channel_id=interaction.channel_id,
            message_id=message.id if message is not None else None,
            user_id=interaction.user.id,
            user_is_bot=interaction.user.bot,
        )
        if handler is None or vote is None:
            await _say(interaction, display.NOT_READY)
            return

        async def count() -> Reply:
            said = await handler.on_vote(vote)
            return Reply(said or display.VOTE_NOT_TAKEN, ok=said is not None)

        await self._answer(interaction, count(), failed=display.VOTE_FAILED)

    # --- commands ----------------------------------------------------------------------------

    async def _on_command(
        self,
        interaction: discord.Interaction,
        name: str,
        *,
        days: int | None = None,
        words: str | None = None,
        paper: str | None = None,
        count: int | None = None,
    ) -> None:
        """Check the arguments, run the core's command, show its reply."""
        handler = self._handler
        if interaction.guild_id is None:  # registered for servers only; a stale DM client
            await _say(interaction, display.SERVERS_ONLY)
            return
        event = discord_command_to_event(
            name,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            days=days,
            words=words,
            paper=paper,
            count=count,
        )
        if isinstance(event, Reply):  # the arguments were wrong: say so at once
            await _say(interaction, render_reply(event))
        elif handler is None:
            await _say(interaction, display.NOT_READY)
        else:
            await self._answer(
                interaction, handler.on_command(event), failed=display.COMMAND_FAILED
            )

    async def _answer(
        self, interaction: discord.Interaction, work: Awaitable[Reply], *, failed: str
    ) -> None:
        """Show `work`'s reply: at once when it is quick, else after a deferral."""
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.defer_after)
            if task not in done:
                with _best_effort("defer a Discord interaction"):
                    await interaction.response.defer(ephemeral=True, thinking=True)
            reply = await task  # the work is done even when its answer cannot be shown
        except asyncio.CancelledError:
            task.cancel()
            raise
        except PaperbotError as exc:
            reply = Reply(display.refused(exc), ok=False)
        except Exception:
            log.exception("a Discord interaction failed")
            reply = Reply(failed, ok=False)
        if interaction.response.is_done() and reply.public:
            # the "thinking…" answer was private: replace it by a message everyone sees
            with _best_effort("replace a private Discord answer"):
                await interaction.delete_original_response()
        await _say(interaction, render_reply(reply), ephemeral=not reply.public)


# --- translating events (pure) ---------------------------------------------------------------


def discord_reaction_to_vote(
    payload: discord.RawReactionActionEvent,
    *,
    up: Sequence[str],
    down: Sequence[str],
    bot_user_id: int | None,
) -> VoteEvent | None:
    """A raw reaction add/remove as a vote; None for an emoji that is no vote."""
    name = _emoji_name(payload.emoji)
    value = vote_value(name, up, down) if name else None
    if value is None:
        return None
    from_bot = payload.user_id == bot_user_id or bool(
        payload.member is not None and payload.member.bot
    )
    return VoteEvent(
        channel=f"{PLATFORM}:{payload.channel_id}",
        message_ref=str(payload.message_id),
        signal=Signal(
            f"{PLATFORM}:{payload.user_id}",
            value,
            "reaction",
            normalize_emoji(name),
            added=payload.event_type != "REACTION_REMOVE",
        ),
        from_bot=from_bot,
    )


def discord_button_to_vote(
    custom_id: str | None,
    *,
    channel_id: int | None,
    message_id: int | None,
    user_id: int,
    user_is_bot: bool,
) -> VoteEvent | None:
    """A click on Accept/Reject as a vote on the message it is under."""
    value = {ACCEPT_ID: 1, REJECT_ID: -1}.get(custom_id or "")
    if value is None or channel_id is None or message_id is None:
        return None
    return VoteEvent(
        channel=f"{PLATFORM}:{channel_id}",
        message_ref=str(message_id),
        signal=Signal(f"{PLATFORM}:{user_id}", value, "button"),
        from_bot=user_is_bot,
    )


def discord_command_to_event(
    name: str,
    *,
    channel_id: int | None,
    user_id: int,
    days: int | None = None,
    words: str | None = None,
    paper: str | None = None,
    count: int | None = None,
) -> CommandEvent | Reply:
    """A `/papers <name>` app command as a typed command for the core (`CommandEvent.parsed`),
    with its text for the log; a `Reply` to show at once when an argument is wrong (Discord's
    client checks the ranges, a forged or stale request is checked again here)."""
    text, parsed = name, Parsed(name)
    if days is not None:
        if not 1 <= days <= 365:
            return Reply(display.bad_days(days), ok=False)
        text, parsed = f"{name} {days}", Parsed(name, days=days)
    if words is not None:
        parts = words.split()
        if not parts:
            return Reply(display.NO_SEARCH_WORDS, ok=False)
        text = f"{name} {shlex.join(parts)}"
        parsed = Parsed(name, words=command_words(parts))
    if paper is not None:
        found = parse_arxiv_id(paper)
        if found is None:
            return Reply(display.not_an_arxiv_id(escape(paper[:40])), ok=False)
        text, parsed = f"{name} {found[0]}", Parsed(name, paper_id=found[0])
    if count is not None:
        if not 1 <= count <= MAX_COUNT:
            return Reply(f"{count} is not a number from 1 to {MAX_COUNT}.", ok=False)
        text, parsed = f"{name} {count}", Parsed(name, limit=count)
    if days is None and words is None and paper is None and count is None:
        parsed = Parsed(name, days=SPECS[name].default_days) if name in SPECS else Parsed(name)
    return CommandEvent(
        channel=f"{PLATFORM}:{channel_id or ''}",
        user=f"{PLATFORM}:{user_id}",
        text=text,
        parsed=parsed,
    )


# --- rendering (pure) ------------------------------------------------------------------------


def render_embed(view: PostView) -> discord.Embed:
    """The post of a paper; every part fits Discord's limits, whatever the text."""
    return _embed(post_content(view))


def _embed(content: PostContent) -> discord.Embed:
    embed = discord.Embed(
        title=_fit(escape(content.title), TITLE_LIMIT),
        url=content.url,
        description=_fit(escape(content.abstract), DESCRIPTION_CHARS) or None,
        colour=COLOURS[content.state],
    )
    if content.authors:
        embed.add_field(
            name="Authors", value=_fit(escape(content.authors), AUTHORS_CHARS), inline=False
        )
    if content.categories:
        embed.add_field(name="Categories", value=_fit(escape(content.categories), CATEGORIES_CHARS))
    if content.tags:
        embed.add_field(name="Tags", value=_fit(escape(content.tags), CATEGORIES_CHARS))
    if content.tldr:
        embed.add_field(name="TL;DR", value=_fit(escape(content.tldr), FIELD_LIMIT), inline=False)
    if content.fit:
        embed.add_field(name="Fit", value=_fit(escape(content.fit), CATEGORIES_CHARS))
    embed.add_field(name="Votes", value=content.votes)
    embed.add_field(name="Status", value=_fit(escape(content.status), STATUS_CHARS))
    if content.reasons:
        embed.add_field(
            name=display.REASONS_HEADING,
            value=_lines([f"• {escape(r)}" for r in content.reasons], FIELD_LIMIT),
            inline=False,
        )
    footer = " · ".join(p for p in (content.reference, content.hint) if p)
    embed.set_footer(text=clip(footer, FOOTER_CHARS))  # a footer shows no markdown
    if len(embed) > EMBED_LIMIT:  # cannot happen with the limits above; kept as a guard
        spare = EMBED_LIMIT - (len(embed) - len(embed.description or ""))
        embed.description = _fit(embed.description or "", max(1, spare))
    return embed


def render_reply(reply: Reply, limit: int = TEXT_LIMIT) -> str:
    """A command's answer as one message: as many items as fit, then how many are left."""
    head = _fit(render_text(reply.text), limit - 40)
    lines = [head]
    size = len(head)
    for n, item in enumerate(reply.items):
        title = escape(clip(fold(item.title), display.ITEM_TITLE_CHARS))
        line = f"- {_link(item.url, title)}"
        if item.detail:
            line += f" ({escape(clip(fold(item.detail), display.ITEM_DETAIL_CHARS))})"
        if size + len(line) + 1 > limit - 30:
            lines.append(display.more(len(reply.items) - n))
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def split_text(text: str, limit: int = TEXT_LIMIT) -> Iterator[str]:
    """Text in pieces of at most `limit` characters, cut at line ends where possible."""
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = limit
        piece, rest = rest[:cut], rest[cut:].lstrip("\n")
        if piece.strip():
            yield piece
    if rest.strip():
        yield rest


_MARKUP = re.compile(r"[\\*_~|`\[\]<>@#]|://|^\s*-(?=\s)|^\s*\d+\.(?=\s)", re.MULTILINE)
_ARXIV_LINK = re.compile(r"\\<https\\://(arxiv\.org/abs/[\w./-]+)\\>")


def escape(text: str) -> str:
    """Paper text as inert Discord text: every markdown, masked-link (`[a](b)`, however
    many), autolink (`<url>`, `https://`), mention (`<@id>`, `@everyone`) and heading
    or list marker escaped with a backslash, which Discord shows as the character itself."""
    return _MARKUP.sub(_escaped, text)


def _escaped(found: re.Match[str]) -> str:
    mark = found.group()
    if mark == "://":
        return "\\://"
    stripped = mark.lstrip()
    return mark[: len(mark) - len(stripped)] + "\\" + stripped


def render_text(text: str) -> str:
    """Core text (a reply, a notice): escaped, with the core's own `<arXiv link>` kept."""
    return _ARXIV_LINK.sub(r"<https://\1>", escape(text))


def _emoji_name(emoji: discord.PartialEmoji | discord.Emoji | str) -> str:
    if isinstance(emoji, str):
        return emoji
    if isinstance(emoji, discord.PartialEmoji) and emoji.is_unicode_emoji():
        return str(emoji)
    return emoji.name or ""


def _link(url: str, label: str) -> str:
    """`[label](<url>)` for an escaped label (its brackets are inert); `<>` stops the preview."""
    return f"[{label}](<{url}>)"


def _lines(lines: Sequence[str], limit: int) -> str:
    """Whole lines only, so no markdown is left open; then "…" when some did not fit."""
    text = ""
    for line in lines:
        if len(text) + len(line) + 1 > limit - 2:
            return text + "\n…" if text else _fit(line, limit)
        text = f"{text}\n{line}" if text else line
    return text


def _fit(text: str, limit: int) -> str:
    """Escaped text cut to Discord's `limit` without leaving half of a markdown escape."""
    if len(text) <= limit:
        return text
    cut = clip(text, limit)[:-1].rstrip()
    while cut.endswith("\\"):
        cut = cut[:-1]
    return cut + "…"


# --- errors ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _chat_errors(
    doing: str, *, hint: str = "", not_found: str | None = None, channel: str | None = None
) -> Iterator[None]:
    """discord.py refusals and network failures inside become one ChatError:
    "could not {doing}: {why}; {hint}" (`not_found` instead for a 403 or 404). With a
    `channel`, a refusal that only a person can fix is `ChannelUnusable`; a revoked token
    or a closed client is `ChatDead`; anything else (429s included) is transient."""
    try:
        yield
    except discord.LoginFailure as exc:
        raise ChatDead(LOGIN_REFUSED) from exc
    except (discord.NotFound, discord.Forbidden) as exc:
        if exc.status == 401:
            raise ChatDead(LOGIN_REFUSED) from exc
        if channel is not None and (why := _channel_problem(exc)) is not None:
            raise ChannelUnusable(
                f"Discord channel {channel} {why} ({exc.code}); give the bot access with "
                "the link from `paperbot discord invite` and the channel's permissions, or "
                "set another discord_channel in the routes file"
            ) from exc
        raise ChatError(not_found or _could_not(doing, _failure(exc), hint)) from exc
    except discord.HTTPException as exc:
        if exc.status == 401:
            raise ChatDead(LOGIN_REFUSED) from exc
        if channel is not None and exc.code in CHANNEL_REFUSED:
            raise ChannelUnusable(
                f"Discord channel {channel} {CHANNEL_REFUSED[exc.code]} ({exc.code}); fix it "
                "in Discord or set another discord_channel in the routes file"
            ) from exc
        raise ChatError(_could_not(doing, _failure(exc), hint or "it is retried later")) from exc
    except discord.RateLimited as exc:  # not an HTTPException: a wait over 60 s
        raise ChatError(
            _could_not(
                doing, f"Discord asks to wait {exc.retry_after:.0f} s", "it is retried later"
            )
        ) from exc
    except RuntimeError as exc:  # discord.py's "Session is closed" once the client closed
        if "closed" not in str(exc).lower():
            raise
        raise ChatDead(CLOSED) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ChatError(_could_not(doing, _failure(exc), hint)) from exc


def _channel_problem(exc: discord.HTTPException) -> str | None:
    if exc.code in CHANNEL_GONE:
        return CHANNEL_GONE[exc.code]
    if exc.code in CHANNEL_REFUSED:
        return CHANNEL_REFUSED[exc.code]
    if isinstance(exc, discord.Forbidden):
        return "is out of the bot's reach"
    return None


def gateway_closed(exc: BaseException | None) -> str:
    """The one sentence for a gateway that closed for good (or a client that stopped)."""
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return f"Discord closed the gateway: {CLOSE_REASONS[4014]}, then restart paperbot"
    if isinstance(exc, discord.ConnectionClosed):
        why = CLOSE_REASONS.get(exc.code or 0)
        if why is not None:
            return f"Discord closed the gateway with code {exc.code}: {why}, then restart paperbot"
        return (
            f"Discord closed the gateway with code {exc.code} and will not resume it; paperbot "
            "stops so that its supervisor restarts it"
        )
    if exc is not None:
        return (
            f"the Discord connection ended ({_failure(exc)}); paperbot stops so that its "
            "supervisor restarts it"
        )
    return CLOSED


@contextlib.contextmanager
def _open_store(settings: Settings) -> Iterator[Store]:
    store = Store.open(settings.paperbot_db, system_clock)
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def _best_effort(doing: str) -> Iterator[None]:
    """As `_chat_errors`, but the ChatError is logged and the caller goes on."""
    try:
        with _chat_errors(doing):
            yield
    except ChatError as exc:
        log.warning("%s", exc)


def _could_not(doing: str, why: str, hint: str = "") -> str:
    return f"could not {doing}: {why}" + (f"; {hint}" if hint else "")


def _failure(exc: BaseException) -> str:
    """What really went wrong: discord.py 2.7.1 hides a failed first connect behind an
    AttributeError raised while handling it."""
    while isinstance(exc, AttributeError) and exc.__context__ is not None:
        exc = exc.__context__
    if isinstance(exc, discord.ConnectionClosed):
        return f"the gateway closed the connection with code {exc.code}"
    return str(exc) or type(exc).__name__


# --- helpers ---------------------------------------------------------------------------------


def _snowflake(value: str, what: str) -> int:
    if not value.isdigit() or not 15 <= len(value) <= 21:
        raise ChatError(f"'{value[:40]}' is not a Discord {what} id such as 123456789012345678")
    return int(value)


def _sendable(emoji: Sequence[str]) -> str | None:
    """The first configured emoji the bot can react with (a unicode or custom emoji)."""
    for candidate in emoji:
        if _CUSTOM_EMOJI.fullmatch(candidate) or not candidate.isascii():
            return candidate
    return None


async def _say(interaction: discord.Interaction, text: str, *, ephemeral: bool = True) -> None:
    """Answer an interaction whether or not it has been answered (or deferred) already."""
    with _best_effort("answer a Discord interaction"):
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=ephemeral)
        else:
            await interaction.response.send_message(text, ephemeral=ephemeral)


# --- discord.py plumbing ---------------------------------------------------------------------


class _Client(discord.Client):
    def __init__(self, chat: DiscordChat, **options: Any) -> None:
        super().__init__(**options)
        self.chat = chat

    async def setup_hook(self) -> None:
        self.add_view(VoteButtons(self.chat))  # persistent: clicks on any post, any age

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self.chat._on_reaction(payload)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self.chat._on_reaction(payload)

    async def on_raw_reaction_clear(self, payload: discord.RawReactionClearEvent) -> None:
        await self.chat._on_cleared(payload.channel_id, payload.message_id)

    async def on_raw_reaction_clear_emoji(
        self, payload: discord.RawReactionClearEmojiEvent
    ) -> None:
        await self.chat._on_cleared(payload.channel_id, payload.message_id)


class VoteButtons(discord.ui.View):
    """Accept/Reject under each post. One instance, registered at start, answers every post."""

    def __init__(self, chat: DiscordChat) -> None:
        super().__init__(timeout=None)
        self.chat = chat

    @discord.ui.button(
        label="Accept", emoji="👍", style=discord.ButtonStyle.success, custom_id=ACCEPT_ID
    )
    async def accept(
        self, interaction: discord.Interaction, button: discord.ui.Button[VoteButtons]
    ) -> None:
        await self.chat._on_button(interaction, button.custom_id)

    @discord.ui.button(
        label="Reject", emoji="👎", style=discord.ButtonStyle.danger, custom_id=REJECT_ID
    )
    async def reject(
        self, interaction: discord.Interaction, button: discord.ui.Button[VoteButtons]
    ) -> None:
        await self.chat._on_button(interaction, button.custom_id)


DESCRIBE = {
    "days": f"How many days back (1 to {MAX_DAYS})",
    "words": "Words to look for, such as: kv cache",
    "id": "An arXiv id, such as 2503.12228",
    "count": f"How many papers (1 to {MAX_COUNT})",
}


def papers_group(chat: DiscordChat) -> app_commands.Group:
    """`/papers`, built from the catalogue, for servers only (never in DMs)."""
    group = app_commands.Group(
        name="papers",
        description="Papers paperbot found, and the team's votes",
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
    )
    for spec in CATALOGUE:
        callback = _subcommand(chat, spec)
        if spec.arg is not None:
            callback = app_commands.describe(**{_ARG[spec.arg]: DESCRIBE[spec.arg]})(callback)
        group.add_command(
            app_commands.Command(
                name=spec.name, description=clip(spec.help, 100), callback=callback
            )
        )
    return group


_ARG = {"days": "days", "words": "words", "id": "paper", "count": "count"}
Callback = Callable[..., Coroutine[Any, Any, None]]


def _subcommand(chat: DiscordChat, spec: CommandSpec) -> Callback:
    """The callback of one catalogue entry, with the typed argument its kind needs."""
    name = spec.name
    if spec.arg == "days":
        default = spec.default_days or 3

        async def with_days(
            interaction: discord.Interaction, days: app_commands.Range[int, 1, 365] = default
        ) -> None:
            await chat._on_command(interaction, name, days=days)

        return with_days
    if spec.arg == "words":

        async def with_words(
            interaction: discord.Interaction, words: app_commands.Range[str, 1, 200]
        ) -> None:
            await chat._on_command(interaction, name, words=words)

        return with_words
    if spec.arg == "id":

        async def with_paper(
            interaction: discord.Interaction, paper: app_commands.Range[str, 1, 100]
        ) -> None:
            await chat._on_command(interaction, name, paper=paper)

        return with_paper
    if spec.arg == "count":

        async def with_count(
            interaction: discord.Interaction,
            count: app_commands.Range[int, 1, MAX_COUNT] = SUGGEST_SHOWN,
        ) -> None:
            await chat._on_command(interaction, name, count=count)

        return with_count

    async def bare(interaction: discord.Interaction) -> None:
        await chat._on_command(interaction, name)

    return bare


class _Tree(app_commands.CommandTree[discord.Client]):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            text = display.UNKNOWN_COMMAND
        elif isinstance(error, app_commands.TransformerError):
            text = display.unreadable_arguments(str(error))
        else:
            log.error("/papers failed", exc_info=error)
            text = display.COMMAND_FAILED
        await _say(interaction, text)


# --- setup: the invite link -----------------------------------------------------------------


def bot_permissions() -> discord.Permissions:
    """The permissions the invite asks for: `USED_PERMISSIONS`, nothing else."""
    return discord.Permissions(**{flag: True for flag, _ in USED_PERMISSIONS})


def invite_url(application_id: int) -> str:
    """The OAuth2 link that adds the bot to a server, with its slash commands."""
    return discord.utils.oauth_url(
        application_id,
        permissions=bot_permissions(),
        scopes=("bot", "applications.commands"),
    )


async def fetch_application_id(settings: Settings) -> int:
    """The application id, read with the bot token (for `paperbot discord invite`)."""
    if settings.discord_application_id is not None:
        return settings.discord_application_id
    if settings.discord_token is None:
        raise ChatError(
            "set DISCORD_TOKEN (or DISCORD_APPLICATION_ID) first: the invite link needs the "
            "application id"
        )
    discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
    client = discord.Client(intents=discord.Intents.none(), proxy=settings.discord_proxy)
    try:
        with _chat_errors(f"reach Discord at {settings.discord_api_url}"):
            await client.login(settings.discord_token.get_secret_value())
    finally:
        await client.close()
    if client.application_id is None:
        raise ChatError("Discord did not say the application id; set DISCORD_APPLICATION_ID")
    return client.application_id


async def sync_commands(settings: Settings) -> None:
    """`paperbot discord sync`: register /papers now (log in over REST only, no gateway)."""
    chat = DiscordChat(settings)
    assert settings.discord_token is not None
    discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
    try:
        with _chat_errors(f"log in to Discord at {settings.discord_api_url}"):
            await chat.client.login(settings.discord_token.get_secret_value())
        await chat.sync_commands()
    finally:
        chat._closing = True
        await chat.client.close()
