"""Settings: the environment and `.env`, read once at start-up; secrets live only here.

Kept apart from the routes file so that every command can read its settings cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError


def _default_schedule() -> list[str]:
    from bot.scheduling import DEFAULT_POLL_SCHEDULE  # APScheduler: only when settings load

    return list(DEFAULT_POLL_SCHEDULE)


def _default_timezone() -> str:
    from bot.scheduling import DEFAULT_POLL_TIMEZONE

    return DEFAULT_POLL_TIMEZONE


DEFAULT_USER_AGENT = "paperbot/0.1 (+https://github.com/paperbot/paperbot; team paper curation)"


class Settings(BaseSettings):
    """Every setting paperbot reads from the environment. `.env.example` lists them all."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    paperbot_db: Path = Path("paperbot.db")
    paperbot_config: Path = Path("paperbot.toml")
    paperbot_poll_schedule: Annotated[list[str], NoDecode] = Field(
        default_factory=_default_schedule
    )
    paperbot_poll_timezone: str = Field(default_factory=_default_timezone)
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
    arxiv_query_limit: int = Field(default=30000, ge=1, le=30000)
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

    # the optional summariser: any OpenAI-compatible chat-completions endpoint (no key: off)
    llm_base_url: str = "https://api.openai.com/v1"
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_max_calls_per_day: int = Field(default=200, ge=0)
    llm_timeout: float = Field(default=60.0, gt=0)
    llm_retries: int = Field(default=3, ge=0)
    llm_retry_wait: float = Field(default=2.0, ge=0)

    # e-mail digests for [[subscribers]]: smtp://host:587 (STARTTLS) or smtps://host:465
    paperbot_smtp_url: str | None = None
    paperbot_smtp_user: str | None = None
    paperbot_smtp_password: SecretStr | None = None
    paperbot_smtp_from: str = "paperbot <paperbot@localhost>"
    paperbot_smtp_starttls: bool = True
    paperbot_smtp_timeout: float = Field(default=30.0, gt=0)

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

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
        "llm_api_key",
        "paperbot_smtp_url",
        "paperbot_smtp_user",
        "paperbot_smtp_password",
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
        from bot.scheduling import poll_triggers

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
