from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from bot.config import Settings
from tests.fakes.arxiv import FakeArxiv

# Property tests: 100 examples where a test does not say (hypothesis' default) in `make slow`
# and CI; 30 in `make test`, which developers run often. Tests that set max_examples keep it.
hypothesis_settings.register_profile("thorough", max_examples=100)
hypothesis_settings.register_profile("quick", max_examples=30)
hypothesis_settings.load_profile(os.environ.get("PAPERBOT_HYPOTHESIS", "quick"))


def examples(thorough: int) -> int:
    """A property test's example count: all of it when thorough, a quarter in `make test`."""
    if os.environ.get("PAPERBOT_HYPOTHESIS") == "thorough":
        return thorough
    return max(20, thorough // 4)


ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"

ROUTES_TOML = """\
# The team's rules.
[[routes]]
name = "llm-systems"
categories = ["cs.DC", "cs.OS"]
accept = ["llm", "inference", "rag", "large language model", "decod*"]
reject = ["federated", "blockchain"]
"""


class FakeClock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    # Tuesday 2026-11-24, 15:00 UTC = 10:00 US Eastern: Tuesday's listing is out.
    return FakeClock(datetime(2026, 11, 24, 15, 0, tzinfo=UTC))


@pytest.fixture
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is not present")
    return SHARED_FIXTURES


@pytest.fixture
def fake_arxiv() -> Iterator[FakeArxiv]:
    server = FakeArxiv().start()
    yield server
    server.stop()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "paperbot.toml"
    path.write_text(ROUTES_TOML, encoding="utf-8")
    return path


def make_settings(tmp_path: Path, arxiv_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "paperbot_db": tmp_path / "paperbot.db",
        "paperbot_config": tmp_path / "paperbot.toml",
        "arxiv_rss_url": f"{arxiv_url}/rss/",
        "arxiv_atom_url": f"{arxiv_url}/atom/",
        "arxiv_api_url": f"{arxiv_url}/api/query",
        "arxiv_min_interval": 0,
        "arxiv_retry_wait": 0,
        "arxiv_retries": 2,
        "arxiv_timeout": 5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def env_for(tmp_path: Path, arxiv_url: str, **extra: str) -> dict[str, str]:
    """Environment for a real `paperbot` process pointed at the fake arXiv."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARXIV_", "PAPERBOT_"))}
    env.update(
        PAPERBOT_DB=str(tmp_path / "paperbot.db"),
        PAPERBOT_CONFIG=str(tmp_path / "paperbot.toml"),
        ARXIV_RSS_URL=f"{arxiv_url}/rss/",
        ARXIV_ATOM_URL=f"{arxiv_url}/atom/",
        ARXIV_API_URL=f"{arxiv_url}/api/query",
        ARXIV_MIN_INTERVAL="0",
        ARXIV_RETRY_WAIT="0",
        ARXIV_RETRIES="1",
        ARXIV_TIMEOUT="5",
        PYTHONPATH=str(ROOT),  # so PAPERBOT_CHAT_PLUGIN can name tests.fakes modules
    )
    env.update(extra)
    return env
