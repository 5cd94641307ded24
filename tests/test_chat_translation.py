"""The adapters' pure translation: platform payloads in, the core's events out (and SDK
failures in, one `ChatError` sentence out).

No client, no network: Slack payloads are plain dicts; Discord's are discord.py's own
`RawReactionActionEvent`, built from the gateway's dict as discord.py builds it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.errors import SlackApiError

from bot import display
from bot.chat.discord import (
    ACCEPT_ID,
    REJECT_ID,
    discord_button_to_vote,
    discord_command_to_event,
    discord_reaction_to_vote,
)
from bot.chat.discord import _chat_errors as discord_chat_errors
from bot.chat.slack import (
    ACCEPT_ACTION,
    REJECT_ACTION,
    slack_button_to_vote,
    slack_command_to_event,
    slack_reaction_to_vote,
)
from bot.chat.slack import _chat_errors as slack_chat_errors
from bot.errors import ChatError
from bot.models import CommandEvent, Reply, Signal, VoteEvent
from bot.papers_command import parse_command
from tests.conftest import make_settings

UP = ["+1", "thumbsup", "👍"]
DOWN = ["-1", "thumbsdown", "👎"]
SLACK_BOT = "UPAPERBOT1"
DISCORD_BOT = 1300000000000000001
CHANNEL_ID = 1300000000000000100
MESSAGE_ID = 1300000000000000200
ALICE = 1300000000000000300


# --- Slack ---------------------------------------------------------------------------------


def slack_reaction(name: str, user: str = "U0ALICE01", **kw: Any) -> dict[str, Any]:
    return {
        "type": kw.pop("type", "reaction_added"),
        "user": user,
        "reaction": name,
        "item": kw.pop("item", {"type": "message", "channel": "C0123", "ts": "1732800000.0001"}),
    }


def slack_vote(event: dict[str, Any]) -> VoteEvent | None:
    return slack_reaction_to_vote(event, up=UP, down=DOWN, bot_user_id=SLACK_BOT)


def test_a_slack_reaction_is_a_vote_on_its_message() -> None:
    assert slack_vote(slack_reaction("+1::skin-tone-4")) == VoteEvent(
        channel="slack:C0123",
        message_ref="1732800000.0001",
        signal=Signal("slack:U0ALICE01", 1, "reaction", "+1"),
    )
    removed = slack_vote(slack_reaction("thumbsdown", type="reaction_removed"))
    assert removed is not None
    assert (removed.signal.value, removed.signal.emoji, removed.signal.added) == (-1, "-1", False)


def test_slack_reactions_that_are_no_votes_are_none() -> None:
    assert slack_vote(slack_reaction("tada")) is None
    assert slack_vote(slack_reaction("+1", item={"type": "file", "file": "F0001"})) is None
    assert slack_vote(slack_reaction("+1", user="")) is None
    own = slack_vote(slack_reaction("+1", user=SLACK_BOT))
    assert own is not None
    assert own.from_bot  # the core ignores it; the adapter only says whose it is


def test_a_slack_button_click_is_a_vote_on_the_message_it_is_under() -> None:
    body = {
        "actions": [{"action_id": REJECT_ACTION, "value": "2611.00002"}],
        "container": {"channel_id": "C0123", "message_ts": "1732800000.0001"},
        "user": {"id": "U0BOB0001"},
    }
    assert slack_button_to_vote(body, bot_user_id=SLACK_BOT) == VoteEvent(
        channel="slack:C0123",
        message_ref="1732800000.0001",
        signal=Signal("slack:U0BOB0001", -1, "button"),
    )
    accept = {**body, "actions": [{"action_id": ACCEPT_ACTION}]}
    vote = slack_button_to_vote(accept, bot_user_id=SLACK_BOT)
    assert vote is not None
    assert vote.signal.value == 1
    assert slack_button_to_vote({**body, "actions": [{"action_id": "x"}]}, bot_user_id=None) is None
    assert slack_button_to_vote({**body, "user": {}}, bot_user_id=None) is None


def test_a_slack_slash_command_is_the_cores_command() -> None:
    command = {"channel_id": "C0123", "user_id": "U0ALICE01", "text": "search kv cache"}
    assert slack_command_to_event(command) == CommandEvent(
        "slack:C0123", "slack:U0ALICE01", "search kv cache"
    )
    assert slack_command_to_event({"channel_id": "C0123", "user_id": "U1"}).text == ""


@given(
    kind=st.sampled_from(["reaction_added", "reaction_removed", "other"]),
    name=st.one_of(st.sampled_from(UP + DOWN + ["+1::skin-tone-2"]), st.text(max_size=20)),
    user=st.text(max_size=12),
    channel=st.text(max_size=12),
    ts=st.text(max_size=20),
)
def test_any_slack_reaction_payload_is_a_vote_or_none_never_an_error(
    kind: str, name: str, user: str, channel: str, ts: str
) -> None:
    event = {
        "type": kind,
        "user": user,
        "reaction": name,
        "item": {"type": "message", "channel": channel, "ts": ts},
    }
    vote = slack_vote(event)
    if vote is not None:
        assert vote.channel == f"slack:{channel}"
        assert vote.signal.user == f"slack:{user}"
        assert vote.signal.added == (kind != "reaction_removed")
        assert vote.signal.value in (1, -1)


# --- Discord -------------------------------------------------------------------------------


def discord_reaction(
    emoji: discord.PartialEmoji, user: int = ALICE, *, added: bool = True
) -> discord.RawReactionActionEvent:
    data: Any = {
        "user_id": str(user),
        "channel_id": str(CHANNEL_ID),
        "message_id": str(MESSAGE_ID),
        "guild_id": "1300000000000000002",
        "type": 0,
    }
    return discord.RawReactionActionEvent(
        data, emoji, "REACTION_ADD" if added else "REACTION_REMOVE"
    )


def discord_vote(payload: discord.RawReactionActionEvent) -> VoteEvent | None:
    return discord_reaction_to_vote(payload, up=UP, down=DOWN, bot_user_id=DISCORD_BOT)


def test_a_discord_reaction_is_a_vote_on_its_message() -> None:
    assert discord_vote(discord_reaction(discord.PartialEmoji(name="👍🏽"))) == VoteEvent(
        channel=f"discord:{CHANNEL_ID}",
        message_ref=str(MESSAGE_ID),
        signal=Signal(f"discord:{ALICE}", 1, "reaction", "👍"),
    )
    removed = discord_vote(discord_reaction(discord.PartialEmoji(name="👎"), added=False))
    assert removed is not None
    assert (removed.signal.value, removed.signal.added) == (-1, False)
    custom = discord_vote(discord_reaction(discord.PartialEmoji(name="thumbsup", id=42)))
    assert custom is not None
    assert custom.signal.emoji == "+1"  # a custom emoji named like a vote counts as one


def test_discord_reactions_that_are_no_votes_or_the_bots_own() -> None:
    assert discord_vote(discord_reaction(discord.PartialEmoji(name="🎉"))) is None
    own = discord_vote(discord_reaction(discord.PartialEmoji(name="👍"), user=DISCORD_BOT))
    assert own is not None
    assert own.from_bot
    other_bot = discord_reaction(discord.PartialEmoji(name="👍"))
    other_bot.member = SimpleNamespace(bot=True)  # type: ignore[assignment]
    vote = discord_vote(other_bot)
    assert vote is not None
    assert vote.from_bot


def test_a_discord_button_click_is_a_vote_on_the_message_it_is_under() -> None:
    where = {"channel_id": CHANNEL_ID, "message_id": MESSAGE_ID, "user_id": ALICE}
    assert discord_button_to_vote(REJECT_ID, **where, user_is_bot=False) == VoteEvent(
        channel=f"discord:{CHANNEL_ID}",
        message_ref=str(MESSAGE_ID),
        signal=Signal(f"discord:{ALICE}", -1, "button"),
    )
    vote = discord_button_to_vote(ACCEPT_ID, **where, user_is_bot=True)
    assert vote is not None
    assert (vote.signal.value, vote.from_bot) == (1, True)
    assert discord_button_to_vote("other", **where, user_is_bot=False) is None
    assert discord_button_to_vote(None, **where, user_is_bot=False) is None
    no_message = {**where, "message_id": None}
    assert discord_button_to_vote(ACCEPT_ID, **no_message, user_is_bot=False) is None


def command(name: str, **options: Any) -> CommandEvent | Reply:
    return discord_command_to_event(name, channel_id=CHANNEL_ID, user_id=ALICE, **options)


def test_a_discord_app_command_passes_its_typed_arguments_straight_through() -> None:
    """Discord's options arrive typed: the core gets them as they are (no text round trip),
    and they mean what the same command typed on Slack means."""
    cases = [
        (command("recent", days=3), "recent 3"),
        (command("recent"), "recent"),
        (command("pending"), "pending"),
        (command("search", words="  kv   cache "), "search kv cache"),
        (command("search", words="o'neil cache"), 'search "o\'neil" cache'),
        (command("why", paper="arXiv:2611.00001v2"), "why 2611.00001"),
    ]
    for event, slack_text in cases:
        assert isinstance(event, CommandEvent)
        assert event.parsed == parse_command(slack_text)
        assert (event.channel, event.user) == (f"discord:{CHANNEL_ID}", f"discord:{ALICE}")
    quoted = command("search", words="o'neil cache")
    assert isinstance(quoted, CommandEvent)
    assert quoted.parsed is not None
    assert quoted.parsed.words == ("o'neil", "cache")  # no quoting to get wrong on the way


def test_bad_discord_arguments_are_a_reply_at_once() -> None:
    assert command("recent", days=0) == Reply(display.bad_days(0), ok=False)
    assert command("search", words="   ") == Reply(display.NO_SEARCH_WORDS, ok=False)
    bad = command("why", paper="not-an-id")
    assert isinstance(bad, Reply)
    assert not bad.ok
    assert bad.text == "'not-an-id' is not an arXiv id such as 2503.12228 or arXiv:2503.12228v2."


# --- SDK failures: one wrapper per adapter, one sentence each --------------------------------


def said(wrapper: AbstractContextManager[None], failure: BaseException) -> str:
    """The ChatError sentence `wrapper` makes of an SDK failure raised inside it."""
    with pytest.raises(ChatError) as caught, wrapper:
        raise failure
    return str(caught.value)


def test_discord_failures_become_one_chat_error_sentence() -> None:
    assert said(
        discord_chat_errors("post 2611.00001", hint="retry later"),
        aiohttp.ClientConnectionError("boom"),
    ) == ("could not post 2611.00001: boom; retry later")
    assert said(discord_chat_errors("log in"), discord.LoginFailure("bad")).startswith(
        "Discord rejected DISCORD_TOKEN; copy the token"
    )
    assert said(discord_chat_errors("send"), TimeoutError()) == "could not send: TimeoutError"


def test_slack_failures_become_one_chat_error_sentence(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9", slack_api_url="http://slack.test/api")

    def refused(error: str) -> SlackApiError:
        return SlackApiError(error, SimpleNamespace(data={"ok": False, "error": error}))

    post = slack_chat_errors(settings, "chat.postMessage", "C0123")
    assert said(post, refused("not_in_channel")).startswith(
        "the bot cannot see Slack channel C0123; invite it"
    )
    assert said(slack_chat_errors(settings, "auth.test"), refused("token_revoked")) == (
        "Slack rejected SLACK_BOT_TOKEN (token_revoked); create a new bot token (reinstall the "
        "app: OAuth & Permissions) and put it in .env"
    )
    update = slack_chat_errors(settings, "chat.update", "C0123")
    assert (
        said(update, refused("msg_too_long")) == "Slack refused chat.update in C0123 (msg_too_long)"
    )
    update = slack_chat_errors(settings, "chat.update", "C0123")
    assert said(update, aiohttp.ClientConnectionError("refused")).startswith(
        "cannot reach Slack at http://slack.test/api for chat.update (refused)"
    )


def test_both_platforms_show_a_papers_tags_and_tldr_once_known() -> None:
    from bot.chat.discord import render_embed
    from bot.chat.slack import post_blocks
    from bot.models import Paper, PostView

    plain = PostView(Paper("2611.00001", "KV caches"), ("llm-systems",), ())
    known = PostView(
        Paper("2611.00001", "KV caches"),
        ("llm-systems",),
        (),
        tags=("serving", "kernel"),
        tldr="Caches keys; 2x faster.",
    )
    slack_text = str(post_blocks(known))
    assert "serving · kernel" in slack_text
    assert "TL;DR: Caches keys; 2x faster." in slack_text
    assert "TL;DR" not in str(post_blocks(plain))  # no empty placeholder
    fields = {f.name: f.value for f in render_embed(known).fields}
    assert fields["Tags"] == "serving · kernel"
    assert fields["TL;DR"] == "TL;DR: Caches keys; 2x faster."
    assert "Tags" not in {f.name for f in render_embed(plain).fields}
