"""The optional summariser: one call per paper and route to an OpenAI-compatible chat endpoint
for {"relevant", "tags", "tldr"}; strict JSON, vocabulary tags only, a TL;DR of at most 60
words. Answers are cached in the database (a paper is never summarised twice); a daily budget,
retries with backoff, and Retry-After on 429. Without LLM_API_KEY nothing here runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot.clock import Clock
from bot.errors import PaperbotError
from bot.models import Paper, Route, Summary
from bot.tagging import MAX_TAGS, clean_tags
from storage.store import Store

log = logging.getLogger(__name__)

TLDR_WORDS = 60
ABSTRACT_CHARS = 4000  # what of an abstract the prompt carries
MAX_RETRY_AFTER = 600.0  # a Retry-After longer than this is not waited for: the call fails
FAILED_RETRY_AFTER = timedelta(hours=6)  # a paper whose call failed is asked again after this
Sleep = Callable[[float], Awaitable[None]]


class SummariserError(PaperbotError):
    """The endpoint gave no usable answer (after retries)."""


class BadOutput(SummariserError):
    """The endpoint answered, but not with the JSON object asked for."""


def prompt(route: Route, paper: Paper) -> list[dict[str, str]]:
    """The chat messages for one paper: the route's interests and tag vocabulary, the paper."""
    tags = "\n".join(f"- {t.name}: {t.about or t.name}" for t in route.tags) or "(none)"
    interests = ", ".join(route.accept[:40]) or ", ".join(route.categories)
    system = (
        "You screen arXiv papers for a research team's reading list and answer with one JSON "
        'object only: {"relevant": true or false, "tags": [...], "tldr": "..."}.\n'
        f"relevant: whether the paper is about the team's interests: {interests}.\n"
        f"tags: up to {MAX_TAGS} of these tags, exactly as written, none if none fits:\n{tags}\n"
        f"tldr: one to three sentences, at most {TLDR_WORDS} words, saying what the paper does "
        "and one number from its results."
    )
    user = f"Title: {paper.title}\n\nAbstract: {paper.abstract[:ABSTRACT_CHARS]}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_answer(route: Route, paper_id: str, content: str) -> Summary:
    """The endpoint's message as a Summary; raises BadOutput unless it is the JSON asked for."""
    try:
        found = json.loads(content)
    except json.JSONDecodeError as exc:
        raise BadOutput(f"the answer is not JSON ({exc.msg}): {content[:80]!r}") from exc
    if not isinstance(found, dict):
        raise BadOutput("the answer is JSON but not an object")
    relevant, tags, tldr = found.get("relevant"), found.get("tags"), found.get("tldr")
    if not isinstance(relevant, bool):
        raise BadOutput("'relevant' is missing or not true/false")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise BadOutput("'tags' is missing or not a list of strings")
    if not isinstance(tldr, str):
        raise BadOutput("'tldr' is missing or not a string")
    kept = clean_tags(route.tags, tags)
    dropped = [t for t in tags if t.casefold() not in {k.casefold() for k in kept}]
    if dropped:
        log.info("summariser: dropped tags outside %s's vocabulary: %s", route.name, dropped)
    return Summary(paper_id, route.name, "ok", relevant, kept, clip_words(tldr, TLDR_WORDS))


def clip_words(text: str, limit: int) -> str:
    words = text.split()
    return " ".join(words) if len(words) <= limit else " ".join(words[:limit]) + "…"


class Summariser:
    """Summarises papers through the endpoint, within the day's budget, caching each answer."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        base_url: str,
        api_key: str,
        model: str,
        max_calls_per_day: int,
        timeout: float,
        retries: int,
        retry_wait: float,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.clock = clock
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._key = api_key
        self.model = model
        self.budget = max_calls_per_day
        self.timeout = timeout
        self.retries = retries
        self.retry_wait = retry_wait
        self.sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._spent_day: str | None = None  # the day the budget ran out (logged once)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def summarise(self, route: Route, paper: Paper) -> Summary | None:
        """The paper's summary on the route: cached, or asked now. None: the budget is spent."""
        cached = self.store.summary(paper.id, route.name)
        now = self.clock()
        if cached is not None and not _worth_asking_again(cached, now):
            return cached
        day = now.date()
        if not self.store.take_llm_call(day, self.budget):
            if self._spent_day != day.isoformat():
                self._spent_day = day.isoformat()
                log.warning(
                    "summariser: today's budget of %d calls is spent (LLM_MAX_CALLS_PER_DAY); "
                    "posts stay as they are until tomorrow",
                    self.budget,
                )
            return None
        try:
            summary = parse_answer(route, paper.id, await self._ask(prompt(route, paper)))
        except BadOutput as exc:
            log.warning("summariser: bad output for %s, not used: %s", paper.id, exc)
            summary = Summary(paper.id, route.name, "bad-output")
        except SummariserError as exc:
            log.warning("summariser: no summary for %s: %s", paper.id, exc)
            summary = Summary(paper.id, route.name, "failed")
        self.store.save_summary(summary)
        return summary

    async def _ask(self, messages: list[dict[str, str]]) -> str:
        """One chat completion's message text; retries 429, 5xx, timeouts and broken links."""
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        headers = {"Authorization": f"Bearer {self._key}"}
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        problem, wait = "", 0.0
        for attempt in range(self.retries + 1):
            if attempt:
                await self.sleep(wait)
            wait = self.retry_wait * 2**attempt
            try:
                async with self._session.post(self.url, json=body, headers=headers) as response:
                    if response.status == 429 or response.status >= 500:
                        problem = f"the endpoint answered HTTP {response.status}"
                        after = _retry_after(response.headers.get("Retry-After"))
                        if after is not None and after > MAX_RETRY_AFTER:
                            raise SummariserError(f"{problem} and asked to wait {after:.0f} s")
                        wait = max(wait, after or 0.0)
                        continue
                    if response.status >= 400:
                        raise SummariserError(
                            f"the endpoint refused the call with HTTP {response.status}; "
                            "check LLM_BASE_URL, LLM_API_KEY and LLM_MODEL"
                        )
                    payload: Any = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                problem = f"the call failed ({type(exc).__name__})"
                continue
            try:
                content = payload["choices"][0]["message"]["content"]
            except (KeyError, IndexError, TypeError) as exc:
                raise BadOutput("the answer has no choices[0].message.content") from exc
            if not isinstance(content, str):
                raise BadOutput("the answer's message content is not text")
            return content
        raise SummariserError(f"{problem}, {self.retries + 1} times")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _worth_asking_again(cached: Summary, now: datetime) -> bool:
    """A call that failed (the endpoint down, every retry spent) is asked again once
    FAILED_RETRY_AFTER has passed; an answer, even a bad one, is kept for good."""
    if cached.status != "failed" or cached.asked_at is None:
        return False
    return now - cached.asked_at >= FAILED_RETRY_AFTER
