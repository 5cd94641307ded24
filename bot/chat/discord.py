"""The Discord adapter: discord.py in, the core's `VoteEvent` and `CommandEvent` out.

It posts each paper as one message with an embed and persistent Accept/Reject buttons,
turns 👍/👎 reactions (raw events, so posts from before a restart count too) and button
clicks into votes, answers `/papers ...` slash commands, and edits a post when its decision
changes. It holds no business rules: the `EventHandler` (the curator) decides everything.

The bot asks for no privileged intent (no message content, no members): it needs the guilds
intent (its channels and its own permissions) and guild reactions. `invite_url` builds the
OAuth2 link with exactly the permissions it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
from collections.abc import Awaitable, Iterator, Sequence
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands

from bot.arxiv.ids import parse_arxiv_id
from bot.chat.base import CommandEvent, EventHandler, PostView, Reply, VoteEvent
from bot.config import Settings
from bot.curation import Signal, normalize_emoji, vote_value
from bot.errors import ChatError, PaperbotError

log = logging.getLogger(__name__)

PLATFORM = "discord"
ACCEPT_ID = "paperbot:accept"  # fixed custom ids: the buttons keep working after a restart
REJECT_ID = "paperbot:reject"
HISTORY_LIMIT = 200  # how far back `find_post` looks for its own post of a paper
TEXT_LIMIT = 2000  # characters in one message's content
READY_TIMEOUT = 60.0  # seconds `start` waits for the gateway to be ready
DEFER_AFTER = 2.0  # an answer not ready by then is deferred (Discord allows 3 s)

# Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object)
TITLE_LIMIT = 256  # the description may hold 4096, the footer 2048
FIELD_LIMIT = 1024
EMBED_LIMIT = 6000
# What the post shows, well inside those limits: even at every maximum the embed stays
# under EMBED_LIMIT (256 + 1500 + 500 + 200 + 1024 + 40 + 300 + 300 + field names).
ABSTRACT_CHARS = 1500
AUTHORS_SHOWN = 8
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


# Exactly the channel permissions the bot uses (flag, Discord's name for it), and why.
USED_PERMISSIONS = (
    ("view_channel", "View Channel"),  # see the route's channel and get its reaction events
    ("send_messages", "Send Messages"),  # post papers, digests and notices
    ("embed_links", "Embed Links"),  # a bot's embeds are only shown with Embed Links
    ("add_reactions", "Add Reactions"),  # put 👍 and 👎 under each post: voting in one click
    ("read_message_history", "Read Message History"),  # find its post again after a crash
)


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


# --- rendering: pure functions of the core's data ---------------------------------------------


def _squash(text: str) -> str:
    """One line: arXiv titles and abstracts come with hard line breaks and double spaces."""
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters; a cut text ends at a word and with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    cut = cut.rstrip()
    while cut.endswith("\\"):  # never leave half of a markdown escape
        cut = cut[:-1]
    return cut + "…"


def _text(text: str, limit: int, fallback: str = "—") -> str:
    """Untrusted text made safe for Discord markdown and clipped to `limit`."""
    clean = discord.utils.escape_markdown(_squash(text))
    return _clip(clean, limit) or fallback


def _authors(authors: Sequence[str]) -> str:
    shown = ", ".join(_squash(a) for a in authors[:AUTHORS_SHOWN])
    if len(authors) > AUTHORS_SHOWN:
        shown += f" et al. ({len(authors)} authors)"
    return shown


def _reasons(view: PostView) -> str:
    lines = []
    for reason in view.reasons:
        term = _text(reason.term, 100)
        if reason.field == "request" or not reason.text:
            lines.append(f"• {term}")
        else:
            lines.append(f"• **{term}** in {_text(reason.field, 20)}: “{_text(reason.text, 200)}”")
    text = ""
    for line in lines:  # whole lines only, so no markdown is left open
        if len(text) + len(line) + 1 > FIELD_LIMIT - 2:
            return text + "\n…"
        text = f"{text}\n{line}" if text else line
    return text or "—"


def is_final(view: PostView) -> bool:
    """Whether votes can no longer change the decision: expired, or decided by hand."""
    return view.final


def render_embed(view: PostView) -> discord.Embed:
    """The post of a paper; every part clipped to Discord's limits, whatever the text."""
    paper = view.paper
    embed = discord.Embed(
        title=_text(paper.title, TITLE_LIMIT, paper.id),
        url=paper.url,
        description=_text(paper.abstract, ABSTRACT_CHARS, "(no abstract)"),
        colour=COLOURS.get(view.status, COLOURS["pending"]),
    )
    embed.add_field(
        name="Authors", value=_text(_authors(paper.authors), AUTHORS_CHARS), inline=False
    )
    categories = list(dict.fromkeys([c for c in (paper.primary_category, *paper.categories) if c]))
    embed.add_field(name="Categories", value=_text(" ".join(categories), CATEGORIES_CHARS))
    embed.add_field(name="Votes", value=f"👍 {view.ups} · 👎 {view.downs}")
    # the note says who decided ("accepted by votes"); before any decision it is empty
    embed.add_field(name="Status", value=_text(view.note or view.status, STATUS_CHARS))
    embed.add_field(name="Why it matched", value=_reasons(view), inline=False)
    footer = f"arXiv:{paper.id} · " + ", ".join(view.routes)
    embed.set_footer(text=_clip(_squash(footer), FOOTER_CHARS))
    if len(embed) > EMBED_LIMIT:  # cannot happen with the limits above; kept as a guard
        spare = EMBED_LIMIT - (len(embed) - len(embed.description or ""))
        embed.description = _clip(embed.description or "", max(1, spare))
    return embed


