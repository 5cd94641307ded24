"""Settings (environment and `.env`, read once at start-up; secrets live only there) and the
routes file (`paperbot.toml`): checked with file and line, re-read at every poll, a broken
edit keeping the last good rules. What a term may be is in docs/terms.md.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError, TermError
from bot.matching import Matcher, check_routes, check_term
from bot.models import (
    DigestSchedule,
    ListTarget,
    MailSubscriber,
    ModelPolicy,
    Route,
    SiteTarget,
    TagSpec,
    VotePolicy,
)
from bot.scheduling import crontab_trigger
from bot.settings import DEFAULT_USER_AGENT, Settings, load_settings
from bot.taxonomy import category_problem

__all__ = [
    "DEFAULT_USER_AGENT",
    "Config",
    "RulesSource",
    "Settings",
    "load_config",
    "load_settings",
]

log = logging.getLogger(__name__)

# --- the routes file -----------------------------------------------------------------------

ALLOWED_FIELDS = ("title", "abstract", "authors", "comment")
_CURATOR = re.compile(r"[a-z][a-z0-9_-]*:[^\s:]+")  # slack:U123, discord:123, a plugin's


class _ListFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str = Field(min_length=1)
    path: str = Field(min_length=1)
    branch: str = "main"
    remote: str | None = None
    author: str = "paperbot <paperbot@localhost>"
    date: Literal["listing", "submitted"] = "listing"

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise ValueError("must be a path inside the repository, such as 'papers.md'")
        return value

    @field_validator("author")
    @classmethod
    def _author(cls, value: str) -> str:
        if not re.fullmatch(r"[^<>]+ <[^<>@\s]+@[^<>\s]+>", value):
            raise ValueError("must look like 'Name <email@example.org>'")
        return value


class _VotesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accept_at: int = Field(default=2, ge=1, le=1000)
    reject_at: int = Field(default=2, ge=1, le=1000)
    curator_veto: bool = False
    expire_days: int = Field(default=7, ge=1, le=3650)
    curators: list[str] = []

    @field_validator("curators")
    @classmethod
    def _prefixed(cls, value: list[str]) -> list[str]:
        for user in value:
            if not _CURATOR.fullmatch(user):
                bare = user.rpartition(":")[2] or "U0123ABCD"
                raise ValueError(
                    f"'{user}' is not a user id with its platform, so it would never count: "
                    f"write 'slack:{bare}' or 'discord:123456789012345678'"
                )
        return value


class _DigestFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str = "0 9 * * mon-fri"
    timezone: str = "UTC"


class _SiteFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(default="docs", min_length=1)
    title: str = Field(min_length=1)
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    templates: str | None = None

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        parts = Path(value).parts
        if Path(value).is_absolute() or ".." in parts or ".git" in parts:
            raise ValueError("must be a folder inside the list's repository, such as 'docs'")
        return value


class _ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    suggest_at: float | None = Field(default=None, gt=0, lt=1)
    max_suggestions_per_day: int = Field(default=3, ge=0, le=100)
    min_decisions: int = Field(default=30, ge=2)


class _TagFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    about: str = ""
    terms: list[str] = []


class _SubscriberFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str = Field(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    tags: list[str] = []
    terms: list[str] = []
    every: Literal["daily", "weekly"] = "daily"
    route: str | None = None

    @model_validator(mode="after")
    def _wants_something(self) -> _SubscriberFile:
        if not self.tags and not self.terms:
            raise ValueError("a subscriber needs tags or terms, or would get every paper")
        return self


class _RouteFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    categories: list[str] = Field(min_length=1)
    accept: list[str] = []
    reject: list[str] = []
    authors: list[str] = []
    fields: list[str] = ["title", "abstract"]
    primary_only: bool = False
    list_target: _ListFile | None = Field(default=None, alias="list")
    slack_channel: str | None = None
    discord_channel: str | None = None
    max_posts_per_poll: int = Field(default=30, ge=1, le=1000)
    votes: _VotesFile = _VotesFile()
    digest: _DigestFile | None = None
    site: _SiteFile | None = None
    model: _ModelFile = _ModelFile()
    tags: dict[str, _TagFile] = {}
    llm_filter: bool = False

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, value: dict[str, _TagFile]) -> dict[str, _TagFile]:
        for name in value:
            if not re.fullmatch(r"[^\s`\[\]]{1,40}", name):
                raise ValueError(f"'{name}' cannot be a tag: one word, no backticks or brackets")
        return value

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        for cat in value:
            problem = category_problem(cat)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("slack_channel")
    @classmethod
    def _slack_channel(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[CGD][A-Z0-9]{5,}", value):
            raise ValueError(
                f"'{value}' is not a Slack channel id such as C0123456789 "
                "(the channel's details show it at the bottom)"
            )
        return value

    @field_validator("discord_channel")
    @classmethod
    def _discord_channel(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9]{15,21}", value):
            raise ValueError(
                f"'{value}' is not a Discord channel id such as 123456789012345678 "
                "(turn on Developer Mode, then right-click the channel: Copy Channel ID)"
            )
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in ALLOWED_FIELDS:
                raise ValueError(f"'{name}' is not one of {', '.join(ALLOWED_FIELDS)}")
        return value


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: list[_RouteFile] = Field(min_length=1)
    subscribers: list[_SubscriberFile] = []


@dataclass(frozen=True, slots=True)
class Config:
    """The parsed routes file."""

    path: Path
    routes: tuple[Route, ...]
    subscribers: tuple[MailSubscriber, ...] = ()

    def route(self, name: str) -> Route:
        for route in self.routes:
            if route.name == name:
                return route
        names = ", ".join(r.name for r in self.routes)
        raise ConfigError(f"{self.path}: there is no route named '{name}' (routes: {names})")


def load_config(path: Path) -> Config:
    """Read and check the routes file; any problem is a ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path}: file not found; run `paperbot init` to write a commented one from"
            " paperbot.example.toml (or set PAPERBOT_CONFIG)"
        ) from exc
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL byte in the path
        raise ConfigError(f"{path}: cannot be read as UTF-8 text: {exc}") from exc
    try:
        raw = tomllib.loads(text)
    except RecursionError as exc:
        raise ConfigError(f"{path}: is nested too deeply to be a routes file") from exc
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(found.group(1)) if found else max(1, len(text.splitlines()))
        problem = re.sub(r"\s*\(at [^)]*\)$", "", str(exc))
        raise ConfigError(f"{path}, line {line}: not valid TOML: {problem}") from exc
    try:
        parsed = _ConfigFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = _line_of(text, loc)
        where = ".".join(str(p) for p in loc) or "top level"
        raise ConfigError(f"{path}, line {line}: {where}: {err['msg']}") from exc

    routes = tuple(
        Route(
            name=r.name,
            categories=tuple(r.categories),
            accept=tuple(r.accept),
            reject=tuple(r.reject),
            authors=tuple(r.authors),
            fields=tuple(r.fields),
            primary_only=r.primary_only,
            list_target=_list_target(path, text, i, r.list_target),
            slack_channel=r.slack_channel,
            discord_channel=r.discord_channel,
            max_posts_per_poll=r.max_posts_per_poll,
            votes=_policy(path, text, i, r.votes),
            digest=_digest(path, text, i, r.digest),
            site=_site(path, text, i, r),
            model=ModelPolicy(**r.model.model_dump()),
            tags=tuple(TagSpec(n, t.about, tuple(t.terms)) for n, t in r.tags.items()),
            llm_filter=r.llm_filter,
        )
        for i, r in enumerate(parsed.routes)
    )
    names = [r.name for r in routes]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(
                f"{path}, line {_line_of(text, ('routes',))}: two routes are named '{name}'; "
                "give each route its own name"
            )
    for index, route in enumerate(routes):
        try:
            check_routes([route])  # the matcher knows what a valid term is
        except TermError as exc:
            key, line = _term_line(text, index, route)
            raise ConfigError(f"{path}, line {line}: routes.{index}.{key}: {exc}") from exc
        _check_tags(path, text, index, route)
    return Config(path=path, routes=routes, subscribers=_subscribers(path, text, parsed, routes))


