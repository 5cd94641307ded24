"""E-mail digests for [[subscribers]], received by a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import email
import logging
import socket
from collections.abc import Iterator
from datetime import date
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from bot.config import RulesSource
from bot.mail import Mailer, Smtp
from bot.models import Incoming, Paper
from storage.store import Store
from tests.conftest import FakeClock

ROUTES = """\
[[routes]]
name = "llm-systems"
categories = ["cs.DC"]
accept = ["llm"]
[routes.tags]
serving = { about = "LLM serving" }
edge = { about = "edge devices" }

[[subscribers]]
email = "ada@example.org"
tags = ["serving"]
every = "daily"

[[subscribers]]
email = "bob@example.org"
terms = ["kv cache"]
every = "weekly"
route = "llm-systems"
"""


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(content)))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port: aiosmtpd's start-up check cannot use 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox
    controller.stop()


def smtp_for(controller: Controller, starttls: bool = False) -> Smtp:
    return Smtp.from_url(
        f"smtp://127.0.0.1:{controller.port}",
        user=None,
        password=None,
        sender="paperbot <bot@example.org>",
        starttls=starttls,
        timeout=5,
    )


def world(tmp_path: Path, clock: FakeClock, controller: Controller, **kw: bool) -> Mailer:
    config = tmp_path / "paperbot.toml"
    config.write_text(ROUTES, encoding="utf-8")
    store = Store.open(tmp_path / "paperbot.db", clock)
    papers = [
        Paper("2611.00001", "Serving LLMs <fast>", abstract="Throughput."),
        Paper("2611.00002", "A kv cache paper", abstract="KV cache offloading."),
        Paper("2611.00003", "Unrelated edge paper"),
    ]
    store.upsert_papers([Incoming(p, date(2026, 11, 24), True, "rss:x") for p in papers])
    store.set_note("2611.00001", "llm-systems", tags=["serving"], tldr="2x faster.", tldr_by="llm")
    store.set_note("2611.00003", "llm-systems", tags=["edge"])
    for p in papers:
        store.decide(p.id, "llm-systems", "accepted", "votes", "2 up")
    return Mailer(
        store=store, rules=RulesSource(config), clock=clock, smtp=smtp_for(controller, **kw)
    )


async def test_each_digest_arrives_once_per_period_even_after_a_restart(
    tmp_path: Path, clock: FakeClock, smtp_server: tuple[Controller, Inbox]
) -> None:
    controller, inbox = smtp_server
    mailer = world(tmp_path, clock, controller)
    assert await mailer.send_due() == 2
    assert await mailer.send_due() == 0
    restarted = Mailer(
        store=Store.open(tmp_path / "paperbot.db", clock),
        rules=mailer.rules,
        clock=clock,
        smtp=mailer.smtp,
    )
    assert await restarted.send_due() == 0
    assert len(inbox.messages) == 2
    by_to = {to[0]: msg for to, msg in inbox.messages}
    ada = by_to["ada@example.org"]
    assert ada["Subject"] == "paperbot: 1 new paper for you (daily, 2026-11-24)"
    plain = ada.get_payload()[0].get_payload(decode=True).decode()  # type: ignore[index, union-attr]
    html = ada.get_payload()[1].get_payload(decode=True).decode()  # type: ignore[index, union-attr]
    assert "Serving LLMs <fast> [serving]" in plain and "TL;DR: 2x faster." in plain
    assert "Serving LLMs &lt;fast&gt;" in html and "<code>serving</code>" in html
    assert "to stop these e-mails" in plain and "to stop these e-mails" in html
    assert "kv cache paper" not in plain and "edge" not in plain
    bob = by_to["bob@example.org"]
    assert "A kv cache paper" in bob.get_payload()[0].get_payload(decode=True).decode()  # type: ignore[index, union-attr]
    clock.advance(days=1)  # a new day: ada's period turns, nothing new was accepted
    assert await restarted.send_due() == 0 and len(inbox.messages) == 2


async def test_starttls_is_required_unless_turned_off(
    tmp_path: Path,
    clock: FakeClock,
    smtp_server: tuple[Controller, Inbox],
    caplog: pytest.LogCaptureFixture,
) -> None:
    controller, inbox = smtp_server
    caplog.set_level(logging.WARNING)
    mailer = world(tmp_path, clock, controller, starttls=True)
    assert await mailer.send_due() == 0 and inbox.messages == []
    assert "does not offer STARTTLS" in caplog.text
    mailer.smtp = smtp_for(controller)
    assert await mailer.send_due() == 2  # the failed sends were not recorded as sent


def test_credentials_in_the_url_are_refused() -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="PAPERBOT_SMTP_USER"):
        Smtp.from_url(
            "smtp://me:pw@host", user=None, password=None, sender="x", starttls=True, timeout=1
        )