def render_reply(reply: Reply, limit: int = TEXT_LIMIT) -> str:
    """A command's answer as one message: as many items as fit, then how many are left."""
    head = _clip(reply.text, limit - 40)
    lines = [head]
    size = len(head)
    for n, item in enumerate(reply.items):
        title = _text(item.title, 200).replace("[", "(").replace("]", ")")
        line = f"- [{title}](<{item.url}>)" + (
            f" ({_text(item.detail, 100)})" if item.detail else ""
        )
        left = len(reply.items) - n
        if size + len(line) + 1 > limit - 30:
            lines.append(f"…and {left} more")
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


def _sendable(emoji: Sequence[str]) -> str | None:
    """The first configured emoji the bot can react with (a unicode or custom emoji)."""
    for candidate in emoji:
        if _CUSTOM_EMOJI.fullmatch(candidate) or not candidate.isascii():
            return candidate
    return None


def _snowflake(value: str, what: str) -> int:
    if not value.isdigit() or not 15 <= len(value) <= 21:
        raise ChatError(f"'{value[:40]}' is not a Discord {what} id such as 123456789012345678")
    return int(value)


def _failure(exc: BaseException) -> str:
    """What really went wrong: discord.py 2.7.1 hides a failed first connect behind an
    AttributeError raised while handling it."""
    while isinstance(exc, AttributeError) and exc.__context__ is not None:
        exc = exc.__context__
    if isinstance(exc, discord.ConnectionClosed):
        return f"the gateway closed the connection with code {exc.code}"
    return str(exc) or type(exc).__name__


# --- discord.py objects ---------------------------------------------------------------------


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
        await self.chat.on_button(interaction, 1)

    @discord.ui.button(
        label="Reject", emoji="👎", style=discord.ButtonStyle.danger, custom_id=REJECT_ID
    )
    async def reject(
        self, interaction: discord.Interaction, button: discord.ui.Button[VoteButtons]
    ) -> None:
        await self.chat.on_button(interaction, -1)