def _check_tags(path: Path, text: str, index: int, route: Route) -> None:
    """A tag's terms are accept terms (docs/terms.md)."""
    for tag in route.tags:
        for term in tag.terms:
            try:
                check_term(route.name, f"tags.{tag.name}", term)
            except TermError as exc:
                line = _line_of(text, ("routes", index, "tags", tag.name))
                raise ConfigError(f"{path}, line {line}: routes.{index}.tags: {exc}") from exc


def _subscribers(
    path: Path, text: str, parsed: _ConfigFile, routes: Sequence[Route]
) -> tuple[MailSubscriber, ...]:
    names = {r.name for r in routes}
    found: list[MailSubscriber] = []
    for index, raw in enumerate(parsed.subscribers):
        line = _nth_line(text, "[[subscribers]]", index)
        if raw.route is not None and raw.route not in names:
            raise ConfigError(
                f"{path}, line {line}: subscribers.{index}.route: there is no route named "
                f"'{raw.route}' (routes: {', '.join(sorted(names))})"
            )
        for term in raw.terms:
            try:
                check_term(raw.email, "terms", term)
            except TermError as exc:
                raise ConfigError(f"{path}, line {line}: subscribers.{index}: {exc}") from exc
        found.append(
            MailSubscriber(raw.email, tuple(raw.tags), tuple(raw.terms), raw.every, raw.route)
        )
    return tuple(found)


