"""Settings from the environment, the routes file, and importing the old keyword lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings, import_keywords, load_config, load_settings, read_keyword_file
from bot.errors import ConfigError
from tests.conftest import ROUTES_TOML

ROOT = Path(__file__).resolve().parents[1]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARXIV_MIN_INTERVAL", "7.5")
    monkeypatch.setenv("ARXIV_API_URL", "http://proxy.local/api/query")
    monkeypatch.setenv("PAPERBOT_HOLIDAYS", "2026-11-26, 2026-12-25")
    settings = load_settings(_env_file=None)
    assert settings.arxiv_min_interval == 7.5
    assert settings.arxiv_api_url == "http://proxy.local/api/query"
    assert [d.isoformat() for d in settings.paperbot_holidays] == ["2026-11-26", "2026-12-25"]
    assert settings.feed_url(["cs.DC", "cs.OS"]) == "https://rss.arxiv.org/rss/cs.DC+cs.OS"


def test_a_bad_setting_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARXIV_MIN_INTERVAL", "soon")
    with pytest.raises(ConfigError, match="ARXIV_MIN_INTERVAL"):
        load_settings(_env_file=None)


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))
    assert listed == {name.upper() for name in Settings.model_fields}


def test_the_example_routes_file_loads() -> None:
    config = load_config(ROOT / "paperbot.example.toml")
    assert config.routes and all(r.categories for r in config.routes)


def test_the_minimal_routes_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "paperbot.toml"
    path.write_text(ROUTES_TOML, encoding="utf-8")
    (route,) = load_config(path).routes
    assert route.name == "llm-systems"
    assert route.categories == ("cs.DC", "cs.OS")
    assert "decod*" in route.accept and route.reject == ("federated", "blockchain")
    assert route.fields == ("title", "abstract")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[[routes]]\nname = 'x'\ncategories = ['cs.DC'\n",
            r"line 3: not valid TOML: Unclosed array",
        ),
        ("[[routes]]\nname = 'x'\ncategories = []\n", r"line 3: routes\.0\.categories"),
        ("[[routes]]\nname = 'x'\ncategories = ['cs.DC']\naccpet = ['llm']\n", r"line 4: .*accpet"),
        (
            "[[routes]]\nname = 'x'\ncategories = ['cs.DC']\n\n[[routes]]\nname = 'y'\n"
            "categories = ['computer science']\n",
            r"line 7: .*'computer science' is not an arXiv category",
        ),
        (
            "[[routes]]\nname = 'x'\ncategories = ['cs.DC']\naccept = ['/(unclosed/']\n",
            r"x.*unclosed",
        ),
        ("title = 'no routes'\n", r"routes"),
    ],
    ids=[
        "toml-syntax",
        "empty-categories",
        "unknown-key",
        "bad-category",
        "bad-regex",
        "no-routes",
    ],
)
def test_a_broken_routes_file_names_file_line_and_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "paperbot.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_missing_routes_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"paperbot\.example\.toml"):
        load_config(tmp_path / "nope.toml")


def test_keyword_file_tolerates_bom_crlf_blanks_and_no_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "accept.csv"
    path.write_bytes("\ufeffllm\r\n\r\n  large  language model \r\nLLM\r\nrag".encode())
    assert read_keyword_file(path) == ["llm", "large language model", "rag"]


def test_import_csv_keeps_comments_and_adds_only_new_terms(tmp_path: Path) -> None:
    config = tmp_path / "paperbot.toml"
    config.write_text(ROUTES_TOML, encoding="utf-8")
    result = import_keywords(config, "llm-systems", ["LLM", "prefill", "moe"], ["gnn", "federated"])
    assert result.added_accept == ("prefill", "moe")
    assert result.added_reject == ("gnn",)
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# The team's rules.\n")
    route = load_config(config).route("llm-systems")
    assert route.accept[-2:] == ("prefill", "moe")
    assert route.reject == ("federated", "blockchain", "gnn")


def test_import_csv_of_the_real_lists(tmp_path: Path, shared_fixtures: Path) -> None:
    config = tmp_path / "paperbot.toml"
    config.write_text(ROUTES_TOML, encoding="utf-8")
    lists = shared_fixtures / "lists"
    accept = read_keyword_file(lists / "keyword-accept.as-of-2025-03-17.csv")
    reject = read_keyword_file(lists / "keyword-reject.as-of-2025-03-17.csv")
    assert accept[-1] == "large language model" and "gnn" in reject
    import_keywords(config, "llm-systems", accept, reject)
    route = load_config(config).route("llm-systems")
    assert {"prefill", "attention", "moe"} <= set(route.accept)
    assert {"wireless", "big data", "cnn", "gnn"} <= set(route.reject)


def test_import_csv_into_an_unknown_route_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "paperbot.toml"
    config.write_text(ROUTES_TOML, encoding="utf-8")
    with pytest.raises(ConfigError, match="no route named 'other'"):
        import_keywords(config, "other", ["llm"], [])
    assert config.read_text(encoding="utf-8") == ROUTES_TOML


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[routes.votes]\naccept_at = 0\n", r"line 8: routes\.0\.votes\.accept_at"),
        ("[routes.votes]\ncurator_veto = true\n", r"line 7: routes\.0\.votes: curator_veto needs"),
        ("[routes.digest]\ncron = '0 9 * * funday'\n", r"line 7: routes\.0\.digest: .*funday"),
        ("[routes.list]\nrepo = '../papers'\npath = '../escape.md'\n", r"line 9: .*inside"),
        (
            "slack_channel = '#general'\n",
            r"line 7: routes\.0\.slack_channel.*'#general' is not a Slack",
        ),
    ],
    ids=["accept-at", "veto-without-curators", "digest-cron", "list-path", "slack-channel"],
)
def test_route_sub_tables_are_checked_with_their_line(
    tmp_path: Path, extra: str, expected: str
) -> None:
    path = tmp_path / "paperbot.toml"
    path.write_text(ROUTES_TOML + extra, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_a_full_route_loads(tmp_path: Path) -> None:
    path = tmp_path / "paperbot.toml"
    path.write_text(
        ROUTES_TOML
        + "slack_channel = 'C0123456789'\ndiscord_channel = '123456789012345678'\n"
        + "max_posts_per_poll = 10\n"
        + "[routes.votes]\naccept_at = 3\ncurators = ['slack:U1']\n"
        + "[routes.digest]\ncron = '0 9 * * mon-fri'\ntimezone = 'Europe/Berlin'\n"
        + "[routes.list]\nrepo = 'papers'\npath = 'list.md'\nremote = 'origin'\n",
        encoding="utf-8",
    )
    (route,) = load_config(path).routes
    assert route.slack_channel == "C0123456789"
    assert route.votes.accept_at == 3
    assert route.votes.curators == frozenset({"slack:U1"})
    assert route.digest is not None
    assert route.digest.timezone == "Europe/Berlin"
    assert route.list_target is not None
    assert route.list_target.repo == (tmp_path / "papers").resolve()
    assert route.max_posts_per_poll == 10


def test_an_empty_token_means_the_platform_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "  ")
    settings = load_settings(_env_file=None)
    assert settings.discord_token is None
    assert settings.slack_bot_token is None


def test_secrets_never_show_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    settings = load_settings(_env_file=None)
    assert "xoxb-very-secret" not in repr(settings)
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-very-secret"


# ---------------------------------------------------------------- hostile and absurd values


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[routes.votes]\nexpire_days = 3000000\n", r"line 8: routes\.0\.votes\.expire_days"),
        ("[routes.votes]\naccept_at = 1001\n", r"line 8: routes\.0\.votes\.accept_at"),
        ("[routes.votes]\nreject_at = 5000\n", r"line 8: routes\.0\.votes\.reject_at"),
        ("max_posts_per_poll = 100000\n", r"line 7: routes\.0\.max_posts_per_poll"),
        ("[routes.votes]\ncurators = ['U123']\n", r"line 8: .*'U123'.*'slack:U123'"),
        ("[routes.votes]\ncurators = ['slack U1']\n", r"line 8: .*'slack U1'"),
    ],
    ids=["expire-days", "accept-at", "reject-at", "max-posts", "bare-curator", "no-colon"],
)
def test_values_out_of_range_are_refused_with_their_line(
    tmp_path: Path, extra: str, expected: str
) -> None:
    path = tmp_path / "paperbot.toml"
    path.write_text(ROUTES_TOML + extra, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_prefixed_curators_load(tmp_path: Path) -> None:
    path = tmp_path / "paperbot.toml"
    path.write_text(
        ROUTES_TOML + "[routes.votes]\ncurators = ['slack:U123', 'discord:123']\n",
        encoding="utf-8",
    )
    assert load_config(path).routes[0].votes.curators == {"slack:U123", "discord:123"}


@pytest.mark.parametrize(
    ("term", "problem"),
    [
        ("/(a)\\\\1/", "a backreference"),
        ("/(?=x)llm/", "a lookahead or lookbehind"),
        ("/(?<!x)llm/", "a lookahead or lookbehind"),
        ("/x{5000}/", "not a valid regular expression"),
    ],
)
def test_a_regex_re2_cannot_run_is_refused_with_file_and_line(
    tmp_path: Path, term: str, problem: str
) -> None:
    path = tmp_path / "paperbot.toml"
    path.write_text(
        f'[[routes]]\nname = "x"\ncategories = ["cs.DC"]\naccept = [\n  "llm",\n  "{term}",\n]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=rf"line 6: routes\.0\.accept: .*{problem}") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_a_repo_path_that_cannot_be_expanded_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "paperbot.toml"
    path.write_text(
        ROUTES_TOML + "[routes.list]\nrepo = '~no-such-user-here/papers'\npath = 'list.md'\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"line 8: routes\.0\.list\.repo"):
        load_config(path)


# ---------------------------------------------------------------- re-reading the routes file


def _edit(path: Path, data: bytes) -> None:
    import os

    stamp = path.stat().st_mtime_ns + 10**9  # a new version, even within one clock tick
    path.write_bytes(data)
    os.utime(path, ns=(stamp, stamp))


@pytest.mark.parametrize(
    "broken",
    [
        ROUTES_TOML.encode() + b"[routes.votes]\nexpire_days = 3000000\n",
        ROUTES_TOML.encode() + b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
        ROUTES_TOML.encode() + b"[routes.list]\nrepo = '~nouser/p'\npath = 'l.md'\n",
        ROUTES_TOML.encode() + b'[routes.list]\nrepo = "a\\u0000b"\npath = "l.md"\n',
        ROUTES_TOML.encode() + b"\x00\n",
        b"\xff\xfe not utf-8",
        ROUTES_TOML.encode().replace(b'"rag"', b'"/(a)\\\\1/"'),
    ],
    ids=["range", "deep-nesting", "nouser", "nul-in-path", "nul-byte", "not-utf8", "backref"],
)
def test_a_broken_edit_keeps_the_rules_and_logs_once(
    tmp_path: Path, broken: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.config import RulesSource

    path = tmp_path / "paperbot.toml"
    path.write_text(ROUTES_TOML, encoding="utf-8")
    rules = RulesSource(path)
    config, matcher = rules.current()
    _edit(path, broken)
    for _ in range(3):  # three polls
        assert rules.current() == (config, matcher)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "keeping the rules read before" in errors[0].getMessage()


def test_a_routes_file_that_vanishes_keeps_the_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.config import RulesSource

    path = tmp_path / "paperbot.toml"
    path.write_text(ROUTES_TOML, encoding="utf-8")
    rules = RulesSource(path)
    first = rules.current()
    path.unlink()
    assert rules.current() == first and rules.current() == first
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1


def test_arxiv_max_body_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).arxiv_max_body == 64 * 1024 * 1024
    monkeypatch.setenv("ARXIV_MAX_BODY", "1000000")
    assert load_settings(_env_file=None).arxiv_max_body == 1_000_000