class PapersGroup(app_commands.Group):
    """`/papers ...`: each subcommand builds the core's command text and shows its `Reply`."""

    def __init__(self, chat: DiscordChat) -> None:
        super().__init__(name="papers", description="Papers paperbot found, and the team's votes")
        self.chat = chat

    @app_commands.command(description="Papers matched in the last days")
    @app_commands.describe(days="How many days back (1 to 365, default 3)")
    async def recent(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 365] = 3
    ) -> None:
        await self.chat.command(interaction, "recent", days=days)

    @app_commands.command(description="Search titles, abstracts and authors, newest first")
    @app_commands.describe(words="Words to look for, such as: kv cache")
    async def search(
        self, interaction: discord.Interaction, words: app_commands.Range[str, 1, 200]
    ) -> None:
        await self.chat.command(interaction, "search", words=words)

    @app_commands.command(description="Papers accepted in the last days")
    @app_commands.describe(days="How many days back (1 to 365, default 7)")
    async def accepted(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 365] = 7
    ) -> None:
        await self.chat.command(interaction, "accepted", days=days)

    @app_commands.command(description="Papers rejected in the last days")
    @app_commands.describe(days="How many days back (1 to 365, default 7)")
    async def rejected(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 365] = 7
    ) -> None:
        await self.chat.command(interaction, "rejected", days=days)

    @app_commands.command(description="Posted papers still waiting for votes")
    async def pending(self, interaction: discord.Interaction) -> None:
        await self.chat.command(interaction, "pending")

    @app_commands.command(description="Counts and top voters")
    async def stats(self, interaction: discord.Interaction) -> None:
        await self.chat.command(interaction, "stats")

    @app_commands.command(description="Which rule matched what, and the votes")
    @app_commands.describe(paper="An arXiv id, such as 2503.12228")
    async def why(
        self, interaction: discord.Interaction, paper: app_commands.Range[str, 1, 100]
    ) -> None:
        await self.chat.command(interaction, "why", paper=paper)

    @app_commands.command(description="Fetch a paper by id and post it for votes")
    @app_commands.describe(paper="An arXiv id, such as 2503.12228")
    async def add(
        self, interaction: discord.Interaction, paper: app_commands.Range[str, 1, 100]
    ) -> None:
        await self.chat.command(interaction, "add", paper=paper)

    @app_commands.command(description="Last good poll, next poll, pending posts")
    async def status(self, interaction: discord.Interaction) -> None:
        await self.chat.command(interaction, "status")

    @app_commands.command(name="help", description="What each /papers command does")
    async def help_(self, interaction: discord.Interaction) -> None:
        await self.chat.command(interaction, "help")


class _Tree(app_commands.CommandTree[discord.Client]):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            text = "paperbot does not know that command (yet); try /papers help"
        elif isinstance(error, app_commands.TransformerError):
            text = f"That command's arguments could not be read ({error}); try /papers help"
        else:
            log.error("/papers failed", exc_info=error)
            text = "That command failed; the details are in paperbot's log"
        await _say(interaction, text)


class _Client(discord.Client):
    def __init__(self, chat: DiscordChat, **options: Any) -> None:
        super().__init__(**options)
        self.chat = chat

    async def setup_hook(self) -> None:
        self.add_view(VoteButtons(self.chat))  # persistent: clicks on any post, any age

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self.chat.on_reaction(payload, added=True)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self.chat.on_reaction(payload, added=False)


