"""E-mail digests for the routes file's `[[subscribers]]`: the papers accepted for each since
their last digest, daily or weekly, plain text and HTML, over SMTP (STARTTLS by default).
Exactly once per period: an intent is recorded before sending and settled after.
"""

from __future__ import annotations

import asyncio
import html
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

from bot.clock import Clock
from bot.config import RulesSource
from bot.errors import ConfigError
from bot.matching import Matcher
from bot.models import MailSubscriber, Paper, Route
from storage.store import Store

log = logging.getLogger(__name__)

PAPERS_SHOWN = 200
UNSUBSCRIBE = (
    "You get this because {email} is listed under [[subscribers]] in paperbot's routes file; "
    "to stop these e-mails, ask your team to remove it (or reply to say so)."
)


@dataclass(frozen=True, slots=True)
class MailItem:
    paper: Paper
    tags: tuple[str, ...]
    tldr: str


@dataclass(frozen=True, slots=True)
class Smtp:
    """Where and how to send: from PAPERBOT_SMTP_URL and the credentials in the environment."""

    host: str
    port: int
    tls: bool  # smtps: TLS from the first byte
    starttls: bool
    user: str | None
    password: str | None
    sender: str
    timeout: float

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        user: str | None,
        password: str | None,
        sender: str,
        starttls: bool,
        timeout: float,
    ) -> Smtp:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(
                "PAPERBOT_SMTP_URL must look like smtp://host:587 or smtps://host:465"
            )
        if parts.username or parts.password:
            raise ConfigError(
                "PAPERBOT_SMTP_URL must not carry credentials: set PAPERBOT_SMTP_USER and "
                "PAPERBOT_SMTP_PASSWORD instead"
            )
        tls = parts.scheme == "smtps"
        port = parts.port or (465 if tls else 587)
        return cls(parts.hostname, port, tls, starttls and not tls, user, password, sender, timeout)

    def send(self, message: EmailMessage) -> None:
        """Send one message; raises smtplib.SMTPException or OSError."""
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            client.ehlo()
            if self.starttls:
                if not client.has_extn("starttls"):
                    raise smtplib.SMTPException(
                        "the server does not offer STARTTLS; use smtps:// or, on a trusted "
                        "network only, PAPERBOT_SMTP_STARTTLS=false"
                    )
                client.starttls(context=context)
                client.ehlo()
            if self.user and self.password:
                client.login(self.user, self.password)
            client.send_message(message)


def period_of(every: str, now: datetime) -> str:
    """The digest period `now` falls in: "2026-11-24" (daily) or "2026-W48" (weekly), UTC."""
    if every == "weekly":
        year, week, _ = now.isocalendar()
        return f"{year}-W{week:02d}"
    return now.date().isoformat()


def compose(sub: MailSubscriber, items: list[MailItem], sender: str, period: str) -> EmailMessage:
    """The digest: plain text and HTML with the same papers, tags, TL;DRs and unsubscribe note."""
    message = EmailMessage()
    count = f"{len(items)} new paper" + ("s" if len(items) != 1 else "")
    message["Subject"] = f"paperbot: {count} for you ({sub.every}, {period})"
    message["From"] = sender
    message["To"] = sub.email
    note = UNSUBSCRIBE.format(email=sub.email)
    wanted = ", ".join([*sub.tags, *(f'"{t}"' for t in sub.terms)])
    lines = [f"Accepted since your last digest, matching {wanted}:", ""]
    for item in items:
        tags = " ".join(f"[{t}]" for t in item.tags)
        lines.append(f"- {item.paper.title} {tags}".rstrip())
        lines.append(f"  {item.paper.url}")
        if item.tldr:
            lines.append(f"  TL;DR: {item.tldr}")
    lines += ["", "--", note]
    message.set_content("\n".join(lines) + "\n")
    esc = html.escape
    rows = "".join(
        f'<li><a href="{esc(i.paper.url)}">{esc(i.paper.title)}</a>'
        + "".join(f" <code>{esc(t)}</code>" for t in i.tags)
        + (f"<br><b>TL;DR</b>: {esc(i.tldr)}" if i.tldr else "")
        + "</li>"
        for i in items
    )
    message.add_alternative(
        f"<html><body><p>Accepted since your last digest, matching {esc(wanted)}:</p>"
        f"<ul>{rows}</ul><hr><p><small>{esc(note)}</small></p></body></html>",
        subtype="html",
    )
    return message


class Mailer:
    """Sends each subscriber's digest once per period, when it has papers."""

    def __init__(self, *, store: Store, rules: RulesSource, clock: Clock, smtp: Smtp) -> None:
        self.store = store
        self.rules = rules
        self.clock = clock
        self.smtp = smtp
        self.lock = asyncio.Lock()

    async def send_due(self) -> int:
        """Send every digest due now; returns how many were sent."""
        async with self.lock:
            config, _ = self.rules.current()
            sent = 0
            for sub in config.subscribers:
                sent += await self._one(sub, config.routes)
            return sent

    async def _one(self, sub: MailSubscriber, routes: tuple[Route, ...]) -> bool:
        now = self.clock()
        period = period_of(sub.every, now)
        if self.store.mail_state(sub.key, period) is not None:
            return False  # sent, empty, or unknown after a crash: never twice
        since = self.store.last_mail(sub.key) or now - timedelta(
            days=7 if sub.every == "weekly" else 1
        )
        items = self.items(sub, routes, since)
        if not self.store.mail_intent(sub.key, period, len(items)):
            return False
        if not items:
            self.store.mail_done(sub.key, period, "empty")
            return False
        message = compose(sub, items, self.smtp.sender, period)
        try:
            await asyncio.to_thread(self.smtp.send, message)
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("e-mail digest to %s not sent, will retry: %s", sub.email, exc)
            self.store.mail_done(sub.key, period, "failed")
            return False
        self.store.mail_done(sub.key, period, "sent")
        log.info("e-mail digest of %d papers sent to %s", len(items), sub.email)
        return True

    def items(
        self, sub: MailSubscriber, routes: tuple[Route, ...], since: datetime
    ) -> list[MailItem]:
        """The papers accepted since `since` on the subscriber's routes that it asks for."""
        names = [r.name for r in routes if sub.route in (None, r.name)]
        terms = Matcher([Route("subscriber", ("any",), accept=sub.terms)]) if sub.terms else None
        wanted = {t.casefold() for t in sub.tags}
        found: dict[str, MailItem] = {}
        decided = self.store.decided_since(names, "accepted", since, PAPERS_SHOWN)
        papers = {s.paper.id: s.paper for s in self.store.get_papers([d.paper_id for d in decided])}
        for decision in sorted(decided, key=lambda d: d.seq):
            paper = papers.get(decision.paper_id)
            if paper is None or paper.id in found or decision.decided_at <= since:
                continue
            note = self.store.note(paper.id, decision.route)
            tags = note.tags if note else ()
            by_tag = bool(wanted & {t.casefold() for t in tags})
            probe = Paper(paper.id, paper.title, 1, (), paper.abstract, ("any",), "any")
            if by_tag or (terms is not None and terms.match(probe)):
                found[paper.id] = MailItem(paper, tags, note.tldr if note else "")
        return list(found.values())