def _nth_line(text: str, header: str, index: int) -> int:
    lines = [i for i, ln in enumerate(text.splitlines()) if ln.strip() == header]
    return lines[index] + 1 if index < len(lines) else 1


def _term_line(text: str, index: int, route: Route) -> tuple[str, int]:
    """The key and line of the route's first unusable term (or of its `fields`)."""
    for key in ("accept", "reject", "authors"):
        for raw in getattr(route, key):
            try:
                check_term(route.name, key, raw)
            except TermError:
                pass
            else:
                continue
            line = _line_of(text, ("routes", index, key))
            lines = text.splitlines()
            escaped = raw.replace("\\", "\\\\").replace('"', '\\"')
            for number in range(line - 1, len(lines)):
                if number > line - 1 and lines[number].lstrip().startswith("["):
                    break  # the next table: the term is on a line of its own no more
                if raw in lines[number] or escaped in lines[number]:
                    return key, number + 1
            return key, line
    return "fields", _line_of(text, ("routes", index, "fields"))


def _policy(path: Path, text: str, index: int, raw: _VotesFile) -> VotePolicy:
    try:
        return VotePolicy(
            accept_at=raw.accept_at,
            reject_at=raw.reject_at,
            curator_veto=raw.curator_veto,
            expire_days=raw.expire_days,
            curators=frozenset(raw.curators),
        )
    except ValueError as exc:
        line = _line_of(text, ("routes", index, "votes"))
        raise ConfigError(f"{path}, line {line}: routes.{index}.votes: {exc}") from exc


def _digest(path: Path, text: str, index: int, raw: _DigestFile | None) -> DigestSchedule | None:
    if raw is None:
        return None
    try:
        crontab_trigger(raw.cron, raw.timezone)  # the scheduler knows what a valid cron is
    except ValueError as exc:
        line = _line_of(text, ("routes", index, "digest"))
        raise ConfigError(f"{path}, line {line}: routes.{index}.digest: {exc}") from exc
    return DigestSchedule(raw.cron, raw.timezone)


def _site(config_path: Path, text: str, index: int, raw: _RouteFile) -> SiteTarget | None:
    """`[routes.site]` needs `[routes.list]`; a relative `templates` is from the file's folder."""
    if raw.site is None:
        return None
    if raw.list_target is None:
        line = _line_of(text, ("routes", index, "site"))
        raise ConfigError(
            f"{config_path}, line {line}: routes.{index}.site: the site is published with the "
            "list, so this route needs a [routes.list] table too"
        )
    templates = None
    if raw.site.templates is not None:
        templates = Path(raw.site.templates).expanduser()
        if not templates.is_absolute():
            templates = config_path.parent / templates
    return SiteTarget(raw.site.path.rstrip("/"), raw.site.title, raw.site.url, templates)


def _list_target(
    config_path: Path, text: str, index: int, raw: _ListFile | None
) -> ListTarget | None:
    """A relative `repo` is taken from the routes file's own folder."""
    if raw is None:
        return None
    try:
        repo = Path(raw.repo).expanduser()
        if not repo.is_absolute():
            repo = (config_path.parent / repo).resolve()
    except (RuntimeError, ValueError, OSError) as exc:  # "~nouser", a NUL byte, a loop
        line = _line_of(text, ("routes", index, "list", "repo"))
        raise ConfigError(
            f"{config_path}, line {line}: routes.{index}.list.repo: '{raw.repo}' is not a "
            f"usable folder ({exc}): write a path such as '../papers'"
        ) from exc
    return ListTarget(repo, raw.path, raw.branch, raw.remote, raw.author, raw.date)