async def _say(interaction: discord.Interaction, text: str, *, ephemeral: bool = True) -> None:
    """Answer an interaction whether or not it has been answered (or deferred) already."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=ephemeral)
        else:
            await interaction.response.send_message(text, ephemeral=ephemeral)
    except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.warning("could not answer a Discord interaction: %s", exc)


# --- the adapter ---------------------------------------------------------------------------


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
        self.tree.add_command(PapersGroup(self))
        self._handler: EventHandler | None = None
        self._gateway: asyncio.Task[None] | None = None
        self._sync: asyncio.Task[None] | None = None
        self._closing = False

    # --- start and stop ------------------------------------------------------------------

    async def start(self, handler: EventHandler) -> None:
        """Log in, connect the gateway in a background task, return once the bot is ready."""
        self._handler = handler
        settings = self.settings
        assert settings.discord_token is not None
        # process-wide class attributes of discord.py: where REST and the gateway are
        discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
        try:
            await self.client.login(settings.discord_token.get_secret_value())
        except discord.LoginFailure as exc:
            await self.client.close()
            raise ChatError(LOGIN_REFUSED) from exc
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self.client.close()
            raise ChatError(
                f"could not log in to Discord at {settings.discord_api_url}: {_failure(exc)}; "
                "check DISCORD_API_URL, DISCORD_PROXY and the network"
            ) from exc
        unreachable = (
            f"could not connect to the Discord gateway at {settings.discord_gateway_url}: "
            "{}; check DISCORD_GATEWAY_URL, DISCORD_PROXY and the network"
        )
        try:
            await self._probe_gateway()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self.client.close()
            raise ChatError(unreachable.format(_failure(exc))) from exc

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
            raise ChatError(unreachable.format(why)) from failed
        self._gateway.add_done_callback(self._gateway_ended)
        user = self.client.user
        log.info("connected to Discord as %s (%s)", user, user.id if user else "?")
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
        if exc is not None:
            log.error("the Discord connection ended and will not come back: %s", _failure(exc))

    async def _sync_commands(self) -> None:
        """Register /papers: in the DISCORD_GUILD_IDS servers at once, else globally."""
        try:
            if self.settings.discord_guild_ids:
                for guild_id in self.settings.discord_guild_ids:
                    guild = discord.Object(id=guild_id)
                    self.tree.copy_global_to(guild=guild)
                    await self.tree.sync(guild=guild)
                log.info("/papers registered in servers %s", self.settings.discord_guild_ids)
                return
            await self.tree.sync()
            # drop copies a setup run left in servers, or /papers shows up twice there
            for server in self.client.guilds:
                if self.tree.get_commands(guild=server):
                    continue
                await self.tree.sync(guild=server)
            log.info("/papers registered globally (it may take a while to show everywhere)")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a missing scope or a rate limit must not stop the bot
            log.warning(
                "could not register /papers with Discord: %s; re-invite the bot with the URL "
                "from `paperbot discord invite` (it adds the applications.commands scope)",
                _failure(exc),
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

    # --- the Chat seam -------------------------------------------------------------------

    def _channel(self, channel: str) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(_snowflake(channel, "channel"))

    async def check_channel(self, channel: str) -> None:
        channel_id = _snowflake(channel, "channel")
        cannot = (
            f"the bot cannot see Discord channel {channel}; invite it to the server with the "
            "URL from `paperbot discord invite` and give it View Channel, Send Messages, "
            "Embed Links, Add Reactions and Read Message History in that channel"
        )
        try:
            found = await self.client.fetch_channel(channel_id)
        except (discord.NotFound, discord.Forbidden) as exc:
            raise ChatError(cannot) from exc
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ChatError(
                f"could not look up Discord channel {channel}: {_failure(exc)}; retry later"
            ) from exc
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
        try:
            message = await target.send(
                embed=render_embed(view),
                view=self._buttons(),
                nonce=nonce,  # discord.py 2.7 sends it with enforce_nonce: true
            )
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ChatError(
                f"could not post {view.paper.id} to Discord channel {channel}: {_failure(exc)}"
            ) from exc
        await self._seed_reactions(message)
        return str(message.id)

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
            if emoji is None:
                continue
            try:
                await message.add_reaction(emoji)
            except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("could not add %s under message %s: %s", emoji, message.id, exc)
                return

    async def find_post(self, channel: str, paper_id: str) -> str | None:
        target = self._channel(channel)
        url = f"https://arxiv.org/abs/{paper_id}"
        me = self.client.user
        try:
            async for message in target.history(limit=HISTORY_LIMIT):
                if me is not None and message.author.id != me.id:
                    continue
                if any(embed.url == url for embed in message.embeds):
                    return str(message.id)
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ChatError(
                f"could not read Discord channel {channel}'s recent messages: {_failure(exc)}"
            ) from exc
        return None

    async def update_post(self, channel: str, ref: str, view: PostView) -> None:
        message = self._channel(channel).get_partial_message(_snowflake(ref, "message"))
        try:
            await message.edit(
                embed=render_embed(view), view=None if is_final(view) else self._buttons()
            )
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ChatError(
                f"could not update message {ref} in Discord channel {channel}: {_failure(exc)}"
            ) from exc

    async def send_text(self, channel: str, text: str) -> None:
        target = self._channel(channel)
        try:
            for piece in split_text(text):
                await target.send(piece)
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ChatError(
                f"could not send a message to Discord channel {channel}: {_failure(exc)}"
            ) from exc

    # --- events in -----------------------------------------------------------------------

    async def on_reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        handler = self._handler
        if handler is None:
            return
        emoji = payload.emoji
        name = str(emoji) if emoji.is_unicode_emoji() else (emoji.name or "")
        value = vote_value(name, self.settings.paperbot_up_emoji, self.settings.paperbot_down_emoji)
        if value is None or not name:
            return
        me = self.client.user
        from_bot = (me is not None and payload.user_id == me.id) or bool(
            payload.member is not None and payload.member.bot
        )
        event = VoteEvent(
            channel=f"{PLATFORM}:{payload.channel_id}",
            message_ref=str(payload.message_id),
            signal=Signal(
                f"{PLATFORM}:{payload.user_id}", value, "reaction", normalize_emoji(name), added
            ),
            from_bot=from_bot,
        )
        try:
            await handler.on_vote(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a reaction vote on Discord message %s failed", payload.message_id)

    async def on_button(self, interaction: discord.Interaction, value: int) -> None:
        handler = self._handler
        message, channel_id = interaction.message, interaction.channel_id
        if handler is None or message is None or channel_id is None:
            await _say(interaction, "paperbot is not ready; try again in a minute")
            return
        event = VoteEvent(
            channel=f"{PLATFORM}:{channel_id}",
            message_ref=str(message.id),
            signal=Signal(f"{PLATFORM}:{interaction.user.id}", value, "button"),
            from_bot=interaction.user.bot,
        )

        async def vote() -> Reply:
            said = await handler.on_vote(event)
            return Reply(said or "This post does not take votes here.", ok=said is not None)

        await self._answer(interaction, vote())

    async def command(
        self,
        interaction: discord.Interaction,
        name: str,
        *,
        days: int | None = None,
        words: str | None = None,
        paper: str | None = None,
    ) -> None:
        """Check the arguments, run the core's command, show its reply."""
        text = name
        if days is not None:
            if not 1 <= days <= 365:
                await _say(interaction, f"{days} is not a number of days from 1 to 365.")
                return
            text = f"{name} {days}"
        if words is not None:
            parts = words.split()
            if not parts:
                await _say(interaction, "search needs words to look for, such as: kv cache")
                return
            text = f"{name} {shlex.join(parts)}"
        if paper is not None:
            found = parse_arxiv_id(paper)
            if found is None:
                await _say(
                    interaction,
                    f"'{discord.utils.escape_markdown(paper[:40])}' is not an arXiv id "
                    "such as 2503.12228 or arXiv:2503.12228v2.",
                )
                return
            text = f"{name} {found[0]}"
        handler = self._handler
        if handler is None:
            await _say(interaction, "paperbot is not ready; try again in a minute")
            return
        event = CommandEvent(
            channel=f"{PLATFORM}:{interaction.channel_id}",
            user=f"{PLATFORM}:{interaction.user.id}",
            text=text,
        )
        await self._answer(interaction, handler.on_command(event))

    async def _answer(self, interaction: discord.Interaction, work: Awaitable[Reply]) -> None:
        """Show `work`'s reply: at once when it is quick, else after a deferral."""
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.defer_after)
            if task not in done:
                try:
                    await interaction.response.defer(ephemeral=True, thinking=True)
                except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                    log.warning("could not defer a Discord interaction: %s", exc)
            reply = await task  # the work is done even when its answer cannot be shown
        except asyncio.CancelledError:
            task.cancel()
            raise
        except PaperbotError as exc:
            reply = Reply(f"That did not work: {exc}", ok=False)
        except Exception:
            log.exception("a Discord interaction failed")
            reply = Reply("That failed; the details are in paperbot's log", ok=False)
        text = render_reply(reply)
        if interaction.response.is_done() and reply.public:
            # the "thinking…" answer was private: replace it by a message everyone sees
            with contextlib.suppress(discord.HTTPException, aiohttp.ClientError, OSError):
                await interaction.delete_original_response()
        await _say(interaction, text, ephemeral=not reply.public)


async def create_discord(settings: Settings) -> DiscordChat:
    """The chat `paperbot run` starts when DISCORD_TOKEN is set."""
    return DiscordChat(settings)


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
        await client.login(settings.discord_token.get_secret_value())
    except discord.LoginFailure as exc:
        raise ChatError(LOGIN_REFUSED) from exc
    except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ChatError(
            f"could not reach Discord at {settings.discord_api_url}: {_failure(exc)}"
        ) from exc
    finally:
        await client.close()
    if client.application_id is None:
        raise ChatError("Discord did not say the application id; set DISCORD_APPLICATION_ID")
    return client.application_id
