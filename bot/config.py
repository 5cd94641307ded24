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
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import tomlkit
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError, TermError
from bot.matching import Matcher, check_routes, check_term
from bot.models import DigestSchedule, ListTarget, Route, VotePolicy
from bot.scheduling import (
    DEFAULT_POLL_SCHEDULE,
    DEFAULT_POLL_TIMEZONE,
    crontab_trigger,
    poll_triggers,
)

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "paperbot/0.1 (+https://github.com/paperbot/paperbot; team paper curation)"


class Settings(BaseSettings):
    """Every setting paperbot reads from the environment. `.env.example` lists them all."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    paperbot_db: Path = Path("paperbot.db")
    paperbot_config: Path = Path("paperbot.toml")
    paperbot_poll_schedule: Annotated[list[str], NoDecode] = list(DEFAULT_POLL_SCHEDULE)
    paperbot_poll_timezone: str = DEFAULT_POLL_TIMEZONE
    paperbot_publish_interval: float = Field(default=600.0, ge=0)
    paperbot_chat_plugin: str | None = None
    paperbot_holidays: Annotated[list[date], NoDecode] = []
    paperbot_git_token: SecretStr | None = None

    arxiv_rss_url: str = "https://rss.arxiv.org/rss/"
    arxiv_atom_url: str = "https://rss.arxiv.org/atom/"
    arxiv_feed_format: Literal["rss", "atom"] = "rss"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_min_interval: float = Field(default=3.0, ge=0)
    arxiv_retries: int = Field(default=5, ge=0)
    arxiv_retry_wait: float = Field(default=5.0, ge=0)
    arxiv_timeout: float = Field(default=30.0, gt=0)
    arxiv_user_agent: str = DEFAULT_USER_AGENT
    arxiv_page_size: int = Field(default=500, ge=1, le=2000)
    arxiv_catchup_days: int = Field(default=10, ge=1)
    arxiv_max_body: int = Field(default=64 * 1024 * 1024, ge=1024)

    # votes: which reactions count (any skin tone); Slack names and Discord emoji alike
    paperbot_up_emoji: Annotated[list[str], NoDecode] = ["+1", "thumbsup", "👍"]
    paperbot_down_emoji: Annotated[list[str], NoDecode] = ["-1", "thumbsdown", "👎"]

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_proxy: str | None = None
    slack_mode: Literal["socket", "http"] = "socket"
    slack_http_host: str = "127.0.0.1"
    slack_http_port: int = Field(default=3000, ge=0, le=65535)

    discord_token: SecretStr | None = None
    discord_api_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    discord_proxy: str | None = None
    discord_guild_ready_timeout: float = Field(default=2.0, ge=0)
    discord_guild_ids: Annotated[list[int], NoDecode] = []
    discord_application_id: int | None = None

    log_level: str = "INFO"

    @field_validator("paperbot_holidays", mode="before")
    @classmethod
    def _split_dates(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("paperbot_up_emoji", "paperbot_down_emoji", "discord_guild_ids", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        "discord_token",
        "paperbot_git_token",
        "slack_proxy",
        "discord_proxy",
        "paperbot_chat_plugin",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """`DISCORD_TOKEN=` in .env means "no Discord", as .env.example says."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("paperbot_poll_schedule", mode="before")
    @classmethod
    def _split_crons(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(";") if part.strip()]
        return value

    @model_validator(mode="after")
    def _valid_schedule(self) -> Settings:
        poll_triggers(self.paperbot_poll_schedule, self.paperbot_poll_timezone)
        return self

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    def feed_url(self, categories: Sequence[str]) -> str:
        """The combined listing feed for these categories (`cs.DC+cs.OS`)."""
        base = self.arxiv_atom_url if self.arxiv_feed_format == "atom" else self.arxiv_rss_url
        return base.rstrip("/") + "/" + "+".join(categories)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning pydantic's report into one ConfigError sentence."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"bad setting in the environment or .env: {problems}") from exc


# --- the routes file -----------------------------------------------------------------------

ALLOWED_FIELDS = ("title", "abstract", "authors", "comment")
_CATEGORY = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")
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

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        for cat in value:
            if not _CATEGORY.match(cat):
                raise ValueError(f"'{cat}' is not an arXiv category such as 'cs.DC'")
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


@dataclass(frozen=True, slots=True)
class Config:
    """The parsed routes file."""

    path: Path
    routes: tuple[Route, ...]

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
            f"{path}: file not found; copy paperbot.example.toml to {path} (make run does this)"
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
    return Config(path=path, routes=routes)


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