def _line_of(text: str, loc: tuple[Any, ...]) -> int:
    """Best line number for a validation error at `loc`, e.g. ('routes', 1, 'votes', 'accept_at').

    Looks inside the right `[[routes]]` table, then inside its `[routes.<sub>]` table.
    """
    lines = text.splitlines()
    if not (len(loc) >= 2 and loc[0] == "routes" and isinstance(loc[1], int)):
        for i, ln in enumerate(lines):
            if loc and re.match(rf"\s*(\[\[?)?\s*{re.escape(str(loc[0]))}\b", ln):
                return i + 1
        return 1
    headers = [i for i, ln in enumerate(lines) if ln.strip().startswith("[[routes]]")]
    if loc[1] >= len(headers):
        return 1
    start = headers[loc[1]]
    end = headers[loc[1] + 1] if loc[1] + 1 < len(headers) else len(lines)
    keys = [str(part) for part in loc[2:] if not isinstance(part, int)]
    for depth, key in enumerate(keys):
        table = next((i for i in range(start, end) if lines[i].strip() == f"[routes.{key}]"), None)
        if table is not None and depth == 0:
            start = table
            continue
        for i in range(start, end):
            if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
                return i + 1
    return start + 1


# --- importing the old keyword lists ---------------------------------------------------------


def read_keyword_file(path: Path) -> list[str]:
    """One keyword a line; tolerates a BOM, CRLF, blank lines and no final newline."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text; save it as UTF-8 and retry") from exc
    seen: set[str] = set()
    words: list[str] = []
    for line in text.splitlines():
        word = " ".join(line.split())
        if word and word.casefold() not in seen:
            seen.add(word.casefold())
            words.append(word)
    return words


@dataclass(frozen=True, slots=True)
class ImportResult:
    added_accept: tuple[str, ...]
    added_reject: tuple[str, ...]


def import_keywords(
    config_path: Path, route: str, accept: Sequence[str], reject: Sequence[str]
) -> ImportResult:
    """Add keywords to a route's accept/reject lists in the TOML file, keeping its comments.

    Existing terms stay; a keyword already present (case-insensitively) is not added twice.
    The file is checked before it is written, so a bad keyword leaves it untouched.
    """
    load_config(config_path)  # refuse to edit a file that is already broken
    import tomlkit  # only this command edits the file

    doc = tomlkit.parse(config_path.read_text(encoding="utf-8"))
    tables = doc.get("routes")
    target = None
    for table in tables or []:
        if table.get("name") == route:
            target = table
    if target is None:
        raise ConfigError(
            f"{config_path}: there is no route named '{route}'; add a [[routes]] table "
            f'with name = "{route}" and its categories first'
        )
    added: dict[str, list[str]] = {}
    for key, words in (("accept", accept), ("reject", reject)):
        if key not in target:
            target[key] = tomlkit.array()
        array = target[key]
        present = {str(w).casefold() for w in array}
        new = [w for w in words if w.casefold() not in present]
        for word in new:
            array.append(word)
        if len(array) > 3:
            array.multiline(True)
        added[key] = new
    new_text = tomlkit.dumps(doc)
    tmp = config_path.with_name(config_path.name + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    try:
        load_config(tmp)
    except ConfigError:
        tmp.unlink()
        raise
    tmp.replace(config_path)
    return ImportResult(tuple(added["accept"]), tuple(added["reject"]))


class RulesSource:
    """The routes file, re-read when it changes; a broken edit keeps the last good rules."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._config: Config | None = None
        self._matcher: Matcher | None = None

    def current(self) -> tuple[Config, Matcher]:
        """The rules to use now. Raises ConfigError only when no good version was ever read.

        Any failure to re-read the file (a ConfigError, but also an OSError, a RecursionError
        from absurd nesting, ...) keeps the rules read before, logged once per version of the
        file rather than at every poll.
        """
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except (OSError, ValueError):  # ValueError: a NUL byte in the path
            stamp = None
        if self._config is None or stamp != self._stamp:
            try:
                config = load_config(self.path)
                matcher = Matcher(config.routes)
            except Exception as exc:
                if self._config is None or self._matcher is None:
                    if isinstance(exc, ConfigError):
                        raise
                    raise ConfigError(
                        f"{self.path}: cannot be read ({type(exc).__name__}: {exc}); "
                        "fix the routes file and start again"
                    ) from exc
                problem = exc if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
                log.error("%s; keeping the rules read before", problem)
            else:
                if self._config is not None:
                    log.info("rules reloaded from %s", self.path)
                self._config, self._matcher = config, matcher
            self._stamp = stamp
        assert self._config is not None and self._matcher is not None
        return self._config, self._matcher
